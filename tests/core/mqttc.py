"""Test-side MQTT 3.1.1 packet builder and parser, and a raw socket client for what paho
hides (CONNACK codes, abrupt closes); the one packet module of every test folder (tests/core
is on sys.path through tests/conftest.py).

Written from the MQTT 3.1.1 specification independently of core/proto.py, so that the
engine is never checked against its own encoder. Runs on CPython and MicroPython.
Builders return bytes; they never validate, so tests can build any malformed packet.
"""

CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
PUBREC = 5
PUBREL = 6
PUBCOMP = 7
SUBSCRIBE = 8
SUBACK = 9
UNSUBSCRIBE = 10
UNSUBACK = 11
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

NAMES = {
    1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
    7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
    12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT",
}


def _b(x):
    """bytes of a str (UTF-8) or of bytes-like x."""
    if isinstance(x, str):
        return x.encode("utf-8")
    return bytes(x)


def u16(n):
    """A two-byte big-endian integer."""
    return bytes([(n >> 8) & 0xFF, n & 0xFF])


def varint(n):
    """The Remaining Length encoding of n (spec 2.2.3)."""
    out = bytearray()
    while True:
        d = n % 128
        n = n // 128
        if n > 0:
            d |= 0x80
        out.append(d)
        if n == 0:
            return bytes(out)


def mstr(x):
    """A length-prefixed MQTT string from str or raw bytes (raw bytes allow bad UTF-8)."""
    data = _b(x)
    return u16(len(data)) + data


def packet(first_byte, body=b""):
    """A packet from its first byte and body, with a correct Remaining Length."""
    body = _b(body)
    return bytes([first_byte]) + varint(len(body)) + body


def connect(client_id="c", clean=True, keepalive=60, will=None, username=None,
            password=None, proto=b"MQTT", level=4, flags=None, first_byte=0x10,
            extra=b"", properties=None, will_properties=None):
    """A CONNECT. will = (topic, message, qos, retain). flags overrides the computed flags.

    username / password may be given without their flag by passing flags explicitly.
    extra is appended to the payload (to test trailing bytes). properties and
    will_properties: MQTT 5.0 property blocks (see connect5 below), left out when None.
    """
    f = 0
    payload = mstr(client_id)
    if clean:
        f |= 0x02
    if will is not None:
        wt, wm, wq, wr = will
        f |= 0x04 | ((wq & 3) << 3)
        if wr:
            f |= 0x20
        if will_properties is not None:
            payload += _b(will_properties)
        payload += mstr(wt) + mstr(wm)
    if username is not None:
        f |= 0x80
        payload += mstr(username)
    if password is not None:
        f |= 0x40
        payload += mstr(password)
    if flags is not None:
        f = flags
    body = mstr(proto) + bytes([level, f]) + u16(keepalive)
    if properties is not None:
        body += _b(properties)
    return packet(first_byte, body + payload + _b(extra))


def publish(topic, payload=b"", qos=0, retain=False, dup=False, pid=None):
    """A PUBLISH; pid is required for qos > 0 unless deliberately omitted."""
    fb = 0x30 | ((qos & 3) << 1)
    if retain:
        fb |= 0x01
    if dup:
        fb |= 0x08
    body = mstr(topic)
    if pid is not None:
        body += u16(pid)
    return packet(fb, body + _b(payload))


def puback(pid, first_byte=0x40):
    """A PUBACK."""
    return packet(first_byte, u16(pid))


def pubrec(pid, first_byte=0x50):
    """A PUBREC."""
    return packet(first_byte, u16(pid))


def pubrel(pid, first_byte=0x62):
    """A PUBREL (its reserved flags are 0010)."""
    return packet(first_byte, u16(pid))


def pubcomp(pid, first_byte=0x70):
    """A PUBCOMP."""
    return packet(first_byte, u16(pid))


