"""Password files (mosquitto_passwd format), PBKDF2/HMAC, and login checks with the brake."""

import hashlib

from core import passwd
from core import auth
from core.passwd import parse_passwd, PasswdError, make_hash, pbkdf2, hmac_digest
from harness import Harness, Client, raised

# Made by Debian's mosquitto_passwd 2.0.11: alice / secret ($7$) and carol / pw6 ($6$).
MOSQ_7 = ("alice:$7$101$PayMBTnSB/nantfD$TgyJSlozWyjCWMLAROOu/tEdh+bMFcBOxgH/skg63cYLK"
          "UZDghZGhIqR8WPqZbZX4uBZ53mJ/pgCVevNJ1M4cQ==")
MOSQ_6 = ("carol:$6$ZUSuuxiccNhAMpYF$FTqQI4Ep9VEtAVUakLgQVp1n3P6nvHKxkhN7nCBLsfkR+fkW+4QCSjp"
          "JOzQU5+NEzYIoNMvDyBLlqR1H+4XKsA==")
SALT = b"0123456789ab"


def _hex(b):
    return "".join("%02x" % c for c in b)


def error_of(text, filename="pw"):
    return raised(PasswdError, parse_passwd, text, filename)


# ---------------------------------------------------------------- primitives

def test_hmac_sha256_matches_rfc_4231_case_2():
    d = hmac_digest(hashlib.sha256, 64, b"Jefe", b"what do ya want for nothing?")
    assert _hex(d) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_pbkdf2_sha256_hand_written_matches_rfc_7914_vectors():
    f = passwd._pbkdf2_hand
    assert _hex(f(hashlib.sha256, 64, b"passwd", b"salt", 1, 64)) == (
        "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783")
    assert _hex(f(hashlib.sha256, 64, b"password", b"salt", 2, 32)) == (
        "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43")


def test_pbkdf2_entry_point_agrees_with_hand_written_one():
    # hashlib.pbkdf2_hmac where present (CPython), ours elsewhere: same bytes either way
    a = pbkdf2("sha256", b"pw", SALT, 7, 32)
    b = passwd._pbkdf2_hand(hashlib.sha256, 64, b"pw", SALT, 7, 32)
    assert a == b


def test_long_hmac_key_is_hashed_first():
    key = b"k" * 100
    short = hashlib.sha256(key).digest()
    assert hmac_digest(hashlib.sha256, 64, key, b"m") == \
        hmac_digest(hashlib.sha256, 64, short, b"m")


def test_consttime_eq():
    assert passwd.consttime_eq(b"abc", b"abc")
    assert not passwd.consttime_eq(b"abc", b"abd")
    assert not passwd.consttime_eq(b"abc", b"ab")


def test_base64_is_strict():
    assert passwd.b64decode("YWJj") == b"abc"
    for bad in ("YWJ", "YW.j", "Y===", ""):
        try:
            passwd.b64decode(bad)
        except ValueError:
            continue
        assert False, bad


# ---------------------------------------------------------------- formats

def test_sha256_format_round_trip_and_layout():
    h = make_hash("s3cret", passwd.SHA256_PBKDF2, SALT, 20)
    parts = h.split("$")
    assert parts[:3] == ["", "8", "20"] and passwd.b64decode(parts[3]) == SALT
    assert len(passwd.b64decode(parts[4])) == 32
    p = parse_passwd("u:" + h + "\n")
    assert p.check("u", b"s3cret")
    assert not p.check("u", b"s3creT")
    assert not p.check("u", None)
    assert not p.check("nobody", b"s3cret")


def test_mosquitto_passwd_lines_verify_where_sha512_exists():
    if passwd.HAVE_SHA512:
        p = parse_passwd(MOSQ_7 + "\n" + MOSQ_6 + "\n")
        assert p.check("alice", b"secret") and not p.check("alice", b"secreT")
        assert p.check("carol", b"pw6") and not p.check("carol", b"pw7")
    else:
        e = error_of("# header\n" + MOSQ_7 + "\n", "pw")
        assert str(e).startswith("pw:2: user 'alice': hash format $7$ needs SHA-512"), str(e)
        e = error_of(MOSQ_6 + "\n", "pw")
        assert e.lineno == 1 and "needs SHA-512" in e.reason, str(e)


