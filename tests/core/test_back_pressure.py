"""Back-pressure (back_pressure true, core/flow.py): a full destination pauses the
connections that publish instead of messages being dropped or clients cut off; only a
destination that takes nothing for slow_subscriber_timeout is disconnected."""

from core import flow
from core.config import ConfigError, parse_config
from harness import Harness
import mqttc


def _setup(**kw):
    h = Harness(back_pressure=True, sys_interval=0, **kw)
    h.broker.out_limit = 1000
    s = h.subscriber("sub", "t/#", 1)
    p = h.connected("pub")
    return h, s, p


def _take(c, n):
    """The client's socket takes only n of the bytes waiting (kept for c.publishes())."""
    c.rest += bytes(c.conn.out[:n])
    c.conn.sent(n)


def _held(h, c):
    return flow.hold(h.broker, c.conn)


def test_options_parse_and_default_to_the_ports_choice():
    c = parse_config("back_pressure true\nslow_subscriber_timeout 3\n")
    assert c.back_pressure is True and c.slow_subscriber_timeout == 3
    c = parse_config("")
    assert c.back_pressure is None and c.slow_subscriber_timeout == 10
    assert Harness().broker.flow is False  # the core alone keeps mosquitto's drop policy
    for text, reason in (("back_pressure yes\n", "expected true or false"),
                         ("slow_subscriber_timeout 0\n", "must be between 1 and 86400")):
        try:
            parse_config(text)
        except ConfigError as e:
            assert reason in e.reason, str(e)
        else:
            assert False, "no ConfigError for %r" % text


def test_qos0_over_the_unsent_limit_pauses_the_publisher_and_nothing_is_dropped():
    h, s, p = _setup()
    b = h.broker
    for i in range(10):
        p.publish("t/0", b"%03d" % i + b"z" * 297, 0)  # the subscriber reads nothing yet
    assert len(s.conn.out) > 1000 and b.msgs_dropped == 0
    assert _held(h, p) and not _held(h, s)  # the subscriber is read: its acks drain it
    _take(s, 500)  # the socket took a part: still over the limit
    assert _held(h, p)
    got = s.publishes()  # it read the rest
    assert [x.payload[:3] for x in got] == [b"%03d" % i for i in range(10)]
    assert not _held(h, p) and not s.closing and b.backlog_cut == 0


def test_qos1_queue_at_max_queued_messages_pauses_then_drains_by_pubacks_in_order():
    h, s, p = _setup(max_inflight_messages=2, max_queued_messages=3)
    h.broker.max_inflight = 2
    b = h.broker
    for i in range(1, 9):  # 2 in flight, 3 queued, then over the limit: kept, not dropped
        p.publish("t/1", b"m%d" % i, 1, pid=i)
    assert b.msgs_dropped == 0 and len(s.conn.session.queue) == 12
    assert _held(h, p) and not _held(h, s)
    got = []
    while True:
        new = s.publishes()
        if not new:
            break
        for x in new:
            got.append(x.payload)
            s.ack(x)
    assert got == [b"m%d" % i for i in range(1, 9)]
    assert not _held(h, p) and b.backlog_cut == 0


def test_a_publisher_that_is_itself_the_full_destination_is_still_read():
    h = Harness(back_pressure=True, sys_interval=0, max_inflight_messages=1,
                max_queued_messages=1)
    h.broker.max_inflight = 1
    me = h.subscriber("me", "loop/#", 1)
    for i in range(1, 5):
        me.send(mqttc.publish("loop/x", b"%d" % i, 1, pid=i))
    assert list(h.broker.full) == [me.conn] and not _held(h, me)  # its PUBACKs drain its queue
    got = []
    for _ in range(4):
        for x in me.publishes():
            got.append(x.payload)
            me.ack(x)
    assert got == [b"1", b"2", b"3", b"4"] and not flow.over(h.broker, me.conn)


