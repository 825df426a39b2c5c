"""The unix port's entry (main.py off a board): finds core/, reads the flags, serves."""

import sys


def _dirname(path):
    i = path.rfind("/")
    return path[:i] if i > 0 else ("/" if i == 0 else ".")


def _setup_path():
    """Let `import core` find the repo root: two levels above main.py."""
    import os
    script = sys.argv[0] if sys.argv and sys.argv[0] else "main.py"
    if not script.startswith("/"):
        script = os.getcwd() + "/" + script
    here = _dirname(script)
    root = _dirname(_dirname(here))
    if here not in sys.path:
        sys.path.insert(0, here)
    if root not in sys.path:
        sys.path.append(root)


def main(argv, buf):
    """Serve as the command line argv asks (buf: main.py's receive buffer); the exit code."""
    import gc
    _setup_path()
    import cli
    r = cli.setup(argv)
    if isinstance(r, int):
        return r
    cfg, log, o = r
    del cli, r
    from forget import forget
    # not needed once the config is read (the options' modules: capture, bridges)
    forget("cli", "core.cli", "core.config_parse", "core.capture.options",
           "core.bridge.options")
    gc.collect()  # room for the snapshot
    from core.settings import snapshot
    cfg = snapshot(cfg)  # the values only: core.config's code can go
    forget("core.config", "core.settings")
    gc.collect()
    import os
    dns = os.getenv("MQTT_EDGE_DNS")  # HOST[:PORT] for bridge addresses that are names
    if dns and cfg.bridges:
        import bridge_io  # now: the config's code has made room
        bridge_io.dns_server = dns
    import loop
    if o["recv_size"] != len(buf):
        buf = o["recv_size"]
    return loop.serve(cfg, log, o["out_limit"], o["min_free"], buf)
