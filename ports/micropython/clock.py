"""The port's clock: time.ticks_ms() masked to the core's 2**30 period, with a test offset."""

import time

from core.clock import PERIOD

_MASK = PERIOD - 1
_offset = 0


def now_ms():
    """Milliseconds, monotonic, masked to core.clock.PERIOD as the core expects."""
    return (time.ticks_ms() + _offset) & _MASK


def wrap_in(ms):
    """Shift the clock so that it wraps to 0 ms milliseconds from now (tests use it)."""
    global _offset
    _offset = 0
    _offset = (PERIOD - ms - now_ms()) & _MASK


def sleep_ms(ms):
    """Block for ms milliseconds."""
    time.sleep_ms(ms)
