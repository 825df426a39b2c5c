"""Persistence records: length + CRC32 framed, typed, with one field layout per type.

A file is MAGIC, then records. A record is u32 body length, u32 CRC32 of the body, the
body: a type byte and the type's fields (big-endian). A snapshot and a journal use the
same records: a snapshot is the records that rebuild the whole state. Writing is here;
reading (only at start-up) is core/persist/load.py.
"""

from binascii import crc32
from struct import pack

from core.const import const

MAGIC = b"MQEP\x01"  # mqtt-edge persistence, format 1
FRAME = const(8)  # length and CRC32 before each body

HEADER = const(1)  # kind (0 snapshot, 1 journal), generation, wall-clock seconds
RETAIN = const(2)  # retained message set: topic, qos, payload
UNRETAIN = const(3)  # retained message cleared: topic
SESSION = const(4)  # persistent session created or reconnected: client id, clean, username
GONE = const(5)  # its connection ended at wall-clock seconds (persistent_client_expiration)
DROP = const(6)  # session removed (clean reconnect or expiry)
SUB = const(7)  # client id, filter, granted qos
UNSUB = const(8)  # client id, filter
QUEUE = const(9)  # outgoing message queued: client id, queue flags (core/names.py), topic, payload
START = const(10)  # head of the queue sent: client id, pid (0: dropped unsent), flags word
ACKED = const(11)  # PUBACK (QoS 1) or PUBCOMP (QoS 2) for an outgoing message: client id, pid
RELEASED = const(12)  # PUBREC for an outgoing QoS 2 message (PUBREL sent): client id, pid
# 13 is not used (it was PUBCOMP, now ACKED)
Q2IN = const(14)  # incoming QoS 2 id received, PUBREL awaited: client id, pid
Q2REL = const(15)  # that PUBREL came: client id, pid
SENT = const(16)  # outgoing message sent at once, not queued: client id, pid, flags word,
# topic, payload (the QUEUE and START of a message that never waited, in one record)
Q2MSG = const(17)  # incoming QoS 2 message kept until its PUBREL: client id, pid, retain,
# topic, payload (Q2IN: one not to be delivered, or of a file written before this record)
SUB5 = const(18)  # a SUB with MQTT 5.0 options or a Subscription Identifier: client id,
# filter, granted qos, their word (core/subs.py)
EXPIRY = const(19)  # an MQTT 5.0 session's finite Session Expiry Interval: client id,
# seconds (after its SESSION or GONE record, which set it back to none)

# per type: name and fields; B u8, H u16, I u32, s string (u16 length), o string or None
# (length 0xFFFF), b bytes (u32 length)
LAYOUT = (None, ("header", "BII"), ("retain", "sBb"), ("unretain", "s"),
          ("session", "sBo"), ("gone", "sI"), ("drop", "s"), ("sub", "ssB"),
          ("unsub", "ss"), ("queue", "sBsb"), ("start", "sHI"), ("acked", "sH"),
          ("released", "sH"), None, ("q2in", "sH"), ("q2rel", "sH"), ("sent", "sHIsb"),
          ("q2msg", "sHBsb"), ("sub5", "ssBI"), ("expiry", "sI"))


def put(out, typ, *vals):
    """Append one framed record of type typ with field values vals to bytearray out."""
    p = head(out, typ, vals)
    if p is not None:
        out += p


def head(out, typ, vals):
    """put() but for the bytes of a last "b" field (a payload), which are returned, not
    appended: the caller writes them next (the record's length and CRC32 count them)."""
    parts = [bytes((typ,))]  # the body's pieces, joined once: fewer calls than byte appends
    p = None
    i = 0
    for f in LAYOUT[typ][1]:
        v = vals[i]
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
