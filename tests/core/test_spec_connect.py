"""MQTT 3.1.1 section 3.1 (CONNECT) and 3.2 (CONNACK): Server-side statements."""

import mqttc
from mqttc import u16, mstr, packet
from harness import Harness, assert_closed_for_violation

PEER = "127.0.0.1"


def _no_connack(c):
    """Nothing the broker sent to c is a CONNACK."""
    for p in c.packets():
        assert p.type != mqttc.CONNACK, "unexpected %r" % p


def _refused_without_connack(data, settings=None):
    """Send data as a new connection's first bytes; assert close, no CONNACK, a log line."""
    h = Harness(**(settings or {}))
    c = h.client()
    m = h.mark()
    c.send(data)
    _no_connack(c)
    assert_closed_for_violation(h, c, m, PEER)
    return h


def test_MQTT_3_1_0_1_first_packet_must_be_connect():
    firsts = [
        mqttc.publish("a", b"x"),
        mqttc.subscribe(1, [("a", 0)]),
        mqttc.pingreq(),
        mqttc.disconnect(),
        mqttc.puback(1),
    ]
    for data in firsts:
        h = Harness()
        c = h.client()
        m = h.mark()
        c.send(data)
        assert c.read() == b"", "broker answered a non-CONNECT first packet %r" % data
        assert_closed_for_violation(h, c, m, PEER)


def test_MQTT_3_1_0_1_packet_before_connect_is_not_processed():
    h = Harness()
    sub = h.subscriber("watcher", "a", 0)
    c = h.client()
    c.send(mqttc.publish("a", b"sneaky"))
    assert c.closing
    assert sub.publishes() == []


def test_MQTT_3_1_0_2_second_connect_is_protocol_violation():
    h = Harness()
    c = h.connected("twice")
    m = h.mark()
    c.send(mqttc.connect("twice"))
    _no_connack(c)
    assert_closed_for_violation(h, c, m, "twice")


def test_MQTT_3_1_2_1_wrong_protocol_name_closes_without_connack():
    for name in (b"MQTX", b"mqtt", b"MQT", b""):
        _refused_without_connack(mqttc.connect("n", proto=name))


def test_MQTT_3_1_2_2_unsupported_level_gets_connack_1_then_close():
    for level in (7, 0, 255):
        Harness().refused(mqttc.connect("lv", level=level), 1)


def test_MQTT_3_1_2_3_reserved_connect_flag_must_be_zero():
    _refused_without_connack(mqttc.connect("r", flags=0x03))
    _refused_without_connack(mqttc.connect("r", flags=0x01))


def test_MQTT_3_1_2_18_username_flag_0_with_username_present_is_rejected():
    # Flags say no user name but the payload carries one: surplus bytes.
    _refused_without_connack(mqttc.connect("u", extra=mstr("someone")))


def test_MQTT_3_1_2_19_username_flag_1_requires_username():
    _refused_without_connack(mqttc.connect("u", flags=0x82))


def test_MQTT_3_1_2_19_username_present_is_accepted():
    h = Harness()
    c = h.client()
    ack = c.connect("u", username="alice")
    assert ack.rc == 0 and not c.closing


def test_MQTT_3_1_2_20_password_flag_0_with_password_present_is_rejected():
    # User name flag set, password flag clear, yet a password follows.
    body = mstr("MQTT") + bytes([4, 0x82]) + u16(60) + mstr("u") + mstr("alice") + mstr("pw")
    _refused_without_connack(packet(0x10, body))


def test_MQTT_3_1_2_21_password_flag_1_requires_password():
    body = mstr("MQTT") + bytes([4, 0xC2]) + u16(60) + mstr("u") + mstr("alice")
    _refused_without_connack(packet(0x10, body))


def test_MQTT_3_1_2_21_username_and_password_accepted():
    h = Harness()
    c = h.client()
    ack = c.connect("u", username="alice", password=b"\x00\xffbinary ok")
    assert ack.rc == 0 and not c.closing


def test_MQTT_3_1_2_22_password_without_username_flag_is_rejected():
    body = mstr("MQTT") + bytes([4, 0x42]) + u16(60) + mstr("u") + mstr("pw")
    _refused_without_connack(packet(0x10, body))


def test_MQTT_3_1_3_1_payload_fields_in_order_all_present():
    h = Harness()
    w = h.subscriber("w", "will/t", 0)
    c = h.client()
    ack = c.connect("all", will=("will/t", b"bye", 0, False), username="user", password="pw")
    assert ack.rc == 0
    c.drop()
    got = w.publishes()
    assert [(p.topic, p.payload) for p in got] == [(b"will/t", b"bye")]


def test_MQTT_3_1_3_2_client_id_identifies_session():
    h = Harness()
    a = h.connected("ida", clean=False)
    assert a.subscribe([("s/t", 1)]) == [1]
    a.disconnect()
    b = h.client()
    ack = b.connect("idb", clean=False)
    assert ack.rc == 0 and ack.session_present == 0
    a2 = h.client()
    ack = a2.connect("ida", clean=False)
    assert ack.rc == 0 and ack.session_present == 1


def test_MQTT_3_1_3_3_client_id_must_be_present():
    body = mstr("MQTT") + bytes([4, 0x02]) + u16(60)
    _refused_without_connack(packet(0x10, body))


def test_MQTT_3_1_3_4_client_id_must_be_valid_utf8():
    for bad in (b"a\xc0\x80", b"\xed\xa0\x80", b"\xff", b"ab\xe2\x82", b"\xf4\x90\x80\x80"):
        _refused_without_connack(mqttc.connect(bad))


