"""MQTT 5.0 sections 3.1 (CONNECT), 3.2 (CONNACK) and 4.12 (AUTH refused): Server-side
statements, and the CONNACK properties mosquitto 2.0 sends, byte for byte."""

import mqttc
from mqttc import props, mstr, u16, packet
from harness import Harness, assert_closed_for_violation, violation5
from core.listener import Listener

PEER = "127.0.0.1"


def _refused_without_connack(data, **settings):
    """data as a new connection's first bytes: closed, no CONNACK, one log line."""
    h = Harness(**settings)
    c = h.client()
    m = h.mark()
    c.send(data)
    assert c.read() == b"", "the broker answered"
    assert_closed_for_violation(h, c, m, PEER)
    return h


def _connack(c, data):
    """Send CONNECT bytes data; the v5 CONNACK (the only packet) is returned."""
    c.decode = mqttc.decode5
    c.send(data)
    pkts = c.packets()
    assert len(pkts) == 1 and pkts[0].type == mqttc.CONNACK, pkts
    return pkts[0]


def test_connack_without_config_is_mosquittos_topic_alias_maximum_10_then_receive_maximum_20():
    h = Harness()
    c = h.client()
    c.send(mqttc.connect5("c"))
    assert c.read() == bytes.fromhex("20 09 00 00 06 22 00 0a 21 00 14")
    assert not c.closing


def test_connack_properties_follow_the_config_in_mosquittos_order():
    # mosquitto 2.0.11 with max_keepalive 30, max_packet_size 1000, max_qos 0,
    # retain_available false, max_topic_alias 7, to a CONNECT with keepalive 60
    h = Harness(max_keepalive=30, max_packet_size=1000, retain_available=False)
    h.cfg.listeners[0].max_qos = 0
    h.cfg.listeners[0].max_topic_alias = 7
    c = h.client()
    c.send(mqttc.connect5("c", keepalive=60))
    assert c.read() == bytes.fromhex(
        "20 15 00 00 12 22 00 07 13 00 1e 25 00 27 00 00 03 e8 21 00 14 24 00")


def test_connack_is_the_listeners_own_for_each_client_with_per_connection_properties_between():
    # made once per listener (core/v5.py keeps it): a client that gets a Server Keep Alive or
    # an assigned id between others has them in mosquitto's order, the next ones the
    # listener's CONNACK again, with session present when resumed; another listener its own
    h = Harness(max_keepalive=30, max_packet_size=1000)
    other = Listener(1884)
    other.max_topic_alias = 3
    h.cfg.listeners.append(other)
    tail = " 27 00 00 03 e8 21 00 14"
    plain = "20 0e 00 00 0b 22 00 0a" + tail
    expiry = props([(0x11, 60)])
    sent = []
    for cid, ka, listener in (("a", 20, None), ("b", 60, None), ("", 20, None),
                              ("c", 20, other), ("a2", 20, None)):
        c = h.client(listener)
        c.send(mqttc.connect5(cid, keepalive=ka))
        sent.append(c.read())
    c = h.connected5("p", clean=False, keepalive=20, properties=expiry)
    c.drop()
    c = h.client()
    c.send(mqttc.connect5("p", clean=False, keepalive=20, properties=expiry))
    sent.append(c.read())
    assigned = set(h.broker.sessions) - {"a", "b", "c", "a2", "p"}
    cid = assigned.pop().encode()
    assert sent == [
        bytes.fromhex(plain),
        bytes.fromhex("20 11 00 00 0e 22 00 0a 13 00 1e" + tail),  # Server Keep Alive 30
        bytes.fromhex("20 %02x 00 00 %02x 22 00 0a 12 00 %02x" % (
            17 + len(cid), 14 + len(cid), len(cid))) + cid + bytes.fromhex(tail),
        bytes.fromhex("20 0e 00 00 0b 22 00 03" + tail),
        bytes.fromhex(plain),
        bytes.fromhex("20 0e 01 00 0b 22 00 0a" + tail)]


def test_connack_leaves_out_receive_maximum_and_topic_alias_maximum_when_unlimited_or_off():
    h = Harness(max_inflight_messages=0)
    h.cfg.listeners[0].max_topic_alias = 0
    c = h.client()
    c.send(mqttc.connect5("c"))
    assert c.read() == bytes.fromhex("20 03 00 00 00")


def test_MQTT_3_1_0_2_second_connect_is_a_protocol_error_with_disconnect_0x82():
    violation5(mqttc.connect5("twice"), 0x82, "twice")  # mosquitto 2.0 closes without one


