"""CPython port: a faster core.utf8.decode, installed at import. str.isprintable (in C) is
True only for strings without any code point the core's decode refuses (it is False for
some that decode takes, such as U+00A0 or U+FEFF: those strings get the core's exact look)."""

from core import utf8
from core.errors import ProtocolError
from core.why import check


def decode(mv, s, e):
    """core.utf8.decode: mv[s:e] as str; ProtocolError for what it refuses."""
    try:
        t = str(mv[s:e], "utf-8")  # CPython's decoder refuses surrogates and overlong forms
    except UnicodeError:
        raise ProtocolError("invalid UTF-8")
    if not t.isprintable():
        check(t)
    return t


utf8.decode = decode
