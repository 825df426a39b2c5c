"""A broker's persistent state written as records (a snapshot); core/persist/load.py reads them."""

from core.persist import records as R
from core.const import const

_PIECE = const(4096)  # a snapshot is written in pieces of about this size: a board's heap


def write(sink, b, gone, gen, wall):
    """Pass the records that rebuild broker b's persistent state to sink(bytearray), in pieces.

    gone maps the client id of each offline session to when its connection ended.
    """
    out = bytearray(R.MAGIC)
    R.put(out, R.HEADER, 0, gen, wall)
    for t in b.retained.msgs:
        m = b.retained.msgs[t]  # (topic, topic bytes, payload, qos)
        R.put(out, R.RETAIN, m[1], m[3], m[2])
        if len(out) >= _PIECE:
            out = _spill(sink, out)
    for cid in b.sessions:
        s = b.sessions[cid]
        if s.clean:
            continue
        R.put(out, R.SESSION, cid, 0, s.username)
        w = gone.get(cid)
        if w is not None and s.conn is None:
            R.put(out, R.GONE, cid, w)
        for f in s.subs:
            R.put(out, R.SUB, cid, f, s.subs[f])
        ents = [(s.flags[pid], pid) for pid in s.flags]
        ents.sort()  # by seq: the order they were first sent in
        for f, pid in ents:
            m = s.inflight[pid]
            R.put(out, R.QUEUE, cid, f & 7, m[1], m[2])
            R.put(out, R.START, cid, pid, f)
        q = s.queue
        for i in range(0, len(q), 2):
            R.put(out, R.QUEUE, cid, q[i + 1], q[i][1], q[i][2])
        if s.qos2_in:
            for pid in s.qos2_in:
                R.put(out, R.Q2IN, cid, pid)
        if len(out) >= _PIECE:
            out = _spill(sink, out)
    if out:
        sink(out)


def _spill(sink, out):
    sink(out)
    return bytearray()
