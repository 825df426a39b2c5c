"""The CPython port's Store: the records every QoS 1/2 message costs (queue, start, sent,
acked and the other packet-id records) made with one struct.pack each instead of
core/persist/records.py's loop over the fields: the same bytes (tests/persist/
test_persist_records_cpython.py), about 1 us a record instead of 2-4.5 (a message
delivered at once costs two records: with persistence on, that was about as much CPU as
the rest of its handling). A message with MQTT 5.0 properties takes the portable path (its
PROPS record). Boards keep the generic code: one encoder, less bytecode."""

from binascii import crc32
from struct import pack

from core.names import MSG_TOPIC_BYTES, MSG_PAYLOAD, MSG_PROPS, REC_QUEUE, REC_SENT, REC_START
from core.persist import store


class Store(store.Store):
    """core.persist.store.Store with the per-message records encoded in one piece."""

    def queue(self, s, msg, flags):
        """msg was appended to s's queue with its queue flags (core/names.py)."""
        if len(msg) > MSG_PROPS:
            super().queue(s, msg, flags)
        elif not s.clean:
            c = s.client_id.encode()
            tb = msg[MSG_TOPIC_BYTES]
            p = msg[MSG_PAYLOAD]
            _frame(self.buf, pack(">BH%dsBH%dsI" % (len(c), len(tb)), REC_QUEUE, len(c), c,
                                  flags, len(tb), tb, len(p)), p)
            self.count += 1

    def start(self, s, pid, msg, flags, head):
        """msg left for s with packet id pid (as store.Store.start)."""
        if s.clean or not (pid or head):
            return
        c = s.client_id.encode()
        if head:
            _frame(self.buf, pack(">BH%dsHI" % len(c), REC_START, len(c), c, pid, flags), b"")
        elif len(msg) > MSG_PROPS:
            super().start(s, pid, msg, flags, head)
            return
        else:
            tb = msg[MSG_TOPIC_BYTES]
            p = msg[MSG_PAYLOAD]
            _frame(self.buf, pack(">BH%dsHIH%dsI" % (len(c), len(tb)), REC_SENT, len(c), c,
                                  pid, flags, len(tb), tb, len(p)), p)
        self.count += 1

    def _pid(self, s, pid, typ):
        if not s.clean:
            c = s.client_id.encode()
            _frame(self.buf, pack(">BH%dsH" % len(c), typ, len(c), c, pid), b"")
            self.count += 1


def _frame(out, body, p):
    """Append the record of body followed by payload p (length and CRC32 cover both)."""
    out += pack(">II", len(body) + len(p), crc32(p, crc32(body)))
    out += body
    if p:
        out += p
