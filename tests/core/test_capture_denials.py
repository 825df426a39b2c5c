"""Capture records the fork never had: login failures, ACL denials, deliveries, TLS details."""

import json

from core.broker import Broker
from core.config import parse_config
from capturing import attach, drain
from core.acl import parse_acl
from core import auth, passwd

WALL = 1527586200000
ACL = "user alice\ntopic readwrite alice/#\ntopic read public/#\n"


def _setup(extra="", acl=ACL, hicap=False):
    cfg = parse_config("listener 1883\nallow_anonymous false\ncapture_address 127.0.0.1:5555\n"
                       + ("capture_format hicap\n" if hicap else "") + extra)
    b = Broker(cfg)
    cap = attach(cfg, b, "edge-1", wall=lambda: WALL, tz=lambda s: (0, "UTC"))
    pw = "alice:%s\n" % passwd.make_hash("alicepw", passwd.SHA256_PBKDF2, b"saltsaltsalt", 2)
    auth.install(b, passwd.parse_passwd(pw), parse_acl(acl) if acl else None)
    b.tick(0)
    return b, cap


def _s(v):
    v = v.encode() if isinstance(v, str) else v
    return bytes((len(v) >> 8, len(v) & 255)) + v


def _connect(b, cid, user=None, pw=None, tls=None):
    conn = b.open(b.cfg.listeners[0], "10.0.0.9", 40000)
    if tls is not None:
        conn.tls_info = tls  # what a port sets on a TLS listener's connections
    flags = 2 | (0x80 if user is not None else 0) | (0x40 if pw is not None else 0)
    body = b"\x00\x04MQTT\x04" + bytes((flags, 0, 60)) + _s(cid)
    if user is not None:
        body += _s(user)
    if pw is not None:
        body += _s(pw)
    b.received(conn, bytes((0x10, len(body))) + body)
    return conn


def _publish(b, conn, topic, payload=b"x"):
    body = _s(topic) + payload
    b.received(conn, bytes((0x30, len(body))) + body)


def _subscribe(b, conn, f, qos=0):
    body = b"\x00\x01" + _s(f) + bytes((qos,))
    b.received(conn, bytes((0x82, len(body))) + body)


def _records(cap):
    return [json.loads(l) for l in drain(cap.ring).decode().split("\n") if l]


def _acts(recs):
    return [r["event"]["action"] for r in recs]


def test_wrong_password_gives_a_denied_login_record_before_the_refused_connect():
    b, cap = _setup()
    _connect(b, "c1", "alice", b"nope")
    _connect(b, "c2", "mallory", b"x")
    _connect(b, "c3")
    recs = _records(cap)
    assert _acts(recs) == ["denied", "connect"] * 3
    why = [(r["mqtt"]["denied"], r["event"]["reason"], r.get("user", {}).get("name"))
           for r in recs[::2]]
    assert why == [("login", "wrong password", "alice"), ("login", "unknown user", "mallory"),
                   ("login", "anonymous clients are not allowed", None)]
    assert all(r["event"]["outcome"] == "failure" and r["client"]["ip"] == "10.0.0.9"
               for r in recs)
    assert recs[1]["mqtt"]["connack_code"] == 5


def test_blocked_address_login_attempts_are_recorded_as_denied():
    b, cap = _setup()
    for i in range(auth.FAIL_LIMIT + 1):
        _connect(b, "c%d" % i, "alice", b"bad")
    recs = [r for r in _records(cap) if r["event"]["action"] == "denied"]
    assert len(recs) == auth.FAIL_LIMIT + 1
    assert recs[-1]["event"]["reason"] == "too many failed logins from this address"


def test_acl_denied_publish_and_subscribe_are_recorded_with_topic():
    b, cap = _setup()
    c = _connect(b, "a", "alice", b"alicepw")
    _publish(b, c, "alice/ok")
    _publish(b, c, "public/news")
    _subscribe(b, c, "secret/#")
    _subscribe(b, c, "alice/#", 1)
    recs = _records(cap)
    assert _acts(recs) == ["connect", "publish", "denied", "publish", "denied", "subscribe",
                           "subscribe"]
    dp, pub, ds, sub_no, sub_ok = recs[2:]
    assert (dp["mqtt"]["denied"], dp["mqtt"]["topic"]) == ("publish", "public/news")
    assert pub["event"]["outcome"] == "failure" and pub["event"]["reason"] == "denied by acl_file"
    assert (ds["mqtt"]["denied"], ds["mqtt"]["topic"]) == ("subscribe", "secret/#")
    assert sub_no["event"]["outcome"] == "failure" and sub_no["mqtt"]["granted_qos"] == 128
    assert sub_ok["event"]["outcome"] == "success" and sub_ok["mqtt"]["granted_qos"] == 1
    assert all(r["user"]["name"] == "alice" for r in recs)
    seqs = [r["event"]["sequence"] for r in recs]
    assert seqs == list(range(1, len(recs) + 1))


