"""MQTT 3.1.1 sections 3.8-3.11 (SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK) and 3.3.5."""

import mqttc
from mqttc import u16, mstr, packet
from harness import Harness, assert_closed_for_violation


def _violation(data, cid="sv"):
    """A connected client sends data; assert the broker closes it and logs the reason."""
    h = Harness()
    c = h.connected(cid)
    m = h.mark()
    c.send(data)
    for p in c.packets():
        assert p.type not in (mqttc.SUBACK, mqttc.UNSUBACK), "answered %r" % p
    assert_closed_for_violation(h, c, m, cid)


def _payloads(c):
    return [p.payload for p in c.publishes()]


def _delivered(filters, topic, qos):
    """What a client subscribed to filters (pairs (filter, qos), each granted) gets of one
    PUBLISH of b"m" to topic at qos."""
    h = Harness()
    s = h.connected("s")
    assert s.subscribe(filters) == [q for f, q in filters]
    h.connected("p").publish(topic, b"m", qos=qos, pid=1)
    return s.publishes()


def test_MQTT_3_3_5_1_overlapping_subscriptions_one_copy_at_max_qos():
    got = _delivered([("o/+", 0), ("o/#", 2), ("o/x", 1)], "o/x", 2)
    assert len(got) == 1, got
    assert got[0].qos == 2 and got[0].payload == b"m"


def test_MQTT_3_3_5_1_overlapping_subscriptions_capped_by_publish_qos():
    got = _delivered([("o/+", 1), ("o/#", 2)], "o/x", 1)
    assert len(got) == 1 and got[0].qos == 1


def test_MQTT_3_8_1_1_subscribe_reserved_flags_must_be_0010():
    for fb in (0x80, 0x81, 0x83, 0x8A):
        _violation(mqttc.subscribe(1, [("a", 0)], first_byte=fb))


def test_MQTT_3_8_3_1_topic_filter_must_be_valid_utf8():
    for bad in (b"a\xc0\x80", b"\xed\xa0\x80", b"a/\xff", b"a\x00b"):
        _violation(mqttc.subscribe(1, [(bad, 0)]))


def test_MQTT_3_8_3_2_wildcard_filters_are_supported():
    got = _delivered([("w/+/x", 1), ("w/#", 0)], "w/a/x", 1)
    assert len(got) == 1 and got[0].qos == 1


def test_MQTT_3_8_3_3_subscribe_without_payload_closes():
    _violation(packet(0x82, u16(1)))


def test_MQTT_3_8_3_4_requested_qos_reserved_bits_or_qos_3_close():
    for q in (3, 0x04, 0x80, 0xFC, 0x41):
        _violation(mqttc.subscribe(1, [("a", q)]))


def test_MQTT_3_8_3_4_topic_filter_without_qos_byte_closes():
    _violation(packet(0x82, u16(1) + mstr("a")))


def test_MQTT_3_8_4_1_and_3_8_4_2_suback_with_same_packet_id():
    h = Harness()
    c = h.connected("s")
    c.send(mqttc.subscribe(0xA1B2, [("x", 1)]))
    assert c.read() == b"\x90\x03\xa1\xb2\x01"


def test_MQTT_3_8_4_3_resubscribe_replaces_subscription_qos():
    h = Harness()
    s = h.connected("s")
    assert s.subscribe([("r/x", 2)]) == [2]
    assert s.subscribe([("r/x", 0)], pid=2) == [0]
    p = h.connected("p")
    p.publish("r/x", b"m", qos=2, pid=1)
    got = s.publishes()
    # Replaced, not added: one copy at the new QoS.
    assert len(got) == 1 and got[0].qos == 0


def test_MQTT_3_8_4_3_resubscribe_resends_retained_messages():
    h = Harness()
    p = h.connected("p")
    p.publish("r/y", b"kept", retain=True)
    s = h.connected("s")
    s.subscribe([("r/+", 0)])
    assert [x.payload for x in s.extra] == [b"kept"]
    s.subscribe([("r/+", 1)], pid=2)
    again = [x for x in s.extra if x.type == mqttc.PUBLISH]
    assert [(x.payload, x.retain) for x in again] == [(b"kept", 1)]


def test_MQTT_3_8_4_3_resubscribe_does_not_interrupt_inflight_flow():
    h = Harness()
    s = h.connected("s")
    assert s.subscribe([("f", 1)]) == [1]
    p = h.connected("p")
    p.publish("f", b"one", qos=1, pid=1)
    first = s.publishes()[0]
    assert s.subscribe([("f", 1)], pid=2) == [1]
    s.send(mqttc.puback(first.pid))
    p.publish("f", b"two", qos=1, pid=2)
    assert _payloads(s) == [b"two"]
    assert not s.closing


def test_MQTT_3_8_4_4_multiple_filters_handled_as_sequence():
    h = Harness()
    s = h.connected("s")
    # The same filter twice: the later request wins, as with two SUBSCRIBE packets.
    assert s.subscribe([("m/a", 2), ("m/b", 1), ("m/a", 1)]) == [2, 1, 1]
    p = h.connected("p")
    p.publish("m/a", b"a", qos=2, pid=1)
    p.publish("m/b", b"b", qos=2, pid=2)
    got = s.publishes()
    assert [(x.payload, x.qos) for x in got] == [(b"a", 1), (b"b", 1)]


def test_MQTT_3_8_4_5_and_3_9_3_1_one_return_code_per_filter_in_order():
    h = Harness()
    s = h.connected("s")
    assert s.subscribe([("a", 2), ("b", 0), ("c", 1), ("d/#", 2)]) == [2, 0, 1, 2]


