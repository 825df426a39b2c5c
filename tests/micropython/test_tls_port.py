"""TLS listeners on the MicroPython port (ports/micropython/tls_server.py): the real
`micropython` broker (.mpy build), certificates made by the openssl command line (PEM and
DER, EC P-256 and RSA 2048), real paho-mqtt clients and Python's ssl module on loopback."""

import os
import shutil
import socket
import ssl
import subprocess
import time
import uuid

import pytest

mqtt = pytest.importorskip("paho.mqtt.client")

from capture_support import rss_kb  # noqa: E402
import paho_support  # noqa: E402
from mpbroker import HOST  # noqa: E402
import mqttc  # noqa: E402
from tls_support import (OPENSSL, SERVER_EXT, make_device_certs, make_signed,  # noqa: E402
                         openssl)

WAIT = 10


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """Paths (without .crt/.key) of a test CA, EC and RSA server certificates for 127.0.0.1,
    client certificates CN device1 / device2 and a device1 from a CA the broker does not
    trust; plus DER and SEC1 forms of the EC server certificate and key."""
    if OPENSSL is None:
        pytest.skip("the openssl command is missing (Debian package openssl)")
    d = str(tmp_path_factory.mktemp("mpcerts"))
    p = make_device_certs(d)
    make_signed(d, "ca", "server_rsa", "/CN=localhost", SERVER_EXT, rsa=True)
    openssl(d, "x509", "-in", "server.crt", "-outform", "DER", "-out", "server.der.crt")
    openssl(d, "pkey", "-in", "server.key", "-outform", "DER", "-out", "server.der.key")
    openssl(d, "ec", "-in", "server.key", "-out", "server.sec1.key")  # EC PRIVATE KEY
    p["server_rsa"] = os.path.join(d, "server_rsa")
    p["dir"] = d
    return p


def tls_conf(certs, extra="", server="server", cert=None, key=None):
    return ("allow_anonymous true\nlistener {port} 127.0.0.1\ncertfile %s\nkeyfile %s\n"
            % (cert or certs[server] + ".crt", key or certs[server] + ".key")) + extra


class Paho(paho_support.Paho):
    """A paho client (TLS unless certs is None) to the port's broker on port."""

    def __init__(self, port, certs, client=None, user=None):
        super().__init__(HOST, port, "mptls-", certs, client, user, "whatever")


def tls_socket(port, certs, client=None, rcvbuf=None):
    """A TLS connection made by Python's ssl module (verifying the broker's certificate)."""
    ctx = ssl.create_default_context(cafile=certs["ca"] + ".crt")
    if client is not None:
        ctx.load_cert_chain(client + ".crt", client + ".key")
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.settimeout(WAIT)
    if rcvbuf:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    raw.connect((HOST, port))
    return ctx.wrap_socket(raw, server_hostname="localhost")


def tls_connack(port, certs, client=None):
    """CONNACK return code over TLS, or the error text when TLS or the broker refused."""
    try:
        with tls_socket(port, certs, client) as s:
            s.sendall(mqttc.connect("raw-" + uuid.uuid4().hex[:6]))
            p = mqttc.read_packet(s)
    except (ssl.SSLError, OSError) as e:
        return "%s: %s" % (type(e).__name__, e)
    if p is None:
        return "closed without CONNACK"
    assert p[0] == 0x20, p
    return p[1][1]


def _exits_with(b, text):
    b.proc.wait(timeout=30)
    log = b.log()
    assert b.proc.returncode == 1, log
    assert text in log, log
    assert "Traceback" not in log, log


# ---- serving ----

