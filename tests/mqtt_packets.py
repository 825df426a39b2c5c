"""Raw MQTT 3.1.1 packets for tests that talk to a broker over a plain socket, for what paho
hides (CONNACK codes, abrupt closes): builders, a reader and a connect (tests/ is on sys.path
through tests/conftest.py)."""

import socket


def _varint(n):
    out = bytearray()
    while True:
        d = n & 0x7F
        n >>= 7
        out.append(d | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _s(b):
    if isinstance(b, str):
        b = b.encode()
    return len(b).to_bytes(2, "big") + b


def connect_packet(client_id, keepalive=60, clean=True, will=None):
    """CONNECT bytes; will is (topic, payload, qos, retain) or None."""
    flags = 2 if clean else 0
    payload = _s(client_id)
    if will is not None:
        topic, msg, qos, retain = will
        flags |= 4 | (qos << 3) | (32 if retain else 0)
        payload += _s(topic) + _s(msg)
    body = _s("MQTT") + bytes((4, flags)) + keepalive.to_bytes(2, "big") + payload
    return b"\x10" + _varint(len(body)) + body


def subscribe_packet(pid, filters):
    """SUBSCRIBE bytes for [(filter, qos), ...]."""
    body = pid.to_bytes(2, "big") + b"".join(_s(f) + bytes((q,)) for f, q in filters)
    return b"\x82" + _varint(len(body)) + body


def publish_packet(topic, payload, qos=0, retain=False, pid=1):
    """PUBLISH bytes."""
    body = _s(topic) + (pid.to_bytes(2, "big") if qos else b"") + payload
    return bytes((0x30 | (qos << 1) | (1 if retain else 0),)) + _varint(len(body)) + body


def read_packet(sock):
    """(first byte, body) of the next packet; None when the peer closed (or reset) first."""
    def exact(n):
        data = b""
        while len(data) < n:
            try:
                chunk = sock.recv(n - len(data))
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            data += chunk
        return data
    h = exact(1)
    if h is None:
        return None
    n, shift = 0, 0
    while True:
        d = exact(1)
        if d is None:
            return None
        n |= (d[0] & 0x7F) << shift
        shift += 7
        if d[0] < 0x80:
            break
    body = exact(n) if n else b""
    if body is None:
        return None
    return h[0], body


def raw_connect(host, port, client_id, keepalive=60, will=None, timeout=10.0):
    """A socket after CONNECT; returns (sock, CONNACK return code or None if closed)."""
    s = socket.create_connection((host, port), timeout=timeout)
    s.sendall(connect_packet(client_id, keepalive, will=will))
    p = read_packet(s)
    if p is None:
        return s, None
    assert p[0] == 0x20, "expected CONNACK, got 0x%02x" % p[0]
    return s, p[1][1]
