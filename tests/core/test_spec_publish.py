"""MQTT 3.1.1 section 3.3 (PUBLISH) and 2.3.1 (packet identifiers): Server-side statements."""

import mqttc
from harness import Harness, assert_closed_for_violation, violation


def test_MQTT_2_3_1_1_publish_qos1_and_qos2_need_nonzero_packet_id():
    violation(mqttc.publish("a", b"x", qos=1, pid=0))
    violation(mqttc.publish("a", b"x", qos=2, pid=0))


def test_MQTT_2_3_1_1_subscribe_and_unsubscribe_need_nonzero_packet_id():
    violation(mqttc.subscribe(0, [("a", 0)]))
    violation(mqttc.unsubscribe(0, ["a"]))


def test_MQTT_2_3_1_4_server_publish_packet_ids_are_unused_and_nonzero():
    h = Harness()
    s = h.subscriber("s", "ids", 1)
    p = h.connected("p")
    for i in range(5):
        p.publish("ids", b"%d" % i, qos=1, pid=i + 1)
    got = s.publishes()
    assert len(got) == 5
    pids = [x.pid for x in got]
    assert 0 not in pids and len(set(pids)) == 5, pids
    # Acknowledge two; the next ids must not collide with the three still in flight.
    s.send(mqttc.puback(pids[0]) + mqttc.puback(pids[1]))
    for i in range(3):
        p.publish("ids", b"n%d" % i, qos=1, pid=10 + i)
    more = [x.pid for x in s.publishes()]
    assert len(more) == 3 and 0 not in more
    for x in more:
        assert x not in pids[2:], (pids, more)
    assert len(set(more)) == 3


def test_MQTT_2_3_1_5_qos0_publish_from_server_has_no_packet_id():
    h = Harness()
    s = h.subscriber("s", "z", 0)
    p = h.connected("p")
    payload = b"\x00\x07xyz"
    p.publish("z", payload, qos=0)
    assert s.read() == mqttc.publish("z", payload)
    # Downgraded from QoS 1 to the subscription's QoS 0: still no packet id.
    p.publish("z", payload, qos=1, pid=77)
    assert s.read() == mqttc.publish("z", payload)


def test_MQTT_2_3_1_6_acks_carry_the_publish_packet_id():
    h = Harness()
    c = h.connected("acks")
    assert c.answer(mqttc.publish("a", b"1", qos=1, pid=0x1234)) == b"\x40\x02\x12\x34"
    assert c.answer(mqttc.publish("a", b"2", qos=2, pid=0xBEEF)) == b"\x50\x02\xbe\xef"
    assert c.answer(mqttc.pubrel(0xBEEF)) == b"\x70\x02\xbe\xef"


def test_MQTT_2_3_1_6_server_pubrel_carries_its_publish_packet_id():
    h = Harness()
    s = h.subscriber("s", "q2", 2)
    p = h.connected("p")
    p.publish("q2", b"m", qos=2, pid=5)
    pub = s.publishes()[0]
    s.send(mqttc.pubrec(pub.pid))
    rel = s.only(mqttc.PUBREL)
    assert rel.pid == pub.pid


def _dup_forwarded(sub_qos):
    """(qos, dup) of what a subscriber at sub_qos gets of a QoS 1 PUBLISH with DUP 1."""
    h = Harness()
    s = h.subscriber("s", "d", sub_qos)
    h.connected("p").publish("d", b"m", qos=1, pid=3, dup=True)
    return [(x.qos, x.dup) for x in s.publishes()]


def test_MQTT_3_3_1_2_server_qos0_delivery_has_dup_0():
    assert _dup_forwarded(0) == [(0, 0)]


def test_MQTT_3_3_1_2_incoming_qos0_with_dup_is_rejected():
    h, c = violation(mqttc.publish("a", b"x", qos=0, dup=True))


def test_MQTT_3_3_1_3_outgoing_dup_set_independently_of_incoming():
    assert _dup_forwarded(1) == [(1, 0)]


def test_MQTT_3_3_1_4_publish_qos_3_closes():
    h = Harness()
    s = h.subscriber("s", "a", 0)
    c = h.connected("q3")
    m = h.mark()
    c.send(mqttc.packet(0x36, mqttc.mstr("a") + mqttc.u16(1) + b"x"))
    assert_closed_for_violation(h, c, m, "q3")
    assert s.publishes() == []


def test_MQTT_3_3_2_1_topic_name_must_be_valid_utf8():
    for bad in (b"a\xc0\x80", b"\xed\xa0\x80", b"a\xff", b"\xe2\x82"):
        violation(mqttc.publish(bad, b"x"))


def test_MQTT_3_3_2_1_topic_name_must_be_present():
    violation(mqttc.packet(0x30, b"\x00"))
    violation(mqttc.packet(0x32, b"\x00\x05ab"))


def test_MQTT_3_3_2_2_topic_name_must_not_contain_wildcards():
    for bad in ("a/+", "#", "a/#", "+", "a+b", "sport/tennis#"):
        violation(mqttc.publish(bad, b"x"))


def test_MQTT_3_3_2_3_delivered_topic_name_is_the_published_name():
    h = Harness()
    s = h.subscriber("s", "a/+/c", 0)
    s2 = h.subscriber("s2", "a/#", 0)
    p = h.connected("p")
    p.publish("a/b/c", b"m")
    assert [x.topic for x in s.publishes()] == [b"a/b/c"]
    assert [x.topic for x in s2.publishes()] == [b"a/b/c"]


def test_MQTT_3_3_4_1_response_depends_on_qos():
    h = Harness()
    c = h.connected("r")
    c.send(mqttc.publish("a", b"0"))
    assert c.read() == b""
    c.send(mqttc.publish("a", b"1", qos=1, pid=1))
    assert c.only(mqttc.PUBACK).pid == 1
    c.send(mqttc.publish("a", b"2", qos=2, pid=2))
    assert c.only(mqttc.PUBREC).pid == 2
    c.send(mqttc.pubrel(2))
    assert c.only(mqttc.PUBCOMP).pid == 2
    assert not c.closing


def test_message_size_limit_drops_oversized_publish_but_acknowledges_it():
    h = Harness(message_size_limit=100)
    s = h.subscriber("s", "big", 2)
    p = h.connected("p")
    p.publish("big", b"x" * 100, qos=1, pid=1)
    got = s.publishes()
    assert [len(x.payload) for x in got] == [100]
    s.ack(got[0])
    # One byte over: QoS 1 still gets its PUBACK, but nothing is delivered.
    assert p.publish("big", b"y" * 101, qos=1, pid=2)[0].type == mqttc.PUBACK
    assert s.publishes() == []
    p.publish("big", b"y" * 101, qos=0)
    assert s.publishes() == []
    # QoS 2 completes its flow too.
    p.publish("big", b"y" * 101, qos=2, pid=3)
    assert s.publishes() == []
    assert not p.closing
    # Oversized retained messages are not stored either.
    p.publish("big", b"r" * 101, qos=0, retain=True)
    late = h.connected("late")
    late.subscribe([("big", 0)])
    assert [x for x in late.extra if x.type == mqttc.PUBLISH] == []
