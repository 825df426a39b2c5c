"""Byte-exact MQTT 3.1.1 flows over raw TCP sockets against the real broker process.

Malformed input must close only the offending connection: every such test keeps a
healthy subscriber/publisher pair running and checks it still works afterwards.
"""

import os
import random
import socket
import time

import pytest

import mqttc  # (tests/core/mqttc.py: independent packet builder/parser)

TIMEOUT = 5.0


class Raw:
    """A raw TCP MQTT client: send bytes, read exact bytes or whole packets."""

    def __init__(self, broker, timeout=TIMEOUT):
        self.sock = socket.create_connection((broker.host, broker.port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("broker closed the connection")
        self.buf += chunk

    def recv_exact(self, n):
        """Exactly n bytes from the broker (fails on timeout or close)."""
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def packet(self):
        """The next whole packet from the broker, parsed; p.raw holds its bytes."""
        while True:
            n = _frame_len(self.buf)
            if n is not None and len(self.buf) >= n:
                raw, self.buf = self.buf[:n], self.buf[n:]
                p = mqttc.parse(raw)[0]
                p.raw = raw
                return p
            self._fill()

    def connect(self, client_id, **kw):
        self.send(mqttc.connect(client_id, **kw))
        assert self.recv_exact(4) == b"\x20\x02\x00\x00"
        return self

    def subscribe(self, topic_filter, qos, pid=1):
        """SUBSCRIBE to one filter; the SUBACK must grant qos, byte for byte."""
        self.send(mqttc.subscribe(pid, [(topic_filter, qos)]))
        assert self.recv_exact(5) == b"\x90\x03" + mqttc.u16(pid) + bytes([qos])
        return self

    def expect_closed(self, timeout=TIMEOUT):
        """The broker closes the connection within timeout; returns bytes it sent first."""
        got = self.buf
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return got
            except socket.timeout:
                break
            if not chunk:
                return got
            got += chunk
        pytest.fail("broker did not close the connection within %.0f s (got %r)"
                    % (timeout, got[:64]))

    def expect_silence(self, seconds=0.3):
        """Nothing arrives for a short while (the connection stays open)."""
        self.sock.settimeout(seconds)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            data = None
        finally:
            self.sock.settimeout(TIMEOUT)
        assert data is None, "unexpected %r" % data

    def close(self):
        self.sock.close()


def _frame_len(buf):
    """Total length of the packet starting buf, or None if its header is incomplete."""
    mult, length = 1, 0
    for i in range(1, min(len(buf), 5)):
        length += (buf[i] & 0x7F) * mult
        mult *= 128
        if not buf[i] & 0x80:
            return i + 1 + length
    return None


@pytest.fixture
def clients():
    made = []

    def make(broker):
        c = Raw(broker)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def _healthy_pair(broker, clients, tag):
    sub = clients(broker).connect("sub-" + tag)
    sub.subscribe("health/" + tag, 1)
    pub = clients(broker).connect("pub-" + tag)
    return sub, pub


def _check_healthy(sub, pub, tag, n=3):
    """pub's QoS 1 messages still reach sub, byte for byte."""
    for i in range(n):
        body = ("%s-%d" % (tag, i)).encode()
        pub.send(mqttc.publish("health/" + tag, body, qos=1, pid=100 + i))
        assert pub.recv_exact(4) == mqttc.puback(100 + i)
        p = sub.packet()
        assert p.type == mqttc.PUBLISH and p.payload == body and p.qos == 1, p
        assert p.raw == mqttc.publish("health/" + tag, body, qos=1, pid=p.pid)
        sub.send(mqttc.puback(p.pid))


def test_connack_bytes_for_accepted_connect(broker, clients):
    c = clients(broker)
    c.send(mqttc.connect("raw-ok"))
    assert c.recv_exact(4) == b"\x20\x02\x00\x00"
    c.send(mqttc.pingreq())
    assert c.recv_exact(2) == b"\xd0\x00"


def test_connack_bytes_for_unsupported_protocol_level(broker, clients):
    c = clients(broker)
    c.send(mqttc.connect("raw-lv", level=7))
    assert c.expect_closed() == b"\x20\x02\x00\x01"


def test_wrong_protocol_name_closed_without_connack(broker, clients):
    c = clients(broker)
    c.send(mqttc.connect("raw-name", proto=b"MQTX"))
    assert c.expect_closed() == b""


def test_session_present_bytes(broker, clients):
    a = clients(broker)
    a.send(mqttc.connect("raw-sp", clean=False))
    assert a.recv_exact(4) == b"\x20\x02\x00\x00"
    a.send(mqttc.disconnect())
    a.expect_closed()
    b = clients(broker)
    b.send(mqttc.connect("raw-sp", clean=False))
    assert b.recv_exact(4) == b"\x20\x02\x01\x00"


def test_subscribe_suback_and_unsuback_bytes(broker, clients):
    c = clients(broker).connect("raw-sub")
    c.send(mqttc.subscribe(0x0A0B, [("a/b", 1), ("c/#", 2), ("d/+", 0)]))
    assert c.recv_exact(7) == b"\x90\x05\x0a\x0b\x01\x02\x00"
    c.send(mqttc.unsubscribe(0x0C0D, ["a/b", "c/#"]))
    assert c.recv_exact(4) == b"\xb0\x02\x0c\x0d"


def test_qos1_flow_bytes(broker, clients):
    sub = clients(broker).connect("raw-s1")
    sub.subscribe("q1/t", 1)
    pub = clients(broker).connect("raw-p1")
    pub.send(mqttc.publish("q1/t", b"hello", qos=1, pid=0x0304))
    assert pub.recv_exact(4) == b"\x40\x02\x03\x04"
    p = sub.packet()
    assert p.raw == mqttc.publish("q1/t", b"hello", qos=1, pid=p.pid)
    assert p.pid != 0
    sub.send(mqttc.puback(p.pid))
    sub.expect_silence()


def test_qos2_flow_bytes(broker, clients):
    sub = clients(broker).connect("raw-s2")
    sub.subscribe("q2/t", 2)
    pub = clients(broker).connect("raw-p2")
    pub.send(mqttc.publish("q2/t", b"exactly once", qos=2, pid=0x0102))
    assert pub.recv_exact(4) == b"\x50\x02\x01\x02"
    # A duplicate before PUBREL is acknowledged again but not delivered twice.
    pub.send(mqttc.publish("q2/t", b"exactly once", qos=2, pid=0x0102, dup=True))
    assert pub.recv_exact(4) == b"\x50\x02\x01\x02"
    pub.send(mqttc.pubrel(0x0102))
    assert pub.recv_exact(4) == b"\x70\x02\x01\x02"
    p = sub.packet()
    assert p.raw == mqttc.publish("q2/t", b"exactly once", qos=2, pid=p.pid)
    sub.send(mqttc.pubrec(p.pid))
    assert sub.recv_exact(4) == b"\x62\x02" + mqttc.u16(p.pid)
    sub.send(mqttc.pubcomp(p.pid))
    sub.expect_silence()


def test_retained_bytes_on_subscribe(broker, clients):
    pub = clients(broker).connect("raw-rp")
    pub.send(mqttc.publish("ret/t", b"kept", qos=0, retain=True))
    sub = clients(broker).connect("raw-rs")
    sub.subscribe("ret/#", 0, pid=2)
    assert sub.recv_exact(len(mqttc.publish("ret/t", b"kept", retain=True))) == \
        mqttc.publish("ret/t", b"kept", retain=True)


def test_remaining_length_of_five_bytes_closes_only_that_connection(broker, clients):
    sub, pub = _healthy_pair(broker, clients, "rl5")
    bad = clients(broker).connect("bad-rl5")
    bad.send(b"\x30\xff\xff\xff\xff\x01")
    bad.expect_closed()
    _check_healthy(sub, pub, "rl5")


# mosquitto 2.0.11 ignores reserved flags in PUBACK and PINGREQ, against [MQTT-2.2.2-2].
_MOSQUITTO_DEVIATES = pytest.mark.xfail(
    os.environ.get("MQTT_TEST_BROKER") == "mosquitto", strict=True,
    reason="mosquitto 2.0.11 does not close on reserved flags in PUBACK/PINGREQ")


@pytest.mark.parametrize("data", [
    pytest.param(mqttc.puback(1, first_byte=0x41), marks=_MOSQUITTO_DEVIATES),
    mqttc.pubrel(1, first_byte=0x60),
    mqttc.subscribe(1, [("a", 0)], first_byte=0x80),
    mqttc.unsubscribe(1, ["a"], first_byte=0xA3),
    pytest.param(b"\xc1\x00", marks=_MOSQUITTO_DEVIATES),
    mqttc.packet(0x36, mqttc.mstr("a") + b"\x00\x01x"),
    mqttc.publish(b"bad\xc0\x80", b"x"),
    mqttc.publish("wild/+", b"x"),
    mqttc.connect("again"),
], ids=["puback-flags", "pubrel-flags", "subscribe-flags", "unsubscribe-flags",
        "pingreq-flags", "publish-qos3", "publish-overlong-utf8", "publish-wildcard",
        "second-connect"])
def test_protocol_violation_closes_only_that_connection(broker, clients, data):
    sub, pub = _healthy_pair(broker, clients, "viol")
    bad = clients(broker).connect("bad-viol")
    bad.send(data)
    sent = bad.expect_closed()
    assert b"\x20\x02" not in sent[:2]
    _check_healthy(sub, pub, "viol")


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    bytes(random.Random(1883).getrandbits(8) for _ in range(4096)),
    b"\xff" * 64,
], ids=["http-request", "random-4k", "ff-bytes"])
def test_garbage_before_connect_closes_only_that_connection(broker, clients, garbage):
    sub, pub = _healthy_pair(broker, clients, "junk")
    bad = clients(broker)
    bad.send(garbage)
    sent = bad.expect_closed()
    assert sent == b"", "broker answered garbage with %r" % sent[:16]
    _check_healthy(sub, pub, "junk")


