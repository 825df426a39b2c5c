"""One SNTP request (RFC 4330) for a board without a clock: sync() returns the Unix time.

A board imports this once at start-up and forgets it (forget.py): keep it small.
"""

import errno
import socket
import struct
import time

_UNIX_1900 = 2208988800  # seconds from 1900-01-01 (NTP's epoch) to 1970-01-01
_ERA = 4294967296  # NTP seconds wrap every 2^32 s (2036-02-07)
_NO_ANSWER = (errno.EAGAIN, getattr(errno, "ETIMEDOUT", 110))


def _ms(b, i):
    """Unix epoch ms of the 64-bit NTP timestamp at b[i:i+8]."""
    s, f = struct.unpack_from("!II", b, i)
    if s < 0x80000000:
        s += _ERA  # RFC 4330 section 3: MSB clear means era 1 (from 2036)
    return (s - _UNIX_1900) * 1000 + ((f * 1000) >> 32)


def _nonce():
    # The transmit timestamp we send only has to come back unchanged in the answer's
    # originate field (RFC 4330 section 5): random bits, as a clockless client has no time.
    try:
        import os
        return os.urandom(8)
    except (ImportError, AttributeError, OSError):
        return struct.pack("!II", time.ticks_us() & 0xFFFFFFFF, time.ticks_ms() & 0xFFFFFFFF)


def check(b, sent):
    """Raise ValueError unless b is a usable server answer to the request whose transmit
    timestamp was sent (RFC 4330 section 5)."""
    if len(b) < 48:
        raise ValueError("answer of %d bytes, not 48 or more" % len(b))
    li, vn, mode = b[0] >> 6, (b[0] >> 3) & 7, b[0] & 7
    if mode != 4:
        raise ValueError("answer in mode %d, not 4 (server)" % mode)
    if b[24:32] != sent:
        raise ValueError("answer does not echo our request (originate timestamp differs)")
    if b[1] == 0:
        code = bytes(c if 32 < c < 127 else 63 for c in b[12:16]).decode()
        raise ValueError("kiss-o'-death %s from the server (stratum 0): ask it later or "
                         "use another server" % code)
    if vn == 0:
        raise ValueError("answer with version 0")
    if li == 3 or b[1] > 15:
        raise ValueError("server clock not synchronized (leap indicator %d, stratum %d)"
                         % (li, b[1]))
    if b[40:48] == bytes(8):
        raise ValueError("answer without a transmit timestamp")


def sync(host, port=123, timeout_ms=3000):
    """Ask the (S)NTP server host:port for the time once; returns Unix epoch milliseconds.

    Raises OSError when no answer comes (unresolvable, refused, timed out) and ValueError
    when the answer is unusable (the message says why).
    """
    try:
        ai = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0]
    except (OSError, IndexError) as e:
        raise OSError("cannot resolve %s (%s)" % (host, e))
    s = socket.socket(ai[0], socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout_ms / 1000)
        s.connect(ai[-1])  # a connected socket takes datagrams from that server only
        req = bytearray(48)
        req[0] = 0x23  # leap indicator 0, version 4, mode 3 (client)
        sent = _nonce()
        req[40:48] = sent
        t0 = time.ticks_ms()
        s.send(req)
        try:
            b = s.recv(128)
        except OSError as e:
            code = e.args[0] if e.args else None
            if code in _NO_ANSWER:
                raise OSError("no answer from %s port %d within %d ms"
                              % (host, port, timeout_ms))
            name = getattr(errno, "errorcode", {}).get(code, code) if isinstance(code, int) else e
            raise OSError("%s port %d: %s" % (host, port, name))
        rtt = time.ticks_diff(time.ticks_ms(), t0)
    finally:
        s.close()
    check(b, sent)
    t3 = _ms(b, 40)
    # the server held the request from its receive (t2) to its transmit (t3) timestamp:
    # the rest of the round trip is the network's, half of it after t3
    held = min(max(t3 - _ms(b, 32), 0), rtt)
    return t3 + (rtt - held) // 2
