"""MQTT 5.0 Server-side statements on the packets themselves: data representation (1.5),
the fixed header and packet identifiers (2), what CONNECT's payload holds (3.1.3), PUBLISH,
PUBREL, SUBSCRIBE, UNSUBSCRIBE, PINGREQ and DISCONNECT (3.3 to 3.14), and the properties
the broker never sends (Reason String, User Property) toward a Maximum Packet Size."""

import mqttc
from mqttc import props, packet, mstr, u16
from harness import Harness, assert_closed_for_violation, burst5, violation5

REASON_STRING = 0x1F
USER_PROPERTY = 0x26
# DISCONNECT's reason codes (section 3.14.2.1)
DISCONNECT_CODES = (0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F,
                    0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D,
                    0x9E, 0x9F, 0xA0, 0xA1, 0xA2)


def _no_problem_props(pkts, limit=None):
    """No packet of pkts carries a Reason String or a User Property, or is over limit
    bytes (as encoded)."""
    for p in pkts:
        ids = [pid for pid, _ in p.props]
        assert REASON_STRING not in ids and USER_PROPERTY not in ids, p
        if limit is not None:
            assert len(mqttc.packet(p.type << 4 | p.flags, p.body)) <= limit, p


# ---- 1.5 data representation ----

def test_MQTT_1_5_4_3_a_bom_is_kept_in_a_v5_topic_and_in_its_matching():
    h = Harness()
    sub = h.subscriber5("sub", "\ufeffa/b", 1)
    pub = h.connected5("pub")
    pub.publish("a/b", b"no bom", qos=1)
    pub.publish("\ufeffa/b", b"bom", qos=1, pid=2)
    got = sub.publishes()
    assert [(p.topic, p.payload) for p in got] == [(b"\xef\xbb\xbfa/b", b"bom")]


def test_MQTT_1_5_7_1_a_user_property_pair_with_ill_formed_utf8_is_malformed():
    bad_name = props(raw=b"\x26" + u16(1) + b"\xff" + mstr("v"))
    bad_value = props(raw=b"\x26" + mstr("k") + u16(2) + b"\xc0\x80")  # overlong U+0000
    for p in (bad_name, bad_value):
        violation5(mqttc.publish5("a", b"x", properties=p), 0x81)
        violation5(mqttc.subscribe5(1, [("a", 0)], properties=p), 0x81)
        h = Harness()
        c = h.client()
        c.send(mqttc.connect5("c", properties=p))
        assert c.read() == b"" and c.closing  # no CONNACK, as mosquitto (MQTT-3.1.4-1)
    # a well-formed pair is accepted
    h = Harness()
    assert h.client().connect5("c", properties=props([(0x26, ("k", "v"))])).rc == 0


# ---- 2 the fixed header, packet identifiers, the property length ----

def test_MQTT_2_1_3_1_reserved_fixed_header_flags_are_malformed_0x81():
    for first_byte, body in ((0x41, u16(1)), (0x51, u16(1)), (0x60, u16(1)), (0x71, u16(1)),
                             (0x80, u16(1) + b"\x00" + mstr("a") + b"\x00"),
                             (0xA0, u16(1) + b"\x00" + mstr("a")), (0xC2, b""),
                             (0xE1, b""), (0xF1, b"\x00\x00")):
        violation5(packet(first_byte, body), 0x81)


def test_MQTT_2_2_1_2_a_qos_0_publish_from_the_server_has_no_packet_id():
    h = Harness()
    sub = h.subscriber5("sub", "t", 0)
    h.connected5("pub").publish("t", b"zero", qos=1)
    # topic "t", property length 0, payload: nothing between topic and properties
    assert sub.read() == b"\x30\x08" + mstr("t") + b"\x00zero"


