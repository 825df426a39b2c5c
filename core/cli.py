"""The broker's command line, shared by every port: mosquitto 2 flags, usage, config assembly."""

from core.config import Config, parse_config
from core.version import NAME, VERSION

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


class UsageError(Exception):
    """Bad command line; the message is printed before the usage text (exit 3)."""


class Unsupported(Exception):
    """A mosquitto flag this broker does not offer; exit 1 with the message."""


def parse_args(argv, hidden=None):
    """Return a dict (config, ports, verbose, help, and each hidden option) from the flags.

    hidden maps a port's extra option (tests, tuning) to (key, minimum, default).
    """
    hidden = hidden or {}
    o = {"config": None, "ports": [], "verbose": False, "help": False}
    for a in hidden:
        o[hidden[a][0]] = hidden[a][2]
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            o["help"] = True
            return o
        if a in ("-v", "--verbose"):
            o["verbose"] = True
        elif a in ("-c", "--config-file", "-p", "--port") or a in hidden:
            if i + 1 >= len(argv):
                what = "file" if a in ("-c", "--config-file") else \
                    ("port" if a in ("-p", "--port") else "value")
                raise UsageError("Error: %s argument given but no %s specified." % (a, what))
            i += 1
            if a in ("-c", "--config-file"):
                o["config"] = argv[i]
            elif a in ("-p", "--port"):
                o["ports"].append(_port(argv[i]))
            else:
                key, lo, _ = hidden[a]
                o[key] = _number(a, argv[i], lo)
        elif a in ("-d", "--daemon"):
            raise Unsupported("Error: %s (daemon mode) is not supported; "
                              "run the broker under a service manager instead." % a)
        else:
            raise UsageError("Error: Unknown option '%s'." % a)
        i += 1
    return o


def command_line(argv, hidden, write_out, write_err):
    """The options of argv (see parse_args), or the exit code once the usage text, the help
    or the error was written with write_out / write_err."""
    try:
        o = parse_args(argv, hidden)
    except UsageError as e:
        write_err("%s\n\n%s" % (e, USAGE))
        return 3
    except Unsupported as e:
        write_err("%s\n" % e)
        return 1
    if o["help"]:
        write_out(USAGE)
        return 0
    return o


def capture_from_env(cfg, getenv):
    """HICAP_HOST / HICAP_PORT (the Flex4Apps fork's variables) turn capture on where the
    config leaves it off; getenv(name) is the port's environment lookup."""
    host = getenv("HICAP_HOST")
    port = getenv("HICAP_PORT")
    if cfg.capture_address is None and (host or port):
        host = host or "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = "[%s]" % host
        cfg.capture_address = "%s:%s" % (host, port or "12345")


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


def build_config(text, path, ports):
    """The Config from the config file's text (None: no -c) and the -p ports; ConfigError."""
    if text is None:
        cfg = Config()
        for p in ports:
            cfg.add_port(p)
        cfg.finish()
        return cfg
    cfg = parse_config(text, path)
    for p in ports:
        cfg.add_port(p)
    return cfg


def startup_lines(cfg, path):
    """The (level, message) lines logged at start, as mosquitto words them."""
    r = [("notice", "%s version %s starting" % (NAME, VERSION))]
    if path is None:
        r.append(("notice", "Using default config."))
    else:
        r.append(("notice", "Config loaded from %s." % path))
    if cfg.local_only:
        r.append(("notice", "Starting in local only mode. Connections will only be possible "
                            "from clients running on this machine."))
    for w in cfg.warnings:
        r.append(("warning", w if w.startswith("Warning") else "Warning: " + w))
    return r