def subscribe(pid, filters, first_byte=0x82):
    """A SUBSCRIBE; filters is a list of (filter, requested-QoS byte)."""
    body = u16(pid)
    for flt, q in filters:
        body += mstr(flt) + bytes([q])
    return packet(first_byte, body)


def unsubscribe(pid, filters, first_byte=0xA2):
    """An UNSUBSCRIBE; filters is a list of filters."""
    body = u16(pid)
    for flt in filters:
        body += mstr(flt)
    return packet(first_byte, body)


def pingreq():
    """A PINGREQ."""
    return b"\xc0\x00"


def disconnect():
    """A DISCONNECT."""
    return b"\xe0\x00"


class Packet:
    """One parsed packet; fields that do not apply to its type stay None."""

    dup = qos = retain = topic = pid = payload = session_present = rc = codes = None
    props = None  # MQTT 5.0: list of (identifier, value)

    def __init__(self, ptype, flags, body):
        self.type = ptype
        self.flags = flags
        self.body = body

    def name(self):
        """The packet type's name."""
        return NAMES.get(self.type, "TYPE%d" % self.type)

    def __repr__(self):
        if self.type == PUBLISH:
            return "PUBLISH(topic=%r, payload=%r, qos=%d, retain=%d, dup=%d, pid=%r)" % (
                self.topic, self.payload, self.qos, self.retain, self.dup, self.pid)
        if self.type == CONNACK:
            return "CONNACK(sp=%r, rc=%r)" % (self.session_present, self.rc)
        if self.type == SUBACK:
            return "SUBACK(pid=%r, codes=%r)" % (self.pid, self.codes)
        if self.pid is not None:
            return "%s(pid=%d)" % (self.name(), self.pid)
        return "%s(flags=%d, body=%r)" % (self.name(), self.flags, self.body)


class ParseError(Exception):
    """The server sent bytes that are not a valid MQTT 3.1.1 server-to-client packet."""


def _decode(ptype, flags, body):
    p = Packet(ptype, flags, body)
    n = len(body)
    if ptype == CONNACK:
        if flags != 0 or n != 2 or body[0] & 0xFE:
            raise ParseError("bad CONNACK %r" % body)
        p.session_present = body[0] & 1
        p.rc = body[1]
    elif ptype == PUBLISH:
        p.dup = (flags >> 3) & 1
        p.qos = (flags >> 1) & 3
        p.retain = flags & 1
        if p.qos == 3 or n < 2:
            raise ParseError("bad PUBLISH header")
        tl = (body[0] << 8) | body[1]
        if 2 + tl > n:
            raise ParseError("PUBLISH topic overruns packet")
        p.topic = bytes(body[2:2 + tl])
        i = 2 + tl
        if p.qos:
            if i + 2 > n:
                raise ParseError("PUBLISH without packet id")
            p.pid = (body[i] << 8) | body[i + 1]
            i += 2
        p.payload = bytes(body[i:])
    elif ptype in (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK):
        want = 2 if ptype == PUBREL else 0
        if flags != want or n != 2:
            raise ParseError("bad %s flags=%d len=%d" % (NAMES[ptype], flags, n))
        p.pid = (body[0] << 8) | body[1]
    elif ptype == SUBACK:
        if flags != 0 or n < 3:
            raise ParseError("bad SUBACK")
        p.pid = (body[0] << 8) | body[1]
        p.codes = list(body[2:])
    elif ptype == PINGRESP:
        if flags != 0 or n != 0:
            raise ParseError("bad PINGRESP")
    else:
        raise ParseError("server must not send packet type %d" % ptype)
    return p


def split(data, decode=None):
    """Parse complete packets from data; returns (packets, leftover bytes). decode: the
    decoder of each packet (the 3.1.1 one unless given, split5 below)."""
    decode = decode or _decode
    data = bytes(data)
    out = []
    i = 0
    n = len(data)
    while i < n:
        j = i + 1
        mult = 1
        length = 0
        complete = False
        while j < n and j - i <= 4:
            d = data[j]
            length += (d & 0x7F) * mult
            mult *= 128
            j += 1
            if not d & 0x80:
                complete = True
                break
        if not complete:
            if j - i > 4:
                raise ParseError("remaining length longer than 4 bytes")
            break
        if j + length > n:
            break
        out.append(decode(data[i] >> 4, data[i] & 0x0F, data[j:j + length]))
        i = j + length
    return out, data[i:]


