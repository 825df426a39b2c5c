"""The MicroPython port under the real unix `micropython`, driven by real MQTT clients."""

import os
import queue
import select
import signal
import socket
import subprocess
import time

import paho.mqtt.client as mqtt
import pytest

from mpbroker import (BOARD_HEAP, HOST, SRC_MAIN, board_conf, micropython_exe, raw_connect,
                      start_board)
import mqttc
from tools.deploy import RECV_LINE

WAIT = 5.0


class Client:
    """A paho 2.x client run by its network thread, with received messages in a queue."""

    def __init__(self, port, client_id, clean=True):
        self.msgs = queue.Queue()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             clean_session=clean)
        self.c.on_message = lambda c, u, m: self.msgs.put((m.topic, m.payload, m.qos, m.retain))
        self.connected = queue.Queue()
        self.c.on_connect = lambda c, u, f, rc, p: self.connected.put(rc)
        self.c.connect(HOST, port, keepalive=30)
        self.c.loop_start()
        rc = self.connected.get(timeout=WAIT)
        assert rc == 0, "CONNACK %s" % rc

    def subscribe(self, topic, qos):
        done = queue.Queue()
        self.c.on_subscribe = lambda c, u, mid, rcs, p: done.put([int(r.value) for r in rcs])
        self.c.subscribe(topic, qos)
        return done.get(timeout=WAIT)

    def publish(self, topic, payload, qos=0, retain=False):
        info = self.c.publish(topic, payload, qos, retain)
        info.wait_for_publish(WAIT)
        assert info.is_published()

    def get(self):
        return self.msgs.get(timeout=WAIT)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def clients():
    made = []
    yield made
    for c in made:
        try:
            c.close()
        except Exception:
            pass


def _closed_by_peer(sock, timeout):
    """True when the broker closes sock within timeout (EOF or reset), False otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([sock], [], [], 0.1)
        if r:
            try:
                data = sock.recv(1024)
            except ConnectionResetError:
                return True
            if not data:
                return True
    return False


# ---- command line ----

def _run_src(args, timeout=30):
    return subprocess.run([micropython_exe(), SRC_MAIN] + list(args), cwd="/",
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def test_help_prints_usage_and_exits_0():
    r = _run_src(["-h"])
    assert r.returncode == 0
    assert "Usage: main.py [-c config_file] [-h] [-p port] [-v]" in r.stdout


def test_unknown_flag_exits_nonzero_with_usage():
    r = _run_src(["--bogus"])
    assert r.returncode == 3
    assert "Error: Unknown option '--bogus'." in r.stderr
    assert "Usage:" in r.stderr


def test_recv_size_option_replaces_main_pys_buffer_and_whole_messages_still_arrive(
        mp_broker_factory, clients):
    """--recv-size (unix port, hidden): reads of 64 bytes, a 1,000-byte PUBLISH in 16 of
    them; under the option's minimum the port exits 3."""
    assert _run_src(["--recv-size", "63"]).returncode == 3
    b = mp_broker_factory(args=("--recv-size", "64"))
    sub = Client(b.port, "sub")
    clients.append(sub)
    assert sub.subscribe("r/#", 1) == [1]
    big = os.urandom(1000)
    sub.publish("r/big", big, 1)
    assert sub.get() == ("r/big", big, 1, False)


