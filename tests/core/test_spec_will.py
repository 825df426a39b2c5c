"""MQTT 3.1.1 section 3.1.2.5-3.1.2.7 (Will) and 3.14 (DISCONNECT): Server-side statements."""

import mqttc
from mqttc import u16, mstr, packet
from harness import Harness, assert_closed_for_violation


def _will_client(h, cid="wc", qos=0, retain=False, topic="will/t", msg=b"gone", **kw):
    c = h.client()
    ack = c.connect(cid, will=(topic, msg, qos, retain), **kw)
    assert ack.rc == 0
    return c


def _wills(s):
    return [(p.topic, p.payload, p.qos, p.retain) for p in s.publishes()]


def test_MQTT_3_1_2_8_will_published_on_abrupt_close():
    h = Harness()
    s = h.subscriber("s", "will/#", 2)
    c = _will_client(h)
    assert s.publishes() == []
    c.drop()
    assert _wills(s) == [(b"will/t", b"gone", 0, 0)]


def test_MQTT_3_1_2_8_will_published_on_protocol_violation():
    h = Harness()
    s = h.subscriber("s", "will/#", 0)
    c = _will_client(h)
    c.send(mqttc.publish("bad/+", b"x"))
    assert c.closing
    c.drop()
    assert _wills(s) == [(b"will/t", b"gone", 0, 0)]


def test_MQTT_3_1_2_8_will_published_on_keepalive_timeout():
    h = Harness()
    s = h.subscriber("s", "will/#", 0)
    c = _will_client(h, keepalive=2)
    h.advance(4000)  # the watcher's own keepalive is 60 s
    assert c.closing and not s.closing
    c.drop()
    assert _wills(s) == [(b"will/t", b"gone", 0, 0)]


def test_MQTT_3_1_2_8_will_published_on_session_takeover():
    h = Harness()
    s = h.subscriber("s", "will/#", 0)
    old = _will_client(h, cid="same")
    new = h.client()
    assert new.connect("same").rc == 0
    assert old.closing
    old.drop()
    assert _wills(s) == [(b"will/t", b"gone", 0, 0)]


def test_MQTT_3_1_2_9_will_flag_requires_will_topic_and_message():
    # Will flag set but the payload stops after the client id.
    for tail in (b"", mstr("will/t")):
        h = Harness()
        c = h.client()
        m = h.mark()
        c.send(packet(0x10, mstr("MQTT") + bytes([4, 0x06]) + u16(60) + mstr("w") + tail))
        assert [p for p in c.packets() if p.type == mqttc.CONNACK] == []
        assert_closed_for_violation(h, c, m, "127.0.0.1")


def test_MQTT_3_1_2_10_will_removed_after_publication():
    h = Harness()
    s = h.subscriber("s", "will/#", 0)
    c = _will_client(h, cid="once")
    c.send(mqttc.pingreq() + b"\x00\x00")  # reserved packet type 0: violation, will sent
    assert c.closing
    c.drop()
    c.drop()  # closed() is idempotent and must not publish again
    assert len(_wills(s)) == 1


def test_MQTT_3_1_2_10_and_3_14_4_3_will_discarded_on_disconnect():
    h = Harness()
    s = h.subscriber("s", "will/#", 0)
    c = _will_client(h, cid="polite")
    c.disconnect()
    assert s.publishes() == []


def test_MQTT_3_1_2_11_will_flag_0_requires_will_qos_and_retain_0():
    for flags in (0x0A, 0x12, 0x22, 0x3A):
        h = Harness()
        c = h.client()
        c.send(mqttc.connect("w", flags=flags))
        assert [p for p in c.packets() if p.type == mqttc.CONNACK] == []
        assert c.closing


def test_MQTT_3_1_2_12_no_will_published_when_will_flag_0():
    h = Harness()
    s = h.subscriber("s", "#", 0)
    c = h.connected("nowill")
    c.drop()
    assert s.publishes() == []


def test_MQTT_3_1_2_13_will_flag_0_with_will_qos_closes():
    h = Harness()
    c = h.client()
    m = h.mark()
    c.send(mqttc.connect("w", flags=0x0A))  # clean + will QoS 1, no will flag
    assert [p for p in c.packets() if p.type == mqttc.CONNACK] == []
    assert_closed_for_violation(h, c, m, "127.0.0.1")


