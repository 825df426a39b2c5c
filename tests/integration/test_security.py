"""password_file, acl_file, SIGHUP reload and the failed-login brake, on the real broker
process with real clients (paho-mqtt, mosquitto_pub / mosquitto_sub) and password files
made by tools/passwd.py and by Debian's mosquitto_passwd."""

import getpass
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("paho.mqtt.client")

import paho_support  # noqa: E402
from brokerproc import ROOT, broker_command  # noqa: E402

TOOL = os.path.join(ROOT, "tools", "passwd.py")
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
WAIT = 10
OURS = broker_command()[0] != "/usr/sbin/mosquitto"  # $8$, SUBACK 0x80 and the brake are ours


def tool(*args):
    """Run tools/passwd.py; returns the CompletedProcess (asserts success)."""
    r = subprocess.run([sys.executable, TOOL] + list(args), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return r


def config(pwfile=None, aclfile=None, extra="", mosquitto=not OURS):
    text = "listener {port} 127.0.0.1\nallow_anonymous false\n"
    if mosquitto:
        # mosquitto started as root drops to a user that cannot read the test's files
        text += "user %s\n" % getpass.getuser()
    if pwfile:
        text += "password_file %s\n" % pwfile
    if aclfile:
        text += "acl_file %s\n" % aclfile
    return text + extra


class Paho(paho_support.Paho):
    """A plain paho client of the broker fixture; got() gives payloads only."""

    def __init__(self, broker, user=None, password=None):
        super().__init__(broker.host, broker.port, "sec-", user=user, password=password)

    def got(self, timeout=1.0):
        """Payloads received within timeout (waiting all of it)."""
        return [payload for _, payload in super().got(timeout=timeout, gap=None)]


def connack(broker, user, password, cid="raw"):
    """CONNACK return code for a raw MQTT 3.1.1 CONNECT with username and password."""
    def s(b):
        return len(b).to_bytes(2, "big") + b
    body = s(b"MQTT") + bytes([4, 0xC2, 0, 60]) + s(cid.encode()) + s(user.encode()) + \
        s(password.encode())
    with socket.create_connection((broker.host, broker.port), timeout=WAIT) as so:
        so.sendall(bytes([0x10, len(body)]) + body)
        data = b""
        while len(data) < 4:
            chunk = so.recv(4 - len(data))
            if not chunk:
                break
            data += chunk
    assert data[:3] == b"\x20\x02\x00", data
    return data[3]


@pytest.fixture
def clients_installed():
    for path in ("/usr/bin/mosquitto_pub", "/usr/bin/mosquitto_sub", MOSQUITTO_PASSWD):
        if not os.access(path, os.X_OK):
            pytest.skip("%s is missing (Debian package mosquitto / mosquitto-clients)" % path)


# ---------------------------------------------------------------- password_file

def test_password_file_from_tools_passwd_accepts_right_and_refuses_wrong(broker_factory,
                                                                         tmp_path):
    pw = str(tmp_path / "pw")
    tool("-c", "-b", pw, "alice", "secret")
    tool("-b", pw, "bob", "hunter2")
    b = broker_factory(config(pw))
    assert Paho(b, "alice", "secret").rc == 0
    assert Paho(b, "bob", "hunter2").rc == 0
    for user, password in (("alice", "hunter2"), ("mallory", "secret")):
        rc = Paho(b, user, password).rc
        assert rc.is_failure and rc.value == 135, rc  # paho's name for 3.1.1 code 5
    assert Paho(b).rc.is_failure  # anonymous, allow_anonymous false
    if OURS:
        assert b.wait_for_log("Failed login of client")


def test_password_file_made_by_mosquitto_passwd_works_with_mosquitto_clients(
        broker_factory, tmp_path, clients_installed):
    pw = str(tmp_path / "pw")
    subprocess.run([MOSQUITTO_PASSWD, "-c", "-b", pw, "mq", "mqpw"], check=True, timeout=30)
    subprocess.run([MOSQUITTO_PASSWD, "-H", "sha512", "-b", pw, "old", "oldpw"], check=True,
                   timeout=30)
    b = broker_factory(config(pw))
    sub = subprocess.Popen(["/usr/bin/mosquitto_sub", "-h", b.host, "-p", str(b.port),
                            "-u", "mq", "-P", "mqpw", "-t", "t/#", "-C", "1", "-W", "10"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert b.wait_for_log("u'mq'") or not OURS
        time.sleep(0.3)
        r = subprocess.run(["/usr/bin/mosquitto_pub", "-h", b.host, "-p", str(b.port),
                            "-u", "old", "-P", "oldpw", "-t", "t/x", "-m", "hello", "-q", "1"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        out, err = sub.communicate(timeout=15)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait(5)
    assert out.strip() == "hello", (out, err)
    r = subprocess.run(["/usr/bin/mosquitto_pub", "-h", b.host, "-p", str(b.port),
                        "-u", "mq", "-P", "wrong", "-t", "t/x", "-m", "x"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "not authori" in r.stderr.lower(), r.stderr


def test_tools_passwd_files_are_accepted_by_mosquitto_itself(broker_factory, tmp_path,
                                                             monkeypatch):
    # The $7$ and $6$ lines we write are mosquitto's formats: the real broker agrees.
    if not os.access("/usr/sbin/mosquitto", os.X_OK):
        pytest.skip("/usr/sbin/mosquitto is missing")
    pw = str(tmp_path / "pw")
    tool("-c", "-b", pw, "seven", "s7")
    tool("-H", "sha512", "-b", pw, "six", "s6")
    monkeypatch.setenv("MQTT_TEST_BROKER", "mosquitto")
    b = broker_factory(config(pw, mosquitto=True))
    assert connack(b, "seven", "s7") == 0
    assert connack(b, "six", "s6") == 0
    assert connack(b, "seven", "s6") == 5


@pytest.mark.skipif(not OURS, reason="$8$ is this broker's format")
def test_sha256_format_and_upgraded_plain_file_work(broker_factory, tmp_path):
    pw = str(tmp_path / "pw")
    tool("--sha256", "-c", "-b", pw, "board", "b0ard")
    with open(pw, "a") as f:
        f.write("plain:text\n")
    tool("-U", pw)
    with open(pw) as f:
        lines = f.read().splitlines()
    assert lines[0].startswith("board:$8$1000$") and lines[1].startswith("plain:$7$101$")
    b = broker_factory(config(pw))
    assert connack(b, "board", "b0ard") == 0
    assert connack(b, "plain", "text") == 0
    tool("-D", pw, "plain")
    b.proc.send_signal(signal.SIGHUP)
    assert b.wait_for_log("reloaded password_file")
    assert connack(b, "plain", "text") == 5


@pytest.mark.skipif(not OURS, reason="our error wording")
def test_bad_password_file_stops_start_with_file_and_line(broker_factory, tmp_path):
    pw = str(tmp_path / "pw")
    with open(pw, "w") as f:
        f.write("# users\nalice:notahash\n")
    b = broker_factory(config(pw), wait=False)
    assert b.proc.wait(WAIT) == 1
    assert "%s:2: user 'alice': password is not hashed" % pw in b.log()
    acl = str(tmp_path / "acl")
    with open(acl, "w") as f:
        f.write("user a\ntopik x\n")
    b = broker_factory(config(aclfile=acl, extra="allow_anonymous true\n"), wait=False)
    assert b.proc.wait(WAIT) == 1
    assert "%s:2: unknown keyword 'topik'" % acl in b.log()
    b = broker_factory(config(str(tmp_path / "missing")), wait=False)
    assert b.proc.wait(WAIT) == 1
    assert "Unable to open password_file" in b.log()


# ---------------------------------------------------------------- acl_file

ACL = """topic read public/#
user alice
topic readwrite alice/#
topic deny alice/secret
user bob
topic read alice/#
topic write public/#
"""


def _secured(broker_factory, tmp_path, acl_text=ACL):
    pw = str(tmp_path / "pw")
    tool("-c", "-b", pw, "alice", "apw")
    tool("-b", pw, "bob", "bpw")
    acl = str(tmp_path / "acl")
    with open(acl, "w") as f:
        f.write(acl_text)
    return broker_factory(config(pw, acl)), pw, acl


def test_acl_filters_publish_and_delivery(broker_factory, tmp_path):
    b, _, _ = _secured(broker_factory, tmp_path)
    a = Paho(b, "alice", "apw")
    bob = Paho(b, "bob", "bpw")
    assert a.subscribe("alice/#", 1) == [1]
    assert bob.subscribe("alice/#", 1) == [1]
    bob.publish("alice/x", b"from-bob", 1)  # acknowledged, but bob may not write there
    a.publish("alice/secret", b"hidden", 1)  # alice may not even read her own secret
    a.publish("alice/x", b"ok", 1)
    assert a.got() == [b"ok"]
    assert bob.got() == [b"ok"]
    if OURS:
        assert b.wait_for_log("denied by acl_file")


@pytest.mark.skipif(not OURS, reason="mosquitto 2.0.11 grants every subscription")
def test_MQTT_3_9_3_acl_denied_filter_gets_suback_0x80(broker_factory, tmp_path):
    b, _, _ = _secured(broker_factory, tmp_path)
    a = Paho(b, "alice", "apw")
    assert a.subscribe("other/#", 1) == [0x80]
    assert a.subscribe("alice/+", 1) == [1]


# ---------------------------------------------------------------- SIGHUP

@pytest.mark.skipif(not OURS, reason="our log wording")
def test_sighup_reloads_files_and_keeps_connections(broker_factory, tmp_path):
    b, pw, acl = _secured(broker_factory, tmp_path)
    a = Paho(b, "alice", "apw")
    assert a.subscribe("alice/#", 1) == [1]
    tool("-b", pw, "carol", "cpw")
    with open(acl, "a") as f:
        f.write("user carol\ntopic write alice/#\n")
    assert connack(b, "carol", "cpw") == 5
    b.proc.send_signal(signal.SIGHUP)
    assert b.wait_for_log("Received SIGHUP: reloaded password_file")
    carol = Paho(b, "carol", "cpw")
    assert carol.rc == 0
    carol.publish("alice/hi", b"carol", 1)
    assert a.got(3.0) == [b"carol"]  # alice's connection survived the reload
    # a broken file on reload keeps the rules in use
    with open(acl, "a") as f:
        f.write("nonsense line\n")
    b.proc.send_signal(signal.SIGHUP)
    assert b.wait_for_log("reload after SIGHUP failed")
    carol.publish("alice/hi", b"again", 1)
    assert a.got(3.0) == [b"again"]
    assert b.proc.poll() is None


# ---------------------------------------------------------------- failed logins

@pytest.mark.skipif(not OURS, reason="mosquitto has no failed-login brake")
def test_repeated_failed_logins_refuse_the_address_for_a_while(broker_factory, tmp_path):
    pw = str(tmp_path / "pw")
    tool("-c", "-b", pw, "alice", "apw")
    b = broker_factory(config(pw))
    for i in range(5):
        assert connack(b, "alice", "guess%d" % i) == 5
    assert b.wait_for_log("had 5 failed logins")
    assert connack(b, "alice", "apw") == 5  # blocked: not even checked
    assert b.wait_for_log("too many failed logins")