def test_MQTT_2_2_1_3_a_packet_id_of_0_from_a_v5_client_closes():
    # the reason codes mosquitto 2.0.11 sends: a protocol error in PUBLISH, malformed else
    for data, rc in ((mqttc.publish5("a", b"x", qos=1, pid=0), 0x82),
                     (mqttc.publish5("a", b"x", qos=2, pid=0), 0x82),
                     (mqttc.subscribe5(0, [("a", 0)]), 0x81),
                     (mqttc.unsubscribe5(0, ["a"]), 0x81)):
        violation5(data, rc)


def test_MQTT_2_2_1_4_server_publish_packet_ids_are_nonzero_and_unused():
    h, sub, got = burst5(1, 5)
    pub = h.connected5("pub2")
    first = [p.pid for p in got]
    assert len(set(first)) == 5 and 0 not in first
    sub.send(mqttc.puback(first[0]) + mqttc.puback(first[1]))
    for i in range(3):
        pub.publish("t", b"more", qos=1, pid=i + 10)
    more = [p.pid for p in sub.publishes()]
    assert 0 not in more and not set(more) & set(first[2:]), (first, more)
    assert len(set(more)) == 3


def test_MQTT_2_2_1_5_acknowledgements_carry_the_publish_packet_id():
    h = Harness()
    sub = h.subscriber5("sub", "t", 2)
    pub = h.connected5("pub")
    pub.send(mqttc.publish5("t", b"1", qos=1, pid=0x1234))
    assert [(p.type, p.pid) for p in pub.packets()] == [(mqttc.PUBACK, 0x1234)]
    pub.send(mqttc.publish5("t", b"2", qos=2, pid=0xABCD))
    assert [(p.type, p.pid) for p in pub.packets()] == [(mqttc.PUBREC, 0xABCD)]
    pub.send(mqttc.ack5(0x62, 0xABCD))
    assert [(p.type, p.pid) for p in pub.packets()] == [(mqttc.PUBCOMP, 0xABCD)]
    q2 = [p for p in sub.publishes() if p.qos == 2][0]
    sub.send(mqttc.ack5(0x50, q2.pid))
    assert [(p.type, p.pid) for p in sub.packets()] == [(mqttc.PUBREL, q2.pid)]


def test_MQTT_2_2_1_6_suback_and_unsuback_carry_the_packet_id():
    h = Harness()
    c = h.connected5("c")
    c.send(mqttc.subscribe5(0x7F01, [("a", 1)]))
    c.send(mqttc.unsubscribe5(0x0203, ["a", "b"]))
    assert [(p.type, p.pid) for p in c.packets()] == [(mqttc.SUBACK, 0x7F01),
                                                      (mqttc.UNSUBACK, 0x0203)]


def test_MQTT_2_2_2_1_no_properties_is_sent_as_a_property_length_of_0():
    h = Harness(max_inflight_messages=0)
    h.cfg.listeners[0].max_topic_alias = 0
    c = h.client()
    c.send(mqttc.connect5("c"))
    assert c.read() == b"\x20\x03\x00\x00\x00"  # flags, reason code, property length 0
    c.send(mqttc.subscribe5(5, [("t", 1)]) + mqttc.unsubscribe5(6, ["t"]))
    assert c.read() == b"\x90\x04\x00\x05\x00\x01" + b"\xb0\x04\x00\x06\x00\x00"
    c.send(mqttc.subscribe5(7, [("t", 1)]))
    c.read()
    h.connected("pub").publish("t", b"p", qos=1)
    assert c.read() == b"\x32\x07" + mstr("t") + b"\x00\x01\x00p"


# ---- 3.1 CONNECT ----

def test_MQTT_3_1_0_1_a_v5_packet_before_connect_closes_the_connection():
    h = Harness()
    sub = h.subscriber5("watcher", "a", 0)
    c = h.client()
    m = h.mark()
    c.send(mqttc.publish5("a", b"first"))
    assert c.read() == b""
    assert_closed_for_violation(h, c, m, "127.0.0.1")
    assert sub.publishes() == []


def test_MQTT_3_1_2_1_a_protocol_name_other_than_MQTT_closes_without_connack():
    h = Harness()
    c = h.client()
    m = h.mark()
    c.send(mqttc.connect5("c", proto=b"MQTX"))
    assert c.read() == b""
    assert_closed_for_violation(h, c, m, "127.0.0.1")


