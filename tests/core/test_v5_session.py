"""MQTT 5.0 DISCONNECT both ways (section 3.14), Session Expiry Interval (3.1.2.11.2, 4.1)
and the will with its delay (3.1.2.5, 3.1.3.2)."""

import mqttc
from mqttc import props
from harness import Harness, violation5

NEVER = 0xFFFFFFFF


def _expiry(n):
    return props([(0x11, n)])


def _with_will(h, cid, delay=0, expiry=0, topic="will/t"):
    wp = props([(0x18, delay)]) if delay else b"\x00"
    return h.connected5(cid, clean=False, properties=_expiry(expiry) if expiry else b"\x00",
                        will=(topic, "gone", 1, 0), will_properties=wp)


def _watcher(h):
    w = h.connected("watcher", keepalive=0)  # may wait for an hour
    assert w.subscribe([("will/#", 1)]) == [1]
    return w


def _wills(w):
    return [p.payload for p in w.publishes()]


def _will_sent_after(h, w, quiet_ms, more_ms):
    """No will is out after quiet_ms more, one is quiet_ms + more_ms after."""
    h.advance(quiet_ms)
    assert _wills(w) == []
    h.advance(more_ms)
    assert _wills(w) == [b"gone"]


def test_MQTT_3_14_4_3_and_3_1_2_10_disconnect_0x00_discards_the_will():
    h = Harness()
    w = _watcher(h)
    _with_will(h, "c").disconnect5()
    assert _wills(w) == []
    _with_will(h, "d").disconnect5(0x00, b"\x00")
    assert _wills(w) == []


def test_disconnect_0x04_publishes_the_will():
    h = Harness()
    w = _watcher(h)
    _with_will(h, "c").disconnect5(0x04)
    assert _wills(w) == [b"gone"]


def test_MQTT_3_1_2_7_and_3_1_2_8_the_will_goes_out_when_the_connection_is_lost():
    h = Harness()
    w = _watcher(h)
    _with_will(h, "c").drop()
    assert _wills(w) == [b"gone"]


def test_MQTT_3_1_2_8_a_delayed_will_goes_out_after_its_delay():
    h = Harness()
    w = _watcher(h)
    _with_will(h, "c", delay=5, expiry=60).drop()
    _will_sent_after(h, w, 4000, 1500)
    h.advance(10000)
    assert _wills(w) == []  # once (MQTT-3.1.2-10)


def test_MQTT_3_1_3_9_a_new_connection_before_the_delay_cancels_the_will():
    h = Harness()
    w = _watcher(h)
    _with_will(h, "c", delay=5, expiry=60).drop()
    h.advance(2000)
    c = h.client()
    assert c.connect5("c", clean=False, properties=_expiry(60)).session_present == 1
    h.advance(10000)
    assert _wills(w) == []


def test_MQTT_3_1_3_9_a_takeover_before_the_delay_cancels_the_will():
    h = Harness()
    w = _watcher(h)
    old = _with_will(h, "c", delay=5, expiry=60)
    new = h.client()
    assert new.connect5("c", clean=False, properties=_expiry(60)).session_present == 1
    assert old.only(mqttc.DISCONNECT).rc == 0x8E
    h.advance(10000)
    assert _wills(w) == []


def test_MQTT_3_1_2_8_the_session_ending_first_sends_the_delayed_will():
    h = Harness()
    w = _watcher(h)
    _with_will(h, "c", delay=60, expiry=3).drop()
    _will_sent_after(h, w, 2000, 1500)
    assert "c" not in h.broker.sessions
    # Session Expiry Interval 0: the session ends with the connection, the will goes now
    _with_will(h, "d", delay=60).drop()
    assert _wills(w) == [b"gone"]
    # a new connection with Clean Start ends the old session: the will goes then
    _with_will(h, "e", delay=60, expiry=60).drop()
    assert h.client().connect5("e", clean=True).rc == 0
    assert _wills(w) == [b"gone"]


