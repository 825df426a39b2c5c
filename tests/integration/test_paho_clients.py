"""Real paho-mqtt 2.x clients against the real broker process."""

import queue
import threading
import uuid

import pytest

mqtt = pytest.importorskip("paho.mqtt.client")

WAIT = 10  # seconds any single expected event may take


class Client:
    """A paho client on its own network thread, with its events in queues."""

    def __init__(self, broker, client_id=None, protocol=None, clean_session=True,
                 will=None, connect=True):
        self.client_id = client_id or "paho-" + uuid.uuid4().hex[:8]
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=protocol or mqtt.MQTTv311, clean_session=clean_session)
        # A dropped client must not come back on its own and disturb the test.
        self.c.reconnect_delay_set(min_delay=120, max_delay=120)
        self.messages = queue.Queue()
        self.connacks = queue.Queue()
        self.subacks = queue.Queue()
        self.disconnected = threading.Event()
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_disconnect = self._on_disconnect
        if will is not None:
            topic, payload, qos, retain = will
            self.c.will_set(topic, payload, qos, retain)
        self.broker = broker
        if connect:
            self.connect()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connacks.put((flags, reason_code))

    def _on_message(self, client, userdata, msg):
        self.messages.put(msg)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.subacks.put((mid, reason_codes))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.disconnected.set()

    def connect(self):
        """Connect and wait for a successful CONNACK; returns its flags."""
        self.disconnected.clear()
        self.c.connect(self.broker.host, self.broker.port, keepalive=60)
        self.c.loop_start()
        flags, rc = self.connacks.get(timeout=WAIT)
        assert not rc.is_failure, "CONNACK refused: %s" % rc
        return flags

    def subscribe(self, topic, qos=0):
        """Subscribe and wait for the SUBACK; returns the granted reason codes."""
        result, mid = self.c.subscribe(topic, qos)
        assert result == mqtt.MQTT_ERR_SUCCESS
        got_mid, codes = self.subacks.get(timeout=WAIT)
        assert got_mid == mid
        return codes

    def publish(self, topic, payload, qos=0, retain=False):
        """Publish and wait until paho reports the flow complete for this QoS."""
        info = self.c.publish(topic, payload, qos, retain)
        info.wait_for_publish(timeout=WAIT)
        assert info.is_published(), "publish of %r did not complete" % payload

    def get(self, timeout=WAIT):
        """The next received message (fails the test after timeout)."""
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            pytest.fail("%s received no message within %s s" % (self.client_id, timeout))

    def assert_no_message(self, wait=0.5):
        """No message arrives within wait seconds."""
        try:
            msg = self.messages.get(timeout=wait)
        except queue.Empty:
            return
        pytest.fail("unexpected message on %s: %r" % (msg.topic, msg.payload))

    def disconnect(self):
        """Clean MQTT DISCONNECT, then stop the network thread."""
        self.c.disconnect()
        self.disconnected.wait(WAIT)
        self.c.loop_stop()

    def kill(self):
        """Drop the TCP connection without DISCONNECT, as a crashed client would."""
        self.c.loop_stop()
        sock = self.c.socket()
        if sock is not None:
            sock.close()


