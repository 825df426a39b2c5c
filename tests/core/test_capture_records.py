"""Capture records: the fork's exact format, the ECS format, escaping, and the drop counter."""

import json

from core.broker import Broker
from core.config import parse_config
from core.capture import json as J
from core.capture.conf import QUEUE_SIZE
from capturing import attach, drain

WALL = 1527586200000  # 2018-05-29T09:30:00Z, the fork's documented example time
FORK_PUBLISH = ('{"mqtt": {"action": "PUBLISH", "topic": "sensors/t1", "clientIP": "172.17.0.1", '
                '"port": 1883, "clientID": "pub-1", "tsUTC": "2018-05-29T09:30:00Z (GMT)", '
                '"tsLocal": "2018-05-29T11:30:00+0200 (CEST)", "payload": "bXNn"}}')


def _setup(extra="", wall=WALL, queue=None):
    cfg = parse_config("listener 1883\nallow_anonymous true\ncapture_address 127.0.0.1:5555\n"
                       + extra)
    b = Broker(cfg)
    cap = attach(cfg, b, "edge-1", wall=(lambda: wall) if wall is not None else None,
                 tz=lambda s: (7200, "CEST"), queue_size=queue or QUEUE_SIZE)
    b.tick(0)
    return b, cap


def _connect(b, cid, ip="172.17.0.1", user=None, keepalive=60):
    conn = b.open(b.cfg.listeners[0], ip, 40000)
    cidb = cid.encode()
    flags = 2 | (0x80 if user is not None else 0)
    body = b"\x00\x04MQTT\x04" + bytes((flags, keepalive >> 8, keepalive & 255))
    body += bytes((len(cidb) >> 8, len(cidb) & 255)) + cidb
    if user is not None:
        body += bytes((len(user) >> 8, len(user) & 255)) + user
    b.received(conn, bytes((0x10, len(body))) + body)
    return conn


def _publish(b, conn, topic, payload, b0=0x30, pid=0):
    t = topic.encode()
    body = bytes((len(t) >> 8, len(t) & 255)) + t
    if pid:
        body += bytes((pid >> 8, pid & 255))
    body += payload
    b.received(conn, bytes((b0, len(body))) + body)


def _lines(cap):
    return [l for l in drain(cap.ring).decode().split("\n") if l]


def test_hicap_publish_record_is_byte_for_byte_the_forks_documented_example():
    b, cap = _setup("capture_format hicap\n")
    conn = _connect(b, "pub-1")
    _publish(b, conn, "sensors/t1", b"msg")
    lines = _lines(cap)
    assert lines[1] == FORK_PUBLISH, lines[1]


def test_hicap_connect_accepted_and_refused_fields_and_values():
    b, cap = _setup("capture_format hicap\n")
    _connect(b, "c1")
    b2 = Broker(parse_config("listener 1883\nallow_anonymous false\n"
                             "capture_address 127.0.0.1\ncapture_format hicap\n"))
    cap2 = attach(b2.cfg, b2, "x", wall=lambda: WALL, tz=lambda s: (7200, "CEST"))
    b2.tick(0)
    _connect(b2, "c2")
    acc = json.loads(_lines(cap)[0])["mqtt"]
    ref = json.loads(_lines(cap2)[0])["mqtt"]
    assert acc == {"action": "CONNECT", "clientIP": "172.17.0.1", "port": 1883, "clientID": "c1",
                   "tsUTC": "2018-05-29T09:30:00Z (GMT)",
                   "tsLocal": "2018-05-29T11:30:00+0200 (CEST)",
                   "success": True, "state": "ACCEPTED"}, acc
    assert ref["success"] is False and ref["state"] == "REFUSED"
    assert ref["errCode"] == 5 and ref["reason"] == "CONNACK_REFUSED_NOT_AUTHORIZED", ref


