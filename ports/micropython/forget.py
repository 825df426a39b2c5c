"""Dropping start-up-only modules on a small heap."""

import sys


def forget(*names):
    """Drop modules used only at start-up so that the GC can take their code back."""
    for name in names:
        sys.modules.pop(name, None)
        i = name.rfind(".")
        if i > 0:
            parent = sys.modules.get(name[:i])
            if parent is not None and hasattr(parent, name[i + 1:]):
                delattr(parent, name[i + 1:])
