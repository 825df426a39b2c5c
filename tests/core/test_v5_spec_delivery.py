"""MQTT 5.0 Server-side statements on delivery between 5.0 clients: the PUBLISH flags (DUP,
RETAIN, section 3.3.1), the QoS flows both ways (3.3.4, 4.3), re-delivery on resume (4.4),
message receipt and ordering (4.5, 4.6) and topic names and filters (4.7)."""

import mqttc
from mqttc import props
from harness import Harness, burst5, violation5

KEEP = props([(0x11, 600)])  # a Session Expiry Interval that outlives the test's pauses


def _resumed(h, cid):
    """cid connects again with Clean Start 0; returns (client, packets after CONNACK)."""
    c = h.client()
    ack = c.connect5(cid, clean=False, properties=KEEP)
    assert (ack.rc, ack.session_present) == (0, 1)
    return c, c.after_connack


def _done_after(h, c, ack):
    """c, "sub" resumed, sends ack and goes: resumed again, nothing is sent to it."""
    c.send(ack)
    c.drop()
    assert _resumed(h, "sub")[1] == []


def _persistent_sub(h, cid, flt, qos):
    """A subscriber of cid whose session outlives its connection."""
    c = h.connected5(cid, clean=False, properties=KEEP)
    assert c.subscribe5([(flt, qos)]) == [qos]
    return c


# ---- 3.3.1 DUP and RETAIN ----

def test_MQTT_3_3_1_1_a_redelivered_publish_has_dup_1():
    h = Harness()
    sub = _persistent_sub(h, "sub", "t", 2)
    pub = h.connected5("pub")
    pub.publish("t", b"one", qos=1)
    pub.publish("t", b"two", qos=2, pid=2)
    assert [p.dup for p in sub.publishes()] == [0, 0]
    sub.drop()
    c, again = _resumed(h, "sub")
    assert [(p.payload, p.dup) for p in again] == [(b"one", 1), (b"two", 1)]


def test_MQTT_3_3_1_2_a_qos_0_publish_has_dup_0():
    h = Harness()
    sub = h.subscriber5("sub", "t", 2)
    h.connected5("pub").send(mqttc.publish5("t", b"zero", qos=0))
    assert [(p.qos, p.dup) for p in sub.publishes()] == [(0, 0)]


def test_MQTT_3_3_1_3_the_dup_sent_is_set_by_the_servers_own_retransmission():
    h = Harness()
    sub = h.subscriber5("sub", "t", 2)
    pub = h.connected5("pub")
    pub.send(mqttc.publish5("t", b"d1", qos=1, pid=1, dup=True))
    pub.send(mqttc.publish5("t", b"d2", qos=2, pid=2, dup=True) + mqttc.ack5(0x62, 2))
    pub.packets()
    assert [(p.payload, p.dup) for p in sub.publishes()] == [(b"d1", 0), (b"d2", 0)]


def test_MQTT_3_3_1_5_retain_1_replaces_the_topics_retained_message():
    h = Harness()
    pub = h.connected5("pub")
    pub.publish("r", b"old", qos=1, retain=True)
    pub.publish("r", b"new", qos=1, pid=2, retain=True)
    sub = h.subscriber5("sub", "r", 1)
    assert [(p.payload, p.retain) for p in sub.extra] == [(b"new", 1)]


def test_MQTT_3_3_1_6_an_empty_retained_payload_is_delivered_and_clears_the_topic():
    h = Harness()
    pub = h.connected5("pub")
    pub.publish("r", b"old", retain=True)
    live = h.subscriber5("live", "r", 0)
    live.packets()
    pub.publish("r", b"", retain=True)
    assert [(p.payload, p.retain) for p in live.publishes()] == [(b"", 0)]
    assert h.subscriber5("late", "r", 0).extra == []


def test_MQTT_3_3_1_7_an_empty_retained_payload_is_not_stored():
    h = Harness()
    h.connected5("pub").publish("empty", b"", qos=1, retain=True)
    assert "empty" not in h.broker.retained.msgs
    assert h.subscriber5("late", "empty", 1).extra == []