def test_bad_config_exits_nonzero_with_file_and_line(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("listener 1883\nallow_anonymous true\nmax_keepalive lots\n")
    r = _run_src(["-c", str(conf)])
    assert r.returncode == 1
    assert r.stderr.startswith("Error: %s:3: " % conf), r.stderr
    assert "max_keepalive" in r.stderr


def test_missing_config_file_exits_1_with_reason(tmp_path):
    path = str(tmp_path / "nope.conf")
    r = _run_src(["-c", path])
    assert r.returncode == 1
    assert r.stderr.strip() == "Error: Unable to open config file %s: No such file or directory" % path


def test_port_in_use_exits_1(mp_broker_factory):
    with socket.socket() as s:
        s.bind((HOST, 0))
        s.listen(1)
        port = s.getsockname()[1]
        b = mp_broker_factory("listener %d 127.0.0.1\nallow_anonymous true\n" % port, wait=False)
        assert b.proc.wait(20) == 1
        assert "Address already in use" in b.log()


# ---- MQTT over real sockets ----

@pytest.mark.parametrize("qos", [0, 1, 2])
def test_MQTT_3_3_5_1_subscriber_receives_publish_at_qos(mp_broker, clients, qos):
    sub = Client(mp_broker.port, "sub%d" % qos)
    clients.append(sub)
    assert sub.subscribe("t/#", qos) == [qos]
    pub = Client(mp_broker.port, "pub%d" % qos)
    clients.append(pub)
    for i in range(5):
        pub.publish("t/x", b"m%d" % i, qos)
    got = [sub.get() for _ in range(5)]
    assert [g[1] for g in got] == [b"m%d" % i for i in range(5)]
    assert all(g[2] == qos for g in got)


def test_MQTT_3_3_1_6_retained_message_goes_to_new_subscriber(mp_broker, clients):
    pub = Client(mp_broker.port, "rpub")
    clients.append(pub)
    pub.publish("r/a", b"kept", 1, retain=True)
    sub = Client(mp_broker.port, "rsub")
    clients.append(sub)
    sub.subscribe("r/+", 1)
    topic, payload, qos, retain = sub.get()
    assert (topic, payload, qos, retain) == ("r/a", b"kept", 1, True)


def test_MQTT_3_1_2_8_will_published_on_abrupt_close(mp_broker, clients):
    sub = Client(mp_broker.port, "wsub")
    clients.append(sub)
    sub.subscribe("will/#", 1)
    s, rc = raw_connect(mp_broker.port, "dying", will=("will/dying", b"gone", 1, False))
    assert rc == 0
    s.close()  # no DISCONNECT: the will must go out
    topic, payload, qos, _ = sub.get()
    assert (topic, payload, qos) == ("will/dying", b"gone", 1)


def test_MQTT_3_1_2_24_keepalive_enforced_across_clock_wrap(mp_broker_factory):
    # The masked clock wraps 2.5 s after start, while both clients are connected.
    b = mp_broker_factory(args=("-v", "--clock-wrap-in", "2500"))
    assert "wraps in 2500 ms" in b.log()
    silent, rc = raw_connect(b.port, "silent", keepalive=2)
    assert rc == 0
    pinger, rc = raw_connect(b.port, "pinger", keepalive=2)
    assert rc == 0
    t0 = time.monotonic()
    # Until 1.5 x keepalive (3 s) has passed the silent client must stay: a clock
    # that jumps at the wrap would drop both clients at once.
    while time.monotonic() - t0 < 2.4:
        pinger.sendall(b"\xc0\x00")
        assert mqttc.read_packet(pinger) == (0xD0, b"")
        assert not _closed_by_peer(silent, 0.5), "dropped before keepalive x 1.5 had passed"
    assert b.wait_for_log("Clock wrapped", 3.0), b.log()
    assert _closed_by_peer(silent, 10.0), "silent client never dropped"
    assert "Client 'silent'" in b.log() and "exceeded timeout" in b.log()
    # The client that pings keeps its connection through the wrap.
    for _ in range(3):
        pinger.sendall(b"\xc0\x00")
        assert mqttc.read_packet(pinger) == (0xD0, b"")
        time.sleep(0.5)
    assert not [l for l in b.log().splitlines() if "'pinger'" in l and "timeout" in l]
    silent.close()
    pinger.close()


def test_ipv6_loopback_listener_or_warning(mp_broker):
    log = mp_broker.log()
    if "Warning: no IPv6 listener" in log:
        return  # allowed: the unix port may not bind ::1 on this machine
    s = socket.create_connection(("::1", mp_broker.port), timeout=WAIT)
    s.sendall(mqttc.connect("v6"))
    assert mqttc.read_packet(s) == (0x20, b"\x00\x00")
    assert mp_broker.wait_for_log("New connection from ::1:")
    s.close()


def test_sigint_shuts_down_cleanly(mp_broker, clients):
    c = Client(mp_broker.port, "bye")
    clients.append(c)
    s, rc = raw_connect(mp_broker.port, "raw")
    assert rc == 0
    assert mp_broker.stop(signal.SIGINT) == 0
    log = mp_broker.log()
    assert "Received SIGINT, shutting down." in log
    assert "terminating" in log
    assert "Traceback" not in log
    assert _closed_by_peer(s, 2.0)
    s.close()


# ---- memory ----

def _fill_until_short(port, limit=300):
    """Connect clients that each keep a 600-byte retained message until one is refused."""
    socks, codes = [], []
    for i in range(limit):
        try:
            s, rc = raw_connect(port, "c%03d" % i)
        except OSError:
            rc, s = None, None
        if s is not None:
            socks.append(s)
        codes.append(rc)
        if rc != 0:
            break
        s.sendall(mqttc.subscribe(1, [("a/%d/#" % i, 1), ("b/%d" % i, 0)]))
        assert mqttc.read_packet(s)[0] == 0x90
        s.sendall(mqttc.publish("keep/%d" % i, b"x" * 600, 0, retain=True))
    return socks, codes


def test_many_clients_until_memory_short_never_crash(mp_broker_factory):
    # 32768, not 16384: the band test_MQTT_3_2_2_3_low_memory_refused_with_connack_3
    # explains (with 8 KB a SUBSCRIBE could find no heap and wait, held, for memory)
    b = mp_broker_factory(args=("--min-free", "32768"))
    socks, codes = _fill_until_short(b.port)
    try:
        assert codes[-1] != 0, "300 clients fitted: memory never got short"
        assert b.alive(), "the broker died:\n" + b.log()
        # Either way is graceful: the low-water mark refuses new clients with CONNACK 3,
        # or an allocation that fails between two checks (a fragmented heap can fail
        # above the mark) costs only the connection it was for.
        log = b.log()
        assert ("Warning: memory low" in log
                or "Error: out of memory while handling" in log), log
    finally:
        for s in socks:
            s.close()
    # Retained messages still hold memory; a clean client must still be served once
    # the idle connections are gone.
    deadline = time.monotonic() + 10
    rc = None
    while time.monotonic() < deadline and rc != 0:
        s, rc = raw_connect(b.port, "after")
        s.close()
        time.sleep(0.2)
    assert b.alive(), b.log()
    assert "MemoryError" not in b.log() and "Traceback" not in b.log(), b.log()


def test_MQTT_3_2_2_3_low_memory_refused_with_connack_3(mp_broker_factory):
    # Under --min-free the next CONNECT gets CONNACK 3; under half of it a new socket is
    # closed before any CONNACK. Between the two checks one client of _fill_until_short
    # takes about 4 KB on this 64-bit build and the low-memory warning itself loads the
    # back-pressure code (hold.py, core/flow.py: about 2 KB), so with a band of 8 KB
    # (16384) the order of the broker's reads under load decided whether the next client
    # got CONNACK 3 or a closed socket (or a SUBSCRIBE found no heap). 32768: a 16 KB band,
    # wider than a client and that code together.
    b = mp_broker_factory(args=("--min-free", "32768"))
    socks, codes = _fill_until_short(b.port)
    try:
        assert b.alive(), b.log()
        assert codes[-1] == 3, "last client got %r, not CONNACK 3:\n%s" % (codes[-1], b.log())
    finally:
        for s in socks:
            s.close()


def test_budget_port_starts_and_serves_on_96k_heap(mp_broker_factory):
    """The ESP32 budget: the whole broker (.mpy) runs on a 96 KB heap."""
    b = mp_broker_factory(heap="96k", wait=False)
    deadline = time.monotonic() + 15
    up = False
    while time.monotonic() < deadline and b.alive() and not up:
        try:
            s, rc = raw_connect(b.port, "tiny", timeout=2)
            up = rc == 0
            s.close()
        except OSError:
            time.sleep(0.1)
    assert up, "the broker did not serve a client on a 96 KB heap:\n" + b.log()


def test_mqtt_5_and_3_1_1_clients_exchange_messages_on_the_board_heap(mp_broker_factory,
                                                                      clients):
    """MQTT 5.0 on the board's heap: core/v5.py and core/props.py load with the first v5
    client, and a v5 and a 3.1.1 client exchange messages both ways."""
    from paho_support import Paho
    # 112k, not 96k: with PUBLISH properties (issue 15) the 64-bit unix build's doubled
    # objects left ~12 KB free after core/v5.py loaded on 96k, too fragmented for the main
    # loop in some runs (MemoryError each second). The 32-bit budget is memprobe32's gate
    # (test_memprobe32*); test_budget_port_starts_and_serves_on_96k_heap keeps 96k for 3.1.1
    b = mp_broker_factory(heap=BOARD_HEAP)
    v5 = Paho(HOST, b.port, protocol=mqtt.MQTTv5)
    clients.append(v5)
    assert v5.rc == 0 and v5.connack_props.ReceiveMaximum == 20
    v4 = Client(b.port, "v4")
    clients.append(v4)
    assert v5.subscribe("from4/#", 1) == [1]
    assert v4.subscribe("from5/#", 1) == [1]
    v4.publish("from4/a", b"four", 1)
    v5.publish("from5/a", b"five", 1)
    assert v5.got(1) == [("from4/a", b"four")]
    assert v4.get()[:2] == ("from5/a", b"five")
    assert b.alive() and "Traceback" not in b.log()


@pytest.mark.parametrize("board, limit, heap", [("esp32", 2048, BOARD_HEAP),
                                               ("rp2040w", 4096, "128k")])
def test_MQTT_3_3_5_1_publish_of_message_size_limit_arrives_in_several_reads_on_the_board(
        tmp_path, mpy_main, clients, board, limit, heap):
    """board.main with the shipped config: a PUBLISH whose payload is its message_size_limit
    (ESP32 2 KB, Pico W 4 KB), several of main.py's receive buffers long, is read a buffer at
    a time and reaches the subscriber whole at QoS 1 and 0, both ways."""
    recv = int(RECV_LINE[RECV_LINE.index("(") + 1:-1])
    conf = board_conf(board)
    assert "message_size_limit %d\n" % limit in conf
    assert len(mqttc.publish("b/big", b"x" * limit, qos=1, pid=1)) > 2 * recv
    b = start_board(tmp_path, mpy_main, conf, {}, heap=heap)
    try:
        sub = Client(b.port, "sub")
        clients.append(sub)
        pub = Client(b.port, "pub")
        clients.append(pub)
        assert sub.subscribe("b/#", 1) == [1] and pub.subscribe("up/#", 1) == [1]
        big = os.urandom(limit)
        for qos in (1, 0):
            pub.publish("b/big", big, qos)
            assert sub.get() == ("b/big", big, qos, False)
            sub.publish("up/big", big, qos)
            assert pub.get() == ("up/big", big, qos, False)
        assert "out of memory" not in b.log() and "Traceback" not in b.log(), b.log()
    finally:
        b.stop()


def test_mqtt_5_protocol_error_gets_disconnect_on_the_micropython_port(mp_broker):
    s = socket.create_connection((HOST, mp_broker.port), timeout=WAIT)
    s.sendall(mqttc.connect5("bad") + mqttc.publish5("", b"x", properties=mqttc.props(
        [(0x23, 2)])))
    p = mqttc.read_packet(s)
    assert p is not None and p[0] == 0x20, mp_broker.log()
    assert mqttc.read_packet(s) == (0xE0, b"\x82")  # an unknown topic alias: protocol error
    assert mqttc.read_packet(s) is None
    s.close()


# ---- connection cap and MemoryError safety (bench idle: SIGSEGV past ~690 sockets) ----

def _cap_from_log(b, port):
    import re
    assert b.wait_for_log("max_connections not set for port %d" % port), b.log()
    m = re.search(r"max_connections not set for port %d: (\d+) on a (\d+) KB heap" % port,
                  b.log())
    assert m, b.log()
    return int(m.group(1)), int(m.group(2))


def test_default_max_connections_refuses_past_the_cap_and_survives(mp_broker_factory):
    b = mp_broker_factory("listener {port} 127.0.0.1\nallow_anonymous true\n",
                          heap="256k")
    cap, heap_kb = _cap_from_log(b, b.port)
    assert cap == heap_kb // 4, b.log()  # one client per 4 KB of heap
    socks = []
    try:
        for i in range(cap):
            s, rc = raw_connect(b.port, "cap%03d" % i)
            socks.append(s)
            assert rc == 0, "client %d of %d got %r:\n%s" % (i, cap, rc, b.log())
        for i in range(5):  # over the cap: the socket is closed before any CONNACK
            s = socket.create_connection((HOST, b.port), timeout=WAIT)
            socks.append(s)
            try:
                s.sendall(mqttc.connect("over%d" % i))
            except OSError:
                pass
            assert _closed_by_peer(s, WAIT), "connection %d over the cap was kept" % i
        assert b.alive(), b.log()
        assert b.log().count("refused: max_connections (%d) reached" % cap) == 5, b.log()
        for s in socks[:3]:  # room again once clients leave
            s.close()
        deadline = time.monotonic() + WAIT
        rc = None
        while rc != 0 and time.monotonic() < deadline:
            s, rc = raw_connect(b.port, "again")
            socks.append(s)
            time.sleep(0.05)
        assert rc == 0, b.log()
        assert "MemoryError" not in b.log() and "Traceback" not in b.log(), b.log()
    finally:
        for s in socks:
            s.close()


def test_local_only_mode_logs_the_default_max_connections_once(mp_broker_factory):
    # -p PORT: listeners on 127.0.0.1 and ::1 share the port; one line says the cap
    b = mp_broker_factory()
    _cap_from_log(b, b.port)
    assert b.log().count("max_connections not set") == 1, b.log()


def test_explicit_max_connections_is_kept(mp_broker_factory):
    b = mp_broker_factory("listener {port} 127.0.0.1\nallow_anonymous true\nmax_connections 2\n")
    assert "max_connections not set" not in b.log()
    socks = []
    try:
        for i in range(2):
            s, rc = raw_connect(b.port, "two%d" % i)
            socks.append(s)
            assert rc == 0
        s = socket.create_connection((HOST, b.port), timeout=WAIT)
        socks.append(s)
        assert _closed_by_peer(s, WAIT)
        assert b.wait_for_log("refused: max_connections (2) reached"), b.log()
    finally:
        for s in socks:
            s.close()


# poll.register on a heap with no room left: MicroPython adds the map slot before it
# allocates the entry (and grows its pollfd array), and a poll() or unregister() after a
# MemoryError there dereferences the empty slot. Server.register must leave the poller whole.
_REGISTER_PROBE = """import gc, socket, sys
import loop
from core.config import Config
from core.broker import Broker


def fill(n):
    hog = [None] * n
    i = 0
    try:
        while i < n:
            hog[i] = bytearray(8)
            i += 1
    except MemoryError:
        i -= 2
        hog[i] = None
        hog[i + 1] = None
        gc.collect()
    return hog, i


def attempt(srv, sock, hog, n):
    while n:
        n -= 1
        hog[n] = None
        gc.collect()
        try:
            srv.register(sock, 1)
            return 0
        except MemoryError:
            return 1
    return 0


def one(k):
    cfg = Config()
    cfg.finish()
    srv = loop.Server(Broker(cfg, None), lambda level, msg: None, 0, 64)
    socks = [socket.socket() for _ in range(k + 1)]
    for s in socks[:k]:
        srv.register(s, 1)
    hog, n = fill(2500)
    failed = attempt(srv, socks[k], hog, n)
    for i in range(n):
        hog[i] = None  # a stale pointer to the list may survive: empty it
    hog = None
    gc.collect()
    if srv.poller is None:  # the retry failed too (the pollfd array had to grow)
        import limits
        limits.new_poller(srv, loop._Listen)
    srv.poller.poll(0)  # crashed here (or in unregister) after a half-made registration
    for s in socks:
        srv.poller.unregister(s)
        s.close()
    srv.poller.poll(0)
    return failed


fails = 0
for k in range(4, 41):
    fails += one(k)
print("REGISTER_FAILURES", fails)

# The last resort (register failed twice): no poller; the next turn builds a new one
# with every socket, and a client connected before is still served.
from core.config import parse_config
port = int(sys.argv[1])
cfg = parse_config("listener %d 127.0.0.1\\nallow_anonymous true\\n" % port, "probe.conf")
srv = loop.Server(Broker(cfg, None), lambda level, msg: None, 0, 256)
import listeners
listeners.listen(srv, cfg.listeners[0], loop._Listen)
c = socket.socket()
c.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
srv.step(100)  # accepted: the connection is registered
srv.poller = None
c.write(b"\\x10\\x0d\\x00\\x04MQTT\\x04\\x02\\x00\\x3c\\x00\\x01x")  # CONNECT, client id "x"
got = b""
for _ in range(50):
    srv.step(20)
    c.setblocking(False)
    r = c.read(4)
    if r:
        got += r
    if len(got) >= 4:
        break
print("REBUILT", srv.poller is not None, got == b"\\x20\\x02\\x00\\x00")
"""


def test_memory_error_in_poll_register_leaves_the_poller_usable(mpy_main, tmp_path):
    from mpbroker import free_port
    tree = os.path.dirname(os.path.dirname(os.path.dirname(mpy_main)))
    script = tmp_path / "register_probe.py"
    script.write_text(_REGISTER_PROBE)
    env = dict(os.environ)
    env["MICROPYPATH"] = tree + ":" + os.path.join(tree, "ports", "micropython")
    r = subprocess.run([micropython_exe(), "-X", "heapsize=128k", str(script),
                        str(free_port())], env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "exit %d:\n%s%s" % (r.returncode, r.stdout, r.stderr)
    fails = int(r.stdout.split("REGISTER_FAILURES")[1].split()[0])
    assert fails > 0, "no register ran out of memory: the probe proved nothing\n" + r.stdout
    assert "REBUILT True True" in r.stdout, r.stdout


def test_bind_interface_is_named_unsupported_and_the_listener_still_serves(mp_broker_factory):
    """A board's interfaces have no names the port could look up: the listener warns and
    listens on its address, instead of the option silently doing nothing."""
    b = mp_broker_factory("listener {port} 127.0.0.1\nbind_interface wlan0\n"
                          "allow_anonymous true\n")
    assert b.wait_for_log("Warning: bind_interface wlan0 is not supported on MicroPython: "
                          "the listener on port %d listens on 127.0.0.1" % b.port), b.log()
    s, rc = raw_connect(b.port, "bi-mp")
    s.close()
    assert rc == 0


def test_verbose_logs_each_packet_in_and_out_as_mosquitto(mp_broker):
    # mp_broker runs with -v: the same lines as the CPython port and mosquitto
    want = mqttc.logged_exchange(HOST, mp_broker.port)
    deadline = time.monotonic() + WAIT
    while mqttc.packet_lines(mp_broker.log()) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mqttc.packet_lines(mp_broker.log()) == want, mp_broker.log()