def test_MQTT_3_1_3_4_client_id_with_null_is_rejected():
    _refused_without_connack(mqttc.connect(b"a\x00b"))


def test_MQTT_3_1_3_5_alphanumeric_client_ids_up_to_23_bytes_allowed():
    h = Harness()
    for cid in ("0123456789abcdefghijKLM", "Z", "abcXYZ789"):
        c = h.client()
        ack = c.connect(cid)
        assert ack.rc == 0 and not c.closing, cid


def test_MQTT_3_1_3_6_zero_length_client_id_gets_unique_id():
    h = Harness()
    a = h.client()
    assert a.connect("").rc == 0
    b = h.client()
    assert b.connect("").rc == 0
    # Unique: the second did not take over the first.
    assert not a.closing and not b.closing
    assert a.conn.client_id and b.conn.client_id and a.conn.client_id != b.conn.client_id
    assert a.subscribe([("z/a", 0)]) == [0]
    assert b.subscribe([("z/b", 0)]) == [0]
    a.publish("z/b", b"to b")
    assert [p.payload for p in b.publishes()] == [b"to b"]
    assert a.publishes() == []


def test_MQTT_3_1_3_8_zero_length_client_id_without_clean_session_gets_connack_2():
    Harness().refused(mqttc.connect("", clean=False), 2)


def test_MQTT_3_1_3_9_rejected_client_id_gets_connack_2_and_close():
    # The only identifier this broker rejects by default: empty with clean session 0.
    Harness().refused(mqttc.connect("", clean=False, keepalive=10), 2)


def test_MQTT_3_1_3_10_will_topic_must_be_valid_utf8():
    for bad in (b"w\xc0\x80", b"\xed\xa0\x80", b"w\x00t"):
        _refused_without_connack(mqttc.connect("w", will=(bad, b"m", 0, False)))


def test_MQTT_3_1_3_10_will_topic_must_not_hold_wildcards():
    for bad in ("w/#", "w/+/x", ""):
        _refused_without_connack(mqttc.connect("w", will=(bad, b"m", 0, False)))


def test_MQTT_3_1_3_11_username_must_be_valid_utf8():
    for bad in (b"u\xc0\x80", b"\xed\xa0\x80", b"u\x00"):
        _refused_without_connack(mqttc.connect("u", username=bad, password="p"))


def test_MQTT_3_1_4_1_connect_string_overrunning_packet_closes_without_connack():
    body = mstr("MQTT") + bytes([4, 0x02]) + u16(60) + u16(50) + b"short"
    _refused_without_connack(packet(0x10, body))


def test_MQTT_3_1_4_1_truncated_variable_header_closes_without_connack():
    _refused_without_connack(packet(0x10, mstr("MQTT") + bytes([4])))


def test_MQTT_3_1_4_2_same_client_id_takes_over_existing_connection():
    h = Harness()
    old = h.connected("dup")
    new = h.client()
    ack = new.connect("dup")
    assert ack.rc == 0
    assert old.closing and not new.closing
    # The survivor is fully functional.
    assert new.subscribe([("to/dup", 0)]) == [0]
    new.publish("to/dup", b"hi")
    assert [p.payload for p in new.publishes()] == [b"hi"]


def test_MQTT_3_1_4_4_accepted_connect_gets_connack_0_bytes():
    h = Harness()
    c = h.client()
    c.send(mqttc.connect("ok"))
    assert c.read() == b"\x20\x02\x00\x00"
    assert not c.closing


def test_MQTT_3_1_4_5_data_after_rejected_connect_is_not_processed():
    h = Harness()
    c = h.client()
    # Refused (empty id without clean session), then a retained PUBLISH and a SUBSCRIBE.
    c.send(mqttc.connect("", clean=False) + mqttc.publish("r/t", b"must not be kept", retain=True)
           + mqttc.subscribe(1, [("#", 0)]))
    pkts = c.packets()
    assert len(pkts) == 1 and pkts[0].type == mqttc.CONNACK and pkts[0].rc == 2, pkts
    assert c.closing
    probe = h.connected("probe")
    assert probe.subscribe([("#", 0)]) == [0]
    assert [p for p in probe.extra if p.type == mqttc.PUBLISH] == []


def test_MQTT_3_1_4_5_anonymous_refused_with_connack_5():
    Harness(allow_anonymous=False).refused(mqttc.connect("anon"), 5)


def test_MQTT_3_2_0_1_first_packet_from_server_is_connack():
    h = Harness()
    s = h.connected("queued", clean=False)
    assert s.subscribe([("q", 1)]) == [1]
    s.drop()
    p = h.connected("pub")
    p.publish("q", b"waiting", qos=1)
    c = h.client()
    c.send(mqttc.connect("queued", clean=False))
    pkts = c.packets()
    assert pkts[0].type == mqttc.CONNACK and pkts[0].rc == 0, pkts
    assert [x.payload for x in pkts[1:] if x.type == mqttc.PUBLISH] == [b"waiting"]


def test_MQTT_3_2_2_4_and_3_2_2_5_refused_connack_has_session_present_0_and_closes():
    cases = [
        ({}, mqttc.connect("", clean=False), 2),
        ({}, mqttc.connect("x", level=9), 1),
        ({"allow_anonymous": False}, mqttc.connect("x", clean=False), 5),
    ]
    for settings, data, rc in cases:
        h = Harness(**settings)
        # A stored session for "x" exists, so session present could wrongly be 1.
        if settings.get("allow_anonymous", True):
            s = h.connected("x", clean=False)
            s.disconnect()
        h.refused(data, rc)


def test_MQTT_3_2_2_6_no_applicable_return_code_closes_without_connack():
    _refused_without_connack(mqttc.connect("x", proto=b"HTTP"))
