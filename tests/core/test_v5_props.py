"""MQTT 5.0 section 2.2.2 (properties) and 1.5 (data types): the property codec core/props.py,
checked against the independent encoder of tests/core/mqttc.py."""

from core import props
from core.errors import ProtocolError
from harness import raised
from mqttc import props as block, prop_bytes, read_props, PROP_TYPES, varint

CONNECT = 1
PUBLISH = 3
PUBACK = 4
SUBSCRIBE = 8
DISCONNECT = 14
AUTH = 15


def _scan(data, kind):
    mv = memoryview(data)
    return props.scan(mv, 0, len(data), kind)


def _code(data, kind):
    """The reason code of the ProtocolError scan() raises for data."""
    e = raised(ProtocolError, _scan, data, kind)
    return e.args[1]


# one value of each property, by identifier
SAMPLES = {
    0x01: 1, 0x02: 3600, 0x03: "text/plain", 0x08: "reply/to", 0x09: b"\x00\xffid",
    0x0B: 268435455, 0x11: 0xFFFFFFFF, 0x12: "auto-1", 0x13: 30, 0x15: "SCRAM-SHA-1",
    0x16: b"\x01\x02", 0x17: 0, 0x18: 10, 0x19: 1, 0x1A: "info", 0x1C: "other:1883",
    0x1F: "why not", 0x21: 20, 0x22: 10, 0x23: 5, 0x24: 1, 0x25: 0, 0x26: ("k", "v"),
    0x27: 1000, 0x28: 1, 0x29: 0, 0x2A: 1,
}

# where each property may appear: 0 is the will properties (section 2.2.2.2's table)
WHERE = {
    0x01: (0, 3), 0x02: (0, 3), 0x03: (0, 3), 0x08: (0, 3), 0x09: (0, 3), 0x0B: (3, 8),
    0x11: (1, 2, 14), 0x12: (2,), 0x13: (2,), 0x15: (1, 2, 15), 0x16: (1, 2, 15),
    0x17: (1,), 0x18: (0,), 0x19: (1,), 0x1A: (2,), 0x1C: (2, 14),
    0x1F: (2, 4, 5, 6, 7, 9, 11, 14, 15), 0x21: (1, 2), 0x22: (1, 2), 0x23: (3,),
    0x24: (2,), 0x25: (2,), 0x26: (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15),
    0x27: (1, 2), 0x28: (2,), 0x29: (2,), 0x2A: (2,),
}


def test_every_property_is_accepted_where_the_spec_allows_it_and_refused_elsewhere():
    assert sorted(SAMPLES) == sorted(PROP_TYPES) == sorted(WHERE)
    for pid in SAMPLES:
        data = block([(pid, SAMPLES[pid])])
        for kind in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15):
            if kind in WHERE[pid]:
                assert _scan(data, kind) == len(data), (hex(pid), kind)
            else:
                assert _code(data, kind) == 0x81, (hex(pid), kind)  # malformed (2.2.2.2)


def test_unknown_identifiers_are_malformed():
    for pid in (0x00, 0x04, 0x0A, 0x14, 0x1B, 0x20, 0x2B, 0x7F):
        assert _code(block(raw=bytes([pid, 0])), PUBLISH) == 0x81, pid
    # an identifier is a variable byte integer: 0x81 0x01 is 129, not a property
    assert _code(block(raw=b"\x81\x01\x00"), PUBLISH) == 0x81


def test_a_property_that_may_appear_once_twice_is_a_protocol_error():
    for pid, kind in ((0x11, CONNECT), (0x21, CONNECT), (0x27, CONNECT), (0x02, PUBLISH),
                      (0x23, PUBLISH), (0x1F, PUBACK), (0x0B, SUBSCRIBE), (0x18, 0)):
        data = block([(pid, SAMPLES[pid]), (pid, SAMPLES[pid])])
        assert _code(data, kind) == 0x82, hex(pid)


def test_user_property_may_appear_many_times_with_the_same_name():
    data = block([(0x26, ("k", "1")), (0x26, ("k", "2")), (0x26, ("", ""))])
    for kind in WHERE[0x26]:
        assert _scan(data, kind) == len(data)


def test_byte_properties_other_than_0_or_1_are_a_protocol_error():
    for pid, kind in ((0x01, PUBLISH), (0x17, CONNECT), (0x19, CONNECT), (0x01, 0)):
        assert _code(block(raw=bytes([pid, 2])), kind) == 0x82, hex(pid)


def test_zero_receive_maximum_packet_size_or_subscription_identifier_is_a_protocol_error():
    assert _code(block([(0x21, 0)]), CONNECT) == 0x82
    assert _code(block([(0x27, 0)]), CONNECT) == 0x82
    assert _code(block([(0x0B, 0)]), SUBSCRIBE) == 0x82


