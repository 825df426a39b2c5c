"""Capture sender: the ring of queued records and the sans-I/O TCP sender state machine.

The encoders (core/capture/ecs.py, core/capture/hicap.py) subclass Sender and observe the
broker's events (broker.events, see core/README.md); create() loads only the configured
one. The port owns the socket and the clocks. It calls, from its loop:
  cap.want_connect(now)  -> True: start a non-blocking connect to cap.host:cap.port now
  cap.connected(now) / cap.failed(now, why)   outcome of a connect, or the connection broke
  cap.connect_overdue(now) -> True: a connect has taken too long (port calls failed)
  cap.flush(send)        write queued records with send(buf) -> n (OSError propagates)
  cap.has_output()       True while records wait (the port then wants writability)
  cap.tick(now)          every loop pass: periodic statistics
  cap.wait_ms(now)       ms until the sender next needs the loop (for select timeouts)
A port may also set cap.spill to a function that calls cap.flush at once: records then
leave as soon as half the ring is full, even in the middle of one broker.received() call
(a single read of many small publishes can make more records than the ring holds).
"""

from core import clock
from core.capture import json as J
from core.capture.conf import KINDS, QUEUE_SIZE, parse_address
from core.capture.ring import Ring
from core.topic import matches

try:
    from binascii import b2a_base64
except ImportError:  # a board without binascii: base64 payloads are unavailable
    b2a_base64 = None
try:
    import hashlib
except ImportError:
    hashlib = None

_BACKOFF_MIN_MS = 500
_BACKOFF_MAX_MS = 30000
_CONNECT_TIMEOUT_MS = 10000

# sender states
IDLE = 0  # waiting for the retry timer
CONNECTING = 1
UP = 2

# what step() asks the port to do with its socket this loop pass
TIMED_OUT = 1  # close the pending connect and report failed()
CONNECT = 2  # start (or go on with) connecting
WRITE = 3  # flush queued records


class Prng:
    """xorshift32: a tiny PRNG for backoff jitter (seeded by the port)."""

    def __init__(self, seed):
        self.x = (seed & 0xFFFFFFFF) or 0x9E3779B9

    def next(self):
        """The next 32-bit value."""
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x



def create(cfg, broker, broker_id, wall=None, tz=None, seed=1, queue_size=QUEUE_SIZE):
    """The encoder of cfg.capture_format (only its module is imported), as a Sender.

    cfg: core Config; broker_id: observer.name default (the port's host name); wall():
    epoch ms or None without a wall clock; tz(epoch_s): (offset_s, zone name); queue_size:
    the port's default for capture_queue_size. The port sets broker.events to it.
    """
    if cfg.capture_format == "hicap":
        from core.capture.hicap import Hicap as cls
    else:
        from core.capture.ecs import Ecs as cls
    return cls(cfg, broker, broker_id, wall, tz, seed, cfg.capture_queue_size or queue_size)


