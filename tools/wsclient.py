"""A raw-socket WebSocket client (RFC 6455) for tests and tools/bench.py: handshake,
frames built by hand (masked or not, any opcode), and a socket-like wrapper whose sendall()
sends one masked binary frame and whose recv() returns binary frames' payload bytes."""

import base64
import hashlib
import os
import socket
import struct

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def xor(data, key):
    """data XOR the 4-byte mask key repeated (masking and unmasking are the same)."""
    n = len(data)
    reps = (key * ((n >> 2) + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(reps, "little")).to_bytes(n, "little")


def frame(payload, op=2, fin=True, mask=True, rsv=0, length=None):
    """One frame; length: a different length field than the payload's (malformed frames)."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | rsv | op
    mbit = 0x80 if mask else 0
    if n < 126:
        head = bytes((b0, mbit | n))
    elif n < 65536:
        head = bytes((b0, mbit | 126)) + struct.pack(">H", n)
    else:
        head = bytes((b0, mbit | 127)) + struct.pack(">Q", n)
    if not mask:
        return head + bytes(payload)
    key = os.urandom(4)
    return head + key + xor(bytes(payload), key)


def request(host, port, key=None, protocol="mqtt", path="/mqtt", extra=""):
    """The HTTP upgrade request bytes (protocol None: no Sec-WebSocket-Protocol)."""
    key = key or base64.b64encode(os.urandom(16)).decode()
    proto = "" if protocol is None else "Sec-WebSocket-Protocol: %s\r\n" % protocol
    return ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s%s\r\n"
            % (path, host, port, key, proto, extra)).encode()


def accept_of(key):
    """The Sec-WebSocket-Accept value a server must answer key with."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def read_http(sock):
    """(status code, {lower-case header: value}, bytes after the header) of an HTTP answer."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(4096)
        if not more:
            raise ConnectionError("closed during the HTTP answer: %r" % data)
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), headers, rest


class WsSocket:
    """An upgraded connection: sendall() frames, recv()/recv_into() deframe; frames()
    lists (opcode, payload) of every frame read; other socket calls go to the socket."""

    def __init__(self, sock, rest=b""):
        self.sock = sock
        self.buf = bytearray(rest)
        self.data = bytearray()  # binary payload bytes not yet returned
        self.control = []  # (opcode, payload) of control frames received
        self.eof = False

    def __getattr__(self, name):
        return getattr(self.sock, name)

    def sendall(self, data, op=2):
        self.sock.sendall(frame(data, op))

    def _parse(self):
        buf = self.buf
        while len(buf) >= 2:
            n = buf[1] & 127
            at = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n = struct.unpack_from(">H", buf, 2)[0]
                at = 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n = struct.unpack_from(">Q", buf, 2)[0]
                at = 10
            if buf[1] & 0x80:
                raise ValueError("masked frame from the server")
            if len(buf) < at + n:
                return
            op = buf[0] & 15
            if op in (0, 2):
                self.data += buf[at:at + n]
            else:
                self.control.append((op, bytes(buf[at:at + n])))
            del buf[:at + n]

    def _fill(self):
        while not self.data and not self.eof:
            more = self.sock.recv(65536)
            if not more:
                self.eof = True
                break
            self.buf += more
            self._parse()

    def recv(self, n):
        self._fill()
        out = bytes(self.data[:n])
        del self.data[:n]
        return out

    def recv_into(self, mv, n=0):
        self._fill()
        k = min(len(mv), n or len(mv), len(self.data))
        mv[:k] = self.data[:k]
        del self.data[:k]
        return k


def connect(host, port, timeout=10, protocol="mqtt", sock=None):
    """A WsSocket after a successful handshake (sock: an already connected, e.g. TLS, socket)."""
    if sock is None:
        sock = socket.create_connection((host, port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(request(host, port, key, protocol))
    status, headers, rest = read_http(sock)
    if status != 101 or headers.get("sec-websocket-accept") != accept_of(key):
        sock.close()
        raise ConnectionError("WebSocket handshake refused: %d %r" % (status, headers))
    ws = WsSocket(sock, rest)
    ws._parse()
    return ws
