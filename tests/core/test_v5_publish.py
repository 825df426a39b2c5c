"""MQTT 5.0 PUBLISH between 3.1.1 and 5.0 clients, acknowledgements with reason codes,
flow control (Receive Maximum, section 4.9) and Maximum Packet Size toward a client."""

import mqttc
from mqttc import props
from harness import Harness, assert_closed_for_violation, violation5


def _pub5(h, cid="pub5"):
    return h.connected5(cid)


def test_a_v5_subscriber_gets_a_3_1_1_publish_with_an_empty_property_block():
    h = Harness()
    sub = h.connected5("sub5")
    assert sub.subscribe5([("t/#", 0)]) == [0]
    h.connected("pub4").publish("t/a", b"from 3.1.1")
    h.connected("pub4b").publish("t/b", b"qos0")
    data = sub.read()
    # topic, property length 0, payload
    assert data == b"\x30\x10\x00\x03t/a\x00from 3.1.1" + b"\x30\x0a\x00\x03t/b\x00qos0"


def test_a_3_1_1_subscriber_gets_a_v5_publish_without_its_properties():
    h = Harness()
    sub = h.subscriber("sub4", "t/#", 1)
    pub = h.connected5("pub5")
    pub.send(mqttc.publish5("t/a", b"hello", properties=props([(0x26, ("k", "v"))])))
    pub.send(mqttc.publish5("t/b", b"q1", qos=1, pid=9, properties=props([(0x03, "x")])))
    assert [(p.type, p.pid, p.rc) for p in pub.packets()] == [(mqttc.PUBACK, 9, 0)]
    pkts = sub.publishes()
    assert [(p.topic, p.payload, p.qos) for p in pkts] == [(b"t/a", b"hello", 0),
                                                            (b"t/b", b"q1", 1)]


def test_v5_to_v5_at_each_qos_and_retained():
    h = Harness()
    sub = h.connected5("sub5")
    sub.subscribe5([("t/#", 2)])
    pub = h.connected5("pub5")
    pub.send(mqttc.publish5("t/0", b"a"))
    pub.send(mqttc.publish5("t/1", b"b", qos=1, pid=1))
    pub.send(mqttc.publish5("t/2", b"c", qos=2, pid=2))
    assert [(p.type, p.rc) for p in pub.packets()] == [(mqttc.PUBACK, 0), (mqttc.PUBREC, 0)]
    pub.send(mqttc.ack5(0x62, 2))
    assert [(p.type, p.pid) for p in pub.packets()] == [(mqttc.PUBCOMP, 2)]
    got = sub.publishes()
    assert [(p.topic, p.payload, p.qos, p.props) for p in got] == [
        (b"t/0", b"a", 0, []), (b"t/1", b"b", 1, []), (b"t/2", b"c", 2, [])]
    sub.send(mqttc.ack5(0x40, got[1].pid) + mqttc.ack5(0x50, got[2].pid, 0, b"\x00"))
    assert [(p.type, p.pid) for p in sub.packets()] == [(mqttc.PUBREL, got[2].pid)]
    sub.send(mqttc.ack5(0x70, got[2].pid, 0))
    assert sub.conn.session.inflight == {}
    pub.send(mqttc.publish5("r/x", b"kept", qos=1, pid=3, retain=True))
    late = h.connected5("late")
    late.subscribe5([("r/#", 1)])
    assert [(p.topic, p.payload, p.retain, p.props) for p in late.extra] == \
        [(b"r/x", b"kept", 1, [])]


