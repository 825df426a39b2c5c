"""MQTT 5.0 with real clients against the real broker process: paho-mqtt with protocol
MQTTv5 beside 3.1.1 clients (mosquitto_pub / mosquitto_sub -V 5: test_mosquitto_clients.py)."""

import queue
import socket
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import mqttc
from paho_support import Paho, WAIT


def _props(**values):
    """paho CONNECT Properties with the given attributes (e.g. SessionExpiryInterval=60)."""
    p = Properties(PacketTypes.CONNECT)
    for k in values:
        setattr(p, k, values[k])
    return p


def _v5(broker, **kw):
    c = Paho(broker.host, broker.port, protocol=mqtt.MQTTv5, **kw)
    assert c.rc == 0, c.rc
    return c


def test_paho_v5_gets_mosquittos_connack_properties(broker):
    c = _v5(broker)
    p = c.connack_props
    assert (p.TopicAliasMaximum, p.ReceiveMaximum) == (10, 20)
    assert not hasattr(p, "AssignedClientIdentifier")
    c.close()


def test_paho_v5_and_3_1_1_clients_exchange_messages_at_each_qos(broker):
    v5 = _v5(broker, prefix="v5-")
    v4 = Paho(broker.host, broker.port, prefix="v4-")
    assert [r for r in v5.subscribe("mix/from4/#", 2)] == [2]
    assert v4.subscribe("mix/from5/#", 2) == [2]
    for q in (0, 1, 2):
        v4.publish("mix/from4/%d" % q, b"four %d" % q, qos=q)
        v5.publish("mix/from5/%d" % q, b"five %d" % q, qos=q)
    assert sorted(v5.got(3)) == [("mix/from4/%d" % q, b"four %d" % q) for q in range(3)]
    assert sorted(v4.got(3)) == [("mix/from5/%d" % q, b"five %d" % q) for q in range(3)]
    v5.close()
    v4.close()


def test_paho_v5_empty_client_id_gets_an_assigned_identifier(broker):
    c = _v5(broker, client_id="")
    cid = c.connack_props.AssignedClientIdentifier
    assert cid.startswith("auto-")
    assert broker.wait_for_log("as %s (p5, c1, k60)" % cid)
    c.close()


def test_paho_v5_session_expiry_keeps_messages_while_away(broker):
    cid = "away-%d" % time.monotonic_ns()
    keep = _props(SessionExpiryInterval=60)
    c = _v5(broker, client_id=cid, clean_start=False, properties=keep)
    assert c.subscribe("away/t", 1) == [1]
    c.close()
    p = Paho(broker.host, broker.port)
    p.publish("away/t", b"while away", qos=1)
    p.close()
    c = _v5(broker, client_id=cid, clean_start=False, properties=keep)
    assert c.connack_flags.session_present
    assert c.got(1) == [("away/t", b"while away")]
    c.close()


def test_paho_v5_server_keep_alive_from_max_keepalive(broker_factory):
    b = broker_factory("listener {port} 127.0.0.1\nallow_anonymous true\nmax_keepalive 10\n")
    c = _v5(b, keepalive=60)
    assert c.connack_props.ServerKeepAlive == 10
    c.close()


def test_paho_v5_taken_over_gets_disconnect_0x8e(broker):
    # MQTT-3.1.4-3; mosquitto 2.0.11 closes the old connection without a DISCONNECT
    cid = "twin-%d" % time.monotonic_ns()
    first = _v5(broker, client_id=cid)
    second = _v5(broker, client_id=cid)
    rc = first.disconnects.get(timeout=WAIT)
    assert rc.value == 0x8E, rc
    first.c.loop_stop()
    second.close()


def _raw_v5(broker, cid, **kw):
    s = socket.create_connection((broker.host, broker.port), timeout=WAIT)
    s.sendall(mqttc.connect5(cid, **kw))
    first, body = mqttc.read_packet(s)
    assert first == 0x20 and body[1] == 0, body
    return s