def test_hicap_subscribe_disconnect_startup_records():
    b, cap = _setup("capture_format hicap\n")
    cap.startup([(None, 1883)])
    conn = _connect(b, "s1")
    b.received(conn, b"\x82\x08\x00\x01\x00\x03a/b\x01")
    b.received(conn, b"\xe0\x00")
    cap.shutdown([(None, 1883)])
    lines = _lines(cap)
    assert lines[0] == '{"mqtt": {"action": "STARTUP", "listeners": [{"bind": "", "port": 1883}]}}'
    sub = json.loads(lines[2])["mqtt"]
    assert sub == {"action": "SUBSCRIBE", "topic": "a/b", "clientIP": "172.17.0.1", "port": 1883,
                   "clientID": "s1", "tsUTC": "2018-05-29T09:30:00Z (GMT)",
                   "tsLocal": "2018-05-29T11:30:00+0200 (CEST)"}, sub
    disc = json.loads(lines[3])["mqtt"]
    assert disc["action"] == "DISCONNECT" and "reason" not in disc and disc["clientID"] == "s1"
    assert json.loads(lines[4]) == {"mqtt": {"action": "SHUTDOWN",
                                             "listeners": [{"bind": "", "port": 1883}]}}
    assert len(lines) == 5


def test_hicap_empty_payload_is_null():
    b, cap = _setup("capture_format hicap\n")
    conn = _connect(b, "p")
    _publish(b, conn, "t", b"")
    assert json.loads(_lines(cap)[1])["mqtt"]["payload"] is None


def test_ecs_connect_record_fields():
    b, cap = _setup("capture_broker_id site-7\n")
    _connect(b, "dev1", user=b"alice", keepalive=30)
    r = json.loads(_lines(cap)[0])
    assert r["@timestamp"] == "2018-05-29T09:30:00.000Z"
    assert r["event"]["action"] == "connect" and r["event"]["outcome"] == "success"
    assert r["event"]["sequence"] == 1
    assert r["observer"]["name"] == "site-7"
    assert r["client"] == {"ip": "172.17.0.1", "port": 40000}
    assert r["user"] == {"name": "alice"} and r["server"] == {"port": 1883}
    m = r["mqtt"]
    assert m["client_id"] == "dev1" and m["protocol_version"] == 4 and m["keepalive"] == 30
    assert m["clean_session"] is True and m["will"] is False and m["connack_code"] == 0


def test_ecs_refused_connect_has_reason_code_and_text():
    cfg = parse_config("listener 1883\nallow_anonymous false\ncapture_address 10.0.0.1:1\n")
    b = Broker(cfg)
    cap = attach(cfg, b, "h", wall=lambda: WALL)
    b.tick(0)
    _connect(b, "bad")
    d, r = [json.loads(l) for l in _lines(cap)]
    assert d["event"]["action"] == "denied" and d["mqtt"]["denied"] == "login"
    assert r["event"]["outcome"] == "failure" and r["event"]["reason"] == "not allowed to connect"
    assert r["mqtt"]["connack_code"] == 5 and r["mqtt"]["connack_reason"] == "not authorized"


def test_ecs_publish_dropped_records_why_and_payload_policies():
    b, cap = _setup("capture_payload base64\ncapture_payload_limit 4\n")
    conn = _connect(b, "p")
    _publish(b, conn, "a/b", b"123456", b0=0x33, pid=7)
    _publish(b, conn, "$SYS/x", b"z")
    lines = _lines(cap)
    p = json.loads(lines[1])
    assert p["mqtt"]["qos"] == 1 and p["mqtt"]["retain"] is True and p["mqtt"]["dup"] is False
    assert p["mqtt"]["packet_id"] == 7 and p["mqtt"]["payload_size"] == 6
    assert p["mqtt"]["payload"] == "MTIzNA==" and p["mqtt"]["payload_truncated"] is True
    d = json.loads(lines[2])
    assert d["event"]["outcome"] == "failure"
    assert d["event"]["reason"] == "clients may not publish to $ topics"


def test_ecs_payload_none_by_default_and_sha256_on_request():
    b, cap = _setup()
    conn = _connect(b, "p")
    _publish(b, conn, "t", b"hello")
    m = json.loads(_lines(cap)[1])["mqtt"]
    assert "payload" not in m and m["payload_size"] == 5
    b, cap = _setup("capture_payload sha256\n")
    conn = _connect(b, "p")
    _publish(b, conn, "t", b"hello")
    m = json.loads(_lines(cap)[1])["mqtt"]
    assert m["payload_sha256"] == \
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


def test_capture_topic_filters_publishes_only():
    b, cap = _setup("capture_topic keep/#\n")
    conn = _connect(b, "p")
    _publish(b, conn, "keep/a", b"1")
    _publish(b, conn, "other", b"2")
    topics = [json.loads(l)["mqtt"].get("topic") for l in _lines(cap)]
    assert topics == [None, "keep/a"], topics


