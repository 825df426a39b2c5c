"""A broker's persistent state written as records: a snapshot, and the compaction that
writes one (core/persist/load.py reads them). Loaded only to write a snapshot: a board
drops it again after (ports/micropython/persist_files.py)."""

from core.persist.records import MAGIC, head, put, props
from core.const import const
from core.names import MSG_TOPIC_BYTES, MSG_PAYLOAD, MSG_QOS, KEPT_RETAIN
from core.names import QUEUED_MSG, QUEUED_FLAGS, QUEUED_PAIR
from core.names import (REC_HEADER, REC_RETAIN, REC_SESSION, REC_GONE, REC_SUB, REC_QUEUE,
                        REC_Q2IN, REC_SENT, REC_Q2MSG)
from core.names import REC_SUB5
from core.names import REC_EXPIRY

# a snapshot is written in pieces: records gather in one buffer, reused, until it holds
# this many bytes; a payload that would take it past that is written on its own. So the
# buffer stays under 2 KB with a board's topics and client ids, whatever the state holds
_PIECE = const(1024)


def snapshot(store):
    """Store store's snapshot written aside and renamed into place, then an empty journal of
    its generation the same way; OSError when a file cannot be written."""
    gen = store.gen + 1
    w = store.wall()
    head = bytearray(MAGIC)
    put(head, REC_HEADER, 1, gen, w)
    _replace(store, store.name, lambda sink: write(sink, store.b, store.gone, gen, w))
    store.close_journal()
    _replace(store, store.jname, lambda sink: sink(head))
    store.jh = store.fs.open(store.jname, True)
    store.gen = gen
    store.jsize = len(head)
    store.saved_at = store.b.secs
    store.since = 0


def _replace(store, name, fill):
    """Write a file NAME.new with fill(sink), sync it, rename it to name, sync the folder."""
    fs = store.fs
    tmp = name + ".new"
    h = fs.open(tmp, False)
    try:
        def sink(data):
            fs.write(h, data)
            store.written += len(data)
        fill(sink)
        fs.fsync(h)
    finally:
        fs.close(h)
    fs.rename(tmp, name)
    fs.fsync_dir()


def write(sink, b, gone, gen, wall):
    """Pass the records that rebuild broker b's persistent state to sink(data), in pieces
    (sink must not keep data: the buffer is reused).

    gone maps the client id of each offline session to when its connection ended.
    """
    out = bytearray(MAGIC)
    put(out, REC_HEADER, 0, gen, wall)
    now = lambda: wall  # noqa: E731 (the clock for messages' expiry: one reading for all)
    for t in b.retained.msgs:
        m = b.retained.msgs[t]  # (topic, topic bytes, payload, qos)
        _put(sink, out, REC_RETAIN, (m[MSG_TOPIC_BYTES], m[MSG_QOS], m[MSG_PAYLOAD]),
             props(m, b, now))
    for cid in b.sessions:
        s = b.sessions[cid]
        if s.clean:
            continue
        _put(sink, out, REC_SESSION, (cid, 0, s.username))
        w = gone.get(cid)
        if w is not None and s.conn is None:
            _put(sink, out, REC_GONE, (cid, w))
        if s.expiry is not None:  # MQTT 5.0: counted from when its connection ended
            _put(sink, out, REC_EXPIRY, (cid, s.expiry))
        for f in s.subs:
            w = s.props.get(f) if s.props is not None else None
            if w:
                _put(sink, out, REC_SUB5, (cid, f, s.subs[f], w))
            else:
                _put(sink, out, REC_SUB, (cid, f, s.subs[f]))
        ents = [(s.flags[pid], pid) for pid in s.flags]
        ents.sort()  # by seq: the order they were first sent in
        for f, pid in ents:
            m = s.inflight[pid]
            _put(sink, out, REC_SENT, (cid, pid, f, m[MSG_TOPIC_BYTES], m[MSG_PAYLOAD]),
                 props(m, b, now))
        q = s.queue
        for i in range(0, len(q), QUEUED_PAIR):
            m = q[i + QUEUED_MSG]
            _put(sink, out, REC_QUEUE, (cid, q[i + QUEUED_FLAGS], m[MSG_TOPIC_BYTES],
                                        m[MSG_PAYLOAD]), props(m, b, now))
        if s.qos2_in:
            for pid in s.qos2_in:
                m = s.qos2_in[pid]
                if m is True:
                    _put(sink, out, REC_Q2IN, (cid, pid))
                else:
                    _put(sink, out, REC_Q2MSG, (cid, pid, m[KEPT_RETAIN], m[MSG_TOPIC_BYTES],
                                               m[MSG_PAYLOAD]), props(m, b, now))
    if out:
        sink(out)


def _put(sink, out, t, values, x=None):
    """One record into out (x: as records.head's); out to sink when it is full (emptied in
    place, not reallocated)."""
    p = head(out, t, values, x)
    if p is not None:
        if len(out) + len(p) <= _PIECE:
            out += p
        else:
            sink(out)
            out[:] = b""
            sink(p)
            return
    if len(out) >= _PIECE:
        sink(out)
        out[:] = b""
