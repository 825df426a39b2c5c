"""MQTT over WebSockets (protocol websockets, core/ws.py) on the CPython port: paho-mqtt
with transport="websockets", over TLS too, and raw-socket handshakes and frames, good and
malformed. Every malformed case closes only its own connection with one log line while a
healthy client keeps working."""

import os
import socket
import ssl
import time

import pytest

import mqttc
from paho_support import Paho
from tls_support import make_device_certs
from ws_support import closed_with, get, http, round_trip, wsclient

WS_CONF = """listener {port} 127.0.0.1
allow_anonymous true
listener {port2} 127.0.0.1
protocol websockets
"""


@pytest.fixture
def wsb(broker_factory, tmp_path):
    """A broker with a TCP listener (port) and a WebSocket one (port2) serving tmp_path/www."""
    www = tmp_path / "www"
    (www / "js").mkdir(parents=True)
    (www / "index.html").write_text("<html>status</html>")
    (www / "js" / "app.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("outside")
    return broker_factory(WS_CONF + "http_dir %s\nmax_packet_size 70000\n" % www)


def ws_raw(b, timeout=5):
    return wsclient.connect(b.host, b.port2, timeout=timeout)


def ws_client(b, cid, **kw):
    """A raw WebSocket client after CONNECT/CONNACK 0."""
    s = ws_raw(b)
    s.sendall(mqttc.connect(cid, **kw))
    assert mqttc.read_packet(s) == (0x20, b"\x00\x00")
    return s


def healthy(b):
    """A TCP subscriber still gets a WebSocket client's publish."""
    sub = Paho(b.host, b.port)
    try:
        assert sub.subscribe("health/#", 0) == [0]
        pub = ws_client(b, "health-pub")
        pub.sendall(mqttc.publish("health/x", b"ok"))
        assert sub.got(1) == [("health/x", b"ok")]
        pub.close()
    finally:
        sub.close()


def test_MQTT_6_0_0_4_server_selects_mqtt_subprotocol(wsb):
    for offered, chosen in (("mqtt", "mqtt"), ("mqttv3.1", "mqttv3.1"),
                            ("chat, mqttv3.1, mqtt", "mqtt")):
        s = socket.create_connection((wsb.host, wsb.port2), timeout=5)
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        s.sendall(wsclient.request(wsb.host, wsb.port2, key, offered))
        status, headers, _ = wsclient.read_http(s)
        assert status == 101
        assert headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 1.3
        assert headers["sec-websocket-protocol"] == chosen
        assert headers["upgrade"].lower() == "websocket"
        s.close()


def test_paho_websockets_client_exchanges_messages_with_tcp_clients(wsb):
    tcp = Paho(wsb.host, wsb.port)
    tcp.publish("ws/retained", b"kept", qos=1)
    tcp.c.publish("ws/retained", b"kept", 1, retain=True).wait_for_publish(5)
    w = Paho(wsb.host, wsb.port2, prefix="pahows-", transport="websockets")
    try:
        assert w.rc == 0
        assert w.subscribe("ws/#", 2) == [2]
        assert w.got(1) == [("ws/retained", b"kept")]
        big = os.urandom(66000)  # a frame with a 64-bit length both ways
        for qos in (0, 1, 2):
            tcp.publish("ws/q%d" % qos, b"m%d" % qos, qos)
        # paho hands a QoS 2 message over at its PUBREL: a message published after it
        # may overtake it, so the next one goes once it has arrived
        assert w.got(3) == [("ws/q0", b"m0"), ("ws/q1", b"m1"), ("ws/q2", b"m2")]
        tcp.publish("ws/big", big, 1)
        assert w.got(1) == [("ws/big", big)]
        assert tcp.subscribe("back/#", 1) == [1]
        for qos in (0, 1, 2):
            w.publish("back/q%d" % qos, b"r%d" % qos, qos)
        assert sorted(tcp.got(3)) == [("back/q0", b"r0"), ("back/q1", b"r1"),
                                      ("back/q2", b"r2")]
    finally:
        w.close()
        tcp.close()
    assert wsb.wait_for_log("Client 'pahows-")


def test_wss_paho_over_tls_websockets(broker_factory, tmp_path):
    c = make_device_certs(str(tmp_path))
    b = broker_factory(WS_CONF + "certfile %s.crt\nkeyfile %s.key\n" % (c["server"], c["server"]))
    w = Paho(b.host, b.port2, prefix="wss-", certs=c, transport="websockets")
    tcp = Paho(b.host, b.port)
    try:
        round_trip(w, tcp, "tls/a", b"secure")
    finally:
        w.close()
        tcp.close()


def test_wss_raw_handshake_and_frames(broker_factory, tmp_path):
    c = make_device_certs(str(tmp_path))
    b = broker_factory(WS_CONF + "certfile %s.crt\nkeyfile %s.key\n" % (c["server"], c["server"]))
    ctx = ssl.create_default_context(cafile=c["ca"] + ".crt")
    raw = ctx.wrap_socket(socket.create_connection((b.host, b.port2), timeout=5),
                          server_hostname="localhost")
    s = wsclient.connect(b.host, b.port2, sock=raw)
    s.sendall(mqttc.connect("wss-raw"))
    assert mqttc.read_packet(s) == (0x20, b"\x00\x00")
    s.sendall(b"\xc0\x00")  # PINGREQ
    assert mqttc.read_packet(s) == (0xD0, b"")
    s.close()


def test_MQTT_6_0_0_2_packets_split_across_frames_and_several_in_one_frame(wsb):
    sub = Paho(wsb.host, wsb.port)
    assert sub.subscribe("split/#", 0) == [0]
    s = ws_raw(wsb)
    data = mqttc.connect("splitter") + b"".join(
        mqttc.publish("split/%d" % i, b"p%d" % i) for i in range(6))
    # CONNECT + six PUBLISHes cut at odd places: frames of 1, 3, 7, ... bytes
    i, k = 0, 1
    while i < len(data):
        s.sendall(data[i:i + k])
        i += k
        k += 2
    assert mqttc.read_packet(s) == (0x20, b"\x00\x00")
    assert sub.got(6) == [("split/%d" % i, b"p%d" % i) for i in range(6)]
    # several packets in one frame
    s.sendall(b"".join(mqttc.publish("split/many", b"%d" % i) for i in range(20)))
    assert sub.got(20) == [("split/many", b"%d" % i) for i in range(20)]
    s.close()
    sub.close()


def test_fragmented_message_continuation_frames_carry_mqtt(wsb):
    s = ws_raw(wsb)
    data = mqttc.connect("frag") + mqttc.subscribe(1, [("frag/t", 0)])
    parts = (wsclient.frame(data[:5], op=2, fin=False),
             wsclient.frame(data[5:9], op=0, fin=False),
             wsclient.frame(b"hi", op=9),  # a ping between fragments is allowed
             wsclient.frame(data[9:], op=0, fin=True))
    s.sock.sendall(b"".join(parts))
    assert mqttc.read_packet(s) == (0x20, b"\x00\x00")
    assert mqttc.read_packet(s)[0] == 0x90
    assert (10, b"hi") in s.control  # the pong echoes the ping's payload
    s.close()


def test_byte_by_byte_trickle_of_handshake_and_frames(wsb):
    raw = socket.create_connection((wsb.host, wsb.port2), timeout=5)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = "x3JJHMbDL1EzLkh9GBhXDw=="
    data = wsclient.request(wsb.host, wsb.port2, key)
    for i in range(len(data)):
        raw.sendall(data[i:i + 1])
        time.sleep(0.001)
    status, headers, rest = wsclient.read_http(raw)
    assert status == 101 and headers["sec-websocket-accept"] == wsclient.accept_of(key)
    s = wsclient.WsSocket(raw, rest)
    frames = wsclient.frame(mqttc.connect("trickle")) + wsclient.frame(b"\xc0\x00")
    for i in range(len(frames)):
        raw.sendall(frames[i:i + 1])
        time.sleep(0.001)
    assert mqttc.read_packet(s) == (0x20, b"\x00\x00")
    assert mqttc.read_packet(s) == (0xD0, b"")
    s.close()


def test_ping_pong_and_client_close_handshake_publishes_will(wsb):
    sub = Paho(wsb.host, wsb.port)
    assert sub.subscribe("will/#", 0) == [0]
    s = ws_client(wsb, "dying", will=("will/dying", b"gone", 0, False))
    s.sendall(b"payload", op=9)
    s.sendall(b"\xc0\x00")  # PINGREQ after the ping
    assert mqttc.read_packet(s) == (0xD0, b"")
    assert s.control == [(10, b"payload")]
    s.sendall((1001).to_bytes(2, "big") + b"going away", op=8)
    assert closed_with(s, 1001)  # the close frame is echoed, then TCP closes
    assert sub.got(1) == [("will/dying", b"gone")]  # no DISCONNECT: the will goes out
    assert wsb.wait_for_log("Client 'dying' from")
    sub.close()


def test_mqtt_disconnect_gets_close_frame_1000(wsb):
    s = ws_client(wsb, "polite")
    s.sendall(b"\xe0\x00")
    assert closed_with(s, 1000)


BAD = [
    ("text frame", lambda: wsclient.frame(mqttc.connect("t"), op=1), 1003,
     "text frame (MQTT needs binary frames)"),
    ("unmasked frame", lambda: wsclient.frame(mqttc.connect("u"), mask=False), 1002,
     "unmasked frame from the client"),
    ("oversize frame", lambda: wsclient.frame(b"\x30", length=70001), 1009,
     "frame of 70001 bytes is over the maximum packet size 70000"),
    ("fragmented ping", lambda: wsclient.frame(b"x", op=9, fin=False), 1002,
     "fragmented control frame"),
    ("long ping", lambda: wsclient.frame(b"x" * 126, op=9), 1002,
     "control frame over 125 bytes"),
    ("reserved bits", lambda: wsclient.frame(b"x", rsv=0x40), 1002,
     "reserved bits set in a frame"),
    ("reserved opcode", lambda: wsclient.frame(b"x", op=3), 1002, "reserved opcode 3"),
    ("stray continuation", lambda: wsclient.frame(b"x", op=0), 1002,
     "continuation frame without a message"),
    ("binary inside fragments", lambda: wsclient.frame(b"\x10", fin=False) +
     wsclient.frame(b"x"), 1002, "new message inside a fragmented one"),
    ("long form of a short length", lambda: b"\x82\xfe\x00\x05" + b"k" * 4 + b"x" * 5,
     1002, "frame length not in its shortest form"),
    ("close of 1 byte", lambda: wsclient.frame(b"\x03", op=8), 1002, "close frame of 1 byte"),
    ("bad close code", lambda: wsclient.frame(b"\x03\xed", op=8), 1002, "close code 1005"),
]


@pytest.mark.parametrize("name,make,code,why", BAD, ids=[x[0] for x in BAD])
def test_malformed_frames_close_with_code_and_one_log_line(wsb, name, make, code, why):
    s = ws_raw(wsb)
    s.sock.sendall(make())
    assert closed_with(s, code)
    assert wsb.wait_for_log("protocol error: WebSocket: " + why)
    assert wsb.log().count("protocol error: WebSocket:") == 1
    healthy(wsb)


def test_MQTT_6_0_0_1_text_frame_after_connect_closes_and_publishes_will(wsb):
    sub = Paho(wsb.host, wsb.port)
    assert sub.subscribe("will/#", 0) == [0]
    s = ws_client(wsb, "texter", will=("will/texter", b"bye", 0, False))
    s.sendall(mqttc.publish("will/ignored", b"x"), op=1)
    assert closed_with(s, 1003)
    assert sub.got() == [("will/texter", b"bye")]
    assert wsb.wait_for_log("Client 'texter' from 127.0.0.1")
    sub.close()


def _http(b, req):
    return http(b.host, b.port2, req)


KEY = "dGhlIHNhbXBsZSBub25jZQ=="
BAD_HANDSHAKES = [
    ("no key", wsclient.request("h", 1).replace(b"Sec-WebSocket-Key", b"X-Key"), 400,
     "bad Sec-WebSocket-Key"),
    ("short key", wsclient.request("h", 1, key="c2hvcnQ="), 400, "bad Sec-WebSocket-Key"),
    ("version 8", wsclient.request("h", 1, KEY).replace(b"Version: 13", b"Version: 8"), 426,
     "WebSocket version 8, not 13"),
    ("no mqtt protocol", wsclient.request("h", 1, KEY, protocol="chat"), 400,
     "WebSocket sub-protocols offered do not include mqtt"),
    ("no connection upgrade", wsclient.request("h", 1, KEY).replace(b"Connection: Upgrade",
                                                                    b"Connection: keep-alive"),
     400, "WebSocket handshake without Connection: Upgrade"),
    ("post", wsclient.request("h", 1, KEY).replace(b"GET", b"POST"), 405, "HTTP method POST"),
    ("http/1.0", wsclient.request("h", 1, KEY).replace(b"HTTP/1.1", b"HTTP/1.0"), 400,
     "bad HTTP request line"),
    ("header line", wsclient.request("h", 1, KEY).replace(b"Upgrade: websocket",
                                                          b"Upgrade websocket"), 400,
     "bad HTTP header line"),
    ("huge header", wsclient.request("h", 1, KEY, extra="Cookie: %s\r\n" % ("c" * 5000)),
     431, "HTTP request header over 4096 bytes (websockets_headers_size)"),
]


@pytest.mark.parametrize("name,req,status,why", BAD_HANDSHAKES,
                         ids=[x[0] for x in BAD_HANDSHAKES])
def test_bad_handshake_is_answered_and_logged_once(wsb, name, req, status, why):
    got, headers, body = _http(wsb, req)
    assert got == status and body.startswith(str(status).encode())
    if status == 426:
        assert headers["sec-websocket-version"] == "13"
    assert wsb.wait_for_log("protocol error: " + why)
    assert wsb.log().count("protocol error:") == 1
    healthy(wsb)


def test_websockets_headers_size_option_limits_the_request(broker_factory):
    b = broker_factory(WS_CONF + "websockets_headers_size 300\n")
    got, _, _ = _http(b, wsclient.request(b.host, b.port2, KEY, extra="X-Pad: %s\r\n" % ("p" * 200)))
    assert got == 431
    assert b.wait_for_log("over 300 bytes (websockets_headers_size)")


def test_plain_get_without_http_dir_gets_426(broker_factory):
    b = broker_factory(WS_CONF)
    got, headers, _ = _http(b, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert got == 426 and headers["upgrade"] == "websocket"


def test_http_dir_serves_files_by_type_and_refuses_traversal(wsb):
    status, headers, body = get(wsb.host, wsb.port2, "/")
    assert (status, body) == (200, b"<html>status</html>")
    assert headers["content-type"].startswith("text/html")
    assert headers["content-length"] == str(len(body))
    status, headers, body = get(wsb.host, wsb.port2, "/js/app.js?v=1")
    assert (status, body) == (200, b"console.log(1)")
    assert headers["content-type"].startswith("text/javascript")
    for bad in ("/../secret.txt", "/js/../../secret.txt", "/%2e%2e/secret.txt",
                "/js/%2E%2E/%2e%2E/secret.txt", "/nothing.html", "/js", "/js/"):
        status, _, body = get(wsb.host, wsb.port2, bad)
        assert status == 404 and b"outside" not in body, bad
    assert "Traceback" not in wsb.log()
    healthy(wsb)