def test_MQTT_3_1_2_23_session_kept_after_close_for_its_expiry_interval():
    h = Harness()
    c = h.connected5("s", clean=False, properties=_expiry(10))
    c.subscribe5([("a", 1)])
    c.drop()
    h.advance(9000)
    assert "s" in h.broker.sessions
    h.connected("pub").publish("a", b"kept", qos=1)
    c = h.client()
    assert c.connect5("s", clean=False, properties=_expiry(10)).session_present == 1
    assert [p.payload for p in c.after_connack] == [b"kept"]


def test_MQTT_4_1_0_2_session_discarded_once_its_expiry_interval_passed():
    h = Harness()
    h.connected5("s", clean=False, properties=_expiry(10)).drop()
    m = h.mark()
    h.advance(10500)
    assert "s" not in h.broker.sessions
    assert [l for l in h.logs_since(m) if "Expiring client s" in l]
    c = h.client()
    assert c.connect5("s", clean=False).session_present == 0


def test_session_expiry_0_ends_the_session_with_the_connection():
    h = Harness()
    h.connected5("s", clean=False).drop()
    assert "s" not in h.broker.sessions


def test_session_expiry_never_outlives_an_hour_unless_persistent_client_expiration():
    h = Harness()
    h.connected5("s", clean=False, properties=_expiry(NEVER)).drop()
    h.advance(3600 * 1000, step=60000)
    assert "s" in h.broker.sessions
    # as mosquitto: persistent_client_expiration bounds a session that never expires
    h = Harness(persistent_client_expiration=3600)
    h.connected5("s", clean=False, properties=_expiry(NEVER)).drop()
    h.advance(3601 * 1000, step=60000)
    assert "s" not in h.broker.sessions


def test_MQTT_4_1_0_1_session_kept_while_connected_whatever_its_expiry():
    h = Harness()
    c = h.connected5("s", clean=False, properties=_expiry(2))
    c.subscribe5([("a", 0)])
    h.advance(5000)
    c.send(mqttc.pingreq())
    assert "s" in h.broker.sessions and not c.closing


def test_a_3_1_1_client_resuming_a_v5_session_keeps_it_without_expiry():
    h = Harness()
    h.connected5("s", clean=False, properties=_expiry(5)).drop()
    c = h.client()
    assert c.connect("s", clean=False).session_present == 1
    c.drop()
    h.advance(60000)
    assert "s" in h.broker.sessions


def test_disconnect_may_change_the_session_expiry_interval():
    h = Harness()
    c = h.connected5("s", clean=False, properties=_expiry(60))
    c.disconnect5(0, _expiry(0))
    assert "s" not in h.broker.sessions
    c = h.connected5("t", clean=False, properties=_expiry(60))
    c.disconnect5(0, _expiry(2))
    h.advance(2500)
    assert "t" not in h.broker.sessions


def test_disconnect_with_an_expiry_after_connect_had_0_is_a_protocol_error_0x82():
    h = Harness()
    w = _watcher(h)
    c = _with_will(h, "s")
    m = h.mark()
    c.send(mqttc.disconnect5(0, _expiry(30)))
    assert c.only(mqttc.DISCONNECT).rc == 0x82
    assert c.closing and [l for l in h.logs_since(m) if "protocol error" in l]
    assert _wills(w) == [b"gone"]  # closed for a protocol error: the will goes


def test_MQTT_3_14_1_1_disconnect_with_reserved_flags_is_malformed_0x81():
    violation5(b"\xe1\x00", 0x81)


def test_MQTT_3_14_0_1_no_disconnect_before_a_connack():
    h = Harness()
    c = h.client()
    c.send(mqttc.connect5("x", properties=props([(0x12, "not from a client")])))
    assert c.read() == b"" and c.closing


def test_MQTT_3_14_2_2_and_3_14_4_1_server_disconnect_has_no_expiry_and_is_last():
    h = Harness()
    c = h.connected5("d", clean=False, properties=_expiry(60))
    c.subscribe5([("a", 0)])
    c.send(mqttc.publish5("", b"x", properties=props([(0x23, 2)])) +  # an unknown alias
           mqttc.publish5("a", b"after"))
    data = c.read()
    assert data.endswith(b"\xe0\x01\x82")  # no property block, nothing after it
    assert [p.type for p in mqttc.split5(data)[0]] == [mqttc.DISCONNECT]
    assert c.closing  # MQTT-3.14.4-2


