"""MQTT 3.1.1 sections 4.3 (QoS flows), 4.5, 4.6 (ordering) and the in-flight window."""

import mqttc
from harness import Harness, assert_closed_for_violation


def _payloads(pkts):
    return [p.payload for p in pkts]


def test_MQTT_4_3_1_1_qos0_sent_with_qos0_and_dup0():
    h = Harness()
    s = h.subscriber("s", "t", 2)
    p = h.connected("p")
    p.publish("t", b"m", qos=0)
    got = s.publishes()
    assert len(got) == 1 and got[0].qos == 0 and got[0].dup == 0 and got[0].pid is None


def test_MQTT_4_3_2_1_qos1_unacknowledged_until_puback():
    h = Harness()
    s = h.subscriber("s", "t", 1, clean=False)
    p = h.connected("p")
    p.publish("t", b"acked", qos=1, pid=1)
    p.publish("t", b"unacked", qos=1, pid=2)
    got = s.publishes()
    assert [(x.qos, x.dup) for x in got] == [(1, 0), (1, 0)]
    assert got[0].pid != got[1].pid
    s.send(mqttc.puback(got[0].pid))
    s.drop()
    s2 = h.client()
    assert s2.connect("s", clean=False).session_present == 1
    again = [x for x in s2.after_connack + s2.packets() if x.type == mqttc.PUBLISH]
    # Only the message never acknowledged is sent again.
    assert [(x.payload, x.pid, x.dup) for x in again] == [(b"unacked", got[1].pid, 1)]


def test_MQTT_4_3_2_2_server_acks_qos1_and_treats_same_id_after_puback_as_new():
    h = Harness()
    s = h.subscriber("s", "t", 0)
    p = h.connected("p")
    assert p.answer(mqttc.publish("t", b"one", qos=1, pid=7)) == mqttc.puback(7)
    p.send(mqttc.publish("t", b"two", qos=1, pid=7, dup=True))
    assert p.only(mqttc.PUBACK).pid == 7
    assert _payloads(s.publishes()) == [b"one", b"two"]


def test_MQTT_4_3_3_1_qos2_server_sender_flow():
    h = Harness()
    s = h.subscriber("s", "t", 2, clean=False)
    p = h.connected("p")
    p.publish("t", b"m", qos=2, pid=1)
    pub = s.publishes()[0]
    assert pub.qos == 2 and pub.dup == 0 and pub.pid
    s.send(mqttc.pubrec(pub.pid))
    rel = s.only(mqttc.PUBREL)
    assert rel.pid == pub.pid
    # After PUBREL the server must never send the PUBLISH again, only PUBREL.
    s.drop()
    s2 = h.client()
    assert s2.connect("s", clean=False).session_present == 1
    again = s2.after_connack + s2.packets()
    assert [(x.type, x.pid) for x in again] == [(mqttc.PUBREL, pub.pid)], again
    s2.send(mqttc.pubcomp(pub.pid))
    assert s2.packets() == [] and not s2.closing


def test_MQTT_4_3_3_2_qos2_duplicate_before_pubrel_delivered_once():
    h = Harness()
    s = h.subscriber("s", "t", 2)
    p = h.connected("p")
    assert p.answer(mqttc.publish("t", b"once", qos=2, pid=9)) == mqttc.pubrec(9)
    p.send(mqttc.publish("t", b"once", qos=2, pid=9, dup=True))
    assert p.only(mqttc.PUBREC).pid == 9
    assert p.answer(mqttc.pubrel(9)) == mqttc.pubcomp(9)
    got = s.publishes()
    assert _payloads(got) == [b"once"]
    s.ack(got[0])
    # After PUBCOMP the same id starts a new message.
    p.publish("t", b"again", qos=2, pid=9)
    assert _payloads(s.publishes()) == [b"again"]


def test_MQTT_4_3_3_2_qos2_duplicate_after_reconnect_delivered_once():
    h = Harness()
    s = h.subscriber("s", "t", 0)
    p = h.connected("p", clean=False)
    assert p.answer(mqttc.publish("t", b"once", qos=2, pid=4)) == mqttc.pubrec(4)
    p.drop()
    p2 = h.client()
    assert p2.connect("p", clean=False).session_present == 1
    assert p2.answer(mqttc.publish("t", b"once", qos=2, pid=4, dup=True)) == mqttc.pubrec(4)
    assert s.publishes() == []  # kept in the session until its PUBREL
    assert p2.answer(mqttc.pubrel(4)) == mqttc.pubcomp(4)
    assert _payloads(s.publishes()) == [b"once"]


