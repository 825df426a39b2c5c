"""MQTT 3.1.1 on the wire: MAX_PACKET, the names of packet types and CONNACK codes for log
lines and capture records, and the helpers the handlers share (varints, strings, fixed
packets). The packet bytes, flags and codes themselves are named in core/names.py.

The helpers live here rather than in modules of their own, which would cost a board heap.
"""

from core.const import const
from core.errors import ProtocolError
from core import utf8
from core.names import PUB_QOS

MAX_PACKET = const(268435460)  # the largest remaining length, 268435455, and a 5-byte header

# Names by packet type and by CONNACK code, for log lines and capture records: one string
# each rather than a tuple, which would cost a heap object per name on a board.
_NAMES = ("reserved(0) CONNECT CONNACK PUBLISH PUBACK PUBREC PUBREL PUBCOMP SUBSCRIBE "
          "SUBACK UNSUBSCRIBE UNSUBACK PINGREQ PINGRESP DISCONNECT AUTH(15)")
_CONNACK_TEXTS = ("accepted|unacceptable protocol version|identifier rejected|"
                  "server unavailable|bad user name or password|not authorized")


def packet_name(t):
    """Name of MQTT packet type t (0..15), e.g. "PUBLISH"."""
    return _NAMES.split()[t]


def connack_text(rc):
    """The spec's words for CONNACK return code rc (0..5), e.g. "not authorized"."""
    return _CONNACK_TEXTS.split("|")[rc]


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


def put_publish(out, b0, tb, pid, payload, props=None):
    """Append a PUBLISH with first byte b0, topic bytes tb, packet id (if QoS>0), payload;
    props: for an MQTT 5.0 receiver, its property block (with its length, b"\x00": none)."""
    n = 2 + len(tb) + len(payload)
    if b0 & PUB_QOS:
        n += 2
    if props is not None:
        n += len(props)
    out.append(b0)
    put_varint(out, n)
    out.append(len(tb) >> 8)
    out.append(len(tb) & 0xFF)
    out += tb
    if b0 & PUB_QOS:
        out.append(pid >> 8)
        out.append(pid & 0xFF)
    if props is not None:
        out += props
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