def parse(data):
    """Parse data that must consist of whole packets only."""
    pkts, rest = split(data)
    if rest:
        raise ParseError("trailing partial packet %r" % rest)
    return pkts


def read_packet(sock):
    """(first byte, body) of the next packet on sock; None if the peer closed (or reset) first."""
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


def read_until_closed(sock, size=100):
    """Everything sock receives until the peer closes or resets it (or its timeout passes)."""
    data = b""
    try:
        while True:
            chunk = sock.recv(size)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass  # reset by the peer is as good as closed
    return data


def raw_connect(host, port, client_id, keepalive=60, will=None, timeout=10.0):
    """A socket after CONNECT; returns (sock, CONNACK return code or None if closed)."""
    # imported here: the engine tests load this module on MicroPython too
    import socket
    s = socket.create_connection((host, port), timeout=timeout)
    s.sendall(connect(client_id, keepalive=keepalive, will=will))
    p = read_packet(s)
    if p is None:
        return s, None
    assert p[0] == 0x20, "expected CONNACK, got 0x%02x" % p[0]
    return s, p[1][1]


def logged_exchange(host, port):
    """A subscriber and a QoS 1 publisher talk to the broker at host:port, each step waiting
    for the broker's answer (so that the order of the log is fixed); returns the
    per-packet lines `mosquitto -v` logs for it, in order."""
    sub, rc = raw_connect(host, port, "sub-1")
    assert rc == 0
    sub.sendall(subscribe(3, [("a/#", 1)]))
    assert read_packet(sub)[0] == 0x90
    pub, rc = raw_connect(host, port, "pub-1")
    assert rc == 0
    pub.sendall(publish("a/b", b"hello world!", qos=1, pid=7))
    assert read_packet(pub) == (0x40, b"\x00\x07")
    first, body = read_packet(sub)
    assert first == 0x32
    mid = (body[5] << 8) | body[6]  # the id the broker chose
    sub.sendall(puback(mid) + pingreq())
    assert read_packet(sub) == (0xD0, b"")
    for s in (pub, sub):
        s.sendall(disconnect())
        assert read_packet(s) is None  # closed by the broker after DISCONNECT
        s.close()
    return [
        "No will message specified.", "Sending CONNACK to sub-1 (0, 0)",
        "Received SUBSCRIBE from sub-1", "\ta/# (QoS 1)", "Sending SUBACK to sub-1",
        "No will message specified.", "Sending CONNACK to pub-1 (0, 0)",
        "Received PUBLISH from pub-1 (d0, q1, r0, m7, 'a/b', ... (12 bytes))",
        "Sending PUBLISH to sub-1 (d0, q1, r0, m%d, 'a/b', ... (12 bytes))" % mid,
        "Sending PUBACK to pub-1 (m7, rc0)",
        "Received PUBACK from sub-1 (Mid: %d, RC:0)" % mid,
        "Received PINGREQ from sub-1", "Sending PINGRESP to sub-1",
        "Received DISCONNECT from pub-1", "Received DISCONNECT from sub-1",
    ]


def packet_lines(log):
    """The per-packet lines of a broker log ("<time>: message" lines), in order."""
    out = []
    for line in log.splitlines():
        msg = line.partition(": ")[2]
        if msg.startswith(("Received ", "Sending ", "\t", "No will", "Will message")):
            out.append(msg)
    return out


# ---- MQTT 5.0 ----------------------------------------------------------------------
# Builders and a parser for protocol level 5, written from the MQTT 5.0 specification
# (OASIS Standard, 7 March 2019) independently of core/props.py. A property list is a list
# of (identifier, value) pairs: value an int, a str / bytes, or a (name, value) pair of
# str for User Property (0x26). props() encodes one with the type the spec gives each id.

