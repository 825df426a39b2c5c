"""Log lines like mosquitto's: "<unix time>: message" on stderr, filtered by log type."""

import sys
import time

DEFAULT_TYPES = ("error", "warning", "notice", "information")
ALL_TYPES = ("error", "warning", "notice", "information", "debug",
             "subscribe", "unsubscribe", "websockets")


def wanted_types(cfg, verbose):
    """The log types to print: all with -v, else the config's log_type lines or defaults."""
    if verbose:
        return set(ALL_TYPES)
    types = getattr(cfg, "log_types", None) if cfg is not None else None
    if not types:
        return set(DEFAULT_TYPES)
    return set(types)


class Logger:
    """Callable log(level, msg) as the core expects; one line per call on stderr."""

    def __init__(self, types=DEFAULT_TYPES, stream=None):
        self.types = set(types)
        self.stream = stream if stream is not None else sys.stderr

    def __call__(self, level, msg):
        if level not in self.types:
            return
        try:
            # time.time() is a float on unix and an int (epoch 2000 on esp32) on boards
            self.stream.write("%d: %s\n" % (int(time.time()), msg))
        except Exception:
            pass  # a broken log stream (or no memory to format) must not stop the broker
