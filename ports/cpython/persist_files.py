"""The persistence file API (core/README.md) on CPython: the portable one (plain open() and
os, ports/micropython/persist_files.py) with real fsync of files and of the folder."""

import os
import selectors
import socket
import sys
import threading

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
SWITCH_S = 0.0005


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
        if self.grown:
            os.fsync(self.fd)
            self.grown = False
        else:
            getattr(os, "fdatasync", os.fsync)(self.fd)

    def close(self):
        """Close the file (the reserved zeros stay: the loader stops there)."""
        os.close(self.fd)


class Writer:
    """Group commit off the event loop: a thread writes and fsyncs one batch of records
    while the loop serves; the batch's acknowledgements go out when it is done, and the
    records made meanwhile form the next batch (one fsync each)."""

    def __init__(self, store, sel):
        self.store = store
        self.held = None  # the acknowledgements of the batch being written
        self.error = None
        self._r, self._w = socket.socketpair()  # the thread wakes the loop's select()
        self._r.setblocking(False)
        sel.register(self._r, selectors.EVENT_READ, self)
        self._job = None
        self._cv = threading.Condition()
        # the thread needs the GIL back after each fsync to hand over its batch: ask the
        # loop to give it up after 0.5 ms of work instead of CPython's 5 ms
        sys.setswitchinterval(SWITCH_S)
        threading.Thread(target=self._run, name="persist-writer", daemon=True).start()

    def turn(self):
        """End of a loop turn: hand the turn's records to the thread unless it is busy."""
        st = self.store
        if st.writing:
            return
        if st.failed or st.due() or not st.buf:
            if st.held or st.failed or st.due():
                st.commit()  # here: acks without records, a snapshot (due, or after a failure)
            return
        data, self.held = st.take()
        st.writing = True
        with self._cv:
            self._job = data
            self._cv.notify()

    def on_event(self):
        """The thread finished a batch: release its acknowledgements, start the next one."""
        try:
            self._r.recv(64)
        except OSError:
            pass
        st = self.store
        if not st.writing or self._job is not None:
            return
        st.writing = False
        held, self.held = self.held, None
        if self.error is not None:
            st.failed_write(self.error, held)
            self.error = None
        else:
            st.release(held)
        self.turn()

    def wait(self):
        """Until the batch being written (if any) is done, then its acks (shutdown)."""
        while self.store.writing:
            with self._cv:
                self._cv.wait_for(lambda: self._job is None, 1.0)
            if self._job is None:
                self.on_event()

    def _run(self):
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._job is not None)
                data = self._job
            try:
                self.store.write(data)
            except OSError as e:
                self.error = e
            with self._cv:
                self._job = None
                self._cv.notify_all()
            try:
                self._w.send(b"x")
            except OSError:
                pass


def start(broker, cfg, log, sel):
    """A Writer over the loaded Store for cfg (now broker.store); None when persistence is
    off. sel: the loop's selector, which the writer's thread wakes.

    Raises core.persist.store.PersistError when the files cannot be used.
    """
    o = cfg.persist
    if o is None or not o.enabled:
        return None
    import time
    from core.persist.store import Store
    limit = o.journal_limit or JOURNAL_LIMIT
    st = Store(broker, Files(o.location or ".", min(PREALLOCATE, limit)), o.file,
               lambda: int(time.time()), log, limit, True)
    st.every = AUTOSAVE_S if o.autosave_interval is None else o.autosave_interval
    st.on_changes = o.autosave_on_changes
    st.load()
    broker.store = st
    return Writer(st, sel)
