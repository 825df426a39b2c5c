"""MQTT 3.1.1 sessions: 3.1.2.4 (Clean Session), 3.2.2 (Session Present), 4.1 and 4.4."""

import mqttc
from harness import Harness


def _reconnect(h, cid, clean=False):
    """Connect cid again; returns (client, CONNACK, packets sent after the CONNACK)."""
    c = h.client()
    ack = c.connect(cid, clean=clean)
    assert ack.rc == 0
    return c, ack, c.after_connack + c.packets()


def _pubs(pkts):
    return [p for p in pkts if p.type == mqttc.PUBLISH]


def test_MQTT_3_1_2_4_clean_session_0_resumes_subscriptions():
    h = Harness()
    s = h.subscriber("p1", "t", 1, clean=False)
    s.drop()
    s2, ack, _ = _reconnect(h, "p1")
    assert ack.session_present == 1
    p = h.connected("p")
    p.publish("t", b"m", qos=1, pid=1)
    assert [x.payload for x in s2.publishes()] == [b"m"]


def test_MQTT_3_1_2_5_offline_qos1_qos2_queued_qos0_not():
    h = Harness()
    s = h.subscriber("p1", "t", 2, clean=False)
    s.disconnect()
    p = h.connected("p")
    p.publish("t", b"q0", qos=0)
    p.publish("t", b"q1", qos=1, pid=1)
    p.publish("t", b"q2", qos=2, pid=2)
    s2, ack, pkts = _reconnect(h, "p1")
    assert ack.session_present == 1
    got = _pubs(pkts)
    assert [(x.payload, x.qos, x.dup) for x in got] == [(b"q1", 1, 0), (b"q2", 2, 0)]


def _no_session_kept(h, reconnected):
    """reconnected (_reconnect's) got no session (present 0): the old subscription to "t"
    is gone."""
    c, ack, _ = reconnected
    assert ack.session_present == 0
    h.connected("p").publish("t", b"m", qos=1, pid=1)
    assert c.publishes() == []


def test_MQTT_3_1_2_6_clean_session_1_discards_previous_session():
    h = Harness()
    h.subscriber("p1", "t", 1, clean=False).drop()
    _no_session_kept(h, _reconnect(h, "p1", clean=True))


def test_MQTT_3_1_2_6_clean_session_1_state_not_kept_after_disconnect():
    h = Harness()
    h.subscriber("p1", "t", 1, clean=True).disconnect()
    _no_session_kept(h, _reconnect(h, "p1", clean=False))


def test_MQTT_3_1_4_3_clean_session_drops_queued_messages():
    h = Harness()
    s = h.subscriber("p1", "t", 1, clean=False)
    s.drop()
    p = h.connected("p")
    p.publish("t", b"stale", qos=1, pid=1)
    c, ack, pkts = _reconnect(h, "p1", clean=True)
    assert ack.session_present == 0 and _pubs(pkts) == []
    c.disconnect()
    c2, ack, pkts = _reconnect(h, "p1", clean=False)
    assert ack.session_present == 0 and _pubs(pkts) == []


def test_MQTT_3_2_2_1_clean_session_connack_has_session_present_0():
    h = Harness()
    s = h.subscriber("p1", "t", 1, clean=False)
    s.drop()
    assert h.client().answer(mqttc.connect("p1", clean=True)) == b"\x20\x02\x00\x00"


def test_MQTT_3_2_2_2_stored_session_gives_session_present_1():
    h = Harness()
    s = h.connected("p1", clean=False)  # no subscriptions: the session still exists
    s.disconnect()
    assert h.client().answer(mqttc.connect("p1", clean=False)) == b"\x20\x02\x01\x00"


def test_MQTT_3_2_2_3_no_stored_session_gives_session_present_0():
    h = Harness()
    assert h.client().answer(mqttc.connect("fresh", clean=False)) == b"\x20\x02\x00\x00"


def test_MQTT_3_3_1_1_and_4_4_0_1_unacked_publish_resent_with_dup_and_same_id():
    h = Harness()
    s = h.subscriber("p1", "t", 2, clean=False)
    p = h.connected("p")
    p.publish("t", b"a", qos=1, pid=1)
    p.publish("t", b"b", qos=2, pid=2)
    p.publish("t", b"c", qos=1, pid=3)
    first = s.publishes()
    assert [(x.payload, x.dup) for x in first] == [(b"a", 0), (b"b", 0), (b"c", 0)]
    s.drop()
    s2, ack, pkts = _reconnect(h, "p1")
    assert ack.session_present == 1
    again = _pubs(pkts)
    assert [(x.payload, x.pid, x.qos, x.dup) for x in again] == \
        [(x.payload, x.pid, x.qos, 1) for x in first]
    for x in again:
        s2.ack(x)
    assert s2.packets() == []


