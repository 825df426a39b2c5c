"""Capture end to end: the real broker process sends records to tools/capture_sink.py."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from brokerproc import ROOT, HOST, free_port
from capture_support import (broker_conf as _conf, check_gaps_are_counted_drops,
                             exchange as _mqtt, rss_kb, sequences as _seqs)
import mqttc


def _connect(cid, will=False):
    c = cid.encode()
    flags = 0x02 | (0x2C if will else 0)
    body = b"\x00\x04MQTT\x04" + bytes((flags, 0, 60, 0, len(c))) + c
    if will:
        body += b"\x00\x03w/t\x00\x02hi"
    return bytes((0x10, len(body))) + body


def _pub(topic, payload=b"x"):
    t = topic.encode()
    body = bytes((0, len(t))) + t + payload
    return bytes((0x30, len(body))) + body


def test_every_event_kind_reaches_the_sink_in_order(broker_factory, sinks):
    sp = free_port()
    sink = sinks(sp)
    b = broker_factory(_conf(sp, "capture_stats_interval 1\ncapture_payload base64\n"))
    _mqtt(b.port, _connect("c1") + b"\x82\x08\x00\x01\x00\x03a/b\x01"
          + b"\xa2\x07\x00\x02\x00\x03a/b" + _pub("a/b", b"msg") + _pub("$x/y") + b"\xe0\x00")
    _mqtt(b.port, _connect("c2", will=True) + b"\xff\x00")  # protocol error: the will goes
    s = socket.create_connection((HOST, b.port), timeout=5)
    s.close()  # no CONNECT: no record
    sink.wait_for(lambda r: any(x["event"]["action"] == "stats" for x in r))
    b.stop()
    recs = sink.wait_for(lambda r: r and r[-1]["event"]["action"] == "shutdown")
    acts = [r["event"]["action"] for r in recs]
    assert acts[0] == "startup" and acts[-1] == "shutdown", acts
    core = [a for a in acts if a != "stats"]
    assert core == ["startup", "connect", "subscribe", "unsubscribe", "publish", "publish",
                    "disconnect", "connect", "disconnect", "will", "shutdown"], acts
    assert "stats" in acts
    assert _seqs(recs) == list(range(1, len(recs) + 1))
    pubs = [r for r in recs if r["event"]["action"] == "publish"]
    assert pubs[0]["mqtt"]["payload"] == "bXNn" and pubs[0]["event"]["outcome"] == "success"
    assert pubs[1]["event"]["outcome"] == "failure"
    discs = [r for r in recs if r["event"]["action"] == "disconnect"]
    assert discs[0]["event"]["reason"] == "client disconnect"
    assert discs[1]["event"]["reason"].startswith("protocol error")
    assert all(r["observer"]["name"] == socket.gethostname() for r in recs)


def test_hicap_env_variables_turn_capture_on_in_the_forks_format(tmp_path, sinks):
    sp = free_port()
    sink = sinks(sp)
    port = free_port()
    env = dict(os.environ, HICAP_HOST="127.0.0.1", HICAP_PORT=str(sp))
    conf = tmp_path / "h.conf"
    conf.write_text("listener %d 127.0.0.1\nallow_anonymous true\ncapture_format hicap\n" % port)
    log = open(str(tmp_path / "h.log"), "wb")
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "ports", "cpython", "main.py"),
                          "-c", str(conf)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        _mqtt(port, _connect("pub-1") + _pub("sensors/t1", b"msg") + b"\xe0\x00")
        recs = sink.wait_for(lambda r: len(r) >= 4)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(10)
        log.close()
    acts = [r["mqtt"]["action"] for r in recs]
    assert acts[:4] == ["STARTUP", "CONNECT", "PUBLISH", "DISCONNECT"], acts
    pub = recs[2]["mqtt"]
    assert pub["topic"] == "sensors/t1" and pub["payload"] == "bXNn" and pub["port"] == port
    assert pub["tsUTC"].endswith("Z (GMT)")


def test_receiver_absent_at_start_then_started_gets_every_record_in_order(broker_factory, sinks):
    sp = free_port()
    b = broker_factory(_conf(sp))
    for i in range(20):
        _mqtt(b.port, _connect("a%d" % i) + _pub("t/%d" % i) + b"\xe0\x00", read=False)
    assert b.wait_for_log("unreachable")
    sink = sinks(sp)
    recs = sink.wait_for(lambda r: len(r) >= 61, timeout=20)
    assert _seqs(recs) == list(range(1, 62)), _seqs(recs)  # startup + 20 x 3


def test_receiver_killed_and_restarted_records_arrive_once_in_order(broker_factory, sinks):
    sp = free_port()
    sink = sinks(sp)
    b = broker_factory(_conf(sp))
    _mqtt(b.port, _connect("k1") + _pub("before") + b"\xe0\x00")
    sink.wait_for(lambda r: len(r) >= 4)
    sink.stop(signal.SIGKILL)
    for i in range(10):
        _mqtt(b.port, _connect("k%d" % i) + _pub("during") + b"\xe0\x00", read=False)
    # MQTT keeps being served while the receiver is gone
    assert _mqtt(b.port, _connect("alive")).startswith(b"\x20\x02\x00\x00")
    sink2 = sinks(sp)
    recs = sink2.wait_for(lambda r: r and r[-1]["event"]["sequence"] >= 36, timeout=20)
    seqs = _seqs(sink.records()) + _seqs(recs)
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs  # once, in order
    assert seqs[-1] == 36
    assert [r for r in recs if r["event"]["action"] == "connect"
            and r["mqtt"]["client_id"] == "alive"]


def _pump(pub, sub, payload, n):
    """n publishes through the broker; returns how many the subscriber got."""
    pub.sendall(b"".join([_pub("big", payload) for _ in range(n)]))
    buf = b""
    while buf.count(payload) < n:
        d = sub.recv(65536)
        assert d, "subscriber connection closed"
        buf += d
    return buf.count(payload)


def test_blackholed_receiver_never_blocks_the_broker_and_memory_stays_bounded(broker_factory,
                                                                              sinks):
    sp = free_port()
    sinks(sp, "--blackhole", "--rcvbuf", "4096")
    b = broker_factory(_conf(sp, "capture_queue_size 4096\n"))
    sub = socket.create_connection((HOST, b.port), timeout=5)
    sub.sendall(_connect("sub") + b"\x82\x08\x00\x01\x00\x03big\x00")
    assert sub.recv(4) == b"\x20\x02\x00\x00"
    payload = b"p" * 100
    pub = socket.create_connection((HOST, b.port), timeout=5)
    pub.sendall(_connect("pub"))
    sub.settimeout(10)
    # every message delivered while the capture receiver reads nothing
    assert _pump(pub, sub, payload, 300) == 300
    rss0 = rss_kb(b.proc.pid)
    # 20,000 more records (~8 MB of JSON) may only replace each other in the 4 KB queue
    for _ in range(10):
        assert _pump(pub, sub, payload, 2000) == 2000
    grew = rss_kb(b.proc.pid) - rss0
    assert grew < 2048, "broker grew by %d KiB with a black-holed receiver" % grew
    pub.close()
    sub.close()
    assert b.proc.poll() is None


def test_slow_receiver_gets_records_in_order_and_gaps_equal_reported_drops(broker_factory,
                                                                           sinks):
    sp = free_port()
    sink = sinks(sp, "--slow", "1024", "--rcvbuf", "2048")
    b = broker_factory(_conf(sp, "capture_queue_size 2048\ncapture_stats_interval 1\n"))
    # the CONNACK read: closing with unread bytes would reset the connection, and the
    # broker would lose the publishes it had not read yet
    c, rc = mqttc.raw_connect(HOST, b.port, "fast", timeout=5)
    assert rc == 0
    # many more records than the ring and both sockets' buffers hold: drops are certain
    # even when a loaded machine lets the receiver keep up with a few hundred
    for i in range(1000):
        c.sendall(_pub("t/%d" % i))
    c.sendall(b"\xe0\x00")
    c.close()
    check_gaps_are_counted_drops(sink, 1000)


def _openssl(*args, cwd):
    subprocess.run(("openssl",) + args, cwd=cwd, check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A test CA, a receiver certificate for 127.0.0.1 signed by it, and an unrelated CA."""
    d = str(tmp_path_factory.mktemp("certs"))
    for ca in ("ca", "other"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca + ".key",
                 "-out", ca + ".pem", "-days", "2", "-subj", "/CN=test %s" % ca, cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "sink.key", "-out", "sink.csr",
             "-subj", "/CN=127.0.0.1", cwd=d)
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "sink.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "sink.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    return {k: os.path.join(d, k) for k in ("ca.pem", "other.pem", "sink.pem", "sink.key")}


