"""The broker process as a command: flags, config errors, signals, listeners, many clients."""

import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import time

import pytest

from brokerproc import ipv6_loopback_available
import mqttc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAIN = os.path.join(ROOT, "ports", "cpython", "main.py")
HOST = "127.0.0.1"
RUN_TIMEOUT = 10  # seconds any one-shot broker run may take


def free_port():
    """A TCP port that was free on loopback a moment ago."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_accepts(host, port):
    """True when a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def run_main(*args, timeout=RUN_TIMEOUT, cwd=None):
    """Run main.py to completion (for flags that make it exit); returns CompletedProcess."""
    return subprocess.run([sys.executable, MAIN, *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout, cwd=cwd)


def recv_exact(sock, n):
    """Read exactly n bytes or raise (socket timeout applies)."""
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed after %d of %d bytes: %r" % (len(data), n, data))
        data += chunk
    return data


def mqtt_connack(host, port, client_id="cli-test", family=socket.AF_INET):
    """Connect over TCP, send CONNECT, return the 4 CONNACK bytes."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect((host, port))
        s.sendall(mqttc.connect(client_id))
        return recv_exact(s, 4)


def non_loopback_address():
    """A local IPv4 address other than 127.x, or None (a UDP connect sends nothing)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
            addr = s.getsockname()[0]
    except OSError:
        return None
    return None if addr.startswith("127.") else addr


# ---- flags ----

def test_help_prints_usage_and_exits_0():
    r = run_main("-h")
    assert r.returncode == 0
    assert "Usage:" in r.stdout
    for flag in ("-c", "-p", "-v", "-h"):
        assert flag in r.stdout


def test_runs_from_any_working_directory(tmp_path):
    r = run_main("-h", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "Usage:" in r.stdout


def test_unknown_flag_is_a_usage_error():
    r = run_main("--no-such-flag")
    assert r.returncode != 0
    assert "Unknown option '--no-such-flag'" in r.stderr
    assert "Usage:" in r.stderr


def test_daemon_flag_is_refused_with_a_reason():
    r = run_main("-d")
    assert r.returncode == 1
    assert "not supported" in r.stderr


@pytest.mark.parametrize("args,reason", [
    (("-p",), "no port"),
    (("-p", "0"), "Invalid port"),
    (("-p", "70000"), "Invalid port"),
    (("-p", "x"), "Invalid port"),
    (("-c",), "no file"),
])
def test_bad_flag_values_are_usage_errors(args, reason):
    r = run_main(*args)
    assert r.returncode != 0
    assert reason in r.stderr


# ---- configuration ----

def test_config_error_names_file_line_and_reason(tmp_path):
    path = tmp_path / "bad.conf"
    port = free_port()
    path.write_text("# comment\nlistener %d 127.0.0.1\nno_such_option 1\n" % port)
    r = run_main("-c", str(path))
    assert r.returncode == 1
    assert "Error: %s:3:" % path in r.stderr
    assert "no_such_option" in r.stderr
    assert not port_accepts(HOST, port)


def test_config_bad_value_names_its_line(tmp_path):
    path = tmp_path / "bad.conf"
    path.write_text("listener 1883\nmax_connections lots\n")
    r = run_main("-c", str(path))
    assert r.returncode == 1
    assert "%s:2:" % path in r.stderr
    assert "max_connections" in r.stderr


def test_missing_config_file_is_a_clear_error(tmp_path):
    path = tmp_path / "absent.conf"
    r = run_main("-c", str(path))
    assert r.returncode == 1
    assert "Unable to open config file %s" % path in r.stderr


def test_config_file_with_invalid_utf8_names_its_line(tmp_path):
    path = tmp_path / "latin1.conf"
    path.write_bytes(b"listener 1883\n# caf\xe9\n")
    r = run_main("-c", str(path))
    assert r.returncode == 1
    assert "%s:2:" % path in r.stderr


def test_known_mosquitto_option_not_implemented_warns_and_still_runs(broker_factory):
    b = broker_factory("listener {port} 127.0.0.1\nallow_anonymous true\n"
                       "check_retain_source true\n")
    assert mqtt_connack(b.host, b.port) == b"\x20\x02\x00\x00"
    log = b.log()
    assert "Warning:" in log
    assert "check_retain_source" in log


# ---- signals ----

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_broker_cleanly_with_exit_0(broker, sig):
    # A connected client must not keep the broker from stopping.
    with socket.create_connection((broker.host, broker.port), timeout=5) as s:
        s.sendall(mqttc.connect("stay"))
        assert recv_exact(s, 4) == b"\x20\x02\x00\x00"
        broker.proc.send_signal(sig)
        broker.proc.wait(10)
        assert broker.proc.returncode == 0
        assert s.recv(16) == b""  # the broker closed our connection
    log = broker.log()
    assert "Received %s" % signal.Signals(sig).name in log
    assert "terminating" in log
    assert "Traceback" not in log


# ---- listeners ----

def test_two_listeners_in_one_config_both_accept(broker_factory):
    b = broker_factory("listener {port} 127.0.0.1\nlistener {port2} 127.0.0.1\n"
                       "allow_anonymous true\n")
    assert mqtt_connack(b.host, b.port, "one") == b"\x20\x02\x00\x00"
    assert mqtt_connack(b.host, b.port2, "two") == b"\x20\x02\x00\x00"
    log = b.log()
    assert "listen socket on port %d." % b.port in log
    assert "listen socket on port %d." % b.port2 in log


def test_dash_p_listens_on_loopback_v4_and_v6_and_allows_anonymous(broker):
    assert mqtt_connack(broker.host, broker.port) == b"\x20\x02\x00\x00"
    if ipv6_loopback_available():
        assert mqtt_connack("::1", broker.port, "v6", socket.AF_INET6) == b"\x20\x02\x00\x00"
    other = non_loopback_address()
    if other is not None:
        assert not port_accepts(other, broker.port)


def test_no_config_no_flags_listens_on_loopback_1883_and_allows_anonymous(tmp_path):
    if port_accepts(HOST, 1883) or not _port_free(1883):
        pytest.skip("port 1883 is in use on this machine")
    log_path = tmp_path / "default.log"
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen([sys.executable, MAIN], stdin=subprocess.DEVNULL,
                                stdout=logf, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while not port_accepts(HOST, 1883) and time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()
            time.sleep(0.05)
        assert mqtt_connack(HOST, 1883, "anon") == b"\x20\x02\x00\x00"
        other = non_loopback_address()
        if other is not None:
            assert not port_accepts(other, 1883)
        assert "Using default config." in log_path.read_text()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0


def _port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
            return True
        except OSError:
            return False


def test_port_in_use_exits_nonzero_with_a_clear_message(broker_factory):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((HOST, 0))
        holder.listen(1)
        taken = holder.getsockname()[1]
        b = broker_factory("listener %d 127.0.0.1\nallow_anonymous true\n" % taken, wait=False)
        b.proc.wait(10)
        assert b.proc.returncode == 1
    log = b.log()
    assert "port %d" % taken in log
    assert os.strerror(98) in log or "in use" in log  # EADDRINUSE
    assert "Traceback" not in log


# ---- many clients ----

def _raise_own_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip("RLIMIT_NOFILE hard limit %d is below %d" % (hard, need))
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return soft


def test_more_than_1000_concurrent_connections_are_all_accepted(broker):
    count = 1100
    old_soft = _raise_own_fd_limit(count + 200)
    socks = []
    try:
        for i in range(count):
            s = socket.create_connection((broker.host, broker.port), timeout=10)
            s.sendall(mqttc.connect("many-%d" % i))
            socks.append(s)
        # Read every CONNACK while all connections stay open at once.
        sel = selectors.DefaultSelector()
        got = {}
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            got[s] = b""
        deadline = time.monotonic() + 60
        waiting = len(socks)
        while waiting and time.monotonic() < deadline:
            for key, _ in sel.select(1.0):
                s = key.fileobj
                data = s.recv(16)
                assert data, "broker closed connection %d" % socks.index(s)
                got[s] += data
                if len(got[s]) >= 4:
                    sel.unregister(s)
                    waiting -= 1
        sel.close()
        assert waiting == 0, "%d connections got no CONNACK" % waiting
        assert all(v == b"\x20\x02\x00\x00" for v in got.values())
        assert broker.proc.poll() is None
    finally:
        for s in socks:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (old_soft, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


def test_sighup_does_not_stop_the_broker(broker):
    broker.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "SIGHUP" not in broker.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "SIGHUP" in broker.log()
    assert broker.proc.poll() is None
    assert mqtt_connack(broker.host, broker.port) == b"\x20\x02\x00\x00"


def test_slow_reader_receives_every_byte_once_it_reads(broker_factory):
    # 8 MB for a reader with a tiny receive buffer is more than the kernel's send buffer
    # (tcp_wmem max is 4 MB by default): the broker's sends go partial and the port must
    # wait for writability and resume. QoS 1 with no in-flight limit is never dropped.
    b = broker_factory("listener {port} 127.0.0.1\nallow_anonymous true\n"
                       "max_inflight_messages 0\n")
    count = 80
    payloads = [bytes([48 + i % 64]) * 100000 for i in range(count)]
    with socket.socket() as slow, socket.socket() as pub:
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.settimeout(20)
        slow.connect((b.host, b.port))
        slow.sendall(mqttc.connect("slow") + mqttc.subscribe(1, [("bulk", 1)]))
        assert recv_exact(slow, 4) == b"\x20\x02\x00\x00"
        assert recv_exact(slow, 5) == b"\x90\x03\x00\x01\x01"
        pub.settimeout(20)
        pub.connect((b.host, b.port))
        pub.sendall(mqttc.connect("bulk-pub"))
        assert recv_exact(pub, 4) == b"\x20\x02\x00\x00"
        for i, p in enumerate(payloads):
            pub.sendall(mqttc.publish("bulk", p, 1, pid=i + 1))
        for i in range(count):
            assert recv_exact(pub, 4) == b"\x40\x02" + (i + 1).to_bytes(2, "big")
        got = []
        for _ in range(count):
            b0, body = mqttc.read_packet(slow)
            assert b0 & 0xF6 == 0x32, hex(b0)  # PUBLISH QoS 1 (DUP may not be set)
            got.append(body[8:])  # topic length 2 + "bulk" 4 + packet id 2
        assert got == payloads


def test_verbose_logs_each_packet_in_and_out_as_mosquitto(broker_factory):
    # -v: one line per packet, in mosquitto's formats (logged_exchange lists them)
    b = broker_factory(args=("-v",))
    want = mqttc.logged_exchange(b.host, b.port)
    deadline = time.monotonic() + RUN_TIMEOUT
    while mqttc.packet_lines(b.log()) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mqttc.packet_lines(b.log()) == want, b.log()


def test_default_log_has_no_packet_lines(broker_factory):
    b = broker_factory()
    mqttc.logged_exchange(b.host, b.port)
    deadline = time.monotonic() + RUN_TIMEOUT
    while b.log().count(" disconnected.") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert b.log().count(" disconnected.") == 2, b.log()
    assert mqttc.packet_lines(b.log()) == [], b.log()