def test_server_shutdown_sends_disconnect_0x8b():
    h = Harness()
    c = h.connected5("d")
    h.broker.shutdown()
    assert c.only(mqttc.DISCONNECT).rc == 0x8B and c.closing


def test_MQTT_4_13_1_1_and_4_13_2_1_an_error_code_always_closes():
    h = Harness()
    c = h.connected5("d")
    c.send(mqttc.subscribe5(1, [("a", 3)]))
    assert c.only(mqttc.DISCONNECT).rc >= 0x80 and c.closing


def test_persistent_client_expiration_sends_a_delayed_will_before_removing_the_session():
    h = Harness(persistent_client_expiration=3600)
    w = _watcher(h)
    _with_will(h, "c", delay=7200, expiry=NEVER).drop()
    h.advance(3599 * 1000, step=60000)
    assert _wills(w) == [] and "c" in h.broker.sessions
    h.advance(2000)
    assert _wills(w) == [b"gone"] and "c" not in h.broker.sessions


def test_MQTT_3_1_2_14_and_3_1_2_15_the_will_keeps_its_retain_flag():
    h = Harness()
    h.connected5("a", will=("will/r0", "plain", 1, 0)).drop()
    h.connected5("b", will=("will/r1", "kept", 1, 1)).drop()
    late = h.connected5("late")
    late.subscribe5([("will/#", 1)])
    assert [(p.topic, p.payload, p.retain) for p in late.extra] == [(b"will/r1", b"kept", 1)]


def test_a_subscriber_over_max_outgoing_bytes_gets_disconnect_0x97():
    h = Harness()
    h.broker.backlog_limit = 200
    sub = h.connected5("slow", properties=props([(0x21, 1)]))
    sub.subscribe5([("a", 1)])
    pub = h.connected("pub")
    for i in range(4):
        pub.publish("a", b"x" * 60, qos=1)
    assert sub.closing
    assert [(p.type, p.rc) for p in sub.packets() if p.type != mqttc.PUBLISH] == \
        [(mqttc.DISCONNECT, 0x97)]


# the will properties of a v5 client (section 3.1.3.2) but Will Delay Interval and Message
# Expiry Interval, in their order: forwarded with the will as a PUBLISH's
WILL_PROPS = [(0x01, 1), (0x03, "text/plain"), (0x26, ("b", "2")), (0x08, "reply/to"),
              (0x09, b"\x00\x01corr"), (0x26, ("a", "1")), (0x26, ("b", "0"))]


def test_MQTT_3_1_3_10_the_will_goes_out_with_its_properties_user_properties_in_order():
    h = Harness()
    v5 = h.subscriber5("v5", "will/#", 1)
    v4 = h.subscriber("v4", "will/#", 1)
    h.connected5("c", will=("will/t", "gone", 1, 0),
                 will_properties=props(WILL_PROPS[:3] + [(0x18, 0)] + WILL_PROPS[3:])).drop()
    got = v5.publishes()
    assert [(p.topic, p.payload, p.props) for p in got] == [(b"will/t", b"gone", WILL_PROPS)]
    assert [(p.topic, p.payload) for p in v4.publishes()] == [(b"will/t", b"gone")]


def test_a_retained_will_keeps_its_properties_and_its_expiry_counts_from_its_publication():
    h = Harness()
    live = h.subscriber5("live", "will/#", 1)
    wp = props([(0x02, 60), (0x18, 5), (0x03, "t")])  # Message Expiry 60, Will Delay 5
    h.connected5("c", clean=False, properties=props([(0x11, 600)]),
                 will=("will/r", "kept", 1, 1), will_properties=wp).drop()
    h.advance(5500)
    got = live.publishes()
    assert [(p.payload, p.props) for p in got] == [(b"kept", [(0x03, "t"), (0x02, 60)])]
    h.advance(10000)
    late = h.connected5("late")
    late.subscribe5([("will/#", 1)])
    assert [(p.payload, p.retain, p.props) for p in late.extra] == \
        [(b"kept", 1, [(0x03, "t"), (0x02, 50)])]
    h.advance(51000)
    gone = h.connected5("gone")
    gone.subscribe5([("will/#", 1)])
    assert gone.extra == []  # expired (MQTT-3.3.2-5)
