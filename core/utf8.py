"""Strict UTF-8 as MQTT requires: no U+0000, no surrogates, no overlong forms; and, as
mosquitto 2.0, no control characters and noncharacters."""

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
        if c < 0xC2 or c > 0xF4:  # 80-BF continue, C0 C1 only overlong, F5-FF past U+10FFFF
            raise ProtocolError("invalid UTF-8")
        n = 1 if c < 0xE0 else 2 if c < 0xF0 else 3  # continuation bytes
        # The second byte's range (RFC 3629, section 4): narrower after E0 and F0 (overlong
        # forms), ED (D800-DFFF are surrogates) and F4 (nothing above U+10FFFF).
        lo = 0xA0 if c == 0xE0 else 0x90 if c == 0xF0 else 0x80
        hi = 0x9F if c == 0xED else 0x8F if c == 0xF4 else 0xBF
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
    """Return mv[s:e] as str, raising ProtocolError for bad UTF-8 or a code point mosquitto
    2.0 refuses in a string: U+0000 (MQTT-1.5.3-2), U+0001-001F and U+007F-009F (control
    characters), U+FDD0-FDEF and the last two of each plane (noncharacters): section 1.5.3
    lets a receiver close for these. The CPython port replaces it (ports/cpython/utf8fast.py)."""
    try:
        t = str(mv[s:e], "utf-8")
    except UnicodeError:
        raise ProtocolError("invalid UTF-8")
    if len(t) != e - s:  # not ASCII
        if not _STRICT:
            check(mv, s, e)
    elif not t or min(t) >= " " and ord(max(t)) < 0x7F:
        return t  # ASCII without a control character: the usual string
    from core.why import check as refuse  # the rare path (on a board: non-ASCII too)
    refuse(t)
    return t
