"""The one error the core raises for bad input from a client."""


class ProtocolError(Exception):
    """A malformed packet or a protocol violation: the connection must be closed."""
