"""A non-blocking DNS client (RFC 1035) for the poll loop: one A query over UDP, polled.

capture_io imports it only when capture_address is a host name, so keep it small.
Query(name, server, now) sends the query; poll(now) each loop pass returns the address,
None while waiting, or raises OSError (no answer, refused) / ValueError (a bad answer).
"""

import errno
import socket

from core.clock import diff

RESOLV_CONF = "/etc/resolv.conf"
TIMEOUTS_MS = (1000, 1000, 2000)  # per try: resend after each, give up after the last
_CHAIN = 8  # CNAME records followed at most
_JUMPS = 32  # compression pointers followed in one name at most (a loop guard)
_EAGAIN = errno.EAGAIN
_RCODES = (None, "format error", "server failure", "no such name (NXDOMAIN)",
           "not implemented", "refused")


class Mismatch(ValueError):
    """A datagram that is not the answer to our query (other id or question): ignored."""


def is_address(host):
    """True when host is a numeric IPv4 or IPv6 address (no lookup needed)."""
    if ":" in host:
        return True  # names never hold ':'; getaddrinfo checks the IPv6 syntax
    parts = host.split(".")
    if len(parts) != 4:
        return False
    for p in parts:
        if not p or len(p) > 3 or [c for c in p if c not in "0123456789"] or int(p) > 255:
            return False
    return True


def resolv_conf(path=None):
    """The first nameserver in path (default RESOLV_CONF, the unix port's), or None."""
    try:
        with open(path or RESOLV_CONF) as f:
            for line in f:
                w = line.split()
                if len(w) >= 2 and w[0] == "nameserver":
                    return w[1]
    except OSError:
        pass
    return None


def server(setting):
    """(host, port) of the DNS server setting "HOST", "HOST:PORT" or "[V6]:PORT" (port 53
    by default); None: the first nameserver of /etc/resolv.conf. ValueError when unusable."""
    s = resolv_conf() if setting is None else setting
    if s is None:
        raise ValueError("no DNS server known (no \"dns\" setting, no nameserver in %s)"
                         % RESOLV_CONF)
    if not isinstance(s, str):
        raise ValueError("DNS server %r is not a string" % (s,))
    host, port = s, "53"
    if s.startswith("["):
        i = s.find("]")
        host, rest = s[1:i], s[i + 1:]
        if i < 0 or (rest and not rest.startswith(":")):
            raise ValueError("DNS server '%s': expected [IPV6]:PORT" % s)
        port = rest[1:] or port
    elif s.count(":") == 1:
        host, port = s.split(":")
    if not port or [c for c in port if c not in "0123456789"] or not 0 < int(port) < 65536:
        raise ValueError("DNS server '%s': port must be 1-65535" % s)
    if not host or not is_address(host):
        raise ValueError("DNS server '%s' must be a numeric IPv4 or IPv6 address" % s)
    if host in ("0.0.0.0", "::"):
        raise ValueError("DNS server '%s' is unset (the network gave none)" % s)
    return host, int(port)


def encode(name):
    """name in wire form (length-prefixed labels, lower case); ValueError when malformed."""
    n = name[:-1] if name.endswith(".") else name
    out = bytearray()
    for label in n.split("."):
        b = label.encode()
        if not 0 < len(b) < 64 or [c for c in b if not 32 < c < 127]:
            raise ValueError("'%s' is not a host name (labels of 1-63 printable ASCII bytes)"
                             % name)
        out.append(len(b))
        out += b.lower()
    out.append(0)
    if len(out) > 255:
        raise ValueError("'%s' is longer than 255 bytes" % name)
    return bytes(out)


def show(wire):
    """A wire-form name as dotted text (for messages)."""
    parts = []
    i = 0
    while i < len(wire) and wire[i]:
        parts.append(bytes(c if 32 < c < 127 else 63 for c in wire[i + 1:i + 1 + wire[i]]))
        i += 1 + wire[i]
    return b".".join(parts).decode()


