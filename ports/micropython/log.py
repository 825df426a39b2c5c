"""Log lines like mosquitto's: "<unix time>: message" on stderr, filtered by log type.

Portable: the CPython port logs with it too (its stderr is line-buffered, a board's is
not buffered: neither needs a flush)."""

import sys
import time


class Logger:
    """Callable log(level, msg) as the core expects; one line per call on stderr."""

    def __init__(self, types):
        self.types = set(types)

    def __call__(self, level, msg):
        if level not in self.types:
            return
        try:
            # time.time() is a float on unix and an int (epoch 2000 on esp32) on boards
            sys.stderr.write("%d: %s\n" % (int(time.time()), msg))
        except Exception:
            pass  # a broken log stream (or no memory to format) must not stop the broker