def test_MQTT_4_3_3_2_pubrel_for_unknown_id_gets_pubcomp():
    h = Harness()
    c = h.connected("c")
    c.send(mqttc.pubrel(321))
    assert c.only(mqttc.PUBCOMP).pid == 321
    assert not c.closing


def test_MQTT_4_5_0_1_every_matching_subscriber_gets_a_copy():
    h = Harness()
    subs = [h.subscriber("s%d" % i, f, 1) for i, f in enumerate(("e/x", "e/+", "#", "e/#"))]
    other = h.subscriber("o", "e/y", 1)
    p = h.connected("p")
    p.publish("e/x", b"m", qos=1, pid=1)
    for s in subs:
        assert _payloads(s.publishes()) == [b"m"]
    assert other.publishes() == []


def test_MQTT_4_6_0_5_and_4_6_0_6_ordered_delivery_per_publisher():
    h = Harness()
    s = h.subscriber("s", "ord/#", 2)
    p = h.connected("p")
    for qos in (0, 1, 2):
        sent = []
        for i in range(12):
            body = ("%d-%d" % (qos, i)).encode()
            sent.append(body)
            p.publish("ord/t", body, qos=qos, pid=(i + 1) if qos else None)
        got = s.publishes()
        assert _payloads(got) == sent, (qos, _payloads(got))
        for x in got:
            s.ack(x)


def _published(n, sub_qos, **settings):
    """A subscriber s to "w" at sub_qos and a publisher p that sent it b"0", b"1", ... (n
    messages at QoS 1, ids 1 to n) on a broker with settings; (harness, s, p)."""
    h = Harness(**settings)
    s = h.subscriber("s", "w", sub_qos)
    p = h.connected("p")
    for i in range(n):
        p.publish("w", b"%d" % i, qos=1, pid=i + 1)
    return h, s, p


def _drain(s, per_batch=None):
    """What s receives while it acknowledges each batch it gets (each of per_batch
    messages when given), until a batch is empty."""
    got = []
    for _ in range(10):
        batch = s.publishes()
        if not batch:
            break
        assert per_batch is None or len(batch) == per_batch
        got += batch
        for x in batch:
            s.ack(x)
    return got


def test_MQTT_4_6_0_6_order_kept_through_inflight_window():
    h, s, p = _published(6, 1, max_inflight_messages=2)
    assert _payloads(_drain(s)) == [b"0", b"1", b"2", b"3", b"4", b"5"]


def test_max_inflight_messages_bounds_unacknowledged_messages():
    h, s, p = _published(5, 2, max_inflight_messages=2)
    first = s.publishes()
    assert _payloads(first) == [b"0", b"1"]
    s.send(mqttc.puback(first[0].pid))
    nxt = s.publishes()
    assert _payloads(nxt) == [b"2"]
    # QoS 2 counts as in flight until PUBCOMP, not PUBREC.
    p.publish("w", b"q2", qos=2, pid=20)
    s.send(mqttc.puback(first[1].pid))
    s.send(mqttc.puback(nxt[0].pid))
    more = s.publishes()
    assert _payloads(more) == [b"3", b"4"]
    s.send(mqttc.puback(more[0].pid))
    q2 = s.publishes()
    assert _payloads(q2) == [b"q2"]
    s.send(mqttc.pubrec(q2[0].pid))
    assert s.only(mqttc.PUBREL).pid == q2[0].pid
    p.publish("w", b"after", qos=1, pid=21)
    assert s.publishes() == []  # window full: "4" and "q2" (awaiting PUBCOMP)
    s.send(mqttc.pubcomp(q2[0].pid))
    assert _payloads(s.publishes()) == [b"after"]


def test_max_queued_messages_drops_new_messages_beyond_queue():
    h, s, p = _published(5, 1, max_inflight_messages=1, max_queued_messages=2)
    assert _payloads(_drain(s, 1)) == [b"0", b"1", b"2"]
    assert not p.closing and not s.closing


def test_max_queued_messages_applies_to_offline_session():
    h = Harness(max_queued_messages=3)
    s = h.subscriber("s", "w", 1, clean=False)
    s.drop()
    p = h.connected("p")
    for i in range(6):
        p.publish("w", b"%d" % i, qos=1, pid=i + 1)
    s2 = h.client()
    assert s2.connect("s", clean=False).session_present == 1
    got = [x for x in s2.after_connack + s2.packets() if x.type == mqttc.PUBLISH]
    assert _payloads(got) == [b"0", b"1", b"2"]


def _delivered(qos):
    """A subscriber with one QoS qos message delivered to it and not yet acknowledged."""
    h = Harness()
    s = h.subscriber("s", "t", qos)
    h.connected("p").publish("t", b"m", qos=qos, pid=1)
    return h, s, s.publishes()[0].pid


