"""The persistence file API (core/README.md) on CPython: the portable one (plain open() and
os, ports/micropython/persist_files.py) with real fsync of files and of the folder."""

import os

from ports.micropython.persist_files import Files as _Portable

JOURNAL_LIMIT = 16 << 20  # journal bytes before a snapshot (persistence_journal_limit)
AUTOSAVE_S = 1800  # a snapshot at least this often while the journal grows (mosquitto's)


class Files(_Portable):
    """Files of one persistence folder, synced to the disk."""

    def fsync(self, h):
        """Flush h and wait until the disk has it."""
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


def start(broker, cfg, log):
    """The loaded Store for cfg's persistence settings, now broker.store; None when off.

    Raises core.persist.store.PersistError when the files cannot be used.
    """
    if not cfg.persistence:
        return None
    import time
    from core.persist.store import Store
    folder = cfg.persistence_location or "."
    st = Store(broker, Files(folder), cfg.persistence_file, lambda: int(time.time()), log,
               cfg.persistence_journal_limit or JOURNAL_LIMIT, True)
    st.every = AUTOSAVE_S if cfg.autosave_interval is None else cfg.autosave_interval
    st.on_changes = cfg.autosave_on_changes
    st.load()
    broker.store = st
    return st