def test_truncated_packet_then_close_leaves_broker_healthy(broker, clients):
    sub, pub = _healthy_pair(broker, clients, "trunc")
    watcher = clients(broker).connect("watch-trunc")
    watcher.subscribe("cut/#", 0)
    bad = clients(broker).connect("bad-trunc")
    full = mqttc.publish("cut/x", b"y" * 200, qos=1, pid=5)
    bad.send(full[:50])
    bad.close()
    _check_healthy(sub, pub, "trunc")
    watcher.expect_silence()


def test_abrupt_close_publishes_will(broker, clients):
    watcher = clients(broker).connect("will-watch")
    watcher.subscribe("will/raw", 1)
    dying = clients(broker).connect("will-raw", will=("will/raw", b"gone", 1, False))
    dying.close()
    p = watcher.packet()
    assert (p.topic, p.payload, p.qos, p.retain) == (b"will/raw", b"gone", 1, 0)


LIMIT_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
message_size_limit 1000
"""


def test_publish_of_exactly_message_size_limit_delivered(broker_factory, clients):
    b = broker_factory(LIMIT_CONF)
    sub = clients(b).connect("lim-sub")
    sub.subscribe("lim", 1)
    pub = clients(b).connect("lim-pub")
    exact = mqttc.publish("lim", b"E" * 1000, qos=1, pid=1)
    pub.send(exact)
    assert pub.recv_exact(4) == mqttc.puback(1)
    p = sub.packet()
    assert p.payload == b"E" * 1000
    sub.send(mqttc.puback(p.pid))
    # One byte over: acknowledged (MQTT 3.1.1 has no way to refuse) but dropped.
    pub.send(mqttc.publish("lim", b"O" * 1001, qos=1, pid=2))
    assert pub.recv_exact(4) == mqttc.puback(2)
    sub.expect_silence()
    pub.send(mqttc.publish("lim", b"after", qos=1, pid=3))
    assert pub.recv_exact(4) == mqttc.puback(3)
    assert sub.packet().payload == b"after"


PACKET_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
max_packet_size 2000
"""


