"""Shared subscriptions, $share/GROUP/FILTER (MQTT 5.0 section 4.8.2), offered to MQTT
3.1.1 clients as mosquitto 2.0 does: one delivery per group, round robin, no retained
messages, a member's end hands its messages over."""

import mqttc
from harness import Harness


def _payloads(c):
    return [p.payload for p in c.publishes()]


def _members(h, n, flt="$share/g/t/+", qos=1, clean=True):
    return [h.subscriber("m%d" % i, flt, qos, clean=clean) for i in range(n)]


def test_MQTT_4_8_2_1_shared_filter_needs_a_share_name_of_one_character_or_more():
    h = Harness()
    c = h.connected("c")
    assert c.subscribe([("$share/", 1), ("$share//t", 1), ("$share/g/t", 1)]) == \
        [0x80, 0x80, 1]
    assert not c.closing


def test_MQTT_4_8_2_2_share_name_without_wildcards_and_followed_by_a_filter():
    h = Harness()
    c = h.connected("c")
    bad = ["$share/g", "$share/g/", "$share/g+/t", "$share/g#/t", "$share/+/t", "$share/#/t"]
    assert c.subscribe([(f, 1) for f in bad] + [("$share/g/#", 1)]) == [0x80] * 6 + [1]
    assert not c.closing
    p = h.connected("p")
    p.publish("t", b"m", qos=1)
    assert _payloads(c) == [b"m"]  # only through the valid one


def test_MQTT_4_8_2_2_malformed_filter_after_the_share_name_closes_as_any_filter():
    h = Harness()
    c = h.connected("c")
    c.send(mqttc.subscribe(1, [("$share/g/a/#/b", 1)]))
    assert c.closing


def test_MQTT_4_8_2_3_each_member_gets_its_own_granted_qos():
    h = Harness()
    low = h.subscriber("low", "$share/g/t", 0)
    high = h.subscriber("high", "$share/g/t", 2)
    p = h.connected("p")
    p.publish("t", b"1", qos=2, pid=1)
    p.publish("t", b"2", qos=2, pid=2)
    assert [(x.payload, x.qos) for x in low.publishes()] == [(b"1", 0)]
    assert [(x.payload, x.qos) for x in high.publishes()] == [(b"2", 2)]


def test_MQTT_4_8_2_4_qos2_delivery_cut_off_is_completed_to_the_same_member():
    h = Harness()
    a = h.subscriber("a", "$share/g/t", 2, clean=False)
    b = h.subscriber("b", "$share/g/t", 2)
    p = h.connected("p")
    p.publish("t", b"q2", qos=2, pid=1)
    got = a.publishes()
    assert [x.payload for x in got] == [b"q2"]
    a.drop()  # before PUBREC
    p.publish("t", b"b's turn", qos=2, pid=2)
    p.publish("t", b"a's turn", qos=2, pid=3)  # queued in a's session
    assert _payloads(b) == [b"b's turn"]
    a2 = h.client()
    assert a2.connect("a", clean=False).session_present == 1
    again = [x for x in a2.after_connack + a2.packets() if x.type == mqttc.PUBLISH]
    assert [(x.payload, x.pid, x.dup) for x in again[:1]] == [(b"q2", got[0].pid, 1)]
    assert [x.payload for x in again[1:]] == [b"a's turn"]
    assert _payloads(b) == []


def test_MQTT_4_8_2_5_qos2_begun_to_a_member_whose_session_ends_goes_to_nobody_else():
    h = Harness()
    a, b = _members(h, 2, "$share/g/t", 2)
    p = h.connected("p")
    p.publish("t", b"q2", qos=2, pid=1)
    assert _payloads(a) == [b"q2"]
    a.drop()  # a clean session: it ends with its connection
    assert _payloads(b) == []
    p.publish("t", b"after", qos=2, pid=2)
    assert _payloads(b) == [b"after"]  # the group goes on with the member left