def test_MQTT_3_1_2_2_protocol_level_6_gets_connack_1_then_close_as_mosquitto():
    h = Harness()
    c = h.client()
    c.send(mqttc.connect("x", level=6))
    assert c.read() == b"\x20\x02\x00\x01"
    assert c.closing


def test_MQTT_3_1_2_3_reserved_connect_flag_closes_without_connack():
    _refused_without_connack(mqttc.connect5("r", flags=0x03))


def test_MQTT_3_1_4_1_malformed_properties_close_without_connack_as_mosquitto():
    # a duplicate property (a protocol error), a property CONNECT may not carry, a bad length
    for p in (props([(0x11, 5), (0x11, 5)]), props([(0x01, 1)]), b"\x05\x11\x00"):
        _refused_without_connack(mqttc.connect5("p", properties=p))
    _refused_without_connack(mqttc.connect5("p", will=("w", "m", 0, 0),
                                             will_properties=props([(0x11, 1)])))
    # Authentication Data without an Authentication Method
    _refused_without_connack(mqttc.connect5("p", properties=props([(0x16, b"x")])))


def test_MQTT_3_1_2_4_clean_start_1_discards_the_session():
    h = Harness()
    c = h.connected5("s", clean=False, properties=props([(0x11, 60)]))
    c.subscribe5([("a", 1)])
    c.disconnect5()
    c = h.client()
    ack = c.connect5("s", clean=True, properties=props([(0x11, 60)]))
    assert ack.rc == 0 and ack.session_present == 0
    h.connected("pub").publish("a", b"x", qos=1)
    assert c.publishes() == []


def test_MQTT_3_1_2_5_and_3_2_2_3_clean_start_0_resumes_the_session():
    h = Harness()
    c = h.connected5("s", clean=False, properties=props([(0x11, 60)]))
    c.subscribe5([("a", 1)])
    c.drop()
    h.connected("pub").publish("a", b"while away", qos=1)
    c = h.client()
    ack = c.connect5("s", clean=False, properties=props([(0x11, 60)]))
    assert ack.rc == 0 and ack.session_present == 1
    assert [p.payload for p in c.after_connack] == [b"while away"]


def test_MQTT_3_1_2_6_clean_start_0_without_a_session_creates_one():
    h = Harness()
    c = h.client()
    ack = c.connect5("new", clean=False)
    assert ack.rc == 0 and ack.session_present == 0
    assert "new" in h.broker.sessions


def test_MQTT_3_1_2_9_will_flag_without_will_properties_and_topic_is_malformed():
    # the will flag set, the payload ends after the client id
    _refused_without_connack(mqttc.connect5("w", flags=0x06))


def test_MQTT_3_1_2_11_and_3_1_2_13_will_qos_or_retain_without_will_flag_closes():
    _refused_without_connack(mqttc.connect5("w", flags=0x0A))
    _refused_without_connack(mqttc.connect5("w", flags=0x22))


def test_MQTT_3_1_2_12_will_qos_3_closes():
    _refused_without_connack(mqttc.connect5("w", flags=0x1E, will=("w", "m", 0, 0)))


def test_MQTT_3_1_2_16_to_19_user_name_and_password_flags_match_the_payload():
    _refused_without_connack(mqttc.connect5("u", extra=mstr("someone")))  # no flag, a name
    _refused_without_connack(mqttc.connect5("u", flags=0x82))  # flag, no name
    _refused_without_connack(mqttc.connect5("u", flags=0xC2, username="a"))  # no password
    h = Harness()
    c = h.client()
    assert c.connect5("u", username="alice", password=b"\x00pw").rc == 0


def test_MQTT_3_1_2_21_and_3_2_2_21_server_keep_alive_is_max_keepalive_when_the_client_asks_more():
    h = Harness(max_keepalive=30)
    c = h.client()
    ack = c.connect5("k", keepalive=60)
    assert ack.rc == 0 and (0x13, 30) in ack.props
    h.closes_after(c, 44000, 2000)  # 1.5 times the server's 30 s, not the client's 60


def test_MQTT_3_2_2_21_keepalive_0_gets_server_keep_alive_65535_as_mosquitto():
    h = Harness()
    c = h.client()
    ack = c.connect5("k", keepalive=0)
    assert ack.props == [(0x22, 10), (0x13, 65535), (0x21, 20)]


def test_MQTT_3_2_2_22_without_server_keep_alive_the_clients_keepalive_is_used():
    h = Harness(max_keepalive=30)
    c = h.client()
    ack = c.connect5("k", keepalive=20)
    assert 0x13 not in [p for p, v in ack.props]
    h.closes_after(c, 29000, 2000)


