"""Persistence on the CPython port with real processes and files: what a publisher got a
PUBACK or PUBREC for survives kill -9, in order per publisher, QoS 2 exactly once;
retained messages, subscriptions and session expiry survive a restart; the journal stays
bounded under load."""

import os
import signal
import threading
import time

import pytest

import mqttc
from core.names import REC_GONE, REC_HEADER
from core.persist import records as R
from core.persist.load import scan
from paho_support import WAIT
from persist_clients import check_received, connect, drain, publisher, shared_handover_v5

CONF = ("listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
        "max_queued_messages 0\nsys_interval 0\n")
PUBLISHERS = 3
LONG = os.environ.get("MQTT_EDGE_LONG") == "1"  # the long variants: MQTT_EDGE_LONG=1 bash tools/test.sh


def _offline_sub_under_load(b, sub_qos, qos):
    """Subscribe a persistent session "sub" to load/# and leave (its messages are queued),
    then start PUBLISHERS publishers at qos: (acked, stop event, threads)."""
    s, _ = connect(b, "sub", clean=False)
    s.sendall(mqttc.subscribe(1, [("load/#", sub_qos)]))
    assert mqttc.read_packet(s)[0] == 0x90
    s.close()
    time.sleep(0.2)
    acked = [[] for _ in range(PUBLISHERS)]
    stop = threading.Event()
    ts = [threading.Thread(target=publisher, args=(b, n, qos, acked, stop))
          for n in range(PUBLISHERS)]
    for t in ts:
        t.start()
    return acked, stop, ts


def _kill_under_load(broker_factory, qos, kill_after):
    b = broker_factory(CONF)
    acked, stop, ts = _offline_sub_under_load(b, 2, qos)
    time.sleep(kill_after)
    # under load means some acknowledged: a loaded machine may need longer than kill_after
    deadline = time.monotonic() + 10
    while sum(len(a) for a in acked) <= 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    b.proc.send_signal(signal.SIGKILL)
    b.proc.wait(10)
    stop.set()
    for t in ts:
        t.join(10)
    assert sum(len(a) for a in acked) > 20, acked  # the kill came under load
    b2 = broker_factory(CONF)
    got = drain(b2, "sub")
    check_received(got, acked)
    assert all(q == qos for topic, p, q in got)
    assert "Traceback" not in b2.log()


KILLS = [0.3, 1.0] if not LONG else [0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0]


@pytest.mark.parametrize("kill_after", KILLS)
@pytest.mark.parametrize("qos", [1, 2])
def test_kill_9_under_load_keeps_every_acknowledged_message_in_order(broker_factory, qos,
                                                                     kill_after):
    _kill_under_load(broker_factory, qos, kill_after)


@pytest.mark.long
@pytest.mark.skipif(not LONG, reason="long variant: MQTT_EDGE_LONG=1 runs it")
@pytest.mark.parametrize("round", range(10))
def test_kill_9_at_many_points_long(broker_factory, round):
    _kill_under_load(broker_factory, 1 + round % 2, 0.1 + 0.37 * round)


def test_retained_messages_and_subscriptions_survive_a_restart(broker_factory):
    b = broker_factory(CONF)
    s, _ = connect(b, "keeper", clean=False)
    s.sendall(mqttc.subscribe(1, [("news/#", 1)]))
    assert mqttc.read_packet(s)[0] == 0x90
    s.close()
    p, _ = connect(b, "p")
    p.sendall(mqttc.publish("news/a", b"kept", 1, True, pid=1))
    assert mqttc.read_packet(p)[0] == 0x40
    p.close()
    assert b.stop() == 0
    b2 = broker_factory(CONF)
    p, _ = connect(b2, "p")
    p.sendall(mqttc.publish("news/b", b"after", 1, pid=1))
    assert mqttc.read_packet(p)[0] == 0x40
    got = drain(b2, "keeper")
    assert [(t, m) for t, m, q in got] == [("news/a", b"kept"), ("news/b", b"after")]
    r, _ = connect(b2, "reader")
    r.sendall(mqttc.subscribe(1, [("news/#", 0)]))
    assert mqttc.read_packet(r)[0] == 0x90
    first, body = mqttc.read_packet(r)
    assert first == 0x31 and body.endswith(b"news/akept")


