"""Capture: broker events as JSON lines for Logstash, queued in a ring, sent by a sans-I/O sender.

The port owns the socket and the clocks. It calls, from its loop:
  cap.want_connect(now)  -> True: start a non-blocking connect to cap.host:cap.port now
  cap.connected(now) / cap.failed(now)   outcome of a connect, or the connection broke
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
from core import capture_json as J
from core.ring import Ring
from core.topic import matches

try:
    from binascii import b2a_base64
except ImportError:  # a board without binascii: base64 payloads are unavailable
    b2a_base64 = None
try:
    import hashlib
except ImportError:
    hashlib = None

# option values and the address parser live in a small module: the config parser needs
# them on a board without loading the whole sender
from core.capture_conf import (KINDS, DENIED, FORMATS, PAYLOADS,  # noqa: F401
                               DEFAULT_PORT, parse_address)

# conn.tls_info: a dict the port sets on a TLS listener's connections, with any of the keys
# version ("1.3"), cipher, client_subject, client_cn, client_serial (str) -> ECS "tls" object

# CONNACK return codes as the fork named them
HICAP_REASONS = (None, "CONNACK_REFUSED_PROTOCOL_VERSION", "CONNACK_REFUSED_IDENTIFIER_REJECTED",
                 "CONNACK_REFUSED_SERVER_UNAVAILABLE", "CONNACK_REFUSED_BAD_USERNAME_PASSWORD",
                 "CONNACK_REFUSED_NOT_AUTHORIZED")
CONNACK_TEXT = (None, "unacceptable protocol version", "identifier rejected",
                "server unavailable", "bad user name or password", "not authorized")

# ECS publish records: the fixed text between the variable fields, as single constants
_PUB_EVENT = b',"event":{"kind":"event","dataset":"mqtt.capture","action":"publish","sequence":'
# a fast-path publish record: timestamp, sequence, the rest (and the drop count when not 0)
_PUB = b"%s" + _PUB_EVENT + b"%d%s}}\n"
_PUB_DROPPED = b"%s" + _PUB_EVENT + b'%d%s,"capture_dropped":%d}}\n'
# ',"qos":..,"retain":..,"dup":..' for every value of the low nibble of PUBLISH's first byte
_PUB_FLAGS = tuple(b',"qos":%d,"retain":%s,"dup":%s'
                   % ((f >> 1) & 3, b"true" if f & 1 else b"false", b"true" if f & 8 else b"false")
                   for f in range(16))

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


class Capture:
    """Observer of broker events (broker.events) and the state of the TCP sender."""

    def __init__(self, cfg, broker, broker_id, wall=None, tz=None, seed=1, queue_size=None):
        """cfg: core Config; broker_id: observer.name default (the port's host name);
        wall(): epoch ms or None without a wall clock; tz(epoch_s): (offset_s, zone name)."""
        self.broker = broker
        self.host, self.port = parse_address(cfg.capture_address)
        self.hicap = cfg.capture_format == "hicap"
        self.name = cfg.capture_broker_id or broker_id
        kinds = cfg.capture_events
        self.kinds = set(KINDS) if kinds is None else set(kinds)
        pay = cfg.capture_payload
        if pay is None:
            pay = "base64" if self.hicap else "none"
        if pay == "base64" and b2a_base64 is None:
            raise ValueError("capture_payload base64 needs binascii, which this build lacks")
        if pay == "sha256" and (hashlib is None or not hasattr(hashlib, "sha256")):
            raise ValueError("capture_payload sha256 needs hashlib.sha256, which this build lacks")
        self.payload = pay
        self.payload_limit = cfg.capture_payload_limit
        self.topics = list(cfg.capture_topics)
        self.stats_ms = cfg.capture_stats_interval * 1000
        self.wall = wall
        self.tz = tz
        self.ring = Ring(queue_size or cfg.capture_queue_size)
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
        self.rand = Prng(seed)
        self.next_stats = None
        # constant or repeating parts of records, encoded once (the hot path is a publish)
        obs = bytearray(b'},"observer":{"name":')
        J.string(obs, self.name)
        obs += b',"type":"mqtt-broker"}'
        self._observer = bytes(obs)
        self._ts_ms = None
        self._ts = b""
        self._topics = {}  # topic -> b',"topic":"..."' (bounded: fan-in repeats topics)
        self._topics_max = max(16, min(256, self.ring.size // 64))  # small on a board
        # publish records take the fast path in publish() unless the format, a topic filter
        # or the lack of a wall clock needs the general one
        self._pub = "publish" in self.kinds
        self._pub_fast = self._pub and not self.hicap and not self.topics and wall is not None
        # publish records' fixed text after the sequence number: outcome and observer
        self._pub_ok = b',"outcome":"success"' + self._observer
        # a fast-path publish record is at most this plus the part after its sequence
        # number: timestamp 40, sequence 20, and _tail's 80
        self._pub_room = len(_PUB_EVENT) + 40 + 20 + 80
        self._last = (None, None, None, None)  # conn, topic, key, part: see publish()
        # broker.events.deliveries: the delivery observer, or None (the default) so that the
        # core's delivery path costs one `is not None` check when delivery records are off
        self.deliveries = self.delivery if cfg.capture_deliveries \
            and not self.hicap else None

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
        """The TCP connection is up: records start flowing."""
        self.state = UP
        self.attempts = 0
        self.connects += 1

    def failed(self, now):
        """Connect failed or the connection broke: retry after a backoff with jitter."""
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

    def _head(self, action, outcome, reason=None, duration_ms=None):
        """Start an ECS record: timestamp, event, observer."""
        self.seq += 1
        out = self.rec
        out[:] = b""
        ms = self.read_ms
        if ms is None and self.wall is not None:
            ms = self.wall()
        self._ms = ms
        if ms is not None:
            if ms != self._ts_ms:
                self._stamp(ms)
            out += self._ts
            out += b',"event":{"kind":"event","dataset":"mqtt.capture","action":"'
        else:
            out += b'{"event":{"kind":"event","dataset":"mqtt.capture","action":"'
        out += action
        out += b'","sequence":'
        J.integer(out, self.seq)
        if outcome is not None:
            out += b',"outcome":"'
            out += outcome
            out += b'"'
        if reason is not None:
            out += b',"reason":'
            J.string(out, reason)
        if duration_ms is not None:
            out += b',"duration":'
            J.integer(out, duration_ms * 1000000)  # ECS: nanoseconds
        out += self._observer

    def _stamp(self, ms):
        """Encode '{"@timestamp":"..."' once per millisecond: under load many records share it."""
        t = bytearray(b'{"@timestamp":')
        J.iso_ms(t, ms)
        self._ts = bytes(t)
        self._ts_ms = ms

    def _client(self, conn, tls=False):
        out = self.rec
        if tls:
            t = getattr(conn, "tls_info", None)  # set by the port on a TLS listener
            if t:
                self._tls(t)
        if conn.connected:
            # client id and user name are fixed once connected: encode them once per conn
            c = getattr(conn, "capture_client", None)
            if c is None:
                start = len(out)
                self._client_fields(conn)
                conn.capture_client = bytes(out[start:])
            else:
                out += c
            return
        self._client_fields(conn)

    def _topic(self, topic):
        """b',"topic":"..."' for a publish record, from a small cache (fan-in repeats topics)."""
        t = self._topics.get(topic)
        if t is None:
            b = bytearray(b',"topic":')
            J.string(b, topic)
            t = bytes(b)
            if len(self._topics) >= self._topics_max:
                self._topics.clear()
            self._topics[topic] = t
        return t

    def _client_fields(self, conn):
        out = self.rec
        out += b',"client":{"ip":'
        J.string(out, conn.ip)
        out += b',"port":'
        J.integer(out, conn.port)
        out += b'},"server":{"port":'
        J.integer(out, conn.listener.port)
        out += b'}'
        if conn.username is not None:
            out += b',"user":{"name":'
            J.string(out, conn.username)
            out += b'}'
        out += b',"mqtt":{"client_id":'
        if conn.client_id is None:
            out += b"null"
        else:
            J.string(out, conn.client_id)

    def _tail(self):
        """Close the mqtt object and the record, then queue it."""
        out = self.rec
        # room first (the fields below take at most 80 bytes): the count written then
        # includes the records this one pushes out
        self._room(len(out) + 80)
        d = self.ring.dropped
        if d:
            out += b',"capture_dropped":'
            J.integer(out, d)
        if self._ms is None:
            out += b',"clock_synced":false,"uptime_ms":'
            b = self.broker
            J.integer(out, b.secs * 1000 + getattr(b, "_ms", 0))
        out += b"}}"
        self._commit()

    def _hicap_head(self, action, conn):
        self.seq += 1
        out = self.rec
        out[:] = b""
        out += b'{"mqtt": {"action": "'
        out += action
        out += b'"'

    def _hicap_ts(self):
        out = self.rec
        ms = self.wall() if self.wall is not None else None
        if ms is None:
            out += b', "tsUTC": null, "tsLocal": null'
            return
        secs = ms // 1000
        out += b', "tsUTC": '
        J.hicap_utc(out, secs)
        out += b', "tsLocal": '
        off, zone = self.tz(secs) if self.tz is not None else (0, "UTC")
        J.hicap_local(out, secs, off, zone)

    def _hicap_client(self, conn, topic=None):
        """clientIP, port, clientID (and topic first when given) as the fork ordered them."""
        out = self.rec
        tls = getattr(conn, "tls_info", None) if topic is not None else None
        if tls and tls.get("client_cn") is not None:
            # the fork: sslSN and sslCN only with a client certificate
            out += b', "sslSN": '
            J.string(out, str(tls.get("client_serial") or ""))
            out += b', "sslCN": '
            J.string(out, tls["client_cn"])
        if topic is not None:
            out += b', "topic": '
            J.string(out, topic)
        out += b', "clientIP": '
        J.string(out, conn.ip)
        out += b', "port": '
        J.integer(out, conn.listener.port)
        out += b', "clientID": '
        if conn.client_id is None:
            out += b"null"
        else:
            J.string(out, conn.client_id)
        self._hicap_ts()

    def _hicap_end(self):
        self.rec += b"}}"
        self._commit()

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

    def _tls(self, t):
        """ECS "tls" object from conn.tls_info, written in a fixed order."""
        out = self.rec
        out += b',"tls":{"version_protocol":"tls"'
        for k in ("version", "cipher"):
            if t.get(k) is not None:
                out += b',"'
                out += k.encode()
                out += b'":'
                J.string(out, str(t[k]))
        subj, cn, sn = t.get("client_subject"), t.get("client_cn"), t.get("client_serial")
        if subj is not None or cn is not None or sn is not None:
            out += b',"client":{"x509":{'
            sep = b""
            if sn is not None:
                out += b'"serial_number":'
                J.string(out, str(sn))
                sep = b","
            if cn is not None:
                out += sep
                out += b'"subject":{"common_name":'
                J.string(out, cn)
                out += b"}"
            out += b"}"
            if subj is not None:
                out += b',"subject":'
                J.string(out, subj)
            out += b"}"
        out += b"}"

    # ---- broker.events observer (see core/README.md) ----

    def denied(self, conn, what, topic, why):
        """A login failed (what "login") or the ACL denied what ("publish", "subscribe",
        "will") on topic; the fork recorded none of these."""
        if "denied" not in self.kinds or self.hicap:
            return
        self._head(b"denied", b"failure", why)
        self._client(conn)
        out = self.rec
        out += b',"denied":"'
        out += what.encode()
        out += b'"'
        if topic is not None:
            out += b',"topic":'
            J.string(out, topic)
        self._tail()

    def delivery(self, conn, topic, qos, retain, size):
        """A message to conn's client was queued on its socket (capture_deliveries true)."""
        self._head(b"deliver", b"success")
        self._client(conn)
        out = self.rec
        out += b',"topic":'
        J.string(out, topic)
        out += b',"qos":'
        J.integer(out, qos)
        out += b',"retain":'
        J.boolean(out, retain)
        out += b',"payload_size":'
        J.integer(out, size)
        self._tail()

    def connect(self, conn, rc, why):
        """CONNACK sent: rc 0 accepted, else refused with why."""
        if "connect" not in self.kinds:
            return
        out = self.rec
        if self.hicap:
            self._hicap_head(b"CONNECT", conn)
            self._hicap_client(conn)
            if rc:
                out += b', "success": false, "state": "REFUSED", "errCode": '
                J.integer(out, rc)
                out += b', "reason": "'
                out += (HICAP_REASONS[rc] if 0 < rc < 6 else "CONNACK_REFUSED_UNKNOWN_REASON").encode()
                out += b'"'
            else:
                out += b', "success": true, "state": "ACCEPTED"'
            self._hicap_end()
            return
        self._head(b"connect", b"failure" if rc else b"success", why)
        self._client(conn, True)
        out += b',"protocol_version":'
        J.integer(out, conn.level)
        out += b',"connack_code":'
        J.integer(out, rc)
        if rc:
            out += b',"connack_reason":'
            J.string(out, CONNACK_TEXT[rc] if 0 < rc < 6 else "unknown")
        else:
            out += b',"keepalive":'
            J.integer(out, conn.keepalive_ms * 2 // 3000)
            out += b',"clean_session":'
            s = conn.session
            J.boolean(out, s is not None and s.clean)
            out += b',"will":'
            J.boolean(out, conn.will is not None)
        self._tail()

    def disconnect(self, conn, reason):
        """An accepted connection ended, with the core's reason string."""
        if "disconnect" not in self.kinds:
            return
        if self.hicap:
            self._hicap_head(b"DISCONNECT", conn)
            self._hicap_client(conn)
            self._hicap_end()
            return
        dur = clock.diff(self.broker.now, conn.opened)
        self._head(b"disconnect", None, reason, dur if dur >= 0 else 0)
        self._client(conn)
        out = self.rec
        out += b',"rx_packets":'
        J.integer(out, conn.rx_packets)
        out += b',"rx_bytes":'
        J.integer(out, getattr(conn, "rx_bytes", 0))
        out += b',"tx_messages":'
        J.integer(out, conn.tx_msgs)
        out += b',"tx_bytes":'
        J.integer(out, getattr(conn, "tx_bytes", 0))
        self._tail()

    def publish(self, conn, topic, b0, pid, mv, ps, pe, why):
        """PUBLISH received (why None: accepted, else why it was dropped)."""
        # The hot path (one record per publish): an accepted publish from a client whose
        # client block is already encoded (by its connect record), with the wall clock set.
        # Everything after the sequence number is the same for the next publish of the same
        # client, topic, flags and size (a fan-in repeats them): the last such part is kept
        # (one entry, not one per client). The record is then one format of the timestamp,
        # the sequence number and that part, copied once into the ring; it is byte for byte
        # what the general path below writes. Locals: each attribute lookup costs in CPython.
        if why is None and self._pub_fast:
            last = self._last
            key = (pe - ps) << 4 | (b0 & 15)
            if last[0] is conn and last[2] == key and last[1] == topic and not pid:
                after = last[3]
            else:
                after = self._pub_after(conn, topic, b0, pid, mv, ps, pe, key)
            if after is None:
                ms = None
            else:
                ms = self.read_ms
                if ms is None:
                    ms = self.wall()
            if ms is not None:
                seq = self.seq + 1
                self.seq = seq
                if ms != self._ts_ms:
                    self._stamp(ms)
                ring = self.ring
                size = ring.size
                used = ring.used
                # room first, as in _tail: an upper bound of this record's length plus 80
                n = len(after) + self._pub_room
                if size - used < n + self._spill_room:
                    self._room(n)
                    used = ring.used
                d = ring.dropped
                if d:
                    rec = _PUB_DROPPED % (self._ts, seq, after, d)
                else:
                    rec = _PUB % (self._ts, seq, after)
                # Ring.push inlined for the usual case, free space contiguous: one slice
                # assignment, no call
                n = len(rec)
                end = ring.head + used
                if end >= size:
                    end -= size
                if end + n <= size and used + n <= size:
                    ring.view[end:end + n] = rec
                    ring.used = used + n
                    ring.records += 1
                else:
                    ring.push(rec, n)
                return
        if not self._pub:
            return
        if self.topics:
            for f in self.topics:
                if matches(f, topic):
                    break
            else:
                return
        if self.hicap:
            self._hicap_head(b"PUBLISH", conn)
            self._hicap_client(conn, topic)
            self._payload(self.rec, mv, ps, pe, True)
            self._hicap_end()
            return
        self._head(b"publish", b"failure" if why is not None else b"success", why)
        self._client(conn)
        out = self.rec
        out += self._topic(topic)
        out += _PUB_FLAGS[b0 & 15]
        if pid:
            out += b',"packet_id":'
            J.integer(out, pid)
        out += b',"payload_size":'
        J.integer(out, pe - ps)
        self._payload(out, mv, ps, pe, False)
        self._tail()

    def _pub_after(self, conn, topic, b0, pid, mv, ps, pe, key):
        """A fast-path publish record's text after its sequence number (None: the client
        block is not encoded yet); kept as the last one when it may repeat."""
        c = getattr(conn, "capture_client", None)
        if c is None:
            return None
        tail = b',"payload_size":%d' % (pe - ps)
        if pid:
            tail = b',"packet_id":%d' % pid + tail
        if self.payload != "none":
            p = bytearray(tail)
            self._payload(p, mv, ps, pe, False)
            tail = bytes(p)
        after = b"".join((self._pub_ok, c, self._topic(topic), _PUB_FLAGS[b0 & 15], tail))
        if not pid and self.payload == "none":
            self._last = (conn, topic, key, after)
        return after

    def will(self, conn, msg, qos, retain):
        """The will of conn is published (the fork did not record wills)."""
        if "will" not in self.kinds or self.hicap:
            return
        self._head(b"will", b"success")
        self._client(conn)
        out = self.rec
        out += b',"topic":'
        J.string(out, msg[0])
        out += b',"qos":'
        J.integer(out, qos)
        out += b',"retain":'
        J.boolean(out, retain)
        out += b',"payload_size":'
        J.integer(out, len(msg[2]))
        self._tail()

    def subscribe(self, conn, f, qos):
        """One topic filter subscribed with granted qos (0x80: refused)."""
        if "subscribe" not in self.kinds:
            return
        if self.hicap:
            if qos < 0x80:  # the fork's records made refusals look granted: not repeated
                self._hicap_head(b"SUBSCRIBE", conn)
                self._hicap_client(conn, f)
                self._hicap_end()
            return
        self._head(b"subscribe", b"failure" if qos >= 0x80 else b"success",
                   "denied by acl_file" if qos >= 0x80 else None)
        self._client(conn)
        out = self.rec
        out += b',"topic_filter":'
        J.string(out, f)
        out += b',"granted_qos":'
        J.integer(out, qos)
        self._tail()

    def unsubscribe(self, conn, f):
        """One topic filter unsubscribed (the fork did not record these)."""
        if "unsubscribe" not in self.kinds or self.hicap:
            return
        self._head(b"unsubscribe", b"success")
        self._client(conn)
        out = self.rec
        out += b',"topic_filter":'
        J.string(out, f)
        self._tail()

    # ---- called by the port ----

    def startup(self, listeners):
        """The broker listens: listeners is a list of (bind address or None, port)."""
        self._lifecycle(b"startup", b"STARTUP", listeners)

    def shutdown(self, listeners):
        """The broker is stopping (call before the last flush)."""
        self._lifecycle(b"shutdown", b"SHUTDOWN", listeners)

    def _lifecycle(self, action, hicap_action, listeners):
        if action.decode() not in self.kinds:
            return
        out = self.rec
        if self.hicap:
            self._hicap_head(hicap_action, None)
            out += b', "listeners": ['
            sep = b"{"
            for bind, port in listeners:
                out += sep
                out += b'"bind": '
                J.string(out, bind or "")
                out += b', "port": '
                J.integer(out, port)
                out += b"}"
                sep = b", {"
            out += b"]"
            self._hicap_end()
            return
        self._head(action, b"success")
        out += b',"mqtt":{"listeners":['
        sep = b"{"
        for bind, port in listeners:
            out += sep
            out += b'"bind":'
            J.string(out, bind or "")
            out += b',"port":'
            J.integer(out, port)
            out += b"}"
            sep = b",{"
        out += b"]"
        self._tail()

    def tick(self, now):
        """Emit the periodic statistics record when capture_stats_interval has passed."""
        if not self.stats_ms or "stats" not in self.kinds or self.hicap:
            return
        if self.next_stats is None:
            self.next_stats = clock.add(now, self.stats_ms)
            return
        if clock.diff(now, self.next_stats) < 0:
            return
        self.next_stats = clock.add(now, self.stats_ms)
        self.stats()

    def stats(self):
        """Queue one statistics record now."""
        b = self.broker
        self._head(b"stats", None)
        out = self.rec
        out += b',"mqtt":{"clients":'
        J.integer(out, len(b.conns))
        out += b',"sessions":'
        J.integer(out, len(b.sessions))
        out += b',"messages_received":'
        J.integer(out, b.msgs_in)
        out += b',"messages_sent":'
        J.integer(out, b.msgs_out)
        out += b',"messages_dropped":'
        J.integer(out, b.msgs_dropped)
        out += b',"bytes_received":'
        J.integer(out, b.bytes_in)
        out += b',"capture_records":'
        J.integer(out, self.seq)
        out += b',"capture_sent":'
        J.integer(out, self.sent_records)
        out += b',"capture_queued_bytes":'
        J.integer(out, self.ring.used + len(self.out))
        out += b',"capture_connects":'
        J.integer(out, self.connects)
        out += b',"capture_connected":'
        J.boolean(out, self.state == UP)
        if not self.ring.dropped:
            out += b',"capture_dropped":0'  # statistics always state the count
        self._tail()