def test_MQTT_3_3_1_8_retain_0_neither_stores_nor_replaces_nor_removes():
    h = Harness()
    pub = h.connected5("pub")
    pub.publish("r", b"kept", retain=True)
    pub.publish("r", b"passing")
    pub.publish("r", b"")
    pub.publish("s", b"never kept")
    assert [p.payload for p in h.subscriber5("late", "r", 0).extra] == [b"kept"]
    assert h.subscriber5("late2", "s", 0).extra == []


# ---- 3.3.4 PUBLISH actions ----

def test_MQTT_3_3_4_1_the_response_to_a_publish_follows_its_qos():
    h = Harness()
    h.subscriber5("sub", "t", 2)
    pub = h.connected5("pub")
    pub.send(mqttc.publish5("t", b"0"))
    assert pub.packets() == []
    pub.send(mqttc.publish5("t", b"1", qos=1, pid=1))
    assert [(p.type, p.pid) for p in pub.packets()] == [(mqttc.PUBACK, 1)]
    pub.send(mqttc.publish5("t", b"2", qos=2, pid=2))
    assert [(p.type, p.pid) for p in pub.packets()] == [(mqttc.PUBREC, 2)]


def test_MQTT_3_3_4_2_overlapping_subscriptions_deliver_at_their_highest_qos():
    h = Harness()
    sub = h.connected5("sub")
    assert sub.subscribe5([("a/#", 0), ("a/+", 2), ("+/b", 1)]) == [0, 2, 1]
    h.connected5("pub").publish("a/b", b"x", qos=2)
    got = sub.publishes()
    assert got and max(p.qos for p in got) == 2
    assert all(p.payload == b"x" for p in got)


# ---- 4.3 QoS flows ----

def test_MQTT_4_3_1_1_qos_0_is_sent_with_qos_0_and_dup_0():
    h = Harness()
    sub = h.subscriber5("sub", "t", 0)
    h.connected5("pub").publish("t", b"x", qos=2)
    assert [(p.qos, p.dup, p.pid if hasattr(p, "pid") else None) for p in sub.publishes()] \
        == [(0, 0, None)]


def test_MQTT_4_3_2_1_and_4_3_2_2_and_4_3_3_1_and_4_3_3_2_new_messages_get_unused_ids_and_dup_0():
    for qos in (1, 2):
        got = burst5(qos, 3)[2]
        assert [(p.qos, p.dup) for p in got] == [(qos, 0)] * 3
        assert len({p.pid for p in got}) == 3 and 0 not in {p.pid for p in got}


def test_MQTT_4_3_2_3_qos_1_is_unacknowledged_until_its_puback():
    h = Harness()
    sub = _persistent_sub(h, "sub", "t", 1)
    h.connected5("pub").publish("t", b"x", qos=1)
    p = sub.publishes()[0]
    sub.send(mqttc.pingreq())
    assert p.pid in sub.conn.session.inflight
    sub.drop()
    c, again = _resumed(h, "sub")
    assert [(q.pid, q.payload, q.dup) for q in again] == [(p.pid, b"x", 1)]
    _done_after(h, c, mqttc.ack5(0x40, p.pid, 0x00))


def test_MQTT_4_3_2_4_qos_1_is_acknowledged_with_its_id_once_the_server_owns_it():
    h = Harness()
    sub = _persistent_sub(h, "sub", "t", 1)
    sub.drop()
    pub = h.connected5("pub")
    pub.send(mqttc.publish5("t", b"owned", qos=1, pid=0x0101))
    assert [(p.type, p.pid) for p in pub.packets()] == [(mqttc.PUBACK, 0x0101)]
    pub.drop()
    c, again = _resumed(h, "sub")  # taken on for the offline subscriber
    assert [p.payload for p in again] == [b"owned"]


def test_MQTT_4_3_2_5_after_puback_the_same_id_is_a_new_message():
    h = Harness()
    sub = h.subscriber5("sub", "t", 1)
    pub = h.connected5("pub")
    pub.publish("t", b"first", qos=1, pid=9)
    pub.send(mqttc.publish5("t", b"second", qos=1, pid=9, dup=True))
    assert [p.type for p in pub.packets()] == [mqttc.PUBACK]
    assert [p.payload for p in sub.publishes()] == [b"first", b"second"]


