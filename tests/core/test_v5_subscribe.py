"""MQTT 5.0 SUBSCRIBE: subscription options (No Local, Retain As Published, Retain
Handling), Subscription Identifiers, SUBACK reason codes; shared subscriptions of v5
clients (section 4.8.2, their 3.1.1 tests are test_spec_shared.py)."""

import mqttc
from harness import Harness, violation5

NO_LOCAL = 0x04
AS_PUBLISHED = 0x08
RH1 = 0x10  # Retain Handling 1: only for a new subscription
RH2 = 0x20  # Retain Handling 2: never


def _sid(n):
    return mqttc.props([(0x0B, n)])


def _ids(p):
    return sorted(v for k, v in p.props if k == 0x0B)


def test_MQTT_3_8_3_3_no_local_keeps_a_clients_own_messages_from_it():
    h = Harness()
    c = h.connected5("c")
    assert c.subscribe5([("t", 1 | NO_LOCAL), ("u", 1)]) == [1, 1]
    other = h.connected5("other")
    for topic in ("t", "u"):
        c.send(mqttc.publish5(topic, b"own", qos=1, pid=1))
        other.send(mqttc.publish5(topic, b"theirs", qos=1, pid=1))
    got = [(p.topic, p.payload) for p in c.publishes()]
    assert got == [(b"t", b"theirs"), (b"u", b"own"), (b"u", b"theirs")]


def test_MQTT_3_8_3_3_no_local_applies_when_every_matching_subscription_has_it():
    h = Harness()
    c = h.connected5("c")
    assert c.subscribe5([("t/#", 1 | NO_LOCAL), ("t/+", 0)]) == [1, 0]
    c.send(mqttc.publish5("t/x", b"own", qos=1, pid=1))
    assert [p.payload for p in c.publishes()] == [b"own"]  # through t/+


def test_MQTT_3_8_3_4_no_local_on_a_shared_subscription_is_a_protocol_error():
    violation5(mqttc.subscribe5(1, [("$share/g/t", 1 | NO_LOCAL)]), 0x82)


def test_MQTT_3_3_1_9_retain_handling_0_sends_the_retained_messages():
    h = Harness()
    h.connected5("p").send(mqttc.publish5("r", b"kept", retain=True))
    c = h.connected5("c")
    assert c.subscribe5([("r", 1)]) == [1]
    assert [(p.payload, p.retain) for p in c.extra] == [(b"kept", 1)]
    assert c.subscribe5([("r", 1)], pid=2) == [1]  # again: sent again (MQTT-3.8.4-3)
    assert [(p.payload, p.retain) for p in c.extra] == [(b"kept", 1)]


def test_MQTT_3_3_1_10_retain_handling_1_sends_them_only_for_a_new_subscription():
    h = Harness()
    h.connected5("p").send(mqttc.publish5("r", b"kept", retain=True))
    c = h.connected5("c")
    assert c.subscribe5([("r", 1 | RH1)]) == [1]
    assert [p.payload for p in c.extra] == [b"kept"]
    assert c.subscribe5([("r", 1 | RH1)], pid=2) == [1]
    assert c.extra == []


def test_MQTT_3_3_1_11_retain_handling_2_sends_no_retained_message():
    h = Harness()
    h.connected5("p").send(mqttc.publish5("r", b"kept", retain=True))
    c = h.connected5("c")
    assert c.subscribe5([("r", 1 | RH2)]) == [1]
    assert c.extra == []


def test_MQTT_3_3_1_12_and_3_3_1_13_retain_flag_as_published_only_when_asked():
    h = Harness()
    plain = h.connected5("plain")
    assert plain.subscribe5([("r", 1 | RH2)]) == [1]
    rap = h.connected5("rap")
    assert rap.subscribe5([("r", 1 | RH2 | AS_PUBLISHED)]) == [1]
    p = h.connected5("p")
    p.send(mqttc.publish5("r", b"kept", qos=1, retain=True, pid=1))
    p.send(mqttc.publish5("r", b"not", qos=0))
    assert [(x.payload, x.retain) for x in plain.publishes()] == [(b"kept", 0), (b"not", 0)]
    assert [(x.payload, x.retain) for x in rap.publishes()] == [(b"kept", 1), (b"not", 0)]


def test_MQTT_3_3_4_3_and_3_3_4_4_subscription_identifiers_of_every_matching_subscription():
    h = Harness()
    c = h.connected5("c")
    assert c.subscribe5([("a/#", 1)], properties=_sid(7)) == [1]
    assert c.subscribe5([("a/+", 0)], pid=2, properties=_sid(268435455)) == [0]
    assert c.subscribe5([("a/b", 0)], pid=3) == [0]  # without one
    p = h.connected5("p")
    p.send(mqttc.publish5("a/b", b"m", qos=1, pid=1))
    p.send(mqttc.publish5("a/c/d", b"n", qos=1, pid=2))
    got = c.publishes()
    assert [(x.payload, x.qos, _ids(x)) for x in got] == \
        [(b"m", 1, [7, 268435455]), (b"n", 1, [7])]


