"""The CPython port's per-message record encoders (ports/cpython/persist_records.py) write
the same bytes as the portable ones (core/persist/records.py), which the loader and the
boards read."""

from hypothesis import given, settings, strategies as st

from core.names import REC_PROPS, REC_Q2IN
from core.persist.store import Store as Portable
from core.session import Session
from ports.cpython.persist_records import Store as Fast

CIDS = st.text(min_size=0, max_size=40)
TOPICS = st.binary(min_size=1, max_size=300)
PAYLOADS = st.binary(max_size=2000)
PIDS = st.integers(1, 0xFFFF)
# no deadline: on a machine loaded by other work one example took 887 ms (a first call)
SETTINGS = settings(deadline=None)


def _both(call):
    """The records call(store) puts, with the portable and with the CPython Store."""
    out = []
    for cls in (Portable, Fast):
        s = cls(None, None, "t.db", lambda: 0, None, 1 << 20, False)
        call(s)
        out.append((bytes(s.buf), s.count))
    return out


@SETTINGS
@given(CIDS, st.booleans(), PIDS, st.integers(0, 0xFFFFFFFF), TOPICS, PAYLOADS)
def test_sent_and_start_records_are_the_portable_bytes(cid, head, pid, flags, tb, p):
    sess = Session(cid, False)
    a, b = _both(lambda s: s.start(sess, pid, ("t", tb, p), flags, head))
    assert a == b and a[1] == 1


@SETTINGS
@given(CIDS, st.integers(0, 0xFF), TOPICS, PAYLOADS)
def test_queue_record_is_the_portable_bytes(cid, flags, tb, p):
    sess = Session(cid, False)
    a, b = _both(lambda s: s.queue(sess, ("t", tb, p), flags))
    assert a == b and a[1] == 1


@SETTINGS
@given(CIDS, PIDS)
def test_packet_id_records_are_the_portable_bytes(cid, pid):
    sess = Session(cid, False)
    for name in ("acked", "released", "q2rel"):
        a, b = _both(lambda s: getattr(s, name)(sess, pid))
        assert a == b and a[1] == 1
    a, b = _both(lambda s: s.q2in(sess, pid, True))
    assert a == b and a[0][8] == REC_Q2IN


@SETTINGS
@given(CIDS, st.booleans(), PIDS, TOPICS, PAYLOADS, st.binary(max_size=300))
def test_a_message_with_mqtt5_properties_gets_the_portable_props_record(cid, head, pid, tb, p,
                                                                        props):
    sess = Session(cid, False)
    m = ("t", tb, p, 0, props, 0)  # core/names.py MSG_*: properties, no expiry
    a, b = _both(lambda s: s.queue(sess, m, 1))
    assert a == b and a[0][8] == REC_PROPS
    a, b = _both(lambda s: s.start(sess, pid, m, 1 << 4 | 1, head))
    assert a == b and (head or a[0][8] == REC_PROPS)  # a START record has no message


def test_clean_sessions_and_unsent_messages_write_nothing():
    clean = Session("c", True)
    a, b = _both(lambda s: (s.start(clean, 1, ("t", b"t", b"p"), 0, False),
                            s.queue(clean, ("t", b"t", b"p"), 1), s.acked(clean, 1),
                            s.start(Session("d", False), 0, ("t", b"t", b"p"), 0, False)))
    assert a == b == (b"", 0)
