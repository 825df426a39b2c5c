"""Capture option values, the queue default and the receiver address parser (small: the
config options and the sender share it)."""

from core.hostport import parse

KINDS = ("connect", "disconnect", "publish", "will", "subscribe", "unsubscribe",
         "startup", "shutdown", "stats", "denied", "bridge")
DENIED = ("login", "publish", "subscribe", "will")  # what events.denied() reports
FORMATS = ("ecs", "hicap")
PAYLOADS = ("none", "base64", "sha256")
DEFAULT_PORT = 5555  # what the fork's Docker and Kubernetes setups used
# bytes of queued records when capture_queue_size is not set: the CPython port's (a board's
# port passes its own, smaller one)
QUEUE_SIZE = 262144


def parse_address(s):
    """(host, port) from "HOST", "HOST:PORT" or "[V6]:PORT"; ValueError when malformed."""
    return parse(s, DEFAULT_PORT)
