"""WebSocket clients for tools/memprobe32.mjs --websockets: idle clients of the started
broker's websockets listener (upgrade, CONNECT, 2 subscriptions) served through the port's
own read and write (Server._read, _flush) over stand-in sockets, so that node can take the
heap after each: what the first WebSocket client costs (the port's WebSocket code it
loads, the names it interns, its state) and each further one. Run on a broker just
started: this module interns few names of its own (its clients' bytes come from node), so
that, as on a board, the broker's names and the WebSocket code's share the qstr pools.

The upgrade needs hashlib.sha1, which MicroPython's webassembly port lacks (a board has it
built in, costing no heap): prepare() puts this module in its place in sys.modules, with
SHA-1 from node (a Python one would leave kilobytes of big integers as garbage, which this
port cannot collect within the step). Like the rest of the probe, its code sits in a ROMFS
image.
"""

import sys

_srv = None
_socks = None


class _Sha1:
    """hashlib.sha1(data).digest(), for the upgrade's accept value: node's SHA-1."""

    def __init__(self, data):
        self.data = data

    def digest(self):
        import memprobe32_js  # memprobe32.mjs's JavaScript functions
        return bytes.fromhex(memprobe32_js.sha1(bytes(self.data).hex()))


class _Sock:
    """A WebSocket client's socket as the port's Server uses it: its bytes once, then
    nothing waiting; counts what the broker writes to it."""

    def __init__(self, data):
        self.data = data
        self.ok = 0  # 1: the 101 answer came, 2: then a SUBACK ended a write

    def readinto(self, buf, size=0):
        n = len(self.data)
        if not n:
            return None
        buf[:n] = self.data
        self.data = b""
        return n

    def write(self, data):
        if not self.ok and data[:12] == b"HTTP/1.1 101":
            self.ok = 1
        if self.ok and data[-6:] == b"\x90\x04\x00\x01\x01\x00":  # the SUBACK of 2 filters
            self.ok = 2
        return len(data)

    def setblocking(self, flag):
        pass

    def close(self):
        pass


def prepare(srv, pkts):
    """A client for srv's websockets listener per packet of pkts (what it sends:
    memprobe_figs.ws_client_pkt), and the stand-ins (see the module's text)."""
    global _srv, _socks
    sys.modules["hashlib"] = sys.modules[__name__]
    _srv = srv
    _socks = [_Sock(p) for p in pkts]


def sha1(data):
    """hashlib.sha1 (see the module's text)."""
    return _Sha1(data)


def client(k):
    """Client k connects, upgrades, subscribes; RuntimeError unless it got the 101 answer,
    CONNACK and SUBACK."""
    b = _srv.broker
    lst = [l for l in b.cfg.listeners if l.protocol == "websockets"][0]
    c = b.open(lst, "127.0.0.1", 20000 + k)
    sock = _socks[k]
    c.port_data = sock  # as Server._admit: the Conn knows its socket, and back
    _srv.objs[sock] = c
    _srv.register(sock, 1)
    _srv._read(c)  # the port's own read: readinto, broker.received
    while b.pending:
        _srv._flush(b.pending.pop())
    if c.closing or sock.ok != 2:
        raise RuntimeError("WebSocket client %d was not upgraded and subscribed" % k)
