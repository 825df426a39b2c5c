"""What the bridge tests of both ports share (tests/ is on sys.path through tests/conftest.py):
Debian's mosquitto as the upstream broker (its own config and persistence folder, optional
password file and TLS listener, stopped, killed and restarted on the same ports), a
loopback TCP proxy between this broker's bridge and the upstream that passes, stalls,
black-holes, refuses or cuts the link, a subscriber on the upstream that collects the
messages in order (paho_support.Paho with a fixed client id), and a bridge with two
addresses that goes back to its main one (failback_start, goes_back_to_main)."""

import getpass
import os
import selectors
import signal
import socket
import subprocess
import threading
import time

from brokerlog import HOST, LoggedBroker, free_port, port_accepts
from core import passwd
from paho_support import Paho

MOSQUITTO = "/usr/sbin/mosquitto"
START_TIMEOUT = 10.0


class Mosquitto(LoggedBroker):
    """Debian's mosquitto on free loopback ports with its config, password file, log and
    persistence files in folder d: .port (plain), .tls_port (with certs), .log();
    start(), stop() (SIGTERM: it writes its persistence file), kill() (SIGKILL),
    restart() on the same ports.

    users: {name: password} (then anonymous clients are refused); certs: tls_support's
    make_device_certs() paths, for a TLS listener with its "server" certificate
    (require_certificate: clients must present one signed by its "ca"); autosave: its
    autosave_interval (None: mosquitto's 1800 s, so only a clean stop writes the sessions);
    extra: more config lines."""

    def __init__(self, d, users=None, certs=None, require_certificate=False, autosave=None,
                 extra=""):
        LoggedBroker.__init__(self, None, os.path.join(d, "mosquitto.log"))
        self.d = d
        self.host = HOST
        self.port = free_port()
        self.tls_port = free_port() if certs else None
        # started as root, mosquitto drops to user "mosquitto", who cannot write in d
        lines = ["user %s" % getpass.getuser(), "log_dest stderr", "log_type all",
                 "persistence true", "persistence_location %s/" % d,
                 # no limit on what waits for the tests' subscribers: with mosquitto's
                 # default (1000) a subscriber that a loaded machine slows lost messages
                 # at the upstream, which the tests would count as the bridge's losses
                 "max_queued_messages 0",
                 "listener %d %s" % (self.port, HOST)]
        if certs:
            lines += ["listener %d %s" % (self.tls_port, HOST),
                      "cafile %s.crt" % certs["ca"], "certfile %s.crt" % certs["server"],
                      "keyfile %s.key" % certs["server"],
                      "require_certificate %s" % ("true" if require_certificate else "false")]
        if users:
            pw = os.path.join(d, "mosquitto.passwd")
            with open(pw, "w") as f:
                for name, secret in users.items():
                    f.write("%s:%s\n" % (name, passwd.make_hash(
                        secret, passwd.SHA512_PBKDF2, os.urandom(passwd.SALT_BYTES), None)))
            lines += ["allow_anonymous false", "password_file " + pw]
        else:
            lines.append("allow_anonymous true")
        if autosave is not None:
            lines.append("autosave_interval %d" % autosave)
        self.conf = os.path.join(d, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n" + extra)

    def start(self):
        """Start mosquitto and wait until every listener accepts; returns self."""
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf], cwd=self.d,
                                         stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        for port in (self.port, self.tls_port):
            while port is not None and not port_accepts(HOST, port):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop(signal.SIGKILL)
                    raise RuntimeError("mosquitto did not listen on %d (exit %s):\n%s"
                                       % (port, self.proc.returncode, self.log()))
                time.sleep(0.05)
        return self

    def restart(self, sig=None):
        """Stop (by sig, SIGTERM by default) and start again on the same ports."""
        self.stop(sig)
        return self.start()

    def alive(self):
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None


def mosquitto_available():
    """True when Debian's mosquitto is installed (tools/test.sh installs it)."""
    return os.access(MOSQUITTO, os.X_OK)


