"""broker.debug (log type debug, -v): one log line per packet in and out, in mosquitto
2.0's formats (as `mosquitto -v` prints them); nothing when debug is off."""

import mqttc
from harness import Harness


def _debug(h, mark):
    return [m for lv, m in h.logs[mark:] if lv == "debug"]


def _verbose():
    h = Harness()
    h.broker.debug = True
    return h


def test_connect_logs_the_will_and_connack():
    h = _verbose()
    m = h.mark()
    h.connected("plain")
    h.client().connect("w-1", will=("will/t", b"bye", 1, True))
    assert _debug(h, m) == [
        "No will message specified.",
        "Sending CONNACK to plain (0, 0)",
        "Will message specified (3 bytes) (r1, q1).",
        "\twill/t",
        "Sending CONNACK to w-1 (0, 0)",
    ]


def test_refused_connect_logs_connack_with_its_code_to_the_address():
    h = _verbose()
    m = h.mark()
    assert h.client().connect("old", level=3).rc == 1
    assert _debug(h, m) == ["Sending CONNACK to 127.0.0.1 (0, 1)"]


def test_session_present_is_the_first_connack_number():
    h = _verbose()
    h.connected("keep", clean=False).disconnect()
    m = h.mark()
    h.connected("keep", clean=False)
    assert _debug(h, m)[-1] == "Sending CONNACK to keep (1, 0)"


def test_publish_qos1_in_and_out_with_puback_both_ways():
    h = _verbose()
    sub = h.subscriber("sub-1", "a/#", 1)
    pub = h.connected("pub-1")
    m = h.mark()
    pub.publish("a/b", b"hello world!", qos=1, pid=7)
    assert _debug(h, m) == [
        "Received PUBLISH from pub-1 (d0, q1, r0, m7, 'a/b', ... (12 bytes))",
        "Sending PUBLISH to sub-1 (d0, q1, r0, m1, 'a/b', ... (12 bytes))",
        "Sending PUBACK to pub-1 (m7, rc0)",
    ]
    m = h.mark()
    sub.ack(sub.publishes()[0])
    assert _debug(h, m) == ["Received PUBACK from sub-1 (Mid: 1, RC:0)"]


def test_publish_qos0_forwarded_as_received_is_logged_per_subscriber():
    h = _verbose()
    h.subscriber("s1", "a/+", 0)
    h.subscriber("s2", "a/#", 1)
    pub = h.connected("p0")
    m = h.mark()
    pub.publish("a/d", b"zero")
    assert sorted(_debug(h, m)) == [
        "Received PUBLISH from p0 (d0, q0, r0, m0, 'a/d', ... (4 bytes))",
        "Sending PUBLISH to s1 (d0, q0, r0, m0, 'a/d', ... (4 bytes))",
        "Sending PUBLISH to s2 (d0, q0, r0, m0, 'a/d', ... (4 bytes))",
    ]


def test_qos2_flow_both_directions():
    h = _verbose()
    sub = h.subscriber("sub-1", "a/#", 2)
    pub = h.connected("pub-2")
    m = h.mark()
    pub.publish("a/c", b"x", qos=2, retain=True, pid=1)
    assert _debug(h, m) == [
        "Received PUBLISH from pub-2 (d0, q2, r1, m1, 'a/c', ... (1 bytes))",
        "Sending PUBREC to pub-2 (m1, rc0)",
        "Received PUBREL from pub-2 (Mid: 1)",
        "Sending PUBLISH to sub-1 (d0, q2, r0, m1, 'a/c', ... (1 bytes))",  # on PUBREL
        "Sending PUBCOMP to pub-2 (m1)",
    ]
    m = h.mark()
    sub.ack(sub.publishes()[0])
    assert _debug(h, m) == [
        "Received PUBREC from sub-1 (Mid: 1)",
        "Sending PUBREL to sub-1 (m1)",
        "Received PUBCOMP from sub-1 (Mid: 1, RC:0)",
    ]


def test_subscribe_and_unsubscribe_list_their_filters():
    h = _verbose()
    c = h.connected("raw-1")
    m = h.mark()
    c.subscribe([("x/y", 1), ("x/z", 2)], pid=6)
    got = [l for l in _debug(h, m) if not l.startswith("Client ")]  # our own line per grant
    assert got == [
        "Received SUBSCRIBE from raw-1",
        "\tx/y (QoS 1)",
        "\tx/z (QoS 2)",
        "Sending SUBACK to raw-1",
    ]
    m = h.mark()
    c.send(mqttc.unsubscribe(5, ["x/y"]))
    assert _debug(h, m) == ["Received UNSUBSCRIBE from raw-1", "\tx/y",
                            "Sending UNSUBACK to raw-1"]


def test_retained_message_sent_on_subscribe_is_logged_with_retain_set():
    h = _verbose()
    h.connected("p").publish("r/t", b"kept", qos=1, retain=True)
    m = h.mark()
    h.subscriber("s", "r/#", 1)
    assert "Sending PUBLISH to s (d0, q1, r1, m1, 'r/t', ... (4 bytes))" in _debug(h, m)


def test_pingreq_pingresp_and_disconnect():
    h = _verbose()
    c = h.connected("raw-1")
    m = h.mark()
    c.send(mqttc.pingreq())
    c.disconnect()
    assert _debug(h, m) == ["Received PINGREQ from raw-1", "Sending PINGRESP to raw-1",
                            "Received DISCONNECT from raw-1"]


def test_resent_publish_after_resume_shows_dup():
    h = _verbose()
    h.subscriber("sub", "a/#", 1, clean=False).drop()
    h.connected("pub").publish("a/b", b"q", qos=1)
    h.connected("sub", clean=False)  # queued, sent now: first time
    c = h.client()
    m = h.mark()
    h.broker.closed(h.broker.sessions["sub"].conn)
    c.connect("sub", clean=False)
    assert "Sending PUBLISH to sub (d1, q1, r0, m1, 'a/b', ... (1 bytes))" in _debug(h, m)


def test_mount_point_client_sees_its_own_topics_in_the_lines():
    h = _verbose()
    lst = h.mounted_listener("site/")
    h.subscriber("s", "t/#", 0, listener=lst)
    pub = h.connected("p", listener=lst)
    m = h.mark()
    pub.publish("t/1", b"ab")
    assert _debug(h, m) == ["Received PUBLISH from p (d0, q0, r0, m0, 't/1', ... (2 bytes))",
                            "Sending PUBLISH to s (d0, q0, r0, m0, 't/1', ... (2 bytes))"]


def test_malformed_packet_gets_no_packet_line_only_the_protocol_error():
    h = _verbose()
    c = h.connected("bad")
    m = h.mark()
    c.send(mqttc.packet(0x30, b"\x00\x09a/"))  # topic length beyond the packet
    assert c.closing
    assert _debug(h, m) == []


def test_debug_off_logs_no_packet_lines():
    h = Harness()
    assert h.broker.debug is False  # the default: the port turns it on for log type debug
    sub = h.subscriber("s", "a/#", 1)
    m = h.mark()
    h.connected("p").publish("a/b", b"x", qos=1)
    sub.ack(sub.publishes()[0])
    assert _debug(h, m) == []
