"""Command line of the unix port: mosquitto-style flags, config loading, exit codes."""

import sys

from core.config import Config, ConfigError, parse_config
import loop
from loop import NAME, VERSION
from log import Logger, wanted_types

USAGE = """%s version %s

An MQTT v3.1.1/v3.1 broker.

Usage: main.py [-c config_file] [-h] [-p port] [-v]

 -c : specify the broker config file.
 -h : display this help.
 -p : start the broker listening on the specified port.
      Not recommended in conjunction with the -c option.
 -v : verbose mode - enable all logging types. This overrides
      any logging options given in the config file.
""" % (NAME, VERSION)

# Port options not shown in the usage text (tests and tuning): name -> (key, minimum)
_HIDDEN = {"--clock-wrap-in": ("wrap_in", 0), "--out-limit": ("out_limit", 0),
           "--min-free": ("min_free", 0), "--recv-size": ("recv_size", 64)}


class UsageError(Exception):
    """Bad command line; the message is printed before the usage text."""


class Unsupported(Exception):
    """A mosquitto flag this broker does not offer; exit 1 with the message."""


def parse_args(argv):
    """Return a dict: config (path or None), ports, verbose, help and the hidden options."""
    o = {"config": None, "ports": [], "verbose": False, "help": False, "wrap_in": None,
         "out_limit": loop.OUT_LIMIT, "min_free": loop.MIN_FREE, "recv_size": loop.RECV_SIZE}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            o["help"] = True
            return o
        if a in ("-v", "--verbose"):
            o["verbose"] = True
        elif a in ("-c", "--config-file", "-p", "--port") or a in _HIDDEN:
            if i + 1 >= len(argv):
                what = "file" if a.startswith(("-c", "--c")) else \
                    ("port" if a.startswith(("-p", "--p")) else "value")
                raise UsageError("Error: %s argument given but no %s specified." % (a, what))
            i += 1
            if a in ("-c", "--config-file"):
                o["config"] = argv[i]
            elif a in ("-p", "--port"):
                o["ports"].append(_port(argv[i]))
            else:
                key, lo = _HIDDEN[a]
                o[key] = _number(a, argv[i], lo)
        elif a in ("-d", "--daemon"):
            raise Unsupported("Error: %s (daemon mode) is not supported; "
                              "run the broker under a service manager instead." % a)
        else:
            raise UsageError("Error: Unknown option '%s'." % a)
        i += 1
    return o


def _port(text):
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise UsageError("Error: Invalid port specified (%s)." % text)
    return port


def _number(opt, text, lo):
    try:
        n = int(text)
    except ValueError:
        n = lo - 1
    if n < lo:
        raise UsageError("Error: %s needs an integer of at least %d, not '%s'." % (opt, lo, text))
    return n


def load_config(path, ports):
    """Build the Config from -c and -p; raises ConfigError or OSError."""
    if path is None:
        cfg = Config()
        for p in ports:
            cfg.add_port(p)
        cfg.finish()
        return cfg
    with open(path, "rb") as f:
        raw = f.read()
    cfg = parse_config(raw, path)
    for p in ports:
        cfg.add_port(p)
    return cfg


def config_error(path, e):
    """The one-line message for a config that cannot be used."""
    if isinstance(e, ConfigError):
        return "Error: %s" % e
    return "Error: Unable to open config file %s: %s" % (path, loop.errno_text(e))


def setup(argv):
    """Parse flags and load the config: returns an exit code, or (cfg, log, options) to serve.

    main.py drops this module after it returns, so the usage text and the flag parser
    do not take heap while the broker runs.
    """
    try:
        o = parse_args(argv)
    except UsageError as e:
        sys.stderr.write("%s\n\n%s" % (e, USAGE))
        return 3
    except Unsupported as e:
        sys.stderr.write("%s\n" % e)
        return 1
    if o["help"]:
        sys.stdout.write(USAGE)
        return 0
    if o["wrap_in"] is not None:
        import clock
        clock.wrap_in(o["wrap_in"])
    path = o["config"]
    try:
        cfg = load_config(path, o["ports"])
    except (ConfigError, OSError) as e:
        sys.stderr.write(config_error(path, e) + "\n")
        return 1
    log = Logger(wanted_types(cfg, o["verbose"]))
    log("notice", "%s version %s starting" % (NAME, VERSION))
    log("notice", "Config loaded from %s." % path if path else "Using default config.")
    if cfg.local_only:
        log("notice", "Starting in local only mode. Connections will only be possible "
            "from clients running on this machine.")
    for w in cfg.warnings:
        log("warning", w if w.startswith("Warning") else "Warning: " + w)
    if o["wrap_in"] is not None:
        import clock
        log("debug", "Clock at %d ms, wraps in %d ms." % (clock.now_ms(), o["wrap_in"]))
    return cfg, log, o
