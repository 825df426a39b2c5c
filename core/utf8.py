"""Strict UTF-8 as MQTT requires: no U+0000, no surrogates, no overlong forms."""

from core.errors import ProtocolError


# MicroPython's decoder accepts surrogates; CPython's rejects them. Probe, don't ask
# (at module level: a probe function would stay on the heap after its one call).
_STRICT = False
try:
    str(b"\xed\xa0\x80", "utf-8")
except UnicodeError:
    _STRICT = True


def check(mv, s, e):
    """Raise ProtocolError unless bytes mv[s:e] are well-formed UTF-8."""
    i = s
    while i < e:
        c = mv[i]
        if c < 0x80:
            i += 1
            continue
        lo = 0x80
        hi = 0xBF
        if 0xC2 <= c <= 0xDF:
            n = 1
        elif c == 0xE0:
            n = 2
            lo = 0xA0
        elif c == 0xED:
            n = 2
            hi = 0x9F  # D800-DFFF are surrogates
        elif 0xE1 <= c <= 0xEF:
            n = 2
        elif c == 0xF0:
            n = 3
            lo = 0x90
        elif 0xF1 <= c <= 0xF3:
            n = 3
        elif c == 0xF4:
            n = 3
            hi = 0x8F  # nothing above U+10FFFF
        else:
            raise ProtocolError("invalid UTF-8")
        if i + n >= e:
            raise ProtocolError("invalid UTF-8")
        c = mv[i + 1]
        if c < lo or c > hi:
            raise ProtocolError("invalid UTF-8")
        j = i + 2
        i += n + 1
        while j < i:
            c = mv[j]
            if c < 0x80 or c > 0xBF:
                raise ProtocolError("invalid UTF-8")
            j += 1


def decode(mv, s, e):
    """Return mv[s:e] as str, raising ProtocolError for bad UTF-8 or U+0000."""
    try:
        t = str(mv[s:e], "utf-8")
    except UnicodeError:
        raise ProtocolError("invalid UTF-8")
    if not _STRICT and len(t) != e - s:
        check(mv, s, e)
    if "\x00" in t:
        raise ProtocolError("U+0000 in a UTF-8 string")
    return t