def test_packet_of_exactly_max_packet_size_accepted(broker_factory, clients):
    b = broker_factory(PACKET_CONF)
    sub = clients(b).connect("pk-sub")
    sub.subscribe("pk", 0)
    pub = clients(b).connect("pk-pub")
    # Whole packet: 1 + 2 (remaining length) + 2 + 2 (topic) + payload = 2000 bytes.
    exact = mqttc.publish("pk", b"M" * 1993)
    assert len(exact) == 2000
    pub.send(exact)
    assert sub.packet().payload == b"M" * 1993
    pub.send(mqttc.pingreq())
    assert pub.recv_exact(2) == b"\xd0\x00"


def test_packet_over_max_packet_size_closes_only_that_connection(broker_factory, clients):
    # Remaining length 2000 alone fills the limit, so the packet (2003 bytes) is over it.
    # (mosquitto 2.0.11 counts remaining length + 1 against max_packet_size.)
    b = broker_factory(PACKET_CONF)
    sub = clients(b).connect("pk-sub")
    sub.subscribe("pk", 0)
    pub = clients(b).connect("pk-pub")
    over = mqttc.publish("pk", b"M" * 1996)
    assert len(over) == 2003
    pub.send(over)
    pub.expect_closed()
    sub.expect_silence()
    other = clients(b).connect("pk-other")
    other.send(mqttc.publish("pk", b"small"))
    assert sub.packet().payload == b"small"


def test_fragmented_bytes_over_tcp_are_reassembled(broker, clients):
    c = clients(broker)
    data = mqttc.connect("frag-raw") + mqttc.subscribe(7, [("frag/t", 0)]) \
        + mqttc.publish("frag/t", b"self") + mqttc.pingreq()
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(len(data)):
        c.send(data[i:i + 1])
        if i % 8 == 0:
            time.sleep(0.002)
    expected = b"\x20\x02\x00\x00" + b"\x90\x03\x00\x07\x00" \
        + mqttc.publish("frag/t", b"self") + b"\xd0\x00"
    assert c.recv_exact(len(expected)) == expected


SYS_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
sys_interval 1
"""


def test_sys_bytes_sent_sockets_and_connections_are_counted_by_the_port(broker_factory,
                                                                         clients):
    """$SYS/broker/bytes/sent, load/sockets/1min and load/connections/1min
    (core/sys_more.py) count what the CPython port writes, accepts and sees connected:
    the CONNACK and SUBACK before them at least, this client's socket and CONNECT."""
    b = broker_factory(SYS_CONF)
    c = clients(b).connect("sys-port")
    names = [b"$SYS/broker/bytes/sent", b"$SYS/broker/load/sockets/1min",
             b"$SYS/broker/load/connections/1min"]
    c.send(mqttc.subscribe(1, [(n.decode(), 0) for n in names]))
    got = {}
    deadline = time.monotonic() + 5
    while len(got) < 3 or float(got[names[0]]) < 9 or not float(got[names[1]]) or \
            not float(got[names[2]]):
        assert time.monotonic() < deadline, got
        p = c.packet()
        if p.type == mqttc.PUBLISH:
            got[p.topic] = p.payload