def test_our_sha512_formats_are_mosquitto_compatible_where_sha512_exists():
    if not passwd.HAVE_SHA512:
        return
    h7 = make_hash("pw", passwd.SHA512_PBKDF2, SALT)
    assert h7.startswith("$7$101$")
    h6 = make_hash("pw", passwd.SHA512, SALT)
    assert h6.split("$")[3] == passwd.b64encode(hashlib.sha512(b"pw" + SALT).digest())
    p = parse_passwd("a:%s\nb:%s\n" % (h7, h6))
    assert p.check("a", b"pw") and p.check("b", b"pw")


def test_comments_blank_lines_and_crlf_are_accepted():
    h = make_hash("x", passwd.SHA256_PBKDF2, SALT, 3)
    p = parse_passwd("# users\r\n\r\nbob:%s\r\n" % h)
    assert len(p) == 1 and p.check("bob", b"x")


def test_bad_lines_give_file_and_line():
    h = make_hash("x", passwd.SHA256_PBKDF2, SALT, 3)
    cases = [
        ("a:%s\nnocolon\n" % h, 2, "expected username:hash, there is no ':'"),
        (":%s\n" % h, 1, "empty username"),
        ("a:%s\na:%s\n" % (h, h), 2, "user 'a' is already defined at line 1"),
        ("a:plain\n", 1, "user 'a': password is not hashed (plain text?): hash the file "
                         "with tools/passwd.py -U"),
        ("a:$9$x$y\n", 1, "user 'a': unknown hash format $9$"),
        ("a:$8$x$%s\n" % h.split("$", 3)[3], 1, "user 'a': iteration count 'x' is not a "
                                              "number"),
        ("a:$8$0$%s\n" % h.split("$", 3)[3], 1, "user 'a': iteration count 0 is not between "
                                              "1 and 10000000"),
        ("a:$8$3$!!$AAAA\n", 1, "user 'a': salt '!!' is not valid base64"),
        ("a:$8$3$AAAA$AAAA\n", 1, "user 'a': hash is 3 bytes, $8$ needs 32"),
        ("a:$8$3$AAAA\n", 1, "user 'a': $8$ hash must be $8$ITERATIONS$SALT$HASH"),
        ("a:$argon2id$v=19$m=1$x$y\n", 1, "user 'a': hash format $argon2id$ is not "
                                          "supported: use $7$ (or $8$ for MicroPython)"),
    ]
    for text, line, reason in cases:
        e = error_of(text, "f.pw")
        assert (e.lineno, e.reason) == (line, reason), (text, e.lineno, e.reason)
        assert str(e) == "f.pw:%d: %s" % (line, reason)


def test_invalid_utf8_file_is_an_error():
    e = error_of(b"a:\xff\n", "x")
    assert str(e) == "x: file is not valid UTF-8"


# ---------------------------------------------------------------- logins (core/auth.py)

def _secured(allow_anonymous=False):
    h = Harness(allow_anonymous=allow_anonymous)
    text = "alice:%s\n" % make_hash("secret", passwd.SHA256_PBKDF2, SALT, 3)
    auth.install(h.broker, parse_passwd(text))
    return h


def _client_from(h, ip):
    port = h._next_port
    h._next_port += 1
    return Client(h, h.broker.open(h.cfg.listeners[0], ip, port), port)


def test_MQTT_3_1_3_10_good_password_is_accepted():
    h = _secured()
    ack = h.client().connect("c1", username="alice", password=b"secret")
    assert ack.rc == 0


