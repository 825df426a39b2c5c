"""MQTT 5.0 section 3.3.2 (PUBLISH properties): Server-side statements, and the choices
where this broker does as mosquitto 2.0 (topic alias errors) or checks what mosquitto does
not (the payload of Payload Format Indicator 1)."""

import mqttc
from harness import Harness

P = mqttc.props
FORMAT, EXPIRY, CONTENT_TYPE, RESPONSE_TOPIC, CORRELATION = 0x01, 0x02, 0x03, 0x08, 0x09
SUB_ID, ALIAS, USER = 0x0B, 0x23, 0x26


def v5(h, cid, properties=b"\x00", clean=True):
    """A client connected with MQTT 5.0 (its CONNACK read)."""
    c = h.client()
    c.send(mqttc.connect5(cid, clean=clean, properties=properties))
    [ack] = mqttc.split5(c.read())[0]
    assert ack.type == mqttc.CONNACK and ack.rc == 0, ack
    return c


def v5_sub(h, cid, flt, qos=1, properties=b"\x00", clean=True):
    """A 5.0 client subscribed to flt; c.extra: the packets after its SUBACK."""
    c = v5(h, cid, properties, clean)
    c.send(mqttc.subscribe5(1, [(flt, qos)]))
    ack, *c.extra = mqttc.split5(c.read())[0]
    assert ack.type == mqttc.SUBACK and ack.codes == [qos], ack
    return c


def got5(c):
    """The PUBLISH packets a 5.0 client has received since the last read."""
    return [p for p in mqttc.split5(c.read())[0] if p.type == mqttc.PUBLISH]


def publish(c, topic, payload, properties, qos=1, pid=1, retain=False):
    """A 5.0 PUBLISH from c; returns what c got back (its acknowledgement, raw)."""
    c.send(mqttc.publish5(topic, payload, qos, retain, False, pid if qos else None, properties))
    return c.read()


def disconnected(c, code):
    """c got a DISCONNECT with reason code code and its connection was closed."""
    [d] = mqttc.split5(c.read())[0]
    assert d.type == mqttc.DISCONNECT and d.rc == code, d
    assert c.closing


ALL = [(FORMAT, 1), (USER, ("b", "2")), (CONTENT_TYPE, "text/plain"),
       (RESPONSE_TOPIC, "reply/to"), (USER, ("a", "1")), (CORRELATION, b"\x00\xffid"),
       (USER, ("b", "3"))]


def _forwarded(items):
    """What a 5.0 subscriber gets of a PUBLISH with properties items (QoS 1)."""
    h = Harness()
    s = v5_sub(h, "s", "t/#")
    p = v5(h, "p")
    assert publish(p, "t/x", b"hello", P(items)) == b"\x40\x02\x00\x01"
    [m] = got5(s)
    assert (m.topic, m.payload, m.qos) == (b"t/x", b"hello", 1)
    return m.props


def test_MQTT_3_3_2_4_payload_format_indicator_is_forwarded_unaltered():
    assert _forwarded([(FORMAT, 1)]) == [(FORMAT, 1)]
    assert _forwarded([(FORMAT, 0)]) == [(FORMAT, 0)]


def test_MQTT_3_3_2_15_response_topic_is_forwarded_unaltered():
    items = [(RESPONSE_TOPIC, "reply/to/\u00e9")]
    assert _forwarded(items) == items


def test_MQTT_3_3_2_16_correlation_data_is_forwarded_unaltered():
    assert _forwarded([(CORRELATION, b"\x00\x01\xff")]) == [(CORRELATION, b"\x00\x01\xff")]


def test_MQTT_3_3_2_17_every_user_property_is_forwarded_unaltered():
    items = [(USER, ("k", "v")), (USER, ("k", "v")), (USER, ("", "")), (USER, ("\u00e9", "x y"))]
    assert _forwarded(items) == items


def test_MQTT_3_3_2_18_user_properties_keep_their_order():
    assert _forwarded(ALL) == ALL  # mixed with the other properties, in the order sent


