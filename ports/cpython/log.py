"""Log lines like mosquitto's: "<unix time>: message" on stderr, filtered by log type."""

import sys
import time


class Logger:
    """Callable log(level, msg) as the core expects; writes and flushes one line per call."""

    def __init__(self, types, stream=None):
        self.types = set(types)
        self.stream = stream if stream is not None else sys.stderr

    def __call__(self, level, msg):
        if level not in self.types:
            return
        try:
            self.stream.write("%d: %s\n" % (int(time.time()), msg))
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed or broken log stream must not stop the broker
