"""Messages with MQTT 5.0 properties in the persistence files (core/persist, PROPS record):
queued, in flight, retained and kept QoS 2 ones load back with the same properties and
with their Message Expiry Interval counting the time the broker was down; a journal cut or
damaged inside such a record loads as a prefix, as any other."""

from core.names import REC_PROPS, REC_SUB, REC_QUEUE
from core.persist import records as R
from core.persist.load import scan
from persist_support import (NAME, PROPS, Wall, broker_with_store, get_file, put_file,
                             remove, scratch, write_props_journal)

WALL = 1000  # as write_props_journal

def _load(d, snap, jour, wall):
    """Load the files into a fresh broker at wall-clock wall: (broker, logs)."""
    put_file(d, NAME, snap)
    put_file(d, NAME + ".journal", jour)
    b, st, logs = broker_with_store(d, Wall(wall))
    st.load()
    st.close()
    return b, logs


def _state(b):
    """The messages of the state (queue, in flight, retained, kept QoS 2), as loaded."""
    s = b.sessions.get("sub5")
    if s is None:
        return None
    q = [s.queue[i] for i in range(0, len(s.queue), 2)]
    return (q, sorted(s.inflight.items()), sorted(b.retained.msgs.items()),
            sorted((s.qos2_in or {}).items()))


def test_messages_with_properties_load_with_them_and_their_expiry_counts_the_downtime():
    d = scratch()
    try:
        snap, jour = write_props_journal(d)
        assert jour.count(bytes((REC_PROPS,))) >= 5
        # 10 s later (broker second 0 at the load): 20, 50 and 3590 s left; "m/c" expired
        b, logs = _load(d, snap, jour, WALL + 10)
        q, infl, ret, q2 = _state(b)
        assert q == [("m/a", b"m/a", b"a", 0, PROPS, 20), ("m/b", b"m/b", b"b", 0, PROPS, 0),
                     ("m/c", b"m/c", b"c", 0, b"", -1), ("m/e", b"m/e", b"e")], q
        assert infl == [(9, ("m/d", b"m/d", b"d", 0, PROPS, 50))], infl
        assert ret == [("r/1", ("r/1", b"r/1", b"kept", 1, PROPS, 3590))], ret
        assert q2 == [(4, ("q/4", b"q/4", b"four", 1, PROPS, 0))], q2
        assert not [m for lv, m in logs if lv == "warning"], logs
        # the load's snapshot writes them again: a second restart 20 s on counts on
        b2, logs2 = _load(d, get_file(d, NAME), get_file(d, NAME + ".journal"), WALL + 30)
        q, infl, ret, q2 = _state(b2)
        assert [m[5] if len(m) > 3 else None for m in q] == [-1, 0, -1, None], q
        assert infl[0][1][5] == 30 and ret[0][1][5] == 3570 and q2[0][1][4] == PROPS
    finally:
        remove(d)


def test_a_snapshot_keeps_messages_with_properties():
    d = scratch()
    try:
        snap, jour = write_props_journal(d)
        b, logs = _load(d, snap, jour, WALL)
        before = _state(b)
        b.secs = 7
        st = broker_with_store(d, Wall(WALL))[1]
        st.b = b
        st.compact()  # whole state to a snapshot, at broker second 7: the same wall times
        b2, logs2 = _load(d, get_file(d, NAME), get_file(d, NAME + ".journal"), WALL)
        after = _state(b2)
        # expiry seconds are relative to each broker's start: compare them as wall times
        assert after[0][0][5] == before[0][0][5] - 7 and after[1][0][1][5] == before[1][0][1][5] - 7
        assert [m[:5] for m in after[0]] == [m[:5] for m in before[0]]
        assert after[3] == before[3]
    finally:
        remove(d)


def _ends(jour):
    return [at for at, t, v in scan(jour, len(R.MAGIC))][1:] + [len(jour)]


def test_a_journal_cut_or_damaged_inside_a_props_record_loads_the_records_before_it():
    d = scratch()
    try:
        snap, jour = write_props_journal(d)
        ends = _ends(jour)
        states = [_state(_load(d, snap, jour[:e], WALL)[0]) for e in ends]
        assert states[-1][2] and len(states[-1][0]) == 4
        for cut in range(ends[0], len(jour)):
            k = 0
            while k + 1 < len(ends) and ends[k + 1] <= cut:
                k += 1
            b, logs = _load(d, snap, jour[:cut], WALL)
            assert _state(b) == states[k], cut
            bad = bytearray(jour)
            bad[cut] ^= 0x5A
            b, logs = _load(d, snap, bytes(bad), WALL)
            assert _state(b) == states[k], ("flip", cut)
            assert len([m for lv, m in logs if lv == "warning"]) == 1, (cut, logs)
    finally:
        remove(d)


def test_a_props_record_around_a_record_that_is_no_message_is_damage():
    d = scratch()
    try:
        snap, jour = write_props_journal(d)
        good = bytearray()
        R.put(good, REC_QUEUE, "sub5", 1, "m/z", b"z")
        bad = bytearray()  # a CRC-valid PROPS record around a SUB record
        R.head(bad, REC_SUB, ("sub5", "x/#", 1), (PROPS, 0))
        b, logs = _load(d, snap, jour + bytes(good) + bytes(bad), WALL)
        warn = [m for lv, m in logs if lv == "warning"]
        assert len(warn) == 1 and "props record without a message's record" in warn[0], warn
        assert _state(b)[0][-1] == ("m/z", b"m/z", b"z")  # the record before it is kept
    finally:
        remove(d)