def test_will_delay_interval_with_a_real_broker_and_paho_watcher(broker):
    watcher = _v5(broker)
    assert watcher.subscribe("delayed/#", 1) == [1]
    s = _raw_v5(broker, "dying", clean=False, properties=mqttc.props([(0x11, 60)]),
                will=("delayed/w", "late", 1, 0), will_properties=mqttc.props([(0x18, 2)]))
    s.close()  # no DISCONNECT: the will is due, after its delay
    t0 = time.monotonic()
    assert watcher.got(1, timeout=WAIT) == [("delayed/w", b"late")]
    assert time.monotonic() - t0 >= 1.0  # the broker counts whole seconds
    # reconnecting in time cancels it
    s = _raw_v5(broker, "dying2", clean=False, properties=mqttc.props([(0x11, 60)]),
                will=("delayed/w2", "late", 1, 0), will_properties=mqttc.props([(0x18, 2)]))
    s.close()
    _raw_v5(broker, "dying2", clean=False, properties=mqttc.props([(0x11, 60)])).close()
    assert watcher.got(None, timeout=3.5, gap=None) == []
    watcher.close()


def test_a_malformed_v5_packet_gets_disconnect_0x81_then_close(broker):
    s = _raw_v5(broker, "bad")
    s.sendall(mqttc.publish5("a", b"x", properties=mqttc.props([(0x11, 1)])))
    assert mqttc.read_packet(s) == (0xE0, b"\x81")
    assert mqttc.read_packet(s) is None
    s.close()
    assert broker.wait_for_log("Client 'bad' from")


def _sub_props(sid):
    p = Properties(PacketTypes.SUBSCRIBE)
    p.SubscriptionIdentifier = sid
    return p


def _messages(c, wait=0.5):
    """The paho messages c receives until none comes for wait seconds."""
    out = []
    while True:
        try:
            out.append(c.messages.get(timeout=wait))
        except queue.Empty:
            return out


def test_paho_v5_subscription_options_and_identifiers(broker):
    from paho.mqtt.subscribeoptions import SubscribeOptions
    c = _v5(broker, prefix="opts-")
    t = "opts/%d" % time.monotonic_ns()
    o = SubscribeOptions(qos=1, noLocal=True, retainAsPublished=True,
                         retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)
    assert c.subscribe(t + "/#", options=o, properties=_sub_props(42)) == [1]
    c.publish(t + "/x", b"own", qos=1)  # No Local: not back to c
    other = Paho(broker.host, broker.port)
    other.c.publish(t + "/x", b"kept", qos=1, retain=True).wait_for_publish(WAIT)
    got = _messages(c)
    assert [(m.payload, m.retain, m.properties.SubscriptionIdentifier) for m in got] == \
        [(b"kept", 1, [42])]  # Retain As Published
    other.c.publish(t + "/x", b"", qos=1, retain=True).wait_for_publish(WAIT)
    other.close()
    c.close()


def test_paho_v5_and_3_1_1_members_of_one_shared_subscription(broker):
    t = "share5/%d" % time.monotonic_ns()
    v5 = _v5(broker, prefix="m5-")
    assert v5.subscribe("$share/mixed/" + t, 1, properties=_sub_props(5)) == [1]
    v4 = Paho(broker.host, broker.port, prefix="m4-")
    assert v4.subscribe("$share/mixed/" + t, 1) == [1]
    p = _v5(broker, prefix="p5-")
    for i in range(4):
        p.publish(t, b"%d" % i, qos=1)
    got5 = _messages(v5)
    assert [(m.payload, m.properties.SubscriptionIdentifier) for m in got5] == \
        [(b"0", [5]), (b"2", [5])]
    assert [m.payload for m in _messages(v4)] == [b"1", b"3"]
    for c in (v5, v4, p):
        c.close()


def test_paho_v5_watcher_gets_a_will_with_its_properties(broker):
    watcher = _v5(broker)
    assert watcher.subscribe("wills5/#", 1) == [1]
    users = [("a", "1"), ("b", "2"), ("a", "0")]
    wp = mqttc.props([(0x01, 1), (0x03, "text/plain"), (0x08, "reply/here"),
                      (0x09, b"\x01id"), (0x02, 60)] + [(0x26, u) for u in users])
    _raw_v5(broker, "dying5", will=("wills5/dying", "gone", 1, 0), will_properties=wp).close()
    m = watcher.received(1)[0]
    assert (m.topic, m.payload) == ("wills5/dying", b"gone")
    p = m.properties
    assert (p.PayloadFormatIndicator, p.ContentType, p.ResponseTopic, p.CorrelationData) == \
        (1, "text/plain", "reply/here", b"\x01id")
    assert p.UserProperty == users  # in their order (MQTT-3.1.3-10)
    assert 58 <= p.MessageExpiryInterval <= 60
    watcher.close()