def test_MQTT_3_3_2_20_content_type_is_forwarded_unaltered():
    assert _forwarded([(CONTENT_TYPE, "application/json")]) == [(CONTENT_TYPE, "application/json")]


def test_a_3_1_1_subscriber_gets_the_message_without_properties():
    h = Harness()
    old = h.subscriber("old", "t/#", 1)
    zero = h.subscriber("zero", "t/#", 0)
    p = v5(h, "p")
    publish(p, "t/x", b"hello", P(ALL + [(EXPIRY, 60)]))
    publish(p, "t/y", b"plain", b"\x00", qos=0)
    for c, q in ((old, 1), (zero, 0)):
        got = [(m.topic, m.payload, m.qos) for m in c.publishes()]
        assert got == [(b"t/x", b"hello", q), (b"t/y", b"plain", 0)]


def test_a_5_0_subscriber_gets_an_empty_property_block_from_a_3_1_1_publisher():
    h = Harness()
    s0 = v5_sub(h, "s0", "t/#", 0)
    s1 = v5_sub(h, "s1", "t/#", 1)
    p = h.connected("p")
    p.publish("t/x", b"q0")
    p.publish("t/x", b"q1", qos=1)
    assert s0.read() == mqttc.publish5("t/x", b"q0") + mqttc.publish5("t/x", b"q1")  # b"\x00"
    assert [(m.payload, m.qos, m.props) for m in got5(s1)] == [(b"q0", 0, []), (b"q1", 1, [])]


def test_a_qos0_message_without_properties_reaches_5_0_subscribers_as_sent():
    h = Harness()
    s = v5_sub(h, "s", "t/#", 0)
    p = v5(h, "p")
    pkt = mqttc.publish5("t/x", b"raw", properties=b"\x00")
    p.send(pkt)
    assert s.read() == pkt


def test_MQTT_3_3_2_5_an_expired_message_is_not_sent_from_a_session_queue():
    h = Harness()
    s = v5_sub(h, "s", "t/#", 1, P([(0x11, 300)]), clean=False)
    s.drop()
    p = v5(h, "p")
    publish(p, "t/x", b"short", P([(EXPIRY, 1)]), pid=1)
    publish(p, "t/x", b"long", P([(EXPIRY, 100)]), pid=2)
    publish(p, "t/x", b"never", b"\x00", pid=3)
    h.advance(2000)
    s = h.client()
    s.send(mqttc.connect5("s", clean=False, properties=P([(0x11, 300)])))
    got = [(m.payload, m.props) for m in mqttc.split5(s.read())[0] if m.type == mqttc.PUBLISH]
    assert got == [(b"long", [(EXPIRY, 98)]), (b"never", [])]


def test_MQTT_3_3_2_5_an_expired_retained_message_is_not_sent_and_is_forgotten():
    h = Harness()
    p = v5(h, "p")
    publish(p, "r/short", b"s", P([(EXPIRY, 1)]), retain=True, pid=1)
    publish(p, "r/long", b"l", P([(EXPIRY, 100), (USER, ("k", "v"))]), retain=True, pid=2)
    h.advance(2000)
    s = v5_sub(h, "s", "r/#")
    [m] = s.extra
    assert (m.topic, m.payload, m.retain, m.props) == (
        b"r/long", b"l", 1, [(USER, ("k", "v")), (EXPIRY, 98)])
    assert "r/short" not in h.broker.retained.msgs


def test_MQTT_3_3_2_6_the_expiry_sent_is_what_is_left_of_the_interval():
    h = Harness()
    s = v5_sub(h, "s", "t/#", 1, P([(0x21, 1)]))  # Receive Maximum 1: the second waits
    h.broker.max_inflight = 1  # (max_inflight_messages 1 does the same)
    p = v5(h, "p")
    publish(p, "t/x", b"first", P([(EXPIRY, 30)]), pid=1)
    publish(p, "t/x", b"second", P([(EXPIRY, 30)]), pid=2)
    [first] = got5(s)
    assert first.props == [(EXPIRY, 30)]  # sent at once: the whole interval
    h.advance(5000)
    s.send(mqttc.puback(first.pid))
    [second] = got5(s)
    assert second.payload == b"second" and second.props == [(EXPIRY, 25)]  # waited 5 s


