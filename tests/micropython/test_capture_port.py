"""Capture on the MicroPython port: the real `micropython` broker sends records to the real
tools/capture_sink.py; the receiver is absent, killed, restarted, slow or black-holed."""

import signal
import socket
import time

from capture_support import (broker_conf as _conf, check_gaps_are_counted_drops,
                             exchange as _session, sequences as _seqs)
from mpbroker import HOST, free_port, raw_connect
import mqttc

# Capture's code (core/capture/ with the ECS encoder, and capture_io) takes about 40 KB of
# heap on this 64-bit build when imported from .mpy (about half that on a 32-bit board) plus
# its queue: the port's model heap (128k) plus that share. A board short of RAM freezes the
# modules into its firmware.
HEAP = "176k"


def _acts(recs):
    return [r["event"]["action"] for r in recs]


def test_every_event_kind_reaches_the_sink_in_order_with_wall_clock_timestamps(
        mp_broker_factory, sinks):
    sp = free_port()
    sink = sinks(sp)
    b = mp_broker_factory(_conf(sp, "capture_stats_interval 1\ncapture_payload base64\n"),
                          heap=HEAP)
    _session(b.port, mqttc.connect("c1") + mqttc.subscribe(1, [("a/b", 1)])
             + b"\xa2\x07\x00\x02\x00\x03a/b" + mqttc.publish("a/b", b"msg")
             + mqttc.publish("$x/y", b"z") + b"\xe0\x00")
    _session(b.port, mqttc.connect("c2", will=("w/t", b"hi", 0, False)) + b"\xff\x00")
    sink.wait_for(lambda r: "stats" in _acts(r))
    assert b.stop() == 0, b.log()
    recs = sink.wait_for(lambda r: r and r[-1]["event"]["action"] == "shutdown")
    core = [a for a in _acts(recs) if a != "stats"]
    assert core == ["startup", "connect", "subscribe", "unsubscribe", "publish", "publish",
                    "disconnect", "connect", "disconnect", "will", "shutdown"], _acts(recs)
    assert _seqs(recs) == list(range(1, len(recs) + 1))
    pubs = [r for r in recs if r["event"]["action"] == "publish"]
    assert pubs[0]["mqtt"]["payload"] == "bXNn" and pubs[1]["event"]["outcome"] == "failure"
    discs = [r for r in recs if r["event"]["action"] == "disconnect"]
    assert discs[0]["event"]["reason"] == "client disconnect"
    assert discs[1]["event"]["reason"].startswith("protocol error")
    # the unix port has a wall clock: ISO 8601 UTC with milliseconds, no uptime flag
    assert all(r["@timestamp"].endswith("Z") and len(r["@timestamp"]) == 24 for r in recs)
    assert not [r for r in recs if "clock_synced" in r.get("mqtt", {})]


def test_without_a_wall_clock_records_carry_the_flag_and_uptime(mp_broker_factory, sinks):
    sp = free_port()
    sink = sinks(sp)
    b = mp_broker_factory(_conf(sp), args=("--wall-clock", "0"), heap=HEAP)
    time.sleep(0.3)
    _session(b.port, mqttc.connect("nc") + b"\xe0\x00")
    recs = sink.wait_for(lambda r: len(r) >= 3)
    assert _acts(recs)[:3] == ["startup", "connect", "disconnect"]
    for r in recs:
        assert "@timestamp" not in r
        assert r["mqtt"]["clock_synced"] is False and isinstance(r["mqtt"]["uptime_ms"], int)
    assert recs[0]["mqtt"]["uptime_ms"] <= recs[1]["mqtt"]["uptime_ms"]


def test_login_refused_by_allow_anonymous_false_is_a_denied_record(mp_broker_factory, sinks):
    sp = free_port()
    sink = sinks(sp)
    b = mp_broker_factory("listener {port} 127.0.0.1\nallow_anonymous false\n"
                          "capture_address 127.0.0.1:%d\n" % sp, heap=HEAP)
    s, rc = raw_connect(b.port, "anon")
    s.close()
    assert rc == 5
    recs = sink.wait_for(lambda r: len(r) >= 3)
    assert _acts(recs)[:3] == ["startup", "denied", "connect"]
    assert recs[1]["mqtt"]["denied"] == "login"
    assert recs[2]["event"]["outcome"] == "failure" and recs[2]["mqtt"]["connack_code"] == 5