def test_MQTT_3_1_2_22_keepalive_timeout_sends_disconnect_0x8d():
    # section 4.13: DISCONNECT 0x8D Keep Alive timeout first (mosquitto 2.0 sends none)
    h = Harness()
    c = h.connected5("k", keepalive=2)
    h.broker.pending.clear()
    n = len(c.conn.out)
    h.now += 3100
    h.broker.tick(h.now)
    assert c.closing
    d = mqttc.split5(bytes(c.conn.out[n:]))[0]
    assert [(p.type, p.rc) for p in d] == [(mqttc.DISCONNECT, 0x8D)]


def test_MQTT_3_1_3_4_client_id_must_be_valid_utf8():
    body = mstr("MQTT") + bytes([5, 2]) + u16(60) + b"\x00" + u16(2) + b"\xc0\x80"
    _refused_without_connack(packet(0x10, body))


def test_MQTT_3_1_3_5_short_alphanumeric_client_ids_are_allowed():
    h = Harness()
    c = h.client()
    assert c.connect5("0123456789abcdefghijKLM").rc == 0


def test_MQTT_3_1_3_6_and_3_1_3_7_and_3_2_2_16_empty_client_id_is_assigned_and_returned():
    h = Harness()
    ids = set()
    for clean in (True, False):  # MQTT 5.0 assigns one whatever Clean Start says
        c = h.client()
        ack = c.connect5("", clean=clean)
        assert ack.rc == 0, ack
        cid = dict(ack.props)[0x12]
        assert cid and cid not in ids and h.broker.sessions[cid].conn is c.conn
        ids.add(cid)
    # mosquitto's order: after Topic Alias Maximum, before Receive Maximum
    assert [p for p, v in ack.props] == [0x22, 0x12, 0x21]


def test_MQTT_3_1_3_8_empty_client_id_refused_with_0x80_when_not_allowed():
    # 0x85 is a MAY: 0x80, as mosquitto 2.0 sends it
    h = Harness(allow_zero_length_clientid=False)
    c = h.client()
    ack = c.connect5("")
    assert (ack.rc, ack.session_present, ack.props) == (0x80, 0, [])
    assert c.closing


def test_MQTT_3_1_3_11_will_topic_must_be_valid_utf8():
    body = (mstr("MQTT") + bytes([5, 0x06]) + u16(60) + b"\x00" + mstr("w") + b"\x00" +
            u16(2) + b"\xed\xa0" + mstr("m"))
    _refused_without_connack(packet(0x10, body))


def test_MQTT_3_1_3_12_user_name_must_be_valid_utf8():
    body = mstr("MQTT") + bytes([5, 0x82]) + u16(60) + b"\x00" + mstr("u") + u16(1) + b"\xff"
    _refused_without_connack(packet(0x10, body))


def test_MQTT_3_1_4_2_and_3_2_2_7_refused_login_gets_0x87_and_close():
    h = Harness(allow_anonymous=False)
    c = h.client()
    ack = c.connect5("anon")
    assert (ack.rc, ack.session_present) == (0x87, 0)
    assert c.closing


def test_MQTT_3_1_4_3_session_taken_over_sends_disconnect_0x8e_to_the_old_connection():
    h = Harness()
    old = h.connected5("same")
    new = h.client()
    assert new.connect5("same").rc == 0
    d = old.only(mqttc.DISCONNECT)
    assert d.rc == 0x8E and old.closing and not new.closing


def test_MQTT_3_1_4_3_a_3_1_1_connection_taken_over_gets_no_disconnect():
    h = Harness()
    old = h.connected("same")
    h.connected5("same")
    assert old.read() == b"" and old.closing


def test_MQTT_3_1_4_5_and_3_2_0_1_connack_success_comes_first():
    h = Harness()
    c = h.client()
    c.decode = mqttc.decode5
    c.send(mqttc.connect5("first") + mqttc.subscribe5(1, [("a", 0)]))
    pkts = c.packets()
    assert [p.type for p in pkts] == [mqttc.CONNACK, mqttc.SUBACK]
    assert pkts[0].rc == 0


def test_MQTT_3_1_4_6_nothing_after_a_refused_connect_is_processed():
    h = Harness()
    sub = h.subscriber("watcher", "a", 0)
    h.broker.auth = lambda conn, user, password: 5  # not authorized
    c = h.client()
    c.decode = mqttc.decode5
    c.send(mqttc.connect5("x") + mqttc.publish5("a", b"sneaky"))
    assert [p.rc for p in c.packets()] == [0x87]
    assert sub.publishes() == []


def test_MQTT_3_2_0_2_only_one_connack():
    h = Harness()
    c = h.connected5("one")
    c.send(mqttc.connect5("one"))
    assert [p.type for p in c.packets()] == [mqttc.DISCONNECT] and c.closing