def test_shared_one_delivery_per_group_round_robin_beside_plain_subscribers():
    h = Harness()
    g1 = _members(h, 3)
    g2 = [h.subscriber("h%d" % i, "$share/other/t/#", 1) for i in range(2)]
    plain = h.subscriber("plain", "t/+", 1)
    p = h.connected("p")
    for i in range(6):
        p.publish("t/x", b"%d" % i, qos=1, pid=i + 1)
    # as mosquitto: the first subscriber first, then in the order they subscribed
    assert [_payloads(c) for c in g1] == [[b"0", b"3"], [b"1", b"4"], [b"2", b"5"]]
    assert [_payloads(c) for c in g2] == [[b"0", b"2", b"4"], [b"1", b"3", b"5"]]
    assert len(_payloads(plain)) == 6


def test_shared_and_plain_subscription_of_one_client_each_deliver():
    h = Harness()
    c = h.connected("c")
    assert c.subscribe([("t", 1), ("$share/g/t", 1)]) == [1, 1]
    p = h.connected("p")
    p.publish("t", b"m", qos=1)
    assert _payloads(c) == [b"m", b"m"]  # MQTT 5.0 4.8.2: a copy for each subscription


def test_shared_subscription_gets_no_retained_messages():
    h = Harness()
    p = h.connected("p")
    p.publish("t", b"kept", qos=1, retain=True)
    c = h.connected("c")
    assert c.subscribe([("$share/g/t", 1)]) == [1]
    assert c.extra == []  # mosquitto 2.0.11 sends it: a difference on purpose (README)
    p.publish("t", b"new", qos=1, retain=True, pid=2)
    got = c.publishes()
    assert [(x.payload, x.retain) for x in got] == [(b"new", 0)]


def test_shared_qos1_awaiting_puback_of_an_ended_session_goes_to_another_member():
    h = Harness()
    a, b = _members(h, 2)
    p = h.connected("p")
    p.publish("t/x", b"1", qos=1, pid=1)
    assert _payloads(a) == [b"1"]  # no PUBACK
    a.drop()
    assert [(x.payload, x.dup) for x in b.publishes()] == [(b"1", 0)]


def _drain(members):
    """Acknowledge what each member gets until nothing more comes; the payloads of each."""
    got = [[] for m in members]
    more = True
    while more:
        more = False
        for i in range(len(members)):
            for pk in members[i].publishes():
                got[i].append(pk.payload)
                members[i].ack(pk)
                more = True
    return got


def test_shared_queued_messages_of_an_ended_session_go_to_the_other_members():
    h = Harness(max_inflight_messages=1)
    a, b, c = _members(h, 3)
    p = h.connected("p")
    for i in range(9):
        p.publish("t/x", b"%d" % i, qos=1, pid=i + 1)
    assert _payloads(a) == [b"0"]  # no PUBACK: 3 and 6 wait behind it
    a.disconnect()
    # a's three go round robin to b and c (b's turn first), behind their own messages
    assert _drain([b, c]) == [[b"1", b"4", b"7", b"0", b"6"], [b"2", b"5", b"8", b"3"]]


def test_shared_offline_persistent_member_keeps_its_turn_and_its_messages():
    h = Harness()
    a, b = _members(h, 2, clean=False)
    a.drop()
    p = h.connected("p")
    for i in range(4):
        p.publish("t/x", b"%d" % i, qos=1, pid=i + 1)
    assert _payloads(b) == [b"1", b"3"]  # as mosquitto: a's turns queue in its session
    a2 = h.client()
    assert a2.connect("m0", clean=False).session_present == 1
    assert [x.payload for x in a2.after_connack + a2.publishes()] == [b"0", b"2"]


