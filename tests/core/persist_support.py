"""Shared by the persistence tests: a scratch folder of real files, a broker with a Store,
and the broker's persistent state as a comparable value."""

import os

from core.broker import Broker
from core.deliver import message
from core.config import Config
from core.persist.store import Store
from core.session import Session
from ports.micropython.persist_files import Files  # plain open()/os: both interpreters

NAME = "t.db"
BIG = bytes(range(256)) + b"x" * 44


def scratch():
    """A new empty folder under /tmp (MicroPython has no tempfile)."""
    d = "/tmp/persist-test-" + "".join("%02x" % b for b in os.urandom(6))
    os.mkdir(d)
    return d


def remove(d):
    """Remove folder d and the files in it."""
    for n in os.listdir(d):
        os.remove(d + "/" + n)
    os.rmdir(d)


def put_file(d, name, data):
    """Write data as file name in folder d (None: remove it)."""
    p = d + "/" + name
    if data is None:
        try:
            os.remove(p)
        except OSError:
            pass
        return
    f = open(p, "wb")
    f.write(data)
    f.close()


def get_file(d, name):
    """The bytes of file name in folder d."""
    f = open(d + "/" + name, "rb")
    try:
        return f.read()
    finally:
        f.close()


class Wall:
    """A wall clock the test sets (seconds)."""

    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


def broker_with_store(d, wall, limit=1 << 30, **settings):
    """(broker, store, logs): a Broker whose Store uses folder d; not loaded yet."""
    cfg = Config()
    cfg.finish()
    for k in settings:
        setattr(cfg, k, settings[k])
    logs = []
    b = Broker(cfg, lambda lv, m: logs.append((lv, m)))
    st = Store(b, Files(d), NAME, wall, b.log, limit, False)
    return b, st, logs


def describe(b):
    """The broker's persistent state as nested sorted lists (comparable, printable): its
    retained messages and its persistent (clean session 0) sessions."""
    ret = sorted([(t, m[1], m[3], m[2]) for t, m in b.retained.msgs.items()])
    sess = []
    n = 0
    for cid in sorted(b.sessions):
        s = b.sessions[cid]
        subs = sorted(s.subs.items())
        n += len(subs)
        if s.clean:
            continue
        # a message's topic, topic bytes and payload (a retained one carries its qos too)
        infl = sorted([(pid, s.flags[pid], s.inflight[pid][:3]) for pid in s.inflight])
        q2 = sorted(s.qos2_in.items()) if s.qos2_in else []  # pid: message or True
        sess.append((cid, s.clean, s.username, subs, infl, [x if type(x) is int else x[:3] for x in s.queue], s.queued_bytes, q2))
    assert b.subs.count == n, "%d subscriptions in the tree, %d in sessions" % (b.subs.count, n)
    return [ret, sess]


def write_journal(d):
    """Write a realistic journal through the Store's observer calls; (snapshot, journal)."""
    b, st, logs = broker_with_store(d, Wall(1000))
    st.load()  # no files yet: writes an empty snapshot and journal of generation 1
    alpha = Session("alpha", 0)
    alpha.username = "u1"
    beta = Session("beta", 0)
    gamma = Session("gamma", 0)
    st.retain(("r/1", b"r/1", b"one"), 1)
    st.retain(("r/2", b"r/2", b"two"), 0)
    st.session(alpha)
    st.sub(alpha, "a/#", 1)
    st.sub(alpha, "b/+", 2)
    st.session(beta)
    st.sub(beta, "a/x", 2)
    st.commit()
    st.queue(alpha, ("a/1", b"a/1", b"p1"), 1)
    st.queue(alpha, ("a/2", b"a/2", b"p2"), 1)
    st.start(alpha, 1, ("a/1", b"a/1", b"p1"), 1 << 4 | 1, True)
    st.start(beta, 7, ("a/x", b"a/x", b"hi"), 1 << 4 | 2, False)
    st.released(beta, 7)
    st.q2in(alpha, 3, ("q/3", b"q/3", b"three", 0))
    st.q2in(alpha, 4, True)
    st.q2in(alpha, 5, ("q/5", b"q/5", b"five", 1))
    st.q2rel(alpha, 3)
    st.acked(alpha, 1)
    st.retain(("r/2", b"r/2", b""), 0)
    st.unsub(alpha, "b/+")
    st.wall.t = 1500
    st.ended(alpha)
    st.session(gamma)
    st.sub(gamma, "g", 0)
    st.drop(gamma)
    st.queue(beta, ("a/x", b"a/x", BIG), 6)
    st.commit()
    snap = get_file(d, NAME)
    jour = get_file(d, NAME + ".journal")
    st.close()
    return snap, jour