@pytest.mark.parametrize("server", ["server", "server_rsa"])
def test_tls_listener_serves_paho_clients_publish_and_subscribe(mp_broker_factory, certs,
                                                                server):
    b = mp_broker_factory(tls_conf(certs, server=server))
    sub = Paho(b.port, certs)
    pub = Paho(b.port, certs)
    assert (sub.rc, pub.rc) == (0, 0)
    assert sub.subscribe("tls/#", 1) == [1]
    pub.publish("tls/q1", b"over tls", 1)
    pub.publish("tls/q0", b"qos 0 too", 0)
    # 4 KB in one record: 8 reads of the port's receive buffer, the rest held by mbedTLS
    # between them (the TLS socket polls readable while it holds decrypted bytes)
    big = bytes(range(256)) * 16
    pub.publish("tls/big", big, 1)
    assert sorted(sub.got(3)) == sorted([("tls/q1", b"over tls"), ("tls/q0", b"qos 0 too"),
                                         ("tls/big", big)])
    sub.close()
    pub.close()
    assert b.wait_for_log("New client connected from 127.0.0.1")
    assert b.alive() and "Traceback" not in b.log()


def test_der_files_and_sec1_pem_keys_are_accepted(mp_broker_factory, certs):
    base = certs["server"]
    for cert, key in ((base + ".der.crt", base + ".der.key"), (base + ".crt", base + ".sec1.key")):
        b = mp_broker_factory(tls_conf(certs, cert=cert, key=key))
        assert tls_connack(b.port, certs) == 0, (cert, key)
        assert b.stop() == 0


def test_plain_client_on_the_tls_port_gets_no_connack(mp_broker_factory, certs):
    b = mp_broker_factory(tls_conf(certs))
    with socket.create_connection((HOST, b.port), timeout=WAIT) as s:
        s.sendall(mqttc.connect("plain"))
        data = mqttc.read_until_closed(s)
    assert b"\x20\x02" not in data  # MQTT-3.2.0-1: the CONNACK never came
    assert b.wait_for_log("TLS handshake with 127.0.0.1")
    assert tls_connack(b.port, certs) == 0  # the port still serves TLS clients
    assert b.alive() and "Traceback" not in b.log()


def test_large_backlog_to_a_slow_tls_reader_arrives_intact(mp_broker_factory, certs):
    """100 QoS 1 messages (400 KB) reach a TLS subscriber that stops reading a while, in
    order and intact. (Loopback's send buffer grows to 4 MB, so the broker's writes rarely
    block here: test_tls_send_offers_the_same_record_again_after_it_would_block forces it.)"""
    b = mp_broker_factory(tls_conf(certs, "max_inflight_messages 100\n"
                                   "max_outgoing_bytes 10000000\n"), heap="2m")
    s = tls_socket(b.port, certs, rcvbuf=4096)
    try:
        s.sendall(mqttc.connect("slow"))
        assert mqttc.read_packet(s)[0] == 0x20
        s.sendall(mqttc.subscribe(1, [("slow/#", 1)]))
        assert mqttc.read_packet(s)[0] == 0x90
        pub = Paho(b.port, certs)
        payloads = [(b"%03d" % i) * 1333 + bytes([i]) for i in range(100)]  # 4,000 B each
        for p in payloads:
            pub.c.publish("slow/t", p, 1)
        time.sleep(1.5)  # the broker's socket buffer fills: writes would block
        got = []
        while len(got) < len(payloads):
            pkt = mqttc.read_packet(s)
            assert pkt is not None, "closed after %d messages:\n%s" % (len(got), b.log())
            head, body = pkt
            assert head & 0xF0 == 0x30, hex(head)
            n = int.from_bytes(body[:2], "big")
            assert body[2:2 + n] == b"slow/t"
            pid = body[2 + n:4 + n]
            got.append(body[4 + n:])
            s.sendall(b"\x40\x02" + pid)  # PUBACK
        assert got == payloads
        pub.close()
    finally:
        s.close()
    assert b.alive() and "Traceback" not in b.log()


# ---- client certificates ----

