"""mount_point (mosquitto.conf listener option): clients of a mounted listener live under
its prefix, publish and subscribe there and see topics without it."""

from core import auth
from core.acl import parse_acl
from harness import Harness
import mqttc

PREFIX = "site1/"


def _setup(**settings):
    """A harness with the default listener and a second one mounted at PREFIX."""
    h = Harness(**settings)
    return h, h.mounted_listener(PREFIX)


def _seen(c):
    return [(p.topic, p.payload, p.qos) for p in c.publishes()]


def test_connection_of_mounted_listener_knows_its_prefix_and_others_have_none():
    h, ml = _setup()
    assert h.connected("m", listener=ml).conn.mount == PREFIX
    assert h.connected("m", listener=ml).conn.mlen == len(PREFIX)
    plain = h.connected("u").conn
    assert plain.mount is None and plain.mlen == 0
    assert "mount" not in plain.__dict__  # the class default: nothing stored per connection


def test_publish_from_mounted_client_reaches_unmounted_subscriber_under_prefix():
    h, ml = _setup()
    s = h.subscriber("s", "#", 2)
    p = h.connected("p", listener=ml)
    p.publish("a/b", b"q0")
    p.publish("a/b", b"q1", qos=1, pid=1)
    p.publish("a/b", b"q2", qos=2, pid=2)
    got = s.publishes()
    assert [(x.topic, x.payload, x.qos) for x in got] == [
        (b"site1/a/b", b"q0", 0), (b"site1/a/b", b"q1", 1), (b"site1/a/b", b"q2", 2)]


def test_mounted_publish_does_not_reach_the_unprefixed_topic():
    h, ml = _setup()
    plain = h.subscriber("s", "a/b", 0)
    p = h.connected("p", listener=ml)
    p.publish("a/b", b"x")
    assert plain.publishes() == []


def test_unmounted_publish_under_prefix_reaches_mounted_subscriber_with_short_topic_qos0_1_2():
    for q in (0, 1, 2):
        h, ml = _setup()
        s = h.subscriber("s", "a/#", q, listener=ml)
        p = h.connected("p")
        p.publish("site1/a/b", b"m", qos=q, pid=7 if q else None)
        got = s.publishes()
        assert [(x.topic, x.payload, x.qos, x.dup, x.retain) for x in got] == \
            [(b"a/b", b"m", q, 0, 0)], (q, got)
        s.ack(got[0])
        sess = h.broker.sessions["s"]
        assert sess.inflight == {} and sess.flags == {}  # acknowledged in full


def test_qos0_fast_path_sends_each_mount_its_own_short_topic():
    # one received PUBLISH, four subscribers: full topic, two mounts, and one outside
    h = Harness()
    m1 = h.mounted_listener("site1/", 1884)
    m2 = h.mounted_listener("site1/a/", 1885)
    m3 = h.mounted_listener("site2/", 1886)
    plain = h.subscriber("plain", "site1/#", 0)
    s1 = h.subscriber("s1", "a/#", 0, listener=m1)
    s1b = h.subscriber("s1b", "#", 0, listener=m1)
    s2 = h.subscriber("s2", "#", 0, listener=m2)
    s3 = h.subscriber("s3", "#", 0, listener=m3)
    h.connected("p").publish("site1/a/b", b"x")
    assert _seen(plain) == [(b"site1/a/b", b"x", 0)]
    assert _seen(s1) == [(b"a/b", b"x", 0)]
    assert _seen(s1b) == [(b"a/b", b"x", 0)]
    assert _seen(s2) == [(b"b", b"x", 0)]
    assert _seen(s3) == []


def test_mounted_client_hash_matches_only_topics_under_its_prefix():
    for q in (0, 1):
        h, ml = _setup()
        s = h.subscriber("s", "#", q, listener=ml)
        p = h.connected("p")
        for t in ("other/x", "site1x", "site1", "site1/", "site2/in", "site1/in"):
            p.publish(t, t.encode(), qos=q, pid=1 if q else None)
        # "site1" and "site1/" match "site1/#" but have nothing left after the prefix
        assert [(x.topic, x.payload) for x in s.publishes()] == [(b"in", b"site1/in")], q
        assert h.broker.sessions["s"].subs == {"site1/#": q}


def test_mounted_dollar_sys_filter_becomes_prefixed_and_gets_nothing():
    h, ml = _setup()
    h.advance(1000)  # the first $SYS values
    plain = h.connected("u")
    assert plain.subscribe([("$SYS/#", 0)]) == [0]
    assert [p for p in plain.extra if p.type == mqttc.PUBLISH]  # the $SYS tree exists
    m = h.connected("m", listener=ml)
    assert m.subscribe([("$SYS/#", 0)]) == [0]
    assert m.extra == [] and m.packets() == []
    assert "site1/$SYS/#" in h.broker.sessions["m"].subs
    h.advance(11000)  # the next interval's changed values
    assert plain.publishes() and m.publishes() == []


def test_mounted_client_may_not_publish_to_dollar_topics():
    h, ml = _setup()
    s = h.subscriber("s", "#", 0)
    m = h.connected("m", listener=ml)
    mark = h.mark()
    m.publish("$SYS/x", b"no", qos=1, pid=3)  # acknowledged, dropped
    assert s.publishes() == []
    assert any("clients may not publish to $ topics" in x for x in h.logs_since(mark))


