"""Capture option values, the queue default and the receiver address parser (small: the
config options and the sender share it)."""

KINDS = ("connect", "disconnect", "publish", "will", "subscribe", "unsubscribe",
         "startup", "shutdown", "stats", "denied")
DENIED = ("login", "publish", "subscribe", "will")  # what events.denied() reports
FORMATS = ("ecs", "hicap")
PAYLOADS = ("none", "base64", "sha256")
DEFAULT_PORT = 5555  # what the fork's Docker and Kubernetes setups used
# bytes of queued records when capture_queue_size is not set: the CPython port's (a board's
# port passes its own, smaller one)
QUEUE_SIZE = 262144


def parse_address(s):
    """(host, port) from "HOST", "HOST:PORT" or "[V6]:PORT"; ValueError when malformed."""
    port = DEFAULT_PORT
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
