"""Small JSON writers for capture records: strings escaped straight into a bytearray."""

from core import utf8
from core.errors import ProtocolError

_HEX = b"0123456789abcdef"
# short escapes JSON defines for control characters
_SHORT = {8: b"\\b", 9: b"\\t", 10: b"\\n", 12: b"\\f", 13: b"\\r", 0x22: b'\\"', 0x5C: b"\\\\"}


def _needs_escape(b):
    """True when bytes b hold a quote, backslash or control character."""
    for c in b:
        if c < 0x20 or c == 0x22 or c == 0x5C or c == 0x7F:
            return True
    return False


def _u(out, c):
    """Write \\u00XX (or \\uXXXX) for code c."""
    out += b"\\u"
    out.append(_HEX[(c >> 12) & 15])
    out.append(_HEX[(c >> 8) & 15])
    out.append(_HEX[(c >> 4) & 15])
    out.append(_HEX[c & 15])


def _escape_valid(out, b):
    """Append UTF-8 bytes b with JSON escapes for quote, backslash and controls."""
    if not _needs_escape(b):
        out += b
        return
    for c in b:
        _byte(out, c)


def _byte(out, c):
    """Append ASCII byte c, escaped when it is a quote, backslash or control."""
    if c < 0x20 or c == 0x22 or c == 0x5C or c == 0x7F:
        e = _SHORT.get(c)
        if e is None:
            _u(out, c)
        else:
            out += e
    else:
        out.append(c)


def _valid_utf8(b):
    try:
        utf8.check(b, 0, len(b))
    except ProtocolError:
        return False
    return True


def _escape_invalid(out, b):
    """Bytes that are not UTF-8: ASCII kept (escaped), every other byte becomes the text \\xNN."""
    for c in b:
        if c >= 0x80:
            out += b"\\\\x"
            out.append(_HEX[c >> 4])
            out.append(_HEX[c & 15])
        else:
            _byte(out, c)


def _encode_str(s):
    """UTF-8 bytes of s, or None when s holds lone surrogates (CPython surrogateescape)."""
    try:
        return s.encode("utf-8")
    except UnicodeError:
        return None


def string(out, s):
    """Append s (str, bytes, bytearray or memoryview) as a quoted JSON string; never fails.

    Bytes that are not valid UTF-8 are written as the visible text \\xNN so that the record
    still parses and nothing is silently replaced.
    """
    out.append(0x22)
    if isinstance(s, str):
        b = _encode_str(s)
        if b is None:
            for ch in s:
                c = ord(ch)
                if 0xD800 <= c < 0xE000:
                    _u(out, c)  # a lone surrogate: JSON can say it, UTF-8 cannot
                else:
                    _escape_valid(out, ch.encode("utf-8"))
        elif len(b) == len(s) or _valid_utf8(b):
            _escape_valid(out, b)
        else:
            _escape_invalid(out, b)  # MicroPython's lax str may hold bad sequences
    else:
        b = bytes(s)
        if _valid_utf8(b):
            _escape_valid(out, b)
        else:
            _escape_invalid(out, b)
    out.append(0x22)


def key(out, k):
    """Append "k": for a key known to need no escaping."""
    out.append(0x22)
    out += k
    out += b'":'


def integer(out, n):
    """Append an integer."""
    out += b"%d" % n


def integers(out, keys, values):
    """Append each of keys (the bytes before a value: separator and key) with its integer."""
    for i in range(len(keys)):
        out += keys[i]
        out += b"%d" % values[i]


def boolean(out, v):
    """Append true or false."""
    out += b"true" if v else b"false"


def listeners(out, items, sp):
    """Append [{"bind":..,"port":..},...] for (bind or None, port) items; sp: b" " after each
    ':' and ',' (the fork's spacing) or b"" (ECS)."""
    out += b"["
    sep = b"{"
    for bind, port in items:
        out += sep
        out += b'"bind":'
        out += sp
        string(out, bind or "")
        out += b","
        out += sp
        out += b'"port":'
        out += sp
        integer(out, port)
        out += b"}"
        sep = b"," + sp + b"{"
    out += b"]"


def days_to_civil(z):
    """(year, month, day) of day number z counted from 1970-01-01 (proleptic Gregorian)."""
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    return y, m, d


def _clock(secs):
    """(year, month, day, hour, minute, second) of epoch seconds secs."""
    days = secs // 86400
    rem = secs - days * 86400
    y, m, d = days_to_civil(days)
    return y, m, d, rem // 3600, (rem // 60) % 60, rem % 60


def iso_ms(out, ms):
    """Append "YYYY-MM-DDTHH:MM:SS.mmmZ" for epoch milliseconds ms."""
    y, mo, d, h, mi, s = _clock(ms // 1000)
    out += b'"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ"' % (y, mo, d, h, mi, s, ms % 1000)


def hicap_utc(out, secs):
    """Append the fork's tsUTC string, e.g. "2018-05-29T09:30:00Z (GMT)"."""
    y, mo, d, h, mi, s = _clock(secs)
    out += b'"%04d-%02d-%02dT%02d:%02d:%02dZ (GMT)"' % (y, mo, d, h, mi, s)


def hicap_local(out, secs, offset, zone):
    """Append the fork's tsLocal string, e.g. "2018-05-29T11:30:00+0200 (CEST)"."""
    y, mo, d, h, mi, s = _clock(secs + offset)
    sign = b"+" if offset >= 0 else b"-"
    a = offset if offset >= 0 else -offset
    out += b'"%04d-%02d-%02dT%02d:%02d:%02d' % (y, mo, d, h, mi, s)
    out += sign
    out += b"%02d%02d (" % (a // 3600, (a // 60) % 60)
    _escape_valid(out, zone.encode("utf-8"))
    out += b')"'
