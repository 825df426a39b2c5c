"""Each piece of an MQTT 5.0 session's state across a restart of the engine on the same
files (core/persist): kept as mosquitto keeps it in its persistence file, or, where
mosquitto does not keep it either, gone as README "Persistence" says."""

import mqttc
from mqttc import props
from harness import Harness
from persist_support import Wall, attach, remove, scratch

KEEP = props([(0x11, 3600)])  # a Session Expiry Interval that outlives the test
FWD = [(0x03, "text/plain"), (0x26, ("k", "v"))]  # properties a message is forwarded with


def _sid(n):
    return props([(0x0B, n)])


def _ids(p):
    return sorted(v for k, v in p.props if k == 0x0B)


def _restart(h, st, wall):
    """Commit h's store and start a new engine on its files at wall-clock wall: (h, store)."""
    st.commit()
    h2 = Harness()
    return h2, attach(h2, st.fs.dir, Wall(wall))


def _member(h, cid, sid, flt="$share/g/t"):
    """A persistent v5 session in flt (a shared filter) with identifier sid (0: none)."""
    c = h.connected5(cid, clean=False, properties=KEEP)
    assert c.subscribe5([(flt, 1)], properties=_sid(sid) if sid else b"\x00") == [1]
    return c


def test_MQTT_3_3_4_5_shared_messages_restored_carry_only_the_identifier_of_the_member_they_go_to():
    """The copies of a shared delivery, restored (one in flight, one queued), are copies of
    a message: handed to another member when their member's session ends, they carry that
    member's identifier alone, as without a restart (they kept the first member's: the file
    holds a copy's properties)."""
    for other in (2, 0):  # the other member with an identifier, and without one
        d = scratch()
        try:
            h = Harness()
            st = attach(h, d, Wall(1000))
            a = _member(h, "a", 1)
            _member(h, "b", other).drop()  # offline: it queues what the group gives it
            p = h.connected5("p")
            p.send(mqttc.publish5("t", b"0", qos=1, pid=1, properties=props(FWD)))  # a's
            assert [x.payload for x in a.publishes()] == [b"0"]  # in flight: not acknowledged
            a.drop()
            p.send(mqttc.publish5("t", b"1", qos=1, pid=2))  # b's
            p.send(mqttc.publish5("t", b"2", qos=1, pid=3, properties=props(FWD)))  # a's
            h2, st2 = _restart(h, st, 1100)
            b2 = h2.client()
            assert b2.connect5("b", clean=False, properties=KEEP).session_present == 1
            own = [(0x0B, other)] if other else []
            got = [(x.payload, x.props) for x in b2.after_connack]
            assert got == [(b"1", own)], got
            b2.ack(b2.after_connack[0])
            h2.client().connect5("a", clean=True)  # a's session ends: its messages go to b
            got = [(x.payload, x.props) for x in b2.publishes()]
            assert got == [(b"0", FWD + own), (b"2", FWD + own)], got
        finally:
            remove(d)


def test_MQTT_3_3_4_5_a_shared_members_queued_message_keeps_its_identifier_after_a_restart():
    d = scratch()
    try:
        h = Harness()
        st = attach(h, d, Wall(1000))
        a = _member(h, "a", 1)
        _member(h, "b", 2).drop()
        a.drop()
        h.connected5("p").send(mqttc.publish5("t", b"0", qos=1, pid=1, properties=props(FWD)))
        h2, st2 = _restart(h, st, 1100)
        a2 = h2.client()
        assert a2.connect5("a", clean=False, properties=KEEP).session_present == 1
        assert [(x.payload, x.props) for x in a2.after_connack] == [(b"0", FWD + [(0x0B, 1)])]
    finally:
        remove(d)


def _watch(h, cid, flt, keep=True):
    """A v5 subscriber to flt at qos 1 (a persistent session when keep)."""
    c = h.connected5(cid, clean=not keep, properties=KEEP if keep else b"\x00", keepalive=0)
    assert c.subscribe5([(flt, 1)]) == [1]
    return c