def test_a_session_that_expired_while_the_broker_was_down_is_gone(broker_factory):
    conf = CONF + "persistent_client_expiration 1h\n"
    b = broker_factory(conf)
    s, _ = connect(b, "short", clean=False)
    s.close()
    assert b.stop() == 0
    # the broker was down for two hours: move every time its files hold two hours back
    gone = []
    for name in ("mqtt-edge.db", "mqtt-edge.db.journal"):
        path = os.path.join(os.path.dirname(b.log_path), name)
        with open(path, "rb") as f:
            data = f.read()
        out = bytearray(R.MAGIC)
        for at, t, v in scan(data, len(R.MAGIC)):
            if t in (REC_GONE, REC_HEADER):
                gone += [v[0]] if t == REC_GONE else []
                v = v[:-1] + [v[-1] - 7200]
            R.put(out, t, *v)
        with open(path, "wb") as f:
            f.write(out)
    assert gone == ["short"]
    b2 = broker_factory(conf)
    assert b2.wait_for_log("Expiring client short", timeout=5)
    s, present = connect(b2, "short", clean=False)
    assert present == 0


def test_compaction_under_load_keeps_the_journal_bounded(broker_factory):
    b = broker_factory(CONF + "persistence_journal_limit 65536\n")
    acked, stop, ts = _offline_sub_under_load(b, 1, 1)
    journal = os.path.join(os.path.dirname(b.log_path), "mqtt-edge.db.journal")
    biggest = 0
    gens = set()
    deadline = time.monotonic() + 20
    while len(gens) < 5 and time.monotonic() < deadline:
        with open(journal, "rb") as f:
            data = f.read()
        biggest = max(biggest, len(data.rstrip(b"\0")))  # without the space reserved ahead
        gens.add(data[len(R.MAGIC) + 10:len(R.MAGIC) + 14])  # the header's generation
        time.sleep(0.01)
    stop.set()
    for t in ts:
        t.join(10)
    assert len(gens) >= 5, gens  # compacted again and again under load
    assert biggest < 65536 + 32768, biggest
    total = sum(len(a) for a in acked)
    assert b.stop() == 0
    b2 = broker_factory(CONF)
    got = drain(b2, "sub")
    check_received(got, acked)
    assert len(got) >= total


def test_a_full_disk_holds_the_acknowledgements_and_loses_nothing_acknowledged(broker_factory):
    """The broker's files may grow to 256 KB (RLIMIT_FSIZE, inherited): past that every
    write fails as on a full disk. PUBACKs stop, the broker keeps running without a
    traceback, and what was acknowledged is there after a restart."""
    import resource
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 << 10, old[1]))
    try:
        b = broker_factory(CONF)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
    s, _ = connect(b, "sub", clean=False)
    s.sendall(mqttc.subscribe(1, [("load/#", 1)]))
    assert mqttc.read_packet(s)[0] == 0x90
    s.close()
    acked = [[]]
    stop = threading.Event()
    t = threading.Thread(target=publisher, args=(b, 0, 1, acked, stop))
    t.start()
    assert b.wait_for_log("Error: persistence: cannot write", timeout=30), b.log()
    n = len(acked[0])
    time.sleep(1.5)
    assert len(acked[0]) <= n + 1 and t.is_alive()  # no PUBACK without its record on disk
    assert b.proc.poll() is None and "Traceback" not in b.log()
    b.proc.send_signal(signal.SIGKILL)
    b.proc.wait(10)
    t.join(10)
    assert n > 1000, n  # the records of these filled the 256 KB
    b2 = broker_factory(CONF)
    check_received(drain(b2, "sub"), acked)


def _children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(c) for c in f.read().split()]