class _End:
    """One socket of a proxied connection: the bytes waiting to be written to it."""

    def __init__(self, sock, counter):
        self.sock = sock
        self.peer = None
        self.out = bytearray()
        self.counter = counter  # the Proxy attribute that counts bytes read from it
        self.mask = 0  # the selector events it is registered for (0: not registered)


class Proxy:
    """A TCP proxy on 127.0.0.1 (.port) to target_port, run by a thread that ends by itself
    after lifetime seconds (or close()). Modes for the open connections and new ones:
    "pass" forwards, "stall" stops reading (bytes wait in the kernel's buffers, both
    sockets stay open), "blackhole" reads and discards (a half-open link: nothing arrives,
    nothing is refused). refuse(True) closes the listening socket (new connects get
    ECONNREFUSED) and refuse(False) opens it again on the same port; cut() closes the open
    connections (reset=True: with RST). Counters: .up (bytes client -> target), .down,
    .dropped (discarded), .accepted (connections), .open (pairs open now). A connection
    whose target refuses is closed at once."""

    CHUNK = 65536
    WAIT = 0.02

    def __init__(self, target_port, target_host=HOST, lifetime=600.0):
        self.target = (target_host, target_port)
        self.port = free_port()
        self.mode = "pass"
        self.up = self.down = self.dropped = self.accepted = self.open = 0
        self.sel = selectors.DefaultSelector()
        self.listener = None
        self.ends = []
        self.todo = []  # (function, done event) run by the thread between two selects
        self.lock = threading.Lock()
        self.end_at = time.monotonic() + lifetime
        self.running = True
        self._listen()
        self.thread = threading.Thread(target=self._run, name="proxy-%d" % self.port,
                                       daemon=True)
        self.thread.start()

    # --- control, from the test's thread ---

    def _call(self, fn):
        done = threading.Event()
        with self.lock:
            self.todo.append((fn, done))
        if self.running and not done.wait(5):
            raise RuntimeError("proxy thread did not answer")

    def set_mode(self, mode):
        """"pass", "stall" or "blackhole", for the open connections and the next ones."""
        assert mode in ("pass", "stall", "blackhole"), mode
        self._call(lambda: setattr(self, "mode", mode))

    def refuse(self, on=True):
        """Refuse new connections (close the listening socket), or accept them again."""
        self._call(self._unlisten if on else self._listen)

    def cut(self, reset=False):
        """Close every open connection (with RST when reset)."""
        self._call(lambda: self._cut(reset))

    def close(self):
        """Stop the thread and close every socket."""
        if self.running:
            self._call(self._stop)
        self.thread.join(5)

    def wait_open(self, n, timeout=10.0):
        """Wait until n connections are open through the proxy; returns whether they were."""
        deadline = time.monotonic() + timeout
        while self.open != n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.open == n

    # --- the thread ---

    def _listen(self):
        if self.listener is None:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((HOST, self.port))
            s.listen(16)
            s.setblocking(False)
            self.listener = s
            self.sel.register(s, selectors.EVENT_READ)

    def _unlisten(self):
        if self.listener is not None:
            self.sel.unregister(self.listener)
            self.listener.close()
            self.listener = None

    def _cut(self, reset):
        for e in list(self.ends):
            if reset:
                e.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            self._drop(e)

    def _stop(self):
        self._cut(False)
        self._unlisten()
        self.running = False

    def _accept(self):
        try:
            c, _ = self.listener.accept()
        except OSError:
            return
        self.accepted += 1
        try:
            t = socket.create_connection(self.target, timeout=2)
        except OSError:
            c.close()
            return
        a, b = _End(c, "up"), _End(t, "down")
        a.peer, b.peer = b, a
        for e in (a, b):
            e.sock.setblocking(False)
            e.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.ends.append(e)
        self.open += 1

    def _drop(self, e):
        """Close e and its peer (one pair), unless that was done."""
        if e not in self.ends:
            return
        for x in (e, e.peer):
            if x in self.ends:
                self.ends.remove(x)
                if x.mask:
                    self.sel.unregister(x.sock)
                x.sock.close()
        self.open -= 1

    def _arm(self, e):
        """Register e for what it waits for: nothing in "stall"; else reading while its
        peer has taken what was read before, writing while bytes wait for it."""
        want = 0
        if self.mode != "stall":
            want = (0 if e.peer.out else selectors.EVENT_READ) | \
                (selectors.EVENT_WRITE if e.out else 0)
        if want == e.mask:
            return
        if not want:
            self.sel.unregister(e.sock)
        elif e.mask:
            self.sel.modify(e.sock, want, e)
        else:
            self.sel.register(e.sock, want, e)
        e.mask = want

    def _read(self, e):
        try:
            data = e.sock.recv(self.CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(e)
        elif self.mode == "blackhole":
            self.dropped += len(data)
        else:
            e.peer.out += data
            setattr(self, e.counter, getattr(self, e.counter) + len(data))

    def _write(self, e):
        try:
            n = e.sock.send(e.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(e)
            return
        del e.out[:n]

    def _run(self):
        while self.running:
            with self.lock:
                todo, self.todo = self.todo, []
            for fn, done in todo:
                fn()
                done.set()
            if not self.running:
                break
            if time.monotonic() > self.end_at:
                self._stop()
                break
            for e in self.ends:
                self._arm(e)
            for key, ev in self.sel.select(self.WAIT):
                e = key.data
                if e is None:
                    if self.listener is not None:
                        self._accept()
                    continue
                if e not in self.ends:
                    continue  # dropped earlier in this batch
                if ev & selectors.EVENT_WRITE:
                    self._write(e)
                if ev & selectors.EVENT_READ and e in self.ends:
                    self._read(e)
        with self.lock:
            todo, self.todo = self.todo, []
        for _, done in todo:
            done.set()
        self.sel.close()


def upstream_subscriber(up, topic, qos=1, client_id=None):
    """A paho client of mosquitto up subscribed to topic (got() collects in order);
    client_id given: a persistent session that paho reconnects after up restarts."""
    sub = Paho(up.host, up.port, client_id=client_id, clean=client_id is None,
               reconnect=client_id is not None)
    assert sub.rc == 0, sub.rc
    assert sub.subscribe(topic, qos) == [qos]
    return sub


def failback_start(factory, upstreams, proxies, conf):
    """A broker (factory(conf(main port, second port))) whose bridge `up` has two
    addresses: the main one, a mosquitto behind a proxy, refused at start, so that it
    connects to the second; then the main one accepts again. (broker, the main address's
    port, (a subscriber to f/# on the main upstream, one on the second))."""
    main, second = upstreams(), upstreams()
    proxy = proxies(main.port)
    proxy.refuse()
    b = factory(conf(proxy.port, second.port))
    assert b.wait_for_log("Bridge up connected to %s:%d" % (HOST, second.port)), b.log()
    subs = upstream_subscriber(main, "f/#"), upstream_subscriber(second, "f/#")
    proxy.refuse(False)
    return b, proxy.port, subs


def goes_back_to_main(b, main_port, subs):
    """failback_start's bridge (round_robin false) reconnects to its main address and
    forwards there, not to the second; the subscribers are closed."""
    on_main, on_second = subs
    # mosquitto.conf(5): a bridge on a secondary address tries the main one periodically
    # (here every restart_timeout cap, 2 s) and reconnects to it once it answers
    assert b.wait_for_log("Bridge up: the main address %s:%d answers again." % (HOST, main_port))
    assert b.wait_for_log("Bridge up connected to %s:%d" % (HOST, main_port))
    time.sleep(0.5)  # its subscription upstream is in place
    forwards_to(b, on_main, on_second)


def forwards_to(b, to, other):
    """A message published on broker b reaches subscriber to, not other; all closed."""
    pub = Paho(HOST, b.port)
    pub.publish("f/x", b"m", 1)
    assert to.got(n=1) == [("f/x", b"m")]
    assert other.got() == []
    for c in (pub, to, other):
        c.close()