def test_shared_unsubscribe_leaves_the_group_and_the_last_member_ends_it():
    h = Harness()
    a, b = _members(h, 2)
    a.send(mqttc.unsubscribe(2, ["$share/g/t/+"]))
    assert a.only(mqttc.UNSUBACK).pid == 2
    p = h.connected("p")
    p.publish("t/x", b"1", qos=1, pid=1)
    p.publish("t/x", b"2", qos=1, pid=2)
    assert _payloads(a) == [] and _payloads(b) == [b"1", b"2"]
    assert h.broker.subs.count == 1
    b.disconnect()
    assert h.broker.subs.root[1] is None and h.broker.subs.count == 0
    for bad in ("$share/g", "$share/g+/t"):  # no such subscription: UNSUBACK, not a close
        p.send(mqttc.unsubscribe(3, [bad]))
        assert p.only(mqttc.UNSUBACK).pid == 3


def test_shared_filter_of_a_mount_point_listener_is_under_its_mount_point():
    h = Harness()
    lst = h.mounted_listener("m/")
    a = h.subscriber("a", "$share/g/t", 1, listener=lst)
    assert "$share/g/m/t" in a.conn.session.subs
    outside = h.connected("o")
    outside.publish("t", b"no", qos=1)
    outside.publish("m/t", b"yes", qos=1, pid=2)
    got = a.publishes()
    assert [(x.topic, x.payload) for x in got] == [(b"t", b"yes")]


def test_shared_filter_acl_checks_the_topic_filter_part():
    from core.acl import parse_acl
    h = Harness()
    h.broker.acl = parse_acl("topic read t/#\n")
    c = h.connected("c")
    assert c.subscribe([("$share/g/t/x", 1), ("$share/t/x", 1)]) == [1, 0x80]


def test_shared_subscriptions_of_persistent_sessions_survive_a_restart():
    from persist_support import Wall, attach, describe, remove, scratch
    d = scratch()
    try:
        h = Harness()
        st = attach(h, d, Wall(1000))
        a, b = _members(h, 2, clean=False)
        tmp = h.subscriber("tmp", "$share/g/t/+", 1)
        p = h.connected("p")
        p.publish("t/x", b"0", qos=1, pid=1)  # a's: unacknowledged
        a.drop()
        tmp.disconnect()  # a clean member ends: it gave nothing away (nothing was its)
        st.commit()
        before = describe(h.broker)
        h2 = Harness()
        attach(h2, d, Wall(1100))
        assert describe(h2.broker) == before
        assert h2.broker.subs.count == 2
        b2 = h2.connected("m1", clean=False)
        p2 = h2.connected("p")
        for i in range(2):
            p2.publish("t/y", b"%d" % i, qos=1, pid=i + 1)
        gb = _payloads(b2)
        a2 = h2.client()
        assert a2.connect("m0", clean=False).session_present == 1
        ga = [x.payload for x in a2.after_connack + a2.publishes()]
        # the restored group gives one each (its order is the restored sessions')
        assert ga[0] == b"0" and len(gb) == 1 and sorted(ga[1:] + gb) == [b"0", b"1"]
    finally:
        remove(d)


def test_a_broker_without_shared_subscriptions_or_v5_options_loads_no_core_subs():
    import sys
    import core
    sys.modules.pop("core.subs", None)
    if hasattr(core, "subs"):
        del core.subs  # else "from core import subs" finds it without importing
    h = Harness()
    s = h.subscriber("s", "t/#", 1)
    s5 = h.connected5("s5")
    assert s5.subscribe5([("t/#", 2)]) == [2]  # a v5 subscription without options
    p = h.connected("p")
    p.publish("t/x", b"m", qos=1)
    p.publish("t/y", b"r", qos=2, retain=True)
    assert _payloads(s) == [b"m", b"r"] and len(s5.publishes()) == 2
    s.send(mqttc.unsubscribe(2, ["t/#"]))
    assert "core.subs" not in sys.modules
    h.subscriber("m", "$share/g/t/#", 1)
    assert "core.subs" in sys.modules
