"""Wrap-safe millisecond arithmetic on a clock masked to PERIOD, as on 32-bit boards."""

from core.const import const

PERIOD = const(1 << 30)
_MASK = const((1 << 30) - 1)
_HALF = const(1 << 29)


def diff(a, b):
    """Signed milliseconds from b to a, correct across one wrap of the masked clock."""
    return ((a - b + _HALF) & _MASK) - _HALF


def add(t, ms):
    """The masked time ms milliseconds after t."""
    return (t + ms) & _MASK
