"""Malformed input: 2.2 (fixed header), 1.5.3 (UTF-8), 4.8 (protocol violations), framing."""

import mqttc
from harness import Harness, assert_closed_for_violation, violation


def test_MQTT_2_2_2_1_and_2_2_2_2_reserved_fixed_header_flags_close():
    bad = [
        mqttc.puback(1, first_byte=0x41),
        mqttc.pubrec(1, first_byte=0x52),
        mqttc.pubrel(1, first_byte=0x60),
        mqttc.pubrel(1, first_byte=0x63),
        mqttc.pubcomp(1, first_byte=0x78),
        mqttc.subscribe(1, [("a", 0)], first_byte=0x80),
        mqttc.unsubscribe(1, ["a"], first_byte=0xA0),
        b"\xc1\x00",  # PINGREQ
        b"\xe2\x00",  # DISCONNECT
    ]
    for data in bad:
        violation(data)


def test_MQTT_2_2_2_2_connect_with_reserved_flags_closes_before_connect():
    h = Harness()
    c = h.client()
    m = h.mark()
    c.send(mqttc.connect("x", first_byte=0x12))
    assert [p for p in c.packets() if p.type == mqttc.CONNACK] == []
    assert_closed_for_violation(h, c, m, "127.0.0.1")


def test_MQTT_3_6_1_1_pubrel_flags_must_be_0010():
    h = Harness()
    c = h.connected("rel")
    c.send(mqttc.publish("a", b"x", qos=2, pid=1))
    assert c.only(mqttc.PUBREC).pid == 1
    m = h.mark()
    c.send(mqttc.pubrel(1, first_byte=0x60))
    assert [p for p in c.packets() if p.type == mqttc.PUBCOMP] == []
    assert_closed_for_violation(h, c, m, "rel")


def test_MQTT_4_8_0_1_server_only_and_reserved_packet_types_close():
    for data in (b"\x20\x02\x00\x00", b"\x90\x03\x00\x01\x00", b"\xb0\x02\x00\x01",
                 b"\xd0\x00", b"\x00\x00", b"\xf0\x00"):
        violation(data)


def test_MQTT_4_8_0_1_violation_closes_only_that_connection():
    h = Harness()
    s = h.subscriber("s", "t", 1)
    p = h.connected("p")
    bad = h.connected("bad")
    bad.send(b"\xf0\x00")
    assert bad.closing
    p.publish("t", b"fine", qos=1, pid=1)
    assert [x.payload for x in s.publishes()] == [b"fine"]
    assert not s.closing and not p.closing


def test_MQTT_4_8_0_1_ack_packets_with_wrong_length_close():
    for data in (b"\x40\x03\x00\x01\x00", b"\x40\x01\x00", b"\x62\x00", b"\xc0\x01\x00"):
        violation(data)


def test_remaining_length_of_five_bytes_closes():
    h, c = violation(b"\x30\xff\xff\xff\xff\x01")


def test_remaining_length_five_bytes_before_connect_closes():
    h = Harness()
    c = h.client()
    m = h.mark()
    c.send(b"\x10\x80\x80\x80\x80\x01")
    assert c.read() == b""
    assert_closed_for_violation(h, c, m, "127.0.0.1")


def test_remaining_length_over_max_packet_size_closes():
    h = Harness(max_packet_size=1000)
    c = h.connected("big")
    m = h.mark()
    c.send(b"\x30\xe9\x07")  # remaining length 1001, body not sent yet
    assert_closed_for_violation(h, c, m, "big")


def test_publish_topic_length_overrunning_packet_closes():
    violation(mqttc.packet(0x30, b"\x00\x10abc"))


def test_subscribe_filter_length_overrunning_packet_closes():
    violation(mqttc.packet(0x82, b"\x00\x01\x00\x09ab\x00"))


def test_qos1_publish_without_room_for_packet_id_closes():
    violation(mqttc.packet(0x32, mqttc.mstr("a") + b"\x01"))


def test_random_garbage_before_connect_closes():
    for data in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\xff" * 16, b"\x16\x03\x01\x02\x00\x01"):
        h = Harness()
        c = h.client()
        m = h.mark()
        c.send(data)
        assert [p for p in c.packets() if p.type == mqttc.CONNACK] == []
        assert_closed_for_violation(h, c, m, "127.0.0.1")


def test_packets_split_into_single_bytes_are_reassembled():
    h = Harness()
    s = h.subscriber("s", "frag", 1)
    c = h.client()
    data = (mqttc.connect("frag-client") + mqttc.subscribe(1, [("x", 0)])
            + mqttc.publish("frag", b"p" * 300, qos=1, pid=4) + mqttc.pingreq())
    for i in range(len(data)):
        c.send(data[i:i + 1])
    pkts = c.packets()
    assert [x.type for x in pkts] == [mqttc.CONNACK, mqttc.SUBACK, mqttc.PUBACK, mqttc.PINGRESP]
    assert [x.payload for x in s.publishes()] == [b"p" * 300]
    assert not c.closing


def test_several_packets_in_one_read_all_processed():
    h = Harness()
    s = h.subscriber("s", "many", 0)
    c = h.client()
    data = mqttc.connect("batch")
    for i in range(20):
        data += mqttc.publish("many", b"%d" % i)
    c.send(data)
    assert [x.payload for x in s.publishes()] == [b"%d" % i for i in range(20)]


def test_truncated_packet_then_close_publishes_nothing_partial():
    h = Harness()
    s = h.subscriber("s", "#", 0)
    c = h.connected("trunc")
    full = mqttc.publish("t/x", b"whole payload")
    c.send(full[:-3])
    assert s.publishes() == []
    c.drop()
    assert s.publishes() == []
    assert not s.closing
    # The broker still works for everyone else.
    p = h.connected("p")
    p.publish("t/y", b"ok")
    assert [x.payload for x in s.publishes()] == [b"ok"]


def test_received_accepts_bytearray_and_memoryview_and_copies():
    h = Harness()
    s = h.subscriber("s", "mv", 0)
    c = h.connected("mvc")
    pkt = mqttc.publish("mv", b"abcdef")
    buf = bytearray(pkt[:5])
    c.send(memoryview(buf))
    buf[:] = b"\xff" * 5  # the port reuses its buffer: the core must have copied
    c.send(bytearray(pkt[5:]))
    assert [x.payload for x in s.publishes()] == [b"abcdef"]


def test_MQTT_1_5_3_2_null_in_client_id_before_connect_closes():
    h = Harness()
    c = h.client()
    m = h.mark()
    c.send(mqttc.connect(b"\x00"))
    assert [p for p in c.packets() if p.type == mqttc.CONNACK] == []
    assert_closed_for_violation(h, c, m, "127.0.0.1")


def test_data_after_violation_in_same_read_is_ignored():
    h = Harness()
    s = h.subscriber("s", "t", 0)
    c = h.connected("v")
    c.send(b"\xf0\x00" + mqttc.publish("t", b"after"))
    assert c.closing
    assert s.publishes() == []
