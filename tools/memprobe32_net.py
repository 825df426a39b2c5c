"""Stand-ins for the socket and select modules, which MicroPython's webassembly port lacks:
tools/memprobe32.mjs compiles this file as both socket.mpy and select.mpy so that the
port's loop.start() runs there as on a board (the listener opened, its poll entry made).

A board's socket and select are built into the firmware; these are kept in a ROMFS image
so that their code is not on the heap either. A board's poll takes streams only: an int
is refused with TypeError, which limits.reserve_slots expects.
"""

AF_INET = 2
AF_INET6 = 10
SOCK_STREAM = 1
SOL_SOCKET = 1
SO_REUSEADDR = 4
POLLIN = 1
POLLOUT = 4


def getaddrinfo(host, port):
    """One IPv4 stream address, as a board's lwIP answers."""
    return [(AF_INET, SOCK_STREAM, 0, "", (host, port))]


class socket:
    """A listening socket that never has a client to accept."""

    def __init__(self, *args):
        pass

    def setsockopt(self, *args):
        pass

    def bind(self, addr):
        pass

    def listen(self, backlog):
        pass

    def setblocking(self, flag):
        pass

    def close(self):
        pass


class poll:
    """select.poll: the registered streams and their event masks."""

    def __init__(self):
        self.m = {}

    def register(self, obj, mask=POLLIN | POLLOUT):
        if isinstance(obj, int):  # (socket here is select.mpy's own copy of the class)
            raise TypeError("stream operation not supported")
        self.m[obj] = mask

    def modify(self, obj, mask):
        self.m[obj] = mask

    def unregister(self, obj):
        self.m.pop(obj, None)

    def poll(self, timeout=-1):
        return []
