"""MQTT over WebSockets on the MicroPython port (.mpy, the board model's heap): paho with
transport="websockets", raw frames good and malformed, and http_dir files larger than the
heap sent a buffer at a time."""

import os
import socket
import time

import pytest

from mpbroker import HOST, free_port
import mqttc
from paho_support import Paho
from ws_support import browse, closed_with, get, round_trip, wsclient, www

CONF = """listener {port} 127.0.0.1
protocol websockets
http_dir %s
listener %d 127.0.0.1
allow_anonymous true
max_packet_size 20000
"""


@pytest.fixture
def ws_mp(mp_broker_factory, tmp_path):
    """The port with a WebSocket listener (b.port) and a TCP one (b.tcp)."""
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("<html>board</html>")
    (www / "big.js").write_bytes(bytes(range(256)) * 800)  # 200 KB: more than the heap
    tcp = free_port()
    b = mp_broker_factory(CONF % (www, tcp), args=("-v",))
    # the factory waits for the first listener only; "running" comes once both listen
    assert b.wait_for_log(" running ")
    b.tcp = tcp
    yield b
    assert "Traceback" not in b.log() and "internal error" not in b.log()


def test_paho_websockets_client_on_the_board_model(ws_mp):
    tcp = Paho(HOST, ws_mp.tcp)
    tcp.c.publish("b/kept", b"retained", 1, retain=True).wait_for_publish(5)
    w = Paho(HOST, ws_mp.port, prefix="mpws-", transport="websockets")
    try:
        assert w.rc == 0
        assert w.subscribe("b/#", 1) == [1]
        assert w.got(1) == [("b/kept", b"retained")]
        # a frame with a 16-bit length, read in 5 pieces by the port; not 3,000 bytes: the
        # model heap keeps ~30 KB free in holes of at most ~3 KB (91 to 97 32-byte blocks),
        # so the payload's copy found a block or not by a few blocks' luck
        big = os.urandom(2500)
        tcp.publish("b/big", big, 1)
        tcp.publish("b/small", b"s", 0)
        # sorted: on the model heap a QoS 1 message that finds no heap for its copy is
        # retried a second later (core/deliver.py), after the QoS 0 one
        assert sorted(w.got(2)) == [("b/big", big), ("b/small", b"s")]
        assert tcp.subscribe("up/#", 1) == [1]
        w.publish("up/x", big, 1)
        assert tcp.got(1) == [("up/x", big)]
    finally:
        w.close()
        tcp.close()


def test_MQTT_6_0_0_2_trickled_and_split_frames_on_the_board_model(ws_mp):
    raw = socket.create_connection((HOST, ws_mp.port), timeout=5)
    key = "x3JJHMbDL1EzLkh9GBhXDw=="
    req = wsclient.request(HOST, ws_mp.port, key)
    for i in range(0, len(req), 7):
        raw.sendall(req[i:i + 7])
        time.sleep(0.002)
    status, headers, rest = wsclient.read_http(raw)
    assert status == 101 and headers["sec-websocket-accept"] == wsclient.accept_of(key)
    s = wsclient.WsSocket(raw, rest)
    data = wsclient.frame(mqttc.connect("trickle")[:4]) + \
        wsclient.frame(mqttc.connect("trickle")[4:] + b"\xc0\x00")
    for i in range(len(data)):
        raw.sendall(data[i:i + 1])
        time.sleep(0.001)
    assert mqttc.read_packet(s) == (0x20, b"\x00\x00")
    assert mqttc.read_packet(s) == (0xD0, b"")
    s.sendall(b"", op=9)
    s.sendall(b"\xe0\x00")
    assert closed_with(s, 1000)
    assert s.control[0] == (10, b"")


