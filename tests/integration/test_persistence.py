"""Persistence on the CPython port with real processes and files: what a publisher got a
PUBACK or PUBREC for survives kill -9, in order per publisher, QoS 2 exactly once;
retained messages, subscriptions and session expiry survive a restart; the journal stays
bounded under load."""

import os
import signal
import socket
import threading
import time

import pytest

import mqttc

CONF = ("listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
        "max_queued_messages 0\nsys_interval 0\n")
PUBLISHERS = 3
LONG = os.environ.get("MQTT_EDGE_LONG") == "1"  # the long variant: tools/test.sh -m long


def _connect(b, cid, clean=True):
    s = socket.create_connection((b.host, b.port), timeout=10)
    s.sendall(mqttc.connect(cid, clean=clean))
    p = mqttc.read_packet(s)
    assert p is not None and p[0] == 0x20 and p[1][1] == 0, p
    return s, p[1][0]  # session present


def _pid(body):
    return int.from_bytes(body[:2], "big")


def _publisher(b, n, qos, acked, stop):
    """Publish n:0, n:1, ... at qos until the broker dies; acked[n] gets each acknowledged."""
    try:
        s, _ = _connect(b, "pub%d" % n)
        i = 0
        while not stop.is_set():
            pid = 1 + i % 65000
            s.sendall(mqttc.publish("load/%d" % n, b"%d:%d" % (n, i), qos, pid=pid))
            p = mqttc.read_packet(s)
            if p is None or p[0] >> 4 not in (4, 5) or _pid(p[1]) != pid:
                return
            acked[n].append(i)  # PUBACK or PUBREC: the broker has it
            if qos == 2:
                s.sendall(b"\x62\x02" + pid.to_bytes(2, "big"))
                if mqttc.read_packet(s) is None:
                    return
            i += 1
    except OSError:
        return


def _drain(b, cid):
    """Connect cid's persistent session and take every message until 1.5 s of quiet."""
    s, present = _connect(b, cid, clean=False)
    assert present == 1
    s.settimeout(1.5)
    got = []
    try:
        while True:
            p = mqttc.read_packet(s)
            if p is None:
                break
            t, body = p
            if t >> 4 == 3:
                qos = (t >> 1) & 3
                tl = int.from_bytes(body[:2], "big")
                pid = _pid(body[2 + tl:])
                got.append((body[2:2 + tl].decode(), body[4 + tl:], qos))
                s.sendall((b"\x40\x02" if qos == 1 else b"\x50\x02") + pid.to_bytes(2, "big"))
            elif t >> 4 == 6:  # PUBREL of a QoS 2 message sent before the kill
                s.sendall(b"\x70\x02" + body[:2])
    except socket.timeout:
        pass
    s.close()
    return got


def _kill_under_load(broker_factory, qos, kill_after):
    b = broker_factory(CONF)
    s, _ = _connect(b, "sub", clean=False)
    s.sendall(mqttc.subscribe(1, [("load/#", 2)]))
    assert mqttc.read_packet(s)[0] == 0x90
    s.close()  # offline: everything is queued for it
    time.sleep(0.2)
    acked = [[] for _ in range(PUBLISHERS)]
    stop = threading.Event()
    ts = [threading.Thread(target=_publisher, args=(b, n, qos, acked, stop))
          for n in range(PUBLISHERS)]
    for t in ts:
        t.start()
    time.sleep(kill_after)
    b.proc.send_signal(signal.SIGKILL)
    b.proc.wait(10)
    stop.set()
    for t in ts:
        t.join(10)
    assert sum(len(a) for a in acked) > 20, acked  # the kill came under load
    b2 = broker_factory(CONF)
    got = _drain(b2, "sub")
    for n in range(PUBLISHERS):
        seq = [int(p.split(b":")[1]) for topic, p, q in got if topic == "load/%d" % n]
        assert seq == sorted(set(seq)), "publisher %d: out of order or repeated" % n
        missing = set(acked[n]) - set(seq)
        assert not missing, "publisher %d: %d acknowledged messages lost, e.g. %s" \
            % (n, len(missing), sorted(missing)[:5])
        # only what was sent: at most the one message in flight beyond the last ack
        assert not seq or seq[-1] <= (acked[n][-1] + 1 if acked[n] else 0)
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
    s, _ = _connect(b, "keeper", clean=False)
    s.sendall(mqttc.subscribe(1, [("news/#", 1)]))
    assert mqttc.read_packet(s)[0] == 0x90
    s.close()
    p, _ = _connect(b, "p")
    p.sendall(mqttc.publish("news/a", b"kept", 1, True, pid=1))
    assert mqttc.read_packet(p)[0] == 0x40
    p.close()
    assert b.stop() == 0
    b2 = broker_factory(CONF)
    p, _ = _connect(b2, "p")
    p.sendall(mqttc.publish("news/b", b"after", 1, pid=1))
    assert mqttc.read_packet(p)[0] == 0x40
    got = _drain(b2, "keeper")
    assert [(t, m) for t, m, q in got] == [("news/a", b"kept"), ("news/b", b"after")]
    r, _ = _connect(b2, "reader")
    r.sendall(mqttc.subscribe(1, [("news/#", 0)]))
    assert mqttc.read_packet(r)[0] == 0x90
    first, body = mqttc.read_packet(r)
    assert first == 0x31 and body.endswith(b"news/akept")


def test_a_session_that_expired_while_the_broker_was_down_is_gone(broker_factory):
    conf = CONF + "persistent_client_expiration 1h\n"
    b = broker_factory(conf)
    s, _ = _connect(b, "short", clean=False)
    s.close()
    assert b.stop() == 0
    # the broker was down for two hours: move every time its files hold two hours back
    from core.persist import records as R
    gone = []
    for name in ("mqtt-edge.db", "mqtt-edge.db.journal"):
        path = os.path.join(os.path.dirname(b.log_path), name)
        with open(path, "rb") as f:
            data = f.read()
        out = bytearray(R.MAGIC)
        for at, t, v in R.scan(data, len(R.MAGIC)):
            if t in (R.GONE, R.HEADER):
                gone += [v[0]] if t == R.GONE else []
                v = v[:-1] + [v[-1] - 7200]
            R.put(out, t, *v)
        with open(path, "wb") as f:
            f.write(out)
    assert gone == ["short"]
    b2 = broker_factory(conf)
    assert b2.wait_for_log("Expiring client short", timeout=5)
    s, present = _connect(b2, "short", clean=False)
    assert present == 0


def test_compaction_under_load_keeps_the_journal_bounded(broker_factory):
    b = broker_factory(CONF + "persistence_journal_limit 65536\n")
    s, _ = _connect(b, "sub", clean=False)
    s.sendall(mqttc.subscribe(1, [("load/#", 1)]))
    assert mqttc.read_packet(s)[0] == 0x90
    s.close()
    acked = [[] for _ in range(PUBLISHERS)]
    stop = threading.Event()
    ts = [threading.Thread(target=_publisher, args=(b, n, 1, acked, stop))
          for n in range(PUBLISHERS)]
    for t in ts:
        t.start()
    journal = os.path.join(os.path.dirname(b.log_path), "mqtt-edge.db.journal")
    biggest = 0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        biggest = max(biggest, os.path.getsize(journal))
        time.sleep(0.01)
    stop.set()
    for t in ts:
        t.join(10)
    total = sum(len(a) for a in acked)
    assert total * 40 > 4 * 65536, total  # several times the limit went through the journal
    assert biggest < 65536 + 32768, biggest
    assert b.stop() == 0
    b2 = broker_factory(CONF)
    got = _drain(b2, "sub")
    assert len(got) >= total
