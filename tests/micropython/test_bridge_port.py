"""Bridges (issue 14) on the MicroPython port (.mpy build, the model heap) to a real
mosquitto upstream: both directions, a black-holed uplink found by keepalive while
messages wait in the bridge's session, a host name looked up by the port's own resolver
(dns.py) with TLS and a client certificate, the bridge's queue across kill -9 with
persistence, and a board that loads the bridge's code only for a `connection`."""

import os
import signal
import time

import tls_support
from bridge_support import failback_start, goes_back_to_main, upstream_subscriber
from brokerlog import HOST
from paho_support import Paho

WAIT = 15
# persistence beside a bridge needs more than the model heap (README, Persistence: on a
# board it needs ROMFS); the flush window is under test here, not the heap
PERSIST_HEAP = "512k"
# TLS: the certificates parsed at start and mbedTLS's session (its buffers are malloc'd)
# need more than the 64-bit model heap leaves beside a bridge
TLS_HEAP = "256k"


def bridge_conf(address, topics, extra=""):
    """A loopback listener and one bridge `up` to address with topic lines."""
    return ("listener {port} %s\nallow_anonymous true\nconnection up\naddress %s\n"
            "keepalive_interval 5\nrestart_timeout 1 2\n%s%s"
            % (HOST, address, "".join("topic %s\n" % t for t in topics), extra))


def connected(b, n=1):
    """Until the port logged its bridge's n-th connection; returns whether it did."""
    deadline = time.monotonic() + WAIT
    while b.log().count("Bridge up connected") < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return b.log().count("Bridge up connected") >= n


def test_bridge_forwards_both_ways_and_resends_after_a_black_holed_uplink(
        mp_broker_factory, upstreams, proxies):
    up = upstreams()
    proxy = proxies(up.port)
    b = mp_broker_factory(bridge_conf("%s:%d" % (HOST, proxy.port),
                                      ['s/# out 1 "" edge/', "c/# in 1"]))
    assert connected(b), b.log()
    usub = upstream_subscriber(up, "edge/#")
    lsub = Paho(HOST, b.port)
    assert lsub.subscribe("c/#") == [1]
    lpub = Paho(HOST, b.port)
    upub = Paho(up.host, up.port)
    lpub.publish("s/a", b"to the cloud")
    assert usub.got(1) == [("edge/s/a", b"to the cloud")]
    upub.publish("c/x", b"to the edge")
    assert lsub.got(1) == [("c/x", b"to the edge")]
    proxy.set_mode("blackhole")  # half-open: nothing arrives, nothing is refused
    for i in range(20):
        lpub.publish("s/q", b"%d" % i)  # acknowledged by the port, held for the upstream
    assert b.wait_for_log("keepalive timeout", timeout=WAIT), b.log()
    proxy.set_mode("pass")
    assert connected(b, 2), b.log()
    got = usub.got(n=20)
    assert [p for _, p in got] == [b"%d" % i for i in range(20)], got
    for c in (usub, lsub, lpub, upub):
        c.close()
    assert b.stop() == 0, b.log()
    assert "Traceback" not in b.log()


def test_round_robin_false_goes_back_to_the_main_address_once_it_answers(
        mp_broker_factory, upstreams, proxies):
    def conf(main, second):
        return bridge_conf("%s:%d %s:%d" % (HOST, main, HOST, second), ["f/# out 1"])
    b, main_port, subs = failback_start(mp_broker_factory, upstreams, proxies, conf)
    goes_back_to_main(b, main_port, subs)
    assert b.stop() == 0, b.log()
    assert "Traceback" not in b.log()


