"""TLS listeners (certfile, keyfile, cafile, require_certificate, use_identity_as_username,
tls_version) on the real broker process, with certificates the tests make with the openssl
command line and real clients: paho-mqtt, mosquitto_pub / mosquitto_sub, Python's ssl."""

import os
import socket
import ssl
import subprocess
import sys

import pytest

pytest.importorskip("paho.mqtt.client")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MOSQUITTO_PUB = "/usr/bin/mosquitto_pub"
MOSQUITTO_SUB = "/usr/bin/mosquitto_sub"
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
from core.config import ConfigError, parse_config  # noqa: E402
import mqttc  # noqa: E402
import paho_support  # noqa: E402
from tls_support import OPENSSL, make_device_certs  # noqa: E402

WAIT = 10


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """Paths of a test CA, a server certificate for 127.0.0.1, client certificates for
    CN device1 and device2, and a device1 certificate from a CA the broker does not trust."""
    if OPENSSL is None:
        pytest.skip("the openssl command is missing (Debian package openssl)")
    return make_device_certs(str(tmp_path_factory.mktemp("certs")))


def tls_config(certs, extra=""):
    return ("listener {port} 127.0.0.1\ncertfile %s.crt\nkeyfile %s.key\n"
            % (certs["server"], certs["server"])) + extra


def tls_connack(b, certs, client=None, maximum=None, cid="raw"):
    """CONNACK return code over TLS, or the exception text when TLS or the broker refused."""
    ctx = ssl.create_default_context(cafile=certs["ca"] + ".crt")
    if client is not None:
        ctx.load_cert_chain(client + ".crt", client + ".key")
    if maximum is not None:
        ctx.maximum_version = maximum
    try:
        with socket.create_connection((b.host, b.port), timeout=WAIT) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as so:
                so.sendall(mqttc.connect(cid))
                data = b""
                while len(data) < 4:
                    chunk = so.recv(4 - len(data))
                    if not chunk:
                        return "closed without CONNACK"
                    data += chunk
    except (ssl.SSLError, OSError) as e:
        return "%s: %s" % (type(e).__name__, e)
    assert data[:3] == b"\x20\x02\x00", data
    return data[3]


class Paho(paho_support.Paho):
    """A paho client over TLS to the broker fixture b."""

    def __init__(self, b, certs, client=None, user=None):
        super().__init__(b.host, b.port, "tls-", certs, client, user, "whatever")


def _mosquitto(tool, b, certs, *args, client=None):
    if not os.access(tool, os.X_OK):
        pytest.skip("%s is missing (Debian package mosquitto-clients)" % tool)
    cmd = [tool, "-h", b.host, "-p", str(b.port), "--cafile", certs["ca"] + ".crt"]
    if client is not None:
        cmd += ["--cert", client + ".crt", "--key", client + ".key"]
    return cmd + list(args)


# ---------------------------------------------------------------- parsing

def test_tls_options_fill_the_listener():
    c = parse_config("listener 8883\ncertfile /c.pem\nkeyfile /k.pem\ncafile /ca.pem\n"
                     "require_certificate true\nuse_identity_as_username true\n"
                     "tls_version tlsv1.3\nlistener 1883\n", "t.conf")
    l, plain = c.listeners
    assert (l.certfile, l.keyfile, l.cafile, l.tls_version) == \
        ("/c.pem", "/k.pem", "/ca.pem", "tlsv1.3")
    assert l.require_certificate is True and l.use_identity_as_username is True
    assert plain.certfile is None and plain.require_certificate is False
    assert c.warnings == []


@pytest.mark.parametrize("text, reason", [
    ("certfile /c\n", "certfile and keyfile must both be given"),
    ("keyfile /k\n", "certfile and keyfile must both be given"),
    ("cafile /ca\n", "TLS options need certfile and keyfile"),
    ("certfile /c\nkeyfile /k\nrequire_certificate true\n",
     "require_certificate true needs cafile"),
    ("certfile /c\nkeyfile /k\ncafile /ca\nuse_identity_as_username true\n",
     "use_identity_as_username true needs require_certificate true"),
])
def test_tls_options_that_cannot_work_together_are_config_errors(text, reason):
    with pytest.raises(ConfigError) as e:
        parse_config("listener 8883\n" + text, "t.conf")
    assert e.value.lineno == 1 and reason in e.value.reason, str(e.value)


def test_bad_tls_version_and_boolean_name_the_line():
    for text, reason in (("tls_version tlsv1.0\n", "invalid value 'tlsv1.0' for option "
                                                   "'tls_version'"),
                         ("require_certificate yes\n", "expected true or false")):
        with pytest.raises(ConfigError) as e:
            parse_config("listener 8883\ncertfile /c\nkeyfile /k\n" + text, "t.conf")
        assert e.value.lineno == 4 and reason in e.value.reason, str(e.value)


# ---------------------------------------------------------------- the running broker