def test_MQTT_3_1_2_14_will_qos_3_closes():
    h = Harness()
    c = h.client()
    m = h.mark()
    c.send(mqttc.connect("w", will=("will/t", b"m", 3, False)))
    assert [p for p in c.packets() if p.type == mqttc.CONNACK] == []
    assert_closed_for_violation(h, c, m, "127.0.0.1")


def test_MQTT_3_1_2_14_will_qos_0_1_2_published_at_that_qos():
    for q in (0, 1, 2):
        h = Harness()
        s = h.subscriber("s", "will/#", 2)
        c = _will_client(h, qos=q)
        c.drop()
        got = s.publishes()
        assert [(x.payload, x.qos) for x in got] == [(b"gone", q)]


def test_MQTT_3_1_2_15_will_flag_0_with_will_retain_closes():
    h = Harness()
    c = h.client()
    m = h.mark()
    c.send(mqttc.connect("w", flags=0x22))  # clean + will retain, no will flag
    assert [p for p in c.packets() if p.type == mqttc.CONNACK] == []
    assert_closed_for_violation(h, c, m, "127.0.0.1")


def test_MQTT_3_1_2_16_will_retain_0_published_non_retained():
    h = Harness()
    s = h.subscriber("s", "will/#", 0)
    c = _will_client(h, retain=False)
    c.drop()
    assert _wills(s) == [(b"will/t", b"gone", 0, 0)]
    late = h.connected("late")
    late.subscribe([("will/#", 0)])
    assert [p for p in late.extra if p.type == mqttc.PUBLISH] == []


def test_MQTT_3_1_2_17_will_retain_1_published_retained():
    h = Harness()
    s = h.subscriber("s", "will/#", 1)
    c = _will_client(h, qos=1, retain=True)
    c.drop()
    got = s.publishes()
    # Live subscribers see retain 0 (3.3.1-9); the message is stored as retained.
    assert [(x.payload, x.retain) for x in got] == [(b"gone", 0)]
    late = h.connected("late")
    late.subscribe([("will/#", 1)])
    kept = [p for p in late.extra if p.type == mqttc.PUBLISH]
    assert [(x.topic, x.payload, x.qos, x.retain) for x in kept] == [(b"will/t", b"gone", 1, 1)]


def test_MQTT_3_14_1_1_disconnect_reserved_bits_must_be_zero():
    h = Harness()
    s = h.subscriber("s", "will/#", 0)
    c = _will_client(h, cid="dflags")
    m = h.mark()
    c.send(b"\xe1\x00")
    assert_closed_for_violation(h, c, m, "dflags")
    c.drop()
    # Not a valid DISCONNECT, so the will is not discarded.
    assert len(_wills(s)) == 1


def test_MQTT_3_14_1_1_disconnect_with_nonzero_length_closes():
    h = Harness()
    c = h.connected("dlen")
    m = h.mark()
    c.send(b"\xe0\x01\x00")
    assert_closed_for_violation(h, c, m, "dlen")


def test_MQTT_3_14_4_3_disconnect_closes_and_discards_will():
    h = Harness()
    s = h.subscriber("s", "will/#", 0)
    c = _will_client(h, cid="bye")
    c.send(mqttc.disconnect())
    assert c.closing
    c.drop()
    assert s.publishes() == []


def test_will_over_message_size_limit_is_refused_as_mosquitto_refuses_it():
    # mosquitto 2.0: CONNACK 5 (not authorized) for 3.1.1 and 3.1, 0x95 (packet too
    # large) for 5.0; a will of exactly the limit is taken
    h = Harness(message_size_limit=4)
    h.refused(mqttc.connect("w4", will=("w", b"12345", 1, False)), 5)
    h.refused(mqttc.connect("w3", will=("w", b"12345", 1, False), proto=b"MQIsdp", level=3), 5)
    c = h.client()
    c.send(mqttc.connect5("w5", will=("w", b"12345", 1, False)))
    (ack,), _ = mqttc.split5(c.read())
    assert (ack.type, ack.rc) == (mqttc.CONNACK, 0x95) and c.closing
    h.connected("ok", will=("w", b"1234", 1, False))