@pytest.mark.parametrize("make,code,why", [
    (lambda: wsclient.frame(mqttc.connect("u"), mask=False), 1002, "unmasked frame"),
    (lambda: wsclient.frame(mqttc.connect("t"), op=1), 1003, "text frame"),
    (lambda: wsclient.frame(b"x", op=9, fin=False), 1002, "fragmented control frame"),
    (lambda: wsclient.frame(b"x", length=20001), 1009, "over the maximum packet size"),
], ids=["unmasked", "text", "fragmented-ping", "oversize"])
def test_malformed_frames_close_one_connection_on_the_board_model(ws_mp, make, code, why):
    good = wsclient.connect(HOST, ws_mp.port)
    good.sendall(mqttc.connect("good"))
    assert mqttc.read_packet(good) == (0x20, b"\x00\x00")
    s = wsclient.connect(HOST, ws_mp.port)
    s.sock.sendall(make())
    assert closed_with(s, code)
    assert ws_mp.wait_for_log("protocol error: WebSocket: ")
    assert why in ws_mp.log()
    good.sendall(b"\xc0\x00")
    assert mqttc.read_packet(good) == (0xD0, b"")


def test_bad_handshake_gets_400_on_the_board_model(ws_mp):
    s = socket.create_connection((HOST, ws_mp.port), timeout=5)
    s.sendall(wsclient.request(HOST, ws_mp.port, key="c2hvcnQ="))
    assert wsclient.read_http(s)[0] == 400
    assert ws_mp.wait_for_log("protocol error: bad Sec-WebSocket-Key")


def test_http_dir_file_larger_than_the_heap_is_streamed(ws_mp):
    status, headers, body = get(HOST, ws_mp.port, "/big.js")
    assert status == 200 and body == bytes(range(256)) * 800
    assert headers["content-type"].startswith("text/javascript")
    assert get(HOST, ws_mp.port, "/")[2] == b"<html>board</html>"
    assert get(HOST, ws_mp.port, "/../mp0.conf")[0] == 404
    assert get(HOST, ws_mp.port, "/missing.css")[0] == 404
    c = Paho(HOST, ws_mp.tcp)  # the broker carries on
    assert c.rc == 0
    c.close()


def test_wss_paho_on_the_board_model(mp_broker_factory, tmp_path):
    """TLS on a websockets listener (the port's tls_server) with paho over wss."""
    from tls_support import make_device_certs
    c = make_device_certs(str(tmp_path))
    b = mp_broker_factory("allow_anonymous true\nlistener {port} 127.0.0.1\nprotocol "
                          "websockets\ncertfile %s.crt\nkeyfile %s.key\n"
                          % (c["server"], c["server"]), heap="176k")
    w = Paho(HOST, b.port, prefix="mpwss-", certs=c, transport="websockets")
    try:
        round_trip(w, w, "s/x", b"over wss")
    finally:
        w.close()
    assert "Traceback" not in b.log()


@pytest.mark.timeout(120)
def test_status_page_served_by_the_board_model_in_headless_chromium(mp_broker_factory, tmp_path):
    """The port serves the status page and MQTT.js (340 KB, a buffer at a time) from
    http_dir and the page, in chromium, works against it."""
    folder = www(str(tmp_path / "www"))
    tcp = free_port()
    b = mp_broker_factory("listener {port} 127.0.0.1\nprotocol websockets\nhttp_dir %s\n"
                          "listener %d 127.0.0.1\nallow_anonymous true\nsys_interval 1\n"
                          % (folder, tcp))
    pub = Paho(HOST, tcp)
    pub.c.publish("browser/retained", b"kept", 1, retain=True).wait_for_publish(5)
    out = browse("http://127.0.0.1:%d/" % b.port, "ws://127.0.0.1:%d/mqtt" % b.port,
                 "status-page-micropython")
    pub.close()
    assert ["browser/retained", "kept"] in out["got"] and ["browser/live", "live one"] in out["got"]
    assert out["fromPage"] == ["page/out", "typed in the page"]
    assert int(out["figures"]["free"]) > 0  # $SYS/broker/heap/free from the board model
    assert "Traceback" not in b.log()