def test_require_certificate_refuses_clients_without_a_trusted_certificate(mp_broker_factory,
                                                                          certs):
    b = mp_broker_factory(tls_conf(certs, "cafile %s.crt\nrequire_certificate true\n"
                                   % certs["ca"]))
    assert tls_connack(b.port, certs, certs["device1"]) == 0
    no_cert = tls_connack(b.port, certs)
    assert not isinstance(no_cert, int), no_cert
    rogue = tls_connack(b.port, certs, certs["rogue"])
    assert not isinstance(rogue, int), rogue
    assert b.wait_for_log("TLS handshake with 127.0.0.1")
    assert Paho(b.port, certs, certs["device2"]).rc == 0
    assert b.alive() and "Traceback" not in b.log()


def test_cafile_with_several_certificates_trusts_each_of_them(mp_broker_factory, certs):
    bundle = os.path.join(certs["dir"], "bundle.crt")
    with open(bundle, "w") as out:
        for name in ("rogue_ca", "ca"):
            with open(certs[name] + ".crt") as f:
                out.write(f.read())
    b = mp_broker_factory(tls_conf(certs, "cafile %s\nrequire_certificate true\n" % bundle))
    assert tls_connack(b.port, certs, certs["device1"]) == 0
    assert tls_connack(b.port, certs, certs["rogue"]) == 0


def test_cafile_alone_does_not_ask_for_a_client_certificate(mp_broker_factory, certs):
    b = mp_broker_factory(tls_conf(certs, "cafile %s.crt\n" % certs["ca"]))
    assert tls_connack(b.port, certs) == 0
    assert tls_connack(b.port, certs, certs["rogue"]) == 0  # not asked for, not checked


def test_use_identity_as_username_applies_the_acl_to_the_certificate_cn(mp_broker_factory,
                                                                       certs, tmp_path):
    acl = str(tmp_path / "acl")
    with open(acl, "w") as f:
        f.write("user device1\ntopic readwrite devices/device1/#\n")
    b = mp_broker_factory(tls_conf(certs, "cafile %s.crt\nrequire_certificate true\n"
                                   "use_identity_as_username true\nacl_file %s\n"
                                   % (certs["ca"], acl)), args=("-v",))
    # the username in CONNECT is ignored: the certificate's CN counts
    d1 = Paho(b.port, certs, certs["device1"], user="device2")
    assert d1.rc == 0
    assert b.wait_for_log("u'device1'")
    assert d1.subscribe("devices/device1/#") == [1]
    assert d1.subscribe("other/#") == [0x80]
    d2 = Paho(b.port, certs, certs["device2"])
    assert d2.rc == 0
    assert d2.subscribe("devices/device1/#") == [0x80]  # device2 has no rules at all
    d1.publish("devices/device1/state", b"mine")
    assert d1.got(1) == [("devices/device1/state", b"mine")]
    d1.close()
    d2.close()


# ---- configurations the port cannot serve ----

