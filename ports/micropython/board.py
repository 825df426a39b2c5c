"""Boot on a board: read /broker.conf and /network.json, bring Wi-Fi up, then serve."""

import gc
import sys

CONF = "/broker.conf"
NETWORK = "/network.json"
NTP_HOST = "pool.ntp.org"  # when network.json has no "ntp_host"


def _fail(msg):
    sys.stderr.write("Error: %s\n" % msg)  # the serial console: no log config yet
    return 1


def _set_clock(host, port, log):
    """Capture records want wall-clock time: ask host's NTP server once, then forget ntp.py.

    Without an answer they carry the board's clock if it is set, else uptime and a flag.
    """
    if not host:
        log("notice", 'NTP is off ("ntp_host": "" in %s).' % NETWORK)
        return
    import ntp
    try:
        t = ntp.sync(host, port)
    except Exception as e:  # noqa: BLE001 (whatever went wrong, the broker starts)
        t = None
        why = e if isinstance(e, (OSError, ValueError)) else repr(e)
    from forget import forget
    forget("ntp")
    gc.collect()
    import capture_io
    if t is not None:
        capture_io.set_wall(t)
        log("notice", "Clock set by NTP from %s." % host)
        return
    log("warning", "Warning: clock not set by NTP from %s (%s); capture records carry %s."
        % (host, why, "uptime and clock_synced false" if capture_io.wall_ms() is None
           else "the board's own clock"))


def main(buf):
    """Start the broker with the files at / ; returns an exit code when it stops."""
    import net
    from core.config import ConfigError, parse_config, wanted_types
    try:
        settings = net.load(NETWORK)
    except net.NetError as e:
        return _fail(str(e))
    ntp_host = settings.get("ntp_host", NTP_HOST)
    ntp_port = settings.get("ntp_port", 123)
    if not isinstance(ntp_host, str) or type(ntp_port) is not int or not 0 < ntp_port < 65536:
        return _fail('%s: "ntp_host" must be a string ("" turns NTP off) and "ntp_port" a '
                     'port number (1-65535)' % NETWORK)
    dns = settings.get("dns")  # checked by capture_io, bridge_io (only a host name needs it)
    if dns is not None and (not isinstance(dns, str) or not dns):
        return _fail('%s: "dns" must be a DNS server address such as "192.168.1.1" or '
                     '"127.0.0.1:5353"' % NETWORK)
    try:
        with open(CONF, "rb") as f:
            cfg = parse_config(f.read(), CONF)
    except ConfigError as e:
        return _fail(str(e))
    except OSError:
        return _fail("Unable to open config file %s" % CONF)
    from forget import forget
    # not needed once the config is read
    # the options' modules: with capture_* lines, with bridges
    forget("core.config_parse", "core.capture.options", "core.bridge.options")
    if cfg.local_only:
        return _fail("%s defines no listener: add e.g. 'listener 1883' (a board serves "
                     "the network, not loopback)" % CONF)
    from log import Logger
    log = Logger(wanted_types(cfg, False))
    for w in cfg.warnings:
        log("warning", "Warning: " + w)
    from core.settings import snapshot
    cfg = snapshot(cfg)  # the values only: core.config's code can go
    del ConfigError, parse_config, wanted_types, snapshot
    forget("core.config", "core.settings")
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
    if cfg.capture_address is not None or cfg.bridges:
        # host names (capture_address, bridge addresses) are looked up with this server
        dns = dns or (wlan and wlan.ifconfig()[3]) or None  # None: resolv.conf
    if cfg.capture_address is not None:
        _set_clock(ntp_host, ntp_port, log)
        import capture_io
        capture_io.dns_server = dns
    if cfg.bridges:
        import bridge_io
        bridge_io.dns_server = dns
    out_limit = settings.get("out_limit")
    min_free = settings.get("min_free")
    del settings  # its strings (the Wi-Fi password among them) are not needed any more
    gc.collect()
    import loop
    rc = loop.serve(cfg, log, loop.OUT_LIMIT if out_limit is None else out_limit,
                    loop.MIN_FREE if min_free is None else min_free, buf)
    del wlan
    return rc
