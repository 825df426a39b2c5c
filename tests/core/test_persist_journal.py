"""The persistence journal (core/persist): a journal cut at every byte or with any byte
flipped loads as a consistent prefix of its records, never raises, and is truncated."""

from core.persist import records as R
from core.persist.load import scan
from core.persist.store import PersistError
from core.session import Session
from persist_support import (BIG, NAME, Files, Wall, broker_with_store, describe, get_file,
                             put_file, remove, scratch, write_journal)

EXPECTED = [
    [("r/1", b"r/1", 1, b"one")],
    [("alpha", 0, "u1", [("a/#", 1)], [], [("a/2", b"a/2", b"p2"), 1], 2,
      [(4, True), (5, ("q/5", b"q/5", b"five", 1))]),
     ("beta", 0, None, [("a/x", 2)], [(7, 1 << 4 | 8 | 2, ("a/x", b"a/x", b"hi"))],
      [("a/x", b"a/x", BIG), 6], len(BIG), [])],
]


def _load(d, snap, jour, wall=2000):
    """Load snapshot and journal bytes into a fresh broker: (state, logs, store)."""
    put_file(d, NAME, snap)
    put_file(d, NAME + ".journal", jour)
    b, st, logs = broker_with_store(d, Wall(wall))
    st.load()
    st.close()
    return describe(b), logs, st


def _boundaries(jour):
    """Offsets where each record of the journal ends."""
    return [at for at, t, v in scan(jour, len(R.MAGIC))][1:] + [len(jour)]


def test_full_journal_restores_every_kind_of_change():
    d = scratch()
    try:
        snap, jour = write_journal(d)
        state, logs, st = _load(d, snap, jour)
        assert state == EXPECTED, state
        assert not [m for lv, m in logs if lv == "warning"], logs
        # an undamaged journal goes on after the load (no fresh snapshot: a restart takes
        # half the time), holding what the load added: the files give the same state
        state2, logs2, st2 = _load(d, get_file(d, NAME), get_file(d, NAME + ".journal"))
        assert state2 == EXPECTED and st2.gen == st.gen == 1
    finally:
        remove(d)


def _prefix_states(d, snap, jour):
    """State after the first k records, for each k (k = 0: the snapshot alone)."""
    ends = _boundaries(jour)
    return ends, [_load(d, snap, jour[:e])[0] for e in ends]


def _kept(ends, i):
    """How many records (after the header) lie wholly before offset i."""
    k = 0
    while k + 1 < len(ends) and ends[k + 1] <= i:
        k += 1
    return k


def test_journal_cut_at_every_byte_loads_the_records_before_the_cut_and_truncates():
    d = scratch()
    try:
        snap, jour = write_journal(d)
        ends, states = _prefix_states(d, snap, jour)
        assert states[-1] == EXPECTED and states[0] == [[], []]
        for cut in range(len(jour)):
            k = _kept(ends, cut)
            state, logs, st = _load(d, snap, jour[:cut])
            assert state == states[k], (cut, k)
            warn = [m for lv, m in logs if lv == "warning"]
            at = ends[k] if cut >= ends[0] else (0 if cut < len(R.MAGIC) else len(R.MAGIC))
            if cut not in ends and cut > at >= ends[0] and jour[at:cut].count(b"\0") == cut - at:
                # only zeros after the last record: the space a port reserves ahead of
                # its writes looks the same, and is the end of the journal, not damage
                assert not warn, (cut, warn)
            elif cut not in ends:
                assert len(warn) == 1 and "offset %d:" % at in warn[0] \
                    and "the %d bytes from there on are dropped" % (cut - at) in warn[0], \
                    (cut, warn)
            # truncated there: the next start finds a clean journal
            again, logs2, st2 = _load(d, get_file(d, NAME), get_file(d, NAME + ".journal"))
            assert again == state and not [m for lv, m in logs2 if lv == "warning"], cut
    finally:
        remove(d)


