"""Limits against abuse in the core: subscriptions per client, topic length and levels, and
the outgoing backlog of a slow subscriber (QoS 0 dropped first, then the client cut off)."""

from core.config import ConfigError, parse_config
from harness import Harness, assert_closed_for_violation
import mqttc


# ---------------------------------------------------------------- options

def test_limit_options_parse_and_default_to_the_ports_choice():
    c = parse_config("max_subscriptions_per_client 5\nmax_topic_length 100\n"
                     "max_topic_levels 8\nmax_outgoing_bytes 0\n")
    assert (c.max_subscriptions_per_client, c.max_topic_length, c.max_topic_levels,
            c.max_outgoing_bytes) == (5, 100, 8, 0)
    c = parse_config("")
    assert c.max_subscriptions_per_client is None and c.max_outgoing_bytes is None


def test_bad_limit_values_are_config_errors_naming_the_line():
    for text, reason in (("max_topic_length 65536\n", "must be between 0 and 65535"),
                         ("max_topic_levels -1\n", "must be between 0 and 65535"),
                         ("max_subscriptions_per_client many\n", "expected an integer"),
                         ("max_outgoing_bytes\n", "missing value")):
        try:
            parse_config("\n" + text, "l.conf")
        except ConfigError as e:
            assert e.lineno == 2 and reason in e.reason, (text, str(e))
        else:
            assert False, "no ConfigError for %r" % text


def test_default_limits_are_generous():
    b = Harness().broker
    assert b.max_subs == 10000 and b.max_topic_len == 65535 and b.max_levels == 201
    assert b.backlog_limit == 64 << 20
    b = Harness(max_topic_levels=0, max_outgoing_bytes=0).broker
    assert b.max_levels >= 1 << 30 and b.backlog_limit >= 1 << 30  # 0: no limit


# ---------------------------------------------------------------- subscriptions

def test_MQTT_3_9_3_subscription_over_max_subscriptions_per_client_gets_0x80():
    h = Harness(max_subscriptions_per_client=3)
    c = h.connected("many")
    assert c.subscribe([("a", 1), ("b", 1)]) == [1, 1]
    mark = h.mark()
    assert c.subscribe([("c", 0), ("d", 1), ("a", 2)], pid=2) == [0, 0x80, 2]
    assert [m for m in h.logs_since(mark) if "max_subscriptions_per_client" in m \
            and "'d'" in m], h.logs[mark:]
    assert not c.closing
    p = h.connected("pub")
    p.publish("d", b"refused", 1)
    p.publish("a", b"kept", 1)
    assert [(x.topic, x.payload) for x in c.publishes()] == [(b"a", b"kept")]
    c.send(mqttc.unsubscribe(3, ["b"]))
    c.packets()
    assert c.subscribe([("d", 1)], pid=4) == [1]  # room again after UNSUBSCRIBE


# ---------------------------------------------------------------- topic length and levels

def test_publish_topic_over_max_topic_length_closes_with_protocol_error():
    h = Harness(max_topic_length=10)
    s = h.subscriber("s", "#", 0)
    p = h.connected("p")
    p.publish("0123456789", b"ten")
    assert [x.payload for x in s.publishes()] == [b"ten"]
    mark = h.mark()
    p.publish("0123456789x", b"eleven")
    assert_closed_for_violation(h, p, mark, "'p'")
    assert "max_topic_length" in h.logs_since(mark)[0]
    assert s.publishes() == []
    u = h.connected("u")
    mark = h.mark()
    u.publish("\u00e9" * 6, b"12 bytes")  # bytes are counted, not characters
    assert_closed_for_violation(h, u, mark, "'u'")


def test_filters_and_wills_over_the_limits_close_the_connection():
    h = Harness(max_topic_length=10, max_topic_levels=3)
    for pkt in (mqttc.subscribe(1, [("ok", 0), ("0123456789/#", 0)]),
                mqttc.subscribe(1, [("a/b/c/#", 0)]),
                mqttc.unsubscribe(1, ["a/+/c/d"])):
        c = h.connected("f")
        mark = h.mark()
        c.send(pkt)
        assert c.packets() == []  # no SUBACK / UNSUBACK
        assert_closed_for_violation(h, c, mark, "'f'")
    c = h.client()
    c.send(mqttc.connect("w", will=("a/b/c/d", b"bye", 0, False)))
    assert c.closing and c.packets() == []  # no CONNACK for a bad will topic
    assert h.connected("w2", will=("a/b/c", b"bye", 0, False))