def test_MQTT_3_2_2_5_bad_password_unknown_user_and_anonymous_are_refused_and_closed():
    h = _secured()
    for kw in ({"username": "alice", "password": b"wrong"},
               {"username": "mallory", "password": b"secret"},
               {"username": "alice"}, {}):
        c = h.client()
        ack = c.connect("c1", **kw)
        assert ack.rc == auth.BAD_LOGIN if kw else ack.rc == 5, (kw, ack)
        assert c.closing, kw


def test_anonymous_allowed_with_password_file_when_allow_anonymous_true():
    h = _secured(allow_anonymous=True)
    assert h.client().connect("anon").rc == 0
    assert h.client().connect("x", username="alice", password=b"no").rc == auth.BAD_LOGIN


def test_an_empty_user_name_is_anonymous_as_in_mosquitto():
    # mosquitto 2.0: allow_anonymous decides, whatever the password; not a failed login
    h = _secured(allow_anonymous=True)
    c = h.client()
    assert c.connect("e1", username="", password=b"anything").rc == 0
    assert c.conn.username is None
    h = _secured()
    m = h.mark()
    assert h.client().connect("e2", username="", password=b"secret").rc == 5
    assert not [l for l in h.logs_since(m) if "Failed login" in l]


def test_failed_login_is_logged_with_address_and_user():
    h = _secured()
    m = h.mark()
    _client_from(h, "192.0.2.7").connect("c9", username="alice", password=b"bad")
    lines = h.logs_since(m)
    assert [l for l in lines if "Failed login" in l and "192.0.2.7" in l and "'alice'" in l
            and "wrong password" in l], lines


def test_repeated_failures_block_that_address_only_for_a_while():
    h = _secured()
    for i in range(auth.FAIL_LIMIT):
        ack = _client_from(h, "198.51.100.1").connect("x", username="alice", password=b"no")
        assert ack.rc == auth.BAD_LOGIN
    m = h.mark()
    # blocked: even the right password is refused without being checked
    ack = _client_from(h, "198.51.100.1").connect("x", username="alice", password=b"secret")
    assert ack.rc == 5
    assert [l for l in h.logs_since(m) if "too many failed logins" in l], h.logs_since(m)
    # the same client id and user from another address are not locked out
    ack = _client_from(h, "198.51.100.2").connect("x", username="alice", password=b"secret")
    assert ack.rc == 0
    h.advance(auth.BLOCK_MS + 1000)
    ack = _client_from(h, "198.51.100.1").connect("y", username="alice", password=b"secret")
    assert ack.rc == 0


def test_failures_spread_beyond_the_window_do_not_block():
    h = _secured()
    for i in range(auth.FAIL_LIMIT + 2):
        ack = _client_from(h, "203.0.113.5").connect("x", username="alice", password=b"no")
        assert ack.rc == auth.BAD_LOGIN
        h.advance(auth.FAIL_WINDOW_MS // (auth.FAIL_LIMIT - 1) + 1000)
    ack = _client_from(h, "203.0.113.5").connect("x", username="alice", password=b"secret")
    assert ack.rc == 0


def test_reinstall_keeps_failure_counts_and_takes_new_passwords():
    h = _secured()
    for i in range(auth.FAIL_LIMIT - 1):
        _client_from(h, "192.0.2.9").connect("x", username="alice", password=b"no")
    old = h.broker.auth
    text = "alice:%s\n" % make_hash("new", passwd.SHA256_PBKDF2, SALT, 3)
    auth.install(h.broker, parse_passwd(text))
    assert h.broker.auth is old
    assert h.client().connect("a", username="alice", password=b"new").rc == 0
    assert h.client().connect("b", username="alice", password=b"secret").rc == auth.BAD_LOGIN
    # 192.0.2.9 still has its 4 failures: one more blocks it, even with the new password
    _client_from(h, "192.0.2.9").connect("x", username="alice", password=b"no")
    ack = _client_from(h, "192.0.2.9").connect("x", username="alice", password=b"new")
    assert ack.rc == 5
