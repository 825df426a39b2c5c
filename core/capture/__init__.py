"""Capture: broker events as JSON lines for Logstash, a subsystem the engine never imports.

Small on purpose: a port imports it before parsing the config (register), and a board
drops it again when its config has no capture_address.
"""


def register():
    """Let the config parser accept the capture_* options (a port calls it before parsing)."""
    from core.config import add_options
    add_options("capture_", _option)


def _option(p, opt, args):
    from core.capture.options import option  # at the first capture_* line only
    option(p, opt, args)
