"""The engine reports its persistent state to broker.store: a broker restarted on the
same files has the same sessions, subscriptions, queues, in-flight messages, QoS 2 ids and
retained messages, and a resumed client gets what it was owed."""

import os

import mqttc
from mqttc import props
from harness import Harness
from persist_support import NAME, Wall, attach, describe, remove, scratch


def _restart(d, wall, **settings):
    """A new broker loading folder d: (harness, store)."""
    h = Harness(**settings)
    return h, attach(h, d, wall)


def test_state_survives_a_restart_and_the_resumed_subscriber_gets_what_it_was_owed():
    d = scratch()
    try:
        h = Harness()
        st = attach(h, d, Wall(1000))
        sub = h.connected("sub", clean=False)
        assert sub.subscribe([("a/#", 1), ("b/#", 2)]) == [1, 2]
        pub = h.connected("pub", clean=False)
        pub.publish("a/1", b"m1", qos=1, pid=1)
        pub.publish("b/1", b"m2", qos=2, pid=2)
        got = sub.publishes()
        assert [(p.topic, p.qos) for p in got] == [(b"a/1", 1), (b"b/1", 2)]
        sub.send(mqttc.pubrec(got[1].pid))  # b/1 now waits for PUBCOMP; a/1 for PUBACK
        assert sub.only(mqttc.PUBREL).pid == got[1].pid
        sub.drop()
        pub.publish("a/2", b"m3", qos=1, pid=3)
        pub.publish("a/3", b"m4", qos=1, pid=4, retain=True)
        pub.send(mqttc.publish("b/9", b"q2", 2, False, False, 9))  # kept until its PUBREL,
        assert pub.only(mqttc.PUBREC).pid == 9  # which comes only after the restart
        clean = h.connected("clean")
        clean.subscribe([("a/#", 1)])
        clean.disconnect()
        st.commit()
        before = describe(h.broker)
        assert [s[0] for s in before[1]] == ["pub", "sub"]

        h2, st2 = _restart(d, Wall(1100))
        assert describe(h2.broker) == before
        sub2 = h2.connected("sub", clean=False)
        pkts = sub2.after_connack + sub2.packets()
        kinds = [(p.type, getattr(p, "topic", None), p.pid, getattr(p, "dup", None))
                 for p in pkts]
        assert kinds[0] == (mqttc.PUBLISH, b"a/1", got[0].pid, True), kinds  # MQTT-4.4.0-1
        assert kinds[1][:3] == (mqttc.PUBREL, None, got[1].pid), kinds
        assert [(k[1], k[3]) for k in kinds[2:]] == [(b"a/2", False), (b"a/3", False)], kinds
        pub2 = h2.connected("pub", clean=False)
        pub2.send(mqttc.publish("b/9", b"q2", 2, False, True, 9))  # resent: kept once
        assert pub2.only(mqttc.PUBREC).pid == 9
        assert sub2.publishes() == []
        pub2.send(mqttc.pubrel(9))  # the message kept across the restart is delivered now
        assert pub2.only(mqttc.PUBCOMP).pid == 9
        assert [(x.topic, x.payload, x.qos) for x in sub2.publishes()] == [(b"b/9", b"q2", 2)]
        late = h2.connected("late")
        late.subscribe([("a/#", 0)])
        assert [(p.topic, p.payload) for p in late.extra] == [(b"a/3", b"m4")]  # retained
    finally:
        remove(d)


def test_acknowledgements_wait_for_the_commit_that_makes_their_records_durable():
    d = scratch()
    try:
        h = Harness()
        st = attach(h, d, Wall(1000), hold=True)
        sub = h.connected("sub", clean=False)
        sub.subscribe([("t", 1)])
        st.commit()  # the SUBSCRIBE's records; nothing held
        sub.drop()
        pub = h.connected("pub")
        pub.send(mqttc.publish("t", b"x", 1, False, False, 5))
        pub.send(mqttc.publish("nobody", b"y", 1, False, False, 6))  # after a held one: waits
        assert pub.packets() == []
        size = os.stat(d + "/" + NAME + ".journal")[6]
        st.commit()
        assert os.stat(d + "/" + NAME + ".journal")[6] > size
        assert [(p.type, p.pid) for p in pub.packets()] == [(mqttc.PUBACK, 5), (mqttc.PUBACK, 6)]
        pub.send(mqttc.publish("nobody", b"z", 1, False, False, 7))  # no record: at once
        assert [(p.type, p.pid) for p in pub.packets()] == [(mqttc.PUBACK, 7)]
    finally:
        remove(d)


