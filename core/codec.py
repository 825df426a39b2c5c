"""Wire encoding helpers shared by the handlers: varints, strings, fixed packets."""

from core.errors import ProtocolError
from core import utf8

# Packet types (high nibble of the first byte)
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

NAMES = ("reserved(0)", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
         "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ",
         "PINGRESP", "DISCONNECT", "AUTH(15)")


def put_varint(out, n):
    """Append n as an MQTT variable byte integer to bytearray out."""
    while True:
        d = n & 0x7F
        n >>= 7
        if n:
            out.append(d | 0x80)
        else:
            out.append(d)
            return


def put_u16(out, n):
    """Append n as a big-endian two-byte integer."""
    out.append(n >> 8)
    out.append(n & 0xFF)


def put_str(out, b):
    """Append bytes b with its two-byte length prefix."""
    put_u16(out, len(b))
    out += b


def put_publish(out, b0, tb, pid, payload):
    """Append a PUBLISH with first byte b0, topic bytes tb, packet id (if QoS>0), payload."""
    n = 2 + len(tb) + len(payload)
    if b0 & 6:
        n += 2
    out.append(b0)
    put_varint(out, n)
    put_u16(out, len(tb))
    out += tb
    if b0 & 6:
        put_u16(out, pid)
    out += payload


class Reader:
    """Reads fields of one packet body from a memoryview, raising ProtocolError when short."""

    def __init__(self, mv, pos, end):
        self.mv = mv
        self.pos = pos
        self.end = end

    def u8(self):
        """Next byte."""
        if self.pos >= self.end:
            raise ProtocolError("packet too short")
        self.pos += 1
        return self.mv[self.pos - 1]

    def u16(self):
        """Next two-byte integer."""
        p = self.pos
        if p + 2 > self.end:
            raise ProtocolError("packet too short")
        self.pos = p + 2
        return (self.mv[p] << 8) | self.mv[p + 1]

    def span(self):
        """(start, end) of the next length-prefixed field."""
        n = self.u16()
        s = self.pos
        if s + n > self.end:
            raise ProtocolError("field length beyond end of packet")
        self.pos = s + n
        return s, s + n

    def binary(self):
        """Next length-prefixed binary field as bytes."""
        s, e = self.span()
        return bytes(self.mv[s:e])

    def string(self):
        """Next length-prefixed UTF-8 string as str."""
        s, e = self.span()
        return utf8.decode(self.mv, s, e)

    def left(self):
        """Bytes left in the packet."""
        return self.end - self.pos
