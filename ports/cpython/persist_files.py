"""The persistence file API (core/README.md) on CPython: the portable one (plain open() and
os, ports/micropython/persist_files.py) with real fsync of files and of the folder."""

import errno
import os
import selectors
import socket
import sys
import struct
import subprocess

from ports.micropython.persist_files import Files as _Portable

JOURNAL_LIMIT = 16 << 20  # journal bytes before a snapshot (persistence_journal_limit)
AUTOSAVE_S = 1800  # a snapshot at least this often while the journal grows (mosquitto's)


class Files(_Portable):
    """Files of one persistence folder, synced to the disk."""

    def __init__(self, folder, reserve=0):
        super().__init__(folder)
        self.reserve = reserve  # bytes a journal reserves ahead of its writes (0: none)

    def open(self, name, append, at=None):
        """A handle to write name: appended to (space reserved ahead; from offset at when
        given), or made empty first."""
        if append and self.reserve:
            return _Appender(self.path(name), self.reserve, at)
        return super().open(name, append, at)

    def fsync(self, h):
        """Flush h and wait until the disk has it."""
        if isinstance(h, _Appender):
            h.sync()
            return
        h.flush()
        os.fsync(h.fileno())

    def rename(self, old, new):
        """Rename old to new atomically, replacing new."""
        os.replace(self.path(old), self.path(new))

    def fsync_dir(self):
        """Make the folder's latest renames durable."""
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


PREALLOCATE = 4 << 20  # journal bytes reserved at a time (at most the journal limit)
SYNCS = 3  # syncs of the journal that overlap (the helper process's threads)


class _Appender:
    """A journal open for appending. Its space is reserved ahead (zeros, which the loader
    takes as the end), so that a sync need not update the file's size: fdatasync of an
    append then costs about a third of an fsync that does."""

    def __init__(self, path, reserve, at=None):
        self.reserve = reserve
        self.fd = os.open(path, os.O_RDWR)
        self.end = os.lseek(self.fd, 0, os.SEEK_END)  # reserved up to here
        self.pos = self.end if at is None else at
        self.grown = False  # reserved space added since the last sync

    def write(self, data):
        """Write all of data at the end of what was written."""
        if self.pos + len(data) > self.end:
            self._reserve(self.pos + len(data) + self.reserve)
        mv = memoryview(data)
        while mv:
            n = os.pwrite(self.fd, mv, self.pos)
            self.pos += n
            mv = mv[n:]

    def _reserve(self, end):
        try:
            os.posix_fallocate(self.fd, self.end, end - self.end)
            self.end = end
            self.grown = True
        except (AttributeError, OSError):  # no fallocate here: appends grow the file
            self.end = 1 << 62

    def sync(self):
        """Make what was written durable (the size too when reserved space was added)."""
        if self.full_sync():
            os.fsync(self.fd)
        else:
            getattr(os, "fdatasync", os.fsync)(self.fd)

    def full_sync(self):
        """1 (once) when reserved space was added since the last call: the next sync must
        be an fsync, which also writes the size; else 0 (an fdatasync will do)."""
        g = self.grown
        self.grown = False
        return 1 if g else 0

    def close(self):
        """Close the file (the reserved zeros stay: the loader stops there)."""
        os.close(self.fd)