def test_MQTT_3_3_2_7_topic_aliases_do_not_carry_over_to_a_new_connection():
    h = Harness()
    s = v5_sub(h, "s", "t/#")
    p = v5(h, "p")
    publish(p, "t/x", b"1", P([(ALIAS, 1)]))
    assert publish(p, "", b"2", P([(ALIAS, 1)]), pid=2) == b"\x40\x02\x00\x02"
    assert [m.topic for m in got5(s)] == [b"t/x", b"t/x"]
    p.disconnect()
    p = v5(h, "p")
    p.send(mqttc.publish5("", b"3", 1, False, False, 3, P([(ALIAS, 1)])))
    disconnected(p, 0x82)  # not set on this connection
    assert got5(s) == []


def test_MQTT_3_3_2_7_a_resumed_session_keeps_its_messages_but_not_the_old_connections_aliases():
    h = Harness()
    s = v5_sub(h, "s", "t/#", 2)
    expiry = P([(0x11, 3600)])
    p = v5(h, "p", expiry, clean=False)
    publish(p, "t/x", b"1", P([(ALIAS, 1)]))
    assert publish(p, "", b"2", P([(ALIAS, 1)]), qos=2, pid=2) == b"\x50\x02\x00\x02"
    assert [m.topic for m in got5(s)] == [b"t/x"]  # "2" waits for its PUBREL
    p.drop()
    p = h.client()
    assert p.connect5("p", clean=False, properties=expiry).session_present == 1
    assert p.answer(mqttc.pubrel(2)) == b"\x70\x02\x00\x02"  # PUBCOMP
    assert [(m.topic, m.payload) for m in got5(s)] == [(b"t/x", b"2")]
    p.send(mqttc.publish5("", b"3", 1, False, False, 3, P([(ALIAS, 1)])))
    disconnected(p, 0x82)  # the alias was the old connection's
    assert got5(s) == []


def _aliases_sent(client_max):
    """The Topic Alias properties a 5.0 subscriber announcing Topic Alias Maximum client_max
    gets with messages on several topics, each sent more than once."""
    h = Harness()
    s = v5_sub(h, "s", "t/#", 1, P([(0x22, client_max)]) if client_max else b"\x00")
    p = v5(h, "p")
    for i in range(6):
        publish(p, "t/%d" % (i % 3), b"%d" % i, P([(ALIAS, 1)]) if i == 0 else b"\x00", pid=i + 1)
    got = got5(s)
    assert [m.topic for m in got] == [b"t/0", b"t/1", b"t/2"] * 2
    return [v for m in got for pid, v in m.props if pid == ALIAS]


def test_MQTT_3_3_2_8_the_server_sends_no_topic_alias_0():
    assert _aliases_sent(10) == []  # none at all, as mosquitto 2.0


def test_MQTT_3_3_2_11_the_server_sends_no_topic_alias_over_the_clients_maximum():
    assert _aliases_sent(1) == [] and _aliases_sent(0) == []


def test_MQTT_3_3_2_12_every_topic_alias_from_1_to_the_maximum_is_accepted():
    h = Harness()
    s = v5_sub(h, "s", "a/#")
    p = v5(h, "p")
    for a in range(1, 11):  # max_topic_alias 10, mosquitto's default
        publish(p, "a/%d" % a, b"set", P([(ALIAS, a)]), pid=a)
    for a in range(1, 11):
        assert publish(p, "", b"use", P([(ALIAS, a)]), pid=a) == bytes((0x40, 2, 0, a))
    got = [(m.topic, m.payload) for m in got5(s)]
    assert got[10:] == [(b"a/%d" % a, b"use") for a in range(1, 11)]


