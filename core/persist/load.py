"""Start-up: a Store's snapshot and journal read back into its broker (a board may drop this
module once the broker serves: core/persist/store.py imports it in Store.load)."""

from binascii import crc32
from struct import unpack_from

from core.persist.records import LAYOUT, MAGIC, put
from core.persist.store import PersistError
from core.session import Session
from core.deliver import message
from core.proto import put_varint
from core.const import const
from core.names import MSG_PAYLOAD, MSG_PROPS, MSG_EXPIRES, OUT_RELEASED, OUT_SEQ_SHIFT
from core.names import SUB_ID_SHIFT, PROP_SUBSCRIPTION_ID
from core.names import (REC_FRAME, REC_HEADER, REC_RETAIN, REC_UNRETAIN, REC_SESSION, REC_GONE,
                        REC_DROP, REC_SUB, REC_UNSUB, REC_QUEUE, REC_START, REC_ACKED,
                        REC_RELEASED, REC_Q2IN, REC_Q2REL, REC_SENT, REC_Q2MSG, REC_SUB5)
from core.names import REC_EXPIRY, REC_PROPS

_MAX_BODY = const(268435600)  # an MQTT payload plus topic and fields: anything larger is damage
_PIECE = const(1024)  # bytes read at a time


class Damaged(Exception):
    """A record that cannot be decoded: args are (offset, reason)."""