class Writer:
    """Group commit off the event loop. At the end of a loop turn the turn's records are
    appended to the journal (the page cache: microseconds) and a helper process
    (ports/cpython/persist_sync.py) is asked to sync them; up to SYNCS syncs overlap, so a
    batch need not wait for the one before it to finish. Acknowledgements go out batch by
    batch in order, each once its own sync succeeded; while every sync is busy the records
    made meanwhile gather into one batch."""

    def __init__(self, store, sel):
        self.store = store
        self.batches = []  # [number, held acknowledgements, synced], oldest first
        self.n = 0  # number of the latest batch
        self.busy = 0  # syncs asked for and not answered
        self.error = None  # a sync failed: its batch and the later ones wait for recovery
        self._s, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-S", os.path.join(os.path.dirname(__file__), "persist_sync.py"),
                 str(child.fileno()), str(SYNCS)], pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL)
        finally:
            child.close()
        self._s.setblocking(False)
        sel.register(self._s, selectors.EVENT_READ, self)

    def turn(self):
        """End of a loop turn: hand the records made since the last batch to a sync."""
        st = self.store
        if self.error is not None:
            return  # until every sync asked for has answered (on_event)
        if self.proc is None or st.failed or st.due():
            if not self.busy:  # a snapshot replaces the journal: none of its syncs may run
                self._release()
                if self.proc is None or st.failed or st.due():
                    st.commit()  # in the loop: a snapshot, or no helper process
            return
        if st.buf:
            if self.busy >= SYNCS:
                return
            data, held = st.take()
            try:
                if st.jh is None:
                    st.jh = st.fs.open(st.jname, True)
                st.fs.write(st.jh, data)
                self.n += 1
                socket.send_fds(self._s, [struct.pack(">IB", self.n, st.jh.full_sync())],
                                [st.jh.fd])
            except OSError as e:
                self.error = e
                self.batches.append([0, held, False])
                self._release()
                return
            self.busy += 1
            self.batches.append([self.n, held, False])
        elif st.held:  # acknowledgements with no records: after the batches before them
            self.batches.append([0, st.take()[1], True])
        self._release()

    def on_event(self):
        """Syncs answered: release the acknowledgements of the batches now durable, in
        order, then start the next batch."""
        while True:
            try:
                r = self._s.recv(16)
            except BlockingIOError:
                break
            except OSError:
                r = b""
            if not self._answer(r):
                break
        self._release()
        self.turn()

    def _answer(self, r):
        """Take the helper's answer r (b"": the helper is gone; then False)."""
        if not r:
            if self.proc is not None:
                self.store.log("error", "Error: persistence: the sync helper process "
                               "ended; the journal is synced in the event loop from now on")
                self.proc.poll()  # reaped, if it has exited
                self.proc = None
            if self.busy and self.error is None:
                self.error = OSError(errno.EPIPE, "sync helper process ended")
            self.busy = 0
            return False
        n, err = struct.unpack(">IH", r)
        self.busy -= 1
        if err:
            if self.error is None:
                self.error = OSError(err, os.strerror(err))
        else:
            for b in self.batches:
                if b[0] == n:
                    b[2] = True
        return True

    def _release(self):
        """Send the acknowledgements of the synced batches at the head, in order; after a
        failed sync (once no sync is running), hand every waiting one to the store's
        recovery (a later sync's success may hide the lost write: it is not trusted)."""
        st = self.store
        bs = self.batches
        while bs and bs[0][2] and self.error is None:
            st.release(bs.pop(0)[1])
        if self.error is not None and not self.busy:
            held = []
            for b in bs:
                held += b[1]
            bs.clear()
            st.failed_write(self.error, held)
            self.error = None
        st.writing = bool(bs)  # later acknowledgements queue behind these (store.hold)

    def wait(self):
        """Until every sync asked for has answered, then its acks; end the helper (shutdown)."""
        self._s.settimeout(5.0)
        while self.busy:
            try:
                r = self._s.recv(16)
            except OSError:
                r = b""
            self._answer(r)
        self._release()
        self._s.close()
        if self.proc is not None:
            try:
                self.proc.wait(5.0)  # it ends when its socket closes
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start(broker, cfg, log, sel):
    """A Writer over the loaded Store for cfg (now broker.store); None when persistence is
    off. sel: the loop's selector, which the writer's thread wakes.

    Raises core.persist.store.PersistError when the files cannot be used.
    """
    o = cfg.persist
    if o is None or not o.enabled:
        return None
    import time
    from ports.cpython.persist_records import Store
    limit = o.journal_limit or JOURNAL_LIMIT
    st = Store(broker, Files(o.location or ".", min(PREALLOCATE, limit)), o.file,
               lambda: int(time.time()), log, limit, True)
    st.every = AUTOSAVE_S if o.autosave_interval is None else o.autosave_interval
    st.on_changes = o.autosave_on_changes
    st.load()
    broker.store = st
    return Writer(st, sel)