def test_bridge_to_a_host_name_looked_up_by_the_ports_resolver_over_tls_with_a_client_cert(
        mp_broker_factory, upstreams, dns_server, tmp_path, monkeypatch):
    d = str(tmp_path)
    certs = tls_support.make_device_certs(d)
    tls_support.make_signed(d, "ca", "upstream", "/CN=upstream.test",
                            "subjectAltName=DNS:upstream.test\n")
    up = upstreams(certs=dict(certs, server=certs["ca"][:-2] + "upstream"),
                   require_certificate=True)
    srv = dns_server({"upstream.test": "127.0.0.1"})
    monkeypatch.setenv("MQTT_EDGE_DNS", "127.0.0.1:%d" % srv.port)
    b = mp_broker_factory(bridge_conf(
        "upstream.test:%d" % up.tls_port, ["t/# out 1"],
        "bridge_cafile %s.crt\nbridge_certfile %s.crt\nbridge_keyfile %s.key\n"
        % (certs["ca"], certs["device1"], certs["device1"])), heap=TLS_HEAP)
    assert connected(b), b.log()
    assert srv.requests and srv.requests[0][1:] == ("upstream.test", 1)
    usub = upstream_subscriber(up, "t/#")
    lpub = Paho(HOST, b.port)
    lpub.publish("t/1", b"sealed")
    assert usub.got(1) == [("t/1", b"sealed")]
    lpub.close()
    usub.close()
    assert b.stop() == 0, b.log()


def test_bridge_refuses_an_upstream_certificate_for_another_name(
        mp_broker_factory, upstreams, dns_server, tmp_path, monkeypatch):
    certs = tls_support.make_device_certs(str(tmp_path))  # the server's is for 127.0.0.1
    up = upstreams(certs=certs)
    srv = dns_server({"upstream.test": "127.0.0.1"})
    monkeypatch.setenv("MQTT_EDGE_DNS", "127.0.0.1:%d" % srv.port)
    b = mp_broker_factory(bridge_conf("upstream.test:%d" % up.tls_port, ["t/# out 1"],
                                      "bridge_cafile %s.crt\n" % certs["ca"]), heap=TLS_HEAP)
    assert b.wait_for_log("Bridge up: cannot connect to upstream.test:%d: TLS handshake"
                          % up.tls_port, timeout=WAIT), b.log()
    assert "Bridge up connected" not in b.log()
    assert b.stop() == 0, b.log()


def _bytes_in(d):
    """Bytes in the files of folder d (a board's persistence files)."""
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))


def test_bridge_queue_survives_kill_9_with_persistence(
        mp_broker_factory, upstreams, proxies, tmp_path):
    up = upstreams()
    usub = upstream_subscriber(up, "p/#")
    proxy = proxies(up.port)
    proxy.refuse()
    conf = bridge_conf("%s:%d" % (HOST, proxy.port), ["p/# out 1"],
                       "persistence true\npersistence_location %s/\nautosave_interval 1\n"
                       % tmp_path)
    b = mp_broker_factory(conf, heap=PERSIST_HEAP)
    assert b.wait_for_log("Bridge up: cannot connect"), b.log()
    before = _bytes_in(tmp_path)
    lpub = Paho(HOST, b.port)
    for i in range(30):
        lpub.publish("p/m", b"%d" % i)
    lpub.close()
    # past autosave_interval, the board's flush window (README, Persistence): the files
    # grew and then stayed as they are for more than the window (a loaded machine is slow)
    deadline = time.monotonic() + 20
    last, since = _bytes_in(tmp_path), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = _bytes_in(tmp_path)
        if now != last:
            last, since = now, time.monotonic()
        elif last > before and time.monotonic() - since > 1.5:
            break
    b.stop(signal.SIGKILL)
    mp_broker_factory(conf, heap=PERSIST_HEAP)
    proxy.refuse(False)
    got = usub.got(n=30)
    assert [p for _, p in got] == [b"%d" % i for i in range(30)], got
    usub.close()


def test_board_imports_the_bridge_code_only_for_a_config_with_a_connection(boards, upstreams):
    up = upstreams()
    plain = "listener {port} %s\nallow_anonymous true\n" % HOST
    b = boards(plain, {})
    assert b.stop() == 0, b.log()
    assert "bridge code imported: []" in b.log(), b.log()
    b = boards(bridge_conf("%s:%d" % (HOST, up.port), ["t/# out 1"]), {})
    assert connected(b), b.log()
    assert b.stop() == 0, b.log()
    # the link's code stays while it serves; its config parser and start-up helpers do not
    assert "bridge code imported: ['bridge_io', 'core.bridge.link']" in b.log(), b.log()

