"""Capture records in Elastic Common Schema (capture_format ecs, the default)."""

from core import clock
from core.capture import json as J
from core.proto import connack_text
from core.capture.sender import Sender, UP
from core.names import FLAGS_MASK, PUB_DUP, PUB_QOS_SHIFT, PUB_RETAIN, QOS_MASK
from core.names import SUBACK_FAILURE, MSG_TOPIC, MSG_PAYLOAD

# conn.tls_info: a dict the port sets on a TLS listener's connections, with any of the keys
# version ("1.3"), cipher, client_subject, client_cn, client_serial (str) -> ECS "tls" object

# ECS publish records: the fixed text between the variable fields, as single constants
_PUB_EVENT = b',"event":{"kind":"event","dataset":"mqtt.capture","action":"publish","sequence":'
# a fast-path publish record: timestamp, sequence, the rest (and the drop count when not 0)
_PUB = b"%s" + _PUB_EVENT + b"%d%s}}\n"
_PUB_DROPPED = b"%s" + _PUB_EVENT + b'%d%s,"capture_dropped":%d}}\n'
# ',"qos":..,"retain":..,"dup":..' for every value of the low nibble of PUBLISH's first byte
_PUB_FLAGS = tuple(b',"qos":%d,"retain":%s,"dup":%s'
                   % ((f >> PUB_QOS_SHIFT) & QOS_MASK, b"true" if f & PUB_RETAIN else b"false",
                      b"true" if f & PUB_DUP else b"false")
                   for f in range(16))


