"""The CPython port's core.utf8.decode (ports/cpython/utf8fast.py, str.isprintable first)
takes and refuses exactly what the core's portable one does, code point by code point."""

from core import utf8
from core.errors import ProtocolError


def _outcome(decode, data):
    try:
        return decode(memoryview(data), 0, len(data))
    except ProtocolError as e:
        return "refused: %s" % e


def test_fast_decode_takes_and_refuses_what_the_portable_one_does():
    portable = utf8.decode
    try:
        from ports.cpython import utf8fast  # installs its decode: put back below
        fast = utf8fast.decode
    finally:
        utf8.decode = portable  # the other tests of this process keep the core's own
    assert fast is not portable
    points = list(range(0, 0x3000)) + list(range(0xD7F0, 0xD800)) + \
        list(range(0xE000, 0x10000)) + [p | k for p in range(0x10000, 0x110000, 0x10000)
                                          for k in (0, 0xFFFD, 0xFFFE, 0xFFFF)]
    refused = 0
    for p in points:
        for text in (chr(p), "a/" + chr(p) + "/b"):
            data = text.encode("utf-8")
            got = _outcome(fast, data)
            assert got == _outcome(portable, data), hex(p)
            refused += got != text
    assert refused == 2 * (32 + 33 + 32 + 2 * 17)  # U+0000-001F, 007F-009F, FDD0-FDEF, nFFFE/F
    for bad in (b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"a\xc3"):
        assert _outcome(fast, bad) == _outcome(portable, bad) == "refused: invalid UTF-8"
