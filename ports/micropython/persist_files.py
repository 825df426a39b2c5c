"""The persistence file API (core/README.md) over MicroPython's os and open(); runs on
CPython too. A board's LittleFS writes a file's data at flush() and renames atomically."""

import os


class Files:
    """Files of one persistence folder."""

    def __init__(self, folder):
        self.dir = folder.rstrip("/") or "."

    def path(self, name):
        """The full path of name in the folder."""
        return self.dir + "/" + name

    def read(self, name):
        """The file's bytes, or None when it does not exist."""
        try:
            f = open(self.path(name), "rb")
        except OSError as e:
            if e.args and e.args[0] == 2:  # ENOENT, the same number on every port
                return None
            raise
        try:
            return f.read()
        finally:
            f.close()

    def open(self, name, append):
        """A handle to write name: appended to, or made empty first."""
        return open(self.path(name), "ab" if append else "wb")

    def write(self, h, data):
        """Write all of data."""
        h.write(data)

    def fsync(self, h):
        """Put what was written on the storage (flush: the board's file system commits it)."""
        h.flush()

    def close(self, h):
        """Close a handle."""
        h.close()

    def rename(self, old, new):
        """Rename old to new, replacing new."""
        try:
            os.rename(self.path(old), self.path(new))
        except OSError:
            os.remove(self.path(new))  # FAT refuses to rename over a file
            os.rename(self.path(old), self.path(new))

    def fsync_dir(self):
        """Nothing: LittleFS commits a rename with the directory."""
