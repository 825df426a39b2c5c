"""Run by test_persist_board.py under MicroPython: a board's persistence path (persist.py's
module, persist_files.start and flush) against the Store the CPython port uses, on the same
client traffic. Prints "SAME ...", "DROPPED ...", "OOM ..." and "DONE n" lines."""

import gc
import sys

ROOT = sys.argv[1]
sys.path.insert(0, ROOT)
sys.path.insert(0, ROOT + "/tests/core")
sys.path.insert(0, ROOT + "/ports/micropython")

import mqttc  # noqa: E402
from core.config import Config, Persistence  # noqa: E402
from harness import Harness  # noqa: E402
from persist_support import NAME, Wall, attach, broker_with_store, client_steps, describe, remove, scratch  # noqa: E402

_CODE = ("persist_files", "core.persist.store", "core.persist.records", "core.persist.load",
         "core.persist.state")
bad = 0


def fail(why):
    global bad
    bad += 1
    print("FAIL", why)


def board(h, d, limit=1500):
    """Persistence as a board starts it, for harness h's broker on folder d: the module persist."""
    import persist_files
    cfg = Config()
    cfg.persist = Persistence()
    cfg.persist.enabled = True
    cfg.persist.location = d
    cfg.persist.file = NAME
    cfg.persist.journal_limit = limit  # 1500: compactions within the run
    return persist_files.start(h.broker, cfg, h._log)


def steps(h):
    """persist_support's client traffic, then 40 QoS 1 messages queued for "sub"."""
    pub = h.connected("pub2", clean=True)
    return client_steps(h) + [
        lambda: [pub.publish("a/q", b"x" * 40, qos=1, pid=10 + i) for i in range(40)]]


def restored(d):
    """The state a broker restores from folder d."""
    b, st, logs = broker_with_store(d, Wall(2000))
    st.load()
    st.close()
    return describe(b)


def same_state():
    """After each step and write, the board's files restore what the Store's files do, and
    the writing code is not left in sys.modules."""
    d1 = scratch()
    d2 = scratch()
    h1 = Harness()
    st = attach(h1, d1, Wall(1000))
    h2 = Harness()
    batch = board(h2, d2)
    n = 0
    for s1, s2 in zip(steps(h1), steps(h2)):
        s1()
        st.commit()
        s2()
        wrote = batch.pending
        while batch.pending:  # a write takes some of them (see halves())
            batch.write(False)
        left = [m for m in _CODE if m in sys.modules]
        if wrote and left:
            fail("after a write the code is still loaded: %r" % left)
        a = restored(d1)
        b = restored(d2)
        if a != b:
            fail("step %d: the board restores %r, the Store %r" % (n, b, a))
        n += 1
    print("SAME", n, batch.store["gen"])
    st.close()
    batch.write(True)
    remove(d1)
    remove(d2)


def halves():
    """A write takes at most 16 changes, or half of them when more than 32 wait; a
    snapshot (a compaction) takes all that wait."""
    d = scratch()
    h = Harness()
    batch = board(h, d, 3000)  # the 4th write below passes it: a compaction
    sub = h.connected("s", clean=False)
    sub.subscribe([("a/#", 1)])
    sub.drop()
    pub = h.connected("p", clean=True)
    for i in range(40):
        pub.publish("a/q", b"x" * 40, qos=1, pid=1 + i)
    left = [len(batch.pending)]
    for i in range(3):
        batch.write(False)
        left.append(len(batch.pending))
    for i in range(40):
        pub.publish("a/r", b"y" * 40, qos=1, pid=1 + i)
    size = batch.store["jsize"]
    batch.write(False)
    left.append(len(batch.pending))
    print("HALVES", " ".join(str(x) for x in left), "%d<3000" % size, "gen", batch.store["gen"])
    batch.write(True)
    s = [x for x in restored(d)[1] if x[0] == "s"]
    print("QUEUED80", len(s[0][5]) // 2 if s else -1)
    remove(d)


def clean_sessions_are_not_noted():
    """A clean session's changes make no pending change; a retained message does."""
    d = scratch()
    h = Harness()
    batch = board(h, d)
    c = h.connected("c", clean=True)
    c.subscribe([("x/#", 1)])
    p = h.connected("p", clean=True)
    p.publish("x/1", b"p", qos=1, pid=1)
    for m in c.publishes():
        c.send(mqttc.puback(m.pid))
    print("DROPPED", len(batch.pending))
    p.publish("x/2", b"r", qos=1, pid=2, retain=True)
    print("RETAINED", len(batch.pending))
    batch.write(True)
    remove(d)


def out_of_memory():
    """A write that finds no heap for its code keeps the changes (counted, logged once) and
    a later write with heap writes them."""
    d = scratch()
    h = Harness()
    batch = board(h, d)
    sub = h.connected("s", clean=False)
    sub.subscribe([("a/#", 1)])
    sub.drop()
    pub = h.connected("p", clean=True)
    for i in range(5):
        pub.publish("a/%d" % i, b"kept %d" % i, qos=1, pid=1 + i)
    want = len(batch.pending)
    gc.collect()
    hog = []
    try:
        while True:
            hog.append(bytearray(256))
    except MemoryError:
        pass
    for i in range(8):  # room for the warning, not for the code (pop allocates nothing)
        hog.pop()
    batch.write(False)
    batch.write(False)
    kept = len(batch.pending)
    left = [m for m in _CODE if m in sys.modules]
    hog = None
    gc.collect()
    warned = [m for lv, m in h.logs if "no heap" in m]
    print("OOM", want, kept, batch.failed, len(warned), len(left))
    batch.write(True)
    s = [x for x in restored(d)[1] if x[0] == "s"]
    print("QUEUED", len(s[0][5]) // 2 if s else -1)
    remove(d)


same_state()
halves()
clean_sessions_are_not_noted()
out_of_memory()
print("DONE", bad)
