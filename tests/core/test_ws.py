"""core/ws.py, the WebSocket layer, driven without sockets (CPython and MicroPython): the
handshake answer, frames unmasked in the receive buffer, outgoing frames, control frames."""

from core import ws, ws_http
from core.listener import Listener
from harness import Harness
import mqttc

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3's example and its answer
ACCEPT = b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
MASK = b"\x37\xfa\x21\x3d"


def masked(payload, op=2, fin=True):
    """A client frame with the fixed mask MASK."""
    n = len(payload)
    head = bytes(((0x80 if fin else 0) | op,))
    if n < 126:
        head += bytes((0x80 | n,))
    else:
        head += bytes((0x80 | 126, n >> 8, n & 255))
    return head + MASK + bytes(payload[i] ^ MASK[i & 3] for i in range(n))


def unframe(data):
    """(opcode, payload) of the server frames in data (unmasked, as a server sends)."""
    out = []
    i = 0
    while i < len(data):
        op = data[i] & 15
        n = data[i + 1]
        i += 2
        if n == 126:
            n = (data[i] << 8) | data[i + 1]
            i += 2
        elif n == 127:
            n = int.from_bytes(data[i:i + 8], "big")
            i += 8
        out.append((op, data[i:i + n]))
        i += n
    return out


class WsClient:
    """A connection on a websockets listener; feed() goes through a receive buffer."""

    def __init__(self, h):
        l = Listener(8080)
        l.protocol = "websockets"
        h.cfg.listeners.append(l)
        self.h = h
        self.conn = h.broker.open(l, "127.0.0.1", 40000)
        ws.start(self.conn)
        self.buf = bytearray(4096)

    def feed(self, data):
        """Bytes from the client, through the port's buffer; returns ws.received's result."""
        self.buf[:len(data)] = data
        r = ws.received(self.h.broker, self.conn, memoryview(self.buf), len(data))
        self.h.broker.pending.clear()
        return r

    def out(self):
        """What the port would send now (framed)."""
        ws.frame(self.conn)
        data = bytes(self.conn.out)
        self.conn.sent(len(data))
        return data

    def upgrade(self):
        self.feed(b"GET /mqtt HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\nConnection: Upgrade"
                  b"\r\nSec-WebSocket-Key: " + KEY.encode() + b"\r\nSec-WebSocket-Version: "
                  b"13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n")
        return self.out()


def test_handshake_answer_has_the_rfc_accept_value_and_mqtt_protocol():
    c = WsClient(Harness())
    answer = c.upgrade()
    assert answer.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert ACCEPT in answer and b"Sec-WebSocket-Protocol: mqtt\r\n" in answer
    assert answer.endswith(b"\r\n\r\n")  # the answer itself is not framed


def test_frames_are_unmasked_in_the_receive_buffer_and_answers_framed():
    h = Harness()
    c = WsClient(h)
    c.upgrade()
    connect = mqttc.connect("wsc")
    c.feed(masked(connect[:3]) + masked(connect[3:]))  # one packet in two frames
    frames = unframe(c.out())
    assert frames == [(2, b"\x20\x02\x00\x00")]  # CONNACK in one binary frame
    # the decoder wrote the plain bytes at the front of the port's buffer
    assert bytes(c.buf[:3]) == connect[:3]
    assert not c.conn.closing


def test_large_output_gets_a_16_bit_length_and_keeps_order():
    h = Harness()
    c = WsClient(h)
    c.upgrade()
    c.feed(masked(mqttc.connect("big")) + masked(mqttc.subscribe(1, [("t", 0)])))
    c.out()
    p = h.connected("p")
    p.publish("t", b"x" * 300)
    p.publish("t", b"y")
    frames = unframe(c.out())
    assert len(frames) == 1 and frames[0][0] == 2 and len(frames[0][1]) == 306 + 6
    assert frames[0][1].endswith(b"ty")


def test_ping_is_answered_with_pong_after_pending_mqtt_bytes():
    c = WsClient(Harness())
    c.upgrade()
    c.feed(masked(mqttc.connect("pinger")) + masked(b"abc", op=9))
    assert unframe(c.out()) == [(2, b"\x20\x02\x00\x00"), (10, b"abc")]


def test_unmasked_frame_closes_with_1002_and_one_log_line():
    h = Harness()
    c = WsClient(h)
    c.upgrade()
    m = h.mark()
    c.feed(b"\x82\x02\xc0\x00")
    assert c.conn.closing
    assert unframe(c.out()) == [(8, b"\x03\xea")]
    logs = h.logs_since(m)
    assert len(logs) == 1 and "WebSocket: unmasked frame from the client" in logs[0]


def test_close_frame_is_echoed_and_the_will_published():
    h = Harness()
    s = h.subscriber("s", "w", 0)
    c = WsClient(h)
    c.upgrade()
    c.feed(masked(mqttc.connect("dying", will=("w", b"bye", 0, False))))
    c.out()
    c.feed(masked(b"\x03\xe9", op=8))
    assert c.conn.closing
    assert unframe(c.out()) == [(8, b"\x03\xe9")]
    assert [p.payload for p in s.publishes()] == [b"bye"]


def test_core_closing_adds_close_frame_1000_once():
    c = WsClient(Harness())
    c.upgrade()
    c.feed(masked(mqttc.connect("bye")))
    c.out()
    c.feed(masked(b"\xe0\x00"))  # DISCONNECT
    assert unframe(c.out()) == [(8, b"\x03\xe8")]
    assert c.out() == b""


def test_get_returns_checked_path_for_the_port():
    h = Harness()
    c = WsClient(h)
    c.conn.listener.http_dir = "/www"
    assert c.feed(b"GET /a/b.js?x=1 HTTP/1.1\r\nHost: b\r\n\r\n") == "a/b.js"
    ws_http.file_answer(h.broker, c.conn, "a/b.js", 12)
    answer = c.out()
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Type: text/javascript" in answer and b"Content-Length: 12\r\n" in answer
    c2 = WsClient(h)
    c2.conn.listener.http_dir = "/www"
    assert c2.feed(b"GET /a/%2E%2e/../x HTTP/1.1\r\n\r\n") is None
    assert c2.out().startswith(b"HTTP/1.1 404 Not Found\r\n") and c2.conn.closing


def test_MQTT_6_0_0_1_and_6_0_0_2_and_6_0_0_4_a_v5_client_over_websockets():
    h = Harness()
    c = WsClient(h)
    assert b"Sec-WebSocket-Protocol: mqtt\r\n" in c.upgrade()  # MQTT-6.0.0-4
    data = mqttc.connect5("ws5") + mqttc.subscribe5(1, [("t", 0)])
    c.feed(masked(data[:5]) + masked(data[5:-3]) + masked(data[-3:]))  # MQTT-6.0.0-2
    frames = unframe(c.out())
    assert [op for op, _ in frames] == [2]  # binary frames only (MQTT-6.0.0-1)
    pkts, rest = mqttc.split5(frames[0][1])
    assert [p.type for p in pkts] == [mqttc.CONNACK, mqttc.SUBACK] and rest == b""
    m = h.mark()
    c.feed(masked(mqttc.pingreq(), op=1))  # a text frame: closed
    assert c.conn.closing
    assert len(h.logs_since(m)) == 1
