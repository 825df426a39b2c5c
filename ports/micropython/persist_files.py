"""The persistence file API (core/README.md) over MicroPython's os and open(); runs on
CPython too. A board's LittleFS writes a file's data at flush() and renames atomically."""

import os

from core.const import const


class Files:
    """Files of one persistence folder."""

    def __init__(self, location):
        self.dir = location.rstrip("/") or "."

    def path(self, name):
        """The full path of name in the folder."""
        return self.dir + "/" + name

    def open_read(self, name):
        """A handle to read name (read(n), close with close()), or None when it does not
        exist."""
        try:
            return open(self.path(name), "rb")
        except OSError:
            # ENOENT's number differs between ports (2; 44 on the webassembly port)
            if name not in os.listdir(self.dir):
                return None
            raise

    def open(self, name, append, offset=None):
        """A handle to write name: appended to (from offset: what follows is overwritten),
        or made empty first."""
        if offset is None:
            return open(self.path(name), "ab" if append else "wb")
        h = open(self.path(name), "r+b")
        h.seek(offset)
        return h

    def write(self, h, data):
        """Write all of data."""
        h.write(data)

    def fsync(self, h):
        """Put what was written on the storage (flush: the board's file system commits it)."""
        h.flush()

    def close(self, h):
        """Close a handle."""
        h.close()

    def rename(self, src, dest):
        """Rename src to dest, replacing dest."""
        try:
            os.rename(self.path(src), self.path(dest))
        except OSError:
            os.remove(self.path(dest))  # FAT refuses to rename over a file
            os.rename(self.path(src), self.path(dest))

    def fsync_dir(self):
        """Nothing: LittleFS commits a rename with the directory."""


# boards: flash wears and is slow, so records wait in RAM and are written in batches
_WINDOW_S = const(5)  # autosave_interval's default here: the most a power cut can lose
_BATCH = const(2048)  # bytes of records that are written at once, whatever the window
_JOURNAL_LIMIT = const(32768)  # journal bytes before a snapshot (persistence_journal_limit)


class Batch:
    """Writes the store's records when the window has passed or the batch is full."""

    def __init__(self, store, secs, every):
        self.store = store
        self.window = secs * 1000  # ms: autosave_interval
        self.every = every  # autosave_on_changes: write after this many records instead
        self.since = None  # ms when the oldest unwritten record was made (about)

    def turn(self, now, diff):
        """Called once per loop turn with the port's ms clock and its wrap-safe diff."""
        st = self.store
        if not st.buf:
            self.since = None
            return
        if self.since is None:
            self.since = now
        if len(st.buf) >= _BATCH or (st.count >= self.every if self.every
                                     else diff(now, self.since) >= self.window):
            st.commit()
            self.since = None
            from forget import forget
            forget("core.persist.state")  # a compaction's code, if it ran: rare, not kept

    def close(self):
        """Write what waits and close the journal (the server's shutdown); a board's REPL
        lives on after the broker: the persistence code is dropped."""
        self.store.close()
        from forget import forget
        forget("persist_files", "core.persist.store", "core.persist.records", "core.persist")


def start(broker, cfg, log):
    """A Batch over the loaded Store for cfg (now broker.store); None when persistence is
    off; 1 when the files cannot be used (the reason logged, and on stderr)."""
    o = cfg.persist
    if not o.enabled:
        return None
    import gc
    import sys
    import time
    from core.persist.store import PersistError, Store
    st = Store(broker, Files(o.location or "."), o.file, lambda: int(time.time()), log,
               o.journal_limit or _JOURNAL_LIMIT, False)
    try:
        st.load()
    except (PersistError, OSError, MemoryError) as e:
        if isinstance(e, MemoryError):  # the restored state is in the heap
            e = "out of memory while loading the persistence code and state (%d bytes " \
                "free)" % gc.mem_free()
        log("error", "Error: persistence: %s" % e)
        if "error" not in getattr(log, "types", ("error",)):
            sys.stderr.write("Error: persistence: %s\n" % e)
        return 1
    # the loader's and the first snapshot's code are not needed once the broker serves
    from forget import forget
    forget("core.persist.load", "core.persist.state")
    broker.store = st
    n = o.autosave_interval
    if n is None:
        n = _WINDOW_S
    return Batch(st, n, n if o.autosave_on_changes else 0)
