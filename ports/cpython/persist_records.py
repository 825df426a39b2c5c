"""The CPython port's Store: the records every QoS 1/2 message costs (queue, start, sent,
acked and the other packet-id records) made with precompiled structs and each client id's
field encoded once, instead of core/persist/records.py's loop over the fields: the same
bytes (tests/persist/test_persist_records_cpython.py), 0.5-0.9 us a record instead of 2-4.5
(a message delivered at once costs two records: with persistence on, that was about as
much CPU as the rest of its handling). A message with MQTT 5.0 properties takes the
portable path (its PROPS record). Boards keep the generic code: one encoder, less
bytecode."""

from binascii import crc32
from struct import Struct

from core.names import MSG_TOPIC_BYTES, MSG_PAYLOAD, MSG_PROPS
from core.names import REC_QUEUE, REC_SENT, REC_START, REC_ACKED
from core.persist import store

_FRAME = Struct(">II").pack  # body length, CRC32
_SENT = Struct(">HIH").pack  # pid, flags, topic length
_START = Struct(">HI").pack  # pid, flags
_QUEUE = Struct(">BH").pack  # flags, topic length
_LEN = Struct(">I").pack  # a payload's length
_PID = Struct(">H").pack
_T_QUEUE = bytes((REC_QUEUE,))
_T_SENT = bytes((REC_SENT,))
_T_START = bytes((REC_START,))
_T_ACKED = bytes((REC_ACKED,))


class Store(store.Store):
    """core.persist.store.Store with the per-message records encoded in one piece."""

    def __init__(self, *args):
        super().__init__(*args)
        self.ids = {}  # client id -> its field (u16 length, UTF-8), as records write it

    def _id(self, cid):
        """cid's field (encoded once)."""
        c = self.ids.get(cid)
        if c is None:
            c = cid.encode()
            c = self.ids[cid] = len(c).to_bytes(2, "big") + c
        return c

    def drop(self, s):
        """Session s was removed."""
        self.ids.pop(s.client_id, None)
        super().drop(s)

    def queue(self, s, msg, flags):
        """msg was appended to s's queue with its queue flags (core/names.py)."""
        if s.clean:
            return
        if len(msg) > MSG_PROPS:
            super().queue(s, msg, flags)
            return
        tb = msg[MSG_TOPIC_BYTES]
        p = msg[MSG_PAYLOAD]
        _frame(self.buf, b"".join((_T_QUEUE, self._id(s.client_id), _QUEUE(flags, len(tb)), tb,
                                   _LEN(len(p)))), p)
        self.count += 1

    def start(self, s, pid, msg, flags, head):
        """msg left for s with packet id pid (as store.Store.start)."""
        if s.clean or not (pid or head):
            return
        if head:
            _frame(self.buf, _T_START + self._id(s.client_id) + _START(pid, flags), b"")
        elif len(msg) > MSG_PROPS:
            super().start(s, pid, msg, flags, head)
            return
        else:
            tb = msg[MSG_TOPIC_BYTES]
            p = msg[MSG_PAYLOAD]
            c = self.ids.get(s.client_id) or self._id(s.client_id)
            _frame(self.buf, b"".join((_T_SENT, c, _SENT(pid, flags, len(tb)), tb, _LEN(len(p)))),
                   p)
        self.count += 1

    def acked(self, s, pid):
        """PUBACK (QoS 1) or PUBCOMP (QoS 2) came for outgoing pid (one per message: no
        call through _pid)."""
        if not s.clean:
            body = _T_ACKED + (self.ids.get(s.client_id) or self._id(s.client_id)) + _PID(pid)
            self.buf += _FRAME(len(body), crc32(body))
            self.buf += body
            self.count += 1

    def _pid(self, s, pid, typ):
        if not s.clean:
            body = bytes((typ,)) + self._id(s.client_id) + _PID(pid)
            self.buf += _FRAME(len(body), crc32(body))
            self.buf += body
            self.count += 1


def _frame(out, body, p):
    """Append the record of body followed by payload p (length and CRC32 cover both)."""
    out += _FRAME(len(body) + len(p), crc32(p, crc32(body)))
    out += body
    if p:
        out += p