def test_capture_events_selects_kinds():
    b, cap = _setup("capture_events publish,disconnect\n")
    conn = _connect(b, "p")
    _publish(b, conn, "t", b"1")
    b.received(conn, b"\xe0\x00")
    acts = [json.loads(l)["event"]["action"] for l in _lines(cap)]
    assert acts == ["publish", "disconnect"], acts


def test_ecs_disconnect_reason_duration_and_counters():
    b, cap = _setup()
    conn = _connect(b, "d", keepalive=1)
    b.tick(1000)
    b.tick(2000)
    b.tick(3000)
    r = json.loads(_lines(cap)[1])
    assert r["event"]["action"] == "disconnect"
    assert r["event"]["reason"] == "keepalive timeout"
    assert r["event"]["duration"] == 2000 * 1000000, r["event"]
    assert r["mqtt"]["rx_packets"] == 1 and r["mqtt"]["rx_bytes"] == 15


def test_will_subscribe_unsubscribe_records():
    b, cap = _setup()
    conn = b.open(b.cfg.listeners[0], "1.2.3.4", 1)
    body = b"\x00\x04MQTT\x04\x2e\x00\x3c\x00\x01w\x00\x03w/t\x00\x02hi"
    b.received(conn, bytes((0x10, len(body))) + body)
    b.received(conn, b"\x82\x08\x00\x01\x00\x03a/b\x02")
    b.received(conn, b"\xa2\x07\x00\x02\x00\x03a/b")
    b.closed(conn)
    recs = [json.loads(l) for l in _lines(cap)]
    acts = [r["event"]["action"] for r in recs]
    assert acts == ["connect", "subscribe", "unsubscribe", "disconnect", "will"], acts
    assert recs[0]["mqtt"]["will"] is True
    assert recs[1]["mqtt"]["topic_filter"] == "a/b" and recs[1]["mqtt"]["granted_qos"] == 2
    assert recs[3]["event"]["reason"] == "socket closed"
    w = recs[4]["mqtt"]
    assert w["topic"] == "w/t" and w["qos"] == 1 and w["retain"] is True and w["payload_size"] == 2


def test_client_block_of_a_closed_connection_is_not_kept_and_later_records_repeat_it():
    b, cap = _setup()
    for i in range(50):
        conn = b.open(b.cfg.listeners[0], "1.2.3.4", i)
        body = b"\x00\x04MQTT\x04\x06\x00\x3c\x00\x02c%d\x00\x03w/t\x00\x02hi" % (i % 10)
        b.received(conn, bytes((0x10, len(body))) + body)
        _publish(b, conn, "a/b", b"m")
        b.closed(conn)
    assert cap._clients == {}  # one cached client block per open connection, none after
    recs = [json.loads(l) for l in _lines(cap)]
    assert [r["event"]["action"] for r in recs[-4:]] == ["connect", "publish", "disconnect",
                                                         "will"]
    assert len(set(json.dumps(r["client"]) + json.dumps(r["mqtt"]["client_id"])
                   for r in recs[-4:])) == 1


def test_no_wall_clock_gives_flag_and_uptime_instead_of_timestamp():
    b, cap = _setup(wall=None)
    b.tick(1500)
    _connect(b, "n")
    r = json.loads(_lines(cap)[0])
    assert "@timestamp" not in r
    assert r["mqtt"]["clock_synced"] is False and r["mqtt"]["uptime_ms"] == 1500


def test_escaper_keeps_invalid_utf8_visible_and_json_valid():
    out = bytearray()
    J.string(out, b'a"\\\n\x01\xff\xc3\xa9')
    assert json.loads(bytes(out).decode()) == 'a"\\\n\x01\\xff\\xc3\\xa9'
    out = bytearray()
    J.string(out, "caf\u00e9 \u2603 \"q\"\t")
    assert json.loads(bytes(out).decode()) == "caf\u00e9 \u2603 \"q\"\t"


def test_iso_timestamps_across_leap_day_and_epoch():
    for ms, text in ((0, "1970-01-01T00:00:00.000Z"), (951782400999, "2000-02-29T00:00:00.999Z"),
                     (4102444799001, "2099-12-31T23:59:59.001Z")):
        out = bytearray()
        J.iso_ms(out, ms)
        assert bytes(out).decode() == '"%s"' % text, (bytes(out), text)


