"""MQTT 5.0 properties (section 2.2.2): validate, read and write them in place.

Loaded only by the v5 code paths. A property block is a variable byte integer length
followed by properties, each an identifier (a variable byte integer: every defined one is
below 128, so one byte) and a value of the identifier's type. scan() validates a block
without making an object per property; get() then reads one value by identifier.

Packet kinds are packet types (1 CONNECT .. 15 AUTH) and WILL (0) for the will properties
of CONNECT.
"""

from core.const import const
from core.errors import ProtocolError
from core import utf8
from core.names import RC_MALFORMED_PACKET, RC_PROTOCOL_ERROR, PROP_USER
from core.names import PROP_SUBSCRIPTION_ID
from core.names import PROP_RECEIVE_MAXIMUM, PROP_MAXIMUM_PACKET_SIZE

WILL = const(0)  # the packet kind of CONNECT's will properties

# value types
_BYTE = const(1)
_U16 = const(2)
_U32 = const(3)
_VARINT = const(4)
_STRING = const(5)
_BINARY = const(6)
_PAIR = const(7)


# Four bytes per identifier 0..42: type (0: not a property), the packet kinds that may
# carry it (a 16-bit mask of 1 << kind, low byte first), and an index 0..26 for the
# duplicate check (a bit mask that stays a small int on a 32-bit board).
_TABLE = (
    b"\x00\x00\x00\x00"  # 0x00
    b"\x01\x09\x00\x00"  # 0x01 Payload Format Indicator: PUBLISH, will
    b"\x03\x09\x00\x01"  # 0x02 Message Expiry Interval: PUBLISH, will
    b"\x05\x09\x00\x02"  # 0x03 Content Type: PUBLISH, will
    b"\x00\x00\x00\x00" b"\x00\x00\x00\x00" b"\x00\x00\x00\x00" b"\x00\x00\x00\x00"
    b"\x05\x09\x00\x03"  # 0x08 Response Topic: PUBLISH, will
    b"\x06\x09\x00\x04"  # 0x09 Correlation Data: PUBLISH, will
    b"\x00\x00\x00\x00"  # 0x0A
    b"\x04\x08\x01\x05"  # 0x0B Subscription Identifier: PUBLISH, SUBSCRIBE
    b"\x00\x00\x00\x00" b"\x00\x00\x00\x00" b"\x00\x00\x00\x00" b"\x00\x00\x00\x00"
    b"\x00\x00\x00\x00"  # 0x0C-0x10
    b"\x03\x06\x40\x06"  # 0x11 Session Expiry Interval: CONNECT, CONNACK, DISCONNECT
    b"\x05\x04\x00\x07"  # 0x12 Assigned Client Identifier: CONNACK
    b"\x02\x04\x00\x08"  # 0x13 Server Keep Alive: CONNACK
    b"\x00\x00\x00\x00"  # 0x14
    b"\x05\x06\x80\x09"  # 0x15 Authentication Method: CONNECT, CONNACK, AUTH
    b"\x06\x06\x80\x0a"  # 0x16 Authentication Data: CONNECT, CONNACK, AUTH
    b"\x01\x02\x00\x0b"  # 0x17 Request Problem Information: CONNECT
    b"\x03\x01\x00\x0c"  # 0x18 Will Delay Interval: will
    b"\x01\x02\x00\x0d"  # 0x19 Request Response Information: CONNECT
    b"\x05\x04\x00\x0e"  # 0x1A Response Information: CONNACK
    b"\x00\x00\x00\x00"  # 0x1B
    b"\x05\x04\x40\x0f"  # 0x1C Server Reference: CONNACK, DISCONNECT
    b"\x00\x00\x00\x00" b"\x00\x00\x00\x00"  # 0x1D, 0x1E
    # 0x1F Reason String: CONNACK, PUBACK..PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH
    b"\x05\xf4\xca\x10"
    b"\x00\x00\x00\x00"  # 0x20
    b"\x02\x06\x00\x11"  # 0x21 Receive Maximum: CONNECT, CONNACK
    b"\x02\x06\x00\x12"  # 0x22 Topic Alias Maximum: CONNECT, CONNACK
    b"\x02\x08\x00\x13"  # 0x23 Topic Alias: PUBLISH
    b"\x01\x04\x00\x14"  # 0x24 Maximum QoS: CONNACK
    b"\x01\x04\x00\x15"  # 0x25 Retain Available: CONNACK
    b"\x07\xff\xcf\x16"  # 0x26 User Property: every packet with properties, will
    b"\x03\x06\x00\x17"  # 0x27 Maximum Packet Size: CONNECT, CONNACK
    b"\x01\x04\x00\x18"  # 0x28 Wildcard Subscription Available: CONNACK
    b"\x01\x04\x00\x19"  # 0x29 Subscription Identifier Available: CONNACK
    b"\x01\x04\x00\x1a"  # 0x2A Shared Subscription Available: CONNACK
)
_LAST = const(0x2A)


