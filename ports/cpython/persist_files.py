"""The persistence file API (core/README.md) on CPython: the portable one (plain open() and
os, ports/micropython/persist_files.py) with real fsync of files and of the folder."""

import os

from ports.micropython.persist_files import Files as _Portable


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