def test_drop_count_is_reported_in_next_record_and_sequence_shows_the_gap():
    b, cap = _setup(queue=1024)
    conn = _connect(b, "p")
    for i in range(30):
        _publish(b, conn, "t/%d" % i, b"x")
    dropped = cap.dropped()
    assert dropped > 0
    recs = [json.loads(l) for l in _lines(cap)]
    seqs = [r["event"]["sequence"] for r in recs]
    assert seqs == list(range(32 - len(seqs), 32)), seqs  # the newest survive, in order
    assert 31 - len(seqs) == dropped  # every missing sequence number is counted
    assert 0 < recs[-1]["mqtt"]["capture_dropped"] <= dropped
    cap.stats()  # the ring is empty now: this record is not itself a cause of drops
    st = json.loads(_lines(cap)[0])
    assert st["event"]["action"] == "stats" and st["mqtt"]["capture_dropped"] == dropped


def _without_sequence(line):
    """A record line with its event.sequence value replaced by 0 (to compare two records)."""
    seq = json.loads(line)["event"]["sequence"]
    return line.replace('"sequence":%d,' % seq, '"sequence":0,')


def _general_and_fast_publish(extra, topic, payload, b0, pid=0, user=None, queue=None):
    """(general, fast) record lines of the same publish: with connect records off, a client's
    first publish takes the general path (and caches its client block), the next the fast one."""
    b, cap = _setup("capture_events publish\n" + extra, queue=queue)
    conn = _connect(b, "dev \"1\"", user=user)
    _publish(b, conn, topic, payload, b0=b0, pid=pid)
    _publish(b, conn, topic, payload, b0=b0 | (8 if b0 & 6 else 0), pid=pid + 1 if pid else 0)
    _publish(b, conn, topic, payload, b0=b0, pid=pid)
    lines = _lines(cap)
    return lines, cap


def test_ecs_publish_fast_path_writes_the_general_paths_bytes():
    for extra, topic, payload, b0, pid, user in (
            ("", "a/b", b"123", 0x30, 0, None),
            ("", "caf\u00e9/\"q\"\\", b"", 0x31, 0, b"alice"),
            ("capture_payload base64\ncapture_payload_limit 2\n", "t", b"abcdef", 0x32, 9, None),
            ("capture_payload sha256\n", "t", b"hello", 0x35, 65534, b"bob")):
        lines, cap = _general_and_fast_publish(extra, topic, payload, b0, pid, user)
        assert len(lines) == 3, lines
        general, dup, fast = lines
        # the third publish repeats the first (the second differs in dup and packet id)
        assert _without_sequence(fast) == _without_sequence(general), (general, fast)
        assert json.loads(general)["event"]["sequence"] == 1
        assert json.loads(fast)["event"]["sequence"] == 3
        m = json.loads(dup)["mqtt"]
        assert m["topic"] == topic and m["payload_size"] == len(payload)
        assert m["dup"] is bool(b0 & 6) and m.get("packet_id") == (pid + 1 if pid else None)
        assert cap.records == 3


def test_ecs_publish_fast_path_reports_drops_like_the_general_path():
    b, cap = _setup(queue=2048)
    conn = _connect(b, "p")
    for i in range(40):
        _publish(b, conn, "t/%d" % (i % 3), b"x" * i, b0=0x32 if i % 2 else 0x30,
                 pid=i + 1 if i % 2 else 0)
    recs = [json.loads(l) for l in _lines(cap)]
    seqs = [r["event"]["sequence"] for r in recs]
    assert seqs == list(range(42 - len(seqs), 42)), seqs
    assert cap.dropped() == 41 - len(seqs) > 0
    # counts never fall, never exceed the gap before their record, and the newest's is the total
    counts = [r["mqtt"].get("capture_dropped", 0) for r in recs]
    assert counts == sorted(counts) and counts[0] <= seqs[0] - 1, counts
    assert counts[-1] == cap.dropped()
    for r in recs:
        m = r["mqtt"]
        i = r["event"]["sequence"] - 2
        assert m["topic"] == "t/%d" % (i % 3) and m["payload_size"] == i
        assert m["qos"] == (1 if i % 2 else 0) and m.get("packet_id") == (i + 1 if i % 2 else None)