def test_MQTT_4_3_3_3_qos_2_is_unacknowledged_until_its_pubrec():
    h = Harness()
    sub = _persistent_sub(h, "sub", "t", 2)
    h.connected5("pub").publish("t", b"x", qos=2)
    p = sub.publishes()[0]
    sub.drop()
    c, again = _resumed(h, "sub")
    assert [(q.type, q.pid, q.dup) for q in again] == [(mqttc.PUBLISH, p.pid, 1)]


def test_MQTT_4_3_3_4_and_3_6_2_1_pubrec_below_0x80_gets_pubrel_with_the_same_id_and_code_0():
    h, sub, got = burst5(2, 1)
    p = got[0]
    sub.send(mqttc.ack5(0x50, p.pid, 0x00, b"\x00"))
    rel = sub.packets()
    assert [(q.type, q.pid, q.flags) for q in rel] == [(mqttc.PUBREL, p.pid, 2)]
    assert rel[0].rc in (0x00, 0x92)  # PUBREL's reason codes


def test_MQTT_4_3_3_5_and_4_3_3_6_pubrel_kept_until_pubcomp_and_no_publish_sent_again():
    h = Harness()
    sub = _persistent_sub(h, "sub", "t", 2)
    h.connected5("pub").publish("t", b"x", qos=2)
    p = sub.publishes()[0]
    sub.send(mqttc.ack5(0x50, p.pid))
    sub.packets()
    sub.drop()
    c, again = _resumed(h, "sub")
    assert [(q.type, q.pid) for q in again] == [(mqttc.PUBREL, p.pid)]  # no PUBLISH
    _done_after(h, c, mqttc.ack5(0x70, p.pid))


def test_MQTT_4_3_3_7_a_qos_2_message_sent_is_not_expired_before_its_flow_ends():
    h = Harness()
    sub = _persistent_sub(h, "sub", "t", 2)
    pub = h.connected5("pub")
    pub.send(mqttc.publish5("t", b"y", qos=2, pid=1, properties=props([(0x02, 5)])))
    pub.send(mqttc.ack5(0x62, 1))
    p = sub.publishes()[0]
    sub.drop()
    h.advance(10000)  # its Message Expiry Interval passed: sent once, it is sent again
    c, again = _resumed(h, "sub")
    assert [(q.type, q.pid, q.payload, q.dup) for q in again] == \
        [(mqttc.PUBLISH, p.pid, b"y", 1)]


def test_MQTT_4_3_3_8_qos_2_is_answered_pubrec_with_its_id():
    h = Harness()
    pub = h.connected5("pub")
    pub.send(mqttc.publish5("t", b"x", qos=2, pid=0x0F0F))
    r = pub.only(mqttc.PUBREC)
    assert (r.pid, r.rc) == (0x0F0F, 0x10) or (r.pid, r.rc) == (0x0F0F, 0x00)


def test_MQTT_4_3_3_10_a_qos_2_publish_sent_again_before_pubrel_is_delivered_once():
    h = Harness()
    sub = h.subscriber5("sub", "t", 2)
    pub = h.connected5("pub")
    pub.send(mqttc.publish5("t", b"once", qos=2, pid=3))
    pub.send(mqttc.publish5("t", b"once", qos=2, pid=3, dup=True))
    assert [(p.type, p.pid) for p in pub.packets()] == [(mqttc.PUBREC, 3)] * 2
    pub.send(mqttc.ack5(0x62, 3))
    assert [p.payload for p in sub.publishes()] == [b"once"]


def test_MQTT_4_3_3_11_pubrel_gets_pubcomp_with_the_same_id():
    h = Harness()
    pub = h.connected5("pub")
    pub.send(mqttc.publish5("t", b"x", qos=2, pid=0x2222))
    pub.packets()
    pub.send(mqttc.ack5(0x62, 0x2222, 0x00, b"\x00"))
    c = pub.only(mqttc.PUBCOMP)
    assert (c.pid, c.rc) == (0x2222, 0x00)


