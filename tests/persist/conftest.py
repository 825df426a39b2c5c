"""The persistence tests use tests/core's helpers (persist_support) and the repo root."""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(os.path.dirname(_HERE))
for _p in (os.path.join(_ROOT, "tests", "core"), os.path.join(_ROOT, "tests", "integration"),
           _ROOT):
    if _p not in sys.path:
        sys.path.insert(0, _p)
