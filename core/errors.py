"""The one error the core raises for bad input from a client."""


class ProtocolError(Exception):
    """A malformed packet or a protocol violation: the connection must be closed.

    args: (why,) or (why, reason code): the MQTT 5.0 reason code a v5 client's DISCONNECT
    carries (0x81 malformed packet when none is given)."""