def query(qid, qname):
    """The query message: id qid, recursion desired, one question IN A for wire name qname."""
    return bytes((qid >> 8, qid & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0)) + qname + b"\x00\x01\x00\x01"


def _name(b, i):
    """(wire name in lower case, offset after it) of the possibly compressed name at b[i]."""
    n = len(b)
    out = bytearray()
    end = None
    jumps = 0
    while True:
        if i >= n:
            raise ValueError("name runs past the end of the %d-byte answer" % n)
        c = b[i]
        if c >= 0xC0:  # compression pointer (RFC 1035 4.1.4): to a prior occurrence only
            if i + 1 >= n:
                raise ValueError("compression pointer cut short at offset %d" % i)
            p = (c & 0x3F) << 8 | b[i + 1]
            jumps += 1
            if p >= i or jumps > _JUMPS:
                raise ValueError("compression pointer at offset %d to %d: not backwards, "
                                 "or a loop" % (i, p))
            if end is None:
                end = i + 2
            i = p
            continue
        if c & 0xC0:
            raise ValueError("label type 0x%02x at offset %d is not supported" % (c & 0xC0, i))
        if c == 0:
            out.append(0)
            break
        if i + 1 + c > n:
            raise ValueError("label at offset %d runs past the end of the %d-byte answer"
                             % (i, n))
        out.append(c)
        out += bytes(b[i + 1:i + 1 + c]).lower()
        if len(out) > 254:
            raise ValueError("name at offset %d longer than 255 bytes" % i)
        i += 1 + c
    return bytes(out), (i + 1 if end is None else end)


def _u16(b, i):
    return b[i] << 8 | b[i + 1]


def parse(b, qid, qname):
    """The IPv4 addresses (strings) that answer b gives for wire name qname, CNAMEs followed.

    Raises Mismatch when b answers another query, ValueError for an error answer or a
    malformed, truncated or empty one (the message says why).
    """
    n = len(b)
    if n < 12:
        raise ValueError("answer of %d bytes, shorter than a DNS header (12)" % n)
    if _u16(b, 0) != qid:
        raise Mismatch("answer id %d is not the query's %d" % (_u16(b, 0), qid))
    if not b[2] & 0x80:
        raise Mismatch("a query, not an answer (QR bit clear)")
    if (b[2] >> 3) & 15:
        raise ValueError("answer with opcode %d, not 0 (query)" % ((b[2] >> 3) & 15))
    if b[2] & 2:
        raise ValueError("answer truncated (TC bit): too long for UDP (no TCP fallback here)")
    rc = b[3] & 15
    if rc:
        raise ValueError("RCODE %d: %s" % (rc, _RCODES[rc] if rc < len(_RCODES) else "error"))
    if _u16(b, 4) != 1:
        raise Mismatch("answer holds %d questions, not 1" % _u16(b, 4))
    name, i = _name(b, 12)
    if i + 4 > n:
        raise ValueError("question cut short at offset %d" % i)
    if name != qname or b[i:i + 4] != b"\x00\x01\x00\x01":
        raise Mismatch("answer to another question (%s)" % show(name))
    i += 4
    addrs = {}  # owner -> [IPv4 text]
    alias = {}  # owner -> CNAME target
    for _ in range(_u16(b, 6)):
        owner, i = _name(b, i)
        if i + 10 > n:
            raise ValueError("record at offset %d cut short" % i)
        t, cls, ln = _u16(b, i), _u16(b, i + 2), _u16(b, i + 8)
        i += 10
        if i + ln > n:
            raise ValueError("record data of %d bytes at offset %d runs past the end of the "
                             "%d-byte answer" % (ln, i, n))
        if cls == 1 and t == 1:
            if ln != 4:
                raise ValueError("A record of %d bytes, not 4" % ln)
            addrs.setdefault(owner, []).append("%d.%d.%d.%d" % tuple(b[i:i + 4]))
        elif cls == 1 and t == 5:
            target, end = _name(b, i)
            if end != i + ln:
                raise ValueError("CNAME data at offset %d does not fill its %d bytes" % (i, ln))
            alias[owner] = target
        i += ln
    name = qname
    for _ in range(_CHAIN):
        if name in addrs:
            return addrs[name]
        if name not in alias:
            break
        name = alias[name]
    else:
        raise ValueError("CNAME chain of %s longer than %d (a loop?)" % (show(qname), _CHAIN))
    if name != qname:
        raise ValueError("no A record for %s (alias of %s) in the answer"
                         % (show(name), show(qname)))
    raise ValueError("no A record for %s in the answer" % show(qname))


