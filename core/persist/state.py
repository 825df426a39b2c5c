"""The broker state as records: apply one to a Broker (restore), or write them all (snapshot)."""

from core.persist import records as R
from core.session import Session
from core.const import const

_PIECE = const(4096)  # a snapshot is written in pieces of about this size: a board's heap


class Restore:
    """Applies records to a broker's sessions, subscriptions and retained messages."""

    def __init__(self, broker):
        self.b = broker
        self.wall = 0  # newest wall-clock time seen: when the broker was last known alive
        self.gone = {}  # client id -> wall-clock seconds its last connection ended
        self.gen = 0

    def apply(self, t, v):
        """Apply record type t with values v; records naming an unknown session are skipped."""
        b = self.b
        if t == R.HEADER:
            self.gen = v[1]
            if v[2] > self.wall:
                self.wall = v[2]
            return
        if t == R.RETAIN:
            b.retained.msgs[v[0]] = ((v[0], v[0].encode(), v[2]), v[1])
            return
        if t == R.UNRETAIN:
            b.retained.msgs.pop(v[0], None)
            return
        cid = v[0]
        s = b.sessions.get(cid)
        if t == R.SESSION:
            if s is None:
                s = b.sessions[cid] = Session(cid, v[1])
            s.clean = v[1]
            s.username = v[2]
            return
        if s is None:
            return
        if t == R.GONE:
            self.gone[cid] = v[1]
            if v[1] > self.wall:
                self.wall = v[1]
        elif t == R.DROP:
            b.drop_session(s)
            self.gone.pop(cid, None)
        elif t == R.SUB:
            b.subs.subscribe(v[1], s, v[2])
            s.subs[v[1]] = v[2]
        elif t == R.UNSUB:
            if b.subs.unsubscribe(v[1], s):
                s.subs.pop(v[1], None)
        elif t == R.QUEUE:
            tb = v[2].encode()
            s.queue.append((v[2], tb, v[3]))
            s.queue.append(v[1])
            s.queued_bytes += len(v[3])
        elif t == R.START:
            if not s.queue:
                return
            m = s.queue.pop(0)
            f = s.queue.pop(0)
            s.queued_bytes -= len(m[2])
            pid = v[1]
            if pid:
                s.inflight[pid] = m
                s.flags[pid] = v[2]
                if v[2] >> 4 > s.seq:
                    s.seq = v[2] >> 4
        elif t == R.ACKED:
            s.inflight.pop(v[1], None)
            s.flags.pop(v[1], None)
        elif t == R.RELEASED:
            f = s.flags.get(v[1])
            if f is not None:
                s.flags[v[1]] = f | 8
        elif t == R.Q2IN:
            if s.qos2_in is None:
                s.qos2_in = {}
            s.qos2_in[v[1]] = True
        elif t == R.Q2REL:
            if s.qos2_in:
                s.qos2_in.pop(v[1], None)

    def finish(self, now_wall):
        """Set each session's gone_at so that persistent_client_expiration counts the downtime."""
        b = self.b
        for cid in b.sessions:
            s = b.sessions[cid]
            s.conn = None
            w = self.gone.get(cid, self.wall)  # connected when the broker stopped: its last sign
            self.gone[cid] = w
            s.gone_at = b.secs - max(0, now_wall - w)


def write(sink, b, gone, gen, wall):
    """Pass the records that rebuild broker b's persistent state to sink(bytearray), in pieces.

    gone maps the client id of each offline session to when its connection ended.
    """
    out = bytearray(R.MAGIC)
    R.put(out, R.HEADER, 0, gen, wall)
    for t in b.retained.msgs:
        m, q = b.retained.msgs[t]
        R.put(out, R.RETAIN, m[1], q, m[2])
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