def _resume(h, cid, properties=KEEP):
    """cid connects again with Clean Start 0 and finds its session: (client, packets)."""
    c = h.client()
    assert c.connect5(cid, clean=False, properties=properties).session_present == 1
    return c, c.after_connack


def test_MQTT_3_3_1_10_retain_handling_1_after_a_restart_sees_the_restored_subscription():
    """Retain Handling is read at SUBSCRIBE only: what it needs is whether the subscription
    exists, and the restored one does (mosquitto keeps the options byte, to the same end)."""
    d = scratch()
    try:
        h = Harness()
        st = attach(h, d, Wall(1000))
        h.connected5("p").send(mqttc.publish5("r", b"kept", retain=True))
        c = h.connected5("c", clean=False, properties=KEEP)
        assert c.subscribe5([("r", 1 | 0x10)]) == [1]
        assert [x.payload for x in c.extra] == [b"kept"]  # a new subscription: sent
        c.drop()
        h2, st2 = _restart(h, st, 1100)
        c2, _ = _resume(h2, "c")
        assert c2.subscribe5([("r", 1 | 0x10)]) == [1] and c2.extra == []  # it exists
        assert c2.subscribe5([("r/#", 1 | 0x10)], pid=2) == [1]  # new: sent
        assert [x.payload for x in c2.extra] == [b"kept"]
        assert c2.subscribe5([("r", 1 | 0x20)], pid=3) == [1] and c2.extra == []  # never
    finally:
        remove(d)


def test_MQTT_3_3_4_9_receive_maximum_after_a_restart_is_the_new_connects_not_the_old_one():
    """The window toward a client is its connection's Receive Maximum (MQTT-3.3.4-9): not
    kept across a restart, set by the CONNECT that resumes the session."""
    d = scratch()
    try:
        h = Harness()
        st = attach(h, d, Wall(1000))
        c = h.connected5("c", clean=False, properties=props([(0x11, 3600), (0x21, 1)]))
        assert c.subscribe5([("t", 1)]) == [1]
        c.drop()
        p = h.connected5("p")
        for i in range(4):
            p.send(mqttc.publish5("t", b"%d" % i, qos=1, pid=i + 1))
        h2, st2 = _restart(h, st, 1100)
        c2, got = _resume(h2, "c", props([(0x11, 3600), (0x21, 3)]))
        assert [x.payload for x in got] == [b"0", b"1", b"2"]  # 3 unacknowledged, not 1
        c2.ack(got[0])
        assert [x.payload for x in c2.publishes()] == [b"3"]
    finally:
        remove(d)


def test_MQTT_3_3_2_10_topic_aliases_are_not_kept_across_a_restart():
    """A topic alias lives as long as its network connection (MQTT-3.3.2-10): after a
    restart the resumed session's PUBLISH by an alias set before it is a protocol error."""
    d = scratch()
    try:
        h = Harness()
        st = attach(h, d, Wall(1000))
        w = _watch(h, "w", "t")
        p = h.connected5("p", clean=False, properties=KEEP)
        p.send(mqttc.publish5("t", b"set", qos=1, pid=1, properties=props([(0x23, 1)])))
        p.send(mqttc.publish5("", b"by alias", qos=1, pid=2, properties=props([(0x23, 1)])))
        assert [x.payload for x in w.publishes()] == [b"set", b"by alias"]
        h2, st2 = _restart(h, st, 1100)
        p2, _ = _resume(h2, "p")
        p2.send(mqttc.publish5("", b"lost", qos=1, pid=3, properties=props([(0x23, 1)])))
        assert [(x.type, x.rc) for x in p2.packets()] == [(mqttc.DISCONNECT, 0x82)]
        assert p2.closing
    finally:
        remove(d)