def _fail(code, why):
    return ProtocolError("properties: " + why, code)


def varint(mv, pos, end):
    """(value, position after it) of the variable byte integer at mv[pos] (section 1.5.5);
    ProtocolError 0x81 when it is cut short, longer than 4 bytes or not in its shortest form."""
    n = 0
    shift = 0
    while True:
        if pos >= end:
            raise _fail(RC_MALFORMED_PACKET, "variable byte integer cut short")
        d = mv[pos]
        pos += 1
        n |= (d & 0x7F) << shift
        if d < 0x80:
            if shift and not d:  # MQTT-1.5.5-1: the fewest bytes
                raise _fail(RC_MALFORMED_PACKET,
                            "variable byte integer not in its shortest form")
            return n, pos
        shift += 7
        if shift > 21:
            raise _fail(RC_MALFORMED_PACKET, "variable byte integer longer than 4 bytes")


def _value_end(mv, p, end, typ):
    """Where the value of type typ at mv[p] ends (strings checked); ProtocolError 0x81."""
    if typ == _BYTE:
        q = p + 1
    elif typ == _U16:
        q = p + 2
    elif typ == _U32:
        q = p + 4
    elif typ == _VARINT:
        return varint(mv, p, end)[1]
    else:
        if p + 2 > end:
            raise _fail(RC_MALFORMED_PACKET, "length beyond the properties")
        q = p + 2 + (mv[p] << 8 | mv[p + 1])
        if q > end:
            raise _fail(RC_MALFORMED_PACKET, "length beyond the properties")
        if typ != _BINARY:
            _check_string(mv, p + 2, q)
            if typ == _PAIR:
                return _value_end(mv, q, end, _STRING)
    if q > end:
        raise _fail(RC_MALFORMED_PACKET, "value beyond the properties")
    return q


def _check_string(mv, s, e):
    """A UTF-8 Encoded String (MQTT-1.5.4-1, -2): well-formed, no U+0000."""
    try:
        utf8.check(mv, s, e)
    except ProtocolError:
        raise _fail(RC_MALFORMED_PACKET, "ill-formed UTF-8 string")
    while s < e:
        if not mv[s]:
            raise _fail(RC_MALFORMED_PACKET, "U+0000 in a string")
        s += 1