def test_a_v5_qos_0_publish_without_properties_reaches_v5_subscribers_as_it_was_sent():
    # one PUBLISH for every 5.0 subscriber (core/deliver.py route); a subscriber of a
    # mount point gets its own, with the topic shortened; a 3.1.1 one without the block
    h = Harness()
    subs = [h.connected5("s%d" % i) for i in range(2)]
    for s in subs:
        s.subscribe5([("site/t", 0)])
    m = h.client(h.mounted_listener("site/"))
    m.send(mqttc.connect5("m") + mqttc.subscribe5(1, [("t", 0)]))
    m.read()
    old = h.subscriber("old", "site/t", 0)
    sent = mqttc.publish5("site/t", b"same bytes")
    h.connected5("pub5").send(sent)
    assert [s.read() for s in subs] == [sent, sent]
    assert m.read() == mqttc.publish5("t", b"same bytes")
    assert [(p.topic, p.payload) for p in old.publishes()] == [(b"site/t", b"same bytes")]


def test_puback_0x10_no_matching_subscribers_as_mosquitto_pubrec_0():
    h = Harness()
    pub = h.connected5("pub5")
    assert pub.answer(mqttc.publish5("nobody", b"x", qos=1, pid=3)) == b"\x40\x03\x00\x03\x10"
    assert pub.answer(mqttc.publish5("nobody", b"x", qos=2, pid=4)) == b"\x50\x02\x00\x04"


def test_puback_0x00_when_the_subscribers_are_a_bridge_or_may_not_read_as_mosquitto():
    from core.acl import parse_acl
    h = Harness()
    br = h.client()
    br.decode = mqttc.decode5
    assert br.connect("br", level=0x85, properties=b"\x00").rc == 0  # try_private: a bridge
    assert br.subscribe5([("b", 1)]) == [1]
    h.connected5("sub").subscribe5([("secret", 1)])
    h.broker.acl = parse_acl("topic readwrite b\ntopic write secret\n")
    pub = h.connected5("pub5")
    assert pub.answer(mqttc.publish5("b", b"x", qos=1, pid=3)) == b"\x40\x02\x00\x03"
    assert [p.payload for p in br.publishes()] == [b"x"]
    assert pub.answer(mqttc.publish5("secret", b"x", qos=1, pid=4)) == b"\x40\x02\x00\x04"


def test_puback_0x87_when_acl_denies_and_for_dollar_topics():
    h = Harness()
    pub = h.connected5("pub5")
    pub.send(mqttc.publish5("$SYS/x", b"x", qos=1, pid=3))
    assert pub.read() == b"\x40\x03\x00\x03\x87"


def test_puback_0x95_over_message_size_limit():
    h = Harness(message_size_limit=4)
    h.connected5("sub").subscribe5([("a", 1)])
    pub = h.connected5("pub5")
    pub.send(mqttc.publish5("a", b"12345", qos=1, pid=3))
    assert pub.read() == b"\x40\x03\x00\x03\x95"


def test_MQTT_4_3_3_9_after_pubrec_0x80_or_more_the_same_id_is_a_new_message():
    h = Harness(message_size_limit=4)
    sub = h.connected5("sub")
    sub.subscribe5([("a", 2)])
    pub = h.connected5("pub5")
    pub.send(mqttc.publish5("a", b"12345", qos=2, pid=7))
    assert pub.read() == b"\x50\x03\x00\x07\x95"
    pub.send(mqttc.publish5("a", b"1234", qos=2, pid=7))
    assert [(p.type, p.rc) for p in pub.packets()] == [(mqttc.PUBREC, 0)]
    assert sub.publishes() == []  # delivered when its PUBREL comes
    pub.send(mqttc.ack5(0x62, 7))
    assert [(p.type, p.rc) for p in pub.packets()] == [(mqttc.PUBCOMP, 0)]
    assert [p.payload for p in sub.publishes()] == [b"1234"]


def test_pubrel_for_an_unknown_id_gets_pubcomp_0x00_as_mosquitto():
    h = Harness()
    pub = h.connected5("pub5")
    pub.send(mqttc.ack5(0x62, 77))
    assert pub.read() == b"\x70\x02\x00\x4d"