class Ecs(Sender):
    """Observer of broker events (broker.events) writing ECS JSON lines."""

    def __init__(self, cfg, broker, broker_id, wall, tz, seed, queue_size):
        """See core.capture.sender.create()."""
        Sender.__init__(self, cfg, broker, broker_id, wall, tz, seed, queue_size)
        # constant or repeating parts of records, encoded once (the hot path is a publish)
        obs = bytearray(b'},"observer":{"name":')
        J.string(obs, self.name)
        obs += b',"type":"mqtt-broker"}'
        self._observer = bytes(obs)
        self._ts_ms = None
        self._ts = b""
        self._topics = {}  # topic -> b',"topic":"..."' (bounded: fan-in repeats topics)
        self._clients = {}  # open connected conn -> its encoded client block (see _client)
        self._topics_max = max(16, min(256, self.ring.size // 64))  # small on a board
        # publish records take the fast path in publish() unless the format, a topic filter
        # or the lack of a wall clock needs the general one
        self._pub = "publish" in self.kinds
        self._pub_fast = self._pub and not self.topics and wall is not None
        # publish records' fixed text after the sequence number: outcome and observer
        self._pub_ok = b',"outcome":"success"' + self._observer
        # a fast-path publish record is at most this plus the part after its sequence
        # number: timestamp 40, sequence 20, and _tail's 80
        self._pub_room = len(_PUB_EVENT) + 40 + 20 + 80
        self._last = (None, None, None, None)  # conn, topic, key, part: see publish()
        # broker.events.deliveries: the delivery observer, or None (the default) so that the
        # core's delivery path costs one `is not None` check when delivery records are off
        self.deliveries = self.delivery if cfg.capture_deliveries else None

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
            t = conn.tls_info  # set by the port on a TLS listener
            if t:
                self._tls(t)
        if conn.connected and not conn.closing:
            # client id and user name are fixed once connected: encode them once per conn
            # (kept until its disconnect record; records after it encode them again)
            c = self._clients.get(conn)
            if c is None:
                start = len(out)
                self._client_fields(conn)
                self._clients[conn] = bytes(out[start:])
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
            J.integer(out, b.secs * 1000 + b.ms_rest)
        out += b"}}"
        self._commit()

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
        if "denied" not in self.kinds:
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
        self._message(b"deliver", conn, topic, qos, retain, size)

    def _message(self, action, conn, topic, qos, retain, size):
        """A deliver or will record: the message's topic, QoS, retain flag and size."""
        self._head(action, b"success")
        self._client(conn)
        out = self.rec
        out += b',"topic":'
        J.string(out, topic)
        out += b',"qos":%d,"retain":' % qos
        J.boolean(out, retain)
        out += b',"payload_size":%d' % size
        self._tail()

    def connect(self, conn, rc, why):
        """CONNACK sent: rc 0 accepted, else refused with why."""
        if "connect" not in self.kinds:
            return
        self._head(b"connect", b"failure" if rc else b"success", why)
        self._client(conn, True)
        out = self.rec
        out += b',"protocol_version":'
        J.integer(out, conn.level)
        out += b',"connack_code":'
        J.integer(out, rc)
        if rc:
            out += b',"connack_reason":'
            J.string(out, connack_text(rc) if 0 < rc < 6 else "unknown")
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
        self._clients.pop(conn, None)
        if "disconnect" not in self.kinds:
            return
        dur = clock.diff(self.broker.now, conn.opened)
        self._head(b"disconnect", None, reason, dur if dur >= 0 else 0)
        self._client(conn)
        J.integers(self.rec, (b',"rx_packets":', b',"rx_bytes":', b',"tx_messages":',
                              b',"tx_bytes":'),
                   (conn.rx_packets, conn.rx_bytes, conn.tx_msgs, conn.tx_bytes))
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
            lc, lt, lk, after = self._last
            key = (pe - ps) << 4 | (b0 & FLAGS_MASK)  # size and flags: one int to compare
            if lc is not conn or lk != key or lt != topic or pid:
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
                # Ring.push's usual case written out here, the only write to the ring
                # outside ring.py: the call alone cost 10 % of this path (90 ns a record
                # on CPython 3.11), the one capture publishes most
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
        if not self._wanted(topic):
            return
        self._head(b"publish", b"failure" if why is not None else b"success", why)
        self._client(conn)
        out = self.rec
        out += self._topic(topic)
        out += _PUB_FLAGS[b0 & FLAGS_MASK]
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
        c = self._clients.get(conn)
        if c is None:
            return None
        tail = b',"payload_size":%d' % (pe - ps)
        if pid:
            tail = b',"packet_id":%d' % pid + tail
        if self.payload != "none":
            p = bytearray(tail)
            self._payload(p, mv, ps, pe, False)
            tail = bytes(p)
        after = b"".join((self._pub_ok, c, self._topic(topic), _PUB_FLAGS[b0 & FLAGS_MASK], tail))
        if not pid and self.payload == "none":
            self._last = (conn, topic, key, after)
        return after

    def will(self, conn, msg, qos, retain):
        """The will of conn is published (the fork did not record wills)."""
        if "will" in self.kinds:
            self._message(b"will", conn, msg[MSG_TOPIC], qos, retain, len(msg[MSG_PAYLOAD]))

    def subscribe(self, conn, f, qos):
        """One topic filter subscribed with granted qos (0x80: refused)."""
        if "subscribe" not in self.kinds:
            return
        self._head(b"subscribe", b"failure" if qos >= SUBACK_FAILURE else b"success",
                   "denied by acl_file" if qos >= SUBACK_FAILURE else None)
        self._filter(conn, f)
        out = self.rec
        out += b',"granted_qos":'
        J.integer(out, qos)
        self._tail()

    def unsubscribe(self, conn, f):
        """One topic filter unsubscribed (the fork did not record these)."""
        if "unsubscribe" not in self.kinds:
            return
        self._head(b"unsubscribe", b"success")
        self._filter(conn, f)
        self._tail()

    def bridge(self, name, what, remote, why, n):
        """A bridge's link: connected, could not connect, lost, or n messages dropped."""
        if "bridge" not in self.kinds:
            return
        self._head(b"bridge", b"success" if what == "connect" else b"failure", why)
        out = self.rec
        out += b',"mqtt":{"bridge":'
        J.string(out, name)
        out += b',"bridge_event":'
        J.string(out, what)
        out += b',"remote":'
        J.string(out, remote)
        if n:
            out += b',"messages_dropped":'
            J.integer(out, n)
        self._tail()

    def _filter(self, conn, f):
        """A subscribe or unsubscribe record's client and topic filter."""
        self._client(conn)
        out = self.rec
        out += b',"topic_filter":'
        J.string(out, f)

    def _lifecycle(self, action, listeners):
        if action.decode() not in self.kinds:
            return
        out = self.rec
        self._head(action, b"success")
        out += b',"mqtt":{"listeners":'
        J.listeners(out, listeners, b"")
        self._tail()

    def stats(self):
        """Queue one statistics record now."""
        b = self.broker
        self._head(b"stats", None)
        out = self.rec
        J.integers(out, (b',"mqtt":{"clients":', b',"sessions":', b',"messages_received":',
                         b',"messages_sent":', b',"messages_dropped":', b',"bytes_received":',
                         b',"capture_records":', b',"capture_sent":',
                         b',"capture_queued_bytes":', b',"capture_connects":'),
                   (len(b.conns), len(b.sessions), b.msgs_in, b.msgs_out, b.msgs_dropped,
                    b.bytes_in, self.seq, self.sent_records, self.ring.used + len(self.out),
                    self.connects))
        out += b',"capture_connected":'
        J.boolean(out, self.state == UP)
        if not self.ring.dropped:
            out += b',"capture_dropped":0'  # statistics always state the count
        self._tail()