def scan(mv, pos, end, kind):
    """Validate the property block at mv[pos:end] (its length first) of a packet of kind;
    return where the block ends. ProtocolError with code 0x81 (malformed: bad length, bad
    value type, an identifier not defined for kind) or 0x82 (protocol error: a property
    repeated that may appear once, a value out of its range)."""
    n, p = varint(mv, pos, end)
    stop = p + n
    if stop > end:
        raise _fail(RC_MALFORMED_PACKET, "property length beyond the packet")
    seen = 0
    bit = 1 << kind
    t = _TABLE
    while p < stop:
        pid = mv[p]
        i = pid << 2
        if pid > _LAST or not t[i] or not (t[i + 1] | t[i + 2] << 8) & bit:
            raise _fail(RC_MALFORMED_PACKET, "property 0x%02x is not allowed here" % pid)
        if pid != PROP_USER:  # the only one a packet may carry more than once
            m = 1 << t[i + 3]
            if seen & m:
                raise _fail(RC_PROTOCOL_ERROR, "property 0x%02x more than once" % pid)
            seen |= m
        typ = t[i]
        q = _value_end(mv, p + 1, stop, typ)
        if typ == _BYTE and mv[p + 1] > 1:  # every byte property is 0 or 1
            raise _fail(RC_PROTOCOL_ERROR, "property 0x%02x is %d" % (pid, mv[p + 1]))
        if pid in (PROP_RECEIVE_MAXIMUM, PROP_MAXIMUM_PACKET_SIZE, PROP_SUBSCRIPTION_ID) and \
                not _int(mv, p + 1, typ):  # of 0
            raise _fail(RC_PROTOCOL_ERROR, "property 0x%02x is 0" % pid)
        p = q
    return stop


def _int(mv, p, typ):
    """The integer value of type typ at mv[p]."""
    if typ == _BYTE:
        return mv[p]
    if typ == _U16:
        return mv[p] << 8 | mv[p + 1]
    if typ == _U32:
        return mv[p] << 24 | mv[p + 1] << 16 | mv[p + 2] << 8 | mv[p + 3]
    return varint(mv, p, p + 4)[0]


def get(mv, pos, pid):
    """The value of property pid in the block at mv[pos] that scan() accepted, or None:
    an int, a str (strings), bytes (binary data) or a (name, value) pair of str (the first
    User Property)."""
    n, p = varint(mv, pos, pos + 4)
    stop = p + n
    t = _TABLE
    while p < stop:
        typ = t[mv[p] << 2]
        if mv[p] == pid:
            p += 1
            if typ <= _VARINT:
                return _int(mv, p, typ)
            s = p + 2
            e = s + (mv[p] << 8 | mv[p + 1])
            if typ == _BINARY:
                return bytes(mv[s:e])
            v = utf8.decode(mv, s, e)
            if typ == _PAIR:
                return v, utf8.decode(mv, e + 2, e + 2 + (mv[e] << 8 | mv[e + 1]))
            return v
        p = _value_end(mv, p + 1, stop, typ)
    return None


def copy(out, mv, pos, drop):
    """Append to bytearray out the properties of the block at mv[pos] (scanned), without
    their length and without those whose identifier is in drop (bytes)."""
    n, p = varint(mv, pos, pos + 4)
    stop = p + n
    t = _TABLE
    while p < stop:
        q = _value_end(mv, p + 1, stop, t[mv[p] << 2])
        if mv[p] not in drop:
            out += mv[p:q]
        p = q


def put(out, pid, v):
    """Append property pid with value v (int; str or bytes; a (name, value) pair) to out."""
    typ = _TABLE[pid << 2]
    out.append(pid)
    if typ == _BYTE:
        out.append(v)
    elif typ == _U16:
        out.append(v >> 8)
        out.append(v & 0xFF)
    elif typ == _U32:
        out.append(v >> 24)
        out.append(v >> 16 & 0xFF)
        out.append(v >> 8 & 0xFF)
        out.append(v & 0xFF)
    elif typ == _VARINT:
        from core.proto import put_varint
        put_varint(out, v)
    elif typ == _PAIR:
        _put_str(out, v[0])
        _put_str(out, v[1])
    else:
        _put_str(out, v)


def _put_str(out, v):
    if isinstance(v, str):
        v = v.encode()
    out.append(len(v) >> 8)
    out.append(len(v) & 0xFF)
    out += v