def test_a_will_and_its_will_delay_are_not_kept_across_a_restart_as_mosquitto():
    """Wills are not in the files (as mosquitto): a delayed will pending at the stop, and
    the will of a client connected at the stop, never go out; their sessions are kept."""
    d = scratch()
    try:
        h = Harness()
        st = attach(h, d, Wall(1000))
        _watch(h, "w", "will/#").drop()
        delayed = h.connected5("delayed", clean=False, properties=props([(0x11, 20)]),
                               will=("will/d", "d", 1, 0), will_properties=props([(0x18, 10)]))
        assert delayed.subscribe5([("x", 1)]) == [1]
        delayed.drop()  # its will is due in 10 s
        h.connected5("on", clean=False, properties=KEEP, will=("will/o", "o", 1, 0))
        h2, st2 = _restart(h, st, 1002)
        assert sorted(h2.broker.sessions) == ["delayed", "on", "w"]
        assert list(h2.broker.sessions["delayed"].subs) == ["x"]
        w2, got = _resume(h2, "w")
        assert got == []
        h2.advance(30000)  # past the delay, and past the end of "delayed"'s session
        assert w2.publishes() == []
        assert sorted(h2.broker.sessions) == ["on", "w"]
    finally:
        remove(d)


def test_MQTT_3_3_2_5_a_retained_message_whose_expiry_passed_while_down_is_gone_after_a_restart():
    d = scratch()
    try:
        h = Harness()
        st = attach(h, d, Wall(1000))
        p = h.connected5("p")
        for t, n in (("r/short", 5), ("r/long", 100)):
            p.send(mqttc.publish5(t, t.encode(), retain=True, properties=props([(0x02, n)])))
        h2, st2 = _restart(h, st, 1010)
        assert sorted(h2.broker.retained.msgs) == ["r/long"]
        c = h2.connected5("c")
        assert c.subscribe5([("r/#", 1)]) == [1]
        assert [(x.payload, x.props) for x in c.extra] == [(b"r/long", [(0x02, 90)])]
        st2.compact()
        h3, st3 = _restart(h2, st2, 1020)  # from the snapshot alone
        assert sorted(h3.broker.retained.msgs) == ["r/long"]
    finally:
        remove(d)


def test_MQTT_4_3_3_and_3_3_2_5_qos2_ids_with_properties_awaiting_pubrel_survive_a_restart():
    """A v5 QoS 2 PUBLISH with properties, PUBREC sent, is delivered once at its PUBREL
    after the restart, with its properties and the expiry left; one whose expiry passed
    while the broker was down completes its flow and is not delivered (MQTT-4.3.3-13)."""
    d = scratch()
    try:
        h = Harness()
        st = attach(h, d, Wall(1000))
        _watch(h, "w", "q/#").drop()
        p = h.connected5("p", clean=False, properties=KEEP)
        for pid, n in ((7, 100), (8, 5)):
            p.send(mqttc.publish5("q/%d" % pid, b"x", qos=2, pid=pid,
                                  properties=props(FWD + [(0x02, n)])))
            assert p.only(mqttc.PUBREC).pid == pid
        h2, st2 = _restart(h, st, 1010)
        w2, got = _resume(h2, "w")
        assert got == []
        p2, _ = _resume(h2, "p")
        p2.send(mqttc.publish5("q/7", b"x", qos=2, dup=True, pid=7,
                               properties=props(FWD + [(0x02, 90)])))  # resent: kept once
        assert p2.only(mqttc.PUBREC).pid == 7
        for pid in (7, 8):
            p2.send(mqttc.ack5(0x62, pid))
            assert p2.only(mqttc.PUBCOMP).pid == pid
        assert [(x.topic, x.props) for x in w2.publishes()] == [(b"q/7", FWD + [(0x02, 90)])]
    finally:
        remove(d)


def _everything(b):
    """Broker b's whole restorable state, comparable: per session its flags, expiry,
    subscriptions with their options words, queue and in-flight messages as whole tuples
    (a copy's message it was made from too), kept QoS 2 ones; the retained messages; the
    members of each shared group."""
    sess = []
    for cid in sorted(b.sessions):
        s = b.sessions[cid]
        sess.append((cid, s.clean, s.username, s.expiry, sorted(s.subs.items()),
                     sorted((s.props or {}).items()), s.queue, s.queued_bytes,
                     sorted((p, s.flags[p], s.inflight[p]) for p in s.inflight),
                     sorted((s.qos2_in or {}).items())))
    inner = b.subs.root[1]
    groups = sorted((f, sorted(x.client_id for x in g.subs))
                    for f, g in (inner.groups.items() if inner is not None else ()))
    return [sess, sorted(b.retained.msgs.items()), groups]