def test_MQTT_3_2_2_1_connack_flags_reserved_bits_are_0():
    h = Harness()
    h.connected5("s", clean=False, properties=props([(0x11, 0xFFFFFFFF)])).drop()
    c = h.client()
    c.send(mqttc.connect5("s", clean=False))
    assert c.read()[2] == 0x01


def test_MQTT_3_2_2_2_clean_start_1_gets_session_present_0():
    h = Harness()
    h.connected5("s", clean=False, properties=props([(0x11, 0xFFFFFFFF)])).drop()
    c = h.client()
    assert c.connect5("s", clean=True).session_present == 0


def test_MQTT_3_2_2_6_refusal_has_session_present_0():
    h = Harness(allow_anonymous=False)
    c = h.client()
    assert c.connect5("s", clean=False).session_present == 0


def test_MQTT_3_2_2_8_refusals_use_connect_reason_codes():
    h = Harness()
    h.broker.low_memory = True
    c = h.client()
    assert c.connect5("m").rc == 0x88  # server unavailable
    assert c.closing


def test_MQTT_3_2_2_9_maximum_qos_is_sent_when_max_qos_is_below_2():
    for q in (0, 1):
        h = Harness()
        h.cfg.listeners[0].max_qos = q
        ack = h.client().connect5("q")
        assert (0x24, q) in ack.props
    ack = Harness().client().connect5("q")
    assert 0x24 not in [p for p, v in ack.props]


def test_MQTT_3_2_2_10_subscribe_with_qos_2_accepted_and_granted_max_qos():
    h = Harness()
    h.cfg.listeners[0].max_qos = 1
    c = h.connected5("s")
    assert c.subscribe5([("a", 2), ("b", 0)]) == [1, 0]


def test_MQTT_3_2_2_11_publish_over_maximum_qos_gets_disconnect_0x9b():
    h = Harness()
    h.cfg.listeners[0].max_qos = 0
    violation5(mqttc.publish5("a", b"x", qos=1, pid=1), 0x9B, "p", h)


def test_MQTT_3_2_2_12_will_qos_over_maximum_qos_is_refused_with_0x9b():
    h = Harness()
    h.cfg.listeners[0].max_qos = 1
    c = h.client()
    ack = c.connect5("w", will=("w/t", "bye", 2, 0))
    assert (ack.rc, ack.props) == (0x9B, [(0x24, 1)])  # Maximum QoS, as mosquitto 2.0
    assert c.closing


def test_MQTT_3_2_2_13_retained_will_without_retain_available_is_refused_with_0x9a():
    h = Harness(retain_available=False)
    c = h.client()
    ack = c.connect5("w", will=("w/t", "bye", 0, 1))
    assert ack.rc == 0x9A and c.closing


def test_will_with_payload_format_utf8_and_a_bad_payload_is_refused_with_0x99():
    h = Harness()
    c = h.client()
    ack = c.connect5("w", will=("w/t", b"\xff", 0, 0), will_properties=props([(0x01, 1)]))
    assert ack.rc == 0x99 and c.closing
    c = h.client()
    ack = c.connect5("w", will=("w/t", "\u00e9", 0, 0), will_properties=props([(0x01, 1)]))
    assert ack.rc == 0


def test_MQTT_4_12_0_1_authentication_method_is_refused_with_0x8c_as_mosquitto():
    h = Harness()
    c = h.client()
    c.send(mqttc.connect5("a", properties=props([(0x15, "SCRAM-SHA-1"), (0x16, b"x")])))
    assert c.read() == b"\x20\x03\x00\x8c\x00"
    assert c.closing


def test_MQTT_4_12_0_6_no_auth_method_in_connack_and_auth_is_a_protocol_error():
    h = Harness()
    ack = h.client().connect5("a")
    assert 0x15 not in [p for p, v in ack.props]
    violation5(mqttc.auth5(0x19, props([(0x15, "SCRAM-SHA-1")])), 0x82, "a", h)


def test_MQTT_3_15_1_1_auth_with_reserved_flags_is_malformed():
    violation5(b"\xf1\x00", 0x81, "a")


def test_MQTT_3_1_2_28_and_3_1_2_29_no_response_information_reason_string_or_user_property():
    h = Harness()
    c = h.client()
    ack = c.connect5("p", properties=props([(0x17, 0), (0x19, 0)]))
    assert [p for p, v in ack.props if p in (0x1A, 0x1F, 0x26)] == []
    c.send(mqttc.publish5("nobody", b"x", qos=1, pid=1))
    assert c.read() == b"\x40\x03\x00\x01\x10"  # a reason code, no properties