def test_hicap_env_variables_turn_capture_on_in_the_forks_format(mp_broker_factory, sinks,
                                                                 monkeypatch):
    sp = free_port()
    sink = sinks(sp)
    monkeypatch.setenv("HICAP_HOST", "127.0.0.1")
    monkeypatch.setenv("HICAP_PORT", str(sp))
    b = mp_broker_factory("listener {port} 127.0.0.1\nallow_anonymous true\n"
                          "capture_format hicap\n", heap=HEAP)
    _session(b.port, mqttc.connect("pub-1") + mqttc.publish("sensors/t1", b"msg") + b"\xe0\x00")
    recs = sink.wait_for(lambda r: len(r) >= 4)
    acts = [r["mqtt"]["action"] for r in recs]
    assert acts[:4] == ["STARTUP", "CONNECT", "PUBLISH", "DISCONNECT"], acts
    pub = recs[2]["mqtt"]
    assert pub["topic"] == "sensors/t1" and pub["payload"] == "bXNn" and pub["port"] == b.port
    assert pub["clientID"] == "pub-1" and pub["tsUTC"].endswith("Z (GMT)")


def test_receiver_absent_at_start_keeps_the_newest_records_and_counts_every_drop(
        mp_broker_factory, sinks):
    sp = free_port()
    b = mp_broker_factory(_conf(sp), heap=HEAP)  # the board default queue: 4 KB
    for i in range(10):
        _session(b.port, mqttc.connect("a%d" % i) + mqttc.publish("t/%d" % i, b"x")
                 + b"\xe0\x00", read=False)
    assert b.wait_for_log("unreachable")
    # MQTT keeps being served while nothing listens
    s, rc = raw_connect(b.port, "alive")
    s.close()
    assert rc == 0
    sink = sinks(sp)
    recs = sink.wait_for(lambda r: r and r[-1]["event"]["sequence"] >= 33, timeout=40)
    seqs = _seqs(recs)
    assert seqs[-1] == 33 and seqs == list(range(seqs[0], 34)), seqs  # newest kept, in order
    assert seqs[0] > 1  # 33 records do not fit in 4 KB: the oldest went
    # every record states the drops so far: the last one accounts for every gap exactly
    assert recs[-1]["mqtt"]["capture_dropped"] == seqs[0] - 1
    assert 0 < recs[0]["mqtt"]["capture_dropped"] <= seqs[0] - 1


def test_receiver_absent_at_start_then_started_gets_every_record_in_order(mp_broker_factory,
                                                                         sinks):
    sp = free_port()
    b = mp_broker_factory(_conf(sp, "capture_queue_size 16384\n"), heap=HEAP)
    for i in range(10):
        _session(b.port, mqttc.connect("a%d" % i) + mqttc.publish("t/%d" % i, b"x")
                 + b"\xe0\x00", read=False)
    assert b.wait_for_log("unreachable")
    sink = sinks(sp)
    recs = sink.wait_for(lambda r: len(r) >= 31, timeout=40)
    assert _seqs(recs) == list(range(1, 32)), _seqs(recs)  # startup + 10 x 3, none lost
    assert not [r for r in recs if "capture_dropped" in r["mqtt"]]