AUTH = 15
NAMES[AUTH] = "AUTH"

# identifier -> type: 1 byte, 2 two-byte int, 4 four-byte int, "v" variable byte int,
# "s" UTF-8 string, "b" binary data, "p" string pair (section 2.2.2.2)
PROP_TYPES = {
    0x01: 1, 0x02: 4, 0x03: "s", 0x08: "s", 0x09: "b", 0x0B: "v", 0x11: 4, 0x12: "s",
    0x13: 2, 0x15: "s", 0x16: "b", 0x17: 1, 0x18: 4, 0x19: 1, 0x1A: "s", 0x1C: "s",
    0x1F: "s", 0x21: 2, 0x22: 2, 0x23: 2, 0x24: 1, 0x25: 1, 0x26: "p", 0x27: 4, 0x28: 1,
    0x29: 1, 0x2A: 1,
}


def prop_bytes(pid, v):
    """One property: its identifier and its value in the identifier's type."""
    t = PROP_TYPES[pid]
    if t == "v":
        return bytes([pid]) + varint(v)
    if t == "s" or t == "b":
        return bytes([pid]) + mstr(v)
    if t == "p":
        return bytes([pid]) + mstr(v[0]) + mstr(v[1])
    return bytes([pid]) + bytes([(v >> (8 * i)) & 0xFF for i in range(t - 1, -1, -1)])


def props(items=(), raw=b""):
    """A property block: the length, then each (id, value) of items, then raw bytes."""
    body = b"".join(prop_bytes(pid, v) for pid, v in items) + _b(raw)
    return varint(len(body)) + body


def connect5(client_id="c", clean=True, keepalive=60, properties=b"\x00", will=None,
             will_properties=b"\x00", **kw):
    """A CONNECT of protocol level 5; properties / will_properties are encoded blocks
    (props()); the other arguments as connect()'s."""
    return connect(client_id, clean, keepalive, will, level=5, properties=properties,
                   will_properties=will_properties, **kw)


def publish5(topic, payload=b"", qos=0, retain=False, dup=False, pid=None, properties=b"\x00"):
    """A v5 PUBLISH; properties is an encoded block (props())."""
    fb = 0x30 | ((qos & 3) << 1) | (1 if retain else 0) | (0x08 if dup else 0)
    body = mstr(topic)
    if pid is not None:
        body += u16(pid)
    return packet(fb, body + _b(properties) + _b(payload))


def ack5(first_byte, pid, rc=None, properties=None):
    """A v5 PUBACK / PUBREC / PUBREL / PUBCOMP: the id, then the reason code and the
    property block when given (both may be left out when rc is 0, section 3.4.2.1)."""
    body = u16(pid)
    if rc is not None:
        body += bytes([rc])
        if properties is not None:
            body += _b(properties)
    return packet(first_byte, body)


def subscribe5(pid, filters, properties=b"\x00"):
    """A v5 SUBSCRIBE; filters is a list of (filter, options byte)."""
    body = u16(pid) + _b(properties)
    for flt, o in filters:
        body += mstr(flt) + bytes([o])
    return packet(0x82, body)


def unsubscribe5(pid, filters, properties=b"\x00"):
    """A v5 UNSUBSCRIBE."""
    body = u16(pid) + _b(properties)
    for flt in filters:
        body += mstr(flt)
    return packet(0xA2, body)


def disconnect5(rc=None, properties=None):
    """A v5 DISCONNECT: no body (rc 0), or the reason code and a property block."""
    body = b""
    if rc is not None:
        body = bytes([rc])
        if properties is not None:
            body += _b(properties)
    return packet(0xE0, body)


def auth5(rc=0, properties=b"\x00"):
    """An AUTH packet."""
    return packet(0xF0, bytes([rc]) + _b(properties))


