"""HOST[:PORT] parsing for the addresses a broker connects to (capture, bridges)."""


def parse(s, port):
    """(host, port) from "HOST", "HOST:PORT" or "[V6]:PORT" (port: the default); ValueError
    when malformed."""
    host = s
    if s.startswith("["):
        i = s.find("]")
        if i < 0:
            raise ValueError("missing ']' in '%s'" % s)
        host = s[1:i]
        rest = s[i + 1:]
        if rest:
            if not rest.startswith(":"):
                raise ValueError("unexpected '%s' after ']' in '%s'" % (rest, s))
            port = _port(rest[1:], s)
    elif s.count(":") == 1:
        host, p = s.split(":")
        port = _port(p, s)
    if not host:
        raise ValueError("empty host in '%s'" % s)
    return host, port


def _port(p, s):
    if not p or [c for c in p if c not in "0123456789"] or not 1 <= int(p) <= 65535:
        raise ValueError("invalid port '%s' in '%s': expected 1-65535" % (p, s))
    return int(p)