def test_tls_listener_serves_paho_and_mosquitto_clients(broker_factory, certs):
    b = broker_factory(tls_config(certs, "allow_anonymous true\n"))
    sub = Paho(b, certs)
    assert sub.rc == 0
    assert sub.subscribe("tls/#", 1) == [1]
    r = subprocess.run(_mosquitto(MOSQUITTO_PUB, b, certs, "-t", "tls/a", "-m", "over tls",
                                  "-q", "1"), capture_output=True, text=True, timeout=WAIT)
    assert r.returncode == 0, r.stderr
    mq = subprocess.Popen(_mosquitto(MOSQUITTO_SUB, b, certs, "-t", "tls/b", "-C", "1",
                                     "-W", str(WAIT)),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    got = []
    try:
        assert b.wait_for_log("New client connected", timeout=WAIT)
        for _ in range(30):  # until mosquitto_sub's subscription is in place
            if b.log().count("New client connected") >= 3:
                break
            got += sub.got(timeout=0.1)
        sub.publish("tls/b", b"to mosquitto_sub", 1)
        out, err = mq.communicate(timeout=WAIT + 5)
    finally:
        if mq.poll() is None:
            mq.kill()
            mq.wait(5)
    assert out.strip() == "to mosquitto_sub", (out, err)
    assert ("tls/a", b"over tls") in got + sub.got()
    sub.close()
    # a plain MQTT client on the TLS port gets no CONNACK, and the broker says why
    with socket.create_connection((b.host, b.port), timeout=WAIT) as so:
        so.sendall(mqttc.connect("plain"))
        data = mqttc.read_until_closed(so)
    assert b"\x20\x02" not in data
    assert b.wait_for_log("TLS handshake with 127.0.0.1")


def test_require_certificate_refuses_clients_without_a_trusted_certificate(broker_factory,
                                                                         certs):
    b = broker_factory(tls_config(certs, "allow_anonymous true\ncafile %s.crt\n"
                                  "require_certificate true\n" % certs["ca"]))
    assert tls_connack(b, certs, certs["device1"]) == 0
    no_cert = tls_connack(b, certs)
    assert not isinstance(no_cert, int), no_cert
    rogue = tls_connack(b, certs, certs["rogue"])
    assert not isinstance(rogue, int), rogue
    assert b.wait_for_log("TLS handshake with 127.0.0.1")
    r = subprocess.run(_mosquitto(MOSQUITTO_PUB, b, certs, "-t", "x", "-m", "no cert"),
                       capture_output=True, text=True, timeout=WAIT)
    assert r.returncode != 0
    r = subprocess.run(_mosquitto(MOSQUITTO_PUB, b, certs, "-t", "x", "-m", "with cert",
                                  "-q", "1", client=certs["device2"]),
                       capture_output=True, text=True, timeout=WAIT)
    assert r.returncode == 0, r.stderr
    assert Paho(b, certs, certs["device2"]).rc == 0


def test_use_identity_as_username_applies_the_acl_to_the_certificate_cn(broker_factory,
                                                                        certs, tmp_path):
    pw = tmp_path / "pw"
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "passwd.py"), "-c", "-b",
                    str(pw), "admin", "secret"], check=True, timeout=60)
    acl = tmp_path / "acl"
    acl.write_text("user device1\ntopic readwrite devices/device1/#\n"
                   "user admin\ntopic readwrite #\n")
    b = broker_factory(tls_config(certs, "cafile %s.crt\nrequire_certificate true\n"
                                  "use_identity_as_username true\npassword_file %s\n"
                                  "acl_file %s\n" % (certs["ca"], pw, acl)))
    # the CONNECT username is ignored: the certificate says device1 (no password needed)
    d1 = Paho(b, certs, certs["device1"], user="admin")
    assert d1.rc == 0
    assert b.wait_for_log("u'device1'")
    assert d1.subscribe("devices/device1/#") == [1]
    assert d1.subscribe("other/#") == [0x80]
    d2 = Paho(b, certs, certs["device2"])
    assert d2.rc == 0
    assert d2.subscribe("devices/device1/#") == [0x80]  # device2 has no rules at all
    d2.publish("devices/device1/cmd", b"from device2")  # acknowledged, not delivered
    d1.publish("devices/device1/state", b"mine")
    assert d1.got() == [("devices/device1/state", b"mine")]
    assert b.wait_for_log("denied by acl_file")


def test_tls_version_is_the_oldest_version_accepted(broker_factory, certs):
    b = broker_factory(tls_config(certs, "allow_anonymous true\ntls_version tlsv1.3\n"))
    old = tls_connack(b, certs, maximum=ssl.TLSVersion.TLSv1_2)
    assert not isinstance(old, int) and "SSL" in old, old
    assert b.wait_for_log("TLS handshake with 127.0.0.1")
    assert tls_connack(b, certs) == 0
    b12 = broker_factory(tls_config(certs, "allow_anonymous true\ntls_version tlsv1.2\n"))
    assert tls_connack(b12, certs, maximum=ssl.TLSVersion.TLSv1_2) == 0
    # mosquitto_pub's --tls-version is a minimum too: it meets the listener at TLS 1.3
    r = subprocess.run(_mosquitto(MOSQUITTO_PUB, b, certs, "-t", "x", "-m", "new",
                                  "--tls-version", "tlsv1.2"),
                       capture_output=True, text=True, timeout=WAIT)
    assert r.returncode == 0, r.stderr


def test_unusable_certificate_files_stop_the_broker_with_the_reason(broker_factory, certs,
                                                                   tmp_path):
    missing = str(tmp_path / "missing")
    b = broker_factory("listener {port} 127.0.0.1\ncertfile %s.crt\nkeyfile %s.key\n"
                       % (missing, missing), wait=False)
    assert b.proc.wait(WAIT) == 1
    assert "Unable to load server certificate %s.crt" % missing in b.log()
    # a key that does not belong to the certificate
    b = broker_factory("listener {port} 127.0.0.1\ncertfile %s.crt\nkeyfile %s.key\n"
                       % (certs["server"], certs["device1"]), wait=False)
    assert b.proc.wait(WAIT) == 1
    assert "Unable to load server certificate" in b.log()
    b = broker_factory(tls_config(certs, "certfile %s.crt\n" % certs["server"])
                       .replace("keyfile", "#keyfile"), wait=False)
    assert b.proc.wait(WAIT) == 1
    assert "certfile and keyfile must both be given" in b.log()