def test_MQTT_3_1_3_1_payload_fields_in_order_client_id_will_user_name_password():
    h = Harness()
    w = h.subscriber5("watcher", "will/#", 1)
    c = h.client()
    ack = c.connect5("ordered", will=("will/t", "last words", 1, 0),
                     will_properties=props([(0x18, 0)]), username="user", password=b"pw")
    assert ack.rc == 0
    assert (c.conn.client_id, c.conn.username) == ("ordered", "user")
    c.drop()
    assert [(p.topic, p.payload) for p in w.publishes()] == [(b"will/t", b"last words")]


def test_MQTT_3_1_3_2_the_client_id_identifies_the_session_state():
    h = Harness()
    keep = props([(0x11, 600)])
    a = h.connected5("a", clean=False, properties=keep)
    a.subscribe5([("only/a", 1)])
    a.drop()
    h.connected5("b", clean=False, properties=keep).drop()
    h.connected("pub").publish("only/a", b"for a", qos=1)
    b = h.client()
    assert b.connect5("b", clean=False, properties=keep).session_present == 1
    assert b.after_connack == []
    a = h.client()
    assert a.connect5("a", clean=False, properties=keep).session_present == 1
    assert [p.payload for p in a.after_connack] == [b"for a"]


def test_MQTT_3_1_3_3_a_connect_without_a_client_id_is_malformed():
    h = Harness()
    c = h.client()
    m = h.mark()
    # protocol name, level 5, Clean Start, keepalive 60, property length 0, then nothing
    c.send(packet(0x10, mstr("MQTT") + b"\x05\x02\x00\x3c\x00"))
    assert c.read() == b""
    assert_closed_for_violation(h, c, m, "127.0.0.1")


# ---- 3.2 CONNACK: properties the broker never sends ----

def test_MQTT_3_2_2_19_and_3_2_2_20_connack_carries_no_reason_string_or_user_property():
    h = Harness(allow_anonymous=False)
    small = props([(0x27, 16), (0x17, 1)])  # Maximum Packet Size 16, Request Problem Info
    c = h.client()
    _no_problem_props([c.connect5("refused", properties=small)], 16)
    h = Harness(max_keepalive=30)
    c = h.client()
    _no_problem_props([c.connect5("", properties=small, keepalive=0)], 64)
    ok = h.client()
    _no_problem_props([ok.connect5("ok", properties=small)], 16)


# ---- 3.3 PUBLISH ----

def test_MQTT_3_3_1_4_a_publish_of_qos_3_is_malformed_0x81():
    violation5(packet(0x36, mstr("a") + u16(1) + b"\x00"), 0x81)


def test_MQTT_3_3_2_1_the_topic_name_must_be_valid_utf8():
    for raw in (b"\xff", b"a\xed\xa0\x80", b"\xc0\xaf"):  # not UTF-8, a surrogate, overlong
        violation5(packet(0x30, u16(len(raw)) + raw + b"\x00x"), 0x81)


def test_MQTT_3_3_2_13_and_3_3_2_19_response_topic_and_content_type_must_be_valid_utf8():
    for pid in (0x08, 0x03):  # Response Topic, Content Type
        for raw in (b"\xff", b"a\xed\xa0\x80", b"\x00"):
            p = props(raw=bytes((pid,)) + u16(len(raw)) + raw)
            violation5(mqttc.publish5("a", b"x", properties=p), 0x81)
            h = Harness()
            c = h.client()
            c.send(mqttc.connect5("w", will=("w/t", "m", 0, 0), will_properties=p))
            assert c.read() == b"" and c.closing  # a will's: no CONNACK (MQTT-3.1.4-1)


def test_MQTT_3_3_2_2_a_topic_name_with_wildcards_closes():
    h = Harness()
    sub = h.subscriber5("watcher", "#", 0)
    for t in ("a/+", "a/#", "+", "#"):
        violation5(mqttc.publish5(t, b"x"), 0x82, h=h)  # a protocol error, as mosquitto
    assert sub.publishes() == []


