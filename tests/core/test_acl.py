"""ACL files (mosquitto acl_file syntax) and their enforcement in the core."""

from core import auth
from core import passwd
from core.acl import parse_acl, AclError, overlap, covers
from harness import Harness, raised
import mqttc

ACL = """# anonymous clients
topic read public/#

user alice
topic readwrite alice/#
topic deny alice/secret
topic write log/alice
topic in/with space

user bob
topic read alice/#

pattern readwrite devices/%c/#
pattern read users/%u/inbox
"""


def error_of(text, filename="acl"):
    return raised(AclError, parse_acl, text, filename)


# ---------------------------------------------------------------- parsing and checks

def test_rules_before_the_first_user_line_are_for_anonymous_clients():
    a = parse_acl(ACL)
    assert a.can_read(None, "c", "public/x")
    assert not a.can_write(None, "c", "public/x")
    assert not a.can_read("alice", "c", "public/x")  # a user does not get anonymous rules


def test_user_rules_access_kinds_and_deny():
    a = parse_acl(ACL)
    assert a.can_read("alice", "c", "alice/a/b") and a.can_write("alice", "c", "alice/a")
    assert not a.can_read("alice", "c", "alice/secret")
    assert not a.can_write("alice", "c", "alice/secret")
    assert a.can_write("alice", "c", "log/alice") and not a.can_read("alice", "c", "log/alice")
    assert a.can_write("alice", "c", "in/with space")  # the topic is the rest of the line
    assert a.can_read("bob", "c", "alice/x") and not a.can_write("bob", "c", "alice/x")
    assert not a.can_read("carol", "c", "alice/x")


def test_patterns_substitute_client_id_and_username():
    a = parse_acl(ACL)
    assert a.can_write("bob", "dev1", "devices/dev1/t")
    assert not a.can_write("bob", "dev1", "devices/dev2/t")
    assert a.can_write(None, "dev3", "devices/dev3/t")  # %c patterns apply to anonymous too
    assert a.can_read("carol", "x", "users/carol/inbox")
    assert not a.can_read("carol", "x", "users/bob/inbox")
    assert not a.can_read(None, "x", "users//inbox")  # %u never applies without a username


def test_pattern_is_not_widened_by_wildcards_or_slashes_in_ids():
    a = parse_acl("pattern readwrite devices/%c/#\n")
    for cid in ("#", "+", "a/b"):
        assert not a.can_write(None, cid, "devices/a/b/c"), cid


def test_leading_wildcard_rule_does_not_grant_dollar_topics():
    a = parse_acl("topic read #\ntopic read $SYS/broker/#\n")
    assert a.can_read(None, "c", "x/y")
    assert not a.can_read(None, "c", "$SYS/other")
    assert a.can_read(None, "c", "$SYS/broker/uptime")


def test_subscribe_refused_only_when_nothing_could_ever_be_read():
    a = parse_acl(ACL)
    assert a.can_subscribe("alice", "c", "alice/#")
    assert a.can_subscribe("alice", "c", "#")  # granted; each delivery is filtered
    assert not a.can_subscribe("alice", "c", "alice/secret")  # wholly denied
    assert not a.can_subscribe("alice", "c", "other/#")
    assert not a.can_subscribe("alice", "c", "log/alice")  # write only
    assert not a.can_subscribe(None, "c", "$SYS/#")


def test_overlap_and_covers():
    assert overlap("a/#", "a") and overlap("a/+", "+/b") and overlap("#", "x/y")
    assert not overlap("a/+", "a/b/c") and not overlap("#", "$SYS/x")
    assert covers("a/#", "a/+/c") and covers("+/b", "x/b") and covers("a/#", "a")
    assert not covers("a/+", "a/#") and not covers("a/b", "a/+") and not covers("#", "$x")


def test_bad_lines_give_file_and_line():
    cases = [
        ("user alice\nfrobnicate x\n", 2, "unknown keyword 'frobnicate': expected topic, "
                                          "pattern or user"),
        ("topic\n", 1, "'topic' needs a value"),
        ("user\n", 1, "'user' needs a value"),
        ("topic read\n", 1, "'topic read' needs a topic"),
        ("topic readwrite a/#/b\n", 1, "invalid topic 'a/#/b': '#' not alone in the last "
                                       "level of filter 'a/#/b'"),
    ]
    for text, line, reason in cases:
        e = error_of(text, "f.acl")
        assert (e.lineno, e.reason) == (line, reason), (text, e.lineno, e.reason)
        assert str(e) == "f.acl:%d: %s" % (line, reason)


# ---------------------------------------------------------------- enforcement in the broker

def _broker(acl_text=ACL):
    h = Harness(allow_anonymous=True)
    pw = "".join("%s:%s\n" % (u, passwd.make_hash(u + "pw", passwd.SHA256_PBKDF2,
                                                   b"saltsaltsalt", 2))
                 for u in ("alice", "bob", "carol"))
    auth.install(h.broker, passwd.parse_passwd(pw), parse_acl(acl_text))
    return h


