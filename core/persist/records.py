"""Persistence records: length + CRC32 framed, typed, with one field layout per type.

A file is MAGIC, then records. A record is u32 body length, u32 CRC32 of the body, the
body: a type byte and the type's fields (big-endian). A snapshot and a journal use the
same records: a snapshot is the records that rebuild the whole state. Writing is here;
reading (only at start-up) is core/persist/load.py.
"""

from binascii import crc32
from struct import pack

from core.names import MSG_PROPS, MSG_EXPIRES, REC_PROPS


MAGIC = b"MQEP\x01"  # mqtt-edge persistence, format 1
# per type (core/names.py, REC_*): name and fields; B u8, H u16, I u32, s string (u16
# length), o string or None (length 0xFFFF), b bytes (u32 length)
LAYOUT = (None, ("header", "BII"), ("retain", "sBb"), ("unretain", "s"),
          ("session", "sBo"), ("gone", "sI"), ("drop", "s"), ("sub", "ssB"),
          ("unsub", "ss"), ("queue", "sBsb"), ("start", "sHI"), ("acked", "sH"),
          ("released", "sH"), None, ("q2in", "sH"), ("q2rel", "sH"), ("sent", "sHIsb"),
          ("q2msg", "sHBsb"), ("sub5", "ssBI"), ("expiry", "sI"), ("props", "bI"))
# a PROPS record's "b" is not its last field: the body of the record it wraps follows


def put(out, t, *values):
    """Append one framed record of type t with field values values to bytearray out."""
    p = head(out, t, values)
    if p is not None:
        out += p


def props(m, b, wall):
    """None, or for a message m with MQTT 5.0 properties (core/pub5.py) what its PROPS record
    holds: (properties, the wall-clock second its expiry ends or 0); b: the broker (its
    second), wall(): the wall clock's second."""
    if len(m) <= MSG_PROPS:
        return None
    e = m[MSG_EXPIRES]
    return m[MSG_PROPS], (wall() + e - b.secs if e else 0)


def head(out, t, values, x=None):
    """put() but for the bytes of a last "b" field (a payload), which are returned, not
    appended: the caller writes them next (the record's length and CRC32 count them).
    x: props() of a message's record, which then goes inside a PROPS record."""
    parts = [bytes((t,))]  # the body's pieces, joined once: fewer calls than byte appends
    if x is not None:
        parts = [bytes((REC_PROPS,)), len(x[0]).to_bytes(4, "big"), x[0],
                 x[1].to_bytes(4, "big"), parts[0]]
    p = None
    i = 0
    for f in LAYOUT[t][1]:
        v = values[i]
        i += 1
        if f == "s" or f == "o":
            if v is None:  # "o" without a value
                parts.append(b"\xff\xff")
                continue
            if isinstance(v, str):
                v = v.encode()
            parts.append(len(v).to_bytes(2, "big"))
            parts.append(v)
        elif f == "B":
            parts.append(bytes((v,)))
        elif f == "H":
            parts.append(v.to_bytes(2, "big"))
        elif f == "I":
            parts.append(v.to_bytes(4, "big"))
        else:  # "b", always the last field
            parts.append(len(v).to_bytes(4, "big"))
            p = v
    body = b"".join(parts)
    n = len(body)
    c = crc32(body)
    if p is not None:
        n += len(p)
        c = crc32(p, c)
    out += pack(">II", n, c & 0xFFFFFFFF)
    out += body
    return p