def test_MQTT_4_3_3_13_the_qos_2_flow_goes_on_for_a_message_that_expired():
    h = Harness()
    sub = h.subscriber5("sub", "t", 2)
    pub = h.connected5("pub")
    pub.send(mqttc.publish5("t", b"x", qos=2, pid=5, properties=props([(0x02, 1)])))
    assert [(p.type, p.pid) for p in pub.packets()] == [(mqttc.PUBREC, 5)]
    h.advance(3000)  # expired before its PUBREL: not delivered (MQTT-3.3.2-5)
    pub.send(mqttc.ack5(0x62, 5))
    assert [(p.type, p.pid, p.rc) for p in pub.packets()] == [(mqttc.PUBCOMP, 5, 0)]
    assert sub.publishes() == []


def test_MQTT_4_3_3_12_after_pubcomp_the_same_id_is_a_new_message():
    h = Harness()
    sub = h.subscriber5("sub", "t", 2)
    pub = h.connected5("pub")
    pub.publish("t", b"first", qos=2, pid=4)
    pub.publish("t", b"second", qos=2, pid=4)
    assert [p.payload for p in sub.publishes()] == [b"first", b"second"]


# ---- 4.4 re-delivery, 4.5 receipt, 4.6 order ----

def test_MQTT_4_4_0_1_unacknowledged_publish_and_pubrel_resent_on_resume_only():
    h = Harness()
    sub = _persistent_sub(h, "sub", "t", 2)
    pub = h.connected5("pub")
    pub.publish("t", b"a", qos=1)
    pub.publish("t", b"b", qos=2, pid=2)
    pub.publish("t", b"c", qos=2, pid=3)
    a, b_, c_ = sub.publishes()
    sub.send(mqttc.ack5(0x50, b_.pid))
    assert sub.only(mqttc.PUBREL).pid == b_.pid
    h.advance(60000)  # nothing is sent again while connected
    assert sub.packets() == []
    sub.drop()
    c, again = _resumed(h, "sub")
    assert [(p.type, p.pid) for p in again] == [(mqttc.PUBLISH, a.pid), (mqttc.PUBREL, b_.pid),
                                                (mqttc.PUBLISH, c_.pid)]  # in their order


def test_MQTT_4_5_0_1_every_matching_session_gets_the_message_also_offline_ones():
    h = Harness()
    online = h.subscriber5("on", "t/#", 1)
    _persistent_sub(h, "off", "t/+", 1).drop()
    other = h.subscriber5("other", "u", 1)
    h.connected5("pub").publish("t/x", b"m", qos=1)
    assert [p.payload for p in online.publishes()] == [b"m"]
    assert other.publishes() == []
    c, again = _resumed(h, "off")
    assert [p.payload for p in again] == [b"m"]


def test_MQTT_4_6_0_5_and_4_6_0_6_messages_from_a_client_keep_their_order():
    h = Harness()
    sub = h.connected5("sub", properties=props([(0x21, 2)]))  # Receive Maximum 2: queued
    sub.subscribe5([("t/#", 2)])
    pub = h.connected5("pub")
    sent = []
    for i in range(8):
        q = i % 3
        pub.publish("t/%d" % (i % 2), b"%d" % i, qos=q, pid=i + 1 if q else None)
        sent.append((b"t/%d" % (i % 2), q, b"%d" % i))
    got = []
    for _ in range(40):
        pkts = sub.packets()
        if not pkts:
            break
        for p in pkts:
            if p.type == mqttc.PUBREL:
                sub.send(mqttc.pubcomp(p.pid))
                continue
            got.append((p.topic, p.qos, p.payload))
            if p.qos:
                sub.send((mqttc.puback if p.qos == 1 else mqttc.pubrec)(p.pid))
    # the same topic and QoS in the order published (QoS 0 is not held by the window)
    assert sorted(got) == sorted(sent)
    for key in set((t, q) for t, q, _ in sent):
        assert [m for m in got if m[:2] == key] == [m for m in sent if m[:2] == key]
    assert [m for m in got if m[1]] == [m for m in sent if m[1]]  # QoS 1 and 2 together too