def test_MQTT_3_8_4_6_delivered_qos_is_min_of_publish_and_granted():
    h = Harness()
    subs = {}
    for g in (0, 1, 2):
        subs[g] = h.subscriber("s%d" % g, "q", g)
    p = h.connected("p")
    for q in (0, 1, 2):
        p.publish("q", b"%d" % q, qos=q, pid=(q + 1) if q else None)
        for g in (0, 1, 2):
            got = subs[g].publishes()
            assert len(got) == 1, (q, g, got)
            assert got[0].qos == min(q, g), (q, g, got[0])
            subs[g].ack(got[0])


def test_MQTT_3_9_3_2_suback_codes_only_0_1_2_or_0x80():
    h = Harness()
    s = h.connected("s")
    codes = s.subscribe([("a", 0), ("b/+", 1), ("#", 2), ("$SYS/#", 0)])
    for code in codes:
        assert code in (0, 1, 2, 0x80), codes
    assert codes[:3] == [0, 1, 2]


def test_MQTT_3_10_1_1_unsubscribe_reserved_flags_must_be_0010():
    for fb in (0xA0, 0xA1, 0xA3, 0xAA):
        _violation(mqttc.unsubscribe(1, ["a"], first_byte=fb))


def test_MQTT_3_10_3_1_unsubscribe_filter_must_be_valid_utf8():
    for bad in (b"a\xc0\x80", b"\xed\xa0\x80", b"a\x00"):
        _violation(mqttc.unsubscribe(1, [bad]))


def test_MQTT_3_10_3_2_unsubscribe_without_payload_closes():
    _violation(packet(0xA2, u16(1)))


def test_MQTT_3_10_4_1_filters_compared_character_by_character():
    h = Harness()
    s = h.connected("s")
    assert s.subscribe([("u/b", 0)]) == [0]
    # "u/+" matches u/b as a filter but is not the same filter: nothing is removed.
    s.send(mqttc.unsubscribe(1, ["u/+", "U/b", "u/b/"]))
    assert s.only(mqttc.UNSUBACK).pid == 1
    p = h.connected("p")
    p.publish("u/b", b"still")
    assert _payloads(s) == [b"still"]
    s.send(mqttc.unsubscribe(2, ["u/b"]))
    assert s.only(mqttc.UNSUBACK).pid == 2
    p.publish("u/b", b"gone")
    assert _payloads(s) == []


def test_MQTT_3_10_4_2_unsubscribed_filter_gets_no_new_messages():
    h = Harness()
    s = h.connected("s")
    s.subscribe([("g/#", 1)])
    s.send(mqttc.unsubscribe(3, ["g/#"]))
    assert s.only(mqttc.UNSUBACK).pid == 3
    p = h.connected("p")
    p.publish("g/x", b"m", qos=1, pid=1)
    assert s.packets() == []


def _in_flight_unsubscribed(qos, clean=True):
    """A client s subscribed to "k" at qos got a message at that qos, then unsubscribed
    before acknowledging it; (harness, s, the PUBLISH it got)."""
    h = Harness()
    s = h.connected("s", clean=clean)
    s.subscribe([("k", qos)])
    h.connected("p").publish("k", b"m", qos=qos, pid=1)
    pub = s.publishes()[0]
    s.send(mqttc.unsubscribe(4, ["k"]))
    assert s.only(mqttc.UNSUBACK).pid == 4
    return h, s, pub


def test_MQTT_3_10_4_3_inflight_qos2_completes_after_unsubscribe():
    h, s, pub = _in_flight_unsubscribed(2)
    s.send(mqttc.pubrec(pub.pid))
    assert s.only(mqttc.PUBREL).pid == pub.pid
    s.send(mqttc.pubcomp(pub.pid))
    assert s.packets() == [] and not s.closing


def test_MQTT_3_10_4_3_inflight_qos1_resent_after_unsubscribe_and_reconnect():
    h, s, pub = _in_flight_unsubscribed(1, clean=False)
    s.drop()
    s2 = h.client()
    ack = s2.connect("s", clean=False)
    assert ack.session_present == 1
    again = [x for x in s2.after_connack + s2.packets() if x.type == mqttc.PUBLISH]
    assert [(x.payload, x.pid, x.dup) for x in again] == [(b"m", pub.pid, 1)]


def test_MQTT_3_10_4_4_unsuback_with_same_packet_id():
    h = Harness()
    c = h.connected("s")
    c.subscribe([("x", 0)])
    c.send(mqttc.unsubscribe(0x0102, ["x"]))
    assert c.read() == b"\xb0\x02\x01\x02"


def test_MQTT_3_10_4_5_unsuback_even_when_nothing_was_subscribed():
    h = Harness()
    c = h.connected("s")
    c.send(mqttc.unsubscribe(9, ["never/subscribed"]))
    assert c.read() == b"\xb0\x02\x00\x09"


def test_MQTT_3_10_4_6_multiple_filters_one_unsuback():
    h = Harness()
    s = h.connected("s")
    s.subscribe([("a", 0), ("b", 0), ("c", 0)])
    s.send(mqttc.unsubscribe(5, ["a", "nope", "c"]))
    assert s.only(mqttc.UNSUBACK).pid == 5
    p = h.connected("p")
    for t in ("a", "b", "c"):
        p.publish(t, t)
    assert _payloads(s) == [b"b"]


def test_invalid_topic_filter_in_subscribe_closes():
    for bad in ("a/#/b", "a#", "#/a", "a+", "+a/b", "a/b+", "", "##"):
        _violation(mqttc.subscribe(1, [(bad, 0)]))