def test_MQTT_3_3_4_3_a_resubscription_without_an_identifier_drops_it():
    h = Harness()
    c = h.connected5("c")
    c.subscribe5([("t", 1)], properties=_sid(3))
    c.subscribe5([("t", 1)], pid=2)
    h.connected5("p").send(mqttc.publish5("t", b"m"))
    assert [_ids(x) for x in c.publishes()] == [[]]


def test_subscription_identifier_of_0_is_a_protocol_error():
    violation5(mqttc.subscribe5(1, [("t", 1)], _sid(0)), 0x82)


def test_v5_suback_reason_codes_for_refusals():
    from core.acl import parse_acl
    h = Harness(max_subscriptions_per_client=2)
    h.broker.acl = parse_acl("topic read t/#\n")
    c = h.connected5("c")
    codes = c.subscribe5([("t/1", 2), ("x", 1), ("$share/g", 1), ("$share/g+/t/2", 0),
                          ("t/2", 0), ("t/3", 1)])
    # granted, not authorized, topic filter invalid (twice), granted, quota exceeded
    assert codes == [2, 0x87, 0x8F, 0x8F, 0, 0x97]
    assert not c.closing


def test_v5_shared_subscription_members_take_turns_with_their_identifiers():
    h = Harness()
    a = h.connected5("a")
    assert a.subscribe5([("$share/g/t", 1)], properties=_sid(1)) == [1]
    b = h.connected5("b")
    assert b.subscribe5([("$share/g/t", 1)], properties=_sid(2)) == [1]
    p = h.connected5("p")
    for i in range(4):
        p.send(mqttc.publish5("t", b"%d" % i, qos=1, pid=i + 1))
    assert [(x.payload, _ids(x)) for x in a.publishes()] == [(b"0", [1]), (b"2", [1])]
    assert [(x.payload, _ids(x)) for x in b.publishes()] == [(b"1", [2]), (b"3", [2])]


def test_v5_options_and_identifiers_of_a_persistent_session_survive_a_restart():
    from persist_support import Wall, attach, remove, scratch
    d = scratch()
    try:
        h = Harness()
        st = attach(h, d, Wall(1000))
        c = h.client()
        c.connect5("c", clean=False, properties=mqttc.props([(0x11, 3600)]))
        assert c.subscribe5([("t", 1 | NO_LOCAL | AS_PUBLISHED)], properties=_sid(9)) == [1]
        c.drop()
        st.commit()
        h2 = Harness()
        attach(h2, d, Wall(1100))
        c2 = h2.client()
        assert c2.connect5("c", clean=False).session_present == 1
        c2.send(mqttc.publish5("t", b"own", qos=1, pid=1))
        h2.connected5("p").send(mqttc.publish5("t", b"r", qos=1, retain=True, pid=1))
        assert [(x.payload, x.retain, _ids(x)) for x in c2.publishes()] == [(b"r", 1, [9])]
    finally:
        remove(d)


# ---- with MQTT 5.0 PUBLISH properties (core/pub5.py): the identifiers are added per
# subscriber after the properties forwarded (the expiry left is written last) ----

_FWD = [(0x03, "text/plain"), (0x26, ("k", "v1")), (0x26, ("k", "v2"))]


def test_MQTT_3_3_4_3_identifiers_are_added_to_the_forwarded_properties_per_subscriber():
    h = Harness()
    a = h.connected5("a")
    assert a.subscribe5([("t/#", 1)], properties=_sid(5)) == [1]
    b = h.connected5("b")
    assert b.subscribe5([("t/x", 1)]) == [1]  # without one
    p = h.connected5("p")
    p.send(mqttc.publish5("t/x", b"m", qos=1, pid=1,
                          properties=mqttc.props(_FWD + [(0x02, 60)])))
    got_a, = a.publishes()
    got_b, = b.publishes()
    assert got_a.props == _FWD + [(0x0B, 5), (0x02, 60)]
    assert got_b.props == _FWD + [(0x02, 60)]  # another subscriber's identifier is not sent


def test_MQTT_3_3_4_5_a_shared_subscription_delivery_carries_its_identifier_and_properties():
    h = Harness()
    members = [h.connected5(n) for n in ("a", "b")]
    for i, m in enumerate(members):
        assert m.subscribe5([("$share/g/t", 1)], properties=_sid(10 + i)) == [1]
    p = h.connected5("p")
    for i in range(2):
        p.send(mqttc.publish5("t", b"%d" % i, qos=1, pid=i + 1, properties=mqttc.props(_FWD)))
    for i, m in enumerate(members):
        got, = m.publishes()
        assert (got.payload, got.props) == (b"%d" % i, _FWD + [(0x0B, 10 + i)])