def test_MQTT_4_8_2_6_a_shared_delivery_refused_with_0x80_goes_to_no_other_member():
    h = Harness()
    a = h.subscriber5("a", "$share/g/t", 1)
    b = h.subscriber5("b", "$share/g/t", 1)
    h.connected5("pub").publish("t", b"m", qos=1)
    got_a, got_b = a.publishes(), b.publishes()
    taker, other = (a, b) if got_a else (b, a)
    p = (got_a + got_b)[0]
    taker.send(mqttc.ack5(0x40, p.pid, 0x80))  # the member it went to refuses it
    taker.drop()  # its session ends: nothing of the group's is left in it
    assert other.publishes() == []


# ---- 4.7 topic names and filters ----

def test_MQTT_4_7_0_1_wildcards_are_refused_in_topic_names_and_will_topics():
    violation5(mqttc.publish5("a/+/c", b"x"), 0x82)
    h = Harness()
    c = h.client()
    c.send(mqttc.connect5("w", will=("will/#", "m", 0, 0)))
    assert c.read() == b"" and c.closing


def test_MQTT_4_7_1_1_the_multi_level_wildcard_is_alone_and_last():
    h = Harness()
    sub = h.connected5("sub")
    assert sub.subscribe5([("#", 0), ("a/#", 0)]) == [0, 0]
    for bad in ("a#", "a/#/b", "a/b#", "#/"):
        violation5(mqttc.subscribe5(1, [(bad, 0)]), 0x81)
    h.connected5("pub").publish("a", b"parent")
    assert [p.topic for p in sub.publishes()] == [b"a"]  # "a/#" matches "a" too: one copy


def test_MQTT_4_7_1_2_the_single_level_wildcard_fills_a_whole_level():
    h = Harness()
    sub = h.connected5("sub")
    assert sub.subscribe5([("+", 0), ("+/+", 0), ("a/+/c", 0)]) == [0, 0, 0]
    for bad in ("a+", "a/+b", "+a/c"):
        violation5(mqttc.subscribe5(1, [(bad, 0)]), 0x81)
    pub = h.connected5("pub")
    for t in ("x", "x/y", "a/b/c", "a/b/c/d", "/"):
        pub.publish(t, b"")
    assert [p.topic for p in sub.publishes()] == [b"x", b"x/y", b"a/b/c", b"/"]


def test_MQTT_4_7_2_1_v5_wildcard_first_filters_match_no_dollar_topic():
    h = Harness()
    h.connected5("pub").publish("$own/t", b"kept", retain=True)
    sub = h.connected5("sub")
    assert sub.subscribe5([("#", 0), ("+/t", 0)]) == [0, 0]
    assert sub.extra == []
    assert h.connected5("sub2").subscribe5([("$own/#", 0)]) == [0]


def test_MQTT_4_7_3_1_topic_names_and_filters_are_one_character_or_more():
    violation5(mqttc.subscribe5(1, [("", 0)]), 0x81)
    violation5(mqttc.unsubscribe5(1, [""]), 0x81)
    violation5(mqttc.publish5("", b"x"), 0x82)  # nor a topic alias: as mosquitto 2.0.11


def test_MQTT_4_7_3_2_topic_names_and_filters_hold_no_null_character():
    violation5(mqttc.publish5("a\x00b", b"x"), 0x81)
    violation5(mqttc.subscribe5(1, [("a/\x00", 0)]), 0x81)
    violation5(mqttc.unsubscribe5(1, ["\x00"]), 0x81)


def test_MQTT_4_7_3_3_a_topic_of_65535_bytes_is_accepted():
    h = Harness()
    long_topic = "t/" + "x" * 65533
    sub = h.subscriber5("sub", long_topic, 0)
    h.connected5("pub").publish(long_topic, b"long")
    got = sub.publishes()
    assert len(got) == 1 and len(got[0].topic) == 65535


def test_MQTT_4_7_3_4_v5_topics_are_matched_without_normalisation():
    h = Harness()
    sub = h.connected5("sub")
    sub.subscribe5([("caf\u00e9", 0), ("a//b", 0), ("A", 0)])
    pub = h.connected5("pub")
    for t in ("cafe\u0301", "caf\u00e9", "a/b", "a//b", "a", "A"):
        pub.publish(t, b"")
    assert [p.topic for p in sub.publishes()] == ["caf\u00e9".encode(), b"a//b", b"A"]
