"""Command line of the unix port: reads the config file, the rest is core.cli."""

import sys

from core import cli
from core.config import ConfigError, wanted_types
import loop
from log import Logger

# Port options not shown in the usage text (tests and tuning): name -> (key, minimum, default)
_HIDDEN = {"--clock-wrap-in": ("wrap_in", 0, None), "--out-limit": ("out_limit", 0, loop.OUT_LIMIT),
           "--min-free": ("min_free", 0, loop.MIN_FREE),
           # the unix port reads 2 KB at a time (a board: main.py's buffer, sized for its heap)
           "--recv-size": ("recv_size", 64, 2048),
           "--wall-clock": ("wall_clock", 0, 1)}  # 0: act as a board whose clock is unset


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _capture_env(cfg):
    """HICAP_HOST / HICAP_PORT (core.cli.capture_from_env) turn capture on;
    MQTT_EDGE_DNS overrides /etc/resolv.conf's DNS server (for bridges: unix.py)."""
    import os
    cli.capture_from_env(cfg, os.getenv)
    dns = os.getenv("MQTT_EDGE_DNS")  # HOST[:PORT] for a capture_address host name
    if dns and cfg.capture_address is not None:
        import capture_io
        capture_io.dns_server = dns


def setup(argv):
    """Parse flags and load the config: returns an exit code, or (cfg, log, options) to serve.

    main.py drops this module (and core.cli) after it returns, so the usage text and the
    flag parser do not take heap while the broker runs.
    """
    o = cli.command_line(argv, _HIDDEN, sys.stdout.write, sys.stderr.write)
    if isinstance(o, int):
        return o
    if o["wrap_in"] is not None:
        import clock
        clock.wrap_in(o["wrap_in"])
    path = o["config"]
    try:
        cfg = cli.build_config(None if path is None else _read(path), path, o["ports"])
    except ConfigError as e:
        sys.stderr.write("Error: %s\n" % e)
        return 1
    except OSError as e:
        sys.stderr.write("Error: Unable to open config file %s: %s\n" % (path, loop.errno_text(e)))
        return 1
    _capture_env(cfg)
    if not o["wall_clock"]:
        import capture_io
        capture_io.wall_clock = False
    log = Logger(wanted_types(cfg, o["verbose"]))
    for level, msg in cli.startup_lines(cfg, path):
        log(level, msg)
    if o["wrap_in"] is not None:
        import clock
        log("debug", "Clock at %d ms, wraps in %d ms." % (clock.now_ms(), o["wrap_in"]))
    return cfg, log, o