def test_unusable_certificate_files_stop_the_port_with_exit_1_and_the_reason(
        mp_broker_factory, certs, tmp_path):
    d = str(tmp_path)
    missing = os.path.join(d, "missing.crt")
    b = mp_broker_factory(tls_conf(certs, cert=missing), wait=False)
    _exits_with(b, "Unable to load server certificate %s and key" % missing)
    _exits_with(b, "No such file or directory")

    garbage = os.path.join(d, "garbage.crt")
    with open(garbage, "wb") as f:
        f.write(b"this is not a certificate\n")
    b = mp_broker_factory(tls_conf(certs, cert=garbage), wait=False)
    _exits_with(b, "Unable to load server certificate %s and key" % garbage)

    pem_no_cert = os.path.join(d, "nocert.crt")  # PEM, but only a key in it
    shutil.copy(certs["server"] + ".key", pem_no_cert)
    b = mp_broker_factory(tls_conf(certs, cert=pem_no_cert), wait=False)
    _exits_with(b, "no CERTIFICATE in %s" % pem_no_cert)

    wrong_key = os.path.join(d, "wrong.key")  # a certificate where the key belongs
    shutil.copy(certs["server"] + ".crt", wrong_key)
    b = mp_broker_factory(tls_conf(certs, key=wrong_key), wait=False)
    _exits_with(b, "no PRIVATE KEY or EC PRIVATE KEY or RSA PRIVATE KEY in %s" % wrong_key)

    chain = os.path.join(d, "chain.crt")
    with open(chain, "w") as out:
        for name in ("server", "ca"):
            with open(certs[name] + ".crt") as f:
                out.write(f.read())
    b = mp_broker_factory(tls_conf(certs, cert=chain), wait=False)
    _exits_with(b, "certfile holds 2 certificates")

    enc = os.path.join(d, "enc.key")
    openssl(d, "pkey", "-in", certs["server"] + ".key", "-out", enc, "-aes256",
             "-passout", "pass:secret")
    b = mp_broker_factory(tls_conf(certs, key=enc), wait=False)
    _exits_with(b, "%s is encrypted" % enc)

    b = mp_broker_factory(tls_conf(certs, "cafile %s\nrequire_certificate true\n" % garbage),
                          wait=False)
    _exits_with(b, "Unable to load CA certificates from cafile %s" % garbage)


def test_tls_version_tlsv1_3_is_served_only_with_tls_1_3(mp_broker_factory, certs):
    """mbedTLS builds without TLS 1.3 refuse the option at start; with it, 1.2 is refused."""
    b = mp_broker_factory(tls_conf(certs, "tls_version tlsv1.3\n"), wait=False)
    deadline = time.monotonic() + WAIT
    while b.alive() and time.monotonic() < deadline and "running" not in b.log():
        time.sleep(0.05)
    if not b.alive():
        _exits_with(b, "tls_version tlsv1.3 on listener port %d" % b.port)
        assert "has no TLS 1.3" in b.log()
        return
    ctx = ssl.create_default_context(cafile=certs["ca"] + ".crt")
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        with socket.create_connection((HOST, b.port), timeout=WAIT) as raw:
            ctx.wrap_socket(raw, server_hostname="localhost").close()
    assert tls_connack(b.port, certs) == 0


# ---- memory ----



def test_heap_per_tls_client_is_measured_on_the_gc_heap_and_in_rss(mp_broker_factory, certs,
                                                                   tmp_path):
    """Live GC heap ($SYS/broker/heap/current, after gc.collect) and process VmRSS for N
    idle TLS clients against N idle plain ones. On the unix build mbedTLS takes its session
    buffers from the C heap (malloc), not the GC heap: they show in VmRSS only."""
    n = 4
    port2 = None
    with socket.socket() as s:
        s.bind((HOST, 0))
        port2 = s.getsockname()[1]
    b = mp_broker_factory("allow_anonymous true\nlistener {port} 127.0.0.1\nlistener %d 127.0.0.1\ncertfile %s.crt\n"
                          "keyfile %s.key\nsys_interval 1\n"
                          % (port2, certs["server"], certs["server"]))
    watch = paho_support.HeapWatch(HOST, b.port)
    figures = {}
    try:
        for kind, port, cert in (("plain", b.port, None), ("tls", port2, certs)):
            heap0, rss0 = watch.settled(), rss_kb(b.proc.pid)
            clients = [Paho(port, cert) for _ in range(n)]
            assert [c.rc for c in clients] == [0] * n
            heap1, rss1 = watch.settled(), rss_kb(b.proc.pid)
            for c in clients:
                c.close()
            figures[kind] = ((heap1 - heap0) / n, (rss1 - rss0) * 1024 / n)
    finally:
        watch.close()
    report = ("per idle client, %d clients: plain %.0f B GC heap, %.0f B RSS; TLS %.0f B "
              "GC heap, %.0f B RSS" % (n, figures["plain"][0], figures["plain"][1],
                                       figures["tls"][0], figures["tls"][1]))
    print(report)
    with open(os.path.join(str(tmp_path), "tls_heap.txt"), "w") as f:
        f.write(report + "\n")
    tls_heap, tls_rss = figures["tls"]
    assert 0 < tls_heap <= 4096, report  # the Python side of a TLS client stays small
    # mbedTLS's buffers (16 KB in + 4 KB out, measured about 24 KB) are outside the GC heap
    assert tls_rss >= 8192, report
    assert "Traceback" not in b.log()


