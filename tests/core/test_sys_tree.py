"""$SYS/broker/...: values a late subscriber gets as retained messages without their being
kept in the retained store (a board cannot spare a copy of each)."""

import math

import mqttc
from core import sys_more
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


def _values(h, flt, cid):
    _, got = _retained(h, flt, cid)
    return dict((p.topic.decode()[len("$SYS/broker/"):], p.payload.decode()) for p in got)


def test_the_rest_of_mosquittos_tree_counts_publishes_sessions_and_stored_messages():
    h = Harness(sys_interval=10)
    sys_more.start(h.broker)
    s = h.subscriber("s", "t/#", qos=1)
    p = h.connected("p")
    p.publish("t/r", b"12345", retain=True)  # retained, and in flight to s (no PUBACK)
    p.publish("t/a", b"abc", qos=1, pid=1)  # in flight to s too
    s.drop()  # s's session, clean: gone; a persistent one stays
    h.connected("kept", clean=False).drop()
    h.advance(11000)
    v = _values(h, "$SYS/broker/#", "late")
    assert v["publish/messages/received"] == v["publish/messages/sent"] == "2"
    assert v["clients/inactive"] == v["clients/disconnected"] == "1"
    assert v["clients/expired"] == "0"
    assert v["messages/stored"] == v["store/messages/count"] == "1"  # the retained one
    assert v["store/messages/bytes"] == "5"
    assert v["shared_subscriptions/count"] == "0"
    # the CPython port counts sockets, CONNECTs and bytes sent (tests/integration)
    assert v["load/sockets/1min"] == v["load/connections/1min"] == "0.00"
    assert v["bytes/sent"] == "0"


def test_load_averages_are_per_minute_moving_averages_over_1_5_and_15_minutes():
    h = Harness(sys_interval=10)
    more = sys_more.start(h.broker)
    p = h.connected("p")
    h.advance(1000)  # the first interval's figures: the CONNECT, no PUBLISH
    for i in range(6):
        p.publish("x", b"m")
    h.advance(10000)  # 6 in the next 10 s: 36 a minute
    v = _values(h, "$SYS/broker/load/publish/received/#", "late")
    for span in (1, 5, 15):
        assert v["load/publish/received/%dmin" % span] == \
            "%.2f" % (36 * (1 - math.exp(-10 / (60.0 * span))))
    more.bytes_out += 6000  # as a port counts them: 36 KB a minute
    h.advance(10000)
    v = _values(h, "$SYS/broker/load/bytes/sent/1min", "late2")
    assert v == {"load/bytes/sent/1min": "%.2f" % (36000 * (1 - math.exp(-10 / 60.0)))}


def test_expired_sessions_are_counted_not_those_a_clean_connect_replaced():
    h = Harness(sys_interval=10, persistent_client_expiration=5)
    sys_more.start(h.broker)
    h.connected("kept", clean=False).drop()
    h.connected("back", clean=False).drop()
    h.advance(1000)  # both offline at the first interval
    h.connected("back", clean=True)
    h.advance(10000)
    assert _values(h, "$SYS/broker/clients/expired", "late") == {"clients/expired": "1"}
