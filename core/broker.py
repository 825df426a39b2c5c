"""The broker engine: connections in, packets framed and dispatched, sessions kept."""

from core import clock
from core.conn import Conn
from core.errors import ProtocolError
from core import handle_connect
from core import handle_publish
from core import handle_subscribe
from core import deliver
from core.const import const
from core.proto import MAX_PACKET, packet_name
from core.session import RetainStore, SubTree
from core.names import TYPE_SHIFT, FLAGS_MASK, CONNECT, PINGRESP
from core.names import RC_MALFORMED_PACKET, RC_SERVER_SHUTTING_DOWN
from core.names import RC_PACKET_TOO_LARGE, NODE_SUBS

# The flags a client's packet must carry, by type (0 for the types a client may not send);
# over FLAGS_MASK: any (PUBLISH's are checked by its handler). bytes: smaller than a tuple
_FLAGS = b"\x00\x00\x00\xff\x00\x00\x02\x00\x02\x00\x02\x00\x00\x00\x00\x00"

_CONNECT_TIMEOUT_MS = const(20000)  # a TCP connection must send CONNECT within this time
_PACKET_TIMEOUT_MS = const(60000)  # a packet trickled in must be complete this long after it began


class Broker:
    """Sans-I/O MQTT broker; see core/README.md for the contract with a port."""

    # $SYS/broker/heap/current: set by a port that measures its heap (None: not published)
    heap_current = None
    heap_free = None  # set with heap_current by a port that measures its heap
    # the persistence store (core/persist/store.py) when persistence is on: the core reports
    # each change of persistent state to it (core/README.md); a class default, as most
    # brokers have none (an instance attribute grows every broker's dict on a board)
    store = None
    # the sessions of bridges (a set, made by core/bridge at start-up; None: no bridge):
    # messages reach them with the retain flag as published, and never the bridge they
    # came in over (core/deliver.py route)
    bridged = None
    # objects whose sys_values() add (topic, value) pairs to $SYS (bridges' counts)
    sys_sources = None
    # MQTT 5.0 (core/v5.py): offline sessions with a finite expiry interval or a delayed
    # will -> that will or None, checked every second; None until a v5 client connects
    later = None
    # forget(name): set by a port short of heap to drop module name, which the core loaded
    # for one packet and needs no more (core/connect.py, at the end of a v5 CONNECT)
    forget = None

    def __init__(self, cfg, log=None):
        self.cfg = cfg
        self.log = log or _no_log
        self.auth = None  # auth(conn, username, password) -> CONNACK code, set by security
        self.acl = None  # core.acl.Acl when an acl_file is loaded (core/auth.py install)
        # events: an observer of broker events (capture); see core/README.md
        self.events = None
        # set by a port that measures its heap: new clients get CONNACK 3 while it is True
        self.low_memory = False
        # set by a port when log type debug is on (-v): every packet in and out is logged
        # (core/packet_log.py, imported only then); checked before any string is built
        self.debug = False
        self.sessions = {}  # client id -> Session
        self.subs = SubTree()
        self.retained = RetainStore()
        self.conns = set()
        self.per_listener = {}  # listener -> open connections
        self.pending = []
        self.retry = []  # sessions whose next message found no heap: refilled every second
        self.last_topic = None  # (topic, topic bytes) of the last message made (deliver.new_msg)
        # spill(conn): set by a port short of memory to write conn.out at once when one
        # packet makes a lot of output (a SUBSCRIBE's retained messages); None: wait for the
        # port's usual flush
        self.spill = None
        self.now = 0
        self.secs = 0  # seconds since start, unbounded (for session expiry)
        self.ms_rest = 0  # ms since the last whole second: uptime is secs * 1000 + ms_rest
        self._started = False
        self._next_id = 0
        self.max_packet = cfg.max_packet_size or MAX_PACKET
        self.max_inflight = min(cfg.max_inflight_messages or 65535, 65535)
        # bytes a connection may have waiting before QoS 0 messages to it are dropped;
        # ports set it to what their memory allows
        self.out_limit = 1 << 20
        # limits against abuse; a port may lower these where the config leaves them unset
        self.max_subs = _limit(cfg.max_subscriptions_per_client, 10000)
        self.max_topic_len = _limit(cfg.max_topic_length, 65535)
        # mosquitto 2.0 accepts 201 levels (200 separators) and no more; the subscription
        # tree recurses once per level
        self.max_levels = _limit(cfg.max_topic_levels, 201)
        self.backlog_limit = _limit(cfg.max_outgoing_bytes, 64 << 20)
        self.backlog_cut = 0  # clients disconnected for an outgoing backlog over backlog_limit
        # back-pressure (core/flow.py): a port may turn it on where the config leaves it unset
        self.flow = bool(cfg.back_pressure)
        self.full = {}  # destination over a limit -> [since, moved] (core/names.py, FULL_*)
        self.stuck = []  # conns whose next packet found no heap (kept in conn.inbuf)
        # statistics, for $SYS and capture
        self.msgs_in = 0
        self.msgs_out = 0
        self.msgs_dropped = 0
        self.bytes_in = 0
        self.sys = None
        if cfg.sys_interval:  # imported only when used: a small board may switch $SYS off
            from core.sys_tree import SysTree
            self.sys = SysTree(self)
        # by packet type; None: a client may not send it (a v5 connection: core/v5.py's)
        self.handlers = (None, handle_connect.connect, None, handle_publish.publish,
                          handle_publish.puback, handle_publish.pubrec,
                          handle_publish.pubrel, handle_publish.pubcomp,
                          handle_subscribe.subscribe, None, handle_subscribe.unsubscribe,
                          None, pingreq, None, _disconnect, None)

    # ---- events from the port ----

    def tick(self, now):
        """Advance the clock to now (masked ms); enforce keepalive and expire sessions."""
        if not self._started:
            self._started = True
            self.now = now
            return
        d = clock.diff(now, self.now)
        if d < 0:
            return
        self.now = now
        self.ms_rest += d
        if self.ms_rest < 1000:
            return
        self.secs += self.ms_rest // 1000
        self.ms_rest %= 1000
        if self.retry:
            r = self.retry
            self.retry = []
            for s in r:
                deliver.refill(self, s)
        if self.full or self.stuck:
            try:
                from core import flow  # back-pressure's module: loaded once something waits
            except MemoryError:
                flow = None  # no block to load it in (a fragmented heap): the next second
            if flow is not None:
                flow.check(self)
        self._check_timeouts()
        if self.later:  # MQTT 5.0: delayed wills, session expiry intervals
            from core import v5
            v5.tick(self)
        if self.cfg.persistent_client_expiration:
            self._expire_sessions()
        if self.sys is not None:
            self.sys.tick()

    def open(self, listener, ip, port):
        """A TCP connection was accepted; returns its Conn, or None if over the limit."""
        lim = listener.max_connections
        if lim is None or lim < 0:
            lim = self.cfg.max_connections
        n = self.per_listener.get(listener, 0)
        if lim is not None and 0 <= lim <= n:
            self.log("notice", "Connection from %s:%d refused: max_connections (%d) reached"
                     % (ip, port, lim))
            return None
        self.per_listener[listener] = n + 1
        c = Conn(listener, ip, port, self.now)
        self.conns.add(c)
        self.conn_log("New connection from %s:%d on port %d." % (ip, port, listener.port))
        return c

    def received(self, conn, data):
        """Bytes arrived from conn's socket."""
        if conn.closing:
            return
        n = len(data)
        self.bytes_in += n
        conn.rx_bytes += n
        conn.last_rx = self.now
        mv = data if isinstance(data, memoryview) else memoryview(data)
        buf = conn.inbuf
        if buf:
            # complete the packet a read began with only the bytes it lacks, the rest is
            # framed in place: no block a whole read long is needed (a board's heap)
            start = 0
            while start < n:
                k = _missing(buf)
                if not k:
                    break
                k = min(k, n - start)
                buf += mv[start:start + k]
                start += k
            bv = memoryview(buf)
            pos = self._frames(conn, bv, len(buf))
            del bv  # CPython cannot resize a bytearray while a view of it lives
            if conn.closing or pos >= len(buf):
                conn.inbuf = None
                if conn.closing or start >= n:
                    return
            else:
                if pos:
                    buf[0:pos] = b""
                    conn.partial_since = self.now
                buf += mv[start:n]  # kept back by a MemoryError: the rest waits behind it
                return
            mv = mv[start:n]
            n -= start
        pos = self._frames(conn, mv, n)
        if pos < n and not conn.closing:
            conn.inbuf = bytearray(mv[pos:n])
            conn.partial_since = self.now

    def closed(self, conn):
        """The socket of conn is gone (peer closed, error, or the port closed it)."""
        if conn in self.conns:
            self.conns.discard(conn)
            self.per_listener[conn.listener] -= 1
            if not conn.closing:
                self.conn_log("Client %s closed its connection." % conn.name())
                self.close(conn, True, "socket closed")

    def shutdown(self):
        """Close every connection without publishing wills."""
        for c in list(self.conns):
            if not c.closing:
                self.close(c, False, "server shutdown", RC_SERVER_SHUTTING_DOWN)

    def hold(self, conn):
        """True when the port must not read from conn now (core/flow.py): with back_pressure,
        or while a bridge's session is full."""
        if not (self.full or self.stuck or (self.low_memory and self.flow)):
            return False
        try:
            from core import flow  # a board loads it only once something must wait
        except MemoryError:
            # no block to load it in (a fragmented heap): conn is read, as without
            # back-pressure (its packets that find no heap cost it its connection), rather
            # than every turn failing until the heap has such a block
            return False
        return flow.hold(self, conn)

    # ---- used by the handlers ----

    def write(self, conn, data):
        """Queue bytes for conn."""
        if not conn.out:
            self.pending.append(conn)
        conn.out += data
        if self.debug:
            self.packet_log().sent(self, conn, data)

    def ack(self, conn, b0, pid):
        """Queue a two-byte-body acknowledgement (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK)."""
        if self.store is not None and self.store.hold(conn, b0, pid):
            return  # sent once the records it acknowledges are durable
        out = conn.out
        if not out:
            self.pending.append(conn)
        out.append(b0)
        out.append(2)
        out.append(pid >> 8)
        out.append(pid & 0xFF)
        if self.debug:
            self.packet_log().ack(self, conn, b0, pid)

    def packet_log(self):
        """core/packet_log.py (per-packet lines), imported at its first use: only when
        self.debug is True, so that a broker that does not log them never loads it."""
        from core import packet_log
        return packet_log

    def conn_log(self, msg):
        """Log a connect/disconnect notice unless connection_messages is false."""
        if self.cfg.connection_messages:
            self.log("notice", msg)

    def violation(self, conn, why, rc=RC_MALFORMED_PACKET):
        """Log a protocol error of conn (why: a text or a ProtocolError) and close it,
        publishing its will; a v5 client gets DISCONNECT with reason code rc first."""
        from core.why import violation
        violation(self, conn, why, rc)

    def check_topic(self, t, n):
        """ProtocolError when topic name or filter t (n bytes) is over max_topic_length/levels."""
        if n > self.max_topic_len or t.count("/") >= self.max_levels:
            from core.why import text
            raise ProtocolError(text(6, n, t.count("/") + 1, self.max_topic_len,
                                     self.max_levels))

    def close(self, conn, send_will, reason, rc=0):
        """Mark conn closing, detach its session and publish its will if asked; rc: the
        reason code of the DISCONNECT a v5 client gets (0: none, it or the peer ended)."""
        if conn.closing:
            return
        conn.closing = True
        if self.events is not None and conn.connected:
            self.events.disconnect(conn, reason)
        conn.inbuf = None
        if not conn.out:
            self.pending.append(conn)
        s = conn.session
        if s is not None and s.conn is conn:
            s.conn = None
            s.gone_at = self.secs
            if s.clean:
                self.drop_session(s)
            elif self.store is not None:
                self.store.ended(s)
        will = conn.will
        conn.will = None
        if conn.v5 is not None:  # DISCONNECT, will delay, session expiry
            from core import v5
            v5.closed(self, conn, will if send_will else None, rc)
        elif send_will and will is not None:
            handle_connect.publish_will(self, conn, will)

    def drop_session(self, s):
        """Forget a session and its subscriptions; what it was given through shared
        subscriptions goes to their other members."""
        if self.store is not None:
            self.store.drop(s)
        if self.subs.root[NODE_SUBS] is not None:  # shared subscriptions (core/subs.py)
            from core import subs as m
            m.drop_session(self, s)
        for f in s.subs:
            self.subs.unsubscribe(f, s)
        s.subs = {}
        if self.sessions.get(s.client_id) is s:
            del self.sessions[s.client_id]

    def new_client_id(self):
        """A client id no session uses, for a client that sent an empty one."""
        while True:
            self._next_id += 1
            cid = "%s%d-%d" % (self.cfg.auto_id_prefix, self.secs, self._next_id)
            if cid not in self.sessions:
                return cid

    # ---- internals ----

    def _frames(self, conn, mv, end):
        """Dispatch every complete packet in mv[:end]; returns where the incomplete rest starts."""
        pos = 0
        handlers = self.handlers if conn.v5 is None else conn.v5.handlers
        while pos < end:
            b0 = mv[pos]
            t = b0 >> TYPE_SHIFT
            # judge the first byte before waiting for the body, so that garbage closes at once
            flags = _FLAGS[t]
            why = 0  # or which refusal (core/why.py first_byte)
            if handlers[t] is None:
                why = 1  # not a packet a client may send
            elif flags <= FLAGS_MASK and b0 & FLAGS_MASK != flags:
                why = 2  # reserved flags
            elif conn.connected == (b0 == CONNECT):  # the flags are checked: b0 is the type
                why = 3 if b0 == CONNECT else 4  # MQTT-3.1.0-2: second CONNECT; 3.1.0-1
            if why:
                from core.why import first_byte
                first_byte(self, conn, why, t, b0 & FLAGS_MASK)
                return end
            i = pos + 1
            rl = 0
            shift = 0
            while True:
                if i >= end:
                    return pos
                d = mv[i]
                i += 1
                rl |= (d & 0x7F) << shift
                if d < 0x80:
                    break
                shift += 7
                if shift > 21:
                    from core.why import text
                    self.violation(conn, text(4))  # remaining length longer than 4 bytes
                    return end
            if i - pos + rl > self.max_packet:
                from core.why import text
                self.violation(conn, text(5, packet_name(t), i - pos + rl, self.max_packet),
                               RC_PACKET_TOO_LARGE)
                return end
            if i + rl > end:
                return pos
            if self.debug:
                self.packet_log().received(self, conn, b0, mv, i, i + rl)
            try:
                conn.rx_packets += 1
                handlers[t](self, conn, b0, mv, i, i + rl, pos)
            except ProtocolError as e:
                self.violation(conn, e)
            except MemoryError:
                if not self.flow:
                    raise
                if conn not in self.stuck:  # kept from this packet on and retried: not lost
                    self.stuck.append(conn)
                return pos
            if conn.closing:
                return end
            pos = i + rl
            if b0 == CONNECT and conn.v5 is not None:  # a v5 client's packets: its handlers
                handlers = conn.v5.handlers
        return pos

    def _check_timeouts(self):
        now = self.now
        late = None
        for c in self.conns:
            if c.closing:
                continue
            if c.connected:
                lim = c.keepalive_ms
                since = c.last_rx
            else:
                lim = _CONNECT_TIMEOUT_MS  # counted from the TCP accept: trickling does not help
                since = c.opened
            if (lim and clock.diff(now, since) > lim) or \
                    (c.inbuf and clock.diff(now, c.partial_since) > _PACKET_TIMEOUT_MS):
                if late is None:
                    late = []
                late.append(c)
        if late:
            from core.why import timeouts
            timeouts(self, late, _PACKET_TIMEOUT_MS)

    def _expire_sessions(self):
        lim = self.cfg.persistent_client_expiration
        old = [s for s in self.sessions.values()  # not those of a v5 expiry (core/v5.py)
               if s.conn is None and s.expiry is None and self.secs - s.gone_at >= lim]
        if old:
            from core.why import expire
            expire(self, old)


def _missing(buf):
    """Bytes buf lacks to hold its first packet whole (1 while its length is incomplete)."""
    rl = 0
    shift = 0
    i = 1
    while i < len(buf):
        d = buf[i]
        i += 1
        rl |= (d & 0x7F) << shift
        if d < 0x80:
            return max(0, i + rl - len(buf))
        shift += 7
        if shift > 21:
            return 0  # malformed: _frames says so
    return 1


def _limit(v, default):
    """A limit option: None gives the default, 0 no limit."""
    if v is None:
        return default
    return v or (1 << 30)


def _no_log(level, msg):
    pass


def pingreq(b, conn, b0, mv, s, e, p0):
    """PINGREQ: PINGRESP (both protocol versions)."""
    if e != s:
        from core.why import text
        raise ProtocolError(text(29))
    b.write(conn, bytes((PINGRESP, 0)))


def _disconnect(b, conn, b0, mv, s, e, p0):
    if e != s:
        from core.why import text
        raise ProtocolError(text(30))
    conn.will = None  # MQTT-3.14.4-3: a will is discarded after DISCONNECT
    b.conn_log("Client %s disconnected." % conn.name())
    b.close(conn, False, "client disconnect")