def test_retained_message_with_properties_as_published_with_the_identifier():
    h = Harness()
    p = h.connected5("p")
    p.send(mqttc.publish5("r", b"kept", qos=1, retain=True, pid=1, properties=mqttc.props(_FWD)))
    c = h.connected5("c")
    assert c.subscribe5([("r", 1 | AS_PUBLISHED)], properties=_sid(3)) == [1]
    got, = c.extra
    assert (got.payload, got.retain, got.props) == (b"kept", 1, _FWD + [(0x0B, 3)])
    p.send(mqttc.publish5("r", b"new", qos=1, retain=True, pid=2, properties=mqttc.props(_FWD)))
    got, = c.publishes()
    assert (got.payload, got.retain, got.props) == (b"new", 1, _FWD + [(0x0B, 3)])


def test_MQTT_3_8_3_3_no_local_holds_for_a_publish_with_properties_and_a_qos_2_one():
    h = Harness()
    c = h.connected5("c")
    assert c.subscribe5([("t", 2 | NO_LOCAL)], properties=_sid(1)) == [2]
    c.send(mqttc.publish5("t", b"own1", qos=1, pid=1, properties=mqttc.props(_FWD)))
    c.send(mqttc.publish5("t", b"own2", qos=2, pid=2, properties=mqttc.props(_FWD)))
    c.send(mqttc.pubrel(2))
    other = h.connected5("other")
    other.send(mqttc.publish5("t", b"theirs", qos=2, pid=1, properties=mqttc.props(_FWD)))
    other.send(mqttc.pubrel(1))
    assert [(x.payload, x.props) for x in c.publishes()] == \
        [(b"theirs", _FWD + [(0x0B, 1)])]


def _two_members(h):
    """Members a (a persistent session) and b of $share/g/t, with identifiers 1 and 2."""
    a = h.connected5("a", clean=False, properties=mqttc.props([(0x11, 3600)]))
    assert a.subscribe5([("$share/g/t", 1)], properties=_sid(1)) == [1]
    b = h.connected5("b")
    assert b.subscribe5([("$share/g/t", 1)], properties=_sid(2)) == [1]
    return a, b


def test_a_shared_members_messages_with_properties_go_to_the_other_member_when_it_leaves():
    h = Harness()
    a, b = _two_members(h)
    a.drop()  # offline, its session kept: it queues what it is given
    p = h.connected5("p")
    for i in range(2):
        p.send(mqttc.publish5("t", b"%d" % i, qos=1, pid=i + 1, properties=mqttc.props(_FWD)))
    assert [x.payload for x in b.publishes()] == [b"1"]
    a2 = h.client()
    a2.connect5("a", clean=True)  # a clean start ends the old session: its queue is handed over
    got, = b.publishes()
    assert (got.payload, got.props) == (b"0", _FWD + [(0x0B, 2)])


def test_MQTT_3_3_4_5_a_plain_and_a_shared_copy_each_carry_their_own_identifier():
    h = Harness()
    c = h.connected5("c")
    assert c.subscribe5([("t/+", 1)], properties=_sid(1)) == [1]
    assert c.subscribe5([("$share/g/t/#", 1)], pid=2, properties=_sid(2)) == [1]
    h.connected5("p").send(mqttc.publish5("t/x", b"m", qos=1, pid=1))
    assert sorted(_ids(x) for x in c.publishes()) == [[1], [2]]


def test_a_shared_subscription_that_gave_the_message_to_another_member_adds_no_identifier():
    h = Harness()
    other = h.connected5("other")
    assert other.subscribe5([("$share/g/t", 1)]) == [1]  # first in turn
    c = h.connected5("c")
    assert c.subscribe5([("$share/g/t", 1)], properties=_sid(2)) == [1]
    assert c.subscribe5([("t", 1)], pid=2, properties=_sid(1)) == [1]
    h.connected5("p").send(mqttc.publish5("t", b"m", qos=1, pid=1))
    assert [_ids(x) for x in c.publishes()] == [[1]]  # the plain copy only
    assert [_ids(x) for x in other.publishes()] == [[]]