def test_a_client_with_an_empty_user_name_gets_the_anonymous_rules():
    h = _broker("topic read anon/#\n\nuser alice\ntopic readwrite #\n")
    s = h.connected("s", username="", password=b"x")
    assert s.subscribe([("anon/#", 0), ("alice/#", 0)]) == [0, 0x80]


def _login(h, cid, user):
    return h.connected(cid, username=user, password=(user + "pw").encode())


def test_MQTT_3_9_3_denied_filter_gets_0x80_others_granted():
    h = _broker()
    a = _login(h, "a", "alice")
    m = h.mark()
    assert a.subscribe([("alice/#", 1), ("other/#", 0), ("alice/secret", 2)]) == [1, 0x80, 0x80]
    assert [l for l in h.logs_since(m) if "Denied subscription" in l and "other/#" in l]
    assert "other/#" not in a.conn.session.subs


def test_MQTT_3_3_5_2_denied_publish_is_acknowledged_but_not_delivered_and_logged():
    h = _broker()
    s = _login(h, "s", "alice")
    assert s.subscribe([("#", 0)]) == [0]
    b = _login(h, "b", "bob")
    m = h.mark()
    for qos in (0, 1, 2):
        b.publish("alice/x", b"no", qos=qos, pid=qos or None)  # asserts PUBACK / PUBREC
    assert s.publishes() == []
    assert len([l for l in h.logs_since(m) if "denied by acl_file" in l]) == 3


def test_denied_retained_publish_is_not_stored():
    h = _broker()
    b = _login(h, "b", "bob")
    b.publish("alice/r", b"x", qos=1, retain=True)
    a = _login(h, "a", "alice")
    a.subscribe([("alice/#", 0)])
    assert a.extra == [] and a.publishes() == []


def test_delivery_is_filtered_by_the_receivers_read_rights():
    h = _broker()
    a = _login(h, "a", "alice")
    assert a.subscribe([("#", 1)]) == [1]
    b = _login(h, "b", "bob")
    assert b.subscribe([("alice/#", 1)]) == [1]
    anon = h.connected("anon")
    assert anon.subscribe([("#", 0)]) == [0]
    w = _login(h, "w", "alice")
    w.publish("alice/secret", b"s", qos=1)
    w.publish("alice/ok", b"k", qos=1)
    assert [p.payload for p in a.publishes()] == [b"k"]
    assert [p.payload for p in b.publishes()] == [b"k"]
    assert anon.publishes() == []


def test_offline_session_is_filtered_by_its_last_username():
    h = _broker()
    b = h.client()
    assert b.connect("bq", clean=False, username="bob", password=b"bobpw").rc == 0
    assert b.subscribe([("#", 1)]) == [1]
    b.drop()
    a = _login(h, "a", "alice")
    a.publish("alice/q", b"1", qos=1)
    a.publish("alice/secret", b"2", qos=1)
    b2 = h.client()
    assert b2.connect("bq", clean=False, username="bob", password=b"bobpw").rc == 0
    got = [p for p in b2.after_connack + b2.packets() if p.type == mqttc.PUBLISH]
    assert [p.payload for p in got] == [b"1"], got


def test_retained_messages_on_subscribe_are_filtered_by_read_rights():
    h = _broker("topic readwrite #\nuser alice\ntopic readwrite #\ntopic deny x/hidden\n")
    p = h.connected("p")
    p.publish("x/shown", b"1", qos=1, retain=True)
    p.publish("x/hidden", b"2", qos=1, retain=True)
    a = _login(h, "a", "alice")
    assert a.subscribe([("x/#", 0)]) == [0]
    assert [q.payload for q in a.extra if q.type == mqttc.PUBLISH] == [b"1"]


def test_will_on_a_topic_the_client_may_not_write_is_not_published():
    h = _broker()
    s = _login(h, "s", "alice")
    assert s.subscribe([("alice/#", 0)]) == [0]
    b = h.client()
    assert b.connect("bw", will=("alice/will", b"w", 0, False), username="bob",
                     password=b"bobpw").rc == 0
    m = h.mark()
    b.drop()
    assert s.publishes() == []
    assert [l for l in h.logs_since(m) if "Denied will" in l]
    c = h.client()
    assert c.connect("cw", will=("alice/will", b"w2", 0, False), username="alice",
                     password=b"alicepw").rc == 0
    c.drop()
    assert [p.payload for p in s.publishes()] == [b"w2"]


def test_reinstalled_acl_applies_to_existing_connections_at_once():
    h = _broker()
    a = _login(h, "a", "alice")
    assert a.subscribe([("alice/#", 0)]) == [0]
    a.publish("alice/1", b"1")
    assert [p.payload for p in a.publishes()] == [b"1"]
    auth.install(h.broker, h.broker.auth.passwords, parse_acl("user alice\ntopic write #\n"))
    a.publish("alice/2", b"2")
    assert a.publishes() == []  # still connected, may write, may no longer read
    assert not a.closing


def test_no_acl_means_no_filtering():
    h = Harness()
    assert h.broker.acl is None
    s = h.subscriber("s", "#")
    h.connected("p").publish("any/t", b"x")
    assert [p.payload for p in s.publishes()] == [b"x"]