def test_MQTT_3_3_2_3_the_topic_name_sent_is_the_published_one_matching_the_filter():
    h = Harness()
    sub = h.subscriber5("sub", "a/+/c", 0)
    h.connected5("pub").publish("a/Bx/c", b"m")
    h.connected5("pub2").publish("a/b/d", b"no")
    assert [p.topic for p in sub.publishes()] == [b"a/Bx/c"]


# ---- 3.6 PUBREL ----

def test_MQTT_3_6_1_1_pubrel_with_reserved_flags_other_than_0010_is_malformed():
    for first_byte in (0x60, 0x63, 0x6A):
        h = Harness()
        pub = h.connected5("violator")
        pub.send(mqttc.publish5("t", b"x", qos=2, pid=1))
        assert pub.only(mqttc.PUBREC).pid == 1
        m = h.mark()
        pub.send(packet(first_byte, u16(1)))
        assert pub.only(mqttc.DISCONNECT).rc == 0x81
        assert_closed_for_violation(h, pub, m, "violator")


# ---- 3.8 SUBSCRIBE, 3.9 SUBACK ----

def test_MQTT_3_8_1_1_subscribe_with_reserved_flags_other_than_0010_is_malformed():
    for first_byte in (0x80, 0x83, 0x8A):
        violation5(packet(first_byte, u16(1) + b"\x00" + mstr("a") + b"\x00"), 0x81)


def test_MQTT_3_8_3_1_the_topic_filter_must_be_valid_utf8():
    for raw in (b"\xff", b"a/\xed\xbf\xbf", b"a\x00"):
        violation5(packet(0x82, u16(1) + b"\x00" + u16(len(raw)) + raw + b"\x00"), 0x81)


def test_MQTT_3_8_3_2_subscribe_without_a_filter_closes():
    violation5(packet(0x82, u16(1) + b"\x00"), 0x81)


def test_MQTT_3_8_3_5_reserved_bits_of_the_subscription_options_are_malformed():
    for o in (0x40, 0x80, 0xC1):
        violation5(mqttc.subscribe5(1, [("a", o)]), 0x81)


def test_MQTT_3_8_4_1_and_3_8_4_2_subscribe_gets_a_suback_with_its_packet_id():
    h = Harness()
    c = h.connected5("c")
    c.send(mqttc.subscribe5(0x4242, [("a/#", 2)]))
    s = c.only(mqttc.SUBACK)
    assert (s.pid, s.codes) == (0x4242, [2])


def test_MQTT_3_8_4_3_subscribing_again_to_a_filter_replaces_the_subscription():
    h = Harness()
    sub = h.subscriber5("sub", "a/#", 2)
    assert sub.subscribe5([("a/#", 0)], pid=2) == [0]
    assert sub.conn.session.subs == {"a/#": 0}
    h.connected5("pub").publish("a/b", b"x", qos=2)
    assert [(p.payload, p.qos) for p in sub.publishes()] == [(b"x", 0)]  # one copy, QoS 0


def test_MQTT_3_8_4_4_subscribing_again_resends_the_retained_and_loses_nothing_queued():
    h = Harness()
    pub = h.connected5("pub")
    pub.publish("r/x", b"kept", qos=1, retain=True)
    sub = h.subscriber5("sub", "r/#", 1)
    first = sub.extra
    assert [(p.payload, p.retain) for p in first] == [(b"kept", 1)]
    pub.publish("r/x", b"live", qos=1, pid=2)  # in flight, not acknowledged
    live = sub.publishes()
    assert [p.payload for p in live] == [b"live"]
    assert sub.subscribe5([("r/#", 1)], pid=2) == [1]  # Retain Handling 0
    again = sub.extra
    assert [(p.payload, p.retain) for p in again] == [(b"kept", 1)]
    assert live[0].pid in sub.conn.session.inflight  # the message in flight is kept
    for p in first + live + again:
        sub.send(mqttc.puback(p.pid))
    assert sub.conn.session.inflight == {}


