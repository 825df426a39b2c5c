"""The persistence store: observer of the broker's state changes (broker.store), journal
writer, loader and compactor. Files come from the port (the file API in core/README.md)."""

from core.persist.records import put, head, props
from core.names import MSG_TOPIC_BYTES, MSG_PAYLOAD, KEPT_RETAIN, SESSION_ENDING
from core.names import (REC_RETAIN, REC_UNRETAIN, REC_SESSION, REC_GONE, REC_DROP, REC_SUB,
                        REC_UNSUB, REC_QUEUE, REC_START, REC_ACKED, REC_RELEASED, REC_Q2IN,
                        REC_Q2REL, REC_SENT, REC_Q2MSG, REC_SUB5, REC_EXPIRY)


class PersistError(Exception):
    """A persistence file that cannot be used: str(e) is "FILE: offset N: reason"."""


class Store:
    """Journal of one broker's persistent state in files NAME and NAME.journal."""

    def __init__(self, broker, fs, name, wall, log, journal_limit, hold_acks):
        self.b = broker
        self.fs = fs
        self.name = name
        self.jname = name + ".journal"
        self.wall = wall  # wall-clock seconds, from the port
        self.log = log
        self.journal_limit = journal_limit  # journal bytes that trigger a compaction
        self.hold_acks = hold_acks  # PUBACK/PUBREC/PUBCOMP wait for commit() (CPython)
        self.buf = bytearray()  # records not yet written
        self.count = 0  # records in buf
        self.held = []  # conn, b0 << 16 | pid, ...: acknowledgements waiting for commit()
        self.gone = {}  # client id -> wall-clock seconds its last connection ended
        self.gen = 0
        self.jsize = 0  # bytes in the journal file
        self.jh = None  # the journal's handle
        self.saved_at = 0  # broker.secs of the latest snapshot
        self.failed = False  # a write failed: the next commit writes a snapshot instead
        self.last = -1  # broker.secs of the latest recovery attempt (_recover)
        self.writing = False  # the port's writer thread has a batch (acks wait behind it)
        self.releasing = False
        # autosave_interval / autosave_on_changes: a snapshot after this many seconds (or
        # records) once the journal holds any; 0: only when the journal passes journal_limit
        self.every = 0
        self.on_changes = False
        self.since = 0  # records written since the latest snapshot
        self.written = 0  # bytes written to files since start (for the benchmark's figure)

    # ---- the observer: called by the core for persistent sessions' changes ----

    def session(self, s):
        """A persistent session was created or resumed."""
        if not s.clean:
            put(self.buf, REC_SESSION, s.client_id, 0, s.username)
            self.count += 1
            self.gone.pop(s.client_id, None)
            self.expiry(s)

    def ended(self, s):
        """The connection of persistent session s ended."""
        if not s.clean:
            w = self.wall()
            self.gone[s.client_id] = w
            put(self.buf, REC_GONE, s.client_id, w)
            self.count += 1
            self.expiry(s)  # as it is now: a v5 DISCONNECT may have changed it

    def expiry(self, s):
        """Record s's MQTT 5.0 Session Expiry Interval, when it has a finite one (after its
        SESSION or GONE record, which set it back to none)."""
        if s.expiry is not None:
            put(self.buf, REC_EXPIRY, s.client_id, s.expiry)
            self.count += 1

    def drop(self, s):
        """Session s was removed."""
        if not s.clean or s.clean == SESSION_ENDING:
            self.gone.pop(s.client_id, None)
            put(self.buf, REC_DROP, s.client_id)
            self.count += 1

    def sub(self, s, f, q, w=0):
        """s subscribed to filter f with granted QoS q (w: its MQTT 5.0 options word)."""
        if not s.clean:
            if w:
                put(self.buf, REC_SUB5, s.client_id, f, q, w)
            else:
                put(self.buf, REC_SUB, s.client_id, f, q)
            self.count += 1

    def unsub(self, s, f):
        """s unsubscribed from f."""
        if not s.clean:
            put(self.buf, REC_UNSUB, s.client_id, f)
            self.count += 1

    def queue(self, s, msg, flags):
        """msg was appended to s's queue with its queue flags (core/names.py)."""
        if not s.clean:
            self.msg(REC_QUEUE, msg, s.client_id, flags, msg[MSG_TOPIC_BYTES], msg[MSG_PAYLOAD])

    def start(self, s, pid, msg, flags, head):
        """msg left for s with packet id pid (0: not sent, QoS 0 or outside the mount point).

        head: it was the head of the queue; else it went out directly and is queued first.
        flags: its in-flight flags (core/names.py, OUT_*); its queue flags when pid is 0.
        """
        if s.clean or not (pid or head):
            return
        if head:
            put(self.buf, REC_START, s.client_id, pid, flags)
            self.count += 1
        else:
            self.msg(REC_SENT, msg, s.client_id, pid, flags, msg[MSG_TOPIC_BYTES],
                     msg[MSG_PAYLOAD])

    def acked(self, s, pid):
        """PUBACK (QoS 1) or PUBCOMP (QoS 2) came for outgoing pid."""
        self._pid(s, pid, REC_ACKED)

    def released(self, s, pid):
        """PUBREC came for outgoing QoS 2 pid (PUBREL sent)."""
        self._pid(s, pid, REC_RELEASED)

    def q2in(self, s, pid, m):
        """Incoming QoS 2 pid was received and is kept until its PUBREL: m is its message
        (topic, topic bytes, payload, retain), or True when it is not to be delivered."""
        if m is True:
            self._pid(s, pid, REC_Q2IN)
        elif not s.clean:
            self.msg(REC_Q2MSG, m, s.client_id, pid, m[KEPT_RETAIN], m[MSG_TOPIC_BYTES],
                     m[MSG_PAYLOAD])

    def q2rel(self, s, pid):
        """PUBREL came for incoming QoS 2 id pid."""
        self._pid(s, pid, REC_Q2REL)

    def _pid(self, s, pid, t):
        if not s.clean:
            put(self.buf, t, s.client_id, pid)
            self.count += 1

    def retain(self, msg, qos):
        """The retained message of msg's topic was set (or cleared by an empty payload)."""
        if msg[MSG_PAYLOAD]:
            self.msg(REC_RETAIN, msg, msg[MSG_TOPIC_BYTES], qos, msg[MSG_PAYLOAD])
        else:
            put(self.buf, REC_UNRETAIN, msg[MSG_TOPIC_BYTES])
            self.count += 1

    def msg(self, t, m, *values):
        """Record t of message m with values (with m's MQTT 5.0 properties, if any)."""
        p = head(self.buf, t, values, props(m, self.b, self.wall))
        if p is not None:
            self.buf += p
        self.count += 1

    def hold(self, conn, b0, pid):
        """True if the acknowledgement must wait for commit() (it is kept until then)."""
        if not self.hold_acks or self.releasing or not (self.buf or self.writing):
            return False  # while a batch is being written, later acks wait too: in order
        self.held.append(conn)
        self.held.append(b0 << 16 | pid)
        return True

    # ---- driven by the port ----

    def commit(self):
        """Write and sync the waiting records, release held acknowledgements; False on error."""
        if self.failed:
            if not self._recover():
                return False
        elif self.buf:
            data, held = self.take()
            try:
                self.write(data)
            except OSError as e:
                self.failed_write(e, held)
                return False
            self.release(held)
        elif self.held:
            self.release(self.take()[1])
        if self.due():
            self.compact()
        return True

    def take(self):
        """(records, held acknowledgements) for the port to write(); the store starts anew."""
        data, held = self.buf, self.held
        self.buf = bytearray()
        self.held = []
        self.since += self.count
        self.count = 0
        self.jsize += len(data)
        self.written += len(data)
        return data, held

    def write(self, data):
        """Append data to the journal and sync it (OSError on failure); any thread."""
        if self.jh is None:
            self.jh = self.fs.open(self.jname, True)
        self.fs.write(self.jh, data)
        self.fs.fsync(self.jh)

    def failed_write(self, e, held):
        """write() of a take() failed: log once; its acknowledgements wait for _recover()."""
        self.log("error", "Error: persistence: cannot write %s: %s; acknowledgements wait "
                 "until a snapshot can be written" % (self.jname, e))
        self.failed = True
        self.held = held + self.held
        self.close_journal()

    def _recover(self):
        """After a failed write (its file may end in a partial record): a snapshot of the
        whole state, then the held acknowledgements go out; tried once a second."""
        if self.b.secs == self.last:
            return False
        self.last = self.b.secs
        try:
            self.snapshot()
        except OSError:
            return False
        self.failed = False
        self.log("notice", "persistence: %s is written again" % self.name)
        self.buf = bytearray()  # in the snapshot
        self.count = 0
        held = self.held
        self.held = []
        self.release(held)
        return True

    def release(self, held):
        """Send the acknowledgements held for records now durable."""
        b = self.b
        self.releasing = True
        for i in range(0, len(held), 2):
            c = held[i]
            if not c.closing:
                b.ack(c, held[i + 1] >> 16, held[i + 1] & 0xFFFF)
        self.releasing = False

    def due(self):
        """True when a compaction is due (journal size, autosave_interval)."""
        return self.jsize > self.journal_limit or (self.every and self.since and (
            self.since >= self.every if self.on_changes
            else self.b.secs - self.saved_at >= self.every))

    def compact(self):
        """Write a snapshot aside, rename it into place and start an empty journal."""
        if (self.buf or self.failed) and not self.commit():
            return
        try:
            self.snapshot()
        except OSError as e:
            self.log("error", "Error: persistence: cannot write a snapshot in %s: %s"
                     % (self.name, e))

    def snapshot(self):
        """compact() without its error handling: OSError when a file cannot be written."""
        from core.persist.state import snapshot  # rare: a board drops it again (persist_files)
        snapshot(self)

    def close_journal(self):
        """Close the journal's handle, if open (errors ignored: it is written anew)."""
        if self.jh is not None:
            try:
                self.fs.close(self.jh)
            except OSError:
                pass
            self.jh = None

    def close(self):
        """Commit what waits and close the journal (server shutdown)."""
        self.commit()
        self.close_journal()

    # ---- start-up ----

    def load(self):
        """Restore the broker from snapshot and journal, then compact; PersistError if unusable."""
        from core.persist.load import load  # start-up only: a board may drop it after
        load(self)
