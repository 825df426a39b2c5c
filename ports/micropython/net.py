"""Wi-Fi bring-up on boards (esp32, rp2) from /network.json; never used on the unix port."""

import json
import time

PLACEHOLDERS = ("YOUR_WIFI_SSID", "YOUR_WIFI_PASSWORD")


class NetError(Exception):
    """The network settings are unusable or the link did not come up."""


def load(path):
    """Read and check the network settings of path (JSON); raises NetError with the reason."""
    try:
        with open(path) as f:
            d = json.load(f)
    except OSError:
        raise NetError("%s: cannot open the file" % path)
    except ValueError:
        raise NetError("%s: not valid JSON" % path)
    if not isinstance(d, dict):
        raise NetError("%s: expected a JSON object" % path)
    mode = d.get("mode", "sta")
    if mode not in ("sta", "ap"):
        raise NetError("%s: \"mode\" must be \"sta\" or \"ap\", not %r" % (path, mode))
    for key in ("ssid", "password"):
        v = d.get(key, "")
        if not isinstance(v, str):
            raise NetError("%s: \"%s\" must be a string" % (path, key))
        if v in PLACEHOLDERS:
            raise NetError("%s: \"%s\" still holds the placeholder %s" % (path, key, v))
    if not d.get("ssid"):
        raise NetError("%s: \"ssid\" is missing or empty" % path)
    if mode == "ap" and 0 < len(d.get("password", "")) < 8:
        raise NetError("%s: an access point password needs at least 8 characters" % path)
    t = d.get("timeout_s", 20)
    if not isinstance(t, int) or t <= 0:
        raise NetError("%s: \"timeout_s\" must be a positive integer" % path)
    return d


def up(d, log):
    """Bring the interface of settings d up; returns the WLAN object or raises NetError."""
    import network
    if d.get("hostname"):
        try:
            network.hostname(d["hostname"])
        except (AttributeError, ValueError, OSError):
            log("warning", "Warning: this firmware cannot set the hostname.")
    ssid = d["ssid"]
    pw = d.get("password", "")
    if d.get("mode", "sta") == "ap":
        wlan = network.WLAN(network.AP_IF)
        if pw:
            # A key alone leaves the ESP32's access point open (its default security):
            # WPA/WPA2 must be asked for, and without it the broker does not open the AP.
            sec = getattr(wlan, "SEC_WPA_WPA2", None)
            if sec is None:
                sec = getattr(network, "AUTH_WPA_WPA2_PSK", None)  # older esp32 firmware
            if sec is None:
                raise NetError("this firmware offers no WPA2 access point: access point "
                               "'%s' was not opened (it would have no password)" % ssid)
            wlan.config(ssid=ssid, key=pw, security=sec)
        else:
            wlan.config(ssid=ssid)
        wlan.active(True)
        what = "access point '%s'" % ssid
    else:
        wlan = network.WLAN(network.STA_IF)
        wlan.active(True)
        if d.get("ifconfig"):
            wlan.ifconfig(tuple(d["ifconfig"]))  # [ip, netmask, gateway, dns]
        wlan.connect(ssid, pw)
        what = "Wi-Fi '%s'" % ssid
    limit = d.get("timeout_s", 20) * 1000
    t0 = time.ticks_ms()
    while not (wlan.isconnected() if d.get("mode", "sta") == "sta" else wlan.active()):
        if time.ticks_diff(time.ticks_ms(), t0) > limit:
            status = wlan.status()
            wlan.active(False)
            raise NetError("%s not up after %d s (status %s)" % (what, limit // 1000, status))
        time.sleep_ms(200)
    log("notice", "%s up, address %s." % (what, wlan.ifconfig()[0]))
    return wlan
