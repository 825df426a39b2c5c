"""Limits against abuse on the real broker process (CPython port): a subscriber that stops
reading loses QoS 0 messages and is then cut off, subscriptions per client, topic length
and levels. Raw sockets for the misbehaving clients, paho for the well-behaved ones."""

import queue
import socket
import time
import uuid

import pytest

import mqttc

mqtt = pytest.importorskip("paho.mqtt.client")

WAIT = 10


class Paho:
    """A paho client on its own thread; messages in a queue."""

    def __init__(self, b):
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                             client_id="lim-" + uuid.uuid4().hex[:8], protocol=mqtt.MQTTv311)
        self.c.reconnect_delay_set(min_delay=120, max_delay=120)
        self.subacks = queue.Queue()
        self.messages = queue.Queue()
        self.c.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.put(rcs)
        self.c.on_message = lambda c, u, m: self.messages.put(m)
        self.c.connect(b.host, b.port, keepalive=60)
        self.c.loop_start()

    def subscribe(self, topics):
        self.c.subscribe(topics)
        return [r.value for r in self.subacks.get(timeout=WAIT)]

    def sys_value(self, topic, want, timeout=WAIT):
        """Wait for a $SYS message on topic whose value satisfies want(int); returns it."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                m = self.messages.get(timeout=0.2)
            except queue.Empty:
                continue
            if m.topic == topic:
                last = int(m.payload)
                if want(last):
                    return last
        pytest.fail("%s never satisfied the check (last %r)" % (topic, last))

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def _raw(b, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(WAIT)
    s.connect((b.host, b.port))
    return s


def _connect(s, cid, **kw):
    s.sendall(mqttc.connect(cid, **kw))
    assert s.recv(4) == b"\x20\x02\x00\x00"


def _closed(s, timeout=WAIT):
    """True when the broker closes s within timeout (whatever it sent before)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not s.recv(65536):
                return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
    return False


def test_slow_subscriber_loses_qos0_then_is_disconnected_over_max_outgoing_bytes(
        broker_factory):
    b = broker_factory("listener {port} 127.0.0.1\nallow_anonymous true\nsys_interval 1\n"
                       "max_outgoing_bytes 2000000\n")
    watch = Paho(b)
    assert watch.subscribe([("$SYS/broker/clients/backlog_disconnected", 0),
                            ("$SYS/broker/publish/messages/dropped", 0)]) == [0, 0]
    slow = _raw(b, rcvbuf=4096)  # subscribes, then never reads again
    _connect(slow, "slow")
    slow.sendall(mqttc.subscribe(1, [("flood/#", 1)]))
    pub = _raw(b)
    _connect(pub, "pub")
    payload = b"z" * 65536
    # QoS 0: once the kernel buffers and 1 MB of the broker's are full, messages are dropped
    for _ in range(200):
        pub.sendall(mqttc.publish("flood/0", payload, 0))
    assert b.wait_for_log("'slow' from 127.0.0.1", timeout=WAIT)
    assert b.wait_for_log("QoS 0 messages to it are dropped", timeout=WAIT)
    assert watch.sys_value("$SYS/broker/publish/messages/dropped", lambda v: v > 0)
    assert "over max_outgoing_bytes" not in b.log()
    # QoS 1 is never dropped while connected: the backlog grows until the client is cut off
    for i in range(1, 60):
        pub.sendall(mqttc.publish("flood/1", payload, 1, pid=i))
    assert b.wait_for_log("over max_outgoing_bytes 2000000", timeout=WAIT)
    assert _closed(slow)
    assert watch.sys_value("$SYS/broker/clients/backlog_disconnected", lambda v: v == 1)
    # the publisher got its acknowledgements and the broker serves on
    pub.sendall(mqttc.pingreq())
    assert b.proc.poll() is None
    slow.close()
    pub.close()
    watch.close()


def test_MQTT_3_9_3_max_subscriptions_per_client_refuses_with_0x80(broker_factory):
    b = broker_factory("listener {port} 127.0.0.1\nallow_anonymous true\n"
                       "max_subscriptions_per_client 2\n")
    c = Paho(b)
    assert c.subscribe([("a/#", 1), ("b/#", 0), ("c/#", 1)]) == [1, 0, 0x80]
    assert c.subscribe([("a/#", 0)]) == [0]  # replacing one of its own is fine
    assert b.wait_for_log("max_subscriptions_per_client")
    c.close()


def test_over_long_or_too_deep_topics_close_the_connection(broker_factory):
    b = broker_factory("listener {port} 127.0.0.1\nallow_anonymous true\n"
                       "max_topic_length 32\nmax_topic_levels 4\n")
    for pkt, why in ((mqttc.publish("x" * 33, b"long", 1, pid=1), "33 bytes, 1 levels"),
                     (mqttc.publish("a/b/c/d/e", b"deep", 0), "9 bytes, 5 levels"),
                     (mqttc.subscribe(1, [("a/b/c/d/#", 0)]), "9 bytes, 5 levels")):
        s = _raw(b)
        _connect(s, "bad")
        s.sendall(pkt)
        assert _closed(s), pkt
        s.close()
        assert b.wait_for_log("protocol error: topic of"), why
        assert b.wait_for_log(why + ": over max_topic_length 32 or max_topic_levels 4")
    ok = Paho(b)
    assert ok.subscribe([("a/b/c/#", 1)]) == [1]
    ok.c.publish("a/b/c/d", b"fine", 1)
    assert ok.messages.get(timeout=WAIT).payload == b"fine"
    ok.close()