def _closed_for(h, s, data):
    mark = h.mark()
    s.send(data)
    assert_closed_for_violation(h, s, mark, "'s'")


def test_puback_for_a_qos2_delivery_closes_the_connection():
    h, s, pid = _delivered(2)
    _closed_for(h, s, mqttc.puback(pid))


def test_pubrec_for_a_qos1_delivery_closes_the_connection_without_pubrel():
    h, s, pid = _delivered(1)
    _closed_for(h, s, mqttc.pubrec(pid))
    assert [p for p in s.packets() if p.type == mqttc.PUBREL] == []


def test_pubcomp_for_a_qos1_delivery_closes_the_connection():
    h, s, pid = _delivered(1)
    _closed_for(h, s, mqttc.pubcomp(pid))


def test_pubcomp_before_pubrec_closes_the_connection():
    h, s, pid = _delivered(2)
    _closed_for(h, s, mqttc.pubcomp(pid))


def test_puback_in_reply_to_pubrel_closes_the_connection():
    h, s, pid = _delivered(2)
    s.send(mqttc.pubrec(pid))
    assert s.only(mqttc.PUBREL).pid == pid
    _closed_for(h, s, mqttc.puback(pid))


def test_acknowledgement_of_an_unknown_packet_id_is_ignored_as_mosquitto_does():
    h, s, pid = _delivered(1)
    s.send(mqttc.puback(pid + 100))
    s.send(mqttc.pubcomp(pid + 100))
    assert not s.closing
    s.send(mqttc.puback(pid))
    assert not s.closing


def _kept_q2(payload, pid, **settings):
    """A QoS 2 subscriber s to "t" and a publisher p whose QoS 2 PUBLISH of payload with pid
    got its PUBREC and no PUBREL yet; (harness, s, p)."""
    h = Harness(**settings)
    s = h.subscriber("s", "t", 2)
    p = h.connected("p")
    p.send(mqttc.publish("t", payload, qos=2, pid=pid))
    assert p.only(mqttc.PUBREC).pid == pid
    return h, s, p


def test_MQTT_4_3_3_2_qos2_delivered_when_pubrel_comes_as_mosquitto():
    # MQTT 3.1.1 lets the receiver deliver on PUBLISH or on PUBREL (4.3.3 method A or B);
    # mosquitto 2.0 delivers on PUBREL, and so does this broker
    h, s, p = _kept_q2(b"m", 3)
    assert s.publishes() == []
    late = h.subscriber("late", "t", 1)  # subscribed before PUBREL: it gets it too
    assert p.answer(mqttc.pubrel(3)) == mqttc.pubcomp(3)
    assert [(x.payload, x.qos) for x in s.publishes()] == [(b"m", 2)]
    assert [(x.payload, x.qos) for x in late.publishes()] == [(b"m", 1)]


def test_MQTT_4_3_3_2_qos2_resent_with_other_content_before_pubrel_replaces_it():
    # a reused id with another message: the later one is kept (mosquitto: "Reused message
    # ID ... detected"), still one delivery
    h, s, p = _kept_q2(b"first", 4)
    assert p.answer(mqttc.publish("t", b"second", qos=2, pid=4)) == mqttc.pubrec(4)
    p.send(mqttc.pubrel(4))
    assert [x.payload for x in s.publishes()] == [b"second"]


def test_qos2_retained_message_is_stored_when_pubrel_comes():
    h = Harness()
    p = h.connected("p")
    assert p.answer(mqttc.publish("r", b"kept", qos=2, retain=True, pid=5)) == mqttc.pubrec(5)
    before = h.connected("before")
    assert before.subscribe([("r", 2)]) == [2] and before.extra == []
    p.send(mqttc.pubrel(5))
    assert [(x.payload, x.retain) for x in before.publishes()] == [(b"kept", 0)]
    after = h.connected("after")
    after.subscribe([("r", 2)])
    assert [(x.payload, x.retain) for x in after.extra] == [(b"kept", 1)]


def test_qos2_of_a_clean_session_ended_before_pubrel_is_not_delivered():
    h, s, p = _kept_q2(b"lost", 6)
    p.drop()  # its session, with the message, ends with the connection (as mosquitto)
    p2 = h.connected("p")
    assert p2.answer(mqttc.pubrel(6)) == mqttc.pubcomp(6)
    assert s.publishes() == []


def test_qos2_publish_dropped_by_a_check_completes_its_flow_without_delivery():
    h, s, p = _kept_q2(b"too long", 8, message_size_limit=4)
    assert p.answer(mqttc.pubrel(8)) == mqttc.pubcomp(8)
    assert s.publishes() == [] and not p.closing