# ---- tls_server.send when the socket is full ----

_SEND_SCRIPT = r"""
import select, socket, sys
sys.path.insert(0, %(dir)r)
import tls_server

class Listener:
    port = 0
    certfile = %(cert)r
    keyfile = %(key)r
    cafile = None
    require_certificate = False
    use_identity_as_username = False
    tls_version = None

class Server:  # what tls_server uses of loop.Server
    def __init__(self):
        self.buf = bytearray(2048)
    def log(self, level, text):
        print(level, text)

class Conn:  # what tls_server uses of core.conn.Conn
    listener = Listener
    ip = "127.0.0.1"
    port = 0

TOTAL = %(total)d
def pattern(a, b):
    return bytes([(i * 7) %% 251 for i in range(a, b)])

srv = Server()
tls_server.setup([Listener])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(socket.getaddrinfo("127.0.0.1", %(port)d)[0][-1])
ls.listen(1)
print("LISTENING")
raw, _ = ls.accept()
raw.setsockopt(socket.SOL_SOCKET, 7, 4096)  # SO_SNDBUF: small and fixed, so writes block
raw.setblocking(False)
conn = Conn()
conn.port_data = s = tls_server.wrap(srv, Listener, raw, "127.0.0.1", 0)
p = select.poll()
p.register(s, select.POLLIN)
n = None
while not n:  # the handshake, until the client's first byte
    p.poll(5000)
    n = tls_server.read_hs(srv, conn)
    if n == 0:
        raise SystemExit("handshake failed")
p.modify(s, select.POLLOUT)
out = bytearray()
queued = 0
blocked = 0

def queue_more():  # the core appends to conn.out whenever a message comes in
    global queued
    more = min(1500, TOTAL - queued)
    out.extend(pattern(queued, queued + more))
    queued += more

while queued < TOTAL or out:
    if not out:
        queue_more()
    n = tls_server.send(srv, s, out)  # until the buffers are full: then it would block
    if n is None:
        blocked += 1
        queue_more()  # more bytes behind the record mbedTLS holds half sent
        p.poll(5000)
    else:
        out[0:n] = b""
print("BLOCKED", blocked)
s.close()
"""


def test_tls_send_offers_the_same_record_again_after_it_would_block(certs, mpy_main,
                                                                    tmp_path):
    """mbedTLS returns "would block" with a record half sent and must then be offered the
    same length again; the port queues more bytes meanwhile. Everything must arrive once,
    in order (real micropython, real TLS, a 4 KB send buffer)."""
    from mpbroker import free_port, micropython_exe
    total = 300000
    port = free_port()
    script = str(tmp_path / "send.py")
    with open(script, "w") as f:
        f.write(_SEND_SCRIPT % {"dir": os.path.dirname(mpy_main), "cert": certs["server"] +
                                ".crt", "key": certs["server"] + ".key", "total": total,
                                "port": port})
    proc = subprocess.Popen([micropython_exe(), script], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout.readline().strip() == "LISTENING"
        s = tls_socket(port, certs, rcvbuf=4096)
        with s:
            s.sendall(b"!")
            time.sleep(1.0)  # both buffers fill while nobody reads
            got = bytearray()
            while len(got) < total:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        out, _ = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert len(got) == total, (len(got), out)
    assert bytes(got) == bytes((i * 7) % 251 for i in range(total)), out
    blocked = int(out.split("BLOCKED")[1].split()[0])
    assert blocked > 0, "the send buffer never filled: the test proved nothing\n" + out
