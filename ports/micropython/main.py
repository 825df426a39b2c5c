"""MicroPython entry: `micropython ports/micropython/main.py [-c FILE] [-p PORT] [-v] [-h]`.

On a board (esp32, rp2) this file is /main.py: it runs at boot, reads /broker.conf and
/network.json, brings up Wi-Fi and serves. Kept tiny: a board compiles it from source at
every boot, the other modules ship as .mpy.
"""

import sys

# The receive buffer comes first: after the imports the heap is too fragmented
# to find 2 KB in one piece on a 96 KB heap.
_buf = bytearray(2048)


def _dirname(path):
    i = path.rfind("/")
    return path[:i] if i > 0 else ("/" if i == 0 else ".")


def _setup_path():
    """Let `import core` find the repo root: two levels above this script on unix."""
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


def _run_unix():
    import gc
    _setup_path()
    import cli
    r = cli.setup(sys.argv[1:])
    if isinstance(r, int):
        return r
    cfg, log, o = r
    del cli, r
    from forget import forget
    from core.settings import snapshot
    cfg = snapshot(cfg)  # the values only: core.config's code can go
    # not needed once the config is read
    forget("cli", "core.cli", "core.config_parse", "core.config", "core.settings")
    gc.collect()
    import loop
    buf = _buf if o["recv_size"] == len(_buf) else o["recv_size"]
    return loop.serve(cfg, log, o["out_limit"], o["min_free"], buf)


if sys.platform in ("esp32", "rp2"):
    # Files sit at / or /lib, both on sys.path already.
    import board
    board.main(_buf)
else:
    sys.exit(_run_unix())