def test_MQTT_3_3_4_5_a_member_of_two_groups_gets_only_the_identifier_of_the_group_that_chose_it():
    h = Harness()
    other = h.connected5("other")
    assert other.subscribe5([("$share/g1/t", 1)]) == [1]  # first in g1's turn
    c = h.connected5("c")
    assert c.subscribe5([("$share/g1/t", 1)], properties=_sid(1)) == [1]
    assert c.subscribe5([("$share/g2/t", 1)], pid=2, properties=_sid(2)) == [1]
    p = h.connected5("p")
    p.send(mqttc.publish5("t", b"0", qos=1, pid=1))  # g1: other, g2: c
    assert [(x.payload, _ids(x)) for x in c.publishes()] == [(b"0", [2])]
    p.send(mqttc.publish5("t", b"1", qos=1, pid=2))  # g1: c, g2: c again
    assert sorted(_ids(x) for x in c.publishes()) == [[1], [2]]
    assert [(x.payload, _ids(x)) for x in other.publishes()] == [(b"0", [])]


def test_MQTT_3_3_4_5_a_shared_delivery_carries_its_groups_identifier_beside_a_plain_copy():
    h = Harness()
    c = h.connected5("c")
    assert c.subscribe5([("$share/g1/t/+", 1)], properties=_sid(1)) == [1]
    assert c.subscribe5([("$share/g2/t/#", 1)], pid=2) == [1]  # without one
    assert c.subscribe5([("t/x", 1)], pid=3, properties=_sid(3)) == [1]
    h.connected5("p").send(mqttc.publish5("t/x", b"m", qos=1, pid=1,
                                          properties=mqttc.props(_FWD)))
    got = sorted(x.props for x in c.publishes())
    assert got == sorted([_FWD, _FWD + [(0x0B, 1)], _FWD + [(0x0B, 3)]])


def test_MQTT_3_3_4_5_a_message_handed_over_from_a_leaving_member_carries_that_groups_identifier():
    h = Harness()
    a, b = _two_members(h)
    assert b.subscribe5([("$share/h/t", 1)], pid=2, properties=_sid(3)) == [1]
    a.drop()  # offline, its session kept: it queues what g gives it
    h.connected5("p").send(mqttc.publish5("t", b"m", qos=1, pid=1))
    assert [_ids(x) for x in b.publishes()] == [[3]]  # h's delivery; g gave it to a
    h.client().connect5("a", clean=True)  # a's session ends: g's message goes to b
    assert [_ids(x) for x in b.publishes()] == [[2]]


def test_MQTT_3_3_1_13_retain_as_published_of_the_shared_subscription_the_delivery_is_for():
    h = Harness()
    c = h.connected5("c")
    assert c.subscribe5([("$share/g1/r", 1 | AS_PUBLISHED)]) == [1]
    assert c.subscribe5([("$share/g2/r", 1)], pid=2, properties=_sid(2)) == [1]
    h.connected5("p").send(mqttc.publish5("r", b"m", qos=1, retain=True, pid=1))
    assert sorted((x.retain, _ids(x)) for x in c.publishes()) == [(0, [2]), (1, [])]


def test_a_v5_bridges_shared_subscription_with_an_identifier_gets_its_groups_messages():
    h = Harness()
    br = h.client()
    br.decode = mqttc.decode5
    assert br.connect("br", level=0x85, properties=b"\x00").rc == 0  # try_private: a bridge
    assert br.subscribe5([("$share/g/t", 2)], properties=_sid(1)) == [2]
    h.connected5("p").send(mqttc.publish5("t", b"m", qos=1, retain=True, pid=1))
    assert [(x.payload, x.qos, x.retain) for x in br.publishes()] == [(b"m", 1, 1)]


def test_MQTT_3_3_4_3_a_retained_message_at_subscribe_carries_that_subscriptions_identifier():
    h = Harness()
    h.connected5("p").send(mqttc.publish5("r/a", b"kept", retain=True))
    c = h.connected5("c")
    assert c.subscribe5([("r/#", 1 | RH2)], properties=_sid(1)) == [1]
    assert c.subscribe5([("r/a", 1)], pid=2, properties=_sid(2)) == [1]
    assert [(x.payload, _ids(x)) for x in c.extra] == [(b"kept", [2])]


def test_MQTT_3_3_4_3_a_message_resent_on_resume_keeps_its_identifiers():
    h = Harness()
    expiry = mqttc.props([(0x11, 3600)])
    c = h.connected5("c", clean=False, properties=expiry)
    assert c.subscribe5([("t", 1)], properties=_sid(4)) == [1]
    h.connected5("p").send(mqttc.publish5("t", b"m", qos=1, pid=1, properties=mqttc.props(_FWD)))
    assert [_ids(x) for x in c.publishes()] == [[4]]
    c.drop()  # not acknowledged
    c2 = h.client()
    assert c2.connect5("c", clean=False, properties=expiry).session_present == 1
    got, = [x for x in c2.after_connack if x.type == mqttc.PUBLISH]
    assert (got.dup, got.props) == (1, _FWD + [(0x0B, 4)])
