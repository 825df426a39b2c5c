"""Log lines like mosquitto's: "<unix time>: message" on stderr, filtered by log type."""

import sys
import time

# mosquitto's default log_type set when the config names none.
DEFAULT_TYPES = ("error", "warning", "notice", "information")
ALL_TYPES = ("error", "warning", "notice", "information", "debug",
             "subscribe", "unsubscribe", "websockets")


def wanted_types(cfg, verbose):
    """The set of log types to print: all with -v, else the config's log_type lines or defaults."""
    if verbose:
        return set(ALL_TYPES)
    types = getattr(cfg, "log_types", None) if cfg is not None else None
    if not types:
        return set(DEFAULT_TYPES)
    types = set(types)
    if "all" in types:
        return set(ALL_TYPES)
    types.discard("none")
    return types


class Logger:
    """Callable log(level, msg) as the core expects; writes and flushes one line per call."""

    def __init__(self, types=DEFAULT_TYPES, stream=None):
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