def test_retained_message_is_stored_under_full_topic_and_sent_to_mounted_with_short_topic():
    h, ml = _setup()
    h.connected("p").publish("site1/r/plain", b"one", qos=1, retain=True, pid=1)
    h.connected("pm", listener=ml).publish("r/mounted", b"two", qos=1, retain=True, pid=1)
    assert sorted(h.broker.retained.msgs) == ["site1/r/mounted", "site1/r/plain"]
    m = h.connected("m", listener=ml)
    assert m.subscribe([("r/#", 1)]) == [1]
    got = [(x.topic, x.payload, x.qos, x.retain) for x in m.extra + m.publishes()]
    assert sorted(got) == [(b"r/mounted", b"two", 1, 1), (b"r/plain", b"one", 1, 1)]
    u = h.connected("u")
    assert u.subscribe([("site1/r/mounted", 0)]) == [0]
    got = [(x.topic, x.payload, x.retain) for x in u.extra + u.publishes()]
    assert got == [(b"site1/r/mounted", b"two", 1)]


def test_will_of_mounted_client_is_published_under_prefix():
    h, ml = _setup()
    plain = h.subscriber("s", "site1/w/#", 1)
    mounted = h.subscriber("sm", "w/#", 1, listener=ml)
    outside = h.subscriber("o", "w/#", 1)
    c = h.client(ml)
    assert c.connect("wc", will=("w/t", b"gone", 1, True)).rc == 0
    c.drop()
    assert _seen(plain) == [(b"site1/w/t", b"gone", 1)]
    assert _seen(mounted) == [(b"w/t", b"gone", 1)]
    assert _seen(outside) == []
    assert "site1/w/t" in h.broker.retained.msgs


def test_unsubscribe_of_mounted_client_takes_the_short_filter():
    h, ml = _setup()
    s = h.subscriber("s", "a/#", 0, listener=ml)
    assert h.broker.subs.count == 1
    s.send(mqttc.unsubscribe(5, ["a/#"]))
    ack = s.only(mqttc.UNSUBACK)
    assert ack.pid == 5
    assert h.broker.subs.count == 0 and h.broker.sessions["s"].subs == {}
    h.connected("p").publish("site1/a/x", b"m")
    assert s.publishes() == []


def test_persistent_mounted_session_resends_unacknowledged_with_short_topic_and_dup():
    h, ml = _setup()
    s = h.subscriber("s", "a/#", 2, clean=False, listener=ml)
    p = h.connected("p")
    p.publish("site1/a/one", b"1", qos=1, pid=1)
    p.publish("site1/a/two", b"2", qos=2, pid=2)
    first = s.publishes()
    assert [(x.topic, x.qos, x.dup) for x in first] == [(b"a/one", 1, 0), (b"a/two", 2, 0)]
    s.drop()  # no PUBACK / PUBREC: both stay in flight
    p.publish("site1/a/three", b"3", qos=1, pid=3)  # queued while offline
    c = h.client(ml)
    ack = c.connect("s", clean=False)
    assert ack.rc == 0 and ack.session_present == 1
    got = [x for x in c.after_connack + c.packets() if x.type == mqttc.PUBLISH]
    assert [(x.topic, x.payload, x.qos, x.dup) for x in got] == [
        (b"a/one", b"1", 1, 1), (b"a/two", b"2", 2, 1), (b"a/three", b"3", 1, 0)]
    assert [x.pid for x in got[:2]] == [x.pid for x in first]


def test_session_resumed_on_mounted_listener_gets_nothing_from_outside_its_prefix():
    # subscribed on the unmounted listener, then back through the mounted one
    h, ml = _setup()
    s = h.subscriber("s", "#", 1, clean=False)
    p = h.connected("p")
    p.publish("out/x", b"sent", qos=1, pid=1)
    assert len(s.publishes()) == 1  # not acknowledged
    s.drop()
    p.publish("out/y", b"queued", qos=1, pid=2)
    c = h.client(ml)
    assert c.connect("s", clean=False).session_present == 1
    assert [x for x in c.after_connack + c.packets() if x.type == mqttc.PUBLISH] == []
    sess = h.broker.sessions["s"]
    assert sess.inflight == {} and sess.queue == []
    p.publish("site1/in", b"ok", qos=1, pid=3)
    p.publish("plain", b"no")
    assert [(x.topic, x.payload) for x in c.publishes()] == [(b"in", b"ok")]


def test_hash_after_mount_point_without_slash_is_refused_and_other_filters_prefixed():
    h = Harness()
    ml = h.mounted_listener("dev")
    m = h.connected("m", listener=ml)
    assert m.subscribe([("#", 0), ("a/#", 1)]) == [0x80, 1]
    assert h.broker.sessions["m"].subs == {"deva/#": 1}
    assert not m.closing
    h.connected("p").publish("deva/x", b"y")
    assert _seen(m) == [(b"a/x", b"y", 0)]


def test_topic_limits_apply_to_the_full_topic():
    h = Harness(max_topic_length=10)
    ml = h.mounted_listener(PREFIX)
    ok = h.connected("ok", listener=ml)
    ok.publish("abcd", b"x")  # 6 + 4 bytes: at the limit
    assert not ok.closing
    bad = h.connected("bad", listener=ml)
    bad.send(mqttc.publish("abcde", b"x"))  # 6 + 5 bytes: over it
    assert bad.closing


def test_acl_checks_the_prefixed_topic_and_filter():
    h, ml = _setup()
    auth.install(h.broker, None, parse_acl("topic readwrite site1/a/#\n"))
    m = h.connected("m", listener=ml)
    assert m.subscribe([("a/#", 0), ("b/#", 0)]) == [0, 0x80]
    w = h.connected("w", listener=ml)
    w.publish("a/x", b"allowed")
    w.publish("b/x", b"denied")
    assert _seen(m) == [(b"a/x", b"allowed", 0)]
