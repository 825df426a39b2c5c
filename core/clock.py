"""Wrap-safe millisecond arithmetic on a clock masked to PERIOD, as on 32-bit boards."""

PERIOD = 1 << 30
_MASK = PERIOD - 1
_HALF = PERIOD >> 1


def diff(a, b):
    """Signed milliseconds from b to a, correct across one wrap of the masked clock."""
    return ((a - b + _HALF) & _MASK) - _HALF


def add(t, ms):
    """The masked time ms milliseconds after t."""
    return (t + ms) & _MASK