def test_values_cut_short_or_overrunning_the_block_are_malformed():
    for raw in (b"\x11\x00\x00\x00", b"\x21\x00", b"\x03\x00\x05abc", b"\x26\x00\x01k",
                b"\x26\x00\x01k\x00\x02v", b"\x0b\x80\x80", b"\x09\x00"):
        kind = SUBSCRIBE if raw[0] == 0x0B else CONNECT if raw[0] in (0x11, 0x21) else PUBLISH
        assert _code(block(raw=raw), kind) == 0x81, raw
    # the block's length runs past the packet
    assert _code(b"\x05\x01\x01", PUBLISH) == 0x81
    # the block's length itself is cut short
    assert _code(b"\x80", PUBLISH) == 0x81


def test_MQTT_1_5_4_1_ill_formed_utf8_in_a_string_property_is_malformed():
    for bad in (b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82"):
        assert _code(block(raw=b"\x03" + bytes([0, len(bad)]) + bad),
                     PUBLISH) == 0x81, bad
        pair = b"\x26\x00\x01k" + bytes([0, len(bad)]) + bad
        assert _code(block(raw=pair), PUBLISH) == 0x81, bad
    ok = "\u00e9\u20ac\U0001f600".encode("utf-8")
    data = block(raw=b"\x03" + bytes([0, len(ok)]) + ok)
    assert _scan(data, PUBLISH) == len(data)


def test_MQTT_1_5_4_2_null_character_in_a_string_property_is_malformed():
    assert _code(block(raw=b"\x08\x00\x03a\x00b"), PUBLISH) == 0x81
    assert _code(block(raw=b"\x26\x00\x01\x00\x00\x01v"), PUBLISH) == 0x81


def test_binary_data_may_hold_any_bytes():
    data = block([(0x09, b"\x00\xc0\x80\xff")])
    assert _scan(data, PUBLISH) == len(data)
    assert props.get(memoryview(data), 0, 0x09) == b"\x00\xc0\x80\xff"


def test_MQTT_1_5_5_1_variable_byte_integers_over_four_bytes_or_not_shortest_are_malformed():
    assert _code(block(raw=b"\x0b\x80\x80\x80\x80\x01"), SUBSCRIBE) == 0x81
    assert _code(block(raw=b"\x0b\x81\x00"), SUBSCRIBE) == 0x81
    assert _code(b"\x80\x00", PUBLISH) == 0x81  # a block length of 0 in two bytes
    mv = memoryview(b"\xff\xff\xff\x7f")
    assert props.varint(mv, 0, 4) == (268435455, 4)


def test_empty_block_and_the_block_end():
    assert _scan(b"\x00", PUBLISH) == 1
    data = block([(0x23, 7)]) + b"payload"
    assert props.scan(memoryview(data), 0, len(data), PUBLISH) == len(data) - 7
    assert _scan(b"\x00rest", PUBLISH) == 1


def test_get_reads_each_type():
    items = [(pid, SAMPLES[pid]) for pid in WHERE if 2 in WHERE[pid]]
    data = b"xy" + block(items)
    mv = memoryview(data)
    assert props.scan(mv, 2, len(data), 2) == len(data)
    for pid, v in items:
        assert props.get(mv, 2, pid) == v, hex(pid)
    assert props.get(mv, 2, 0x23) is None
    assert props.get(memoryview(block([(0x26, ("a", "1")), (0x26, ("b", "2"))])), 0,
                     0x26) == ("a", "1")


def test_put_writes_what_the_independent_encoder_writes():
    for pid in SAMPLES:
        out = bytearray()
        props.put(out, pid, SAMPLES[pid])
        assert bytes(out) == prop_bytes(pid, SAMPLES[pid]), hex(pid)
        assert read_props(varint(len(out)) + bytes(out), 0)[0] == [(pid, SAMPLES[pid])]
    out = bytearray()
    props.put(out, 0x09, b"\x00\x01")
    props.put(out, 0x03, "\u00e9")
    assert bytes(out) == b"\x09\x00\x02\x00\x01\x03\x00\x02\xc3\xa9"


def test_copy_keeps_the_order_and_drops_the_identifiers_asked():
    items = [(0x26, ("a", "1")), (0x18, 30), (0x02, 60), (0x26, ("b", "2")), (0x03, "t")]
    data = block(items)
    mv = memoryview(data)
    assert props.scan(mv, 0, len(data), 0) == len(data)
    out = bytearray()
    props.copy(out, mv, 0, b"\x18")
    assert read_props(varint(len(out)) + bytes(out), 0)[0] == \
        [(0x26, ("a", "1")), (0x02, 60), (0x26, ("b", "2")), (0x03, "t")]
    out = bytearray()
    props.copy(out, mv, 0, b"")
    assert bytes(out) == data[1:]


def test_auth_and_disconnect_properties():
    data = block([(0x15, "SCRAM"), (0x16, b"\x01"), (0x1F, "r"), (0x26, ("k", "v"))])
    assert _scan(data, AUTH) == len(data)
    data = block([(0x11, 0), (0x1F, "bye"), (0x1C, "elsewhere")])
    assert _scan(data, DISCONNECT) == len(data)