class Sender:
    """The queue of encoded records and the state of the TCP connection that sends them."""

    PAYLOAD = "none"  # capture_payload when the config leaves it unset (per encoder)

    def __init__(self, cfg, broker, broker_id, wall, tz, seed, queue_size):
        """See create()."""
        self.broker = broker
        self.host, self.port = parse_address(cfg.capture_address)
        self.name = cfg.capture_broker_id or broker_id
        kinds = cfg.capture_events
        self.kinds = set(KINDS) if kinds is None else set(kinds)
        pay = cfg.capture_payload
        if pay is None:
            pay = self.PAYLOAD
        if pay == "base64" and b2a_base64 is None:
            raise ValueError("capture_payload base64 needs binascii, which this build lacks")
        if pay == "sha256" and (hashlib is None or not hasattr(hashlib, "sha256")):
            raise ValueError("capture_payload sha256 needs hashlib.sha256, which this build lacks")
        self.payload = pay
        self.payload_limit = cfg.capture_payload_limit
        self.topics = list(cfg.capture_topics)
        # 0: no statistics records (an encoder without them sets it to 0 too)
        self.stats_ms = cfg.capture_stats_interval * 1000 if "stats" in self.kinds else 0
        self.wall = wall
        self.tz = tz
        self.ring = Ring(queue_size)
        self.rec = bytearray()  # scratch: one record is encoded here, then copied to the ring
        # records are written straight from the ring; out holds only a record that a write
        # cut (the rest of it goes first, or all of it again on the next connection)
        self.out = bytearray()
        # bytes offered per write: large writes mean few syscalls for the broker and the
        # receiver; a quarter of the ring keeps what waits in kernel buffers in proportion
        self.batch = max(256, min(65536, self.ring.size // 4))
        # cap.spill (set by a port, or None): called when less than half the ring is free;
        # _spill_room is that half while spilling is on, 0 while it is off or blocked
        self.spill = None
        self._spill_room = 0
        self.seq = 0  # the last record's event.sequence, also the count of records encoded
        self.sent_records = 0  # records fully written to a socket
        self.state = IDLE
        self.retry_at = None  # None: connect at the first want_connect
        self.since = 0  # when the current connect began
        self.attempts = 0  # failures since the last good connection
        self.connects = 0
        self.warned = False  # the "unreachable" warning is logged once per outage
        self.rand = Prng(seed)
        self.next_stats = None

    # ---- sender state machine ----

    def want_connect(self, now):
        """True when the port should start connecting now (state becomes CONNECTING)."""
        if self.state != IDLE:
            return False
        if self.retry_at is not None and clock.diff(now, self.retry_at) < 0:
            return False
        self.state = CONNECTING
        self.since = now
        return True

    def step(self, now, has_socket):
        """One loop pass: run the timers, then say what the port must do (or None)."""
        self.tick(now)
        if self.connect_overdue(now):
            return TIMED_OUT
        if not has_socket:
            if self.state == IDLE and not self.want_connect(now):
                return None
            return CONNECT if self.state == CONNECTING else None
        return WRITE if self.state == UP else None

    def connect_overdue(self, now):
        """True when a connect has been pending longer than the connect timeout."""
        return self.state == CONNECTING and clock.diff(now, self.since) >= _CONNECT_TIMEOUT_MS

    def connected(self, now):
        """The TCP connection is up: records start flowing (logged after an outage)."""
        self.state = UP
        self.attempts = 0
        self.connects += 1
        if self.warned:
            self.warned = False
            self.broker.log("notice", "Capture: connected to %s port %d again."
                            % (self.host, self.port))

    def failed(self, now, why):
        """Connect failed or the connection broke (why: the reason, in the warning logged
        once per outage): retry after a backoff with jitter."""
        if not self.warned:
            self.warned = True
            self.broker.log("warning", "Warning: capture receiver %s port %d unreachable "
                            "(%s); records are queued and retried." % (self.host, self.port, why))
        self.state = IDLE
        self._spill_room = 0
        self.attempts += 1
        self.retry_at = clock.add(now, self.backoff(self.attempts))
        # a record cut off mid-way is sent again whole on the next connection
        self.partial = 0

    def backoff(self, attempts):
        """Delay before retry number attempts: doubling from 0.5 s to 30 s, jittered to 50-100 %."""
        d = _BACKOFF_MIN_MS
        i = 1
        while i < attempts and d < _BACKOFF_MAX_MS:
            d *= 2
            i += 1
        if d > _BACKOFF_MAX_MS:
            d = _BACKOFF_MAX_MS
        half = d // 2
        return half + self.rand.next() % (half + 1)

    def has_output(self):
        """True while records wait to be written."""
        return bool(self.out) or self.ring.records > 0

    def wait_ms(self, now):
        """Milliseconds until the sender needs the loop again (None: only on socket events)."""
        w = None
        if self.state == IDLE:
            w = 0 if self.retry_at is None else max(0, clock.diff(self.retry_at, now))
        elif self.state == CONNECTING:
            w = max(0, _CONNECT_TIMEOUT_MS - clock.diff(now, self.since))
        if self.next_stats is not None and self.stats_ms:
            s = max(0, clock.diff(self.next_stats, now))
            if w is None or s < w:
                w = s
        return w

    partial = 0  # bytes of out's first record already written on this connection
    # A port may set read_ms to the wall-clock ms at which the bytes it passes to
    # broker.received() were read, and back to None after the call: the records those bytes
    # cause then carry the time they arrived, and a fan-in of many publishes in one read
    # does not read the clock once per record.
    read_ms = None

    def flush(self, send):
        """Write records while send(buffer) accepts bytes; returns bytes written.

        send is the port's non-blocking socket send: it returns how many bytes it took
        (0 when the socket would block) and raises OSError when the connection broke.
        """
        if self.state != UP:
            return 0
        if self.spill is not None:
            self._spill_room = self.ring.size >> 1
        total = 0
        out = self.out
        ring = self.ring
        while True:
            if len(out) > self.partial:  # a record cut by an earlier write goes on first
                mv = memoryview(out)
                try:
                    n = send(mv[self.partial:])
                finally:
                    del mv  # CPython cannot resize out while a view of it lives
                if not n:
                    break
                total += n
                self._sent(n)
                continue
            if not ring.used:
                break
            # whole records straight from the ring: no copy, one write per contiguous span
            h = ring.head
            end = h + ring.used
            if end > ring.size:
                end = ring.size
            if end - h > self.batch:
                end = h + self.batch
            n = send(ring.view[h:end])
            if not n:
                break
            total += n
            used = ring.used
            try:
                self.sent_records += ring.written(n, out)
            except MemoryError:
                raise OSError(12, "no memory to finish a cut capture record")
            if out:  # the cut record moved to out: its first bytes went out already
                self.partial = n - (used - ring.used - len(out))
        return total

    def _sent(self, n):
        out = self.out
        end = self.partial + n
        done = out.rfind(b"\n", 0, end) + 1  # whole records written
        if done:
            self.sent_records += out.count(b"\n", 0, done)
            if done >= len(out):
                out[:] = b""
            else:
                out[0:done] = b""
        self.partial = end - done

    # ---- records ----

    @property
    def records(self):
        """Records encoded so far (the last one's event.sequence)."""
        return self.seq

    def dropped(self):
        """Records dropped so far because the queue was full (or a record was too big)."""
        return self.ring.dropped

    def bridge(self, name, what, remote, why, n):
        """A bridge's link (core/bridge): what "connect", "connect failed" (why), "disconnect"
        (why) or "drop" (n messages dropped); the fork's format writes none."""

    def sys_values(self):
        """(topic, value) pairs of the capture queue for $SYS/broker/capture/."""
        ring = self.ring
        return (("$SYS/broker/capture/queued", ring.records),
                ("$SYS/broker/capture/sent", self.sent_records),
                ("$SYS/broker/capture/dropped", ring.dropped))

    def _commit(self):
        rec = self.rec
        rec.append(10)
        self.ring.push(rec, len(rec))

    def _room(self, n):
        """Make room for a record of up to n bytes: spill to the port (when half full, or
        full), then drop the oldest records if that was not enough."""
        ring = self.ring
        if self.spill is not None and self.state == UP:
            self.spill()  # its flush turns spilling at half full on again
            if ring.size - ring.used < n + self._spill_room:
                # the socket is full: spill again only when the ring is full (the receiver
                # may have caught up) or after the port's next flush
                self._spill_room = 0
        ring.reserve(n)

    def _payload(self, out, mv, ps, pe, hicap):
        """Payload per capture_payload: key and value written into bytearray out."""
        pol = self.payload
        if hicap:
            out += b', "payload": '
            if pe == ps or pol == "none":
                out += b"null"
                return
        if pol == "none":
            return
        if pol == "sha256":
            if not hicap:
                out += b',"payload_sha256":"'
            else:
                out += b'"'
            h = hashlib.sha256(mv[ps:pe]).digest()
            for c in h:
                out.append(J._HEX[c >> 4])
                out.append(J._HEX[c & 15])
            out += b'"'
            return
        end = pe
        lim = self.payload_limit
        if lim and pe - ps > lim:
            end = ps + lim
        if not hicap:
            out += b',"payload":"'
        else:
            out += b'"'
        b = b2a_base64(mv[ps:end])
        out += b[:-1] if b[-1:] == b"\n" else b
        out += b'"'
        if end != pe and not hicap:
            out += b',"payload_truncated":true'

    def _wanted(self, topic):
        """True when capture_topic lets a publish on topic be recorded (none: every one)."""
        if not self.topics:
            return True
        for f in self.topics:
            if matches(f, topic):
                return True
        return False

    # ---- called by the port ----

    def startup(self, listeners):
        """The broker listens: listeners is a list of (bind address or None, port)."""
        self._lifecycle(b"startup", listeners)

    def shutdown(self, listeners):
        """The broker is stopping (call before the last flush)."""
        self._lifecycle(b"shutdown", listeners)

    def tick(self, now):
        """Emit the periodic statistics record when capture_stats_interval has passed."""
        if not self.stats_ms:
            return
        if self.next_stats is None:
            self.next_stats = clock.add(now, self.stats_ms)
            return
        if clock.diff(now, self.next_stats) < 0:
            return
        self.next_stats = clock.add(now, self.stats_ms)
        self.stats()



class PortIO:
    """What both ports' CaptureIO (ports/*/capture_io.py) do alike around their socket.

    A subclass holds cap (the Sender) and sock (None while unconnected) and has
    _address(now) -> (family, sockaddr) (None: awaited, or failed and reported),
    _connect(family, sockaddr) -> its socket, connecting and polled (OSError if not),
    _send(buf) -> n, _fail(now, why) (close, cap.failed), _again(e) (True for an OSError
    that means "not now": the socket would block), _why(e) (an OSError's text) and
    _interest(out) (poll for reading, and for writing when out is true).
    """

    _RECV_SIZE = 256  # bytes a read takes (there should be none: see _readable)

    def poll(self, now):
        """Every loop pass: timers, connects and writes."""
        act = self.cap.step(now, self.sock is not None)
        if act == TIMED_OUT:
            self._fail(now, "connect timed out")
        elif act == CONNECT:
            self._start(now)
        elif act == WRITE:
            self._write(now)

    def _start(self, now):
        addr = self._address(now)
        if addr is None:
            return
        try:
            self.sock = self._connect(addr[0], addr[1])
        except OSError as e:
            self._fail(now, self._why(e))

    def _readable(self, now):
        """The socket is readable. Logstash sends nothing: that means the receiver closed
        (or sent junk, discarded). False when the connection is gone (_fail called)."""
        try:
            data = self.sock.recv(self._RECV_SIZE)
        except OSError as e:
            if self._again(e):
                return True
            self._fail(now, self._why(e))
            return False
        if data == b"":
            self._fail(now, "receiver closed the connection")
            return False
        return True

    def _write(self, now):
        cap = self.cap
        if self.sock is None or cap.state != UP:
            return
        try:
            cap.flush(self._send)
        except OSError as e:
            self._fail(now, self._why(e))
            return
        self._interest(cap.has_output())

    def startup(self):
        """Queue the startup record (the broker listens)."""
        self.cap.startup(self._listeners())

    def _listeners(self):
        """(bind address or None, port) of every listener, for startup and shutdown records."""
        return [(l.bind, l.port) for l in self.cap.broker.cfg.listeners]