# Payload Format Indicator 1, Content Type, Response Topic, Correlation Data, two User
# Properties: as core/pub5.py keeps them to forward (no expiry, no topic alias)
PROPS = (b"\x01\x01" + b"\x03\x00\x0atext/plain" + b"\x08\x00\x05reply"
         + b"\x09\x00\x03\x00\xffz" + b"\x26\x00\x01k\x00\x02v1" + b"\x26\x00\x01k\x00\x02v2")


def write_props_journal(d):
    """Journal the state changes of messages with MQTT 5.0 properties (PROPS records) at
    wall-clock second 1000, broker second 100; (snapshot, journal)."""
    b, st, logs = broker_with_store(d, Wall(1000))
    st.load()
    b.secs = 100
    s = Session("sub5", 0)
    st.session(s)
    st.sub(s, "m/#", 2)
    st.commit()
    # queued: 30 s of expiry left, none, 5 s left; in flight: 60 s left; a plain one
    st.queue(s, message("m/a", b"m/a", b"a", None, PROPS, 100 + 30), 1)
    st.queue(s, message("m/b", b"m/b", b"b", None, PROPS, 0), 1)
    st.queue(s, message("m/c", b"m/c", b"c", None, b"", 100 + 5), 2)
    st.start(s, 9, message("m/d", b"m/d", b"d", None, PROPS, 100 + 60), 1 << 4 | 1, False)
    st.queue(s, ("m/e", b"m/e", b"e"), 1)
    st.retain(message("r/1", b"r/1", b"kept", 1, PROPS, 100 + 3600), 1)
    st.q2in(s, 4, message("q/4", b"q/4", b"four", 1, PROPS, 0))
    st.commit()
    snap = get_file(d, NAME)
    jour = get_file(d, NAME + ".journal")
    st.close()
    return snap, jour


def client_steps(h):
    """Client traffic on harness h's broker, as steps (functions) that make every kind of
    record: persistent sessions, subscriptions, QoS 1 and 2 in and out, queued, retained set
    and cleared, a session that ends and one that resumes, a v5 session that its DISCONNECT
    ends (Session Expiry Interval 0)."""
    import mqttc
    sub = h.connected("sub", clean=False)
    pub = h.connected("pub", clean=False)
    ends = h.connected5("ends", clean=False, properties=mqttc.props([(0x11, 100)]))
    got = []
    return [lambda: sub.subscribe([("a/#", 1), ("b/#", 2)]),
            lambda: ends.subscribe5([("a/#", 1)]),
            lambda: pub.publish("a/1", BIG, qos=1, pid=1),
            lambda: pub.publish("b/1", b"m2", qos=2, pid=2),
            lambda: got.extend(sub.publishes()),
            lambda: sub.send(mqttc.pubrec(got[1].pid)),
            lambda: sub.drop(),
            lambda: pub.publish("a/2", b"m3", qos=1, pid=3, retain=True),
            lambda: (pub.send(mqttc.publish("b/9", BIG, 2, False, False, 9)), pub.packets()),
            lambda: pub.publish("a/3", b"m4", qos=1, pid=4),
            lambda: h.connected("sub", clean=False).disconnect(),
            lambda: pub.publish("a/2", b"", qos=1, pid=5, retain=True),
            lambda: ends.send(mqttc.disconnect5(0, mqttc.props([(0x11, 0)])))]


def attach(h, d, wall, hold=False, limit=1 << 30):
    """Give harness h's broker a loaded Store on folder d; returns the store."""
    st = Store(h.broker, Files(d), NAME, wall, h.broker.log, limit, hold)
    st.load()
    h.broker.store = st
    return st
