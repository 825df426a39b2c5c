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


def test_MQTT_3_3_4_5_a_shared_groups_messages_restored_carry_only_the_identifier_of_the_member_they_go_to():
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


def test_MQTT_3_3_4_5_a_shared_members_queued_message_resumes_with_its_own_identifier_after_a_restart():
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
