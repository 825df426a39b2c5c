"""MQTT 3.1.1 3.1.2.10 (Keep Alive), 3.12 (PINGREQ) and the max_keepalive setting."""

import mqttc
from core.clock import PERIOD
from harness import Harness, assert_closed_for_violation


def test_MQTT_3_1_2_24_closed_after_one_and_a_half_keepalive_of_silence():
    h = Harness()
    c = h.connected("ka", keepalive=10)
    m = h.mark()
    h.advance(14500)
    assert not c.closing, "closed before 1.5 x keepalive"
    h.advance(2500)
    assert_closed_for_violation(h, c, m, "ka")


def test_MQTT_3_1_2_24_any_packet_resets_the_timer():
    h = Harness()
    c = h.connected("ka", keepalive=10)
    for _ in range(4):
        h.advance(12000)
        c.send(mqttc.pingreq())
        assert c.only(mqttc.PINGRESP)
    h.advance(12000)
    c.send(mqttc.publish("a", b"not a ping"))
    h.closes_after(c, 12000, 5000)


def test_MQTT_3_1_2_24_keepalive_across_clock_wrap():
    h = Harness(start_ms=PERIOD - 7000)
    c = h.connected("wrap", keepalive=10)
    h.advance(14000)  # crosses the wrap of the masked clock
    assert not c.closing
    c.send(mqttc.pingreq())
    h.closes_after(c, 14000, 3000)


def test_MQTT_3_1_2_24_keepalive_0_never_times_out():
    h = Harness()
    c = h.connected("zero", keepalive=0)
    h.advance(600000, step=1000)
    assert not c.closing


def test_MQTT_3_1_2_24_timeout_only_affects_the_silent_client():
    h = Harness()
    quiet = h.connected("quiet", keepalive=2)
    busy = h.connected("busy", keepalive=2)
    for _ in range(8):
        h.advance(1000)
        busy.send(mqttc.pingreq())
    assert quiet.closing and not busy.closing


def test_MQTT_3_12_4_1_pingreq_gets_pingresp():
    h = Harness()
    c = h.connected("ping")
    c.send(mqttc.pingreq())
    assert c.read() == b"\xd0\x00"
    c.send(mqttc.pingreq() + mqttc.pingreq())
    assert c.read() == b"\xd0\x00\xd0\x00"


def test_max_keepalive_refuses_longer_keepalive_with_connack_2():
    h = Harness(max_keepalive=30)
    h.refused(mqttc.connect("long", keepalive=31), 2)
    ok = h.client()
    assert ok.connect("fits", keepalive=30).rc == 0 and not ok.closing


def test_max_keepalive_refuses_keepalive_0_when_limited():
    Harness(max_keepalive=30).refused(mqttc.connect("forever", keepalive=0), 2)


def test_default_max_keepalive_accepts_0_and_65535():
    h = Harness()
    for ka in (0, 65535):
        c = h.client()
        assert c.connect("k%d" % ka, keepalive=ka).rc == 0
        assert not c.closing


def test_connection_without_connect_is_closed_eventually():
    h = Harness()
    c = h.client()
    h.advance(120000, step=1000)
    assert c.closing


def test_connect_trickled_byte_by_byte_is_closed_20s_after_accept():
    # slow-loris: each byte resets nothing, the CONNECT deadline counts from the accept
    h = Harness()
    c = h.client()
    pkt = mqttc.connect("slow-client-with-a-long-id-" * 2, keepalive=0)  # > 21 bytes
    for i in range(len(pkt) - 1):
        c.send(pkt[i:i + 1])
        h.advance(1000, step=1000)
        if c.closing:
            break
    assert c.closing
    assert i < 21, "still open after %d s" % i


def test_packet_trickled_after_connect_is_closed_when_not_complete_in_60s():
    h = Harness()
    c = h.connected("slow", keepalive=0)  # no keepalive: only the packet deadline applies
    other = h.connected("ok", keepalive=0)
    pkt = mqttc.publish("a/b", b"x" * 200)
    mark = h.mark()
    for i in range(len(pkt) - 1):
        c.send(pkt[i:i + 1])
        h.advance(1000, step=1000)
        if c.closing:
            break
    assert c.closing and 59 <= i <= 61, i
    assert not other.conn.closing
    assert [m for m in h.logs_since(mark) if "slow" in m and "not completed" in m]


def test_partial_packet_completed_in_time_keeps_the_connection():
    h = Harness()
    c = h.connected("patient", keepalive=0)
    pkt = mqttc.pingreq()
    c.send(pkt[:1])
    h.advance(50000, step=1000)
    c.send(pkt[1:])
    h.advance(50000, step=1000)
    assert not c.conn.closing
