"""MQTT 3.1.1 section 3.3.1.3 (RETAIN): Server-side statements."""

import mqttc
from harness import Harness


def _retained(h, flt, qos=0, cid="late"):
    """Retained PUBLISH packets a new subscriber to flt receives right after SUBACK."""
    c = h.connected(cid)
    assert c.subscribe([(flt, qos)]) == [qos]
    return [p for p in c.extra + c.packets() if p.type == mqttc.PUBLISH]


def test_MQTT_3_3_1_5_retained_message_and_qos_stored():
    h = Harness()
    p = h.connected("p")
    p.publish("r/q1", b"one", qos=1, retain=True, pid=1)
    p.publish("r/q2", b"two", qos=2, retain=True, pid=2)
    got = _retained(h, "r/q1", 2, "a")
    assert [(x.payload, x.qos, x.retain) for x in got] == [(b"one", 1, 1)]
    got = _retained(h, "r/q2", 2, "b")
    assert [(x.payload, x.qos, x.retain) for x in got] == [(b"two", 2, 1)]
    # Capped by the subscription's granted QoS.
    got = _retained(h, "r/q2", 0, "c")
    assert [(x.payload, x.qos) for x in got] == [(b"two", 0)]


def test_MQTT_3_3_1_6_new_subscription_gets_last_retained_per_matching_topic():
    h = Harness()
    p = h.connected("p")
    p.publish("m/a", b"a1", retain=True)
    p.publish("m/a", b"a2", retain=True)
    p.publish("m/b", b"b1", retain=True)
    p.publish("n/c", b"c1", retain=True)
    got = _retained(h, "m/+")
    assert sorted([(x.topic, x.payload) for x in got]) == [(b"m/a", b"a2"), (b"m/b", b"b1")]


def test_MQTT_3_3_1_7_qos0_retained_replaces_previous_retained():
    h = Harness()
    p = h.connected("p")
    p.publish("r", b"old", qos=1, retain=True, pid=1)
    p.publish("r", b"new", qos=0, retain=True)
    got = _retained(h, "r", 1)
    assert [(x.payload, x.qos) for x in got] == [(b"new", 0)]


def test_MQTT_3_3_1_8_retained_delivery_on_subscribe_has_retain_1():
    h = Harness()
    p = h.connected("p")
    p.publish("r", b"kept", retain=True)
    got = _retained(h, "#")
    assert [(x.payload, x.retain) for x in got] == [(b"kept", 1)]


def test_MQTT_3_3_1_9_delivery_to_established_subscription_has_retain_0():
    h = Harness()
    s = h.subscriber("s", "r", 1)
    p = h.connected("p")
    p.publish("r", b"live", qos=1, retain=True, pid=1)
    got = s.publishes()
    assert [(x.payload, x.retain) for x in got] == [(b"live", 0)]


def test_MQTT_3_3_1_10_empty_retained_is_delivered_and_clears_retained():
    h = Harness()
    p = h.connected("p")
    p.publish("r", b"kept", retain=True)
    s = h.subscriber("s", "r", 0)
    s.extra = []
    p.publish("r", b"", retain=True)
    got = s.publishes()
    assert [(x.payload, x.retain) for x in got] == [(b"", 0)]
    assert _retained(h, "r") == []


def test_MQTT_3_3_1_11_empty_retained_is_never_stored():
    h = Harness()
    p = h.connected("p")
    p.publish("e", b"", qos=1, retain=True, pid=1)
    assert _retained(h, "e", 1) == []
    assert _retained(h, "#", 1, "late2") == []


def test_MQTT_3_3_1_12_non_retained_publish_leaves_retained_alone():
    h = Harness()
    p = h.connected("p")
    p.publish("r", b"kept", retain=True)
    p.publish("r", b"transient")
    p.publish("r", b"", qos=1, pid=1)
    got = _retained(h, "r")
    assert [x.payload for x in got] == [b"kept"]
    p.publish("other", b"x")
    assert _retained(h, "other", 0, "late2") == []


def test_MQTT_3_1_2_7_retained_messages_outlive_the_session():
    h = Harness()
    p = h.connected("p")
    p.publish("keep/me", b"v", qos=1, retain=True, pid=1)
    p.disconnect()
    got = _retained(h, "keep/#")
    assert [(x.topic, x.payload) for x in got] == [(b"keep/me", b"v")]