def test_MQTT_3_4_2_1_and_3_5_2_1_and_3_7_2_1_acknowledgements_use_their_reason_codes():
    # every code the broker writes on PUBACK / PUBREC / PUBCOMP is one of their tables
    # (PUBACK's and PUBREC's are the same; 0x95 is mosquitto's for message_size_limit)
    tables = {mqttc.PUBACK: (0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x95, 0x97, 0x99),
              mqttc.PUBCOMP: (0x00, 0x92)}
    tables[mqttc.PUBREC] = tables[mqttc.PUBACK]
    h = Harness(message_size_limit=3)
    h.connected5("sub").subscribe5([("s", 1)])
    pub = h.connected5("pub5")
    for i, (t, payload) in enumerate((("s", b"x"), ("none", b"x"), ("$x", b"x"),
                                      ("s", b"long"))):
        pub.send(mqttc.publish5(t, payload, qos=1, pid=i + 1))
        pub.send(mqttc.publish5(t, payload, qos=2, pid=i + 100))
        pub.send(mqttc.ack5(0x62, i + 100))
    got = pub.packets()
    assert sorted(set(p.rc for p in got)) == [0x00, 0x10, 0x87, 0x95]
    for p in got:
        assert p.rc in tables[p.type], p
    assert pub.conn.session.qos2_in == {}


def test_MQTT_4_4_0_2_puback_or_pubrec_0x80_or_more_ends_the_message():
    h = Harness()
    sub = h.connected5("sub", clean=False, properties=props([(0x11, 60)]))
    sub.subscribe5([("a", 2)])
    pub = h.connected("pub")
    pub.publish("a", b"one", qos=1)
    pub.publish("a", b"two", qos=2)
    p1, p2 = sub.publishes()
    sub.send(mqttc.ack5(0x40, p1.pid, 0x80) + mqttc.ack5(0x50, p2.pid, 0x83))
    assert sub.packets() == []  # no PUBREL for the refused QoS 2 message
    assert sub.conn.session.inflight == {}
    sub.drop()
    c = h.client()
    assert c.connect5("sub", clean=False).session_present == 1
    assert c.after_connack == []  # nothing re-sent


def test_MQTT_3_3_4_6_subscription_identifier_from_a_client_is_a_protocol_error():
    violation5(mqttc.publish5("a", b"x", properties=props([(0x0B, 1)])), 0x82)


def test_MQTT_3_3_4_7_more_qos_2_publishes_than_receive_maximum_get_disconnect_0x93():
    h = Harness(max_inflight_messages=2)
    pub = h.connected5("pub5")
    pub.send(mqttc.publish5("a", b"x", qos=2, pid=1) + mqttc.publish5("a", b"x", qos=2, pid=2))
    assert [p.type for p in pub.packets()] == [mqttc.PUBREC, mqttc.PUBREC]
    pub.send(mqttc.publish5("a", b"x", qos=2, pid=2))  # a resend is not a new one
    assert [p.type for p in pub.packets()] == [mqttc.PUBREC]
    pub.send(mqttc.publish5("a", b"x", qos=2, pid=3))
    d = pub.only(mqttc.DISCONNECT)
    assert d.rc == 0x93 and pub.closing


def test_MQTT_3_3_4_9_and_4_9_0_2_no_more_unacknowledged_publishes_than_the_clients_receive_maximum():
    h = Harness()
    sub = h.connected5("sub", properties=props([(0x21, 2)]))
    sub.subscribe5([("a", 1)])
    pub = h.connected("pub")
    for i in range(5):
        pub.publish("a", b"%d" % i, qos=1)
    got = sub.publishes()
    assert [p.payload for p in got] == [b"0", b"1"]
    sub.send(mqttc.ack5(0x40, got[0].pid))
    got = sub.publishes()
    assert [p.payload for p in got] == [b"2"]


