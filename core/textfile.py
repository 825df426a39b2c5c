"""The password and ACL files (core/passwd.py, core/acl.py): their error and decoding.

mosquitto.conf's ConfigError (core/config.py) says the same "FILE:LINE: REASON" but is not
one of these: a board parses its config at start-up, when this module's 0.9 KB of heap
(64-bit) is more than the 96 KB model has left (tests/micropython/test_port.py).
"""


class FileError(Exception):
    """A bad line of such a file: str(e) is "FILE:LINE: REASON" ("FILE: REASON" for line 0)."""

    def __init__(self, filename, lineno, reason):
        if lineno:
            super().__init__("%s:%d: %s" % (filename, lineno, reason))
        else:
            super().__init__("%s: %s" % (filename, reason))
        self.filename = filename
        self.lineno = lineno
        self.reason = reason


def decode(text, filename, error):
    """text (str or UTF-8 bytes) as str; error(filename, 0, reason) raised if not UTF-8."""
    if isinstance(text, (bytes, bytearray)):
        try:
            return bytes(text).decode("utf-8")
        except UnicodeError:
            raise error(filename, 0, "file is not valid UTF-8")
    return text