def test_journal_with_a_flipped_byte_keeps_the_records_before_it():
    d = scratch()
    try:
        snap, jour = write_journal(d)
        ends, states = _prefix_states(d, snap, jour)
        for i in range(len(jour)):
            k = _kept(ends, i)
            bad = bytearray(jour)
            bad[i] ^= 0x5A
            state, logs, st = _load(d, snap, bytes(bad))
            assert state == states[k], (i, k)
            assert len([m for lv, m in logs if lv == "warning"]) == 1, (i, logs)
    finally:
        remove(d)


def test_a_snapshot_that_is_not_a_persistence_file_stops_the_load_with_file_and_offset():
    d = scratch()
    try:
        try:
            _load(d, b"SQLite format 3\x00", None)
        except PersistError as e:
            assert str(e) == NAME.join(("", ": offset 0: not an mqtt-edge persistence file"))
        else:
            assert False, "no PersistError"
        try:
            _load(d, b"MQEP\x09", None)
        except PersistError as e:
            assert str(e) == NAME + ": offset 4: format 9, this broker reads format 1"
        else:
            assert False, "no PersistError"
    finally:
        remove(d)


class _Writes(Files):
    """The real files, and the size of each write (and whether it was a message's payload)
    and of each read."""

    def __init__(self, d, payloads):
        super().__init__(d)
        self.payloads = payloads
        self.sizes = []
        self.reads = []

    def write(self, h, data):
        self.sizes.append((len(data), any(data is p for p in self.payloads)))
        Files.write(self, h, data)

    def open_read(self, name):
        h = Files.open_read(self, name)
        return None if h is None else _Reads(h, self.reads)


class _Reads:
    """A file being read, and the size each read asks for."""

    def __init__(self, h, sizes):
        self.h = h
        self.sizes = sizes

    def read(self, n):
        self.sizes.append(n)
        return self.h.read(n)

    def close(self):
        self.h.close()


def test_a_snapshot_is_written_in_pieces_of_at_most_2_kb_besides_large_payloads():
    """A board cannot allocate a snapshot-sized block: a state of about 100 KB (a session
    with 1,500 queued messages, a retained message of 5 KB) goes to the file in writes of
    at most 2 KB each, except the large payload, which is written as the object it is (no
    copy), and the file loads back into the same state, read in pieces of 1 KB (the large
    record's in pieces up to its size)."""
    d = scratch()
    try:
        b, st, logs = broker_with_store(d, Wall(1000))
        big = bytes(range(256)) * 20
        b.retained.set(("r/big", b"r/big", big), 1)
        b.retained.set(("r/small", b"r/small", b"s"), 0)
        s = b.sessions["q"] = Session("q", 0)
        s.subs["q/#"] = 1
        b.subs.subscribe("q/#", s, 1)
        for i in range(1500):
            t = "q/%d" % (i % 10)
            m = (t, t.encode(), b"payload-%05d-" % i + b"x" * 40)
            s.queue.append(m)
            s.queue.append(1)
            s.queued_bytes += len(m[2])
        st.gone["q"] = 900
        before = describe(b)
        st.fs = _Writes(d, [big])
        st.compact()
        size = sum(n for n, _ in st.fs.sizes)
        assert size > 100000, size
        assert [n for n, p in st.fs.sizes if p] == [len(big)], st.fs.sizes
        assert max(n for n, p in st.fs.sizes if not p) <= 2048, st.fs.sizes
        b2, st2, logs2 = broker_with_store(d, Wall(1000))
        st2.fs = _Writes(d, [])
        st2.load()
        assert describe(b2) == before
        assert sum(st2.fs.reads) > 100000 and max(st2.fs.reads) <= len(big), st2.fs.reads
        assert sorted(st2.fs.reads)[-4] <= 1024, st2.fs.reads
        assert not [m for lv, m in logs2 if lv == "warning"], logs2
    finally:
        remove(d)
