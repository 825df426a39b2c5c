"""The persistence file API (core/README.md) over CPython's os: fsync of files and folder."""

import errno
import os


class Files:
    """Files of one persistence folder."""

    def __init__(self, folder):
        self.dir = folder or "."

    def path(self, name):
        """The full path of name in the folder."""
        return os.path.join(self.dir, name)

    def read(self, name):
        """The file's bytes, or None when it does not exist."""
        try:
            with open(self.path(name), "rb") as f:
                return f.read()
        except OSError as e:
            if e.errno == errno.ENOENT:
                return None
            raise

    def open(self, name, append):
        """A handle to write name: appended to, or made empty first."""
        return open(self.path(name), "ab" if append else "wb")

    def write(self, h, data):
        """Write all of data (buffered: fsync writes it out)."""
        h.write(data)

    def fsync(self, h):
        """Flush h and wait until the disk has it."""
        h.flush()
        os.fsync(h.fileno())

    def close(self, h):
        """Close a handle."""
        h.close()

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
