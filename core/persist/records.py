"""Persistence records: length + CRC32 framed, typed, with one field layout per type.

A file is MAGIC, then records. A record is u32 body length, u32 CRC32 of the body, the
body: a type byte and the type's fields (big-endian). A snapshot and a journal use the
same records: a snapshot is the records that rebuild the whole state.
"""

from binascii import crc32

from core.const import const

MAGIC = b"MQEP\x01"  # mqtt-edge persistence, format 1
_FRAME = const(8)  # length and CRC32 before each body
MAX_BODY = const(268435600)  # an MQTT payload plus topic and fields: anything larger is damage

HEADER = const(1)  # kind (0 snapshot, 1 journal), generation, wall-clock seconds
RETAIN = const(2)  # retained message set: topic, qos, payload
UNRETAIN = const(3)  # retained message cleared: topic
SESSION = const(4)  # persistent session created or reconnected: client id, clean, username
GONE = const(5)  # its connection ended at wall-clock seconds (persistent_client_expiration)
DROP = const(6)  # session removed (clean reconnect or expiry)
SUB = const(7)  # client id, filter, granted qos
UNSUB = const(8)  # client id, filter
QUEUE = const(9)  # outgoing message queued: client id, retain << 2 | qos, topic, payload
START = const(10)  # head of the queue sent: client id, pid (0: dropped unsent), flags word
ACKED = const(11)  # PUBACK (QoS 1) or PUBCOMP (QoS 2) for an outgoing message: client id, pid
RELEASED = const(12)  # PUBREC for an outgoing QoS 2 message (PUBREL sent): client id, pid
# 13 is not used (it was PUBCOMP, now ACKED)
Q2IN = const(14)  # incoming QoS 2 id received, PUBREL awaited: client id, pid
Q2REL = const(15)  # that PUBREL came: client id, pid

# per type: name and fields; B u8, H u16, I u32, s string (u16 length), o string or None
# (length 0xFFFF), b bytes (u32 length)
LAYOUT = (None, ("header", "BII"), ("retain", "sBb"), ("unretain", "s"),
          ("session", "sBo"), ("gone", "sI"), ("drop", "s"), ("sub", "ssB"),
          ("unsub", "ss"), ("queue", "sBsb"), ("start", "sHI"), ("acked", "sH"),
          ("released", "sH"), None, ("q2in", "sH"), ("q2rel", "sH"))


class Damaged(Exception):
    """A record that cannot be decoded: args are (offset, reason)."""


def put(out, typ, *vals):
    """Append one framed record of type typ with field values vals to bytearray out."""
    n0 = len(out)
    out += b"\0\0\0\0\0\0\0\0"
    out.append(typ)
    fields = LAYOUT[typ][1]
    for i in range(len(fields)):
        f = fields[i]
        v = vals[i]
        if f == "B":
            out.append(v)
        elif f == "H":
            out.append(v >> 8)
            out.append(v & 0xFF)
        elif f == "I":
            _u32(out, v)
        elif f == "b":
            _u32(out, len(v))
            out += v
        elif v is None:  # "o" without a value
            out += b"\xff\xff"
        else:
            if isinstance(v, str):
                v = v.encode()
            out.append(len(v) >> 8)
            out.append(len(v) & 0xFF)
            out += v
    body = memoryview(out)[n0 + _FRAME:]
    n = len(body)
    c = crc32(body) & 0xFFFFFFFF
    del body
    out[n0:n0 + _FRAME] = bytes((n >> 24, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF,
                                 c >> 24, (c >> 16) & 0xFF, (c >> 8) & 0xFF, c & 0xFF))


def _u32(out, v):
    out.append((v >> 24) & 0xFF)
    out.append((v >> 16) & 0xFF)
    out.append((v >> 8) & 0xFF)
    out.append(v & 0xFF)


def _get32(b, i):
    return (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]


def scan(data, pos):
    """Yield (offset, type, values) for each record in data from pos.

    Raises Damaged(offset, reason) at the first record that is cut short or fails its
    CRC or layout; every record before it has been yielded. Zeros to the end are the
    space a port reserved ahead of its writes: the end, not damage.
    """
    end = len(data)
    mv = memoryview(data)
    last = len(data.rstrip(b"\0")) if end and not data[end - 1] else end
    while pos < end:
        if pos >= last:
            return
        if end - pos < _FRAME:
            raise Damaged(pos, "record header cut short (%d of 8 bytes)" % (end - pos))
        n = _get32(data, pos)
        if n == 0 or n > MAX_BODY:
            raise Damaged(pos, "record length %d is impossible" % n)
        if pos + _FRAME + n > end:
            raise Damaged(pos, "record of %d bytes cut short at %d" % (n, end - pos - _FRAME))
        s = pos + _FRAME
        if crc32(mv[s:s + n]) & 0xFFFFFFFF != _get32(data, pos + 4):
            raise Damaged(pos, "CRC mismatch")
        yield pos, data[s], _fields(data, s, s + n, pos)
        pos = s + n


def _fields(b, i, e, at):
    """The values of the record body b[i:e] (type byte at i)."""
    t = b[i]
    if t >= len(LAYOUT) or LAYOUT[t] is None:
        raise Damaged(at, "unknown record type %d" % t)
    i += 1
    vals = []
    for f in LAYOUT[t][1]:
        if f == "B":
            need = 1
        elif f == "H":
            need = 2
        else:
            need = 4 if f in "Ib" else 2
        if i + need > e:
            raise Damaged(at, "%s record too short" % LAYOUT[t][0])
        if f == "B":
            vals.append(b[i])
            i += 1
            continue
        if f == "H":
            vals.append((b[i] << 8) | b[i + 1])
            i += 2
            continue
        if f == "I":
            vals.append(_get32(b, i))
            i += 4
            continue
        if f == "b":
            n = _get32(b, i)
            i += 4
        else:
            n = (b[i] << 8) | b[i + 1]
            i += 2
            if f == "o" and n == 0xFFFF:
                vals.append(None)
                continue
        if i + n > e:
            raise Damaged(at, "%s record field overruns the record" % LAYOUT[t][0])
        v = bytes(b[i:i + n])
        if f != "b":
            try:
                v = v.decode()
            except UnicodeError:
                raise Damaged(at, "%s record holds a string that is not UTF-8" % LAYOUT[t][0])
        vals.append(v)
        i += n
    if i != e:
        raise Damaged(at, "%s record has %d bytes left over" % (LAYOUT[t][0], e - i))
    return vals