def test_MQTT_3_8_4_5_several_filters_are_handled_as_several_subscribes_with_one_suback():
    h = Harness()
    sub = h.connected5("sub")
    sub.send(mqttc.subscribe5(3, [("a", 0), ("b/#", 1), ("c/+", 2)]))
    assert [(p.type, p.codes) for p in sub.packets()] == [(mqttc.SUBACK, [0, 1, 2])]
    assert sub.conn.session.subs == {"a": 0, "b/#": 1, "c/+": 2}


def test_MQTT_3_8_4_6_and_3_9_3_1_one_reason_code_per_filter_in_their_order():
    h = Harness(max_subscriptions_per_client=2)
    h.broker.max_subs = 2
    sub = h.connected5("sub")
    codes = sub.subscribe5([("z", 2), ("y", 0), ("x", 1), ("w", 0)])
    assert codes[:2] == [2, 0] and min(codes[2:]) >= 0x80, codes  # the last two: over the limit


def test_MQTT_3_8_4_7_and_3_9_3_2_reason_codes_are_the_qos_granted_or_a_failure():
    subscribe_codes = (0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2)
    h = Harness(max_subscriptions_per_client=3)
    h.broker.max_subs = 3
    h.cfg.listeners[0].max_qos = 1
    sub = h.connected5("sub")
    codes = sub.subscribe5([("a", 0), ("b", 1), ("c", 2), ("d", 1)])
    assert codes[:3] == [0, 1, 1] and codes[3] >= 0x80, codes  # max_qos 1; over the limit
    assert all(c in subscribe_codes for c in codes)


def test_MQTT_3_8_4_8_the_qos_sent_is_the_lower_of_published_and_granted():
    h = Harness()
    subs = [h.subscriber5("s%d" % q, "t", q) for q in (0, 1, 2)]
    pub = h.connected5("pub")
    for q in (0, 1, 2):
        pub.publish("t", b"%d" % q, qos=q, pid=q + 1 if q else None)
    for granted, s in enumerate(subs):
        assert [(p.payload, p.qos) for p in s.publishes()] == \
            [(b"%d" % q, min(q, granted)) for q in (0, 1, 2)]


# ---- 3.10 UNSUBSCRIBE, 3.11 UNSUBACK ----

def test_MQTT_3_10_1_1_unsubscribe_with_reserved_flags_other_than_0010_is_malformed():
    for first_byte in (0xA0, 0xA3, 0xAA):
        violation5(packet(first_byte, u16(1) + b"\x00" + mstr("a")), 0x81)


def test_MQTT_3_10_3_1_the_unsubscribe_filters_must_be_valid_utf8():
    for raw in (b"\xff", b"a/\xed\xa0\x80"):
        violation5(packet(0xA2, u16(1) + b"\x00" + u16(len(raw)) + raw), 0x81)


def test_MQTT_3_10_3_2_unsubscribe_without_a_filter_closes():
    violation5(packet(0xA2, u16(1) + b"\x00"), 0x81)


def test_MQTT_3_10_4_1_filters_are_compared_character_by_character():
    h = Harness()
    sub = h.connected5("sub")
    sub.subscribe5([("a/b", 0), ("a/+", 0), ("A/b", 0)])
    sub.send(mqttc.unsubscribe5(2, ["a/+", "a/b/"]))
    assert sub.only(mqttc.UNSUBACK).codes == [0x00, 0x11]
    assert sorted(sub.conn.session.subs) == ["A/b", "a/b"]


def test_MQTT_3_10_4_2_no_new_message_for_an_unsubscribed_filter():
    h = Harness()
    sub = h.subscriber5("sub", "t/#", 1)
    sub.send(mqttc.unsubscribe5(2, ["t/#"]))
    sub.packets()
    h.connected5("pub").publish("t/x", b"after", qos=1)
    assert sub.publishes() == []