def test_slow_subscriber_that_takes_nothing_is_disconnected_after_the_timeout_and_counted():
    h, s, p = _setup(slow_subscriber_timeout=3)
    b = h.broker
    w = h.subscriber("watch", "will/#", 0)
    s2 = h.connected("slow", will=("will/slow", b"gone", 0, False))
    assert s2.subscribe([("t/#", 0)]) == [0]
    for i in range(8):
        p.publish("t/0", b"y" * 300, 0)
    s.read()  # the first subscriber keeps reading
    assert _held(h, p)
    mark = h.mark()
    h.advance(2500)
    assert not s2.closing and _held(h, p)  # within the timeout: it may still read
    h.advance(1000)
    assert s2.closing and b.backlog_cut == 1
    lines = [m for m in h.logs_since(mark) if "'slow'" in m]
    assert len(lines) == 1 and "slow_subscriber_timeout" in lines[0], h.logs[mark:]
    assert [x.payload for x in w.publishes()] == [b"gone"]  # cut off, not a clean exit
    assert not _held(h, p) and not s.closing


def test_a_full_subscriber_that_reads_a_little_every_second_is_never_cut():
    h, s, p = _setup(slow_subscriber_timeout=2)
    for i in range(8):
        p.publish("t/0", b"r" * 300, 0)
    for _ in range(10):
        _take(s, 10)  # a trickle: progress, however small
        h.advance(1000)
    assert not s.closing and h.broker.backlog_cut == 0
    assert _held(h, p)


def test_held_publisher_is_not_timed_out_by_keepalive_while_held():
    h = Harness(back_pressure=True, sys_interval=0, slow_subscriber_timeout=60)
    h.broker.out_limit = 1000
    s = h.subscriber("sub", "t/#", 0)
    p = h.connected("pub", keepalive=2)
    for i in range(5):
        p.publish("t/0", b"k" * 300, 0)
    for _ in range(5):  # 2.5 times its keepalive: held (the port asks each turn), not silent
        _take(s, 1)
        assert _held(h, p)
        h.advance(1000)
    assert _held(h, p) and not p.closing


def test_low_memory_pauses_publishers_only_while_something_waits_to_drain():
    h, s, p = _setup()
    b = h.broker
    b.low_memory = True  # as a port sets it below its heap's low-water mark
    assert not _held(h, p)  # nothing queued or unsent: pausing would not help
    p.publish("t/0", b"x", 0)
    assert _held(h, p) and not _held(h, s)
    s.read()
    assert not _held(h, p)
    b.low_memory = False


def test_a_publisher_that_owes_acknowledgements_is_read_while_others_wait():
    # every client publishes and subscribes: holding one whose QoS 1 deliveries await its
    # PUBACKs would keep the broker full for ever
    h, s, p = _setup()
    b = h.broker
    both = h.subscriber("both", "t/#", 1)
    p.publish("t/1", b"for both", 1, pid=1)
    both.publish("x/y", b"its own", 0)
    b.low_memory = True
    assert both.conn.session.inflight and not _held(h, both)
    assert _held(h, p)  # publishes, owes nothing
    for x in both.publishes():
        both.ack(x)
    assert _held(h, both)  # acknowledged: now it waits like the others
    b.low_memory = False


def test_drop_policy_is_unchanged_when_back_pressure_is_off():
    h = Harness(sys_interval=0)
    h.broker.out_limit = 1000
    s = h.subscriber("sub", "t/#", 0)
    p = h.connected("pub")
    for i in range(10):
        p.publish("t/0", b"d" * 300, 0)
    assert h.broker.msgs_dropped >= 6 and not flow.hold(h.broker, p.conn)
    assert not h.broker.full


def test_MQTT_4_3_3_2_qos2_publish_sent_again_before_pubrel_is_delivered_once():
    # the message is kept until PUBREL and routed then; its id is forgotten after the
    # routing (a PUBREL kept back by a MemoryError routes it again); a resend before
    # PUBREL is still not delivered twice
    h, s, p = _setup()
    for dup in (False, True):
        p.send(mqttc.publish("t/2", b"once", 2, dup=dup, pid=7))
        assert [(x.type, x.pid) for x in p.packets()] == [(mqttc.PUBREC, 7)]
    assert s.publishes() == []
    p.send(mqttc.pubrel(7))
    assert [(x.type, x.pid) for x in p.packets()] == [(mqttc.PUBCOMP, 7)]
    assert [x.payload for x in s.publishes()] == [b"once"]