def test_capture_events_without_denied_keeps_denials_out():
    b, cap = _setup("capture_events connect,publish\n")
    _connect(b, "c1", "alice", b"nope")
    assert _acts(_records(cap)) == ["connect"]


def test_hicap_format_neither_records_denials_nor_shows_refused_subscriptions_as_granted():
    b, cap = _setup(hicap=True)
    c = _connect(b, "a", "alice", b"alicepw")
    _subscribe(b, c, "secret/#")
    _subscribe(b, c, "alice/x")
    _connect(b, "c1", "alice", b"nope")
    recs = _records(cap)
    assert [r["mqtt"]["action"] for r in recs] == ["CONNECT", "SUBSCRIBE", "CONNECT"]
    assert recs[1]["mqtt"]["topic"] == "alice/x"
    assert recs[2]["mqtt"]["state"] == "REFUSED"


def test_delivery_records_are_off_by_default():
    b, cap = _setup(acl=None)
    assert cap.deliveries is None
    c = _connect(b, "a", "alice", b"alicepw")
    _subscribe(b, c, "t/#")
    _publish(b, c, "t/1")
    assert "deliver" not in _acts(_records(cap))


def test_capture_deliveries_records_which_client_received_what_at_each_qos():
    b, cap = _setup("capture_deliveries true\n", acl=None)
    a = _connect(b, "a", "alice", b"alicepw")
    _subscribe(b, a, "t/#", 0)
    cap2 = _connect(b, "b", "alice", b"alicepw")
    _subscribe(b, cap2, "t/1", 1)
    body = _s("t/1") + b"\x00\x05" + b"hello"
    b.received(a, bytes((0x32, len(body))) + body)  # QoS 1: a gets QoS 0, b gets QoS 1
    _publish(b, a, "t/2", b"abc")
    recs = [r for r in _records(cap) if r["event"]["action"] == "deliver"]
    got = sorted((r["mqtt"]["client_id"], r["mqtt"]["topic"], r["mqtt"]["qos"],
                  r["mqtt"]["payload_size"]) for r in recs)
    assert got == [("a", "t/1", 0, 5), ("a", "t/2", 0, 3), ("b", "t/1", 1, 5)]
    assert all(r["mqtt"]["retain"] is False for r in recs)


def test_retained_message_sent_on_subscribe_is_a_delivery_with_retain_set():
    b, cap = _setup("capture_deliveries true\n", acl=None)
    a = _connect(b, "a", "alice", b"alicepw")
    body = _s("r/1") + b"kept"
    b.received(a, bytes((0x31, len(body))) + body)
    _subscribe(b, a, "r/#")
    d = [r for r in _records(cap) if r["event"]["action"] == "deliver"]
    assert len(d) == 1 and d[0]["mqtt"]["retain"] is True and d[0]["mqtt"]["topic"] == "r/1"


def test_tls_details_of_the_connection_are_in_the_connect_record():
    b, cap = _setup(acl=None)
    tls = {"version": "1.3", "cipher": "TLS_AES_256_GCM_SHA384", "client_cn": "dev-7",
           "client_serial": "0A1B", "client_subject": "CN=dev-7,O=Plant"}
    c = _connect(b, "a", "alice", b"alicepw", tls=tls)
    _connect(b, "p", "alice", b"alicepw")  # a plain connection has no tls object
    _publish(b, c, "alice/x")
    recs = _records(cap)
    t = recs[0]["tls"]
    assert t == {"version_protocol": "tls", "version": "1.3", "cipher": "TLS_AES_256_GCM_SHA384",
                 "client": {"x509": {"serial_number": "0A1B",
                                     "subject": {"common_name": "dev-7"}},
                            "subject": "CN=dev-7,O=Plant"}}
    assert "tls" not in recs[1] and "tls" not in recs[2]


def test_hicap_publish_carries_the_forks_ssl_fields_only_with_a_client_certificate():
    b, cap = _setup(hicap=True, acl=None)
    c = _connect(b, "a", "alice", b"alicepw", tls={"version": "1.2", "client_cn": "dev-7",
                                                    "client_serial": "0A1B"})
    d = _connect(b, "d", "alice", b"alicepw", tls={"version": "1.2"})
    _publish(b, c, "s/1", b"m")
    _publish(b, d, "s/2", b"m")
    lines = drain(cap.ring).decode().split("\n")
    assert lines[2].startswith('{"mqtt": {"action": "PUBLISH", "sslSN": "0A1B", "sslCN": "dev-7", '
                               '"topic": "s/1", "clientIP": "10.0.0.9"'), lines[2]
    assert lines[3].startswith('{"mqtt": {"action": "PUBLISH", "topic": "s/2"'), lines[3]