def test_MQTT_3_10_4_3_deliveries_begun_are_completed_after_unsubscribe():
    h = Harness()
    s1 = h.subscriber5("s1", "t", 1)
    s2 = h.subscriber5("s2", "t", 2)
    pub = h.connected5("pub")
    pub.publish("t", b"q1", qos=1)
    pub.publish("t", b"q2", qos=2, pid=2)
    q1 = s1.publishes()
    p1, p2 = s2.publishes()
    s1.send(mqttc.unsubscribe5(5, ["t"]))
    s2.send(mqttc.unsubscribe5(5, ["t"]))
    assert s1.only(mqttc.UNSUBACK).codes == [0]
    assert s2.only(mqttc.UNSUBACK).codes == [0]
    assert [p.qos for p in q1] == [1, 1]
    s1.send(mqttc.puback(q1[0].pid) + mqttc.puback(q1[1].pid))
    assert s1.conn.session.inflight == {}
    s2.send(mqttc.puback(p1.pid) + mqttc.ack5(0x50, p2.pid))
    assert s2.only(mqttc.PUBREL).pid == p2.pid  # the QoS 2 flow goes on
    s2.send(mqttc.ack5(0x70, p2.pid))
    assert s2.conn.session.inflight == {}


def test_MQTT_3_10_4_4_and_3_10_4_5_unsuback_with_its_packet_id_even_for_no_subscription():
    h = Harness()
    c = h.connected5("c")
    c.send(mqttc.unsubscribe5(0x1111, ["never/subscribed"]))
    u = c.only(mqttc.UNSUBACK)
    assert (u.pid, u.codes) == (0x1111, [0x11])


def test_MQTT_3_10_4_6_several_filters_are_handled_as_several_unsubscribes_with_one_unsuback():
    h = Harness()
    c = h.connected5("c")
    c.subscribe5([("a", 0), ("b", 1), ("c", 2)])
    c.send(mqttc.unsubscribe5(2, ["a", "x", "c"]))
    assert [(p.type, p.codes) for p in c.packets()] == [(mqttc.UNSUBACK, [0, 0x11, 0])]
    assert c.conn.session.subs == {"b": 1}


def test_MQTT_3_11_3_1_and_3_11_3_2_unsuback_reason_codes_in_the_filters_order():
    unsubscribe_codes = (0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91)
    h = Harness()
    c = h.connected5("c")
    c.subscribe5([("b", 0), ("d", 0)])
    c.send(mqttc.unsubscribe5(2, ["a", "b", "c", "d", "e"]))
    codes = c.only(mqttc.UNSUBACK).codes
    assert codes == [0x11, 0, 0x11, 0, 0x11]
    assert all(x in unsubscribe_codes for x in codes)


# ---- 3.12 PINGREQ, 3.14 DISCONNECT ----

def test_MQTT_3_12_4_1_a_v5_pingreq_gets_pingresp():
    h = Harness()
    c = h.connected5("c")
    c.send(mqttc.pingreq())
    assert c.read() == b"\xd0\x00"


def test_MQTT_3_14_2_1_the_servers_disconnects_use_disconnect_reason_codes():
    got = []
    h = Harness(max_keepalive=10)
    old = h.connected5("taken")
    h.connected5("taken")
    got.append(old.only(mqttc.DISCONNECT).rc)  # 0x8E
    idle = h.connected5("idle", keepalive=1)
    h.advance(2000)
    got.append(idle.only(mqttc.DISCONNECT).rc)  # 0x8D
    for data in (mqttc.connect5("x"), packet(0x60, u16(1)), mqttc.auth5(),
                 mqttc.publish5("", b"x", properties=props([(0x23, 2)])),
                 mqttc.subscribe5(1, [("a", 0x40)]),
                 mqttc.publish5("a", b"x", properties=props([(0x23, 11)]))):
        c = h.connected5("v")
        c.send(data)
        got.append(c.only(mqttc.DISCONNECT).rc)  # 0x82, 0x81, 0x82, 0x82, 0x81, 0x94
    last = h.connected5("last")
    h.broker.shutdown()
    got.append(last.only(mqttc.DISCONNECT).rc)  # 0x8B
    assert got == [0x8E, 0x8D, 0x82, 0x81, 0x82, 0x82, 0x81, 0x94, 0x8B]
    assert all(rc in DISCONNECT_CODES for rc in got)