@pytest.fixture
def clients(broker):
    """make(**kw) -> connected Client on the default broker; all stopped at teardown."""
    made = []

    def make(**kw):
        c = Client(broker, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        try:
            c.c.disconnect()
        except Exception:
            pass
        c.c.loop_stop()


def unique(prefix):
    return "%s/%s" % (prefix, uuid.uuid4().hex[:8])


def test_connect_and_clean_disconnect(clients):
    """A paho client connects (CONNACK accepted) and disconnects cleanly."""
    c = clients()
    assert c.c.is_connected()
    c.disconnect()
    assert not c.c.is_connected()


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_subscribe_round_trip_at_each_qos(clients, qos):
    sub = clients()
    assert sub.subscribe("rt/%d" % qos, qos)[0].value == qos
    pub = clients()
    pub.publish("rt/%d" % qos, b"payload-%d" % qos, qos)
    msg = sub.get()
    assert msg.topic == "rt/%d" % qos
    assert msg.payload == b"payload-%d" % qos
    assert msg.qos == qos
    assert not msg.retain


def test_MQTT_3_8_4_6_delivered_qos_is_minimum_of_publish_and_subscription(clients):
    sub = clients()
    sub.subscribe("down/grade", 1)
    pub = clients()
    pub.publish("down/grade", b"x", 2)
    assert sub.get().qos == 1


def test_messages_from_one_publisher_arrive_in_order(clients):
    sub = clients()
    sub.subscribe("order", 1)
    pub = clients()
    for i in range(50):
        pub.c.publish("order", b"%d" % i, 1)
    got = [sub.get().payload for _ in range(50)]
    assert got == [b"%d" % i for i in range(50)]


def test_wildcard_subscriptions_match_per_spec(clients):
    sub = clients()
    sub.subscribe("wild/+/temp", 0)
    sub.subscribe("tree/#", 0)
    sub.subscribe("end/marker", 0)
    pub = clients()
    for topic in ("wild/kitchen/temp", "wild/a/b/temp", "tree", "tree/x/y", "other/x"):
        pub.publish(topic, topic.encode(), 1)
    pub.publish("end/marker", b"end", 1)
    got = []
    while True:
        m = sub.get()
        if m.topic == "end/marker":
            break
        got.append(m.topic)
    # MQTT-4.7.1-2: "#" also matches the parent level; "+" matches exactly one level.
    assert sorted(got) == ["tree", "tree/x/y", "wild/kitchen/temp"]


def test_MQTT_3_3_1_6_retained_message_goes_to_later_subscriber_with_retain_flag(clients):
    topic = unique("retained")
    pub = clients()
    pub.publish(topic, b"kept", 1, retain=True)
    sub = clients()
    sub.subscribe(topic, 1)
    msg = sub.get()
    assert msg.payload == b"kept"
    assert msg.retain
    # Live delivery to an existing subscriber has the retain flag cleared (MQTT-3.3.1-9).
    pub.publish(topic, b"live", 1, retain=True)
    msg = sub.get()
    assert msg.payload == b"live"
    assert not msg.retain


def test_MQTT_3_3_1_10_empty_retained_payload_clears_retained_message(clients):
    topic = unique("clear")
    pub = clients()
    pub.publish(topic, b"old", 1, retain=True)
    pub.publish(topic, b"", 1, retain=True)
    sub = clients()
    sub.subscribe(topic, 1)
    sub.assert_no_message()


def test_MQTT_3_1_2_8_will_published_when_client_connection_drops(clients):
    watcher = clients()
    watcher.subscribe("wills/#", 1)
    dying = clients(will=("wills/dying", b"gone", 1, False))
    dying.kill()
    msg = watcher.get()
    assert msg.topic == "wills/dying"
    assert msg.payload == b"gone"


def test_MQTT_3_1_2_10_will_not_published_after_clean_disconnect(clients):
    watcher = clients()
    watcher.subscribe("wills/#", 1)
    polite = clients(will=("wills/polite", b"should not appear", 1, False))
    polite.disconnect()
    # A later message proves the watcher would have seen the will by now.
    clients().publish("wills/marker", b"m", 1)
    assert watcher.get().topic == "wills/marker"
    watcher.assert_no_message()


def test_persistent_session_receives_qos1_messages_published_while_offline(clients):
    cid = "persist-" + uuid.uuid4().hex[:8]
    topic = unique("offline")
    first = clients(client_id=cid, clean_session=False)
    first.subscribe(topic, 1)
    first.disconnect()
    pub = clients()
    for i in range(3):
        pub.publish(topic, b"while-away-%d" % i, 1)
    again = clients(client_id=cid, clean_session=False)
    got = [again.get().payload for _ in range(3)]
    assert got == [b"while-away-%d" % i for i in range(3)]


def test_MQTT_3_2_2_2_session_present_set_for_resumed_session(clients):
    cid = "present-" + uuid.uuid4().hex[:8]
    a = clients(client_id=cid, clean_session=False, connect=False)
    flags = a.connect()
    assert not flags.session_present
    a.disconnect()
    b = clients(client_id=cid, clean_session=False, connect=False)
    flags = b.connect()
    assert flags.session_present


def test_MQTT_3_1_2_6_clean_session_discards_queued_messages(clients):
    cid = "cleaned-" + uuid.uuid4().hex[:8]
    topic = unique("discard")
    first = clients(client_id=cid, clean_session=False)
    first.subscribe(topic, 1)
    first.disconnect()
    clients().publish(topic, b"lost", 1)
    again = clients(client_id=cid, clean_session=True)
    again.assert_no_message()


def test_mqtt_3_1_protocol_works(clients):
    sub = clients(protocol=mqtt.MQTTv31)
    sub.subscribe("v31/t", 2)
    pub = clients(protocol=mqtt.MQTTv31)
    pub.publish("v31/t", b"old protocol", 2)
    msg = sub.get()
    assert msg.payload == b"old protocol"
    assert msg.qos == 2


def test_MQTT_3_1_4_2_second_client_with_same_id_takes_over_session(clients):
    cid = "takeover-" + uuid.uuid4().hex[:8]
    first = clients(client_id=cid)
    second = clients(client_id=cid)
    assert first.disconnected.wait(WAIT), "first client was not disconnected"
    # The new connection stays usable.
    second.subscribe("takeover/t", 1)
    clients().publish("takeover/t", b"to second", 1)
    assert second.get().payload == b"to second"
    assert not second.disconnected.is_set()


def _drain(c, wait=0.5):
    """The payloads c receives until none comes for wait seconds."""
    out = []
    while True:
        try:
            out.append(c.messages.get(timeout=wait).payload)
        except queue.Empty:
            return out


def test_shared_subscription_gives_each_message_to_one_member_round_robin(clients):
    topic = unique("share")
    members = [clients() for i in range(2)]
    for m in members:
        assert [c.value for c in m.subscribe("$share/workers/" + topic, 1)] == [1]
    plain = clients()
    plain.subscribe(topic, 1)
    pub = clients()
    for i in range(6):
        pub.publish(topic, b"%d" % i, 1)
    assert [_drain(m) for m in members] == [[b"0", b"2", b"4"], [b"1", b"3", b"5"]]
    assert len(_drain(plain)) == 6
    members[0].disconnect()  # the group goes on with the member left
    pub.publish(topic, b"after", 1)
    assert _drain(members[1]) == [b"after"]