def test_MQTT_3_3_4_10_and_4_9_0_3_other_packets_flow_while_the_quota_is_zero():
    h = Harness()
    sub = h.connected5("sub", properties=props([(0x21, 1)]))
    sub.subscribe5([("a", 1)])
    pub = h.connected("pub")
    pub.publish("a", b"1", qos=1)
    pub.publish("a", b"2", qos=1)
    pub.publish("a", b"3")  # QoS 0 is not held back by the quota
    assert [(p.payload, p.qos) for p in sub.publishes()] == [(b"1", 1), (b"3", 0)]
    sub.send(mqttc.pingreq())
    assert [p.type for p in sub.packets()] == [mqttc.PINGRESP]
    assert sub.subscribe5([("b", 0)], pid=5) == [0]


def test_MQTT_4_9_0_1_a_receive_maximum_of_0_is_a_protocol_error():
    h = Harness()
    c = h.client()
    c.send(mqttc.connect5("z", properties=props(raw=b"\x21\x00\x00")))
    assert c.read() == b"" and c.closing


def test_MQTT_3_1_2_24_and_3_1_2_25_a_message_over_the_clients_maximum_packet_size_is_not_sent():
    h = Harness()
    sub = h.connected5("sub", properties=props([(0x27, 20)]))
    sub.subscribe5([("a", 1)])
    pub = h.connected("pub")
    pub.publish("a", b"x" * 12, qos=1)  # 2 + 2 + 1 + 2 + 1 + 12 = 20 bytes: sent
    pub.publish("a", b"x" * 13, qos=1)  # 21 bytes: dropped, as if delivered
    pub.publish("a", b"y" * 15)
    pub.publish("a", b"z", qos=1)
    got = sub.publishes()
    assert [p.payload for p in got] == [b"x" * 12, b"z"]
    assert len(sub.conn.session.inflight) == 2
    # logged as mosquitto logs it, with the remaining length
    assert ("notice", "Dropping too large outgoing PUBLISH for sub (19 bytes).") in h.logs


_EXPIRY = (0x11, 3600)  # a Session Expiry Interval: the session outlives the connection


def _resumed(h, cid, limits):
    """Client cid resumes its session (Clean Start 0) announcing limits (properties); its
    CONNACK and the packets after it."""
    c = h.client()
    ack = c.connect5(cid, clean=False, properties=props([_EXPIRY] + limits))
    assert (ack.rc, ack.session_present) == (0, 1), ack
    return c, c.after_connack + c.packets()


def test_MQTT_3_1_2_24_and_3_1_2_25_a_message_resent_on_resume_over_the_new_maximum_packet_size_is_dropped():
    h = Harness()
    sub = h.connected5("sub", clean=False, properties=props([_EXPIRY]))
    sub.subscribe5([("a", 2)])
    pub = h.connected("pub")
    for n in (12, 13, 14):  # PUBLISHes of 20, 21 and 22 bytes with their packet id
        pub.publish("a", b"x" * n, qos=1)
    pub.publish("a", b"q2", qos=2)
    assert [len(p.payload) for p in sub.publishes()] == [12, 13, 14, 2]
    sub.drop()  # none acknowledged
    pub.publish("a", b"y" * 13, qos=1)  # queued for the offline session: 21 bytes
    pub.publish("a", b"y", qos=1)
    mark = h.mark()
    sub, got = _resumed(h, "sub", [(0x27, 20)])
    assert [m for m in h.logs_since(mark) if m.startswith("Dropping")] == [
        "Dropping too large outgoing PUBLISH for sub (%d bytes)." % n for n in (19, 20, 19)]
    assert [(p.payload, p.dup) for p in got] == \
        [(b"x" * 12, 1), (b"q2", 1), (b"y", 0)]  # the others dropped, as if sent
    s = sub.conn.session
    assert sorted(s.inflight[p.pid][2] for p in got) == [b"q2", b"x" * 12, b"y"]
    assert len(s.inflight) == 3  # the dropped ones no longer hold a slot
    for p in got:
        sub.ack(p)
    assert s.inflight == {} and s.queue == []