def read_varint(body, i):
    """(value, position after it) of the variable byte integer at body[i]."""
    n = 0
    scale = 1
    while body[i] & 0x80:  # a continuation bit: seven bits here, more follow
        n += (body[i] & 0x7F) * scale
        scale <<= 7
        i += 1
    return n + body[i] * scale, i + 1


def read_props(body, i):
    """(list of (id, value), position after the block) of the property block at body[i]."""
    n, i = read_varint(body, i)
    end = i + n
    if end > len(body):
        raise ParseError("property block overruns the packet")
    out = []
    while i < end:
        pid = body[i]
        i += 1
        t = PROP_TYPES.get(pid)
        if t is None:
            raise ParseError("unknown property 0x%02x" % pid)
        if t == "v":
            v, i = read_varint(body, i)
        elif t in ("s", "b", "p"):
            ln = (body[i] << 8) | body[i + 1]
            v = bytes(body[i + 2:i + 2 + ln])
            i += 2 + ln
            if t == "s":
                v = v.decode("utf-8")
            elif t == "p":
                ln = (body[i] << 8) | body[i + 1]
                v = (v.decode("utf-8"), bytes(body[i + 2:i + 2 + ln]).decode("utf-8"))
                i += 2 + ln
        else:
            v = 0
            for k in range(t):
                v = (v << 8) | body[i + k]
            i += t
        out.append((pid, v))
    if i != end:
        raise ParseError("property overruns its block")
    return out, end


def decode5(ptype, flags, body):
    """A server-to-client packet of protocol level 5 (props: list of (id, value))."""
    p = Packet(ptype, flags, body)
    p.props = []
    n = len(body)
    if ptype == CONNACK:
        if flags != 0 or n < 3 or body[0] & 0xFE:
            raise ParseError("bad v5 CONNACK %r" % body)
        p.session_present = body[0] & 1
        p.rc = body[1]
        p.props, end = read_props(body, 2)
        if end != n:
            raise ParseError("bytes after the CONNACK properties")
    elif ptype == PUBLISH:
        p.dup = (flags >> 3) & 1
        p.qos = (flags >> 1) & 3
        p.retain = flags & 1
        tl = (body[0] << 8) | body[1]
        p.topic = bytes(body[2:2 + tl])
        i = 2 + tl
        if p.qos:
            p.pid = (body[i] << 8) | body[i + 1]
            i += 2
        p.props, i = read_props(body, i)
        p.payload = bytes(body[i:])
    elif ptype in (PUBACK, PUBREC, PUBREL, PUBCOMP):
        if flags != (2 if ptype == PUBREL else 0) or n < 2:
            raise ParseError("bad v5 %s" % NAMES[ptype])
        p.pid = (body[0] << 8) | body[1]
        p.rc = body[2] if n > 2 else 0
        if n > 3:
            p.props, end = read_props(body, 3)
            if end != n:
                raise ParseError("bytes after the %s properties" % NAMES[ptype])
    elif ptype in (SUBACK, UNSUBACK):
        p.pid = (body[0] << 8) | body[1]
        p.props, i = read_props(body, 2)
        p.codes = list(body[i:])
    elif ptype == DISCONNECT or ptype == AUTH:
        p.rc = body[0] if n else 0
        if n > 1:
            p.props, end = read_props(body, 1)
            if end != n:
                raise ParseError("bytes after the %s properties" % NAMES[ptype])
    else:
        return _decode(ptype, flags, body)  # PINGRESP as in 3.1.1, or not a server's packet
    return p


def split5(data):
    """Parse complete v5 packets from data; returns (packets, leftover bytes)."""
    return split(data, decode5)


# ---- MQTT 5.0 PUBLISH properties (section 3.3.2.3) ----

# The properties a client may put in a PUBLISH (Subscription Identifier only from the
# server, MQTT-3.3.4-6)
PUBLISH_PROPERTIES = (0x01, 0x02, 0x03, 0x08, 0x09, 0x23, 0x26)