class Restore:
    """Applies records to a broker's sessions, subscriptions and retained messages."""

    def __init__(self, broker):
        self.b = broker
        self.wall = 0  # newest wall-clock time seen: when the broker was last known alive
        self.gone = {}  # client id -> wall-clock seconds its last connection ended
        self.gen = 0
        self.now = 0  # the wall clock's second at the start (load): messages' expiry

    def apply(self, t, v):
        """Apply record type t with values v; records naming an unknown session are skipped."""
        b = self.b
        if t == REC_HEADER:
            self.gen = v[1]
            if v[2] > self.wall:
                self.wall = v[2]
            return
        if t == REC_RETAIN:
            m = self.msg(t, v, v[0], v[2])
            if len(m) > MSG_PROPS and m[MSG_EXPIRES] and m[MSG_EXPIRES] <= b.secs:
                b.retained.msgs.pop(v[0], None)  # its Message Expiry passed while down: gone
            else:
                b.retained.set(m, v[1])
            return
        if t == REC_UNRETAIN:
            b.retained.msgs.pop(v[0], None)
            return
        cid = v[0]
        s = b.sessions.get(cid)
        if t == REC_SESSION:
            if s is None:
                s = b.sessions[cid] = Session(cid, v[1])
            s.clean = v[1]
            s.username = v[2]
            s.expiry = None  # an EXPIRY record follows for a finite one
            return
        if s is None:
            return
        if t == REC_GONE:
            self.gone[cid] = v[1]
            if v[1] > self.wall:
                self.wall = v[1]
            s.expiry = None
        elif t == REC_EXPIRY:
            s.expiry = v[1]
        elif t == REC_DROP:
            for f in s.subs:  # as drop_session, but the journal holds where the messages
                _unsub(b, f, s)  # of its shared subscriptions went
            del b.sessions[cid]
            self.gone.pop(cid, None)
        elif t == REC_SUB or t == REC_SUB5:
            if v[1][:7] == "$share/":  # a shared subscription's group (core/subs.py)
                from core import subs
                subs.subscribe(b.subs, v[1], s, v[2])
            else:
                b.subs.subscribe(v[1], s, v[2])
            s.subs[v[1]] = v[2]
            if t == REC_SUB5 or s.props is not None:
                from core import subs
                w = v[3] if t == REC_SUB5 else 0  # core/subs.py's word
                subs.set(s, v[1], w, w >> SUB_ID_SHIFT)
        elif t == REC_UNSUB:
            if _unsub(b, v[1], s):
                s.subs.pop(v[1], None)
                if s.props is not None:
                    from core import subs
                    subs.set(s, v[1], 0, 0)
        elif t == REC_QUEUE:
            s.queue.append(self.msg(t, v, v[2], v[3]))
            s.queue.append(v[1])
            s.queued_bytes += len(v[3])
        elif t == REC_START or t == REC_SENT:
            if t == REC_SENT:  # the message is in the record, not in the queue
                m = self.msg(t, v, v[3], v[4])
            elif not s.queue:
                return
            else:
                m = s.queue.pop(0)
                s.queue.pop(0)
                s.queued_bytes -= len(m[MSG_PAYLOAD])
            pid = v[1]
            if pid:
                s.inflight[pid] = m
                s.flags[pid] = v[2]
                if v[2] >> OUT_SEQ_SHIFT > s.seq:
                    s.seq = v[2] >> OUT_SEQ_SHIFT
        elif t == REC_ACKED:
            s.inflight.pop(v[1], None)
            s.flags.pop(v[1], None)
        elif t == REC_RELEASED:
            f = s.flags.get(v[1])
            if f is not None:
                s.flags[v[1]] = f | OUT_RELEASED
        elif t == REC_Q2IN or t == REC_Q2MSG:
            if s.qos2_in is None:
                s.qos2_in = {}
            s.qos2_in[v[1]] = True if t == REC_Q2IN else self.msg(t, v, v[3], v[4], v[2])
        elif t == REC_Q2REL:
            if s.qos2_in:
                s.qos2_in.pop(v[1], None)

    def msg(self, t, v, topic, payload, n=None):
        """The message of record t's values v (core/deliver.py's message(), n as there),
        with the properties of a PROPS record around it: its expiry second as many seconds
        ahead as were left, or already past (an expired one is dropped unsent, as live)."""
        if len(v) == len(LAYOUT[t][1]):
            return message(topic, topic.encode(), payload, n)
        x = v[-1]  # (properties, wall-clock second its expiry ends or 0)
        e = x[1]
        if e:
            e = self.b.secs + e - self.now if e > self.now else self.b.secs - 1
        tb = topic.encode()
        m = message(topic, tb, payload, n, x[0], e)
        if (t == REC_QUEUE or t == REC_SENT) and PROP_SUBSCRIPTION_ID in x[0]:
            # a subscriber's copy with its Subscription Identifiers (core/subs.py matching(),
            # which a PUBLISH from a client never has): the message it was made from goes
            # with it, as live (MSG_BASE), so that a shared member's copy handed to another
            # member carries that member's identifiers alone
            from core import props
            p = bytearray()
            put_varint(p, len(x[0]))
            p += x[0]
            out = bytearray()
            props.copy(out, p, 0, (PROP_SUBSCRIPTION_ID,))
            if len(out) < len(x[0]):
                m += (message(topic, tb, payload, n, bytes(out) if out or e else None, e),)
        return m

    def finish(self, now):
        """Set each session's gone_at so that persistent_client_expiration counts the
        downtime; the client ids of the sessions connected when the broker stopped."""
        b = self.b
        on = []
        for cid in b.sessions:
            s = b.sessions[cid]
            s.conn = None
            w = self.gone.get(cid)
            if w is None:  # connected when the broker stopped: the files' newest time
                w = self.gone[cid] = self.wall
                on.append(cid)
            s.gone_at = b.secs - max(0, now - w)
            if s.expiry is not None:  # MQTT 5.0: core/v5.py's tick() ends it (broker.later)
                if b.later is None:
                    b.later = {}
                b.later[s] = None
        return on


def _unsub(b, f, s):
    """Remove s's subscription f from the tree, or from its group if shared; True if it was."""
    if f[:7] == "$share/":
        from core import subs
        return subs.unsubscribe(b.subs, f, s)
    return b.subs.unsubscribe(f, s)