def test_the_sync_helper_killed_under_load_loses_nothing_acknowledged(broker_factory):
    """The CPython port syncs the journal in a helper process (ports/cpython/
    persist_sync.py). Killed under load, the broker logs it once, syncs in its own loop
    from then on (PUBACKs go on), and what was acknowledged survives a kill -9."""
    b = broker_factory(CONF)
    helper, = _children(b.proc.pid)
    acked, stop, ts = _offline_sub_under_load(b, 1, 1)
    time.sleep(0.3)
    os.kill(helper, signal.SIGKILL)
    assert b.wait_for_log("the sync helper process ended", timeout=10), b.log()
    n = sum(len(a) for a in acked)
    # acknowledged after the helper's end too (waited for: a loaded machine is slow)
    deadline = time.monotonic() + 10
    while sum(len(a) for a in acked) <= n + 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sum(len(a) for a in acked) > n + 20, (n, b.log()[-2000:])
    b.proc.send_signal(signal.SIGKILL)
    b.proc.wait(10)
    stop.set()
    for t in ts:
        t.join(10)
    b2 = broker_factory(CONF)
    check_received(drain(b2, "sub"), acked)
    assert "Traceback" not in b.log() + b2.log()


def test_v5_properties_of_queued_and_retained_messages_survive_kill_9_and_expiry_counts(
        broker_factory):
    """paho MQTTv5: messages with properties queued for an offline persistent 5.0 session
    and a retained one, PUBACKed, then kill -9 and 2.5 s down: after the restart the
    subscriber gets them with the same properties and what is left of their expiry; the
    one whose expiry (2 s) passed while the broker was down is not delivered."""
    from test_v5_publish_clients import USER, client5, publish_props
    b = broker_factory(CONF)
    sub = client5(b, 3600, client_id="v5keep")
    assert sub.subscribe("v5/#", 1) == [1]
    sub.close()
    full = dict(PayloadFormatIndicator=1, ContentType="text/plain", ResponseTopic="v5/reply",
                CorrelationData=b"\x00\xffid", UserProperty=USER)
    pub = client5(b)
    try:
        for topic, payload, retain, kw in (
                ("v5/a", b"long", False, dict(full, MessageExpiryInterval=100)),
                ("v5/b", b"short", False, dict(MessageExpiryInterval=2, ContentType="x")),
                ("v5/c", b"never", False, full),
                ("v5/r", b"kept", True, dict(full, MessageExpiryInterval=100))):
            info = pub.c.publish(topic, payload, 1, retain=retain,
                                 properties=publish_props(**kw))
            info.wait_for_publish(WAIT)
            assert info.is_published()  # PUBACKed: on disk
    finally:
        pub.close()
    b.proc.send_signal(signal.SIGKILL)
    b.proc.wait(10)
    time.sleep(2.5)
    b2 = broker_factory(CONF)
    sub = client5(b2, 3600, client_id="v5keep")
    try:
        got = sub.received(4, timeout=3)
        assert [(m.topic, m.payload) for m in got] == [
            ("v5/a", b"long"), ("v5/c", b"never"), ("v5/r", b"kept")], got
        for m in got:
            p = m.properties
            assert (p.PayloadFormatIndicator, p.ContentType, p.ResponseTopic,
                    p.CorrelationData, p.UserProperty) == (
                1, "text/plain", "v5/reply", b"\x00\xffid", USER), m.topic
        assert 94 <= got[0].properties.MessageExpiryInterval <= 98  # the 2.5 s down count
        assert not hasattr(got[1].properties, "MessageExpiryInterval")
        assert 94 <= got[2].properties.MessageExpiryInterval <= 98
    finally:
        sub.close()
    r = client5(b2)
    try:
        assert r.subscribe("v5/r", 1) == [1]
        [m] = r.received(1)
        assert m.retain and m.payload == b"kept"
        assert m.properties.ContentType == "text/plain" and m.properties.UserProperty == USER
        assert 94 <= m.properties.MessageExpiryInterval <= 98
    finally:
        r.close()



def test_MQTT_3_3_4_5_a_shared_message_handed_over_after_kill_9_carries_its_takers_identifier(
        broker_factory):
    """persist_clients.shared_handover_v5, with kill -9 as soon as the PUBACKs came."""
    def kill(b):
        b.proc.send_signal(signal.SIGKILL)
        b.proc.wait(10)
    b2 = shared_handover_v5(lambda: broker_factory(CONF), kill)
    assert "Traceback" not in b2.log()
