"""The bridge tests' infrastructure (tests/bridge_support.py) does what those tests rely on:
the upstream mosquitto keeps sessions across its restart, takes passwords and TLS, and the
proxy stalls, black-holes, refuses and cuts as it says."""

import socket

import pytest

import mqttc
import tls_support
from bridge_support import upstream_subscriber
from brokerlog import HOST
from paho_support import Paho


def test_upstream_mosquitto_keeps_persistent_sessions_and_their_queue_across_its_restart(
        upstreams):
    up = upstreams()
    sub = upstream_subscriber(up, "t/#", 1, client_id="keeper")
    up.restart()  # the subscriber reconnects by itself and does not subscribe again
    pub = Paho(up.host, up.port)
    pub.publish("t/1", b"after restart")
    assert sub.got(1) == [("t/1", b"after restart")]
    sub.close()
    pub.publish("t/2", b"queued while away")
    up.restart()
    back = Paho(up.host, up.port, client_id="keeper", clean=False)
    assert back.got(1) == [("t/2", b"queued while away")]
    back.close()
    pub.close()


def test_upstream_mosquitto_checks_passwords_on_its_plain_and_tls_listeners(upstreams, tmp_path):
    certs = tls_support.make_device_certs(str(tmp_path))
    up = upstreams(users={"edge": "s3cret"}, certs=certs)
    assert Paho(up.host, up.port, user="edge", password="s3cret").rc == 0
    assert Paho(up.host, up.port, user="edge", password="wrong").rc != 0
    assert Paho(up.host, up.port).rc != 0  # anonymous
    tls = Paho(up.host, up.tls_port, certs=certs, user="edge", password="s3cret")
    assert tls.rc == 0
    assert tls.subscribe("x", 1) == [1]


def _through(proxy, client_id):
    sock, rc = mqttc.raw_connect(HOST, proxy.port, client_id, timeout=5)
    assert rc == 0
    return sock


def _quiet(sock, seconds):
    """True when nothing (not even a close) arrives on sock for seconds."""
    sock.settimeout(seconds)
    try:
        sock.recv(1)
    except socket.timeout:
        return True
    return False


def test_proxy_stall_holds_bytes_and_blackhole_drops_them_keeping_the_link_open(
        upstreams, proxies):
    up = upstreams()
    proxy = proxies(up.port)
    sock = _through(proxy, "through")
    assert proxy.up == len(mqttc.connect("through")) and proxy.down == 4  # CONNACK
    proxy.set_mode("stall")
    sock.sendall(mqttc.pingreq())
    assert _quiet(sock, 0.5)
    proxy.set_mode("pass")  # the held PINGREQ goes on
    sock.settimeout(5)
    assert mqttc.read_packet(sock) == (0xD0, b"")
    proxy.set_mode("blackhole")
    sock.sendall(mqttc.pingreq())
    assert _quiet(sock, 0.5)
    assert proxy.dropped == 2 and proxy.open == 1
    proxy.set_mode("pass")
    sock.sendall(mqttc.pingreq())  # only the black-holed one is lost
    sock.settimeout(5)
    assert mqttc.read_packet(sock) == (0xD0, b"")
    sock.close()


def test_proxy_refuse_rejects_new_connections_only_and_cut_closes_the_open_ones(
        upstreams, proxies):
    up = upstreams()
    proxy = proxies(up.port)
    sock = _through(proxy, "kept")
    proxy.refuse()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, proxy.port), timeout=5)
    sock.sendall(mqttc.pingreq())
    assert mqttc.read_packet(sock) == (0xD0, b"")
    proxy.refuse(False)
    other = _through(proxy, "later")
    assert proxy.accepted == 2 and proxy.wait_open(2)
    proxy.cut()
    assert mqttc.read_packet(sock) is None and mqttc.read_packet(other) is None
    assert proxy.open == 0
    assert up.wait_for_log("Client kept closed its connection.")
    sock.close()
    other.close()