def load(store):
    """Restore store's broker from snapshot and journal, then compact; PersistError if unusable."""
    state = Restore(store.b)
    state.now = store.wall()
    snap = _replay(store, store.name, state, 0)  # None: no such file
    end = 0  # where the journal's records end, when it can go on from there
    if snap == 0:
        try:
            h = store.fs.open_read(store.jname)
        except OSError as e:
            raise PersistError("%s: offset 0: cannot be read: %s" % (store.jname, e))
        if h is not None:
            store.fs.close(h)
            store.log("warning", "persistence: %s is not replayed: the snapshot it follows "
                      "is damaged" % store.jname)
    else:
        end = _replay(store, store.jname, state, 1) or 0
    on = state.finish(store.wall())
    store.gone = state.gone
    store.gen = state.gen
    store.log("notice", "persistence: restored %d sessions and %d retained messages"
              % (len(store.b.sessions), len(store.b.retained.msgs)))
    try:
        if snap and end:
            # undamaged and of the snapshot's generation: appended to from its end (a fresh
            # snapshot would take as long as the load), with what a snapshot would add: when
            # the sessions connected at the stop were last known alive
            store.jsize = end
            store.jh = store.fs.open(store.jname, True, end)
            if on:
                for cid in on:
                    put(store.buf, REC_GONE, cid, state.gone[cid])
                    store.expiry(store.b.sessions[cid])
                store.write(store.take()[0])
        else:
            store.snapshot()  # which drops any damage
    except OSError as e:
        raise PersistError("%s: offset 0: cannot be written: %s" % (store.name, e))


def _replay(store, name, state, mode):
    """Apply the records of file name to state: the offset where they end; 0 if it stopped at
    damage (logged), or for a journal of an older snapshot; None if there is no file.
    The file is read in pieces: a board need not hold it whole."""
    try:
        h = store.fs.open_read(name)
        if h is None:
            return None
        try:
            return _apply(store, Reader(h, 0), name, state, mode)
        finally:
            store.fs.close(h)
    except OSError as e:
        raise PersistError("%s: offset 0: cannot be read: %s" % (name, e))


def _apply(store, src, name, state, mode):  # mode: 0 snapshot, 1 journal (the header's kind field)
    m = len(MAGIC)
    src.need(m)
    head = src.buf[src.i:src.i + m]
    if mode == 0 and head != MAGIC:  # a journal's is damage: its snapshot is ours
        if head[:4] == MAGIC[:4] and len(head) >= m:
            raise PersistError("%s: offset 4: format %d, this broker reads format %d"
                               % (name, head[4], MAGIC[4]))
        raise PersistError("%s: offset 0: not an mqtt-edge persistence file" % name)
    n = 0
    at = m
    try:
        if head != MAGIC:
            raise Damaged(0, "file header cut short")
        src.skip(m)
        for at, t, v in records(src):
            if n == 0:
                if t != REC_HEADER or v[0] != mode:
                    raise Damaged(at, "the first record is not this file's header")
                if mode == 1 and v[1] != state.gen:
                    store.log("notice", "persistence: %s of generation %d follows an older "
                              "snapshot than %s (%d): already in it, not replayed"
                              % (name, v[1], store.name, state.gen))
                    return 0
            state.apply(t, v)
            n += 1
            end = src.offset  # the record's end
        if not n:
            raise Damaged(m, "no header record")
    except Damaged as e:
        at, why = e.args
        src.rest()
        store.log("warning", "persistence: %s: offset %d: %s: the %d records before it are "
                  "kept, the %d bytes from there on are dropped"
                  % (name, at, why, n, src.size - at))
        return 0
    store.log("information", "persistence: %s: %d records, %d bytes" % (name, n, src.size))
    return end


class Reader:
    """A file read in pieces: buf[i:] holds its bytes from offset on; size counts every
    byte read (the file's size once its end was reached)."""

    def __init__(self, h, offset):
        self.h = h
        self.buf = b""
        self.i = 0
        self.offset = offset
        self.size = offset

    def need(self, n):
        """Read until buf[i:i + n] holds n bytes; False if the file ends before."""
        have = len(self.buf) - self.i
        if have >= n:
            return True
        parts = [self.buf[self.i:]]
        while have < n:
            # a piece, or up to what is held (a damaged length claims any size: what is
            # read stays within twice what the file has)
            more = self.h.read(max(_PIECE, min(n - have, have)))
            if not more:
                break
            self.size += len(more)
            have += len(more)
            parts.append(more)
        self.buf = b"".join(parts)
        self.i = 0
        return have >= n

    def skip(self, n):
        """Past n bytes that need() holds."""
        self.i += n
        self.offset += n

    def rest(self):
        """Read to the end: True if every byte from offset on is zero."""
        zero = not self.buf[self.i:].strip(b"\0")
        while True:
            more = self.h.read(_PIECE)
            if not more:
                return zero
            self.size += len(more)
            if zero and more.strip(b"\0"):
                zero = False


