"""CPython port: `python3 ports/cpython/main.py [-c FILE] [-p PORT] [-v] [-h]`, like mosquitto 2."""

import os
import sys

# Run from any cwd: the repo root (two levels up) holds the core package.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from core.broker import Broker  # noqa: E402
from core.config import Config, ConfigError, parse_config  # noqa: E402
from core.version import NAME, VERSION  # noqa: E402
from ports.cpython.log import Logger, wanted_types  # noqa: E402
from ports.cpython.loop import ListenError, Server  # noqa: E402


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
    """Bad command line; the message is printed before the usage text."""


class Unsupported(Exception):
    """A mosquitto flag this broker does not offer; exit 1 with the message."""


def parse_args(argv):
    """Return (config_file or None, [ports], verbose, help) from mosquitto-style flags."""
    config_file = None
    ports = []
    verbose = False
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            return config_file, ports, verbose, True
        if a in ("-v", "--verbose"):
            verbose = True
        elif a in ("-c", "--config-file", "-p", "--port"):
            if i + 1 >= len(argv):
                raise UsageError("Error: %s argument given but no %s specified."
                                 % (a, "file" if a.startswith(("-c", "--c")) else "port"))
            i += 1
            if a in ("-c", "--config-file"):
                config_file = argv[i]
            else:
                ports.append(_port(argv[i]))
        elif a in ("-d", "--daemon"):
            raise Unsupported("Error: %s (daemon mode) is not supported; "
                             "run the broker under a service manager instead." % a)
        else:
            raise UsageError("Error: Unknown option '%s'." % a)
        i += 1
    return config_file, ports, verbose, False


def _port(text):
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise UsageError("Error: Invalid port specified (%s)." % text)
    return port


def read_config_text(path):
    """The config file's text; OSError if unreadable, ValueError naming a line of bad UTF-8."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ValueError("%s:%d: invalid UTF-8 in config file" % (path, line))


def load_config(config_file, ports):
    """Build the Config from -c and -p; raises ConfigError, OSError or ValueError."""
    if config_file is None:
        cfg = Config()
        for p in ports:
            cfg.add_port(p)
        cfg.finish()
        return cfg
    cfg = parse_config(read_config_text(config_file), config_file)
    for p in ports:
        cfg.add_port(p)
    return cfg


def raise_fd_limit():
    """Let the process hold as many sockets as the hard limit allows."""
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY:
            hard = 1 << 20
        if soft == resource.RLIM_INFINITY or soft >= hard:
            return
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass  # keep the current limit


def main(argv=None):
    """Run the broker; returns the process exit code."""
    if argv is None:
        argv = sys.argv[1:]
    try:
        config_file, ports, verbose, want_help = parse_args(argv)
    except UsageError as e:
        sys.stderr.write("%s\n\n%s" % (e, USAGE))
        return 3
    except Unsupported as e:
        sys.stderr.write("%s\n" % e)
        return 1
    if want_help:
        sys.stdout.write(USAGE)
        return 0

    try:
        cfg = load_config(config_file, ports)
    except ConfigError as e:
        sys.stderr.write("Error: %s\n" % e)
        return 1
    except OSError as e:
        sys.stderr.write("Error: Unable to open config file %s: %s\n"
                         % (config_file, e.strerror or e))
        return 1
    except ValueError as e:
        sys.stderr.write("Error: %s\n" % e)
        return 1

    log = Logger(wanted_types(cfg, verbose))
    log("notice", "%s version %s starting" % (NAME, VERSION))
    if config_file is None:
        log("notice", "Using default config.")
    else:
        log("notice", "Config loaded from %s." % config_file)
    if getattr(cfg, "local_only", False):
        log("notice", "Starting in local only mode. Connections will only be possible "
            "from clients running on this machine.")
    for w in getattr(cfg, "warnings", ()):
        log("warning", w if w.startswith("Warning") else "Warning: " + w)

    raise_fd_limit()
    broker = Broker(cfg, log)
    server = Server(broker, log)
    # Before listening: a signal sent once the port accepts must already stop us cleanly.
    server.install_signals()
    try:
        opened = 0
        for listener in cfg.listeners:
            opened += server.listen(listener)
        if not opened:
            raise ListenError("Error: no listen socket could be opened.")
    except ListenError as e:
        log("error", str(e))
        if "error" not in log.types:
            sys.stderr.write("%s\n" % e)  # a fatal error is never silent
        return 1
    log("notice", "%s version %s running" % (NAME, VERSION))
    server.run()
    log("notice", "%s version %s terminating" % (NAME, VERSION))
    return 0


if __name__ == "__main__":
    sys.exit(main())
