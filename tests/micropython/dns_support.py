"""A DNS server for the MicroPython port's tests (its resolver, ports/micropython/dns.py):
RFC 1035 messages built here, answered from a zone by a UDP server on loopback."""

import socket
import struct

from mpbroker import UdpServer

QID = 0x1234


# ---- DNS messages (RFC 1035 section 4) ----

def wire(name):
    """name as length-prefixed labels ending with the root label."""
    return b"".join(bytes((len(l),)) + l.encode() for l in name.split(".") if l) + b"\0"


def header(qid=QID, flags=0x8180, qd=1, an=0):
    """ID, flags (default: answer, RD, RA, RCODE 0), QDCOUNT, ANCOUNT, NSCOUNT 0, ARCOUNT 0."""
    return struct.pack("!HHHHHH", qid, flags, qd, an, 0, 0)


def question(name, qtype=1):
    return wire(name) + struct.pack("!HH", qtype, 1)


def rr(owner, rtype, rdata, cls=1):
    """A resource record; owner is wire bytes (possibly a compression pointer)."""
    return owner + struct.pack("!HHIH", rtype, cls, 300, len(rdata)) + rdata


def a_rr(owner, ip):
    return rr(owner, 1, socket.inet_aton(ip))


PTR_Q = b"\xc0\x0c"  # a compression pointer to the question's name (offset 12)


class DnsServer(UdpServer):
    """A UDP DNS server on 127.0.0.1 in a thread: answers A queries from zone
    ({name: "IP" or ("CNAME", target)}) with the chain and the address, NXDOMAIN for other
    names; .silent: receive, never answer; drop: leave that many first queries unanswered.
    .requests: (id, name, qtype) of each query."""

    def __init__(self, zone, silent=False, drop=0):
        self.zone = zone
        self.silent = silent
        self.drop = drop
        self.requests = []
        UdpServer.__init__(self)

    def handle(self, req):
        return self.answer(req)

    def answer(self, req):
        qid, flags, qd = struct.unpack_from("!HHH", req)
        labels, i = [], 12
        while req[i]:
            labels.append(req[i + 1:i + 1 + req[i]].decode())
            i += 1 + req[i]
        qtype = struct.unpack_from("!H", req, i + 1)[0]
        name = ".".join(labels).lower()
        self.requests.append((qid, name, qtype))
        if self.silent:
            return None
        if self.drop:
            self.drop -= 1
            return None
        recs, owner, n = [], PTR_Q, name
        while n in self.zone:
            v = self.zone[n]
            if isinstance(v, tuple):
                recs.append(rr(owner, 5, wire(v[1])))
                owner, n = wire(v[1]), v[1]
            else:
                recs.append(a_rr(owner, v))
                break
        rcode = 0 if n in self.zone else 3
        return (header(qid, 0x8180 | rcode, 1, len(recs) if not rcode else 0)
                + req[12:i + 5] + (b"".join(recs) if not rcode else b""))

    def ids(self):
        """Query ids in the order first seen."""
        out = []
        for r in self.requests:
            if r[0] not in out:
                out.append(r[0])
        return out