def test_topic_alias_0_or_over_max_topic_alias_is_disconnect_0x94():
    for alias in (0, 11):
        h = Harness()
        p = v5(h, "p")
        p.send(mqttc.publish5("t/x", b"x", 1, False, False, 1, P([(ALIAS, alias)])))
        disconnected(p, 0x94)  # Topic Alias invalid
    h = Harness()
    h.cfg.listeners[0].max_topic_alias = 0  # max_topic_alias 0: none allowed
    p = v5(h, "p")
    p.send(mqttc.publish5("t/x", b"x", 1, False, False, 1, P([(ALIAS, 1)])))
    disconnected(p, 0x94)


def test_an_empty_topic_without_a_topic_alias_is_disconnect_0x82():
    h = Harness()
    p = v5(h, "p")
    p.send(mqttc.publish5("", b"x", 1, False, False, 1, b"\x00"))
    disconnected(p, 0x82)


def test_aliases_are_per_connection_and_may_be_set_again():
    h = Harness()
    s = v5_sub(h, "s", "t/#")
    p1, p2 = v5(h, "p1"), v5(h, "p2")
    publish(p1, "t/one", b"a", P([(ALIAS, 1)]))
    publish(p2, "t/two", b"b", P([(ALIAS, 1)]))
    publish(p1, "", b"c", P([(ALIAS, 1)]), pid=2)
    publish(p1, "t/three", b"d", P([(ALIAS, 1)]), pid=3)  # set again
    publish(p1, "", b"e", P([(ALIAS, 1), (USER, ("k", "v"))]), pid=4)
    got = [(m.topic, m.payload, m.props) for m in got5(s)]
    assert got == [(b"t/one", b"a", []), (b"t/two", b"b", []), (b"t/one", b"c", []),
                   (b"t/three", b"d", []), (b"t/three", b"e", [(USER, ("k", "v"))])]


def test_payload_format_1_with_a_payload_that_is_not_utf8_gets_0x99_and_is_not_delivered():
    h = Harness()
    s = v5_sub(h, "s", "t/#")
    p = v5(h, "p")
    for qos, first in ((1, 0x40), (2, 0x50)):
        assert publish(p, "t/x", b"\xff\xfe", P([(FORMAT, 1)]), qos=qos, pid=qos) == \
            bytes((first, 3, 0, qos, 0x99))  # Payload format invalid
    publish(p, "t/x", b"\xed\xa0\x80", P([(FORMAT, 1)]), qos=0)  # a surrogate: dropped too
    assert got5(s) == []
    assert not p.closing
    publish(p, "t/x", b"\xff", P([(FORMAT, 0)]), pid=3)  # unspecified bytes: delivered
    publish(p, "t/x", "\u00e9t\u00e9\x00".encode(), P([(FORMAT, 1)]), pid=4)  # U+0000 is UTF-8
    assert [m.payload for m in got5(s)] == [b"\xff", "\u00e9t\u00e9\x00".encode()]


def test_properties_reach_a_5_0_subscriber_of_a_mount_point_listener():
    h = Harness()
    lst = h.mounted_listener("site/")
    s = h.client(lst)
    s.send(mqttc.connect5("s") + mqttc.subscribe5(1, [("t/#", 0)]))
    s.read()
    p = v5(h, "p")
    publish(p, "site/t/x", b"in", P([(USER, ("k", "v"))]), qos=0)
    [m] = got5(s)
    assert (m.topic, m.payload, m.props) == (b"t/x", b"in", [(USER, ("k", "v"))])


def test_a_resent_message_keeps_its_properties():
    h = Harness()
    s = v5_sub(h, "s", "t/#", 1, P([(0x11, 300)]), clean=False)
    p = v5(h, "p")
    publish(p, "t/x", b"x", P([(CONTENT_TYPE, "ct")]))
    [m] = got5(s)
    s.drop()
    s = h.client()
    s.send(mqttc.connect5("s", clean=False, properties=P([(0x11, 300)])))
    [again] = [x for x in mqttc.split5(s.read())[0] if x.type == mqttc.PUBLISH]
    assert (again.dup, again.pid, again.props) == (1, m.pid, [(CONTENT_TYPE, "ct")])