def test_capture_tls_sends_every_record_over_a_verified_tls_connection(broker_factory, sinks,
                                                                         certs):
    sp = free_port()
    sink = sinks(sp, "--tls-cert", certs["sink.pem"], "--tls-key", certs["sink.key"])
    b = broker_factory(_conf(sp, "capture_tls true\ncapture_cafile %s\n" % certs["ca.pem"]))
    for i in range(5):
        _mqtt(b.port, _connect("t%d" % i) + _pub("tls/%d" % i) + b"\xe0\x00", read=False)
    recs = sink.wait_for(lambda r: len(r) >= 16)
    assert _seqs(recs) == list(range(1, 17))
    assert [r["mqtt"]["topic"] for r in recs if r["event"]["action"] == "publish"] == \
        ["tls/%d" % i for i in range(5)]
    assert "over TLS" in b.log()


def test_capture_tls_refuses_a_receiver_whose_certificate_the_cafile_does_not_sign(
        broker_factory, sinks, certs):
    sp = free_port()
    sink = sinks(sp, "--tls-cert", certs["sink.pem"], "--tls-key", certs["sink.key"])
    b = broker_factory(_conf(sp, "capture_tls true\ncapture_cafile %s\n" % certs["other.pem"]))
    _mqtt(b.port, _connect("x") + b"\xe0\x00", read=False)
    assert b.wait_for_log("TLS handshake failed")
    assert "CERTIFICATE_VERIFY_FAILED" in b.log()
    # the broker keeps serving MQTT and nothing reached the receiver unverified
    assert _mqtt(b.port, _connect("alive")).startswith(b"\x20\x02\x00\x00")
    time.sleep(0.5)
    assert sink.records() == []


def test_capture_cafile_that_cannot_be_read_stops_the_broker_with_a_clear_error(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("listener %d 127.0.0.1\ncapture_address 127.0.0.1:1\ncapture_tls true\n"
                    "capture_cafile %s\n" % (free_port(), tmp_path / "missing.pem"))
    r = subprocess.run([sys.executable, os.path.join(ROOT, "ports", "cpython", "main.py"),
                        "-c", str(conf)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "Error: capture: cannot load capture_cafile %s" % (tmp_path / "missing.pem") \
        in r.stderr, r.stderr
