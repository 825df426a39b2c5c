"""MQTT over WebSockets from real JavaScript clients: MQTT.js (npm mqtt) under node, and
the status page (boards/www/index.html) in a real headless browser (Debian chromium driven by
playwright-core) over ws:// and wss://. The page's screenshot is kept as an artifact in
tests/artifacts/ (ignored by git; the path is printed)."""

import os

import pytest

from brokerproc import free_port
from paho_support import Paho
from tls_support import make_device_certs
from ws_support import browse, node, www


@pytest.fixture
def page_broker(broker_factory, tmp_path):
    """A broker with TCP (port), ws (port2) and wss (b.wss) listeners serving the status
    page with MQTT.js; b.certs: the test CA and server certificate."""
    folder = www(str(tmp_path / "www"))
    certs = make_device_certs(str(tmp_path))
    wss = free_port()
    b = broker_factory("""listener {port} 127.0.0.1
allow_anonymous true
sys_interval 1
listener {port2} 127.0.0.1
protocol websockets
http_dir %s
listener %d 127.0.0.1
protocol websockets
http_dir %s
certfile %s.crt
keyfile %s.key
""" % (folder, wss, folder, certs["server"], certs["server"]))
    b.wss = wss
    b.certs = certs
    return b


@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_mqttjs_under_node_subscribes_publishes_and_gets_retained(page_broker, scheme):
    b = page_broker
    pub = Paho(b.host, b.port)
    pub.c.publish("js/retained", b"kept", 1, retain=True).wait_for_publish(5)
    pub.close()
    port = b.port2 if scheme == "ws" else b.wss
    out = node("mqttjs_check.mjs", "%s://localhost:%d/mqtt" % (scheme, port),
               b.certs["ca"] + ".crt" if scheme == "wss" else "")
    assert out["got"][0] == ["js/retained", "kept"]
    assert sorted(out["got"][1:]) == [["js/big", "100000"], ["js/self/q0", "m0"],
                                      ["js/self/q1", "m1"], ["js/self/q2", "m2"]]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_status_page_in_headless_chromium(page_broker, scheme):
    b = page_broker
    pub = Paho(b.host, b.port)
    pub.c.publish("browser/retained", b"kept", 1, retain=True).wait_for_publish(5)
    if scheme == "ws":
        page, side = "http://127.0.0.1:%d/" % b.port2, "ws://127.0.0.1:%d/mqtt" % b.port2
    else:
        page, side = "https://127.0.0.1:%d/" % b.wss, "wss://localhost:%d/mqtt" % b.wss
    out = browse(page, side, "status-page-%s" % scheme,
                 b.certs["ca"] + ".crt" if scheme == "wss" else "")
    assert ["browser/retained", "kept"] in out["got"] and ["browser/live", "live one"] in out["got"]
    assert out["fromPage"] == ["page/out", "typed in the page"]
    assert int(out["figures"]["clients"]) >= 2  # the page and the side client
    pub.close()