# ---- properties the broker never sends: Reason String, User Property ----

def test_MQTT_3_4_2_2_and_3_4_2_3_and_3_5_2_2_and_3_5_2_3_no_reason_string_or_user_property():
    h = Harness(message_size_limit=3)
    h.subscriber5("sub", "s", 1)
    pub = h.connected5("pub", properties=props([(0x27, 16), (0x17, 1)]))
    for i, (t, payload) in enumerate((("s", b"x"), ("none", b"x"), ("$x", b"x"),
                                      ("s", b"long"))):
        pub.send(mqttc.publish5(t, payload, qos=1, pid=i + 1))
        pub.send(mqttc.publish5(t, payload, qos=2, pid=i + 100))
    pkts = pub.packets()
    assert {p.type for p in pkts} == {mqttc.PUBACK, mqttc.PUBREC}
    assert {p.rc for p in pkts} >= {0x00, 0x10, 0x87, 0x95}
    _no_problem_props(pkts, 16)


def test_MQTT_3_6_2_2_and_3_6_2_3_and_3_7_2_2_and_3_7_2_3_no_reason_string_or_user_property():
    h = Harness()
    sub = h.subscriber5("sub", "t", 2, properties=props([(0x27, 16), (0x17, 1)]))
    pub = h.connected5("pub")
    pub.publish("t", b"x", qos=2)
    pub.send(mqttc.ack5(0x62, 99))  # unknown: PUBCOMP 0x00, as mosquitto 2.0
    assert [(p.type, p.rc) for p in pub.packets()] == [(mqttc.PUBCOMP, 0)]
    p = sub.publishes()[0]
    sub.send(mqttc.ack5(0x50, p.pid))
    rel = sub.packets()
    assert [r.type for r in rel] == [mqttc.PUBREL]
    _no_problem_props(rel, 16)
    sub.send(mqttc.ack5(0x62, 7))
    comp = sub.packets()
    assert [(c.type, c.rc) for c in comp] == [(mqttc.PUBCOMP, 0)]
    _no_problem_props(comp, 16)


def test_MQTT_3_9_2_1_and_3_9_2_2_and_3_11_2_1_and_3_11_2_2_no_reason_string_or_user_property():
    h = Harness(max_subscriptions_per_client=1)
    h.broker.max_subs = 1
    c = h.connected5("c", properties=props([(0x27, 12), (0x17, 1)]))
    c.send(mqttc.subscribe5(1, [("a", 1), ("b", 1)]))  # the second refused
    c.send(mqttc.unsubscribe5(2, ["a", "z"]))
    pkts = c.packets()
    assert [(p.type, p.codes[0]) for p in pkts] == [(mqttc.SUBACK, 1), (mqttc.UNSUBACK, 0)]
    assert pkts[0].codes[1] >= 0x80 and pkts[1].codes[1] == 0x11
    _no_problem_props(pkts, 12)


def test_MQTT_3_14_2_3_and_3_14_2_4_disconnect_carries_no_reason_string_or_user_property():
    h = Harness()
    small = props([(0x27, 8), (0x17, 1)])
    c = h.connected5("c", properties=small)
    c.send(mqttc.publish5("", b"x", properties=props([(0x23, 2)])))  # an unknown alias
    d = c.packets()
    assert [(p.type, p.rc) for p in d] == [(mqttc.DISCONNECT, 0x82)]
    _no_problem_props(d, 8)
    old = h.connected5("same", properties=small)
    h.connected5("same")
    d = old.packets()
    assert [(p.type, p.rc) for p in d] == [(mqttc.DISCONNECT, 0x8E)]
    _no_problem_props(d, 8)
