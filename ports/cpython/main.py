"""CPython port: `python3 ports/cpython/main.py [-c FILE] [-p PORT] [-v] [-h]`, like mosquitto 2."""

import os
import sys

# Run from any cwd: the repo root (two levels up) holds the core package.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from core.broker import Broker  # noqa: E402
from core import cli, sys_more  # noqa: E402
from core.config import ConfigError, wanted_types  # noqa: E402
from core.version import NAME, VERSION  # noqa: E402
from ports.micropython.log import Logger  # noqa: E402  (portable: the two ports log alike)
from ports.cpython.loop import ListenError, Server  # noqa: E402
from ports.cpython import security  # noqa: E402
from ports.cpython.capture_io import CaptureIO  # noqa: E402
from ports.cpython.bridge_io import BridgeIO  # noqa: E402
from ports.cpython import persist_files  # noqa: E402
from ports.cpython import utf8fast  # noqa: E402,F401  (installs a faster core.utf8.decode)
from core.persist.store import PersistError  # noqa: E402


def read_config_text(path):
    """The config file's text; OSError if unreadable, ValueError naming a line of bad UTF-8."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ValueError("%s:%d: invalid UTF-8 in config file" % (path, line))


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
    o = cli.command_line(argv, None, sys.stdout.write, sys.stderr.write)
    if isinstance(o, int):
        return o

    config_file = o["config"]
    try:
        text = None if config_file is None else read_config_text(config_file)
        cfg = cli.build_config(text, config_file, o["ports"])
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

    log = Logger(wanted_types(cfg, o["verbose"]))
    for level, msg in cli.startup_lines(cfg, config_file):
        log(level, msg)

    raise_fd_limit()
    broker = Broker(cfg, log)
    broker.debug = "debug" in log.types  # per-packet lines (-v), as mosquitto's
    try:
        security.start(broker, cfg)  # password_file and acl_file
    except security.SecurityError as e:
        log("error", "Error: %s" % e)
        if "error" not in log.types:
            sys.stderr.write("Error: %s\n" % e)
        return 1
    server = Server(broker, log)
    if broker.sys is not None:  # mosquitto's whole $SYS tree (a board publishes a part)
        server.sys_more = sys_more.start(broker)
    try:
        server.persist = persist_files.start(broker, cfg, log, server.sel)
    except (PersistError, OSError) as e:
        log("error", "Error: persistence: %s" % e)
        if "error" not in log.types:
            sys.stderr.write("Error: persistence: %s\n" % e)
        return 1
    server.reload = lambda: (security.reload(broker, cfg, log), server.reload_tls())
    try:
        cli.capture_from_env(cfg, os.environ.get)
        server.capture = CaptureIO.create(broker, cfg, server)
    except ValueError as e:
        sys.stderr.write("Error: capture: %s\n" % e)
        return 1
    try:
        server.bridges = BridgeIO.create(broker, cfg, server)  # after persistence: sessions
    except ValueError as e:
        sys.stderr.write("Error: %s\n" % e)
        return 1
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
    if server.capture is not None:
        server.capture.startup()
    server.run()
    log("notice", "%s version %s terminating" % (NAME, VERSION))
    return 0


if __name__ == "__main__":
    sys.exit(main())