def test_MQTT_4_4_0_1_pubrel_resent_for_messages_awaiting_pubcomp():
    h = Harness()
    s = h.subscriber("p1", "t", 2, clean=False)
    p = h.connected("p")
    p.publish("t", b"x", qos=2, pid=1)
    p.publish("t", b"y", qos=2, pid=2)
    got = s.publishes()
    s.send(mqttc.pubrec(got[0].pid))
    assert s.only(mqttc.PUBREL).pid == got[0].pid
    s.drop()
    s2, ack, pkts = _reconnect(h, "p1")
    assert ack.session_present == 1
    kinds = [(x.type, x.pid) for x in pkts]
    # PUBREL for x (not its PUBLISH again), and y re-sent as a duplicate PUBLISH.
    assert (mqttc.PUBREL, got[0].pid) in kinds
    assert [(x.payload, x.dup, x.pid) for x in _pubs(pkts)] == [(b"y", 1, got[1].pid)]
    s2.send(mqttc.pubcomp(got[0].pid))
    s2.ack(_pubs(pkts)[0])
    assert s2.packets() == [] and not s2.closing


def test_MQTT_4_4_0_1_resend_then_queued_in_original_order():
    h = Harness(max_inflight_messages=2)
    s = h.subscriber("p1", "t", 1, clean=False)
    p = h.connected("p")
    for i in range(4):
        p.publish("t", b"%d" % i, qos=1, pid=i + 1)
    assert [x.payload for x in s.publishes()] == [b"0", b"1"]
    s.drop()
    p.publish("t", b"4", qos=1, pid=9)
    s2, ack, pkts = _reconnect(h, "p1")
    got = _pubs(pkts)
    batch = got
    for _ in range(10):
        for x in batch:
            s2.ack(x)
        batch = s2.publishes()
        if not batch:
            break
        got = got + batch
    assert [x.payload for x in got] == [b"0", b"1", b"2", b"3", b"4"]


def test_MQTT_4_1_0_1_session_kept_across_takeover():
    h = Harness()
    old = h.subscriber("p1", "t", 1, clean=False)
    p = h.connected("p")
    p.publish("t", b"inflight", qos=1, pid=1)
    sent = old.publishes()[0]
    new, ack, pkts = _reconnect(h, "p1")
    assert old.closing
    assert ack.session_present == 1
    assert [(x.payload, x.pid, x.dup) for x in _pubs(pkts)] == [(b"inflight", sent.pid, 1)]
    new.ack(_pubs(pkts)[0])
    p.publish("t", b"next", qos=1, pid=2)
    assert [x.payload for x in new.publishes()] == [b"next"]
    old.drop()  # the port reports the old socket closed: must not disturb the new one
    p.publish("t", b"third", qos=1, pid=3)
    assert [x.payload for x in new.publishes()] == [b"third"]
    assert not new.closing


def test_MQTT_4_1_0_2_session_lasts_while_connected_despite_expiry_setting():
    h = Harness(persistent_client_expiration=2)
    s = h.subscriber("p1", "t", 1, clean=False)
    p = h.connected("p")
    for _ in range(5):
        h.advance(2000)
        s.send(mqttc.pingreq())
        p.send(mqttc.pingreq())
    s.packets()
    p.packets()
    p.publish("t", b"still", qos=1, pid=1)
    assert [x.payload for x in s.publishes()] == [b"still"]


def test_persistent_client_expiration_removes_offline_session():
    h = Harness(persistent_client_expiration=60)
    s = h.subscriber("p1", "t", 1, clean=False)
    s.drop()
    h.advance(30000)
    c, ack, _ = _reconnect(h, "p1")
    assert ack.session_present == 1
    c.drop()
    h.advance(65000)
    c2, ack, _ = _reconnect(h, "p1")
    assert ack.session_present == 0


def test_MQTT_3_1_2_6_clean_session_taken_over_by_persistent_one_starts_empty():
    # the clean session ends with its connection, also when a CleanSession 0 CONNECT with
    # the same client id takes it over: no session present, no subscriptions inherited
    h = Harness()
    old = h.subscriber("same", "t/#", 1, clean=True)
    new = h.client()
    assert new.connect("same", clean=False).session_present == 0
    assert old.closing
    p = h.connected("p")
    p.publish("t/1", b"x", qos=1, pid=1)
    assert new.publishes() == []


def test_mqtt31_connack_first_byte_is_0_when_a_session_is_resumed():
    # MQTT 3.1's CONNACK has no session present flag: its byte is reserved, 0 (as mosquitto)
    h = Harness()
    c = h.client()
    assert c.connect("old", proto=b"MQIsdp", level=3, clean=False).session_present == 0
    c.drop()
    c = h.client()
    assert c.connect("old", proto=b"MQIsdp", level=3, clean=False).session_present == 0
    assert h.broker.sessions["old"].conn is c.conn  # resumed all the same
