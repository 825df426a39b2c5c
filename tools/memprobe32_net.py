"""A stand-in for the socket module, which MicroPython's webassembly port lacks:
tools/memprobe32.mjs compiles it as socket.mpy (kept in a ROMFS image, so that, like a
board's built-in module, its code is not on the heap) for the port's loop.start() to open
its listener. select.poll comes from JavaScript (memprobe32.mjs)."""

AF_INET = 2
SOCK_STREAM = 1
SOL_SOCKET = 1
SO_REUSEADDR = 4


def getaddrinfo(host, port):
    """One IPv4 stream address, as a board's lwIP answers."""
    return [(AF_INET, SOCK_STREAM, 0, "", (host, port))]


def _nop(*args):
    pass


class socket:
    """A listening socket that never has a client to accept: every method does nothing."""

    def __init__(self, *args):
        pass

    def __getattr__(self, name):
        return _nop
