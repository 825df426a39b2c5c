"""Bridges under load (issue 14): a local QoS 1 publisher that outruns the uplink is held
(TCP back-pressure) while the bridge's queue is full, rather than acknowledged and dropped:
what it got a PUBACK for reaches the upstream mosquitto, in order. With the drop policy an
uplink down for longer than slow_subscriber_timeout drops at the queue limit (as
mosquitto's bridges), logged once; with back_pressure true the publisher keeps waiting."""

import time

from bridge_support import upstream_subscriber
from brokerlog import HOST
from paho_support import Paho

WINDOW = 20  # the publisher's QoS 1 messages in flight (paho's max_inflight_messages)


def bridge_conf(proxy, topic, extra):
    """A listener and one bridge `up` (persistent local session) through proxy."""
    return ("listener {port} %s\nallow_anonymous true\n%sconnection up\naddress %s:%d\n"
            "keepalive_interval 30\nrestart_timeout 1 2\ntopic %s\n"
            % (HOST, extra, HOST, proxy.port, topic))


def edge(broker_factory, upstreams, proxies, topic, extra, refused):
    """This broker bridging topic ("X/# out 1") to a mosquitto through a proxy, refused or
    passing; (broker, subscriber on the upstream to X/#, proxy), the bridge up or refused."""
    up = upstreams()
    usub = upstream_subscriber(up, topic.split()[0], 1)
    proxy = proxies(up.port)
    if refused:
        proxy.refuse()
    b = broker_factory(bridge_conf(proxy, topic, extra))
    assert b.wait_for_log("Bridge up: cannot connect" if refused else "Bridge up connected")
    return b, usub, proxy


def publish_all(b, topic, n):
    """A QoS 1 publisher to broker b that sends n messages ("0", "1", ...) without waiting
    for their PUBACKs (paho keeps WINDOW in flight): (client, paho's MessageInfo of each)."""
    pub = Paho(HOST, b.port)
    return pub, [pub.c.publish(topic, b"%d" % i, 1) for i in range(n)]


def acked(infos):
    """How many of the messages have had their PUBACK."""
    return sum(1 for i in infos if i.is_published())


def all_arrive(b, usub, pub, infos):
    """Every message of publish_all reaches the upstream subscriber once, in order, each
    acknowledged, none dropped; then both clients close."""
    n = len(infos)
    got = usub.got(n=n, timeout=60)
    assert [p for _, p in got] == [b"%d" % i for i in range(n)]
    assert acked(infos) == n
    assert "dropped" not in b.log(), b.log()
    pub.close()
    usub.close()


def test_a_qos1_publisher_outrunning_a_stalled_uplink_is_held_and_nothing_is_dropped(
        broker_factory, upstreams, proxies):
    b, usub, proxy = edge(broker_factory, upstreams, proxies, "f/# out 1",
                          "max_queued_messages 100\n", False)
    proxy.set_mode("stall")  # the uplink takes nothing: no PUBACK comes back
    n = 2000
    pub, infos = publish_all(b, "f/m", n)
    time.sleep(3)  # under slow_subscriber_timeout (10 s): the publisher waits
    held = acked(infos)
    # acknowledged is what the bridge keeps: its window upstream (256 on CPython:
    # core/bridge/link.py), its queue (100) and at most the publisher's window read before
    # the hold
    assert 256 + 100 <= held <= 256 + 100 + WINDOW, held
    time.sleep(1)
    assert acked(infos) == held  # no more while the uplink stalls
    proxy.set_mode("pass")
    all_arrive(b, usub, pub, infos)


def test_with_back_pressure_an_uplink_down_past_slow_subscriber_timeout_holds_publishers(
        broker_factory, upstreams, proxies):
    b, usub, proxy = edge(broker_factory, upstreams, proxies, "g/# out 1", "back_pressure true\n"
                          "slow_subscriber_timeout 1\nmax_queued_messages 50\n", True)
    n = 500
    pub, infos = publish_all(b, "g/m", n)
    time.sleep(3)  # three times slow_subscriber_timeout: still held, nothing dropped
    held = acked(infos)
    assert 50 <= held <= 50 + WINDOW, held  # the queue, and what was read before the hold
    proxy.refuse(False)
    all_arrive(b, usub, pub, infos)


def test_drop_policy_an_uplink_down_past_slow_subscriber_timeout_drops_at_the_queue_limit(
        broker_factory, upstreams, proxies):
    b, usub, proxy = edge(broker_factory, upstreams, proxies, "h/# out 1",
                          "slow_subscriber_timeout 1\nmax_queued_messages 20\n", True)
    n = 300
    pub, infos = publish_all(b, "h/m", n)
    assert b.wait_for_log("Bridge session local.")
    assert "took no message for 1 s: messages over its queue limit are dropped until its " \
        "uplink connects again." in b.log()
    deadline = time.monotonic() + 10
    while acked(infos) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert acked(infos) == n  # the rest acknowledged and dropped, as mosquitto's bridges
    assert b.log().count("Outgoing messages are being dropped for client local.") == 1
    proxy.refuse(False)
    nums = [int(p) for _, p in usub.got(timeout=15, gap=1.0)]
    # the queue and what was read while the publisher was held, the first ones, in order
    assert nums == list(range(len(nums))) and 20 <= len(nums) <= 20 + WINDOW, nums
    pub.close()
    usub.close()
