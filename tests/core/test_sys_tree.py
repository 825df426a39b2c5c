"""$SYS/broker/...: values a late subscriber gets as retained messages without their being
kept in the retained store (a board cannot spare a copy of each)."""

import mqttc
from harness import Harness
from capturing import attach


def _retained(h, flt, cid="late"):
    c = h.connected(cid)
    assert c.subscribe([(flt, 0)]) == [0]
    return c, [p for p in c.extra + c.packets() if p.type == mqttc.PUBLISH]


def test_late_subscriber_gets_current_sys_values_as_retained_messages():
    h = Harness(sys_interval=10)
    h.connected("a")
    h.advance(1000)
    _, got = _retained(h, "$SYS/broker/clients/connected")
    assert [(p.topic, p.payload, p.retain) for p in got] == \
        [(b"$SYS/broker/clients/connected", b"1", 1)]
    _, got = _retained(h, "$SYS/broker/#", "late2")
    topics = set([p.topic for p in got])
    assert b"$SYS/broker/version" in topics and b"$SYS/broker/uptime" in topics
    assert all([p.retain == 1 for p in got])


def test_MQTT_4_7_2_1_hash_subscription_gets_no_sys_values():
    h = Harness(sys_interval=10)
    h.advance(1000)
    _, got = _retained(h, "#")
    assert got == []


def test_sys_values_are_not_stored_as_retained_messages():
    h = Harness(sys_interval=10)
    p = h.connected("p")
    p.publish("r/1", b"x", retain=True)
    h.advance(11000)
    assert list(h.broker.retained.msgs) == ["r/1"]
    _, got = _retained(h, "$SYS/broker/retained messages/count")
    assert [p.payload for p in got] == [b"1"]


def test_MQTT_3_3_1_9_live_sys_updates_are_sent_with_retain_0():
    h = Harness(sys_interval=1)
    s, _ = _retained(h, "$SYS/broker/clients/total")
    h.connected("other")
    h.advance(1500)
    got = s.publishes()
    assert got and got[-1].topic == b"$SYS/broker/clients/total" and got[-1].retain == 0
    assert got[-1].payload == b"2"


def test_no_sys_values_when_sys_interval_is_0():
    h = Harness(sys_interval=0)
    h.advance(2000)
    _, got = _retained(h, "$SYS/#")
    assert got == []


def test_heap_current_and_free_are_published_only_when_a_port_measures_them():
    h = Harness(sys_interval=10)
    h.advance(1000)
    _, got = _retained(h, "$SYS/broker/heap/#")
    assert got == []  # CPython: no heap figures
    h.broker.heap_current = 50000
    h.broker.heap_free = 40000
    h.advance(11000)
    _, got = _retained(h, "$SYS/broker/heap/#", "late2")
    assert sorted([(p.topic, p.payload) for p in got]) == [
        (b"$SYS/broker/heap/current", b"50000"), (b"$SYS/broker/heap/free", b"40000")]


def test_capture_queue_figures_are_published_while_capture_is_wired_in():
    h = Harness(sys_interval=10)
    h.cfg.capture_address = "127.0.0.1:5555"
    cap = attach(h.cfg, h.broker, "gw")
    h.connected("a")
    h.advance(1000)
    queued = cap.ring.records  # nothing was sent (no receiver): every record so far waits
    assert queued > 0
    _, got = _retained(h, "$SYS/broker/capture/#")
    assert sorted([(p.topic, int(p.payload)) for p in got]) == [
        (b"$SYS/broker/capture/dropped", 0), (b"$SYS/broker/capture/queued", queued),
        (b"$SYS/broker/capture/sent", 0)]
