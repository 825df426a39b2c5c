"""const(): MicroPython's compiler folds `_NAME = const(n)` into the bytecode (no global
slot, no heap); on CPython it is a plain identity."""

try:
    from micropython import const
except ImportError:
    def const(x):
        """The value itself (CPython has no constant folding of names)."""
        return x
