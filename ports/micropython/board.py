"""Boot on a board: read /broker.conf and /network.json, bring Wi-Fi up, then serve."""

import gc
import sys

CONF = "/broker.conf"
NETWORK = "/network.json"


def _fail(msg):
    sys.stderr.write("Error: %s\n" % msg)  # the serial console: no log config yet
    return 1


def main(buf):
    """Start the broker with the files at / ; returns an exit code when it stops."""
    import net
    from core.config import ConfigError, parse_config
    try:
        settings = net.load(NETWORK)
    except net.NetError as e:
        return _fail(str(e))
    try:
        with open(CONF, "rb") as f:
            cfg = parse_config(f.read(), CONF)
    except ConfigError as e:
        return _fail(str(e))
    except OSError:
        return _fail("Unable to open config file %s" % CONF)
    from forget import forget
    forget("core.config_parse")  # not needed once the config is read
    if cfg.local_only:
        return _fail("%s defines no listener: add e.g. 'listener 1883' (a board serves "
                     "the network, not loopback)" % CONF)
    from log import Logger
    from core.cli import wanted_types
    log = Logger(wanted_types(cfg, False))
    for w in cfg.warnings:
        log("warning", "Warning: " + w)
    wlan = None
    if sys.platform not in ("esp32", "rp2"):
        # The unix port (tools/simboard.py) has no Wi-Fi: the host's network is up already.
        log("notice", "No Wi-Fi on the %s port: serving on the host's network." % sys.platform)
        wlan = False
    for _ in range(max(1, int(settings.get("retries", 3))) if wlan is None else 0):
        try:
            wlan = net.up(settings, log)
            break
        except net.NetError as e:
            log("error", "Error: %s" % e)
    if wlan is None:
        if settings.get("reset_on_failure"):
            import machine
            machine.reset()
        return 1
    del sys.modules["net"]  # only the WLAN object is needed from here on
    if cfg.capture_address is not None:
        try:
            import ntptime  # capture records want wall-clock time; without it: uptime + flag
            ntptime.settime()
            del sys.modules["ntptime"]
            log("notice", "Clock set by NTP.")
        except Exception as e:  # noqa: BLE001 (any failure: records carry uptime instead)
            log("warning", "Warning: clock not set by NTP (%r); capture records carry "
                "uptime and clock_synced false." % (e,))
    gc.collect()
    import loop
    rc = loop.serve(cfg, log, settings.get("out_limit", loop.OUT_LIMIT),
                    settings.get("min_free", loop.MIN_FREE), buf)
    del wlan
    return rc