def test_receiver_killed_and_restarted_records_arrive_once_in_order(mp_broker_factory, sinks):
    sp = free_port()
    sink = sinks(sp)
    b = mp_broker_factory(_conf(sp, "capture_queue_size 16384\n"), heap=HEAP)
    _session(b.port, mqttc.connect("k1") + mqttc.publish("before", b"x") + b"\xe0\x00")
    sink.wait_for(lambda r: len(r) >= 4)
    sink.stop(signal.SIGKILL)
    for i in range(8):
        _session(b.port, mqttc.connect("k%d" % i) + mqttc.publish("during", b"x")
                 + b"\xe0\x00", read=False)
    s, rc = raw_connect(b.port, "alive")
    s.close()
    assert rc == 0
    assert b.wait_for_log("unreachable")
    sink2 = sinks(sp)
    recs = sink2.wait_for(lambda r: r and r[-1]["event"]["sequence"] >= 30, timeout=40)
    seqs = _seqs(sink.records()) + _seqs(recs)
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs  # once, in order
    assert _seqs(recs) == list(range(recs[0]["event"]["sequence"], 31)), _seqs(recs)
    assert seqs[-1] == 30  # 4 + 8 x 3 + connect/disconnect of "alive"
    assert [r for r in recs if r["event"]["action"] == "connect"
            and r["mqtt"]["client_id"] == "alive"]


def test_blackholed_receiver_never_blocks_the_broker_and_memory_stays_bounded(
        mp_broker_factory, sinks):
    sp = free_port()
    hole = sinks(sp, "--blackhole", "--rcvbuf", "4096")
    # the default board queue (4 KB) on the capture heap: 20,000 records (about 8 MB of
    # JSON, more than the kernel's buffers of a loopback connection take) must not grow it
    b = mp_broker_factory(_conf(sp, "capture_stats_interval 1\n"), heap=HEAP)
    sub = socket.create_connection((HOST, b.port), timeout=5)
    sub.sendall(mqttc.connect("sub") + mqttc.subscribe(1, [("big", 0)]))
    assert mqttc.read_packet(sub)[0] == 0x20 and mqttc.read_packet(sub)[0] == 0x90
    payload = b"p" * 100
    pub = socket.create_connection((HOST, b.port), timeout=5)
    pub.sendall(mqttc.connect("pub"))
    n = 20000
    buf = b""
    sub.settimeout(10)
    for i in range(n // 100):
        pub.sendall(mqttc.publish("big", payload) * 100)
        while buf.count(payload) < (i + 1) * 100:
            d = sub.recv(65536)
            assert d, "subscriber connection closed"
            buf += d
    assert buf.count(payload) == n  # every message delivered while the receiver reads nothing
    pub.close()
    sub.close()
    assert b.alive() and "out of memory" not in b.log()
    # the receiver comes back: the queue that was kept arrives in order, drops are counted
    hole.stop(signal.SIGKILL)
    sink = sinks(sp)
    recs = sink.wait_for(lambda r: any(x["event"]["action"] == "stats" for x in r), timeout=40)
    seqs = _seqs(recs)
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    last = recs[-1]
    assert last["mqtt"]["capture_dropped"] > 0
    # gaps = drops counted by the broker + records the dead receiver's kernel took unread
    assert last["event"]["sequence"] - len(seqs) >= last["mqtt"]["capture_dropped"]
    assert b.alive()


def test_slow_receiver_gets_records_in_order_and_gaps_equal_reported_drops(mp_broker_factory,
                                                                           sinks):
    sp = free_port()
    sink = sinks(sp, "--slow", "4096", "--rcvbuf", "2048")
    b = mp_broker_factory(_conf(sp, "capture_queue_size 2048\ncapture_stats_interval 1\n"),
                          heap=HEAP)
    # the CONNACK read: closing with unread bytes would reset the connection, and the
    # broker would lose the publishes it had not read yet
    c, rc = raw_connect(b.port, "fast")
    assert rc == 0
    # many more records than the ring and both sockets' buffers hold: drops are certain
    for i in range(600):
        c.sendall(mqttc.publish("t/%d" % i, b"x"))
    c.sendall(b"\xe0\x00")
    c.close()
    check_gaps_are_counted_drops(sink, 600)


def test_capture_tls_is_refused_on_this_port_with_a_clear_error(mp_broker_factory):
    b = mp_broker_factory(_conf(free_port(), "capture_tls true\n"), heap=HEAP, wait=False)
    assert b.proc.wait(20) == 1
    assert "capture_tls is not supported on the MicroPython port" in b.log()