def _id():
    try:
        import os
        r = os.urandom(2)
        return r[0] << 8 | r[1]
    except (ImportError, AttributeError, OSError):
        import time
        return (time.ticks_us() ^ (time.ticks_ms() << 5)) & 0xFFFF


class Query:
    """One A lookup of name at server (host, port) on a non-blocking UDP socket (.sock)."""

    def __init__(self, name, server, now):
        """Send the query; raises ValueError for a malformed name, OSError for a socket error."""
        self.name = name
        self.where = "DNS server %s port %d" % server
        self.qname = encode(name)
        self.qid = _id()
        self.msg = query(self.qid, self.qname)
        self.ignored = 0  # datagrams that answered something else
        self.tries = 0
        self.at = now
        # the server is numeric: getaddrinfo only converts it, never asks DNS
        ai = socket.getaddrinfo(server[0], server[1], 0, socket.SOCK_DGRAM)[0]
        self.sock = socket.socket(ai[0], socket.SOCK_DGRAM)
        try:
            self.sock.setblocking(False)
            self.sock.connect(ai[-1])  # datagrams from that server only; ICMP refusals show
            self._send(now)
        except OSError:
            self.close()
            raise

    def _send(self, now):
        self.tries += 1
        self.at = now
        try:
            self.sock.send(self.msg)
        except OSError as e:
            if not (e.args and e.args[0] == _EAGAIN):
                raise OSError("%s: %s" % (self.where, _errname(e)))
            # no buffer space now: the next try resends

    def wait_ms(self, now):
        """Milliseconds until poll() must run for a resend or the timeout."""
        return max(0, TIMEOUTS_MS[self.tries - 1] - diff(now, self.at))

    def poll(self, now):
        """The first IPv4 address of the answer, or None while waiting.

        Raises OSError (refused, no answer after every try) or ValueError (an error answer,
        NXDOMAIN among them, or a malformed one), the message naming the server.
        """
        while True:
            try:
                b = self.sock.recv(512)  # RFC 1035 4.2.1: UDP answers are 512 bytes at most
            except OSError as e:
                if e.args and e.args[0] == _EAGAIN:
                    break
                raise OSError("%s: %s" % (self.where, _errname(e)))
            try:
                return parse(b, self.qid, self.qname)[0]
            except Mismatch:
                self.ignored += 1
            except ValueError as e:
                raise ValueError("%s answered: %s" % (self.where, e))
        if diff(now, self.at) >= TIMEOUTS_MS[self.tries - 1]:
            if self.tries >= len(TIMEOUTS_MS):
                raise OSError("no answer from %s after %d tries in %d ms%s"
                              % (self.where, self.tries, sum(TIMEOUTS_MS),
                                 "; %d unrelated answers ignored" % self.ignored
                                 if self.ignored else ""))
            self._send(now)
        return None

    def close(self):
        """Close the socket (the caller unregisters it from its poller first)."""
        try:
            self.sock.close()
        except OSError:
            pass


def _errname(e):
    code = e.args[0] if e.args else None
    if isinstance(code, int):
        return getattr(errno, "errorcode", {}).get(code) or ("error %d" % code)
    return str(e)