def test_publish_over_max_topic_levels_closes_and_within_is_delivered():
    h = Harness(max_topic_levels=3)
    s = h.subscriber("s", "a/+/+", 1)
    p = h.connected("p")
    p.publish("a/b/c", b"three", 1)
    assert [x.payload for x in s.publishes()] == [b"three"]
    mark = h.mark()
    p.send(mqttc.publish("a/b/c/d", b"four", 1, pid=2))
    assert_closed_for_violation(h, p, mark, "'p'")
    assert "max_topic_levels" in h.logs_since(mark)[0]


def test_default_level_bound_is_mosquittos_201_levels():
    # mosquitto 2.0.11 accepts "/" * 200 (201 levels) and closes a client sending 202
    h = Harness()
    s = h.subscriber("s", "#", 0)
    c = h.connected("deep")
    assert c.subscribe([("/" * 200, 0)]) == [0]
    deep = "/".join(["x"] * 201)
    assert c.subscribe([(deep, 0)]) == [0]
    p = h.connected("p")
    p.publish(deep, b"201 levels")
    assert [x.payload for x in s.publishes()] == [b"201 levels"]
    assert [x.payload for x in c.publishes()] == [b"201 levels"]
    mark = h.mark()
    c.send(mqttc.subscribe(2, [("/" * 201, 0)]))
    assert_closed_for_violation(h, c, mark, "'deep'")
    mark = h.mark()
    p.publish(deep + "/y", b"202 levels")
    assert_closed_for_violation(h, p, mark, "'p'")


# ---------------------------------------------------------------- slow subscribers

def _slow_setup(**kw):
    h = Harness(max_outgoing_bytes=6000, **kw)
    h.broker.out_limit = 1000
    w = h.subscriber("watch", "will/#", 0)
    s = h.connected("slow", will=("will/slow", b"gone", 0, False))
    assert s.subscribe([("t/#", 1)]) == [1]
    return h, w, s, h.connected("pub")


def test_slow_subscriber_loses_qos0_first_then_is_cut_off_over_its_qos1_backlog():
    h, w, s, p = _slow_setup()
    b = h.broker
    mark = h.mark()
    for i in range(10):  # the slow client never reads: its bytes pile up
        p.publish("t/0", b"z" * 300, 0)
    assert 1000 < len(s.conn.out) < 1400 and not s.closing
    assert b.msgs_dropped >= 6 and s.conn.dropped == b.msgs_dropped
    assert len([m for m in h.logs_since(mark) if "QoS 0 messages to it are dropped" in m]) == 1
    for i in range(1, 20):
        p.publish("t/1", b"q" * 300, 1, pid=i)
        if s.closing:
            break
    assert s.closing, "the slow subscriber was never cut off"
    assert b.backlog_cut == 1
    assert [m for m in h.logs_since(mark) if "over max_outgoing_bytes 6000" in m
            and "'slow'" in m]
    assert [x.payload for x in w.publishes()] == [b"gone"]  # cut off, not a clean exit
    values = dict(b.sys.values())
    assert values["$SYS/broker/clients/backlog_disconnected"] == 1
    assert values["$SYS/broker/publish/messages/dropped"] == b.msgs_dropped
    fresh = h.subscriber("fresh", "t/#", 1)  # the broker carries on
    p.publish("t/2", b"after", 1, pid=30)
    assert [x.payload for x in fresh.publishes()] == [b"after"]


def test_queued_qos1_backlog_counts_towards_the_limit():
    # a small in-flight window: most of the backlog waits in the session queue
    h, w, s, p = _slow_setup(max_inflight_messages=2)
    h.broker.max_inflight = 2
    for i in range(1, 15):
        p.publish("t/q", b"q" * 500, 1, pid=i)
        if s.closing:
            break
    assert s.closing and h.broker.backlog_cut == 1
    assert i >= 11  # 2 in flight (~1 KB sent) plus about 10 x 500 bytes queued


def test_reader_that_keeps_up_is_never_cut_off():
    h, w, s, p = _slow_setup()
    for i in range(1, 200):
        p.publish("t/r", b"r" * 300, 1, pid=i % 60000 + 1)
        for x in s.publishes():
            s.ack(x)
    assert not s.closing and h.broker.backlog_cut == 0