def test_MQTT_3_3_4_9_a_resumed_session_resends_no_more_than_the_new_receive_maximum():
    h = Harness()
    sub = h.connected5("sub", clean=False, properties=props([_EXPIRY]))
    sub.subscribe5([("a", 2)])
    pub = h.connected("pub")
    pub.publish("a", b"0", qos=2)
    for i in range(1, 5):
        pub.publish("a", b"%d" % i, qos=1)
    first = sub.publishes()
    pids = dict((p.payload, p.pid) for p in first)
    sub.send(mqttc.pubrec(pids[b"0"]))  # "0" waits for its PUBCOMP: it holds a slot
    assert [p.type for p in sub.packets()] == [mqttc.PUBREL]
    sub.drop()
    pub.publish("a", b"5", qos=1)  # queued
    sub, got = _resumed(h, "sub", [(0x21, 3)])
    # the PUBREL and two PUBLISHes: three unacknowledged, the client's Receive Maximum
    assert [(p.type, p.pid, p.payload, p.dup) for p in got] == [
        (mqttc.PUBREL, pids[b"0"], None, None), (mqttc.PUBLISH, pids[b"1"], b"1", 1),
        (mqttc.PUBLISH, pids[b"2"], b"2", 1)]
    sub.send(mqttc.pubcomp(pids[b"0"]))
    assert [(p.pid, p.payload, p.dup) for p in sub.publishes()] == [(pids[b"3"], b"3", 1)]
    sub.send(mqttc.puback(pids[b"4"]))  # acknowledged before it was sent again
    assert sub.publishes() == []  # not sent again; "5" waits: three are unacknowledged
    sub.send(mqttc.puback(pids[b"1"]))
    assert [(p.payload, p.dup) for p in sub.publishes()] == [(b"5", 0)]
    assert sub.conn.session.held is None


def test_server_maximum_packet_size_gets_disconnect_0x95():
    h = Harness(max_packet_size=100)
    h.broker.max_packet = 100
    violation5(mqttc.publish5("a", b"x" * 100), 0x95, "big", h)


def test_retain_when_not_available_gets_disconnect_0x9a():
    violation5(mqttc.publish5("a", b"x", retain=True), 0x9A, "r",
               Harness(retain_available=False))


def test_malformed_publish_properties_get_disconnect_0x81_and_duplicates_0x82():
    for p, rc in ((props([(0x11, 1)]), 0x81), (props([(0x02, 1), (0x02, 2)]), 0x82),
                  (b"\x09\x01", 0x81)):
        violation5(mqttc.publish5("a", b"x", properties=p), rc)


def test_v5_unsubscribe_gets_a_reason_code_per_filter():
    h = Harness()
    c = h.connected5("u")
    c.subscribe5([("a", 0)])
    c.send(mqttc.unsubscribe5(4, ["a", "b"]))
    assert c.read() == b"\xb0\x05\x00\x04\x00\x00\x11"


def test_v5_subscribe_reserved_option_bits_are_malformed():
    violation5(mqttc.subscribe5(1, [("a", 0x40)]), 0x81)


def test_an_acknowledgement_of_the_wrong_kind_is_a_protocol_error_disconnect_0x82():
    """PUBACK for a QoS 2 delivery, PUBREC or PUBCOMP for a QoS 1 one, PUBCOMP before
    PUBREC: DISCONNECT 0x82 and close (section 4.13; mosquitto 2.0 closes without one)."""
    for qos, first_byte in ((2, 0x40), (1, 0x50), (1, 0x70), (2, 0x70)):
        h = Harness()
        sub = h.subscriber5("s", "t", qos)
        p = h.connected5("p")
        p.send(mqttc.publish5("t", b"x", qos=qos, pid=1))
        if qos == 2:
            p.send(mqttc.ack5(0x62, 1))  # PUBREL: delivered now, as mosquitto
        got = sub.publishes()
        assert [p.qos for p in got] == [qos]
        m = h.mark()
        sub.send(mqttc.ack5(first_byte, got[0].pid))
        assert sub.only(mqttc.DISCONNECT).rc == 0x82, (qos, first_byte)
        assert_closed_for_violation(h, sub, m, "s")