def test_a_snapshot_restores_every_piece_of_v5_session_state_as_the_journal_does():
    """The same state from the journal and from the snapshot written of it (a compaction,
    core/persist/state.py): options words, identifiers, shared groups, expiry, properties,
    the copies made for one subscriber, QoS 2 ids; then a third start from that snapshot."""
    d = scratch()
    try:
        h = Harness()
        st = attach(h, d, Wall(1000))
        a = _member(h, "a", 1)
        assert a.subscribe5([("t/#", 1 | 0x04 | 0x08)], pid=2, properties=_sid(7)) == [1]
        assert a.subscribe5([("u", 2)], pid=3) == [2]
        _member(h, "b", 0).drop()
        c = h.connected5("c", clean=False, properties=props([(0x11, 0xFFFFFFFF)]))
        assert c.subscribe5([("$share/g/t", 2)], properties=_sid(3)) == [2]
        p = h.connected5("p", clean=False, properties=props([(0x11, 50)]))
        for i in range(4):
            p.send(mqttc.publish5("t", b"%d" % i, qos=1, pid=i + 1,
                                  properties=props(FWD + [(0x02, 60)] if i % 2 else FWD)))
        p.send(mqttc.publish5("r", b"kept", qos=1, pid=9, retain=True, properties=props(FWD)))
        p.send(mqttc.publish5("u", b"q2", qos=2, pid=10, properties=props(FWD)))
        a.drop()
        c.disconnect5(0, props([(0x11, 40)]))
        st.commit()
        h2, st2 = _restart(h, st, 1010)
        journal = _everything(h2.broker)
        assert [x[0] for x in journal[0]] == ["a", "b", "c", "p"]
        assert journal[0][2][3] == 40 and journal[2] == [("$share/g/t", ["a", "b", "c"])]
        st2.compact()
        h3, st3 = _restart(h2, st2, 1010)
        assert _everything(h3.broker) == journal
        st3.compact()
        h4, st4 = _restart(h3, st3, 1010)
        assert _everything(h4.broker) == journal
    finally:
        remove(d)


def test_queued_messages_of_several_publishers_come_in_their_order_after_a_restart():
    """Per publisher, and across them, the order they were published in: in flight first
    (resent), then the queue, restored from the journal and from a snapshot (QoS 1 and 2,
    3.1.1 and 5.0 publishers, a window of 2)."""
    d = scratch()
    try:
        h = Harness(max_inflight_messages=2)
        st = attach(h, d, Wall(1000))
        sub = h.connected("sub", clean=False)
        assert sub.subscribe([("o/#", 2)]) == [2]
        pubs = [h.connected("p0"), h.connected5("p1"), h.connected("p2", clean=False)]
        sent = []
        for i in range(12):
            k = i % 3
            qos = 1 + (i // 3) % 2
            pubs[k].publish("o/%d" % k, b"%d-%d" % (k, i), qos=qos, pid=i + 1)
            sent.append(b"%d-%d" % (k, i))
            if i == 1:
                assert [x.payload for x in sub.publishes()] == sent  # in flight, unacked
                sub.drop()
        h2, st2 = _restart(h, st, 1100)  # from the journal
        st2.compact()
        h3 = _restart(h2, st2, 1200)[0]  # from the snapshot
        for h3 in (h2, h3):
            c = h3.client()
            assert c.connect("sub", clean=False).session_present == 1
            got = []
            pkts = c.after_connack
            while pkts:
                for x in pkts:
                    got.append(x.payload)
                    c.ack(x)
                pkts = c.publishes()
            assert got == sent, got
    finally:
        remove(d)
