"""The persistence file API (core/README.md) over MicroPython's os and open(); runs on
CPython too. A board's LittleFS writes a file's data at flush() and renames atomically."""

import os
import time

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


# boards: flash wears and is slow, so changes wait in RAM (persist.py) and are written in
# batches
_WINDOW_S = const(5)  # autosave_interval's default here: the most a power cut can lose
_JOURNAL_LIMIT = const(32768)  # journal bytes before a snapshot (persistence_journal_limit)
# changes one write takes at most (unless more than twice as many wait: then half of them,
# so that a backlog shrinks): its records' garbage stays within a few KB
_MOST = const(16)


def wall():
    """Wall-clock seconds (int)."""
    return int(time.time())


def drop():
    """Forget this module and the code that writes (and loads) the files: a board imports
    them again for the next write (persist.py)."""
    from forget import forget
    forget("persist_files", "core.persist.load", "core.persist.state", "core.persist.store",
           "core.persist.records", "core.persist")


def flush(close):
    """Write persist.py's pending changes through a Store made for the write from what the
    last one left, and keep the Store's attributes again (close: and close the journal);
    then drop()."""
    try:
        _flush(close)
    finally:
        drop()


def _flush(close):
    import persist as batch
    from core.persist.store import Store
    k = batch.store
    st = Store(k["b"], None, k["name"], wall, k["log"], k["journal_limit"], False)
    for a in k:
        setattr(st, a, k[a])
    st.fs = Files(batch.location)
    st.buf = bytearray()  # empty after each write; a replay cut short by MemoryError is redone
    st.count = 0
    t = [0]
    st.wall = lambda: t[0]  # the hooks' clock: when the change was noted
    p = batch.pending
    n = len(p)
    if not close:  # a write's garbage stays small; more waiting than it takes: half of them
        n = min(n, max(_MOST, n // 2))
    for i in range(n):
        e = p[i]
        t[0] = int(e[1])  # time.time(): a float on the unix port
        j = len(e)
        while e[j - 1] is None:  # the arguments the hook was called with (persist.py)
            j -= 1
        getattr(st, e[0])(*e[2:j])
    st.wall = wall
    del p[:n]  # in st.buf now: written below, or, on an error, by the snapshot after
    gen = st.gen
    try:
        if close:
            st.close()
        else:
            st.commit()
    finally:
        if st.gen != gen:  # a snapshot, of the broker as it is: the changes still waiting too
            del p[:]
        finish(st)


def finish(store):
    """Keep in persist.store what the next write needs of Store store: its constructor's
    arguments and the attributes that differ from a new Store's (fewer to hold between
    writes; its files and clock are this module's, which is dropped after the write)."""
    import persist
    from core.persist.store import Store
    new = Store(store.b, None, store.name, wall, store.log, store.journal_limit, False)
    k = {}
    for a in store.__dict__:
        v = getattr(store, a)
        if a == "b" or a == "name" or a == "log" or a == "journal_limit" or (
                a != "fs" and a != "wall" and v != getattr(new, a)):
            k[a] = v
    persist.store = k


def start(broker, cfg, log):
    """The module persist (also broker.store) over the Store loaded for cfg; None when
    persistence is off; 1 when the files cannot be used (the reason logged, and on
    stderr). The code that loaded it is dropped: each write imports it again."""
    o = cfg.persist
    if not o.enabled:
        return None
    import gc
    import sys
    from core.persist.store import PersistError, Store
    import persist
    st = Store(broker, Files(o.location or "."), o.file, wall, log,
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
        drop()
        return 1
    n = o.autosave_interval
    if n is None:
        n = _WINDOW_S
    b = broker.store = persist
    b.location = st.fs.dir
    b.pending = []
    b.window = n * 1000
    b.every = n if o.autosave_on_changes else 0
    b.since = None
    b.failed = 0
    finish(st)
    drop()
    return b