def records(src):
    """Yield (offset, type, values) for each record of Reader src from its offset.

    Raises Damaged(offset, reason) at the first record that is cut short or fails its
    CRC or layout; every record before it has been yielded. Zeros to the end are the
    space a port reserved ahead of its writes: the end, not damage.
    """
    while True:
        pos = src.offset
        if len(src.buf) - src.i < REC_FRAME and not src.need(REC_FRAME):
            left = len(src.buf) - src.i
            if src.rest():  # the end of the file, or zeros to the end
                return
            raise Damaged(pos, "record header cut short (%d of 8 bytes)" % left)
        b = src.buf
        i = src.i
        n, c = unpack_from(">II", b, i)
        if n == 0 and c == 0 and src.rest():
            return
        if n == 0 or n > _MAX_BODY:
            raise Damaged(pos, "record length %d is impossible" % n)
        if len(b) - i < REC_FRAME + n:
            if not src.need(REC_FRAME + n):
                src.rest()
                raise Damaged(pos, "record of %d bytes cut short at %d"
                              % (n, src.size - pos - REC_FRAME))
            b = src.buf
            i = src.i
        s = i + REC_FRAME
        if crc32(memoryview(b)[s:s + n]) & 0xFFFFFFFF != c:
            raise Damaged(pos, "CRC mismatch")
        t, v = _fields(b, s, s + n, pos)
        src.i = s + n
        src.offset = pos + REC_FRAME + n
        yield pos, t, v


def scan(data, pos):
    """records() of the bytes of a file in memory (data) from offset pos (tools, tests)."""
    from io import BytesIO
    h = BytesIO(data)
    h.seek(pos)
    return records(Reader(h, pos))


def _fields(b, i, e, pos):
    """The type and values of the record body b[i:e] (type byte at i; b is bytes); of a
    PROPS record, those of the record inside with (properties, expiry) appended."""
    t = b[i]
    if t >= len(LAYOUT) or LAYOUT[t] is None:
        raise Damaged(pos, "unknown record type %d" % t)
    i += 1
    vals = []
    for f in LAYOUT[t][1]:
        if f == "B":
            if i >= e:
                raise Damaged(pos, "%s record too short" % LAYOUT[t][0])
            vals.append(b[i])
            i += 1
            continue
        if f == "H":
            if i + 2 > e:
                raise Damaged(pos, "%s record too short" % LAYOUT[t][0])
            vals.append((b[i] << 8) | b[i + 1])
            i += 2
            continue
        if f == "I" or f == "b":
            if i + 4 > e:
                raise Damaged(pos, "%s record too short" % LAYOUT[t][0])
            n = (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]
            i += 4
            if f == "I":
                vals.append(n)
                continue
        else:
            if i + 2 > e:
                raise Damaged(pos, "%s record too short" % LAYOUT[t][0])
            n = (b[i] << 8) | b[i + 1]
            i += 2
            if f == "o" and n == 0xFFFF:
                vals.append(None)
                continue
        if i + n > e:
            raise Damaged(pos, "%s record field overruns the record" % LAYOUT[t][0])
        v = b[i:i + n]
        if f != "b":
            try:
                v = v.decode()
            except UnicodeError:
                raise Damaged(pos, "%s record holds a string that is not UTF-8" % LAYOUT[t][0])
        vals.append(v)
        i += n
    if t == REC_PROPS:  # a message's record follows in the same body
        t = b[i] if i < e else 0
        if t != REC_RETAIN and t != REC_QUEUE and t != REC_SENT and t != REC_Q2MSG:
            raise Damaged(pos, "props record without a message's record")
        t, v = _fields(b, i, e, pos)
        v.append(vals)
        return t, v
    if i != e:
        raise Damaged(pos, "%s record has %d bytes left over" % (LAYOUT[t][0], e - i))
    return t, vals