def test_session_expiry_counts_the_time_the_broker_was_down():
    d = scratch()
    try:
        h = Harness(persistent_client_expiration=3600)
        st = attach(h, d, Wall(1000))
        for cid in ("old", "young"):
            h.connected(cid, clean=False).subscribe([("t", 1)])
        olds = [c for c in h.broker.conns if c.client_id == "old"]
        h.broker.closed(olds[0])
        st.wall.t = 4000
        youngs = [c for c in h.broker.conns if c.client_id == "young"]
        h.broker.closed(youngs[0])
        st.commit()
        h2, st2 = _restart(d, Wall(1000 + 3601), persistent_client_expiration=3600)
        assert sorted(h2.broker.sessions) == ["old", "young"]
        h2.advance(1000)
        assert sorted(h2.broker.sessions) == ["young"]
        assert h2.broker.subs.count == 1
        h3, st3 = _restart(d, Wall(4000 + 3598), persistent_client_expiration=3600)
        h3.advance(1000)
        assert sorted(h3.broker.sessions) == ["young"]
    finally:
        remove(d)


def test_MQTT_3_1_2_23_a_session_a_v5_disconnect_ends_with_expiry_0_is_gone_after_a_restart():
    """A kept session whose DISCONNECT sets its Session Expiry Interval to 0 ends with the
    connection (section 3.14.2.2.2): its end is in the files, so a restart does not bring it
    back with its subscription (it did: the store ignored the session once it was clean)."""
    d = scratch()
    try:
        h = Harness()
        st = attach(h, d, Wall(1000))
        c = h.connected5("ends", clean=False, properties=props([(0x11, 100)]))
        c.subscribe5([("t", 1)])
        h.connected5("stays", clean=False, properties=props([(0x11, 100)]))
        h.broker.received(c.conn, mqttc.disconnect5(0, props([(0x11, 0)])))
        assert sorted(h.broker.sessions) == ["stays"]
        st.commit()
        h2, st2 = _restart(d, Wall(1010))
        assert sorted(h2.broker.sessions) == ["stays"]
        assert h2.broker.subs.count == 0
    finally:
        remove(d)


def test_a_v5_session_expiry_interval_counts_across_a_restart():
    d = scratch()
    try:
        h = Harness()
        st = attach(h, d, Wall(1000))
        expiry = props([(0x11, 100)])
        h.connected5("gone", clean=False, properties=expiry).subscribe5([("t", 1)])
        h.connected5("on", clean=False, properties=expiry)  # connected at the stop
        h.connected5("shortened", clean=False, properties=props([(0x11, 0xFFFFFFFF)]))
        h.connected5("unlimited", clean=False, properties=expiry)
        for c in list(h.broker.conns):  # a DISCONNECT changes the interval
            if c.client_id == "gone":
                h.broker.closed(c)
            elif c.client_id in ("shortened", "unlimited"):
                n = 0xFFFFFFFF if c.client_id == "unlimited" else 30
                h.broker.received(c, mqttc.disconnect5(0, props([(0x11, n)])))
        st.commit()
        want = {"gone": 100, "on": 100, "shortened": 30, "unlimited": None}
        # restarted 60 s later: the sessions live on with their intervals, counted from
        # when their connections ended (the newest time in the files for "on")
        h2, st2 = _restart(d, Wall(1060))
        assert dict((c, s.expiry) for c, s in h2.broker.sessions.items()) == want
        h2.advance(1000)
        assert sorted(h2.broker.sessions) == ["gone", "on", "unlimited"]
        st2.compact()
        # from the snapshot alone, 98 s after the first stop: "gone" and "on" end soon
        h3, st3 = _restart(d, Wall(1000 + 98))
        assert h3.broker.sessions["gone"].expiry == 100
        h3.advance(3000)
        assert sorted(h3.broker.sessions) == ["unlimited"]
        assert h3.broker.subs.count == 0
    finally:
        remove(d)


def test_compaction_keeps_the_journal_under_its_limit_and_loses_nothing():
    d = scratch()
    try:
        h = Harness()
        st = attach(h, d, Wall(1000), limit=4096)
        sub = h.connected("sub", clean=False)
        sub.subscribe([("t/#", 1)])
        pub = h.connected("pub")
        gens = set()
        for i in range(300):
            pub.publish("t/%d" % (i % 7), b"payload-%d" % i, qos=1, pid=1 + i % 100)
            for p in sub.publishes():
                if i % 50:
                    sub.send(mqttc.puback(p.pid))  # every 50th stays in flight
            st.commit()
            gens.add(st.gen)
            assert os.stat(d + "/" + NAME + ".journal")[6] <= 4096 + 200
        assert len(gens) >= 4  # compacted several times
        before = describe(h.broker)
        assert len(before[1][0][4]) == 6  # the in-flight ones
        h2, st2 = _restart(d, Wall(1001))
        assert describe(h2.broker) == before
    finally:
        remove(d)
