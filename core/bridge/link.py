"""One bridge, sans-I/O: the MQTT client to an upstream broker and its local side.

The port does the sockets (core/README.md, Bridges): poll(now) says when to open a
connection and to which address, opened(now) once it is connected (TLS included),
received(data) with what it read, `out` / sent(n) what to write, lost(now, why) when the
socket is gone, `closing` when this side wants it closed.

The local side is a client of the broker named local_clientid, without a socket: its Conn
is accepted (core.handle_connect.accept) while the uplink is up and closed while it is
down, so that its session (clean unless cleansession) keeps the out-direction messages
queued meanwhile, with the broker's limits and drop policy (max_queued_messages), and its
unacknowledged ones are sent again with DUP on the next connection. Packet identifiers
pass through unchanged: the upstream's acknowledgements are the local session's, and the
local broker's acknowledgements of in-direction messages are the upstream's.
"""

from core import clock, deliver, handle_connect
from core.const import const
from core.listener import Listener
from core.proto import put_publish, put_varint, connack_text
from core.topic import matches
from core.bridge.conf import OUT, IN
from core.names import (CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBCOMP, SUBACK, UNSUBACK,
                        PINGREQ, PINGRESP, DISCONNECT, SUBSCRIBE_OUT, UNSUBSCRIBE_OUT,
                        TYPE_MASK, TYPE_SHIFT, PUB_QOS_SHIFT, PUB_RETAIN, QOS_MASK,
                        LEVEL_BRIDGE, CONNECT_CLEAN, CONNECT_WILL, CONNECT_WILL_QOS_SHIFT,
                        CONNECT_WILL_RETAIN, CONNECT_USERNAME, CONNECT_PASSWORD, ACCEPTED,
                        BAD_PROTOCOL, SUBACK_FAILURE)
from core.names import (BRIDGE_LOCAL, BRIDGE_REMOTE, BRIDGE_DIRECTION, BRIDGE_QOS,
                        BRIDGE_LOCAL_PREFIX, BRIDGE_REMOTE_PREFIX)
from core.names import QUEUED_PAIR

_DOWN = const(0)  # waiting until `at` to connect
_OPENING = const(1)  # the port is connecting (TCP, then TLS)
_SENT = const(2)  # CONNECT sent
_UP = const(3)
_STOPPED = const(4)  # start_type once after its connection ended, or shut down
_IDLE = const(5)  # start_type lazy: waiting for threshold messages queued
_CONNECT_LIMIT_MS = const(20000)  # a connection (TCP, TLS, CONNACK) that takes longer fails
_WINDOW = const(256)  # messages in flight upstream at most (core/deliver.py pauses at 256)

# the local connections' listener: no socket, no limit of its own or the broker's
LOCAL = Listener(0, "bridge")
LOCAL.max_connections = 1 << 30


def _put_str(out, s):
    b = s.encode() if isinstance(s, str) else s
    out.append(len(b) >> 8)
    out.append(len(b) & 0xFF)
    out += b


def _packet(b0, body):
    p = bytearray()
    p.append(b0)
    put_varint(p, len(body))
    p += body
    return p


class Link:
    """One `connection` section's link to its upstream (see the module docstring)."""

    def __init__(self, conf, broker, host_name, rand):
        self.conf = conf
        self.b = broker
        self.rand = rand  # rand(): a float in [0, 1), from the port
        self.name = conf.name
        # HOSTNAME.NAME as mosquitto 2.0.11 makes it (its man page says NAME.HOSTNAME)
        self.remote_id = conf.remote_clientid or "%s.%s" % (host_name, conf.name)
        self.local_id = conf.local_clientid or "local." + self.remote_id
        self.topic = conf.notification_topic or \
            "$SYS/broker/connection/%s/state" % self.remote_id
        self.state = _DOWN
        self.at = broker.now  # DOWN: when to connect; OPENING, CONNACK: when it began
        self.delay = 0  # the last backoff, ms (decorrelated jitter grows from it)
        self.addr = 0  # index in conf.addresses
        self.private = conf.try_private  # CONNECT with level | LEVEL_BRIDGE (off once refused)
        self.again = False  # connect again at once: try_private refused, or the main address back
        self.probe_at = 0  # when probe() next tries the main address (round_robin false)
        self.private_ok = False  # a CONNECT with try_private was accepted once
        self.out = bytearray()
        self.inbuf = bytearray()
        self.local = None  # received(): what goes to the local side from one read
        self.last = None  # (local topic, its upstream topic or None): _remote()'s last
        self.plain = None  # (local topic str, True when it goes up unchanged): forward0()'s last
        self.closing = False  # the port closes the socket, then calls lost()
        self.why = None  # why this side closes it
        self.conn = None  # the local Conn while the uplink is up
        self.sess = None  # the local session
        self.last_tx = 0
        self.ping = None  # when PINGREQ was queued, None when answered
        self.sent_msgs = 0
        self.too_big = 0  # over bridge_max_packet_size
        self.reported = 0  # drops told to broker.events (capture), at most once a second
        self.report_at = broker.now
        self.failing = False  # a failed connect was told to broker.events since the last
        self.active = broker.now  # lazy: when a message last went up or came down
        # the local session exists from the start: messages queue before the first connect
        self._attach()
        self._detach("bridge starting")
        self._notify(b"0")
        if conf.start_type == "lazy":
            self.state = _IDLE

    # ---- the port's calls ----

    def poll(self, now):
        """Timers; returns (host, port) when the port must start connecting now, else None."""
        if self.b.events is not None and clock.diff(now, self.report_at) >= 1000:
            self.report_at = now
            n = self._dropped()
            if n > self.reported:
                self._event("drop", None, n - self.reported)
                self.reported = n
        st = self.state
        if st == _IDLE:
            s = self.sess
            # mosquitto.conf(5): started once more than threshold messages are queued (or
            # the queue is full: publishers wait for it, core/flow.py)
            if s is None or not ((len(s.queue) // QUEUED_PAIR) > self.conf.threshold or s in self.b.full):
                return None
            self.b.log("notice", "Bridge %s: %d messages queued, starting it (start_type "
                       "lazy)." % (self.name, len(s.queue) // QUEUED_PAIR))
            self.state = st = _DOWN
            self.at = now
        if st == _DOWN:
            if clock.diff(now, self.at) < 0:
                return None
            self.state = _OPENING
            self.at = now
            self.out = bytearray()
            self.inbuf = bytearray()
            self.closing = False
            a = self.conf.addresses[self.addr]
            self.b.log("notice", "Connecting bridge %s (%s:%d)" % (self.name, a[0], a[1]))
            return a
        if st == _OPENING or st == _SENT:
            if not self.closing and clock.diff(now, self.at) > _CONNECT_LIMIT_MS:
                self._close("no connection within %d s" % (_CONNECT_LIMIT_MS // 1000))
        elif st == _UP and not self.closing:
            if self.conf.start_type == "lazy" and \
                    clock.diff(now, self.active) >= self.conf.idle_timeout * 1000:
                self.out += bytes((DISCONNECT, 0))  # stopped, as mosquitto: no will upstream
                self._close("idle for %d s (idle_timeout)" % self.conf.idle_timeout)
                return None
            ka = self.conf.keepalive_interval * 1000
            if self.ping is not None:
                if clock.diff(now, self.ping) >= ka:  # half-open: nothing comes back
                    self._close("keepalive timeout: no PINGRESP within %d s"
                                % self.conf.keepalive_interval)
            elif clock.diff(now, self.last_tx) >= ka:
                self.out += bytes((PINGREQ, 0))
                self.ping = now
        return None

    def wait_ms(self, now):
        """Milliseconds until poll() has something to do (None: only the port's usual beat)."""
        if self.state == _DOWN:
            return max(0, clock.diff(self.at, now))
        return None

    def probe(self, now):
        """(host, port) of the main address when the port must try a TCP connect to it now,
        else None; the port tells the outcome to probed(). Only while connected to another
        address with round_robin false: mosquitto.conf(5) has such a bridge try its main
        address again periodically, here every restart_timeout cap (or constant)."""
        c = self.conf
        if self.state != _UP or not self.addr or c.round_robin or self.closing or \
                clock.diff(now, self.probe_at) < 0:
            return None
        self.probe_at = clock.add(now, (c.restart_cap or c.restart_base) * 1000)
        return c.addresses[0]

    def probed(self, now, ok):
        """The port's TCP connect to the main address (probe()) succeeded (ok) or failed:
        once it answers, this connection ends and the main address is connected to."""
        if ok and self.state == _UP and self.addr and not self.closing:
            a = self.conf.addresses[0]
            self.b.log("notice", "Bridge %s: the main address %s:%d answers again."
                       % (self.name, a[0], a[1]))
            self.again = True
            self._close("back to the main address")

    def opened(self, now):
        """The port's connection to the address poll() gave is up: CONNECT goes out."""
        c = self.conf
        self.state = _SENT
        body = bytearray()
        _put_str(body, "MQTT" if c.protocol_version == 4 else "MQIsdp")
        body.append(c.protocol_version | (LEVEL_BRIDGE if self.private else 0))
        will = c.notifications and not c.notifications_local_only
        flags = CONNECT_CLEAN if c.cleansession else 0
        if will:  # QoS 1, retained
            flags |= CONNECT_WILL | 1 << CONNECT_WILL_QOS_SHIFT | CONNECT_WILL_RETAIN
        if c.remote_username is not None:
            flags |= CONNECT_USERNAME
            if c.remote_password is not None:
                flags |= CONNECT_PASSWORD
        body.append(flags)
        body.append(c.keepalive_interval >> 8)
        body.append(c.keepalive_interval & 0xFF)
        _put_str(body, self.remote_id)
        if will:
            _put_str(body, self.topic)
            _put_str(body, b"0")
        if c.remote_username is not None:
            _put_str(body, c.remote_username)
            if c.remote_password is not None:
                _put_str(body, c.remote_password)
        self.out += _packet(CONNECT, body)

    def sent(self, n):
        """The port wrote the first n bytes of out: returns out, which this may refill."""
        if n:
            self.last_tx = self.b.now
            self.out[0:n] = b""
            c = self.conn
            if c is not None and c.out and len(self.out) < self.b.out_limit:
                self.pump()  # what waited at the local side while out was full
        return self.out

    def received(self, data):
        """Bytes read from the upstream."""
        if self.closing:
            return
        buf = self.inbuf
        buf += data
        pos = 0
        n = len(buf)
        loc = self.local = bytearray()  # for the local side: one broker call per read
        while pos < n and not self.closing:
            i = pos + 1
            rl = 0
            shift = 0
            while i < n and buf[i] & 0x80:
                rl |= (buf[i] & 0x7F) << shift
                shift += 7
                i += 1
            if i >= n or shift > 21:
                if shift > 21:
                    self._close("malformed packet from the upstream")
                break
            rl |= buf[i] << shift
            i += 1
            if i + rl > n:
                break
            t = buf[pos] & TYPE_MASK
            if PUBACK <= t <= PUBCOMP and rl == 2 and self.state == _UP:
                loc += buf[pos:i + 2]  # the local side's acknowledgements: ids pass through
            else:
                self._packet(buf[pos], bytes(buf[i:i + rl]))
            pos = i + rl
        if pos:
            self.inbuf = buf[pos:]
        self.local = None
        if loc and self.conn is not None:
            self.b.received(self.conn, loc)
        self.pump()

    def lost(self, now, why):
        """The connection is gone (or could not be made): the next try after the backoff."""
        why = self.why or why
        up = self.state == _UP
        if self.state == _SENT and self.conf.try_private and not self.private_ok and \
                self.why is None:
            # closed after CONNECT without CONNACK: some brokers close on a level | LEVEL_BRIDGE
            # instead of refusing it; every other try goes without it until one is accepted
            self.private = not self.private
        a = self.conf.addresses[self.addr]
        if up:
            self.b.log("notice", "Bridge %s: connection to %s:%d lost: %s."
                       % (self.name, a[0], a[1], why))
            self._event("disconnect", why, 0)
        elif self.state != _STOPPED:
            self.b.log("notice", "Bridge %s: cannot connect to %s:%d: %s."
                       % (self.name, a[0], a[1], why))
            if not self.failing:  # the first of a series: a record per retry would flood
                self.failing = True
                self._event("connect failed", why, 0)
        self._detach(why)
        if up:
            self._notify(b"0")
        self.closing = False
        self.why = None
        self.ping = None
        self.out = bytearray()
        self.inbuf = bytearray()
        if self.state == _STOPPED or self.conf.start_type == "once":
            self.state = _STOPPED
            return
        if self.conf.start_type == "lazy" and up:
            self.state = _IDLE  # until threshold messages are queued again
            return
        n = len(self.conf.addresses)
        if self.again:
            self.again = False
            if up:
                self.addr = 0  # probed(): the main address answers again
            self.state = _DOWN
            self.at = now
            return
        if self.conf.round_robin or not up:
            self.addr = (self.addr + 1) % n
        else:
            self.addr = 0  # failover: the main address first again
        self.state = _DOWN
        self.at = clock.add(now, self._backoff(up))

    def hold(self):
        """True while the port must not read the upstream (the broker pauses the bridge's
        local side as any publisher, core/flow.py)."""
        c = self.conn
        return c is not None and self.b.hold(c)

    def stop(self):
        """Shutdown: DISCONNECT (its will is not published), the local side detached."""
        if self.state == _UP:
            self.out += bytes((DISCONNECT, 0))
        self.state = _STOPPED
        if self.conn is not None:
            self._detach("server shutdown")
            self._notify(b"0")

    def pump(self):
        """Forward what the broker wrote to the local side: call after the broker ran."""
        conn = self.conn
        if conn is None:
            return
        if conn.closing:  # the broker closed it (a takeover, a limit)
            self.conn = None
            self.b.closed(conn)
            self._close("the local side was disconnected")
            return
        # out is bounded by the broker's out_limit: beyond it the bytes wait at the local
        # side, where the broker's limits and policies (drop or back-pressure) apply
        limit = self.b.out_limit
        out = self.out
        while conn.out and len(out) < limit:
            data = bytes(conn.out)  # the broker may append to conn.out meanwhile
            pos = run = 0  # data[run:pos]: packets that go up unchanged, copied at once
            while pos < len(data) and len(out) + pos - run < limit:
                i = pos + 1
                rl = 0
                shift = 0
                while data[i] & 0x80:
                    rl |= (data[i] & 0x7F) << shift
                    shift += 7
                    i += 1
                rl |= data[i] << shift
                i += 1
                if not self._as_is(data, pos, i, i + rl):
                    if run < pos:
                        out += data[run:pos]
                    self._local(data[pos], data, i, i + rl)
                    run = i + rl
                pos = i + rl
            if run < pos:
                out += data[run:pos]
            conn.sent(pos)

    def sys_values(self):
        """(topic, value) pairs for $SYS: messages held for the upstream, sent, dropped."""
        s = self.sess
        base = "$SYS/broker/connection/%s/" % self.remote_id
        held = (len(s.queue) // QUEUED_PAIR) + len(s.inflight) if s is not None else 0
        return [(base + "queued", held), (base + "sent", self.sent_msgs),
                (base + "dropped", self._dropped())]

    # ---- internals ----

    def _dropped(self):
        """Messages for the upstream dropped so far (too large, or the queue full)."""
        s = self.sess
        return self.too_big + (s.lost if s is not None else 0)

    def _event(self, what, why, n):
        """Tell broker.events (capture) about the link (core/capture/sender.py bridge())."""
        ev = self.b.events
        if ev is not None:
            a = self.conf.addresses[self.addr]
            ev.bridge(self.name, what, "%s:%d" % (a[0], a[1]), why, n)

    def _close(self, why):
        self.closing = True
        self.why = why

    def _backoff(self, up):
        c = self.conf
        base = c.restart_base * 1000
        if c.restart_cap is None:
            return base
        if up or not self.delay:
            self.delay = base
        # decorrelated jitter (mosquitto's): between base and three times the last, capped
        hi = self.delay * 3
        self.delay = min(c.restart_cap * 1000, base + int(self.rand() * (hi - base)))
        return self.delay

    def _notify(self, state):
        """The bridge's state (b"1" / b"0") on the local notification topic, retained."""
        if self.conf.notifications:
            t = self.topic
            deliver.publish_msg(self.b, deliver.message(t, t.encode(), state), 1, 1)

    def _attach(self):
        """Accept the local side as client local_clientid and subscribe its out topics."""
        b = self.b
        conn = b.open(LOCAL, "127.0.0.1", 0)
        conn.level = 4
        conn.username = self.conf.local_username
        conn.client_id = self.local_id
        clean = self.conf.local_cleansession
        if clean is None:
            clean = self.conf.cleansession
        if self.sess is not None:
            b.bridged.discard(self.sess)
        handle_connect.accept(b, conn, self.local_id, 1 if clean else 0, 0, None)
        self.conn = conn
        self.sess = conn.session
        self.sess.uplink = True  # full, it holds the publishers (again after a timeout)
        self.sess.forward0 = self.forward0
        self.sess.window = self._window()
        b.bridged.add(self.sess)
        body = bytearray(b"\x00\x01")
        want = []
        for t in self.conf.topics:
            if t[BRIDGE_DIRECTION] & OUT:
                _put_str(body, t[BRIDGE_LOCAL])
                body.append(t[BRIDGE_QOS])
                want.append(t[BRIDGE_LOCAL])
        if want:
            b.received(conn, _packet(SUBSCRIBE_OUT, body))
        stale = [f for f in self.sess.subs if f not in want]  # from an earlier config
        if stale:
            body = bytearray(b"\x00\x02")
            for f in stale:
                _put_str(body, f)
            b.received(conn, _packet(UNSUBSCRIBE_OUT, body))

    def _window(self):
        """Messages in flight upstream. The rate is at most a window per round trip, so
        more than max_inflight_messages (mosquitto's bridges use it, 20) where the port's
        output limit has room for them at 4 KB each (256 on CPython, _WINDOW: where a queue
        pauses its publishers; a board keeps max_inflight_messages); not with a QoS 2 out
        topic: an upstream limits the QoS 2 flows it takes in (mosquitto 2.0.11 lost some
        of 2,000 with 256 in flight, none with its max_inflight_messages, 20)."""
        b = self.b
        for t in self.conf.topics:
            if t[BRIDGE_DIRECTION] & OUT and t[BRIDGE_QOS] == 2:
                return 0  # the broker's: max_inflight_messages
        return max(b.max_inflight, min(_WINDOW, b.out_limit >> 12))

    def _detach(self, why):
        conn = self.conn
        if conn is not None:
            self.conn = None
            self.b.close(conn, False, why)
            self.b.closed(conn)

    def _up(self):
        c = self.conf
        a = c.addresses[self.addr]
        self.state = _UP
        self.ping = None
        self.last_tx = self.active = self.b.now
        self.probe_at = clock.add(self.b.now, (c.restart_cap or c.restart_base) * 1000)
        self.delay = 0
        self.b.log("notice", "Bridge %s connected to %s:%d as %s." % (self.name, a[0], a[1],
                                                                     self.remote_id))
        self.failing = False
        if self.private:
            self.private_ok = True
        self._event("connect", None, 0)
        if c.notifications and not c.notifications_local_only:
            put_publish(self.out, PUBLISH | PUB_RETAIN, self.topic.encode(), 0, b"1")
        pid = self._free_pid()
        sub = bytearray((pid >> 8, pid & 0xFF))
        unsub = bytearray(sub)
        for t in c.topics:
            if t[BRIDGE_DIRECTION] & IN:
                _put_str(sub, t[BRIDGE_REMOTE])
                sub.append(t[BRIDGE_QOS])
            elif c.attempt_unsubscribe:
                _put_str(unsub, t[BRIDGE_REMOTE])
        if len(sub) > 2:
            self.out += _packet(SUBSCRIBE_OUT, sub)
        if len(unsub) > 2:
            self.out += _packet(UNSUBSCRIBE_OUT, unsub)
        self._attach()
        self._notify(b"1")

    def _free_pid(self):
        """A packet id the local session has not in flight (for SUBSCRIBE, UNSUBSCRIBE)."""
        fl = self.sess.inflight if self.sess is not None else ()
        p = 1
        while p in fl:
            p += 1
        return p

    def _packet(self, b0, body):
        """One packet from the upstream."""
        t = b0 & TYPE_MASK
        if self.state != _UP:
            if t != CONNACK or len(body) != 2:
                self._close("%s instead of CONNACK" % ("packet type %d" % (t >> TYPE_SHIFT)))
                return
            rc = body[1]
            if rc == ACCEPTED:
                self._up()
                return
            if rc == BAD_PROTOCOL and self.private:
                self.private = False  # not a bridge-aware broker: plain CONNECT next time
                self.again = True
                self._close("try_private refused (CONNACK 1): connecting as a plain client")
                return
            self._close("connection refused: %s (CONNACK %d)"
                        % (connack_text(rc) if rc < 6 else "code", rc))
            return
        if t == PUBLISH:
            self._incoming(b0, body)
        elif PUBACK <= t <= PUBCOMP:  # one of two bytes is received() above
            self._close("malformed packet from the upstream")
        elif t == SUBACK:
            for i in range(2, len(body)):
                if body[i] == SUBACK_FAILURE:
                    self.b.log("warning", "Bridge %s: the upstream refused a subscription."
                               % self.name)
        elif t == PINGRESP:
            self.ping = None
        elif t != UNSUBACK:
            self._close("unexpected packet type %d from the upstream" % (t >> TYPE_SHIFT))

    def _incoming(self, b0, body):
        """An in-direction PUBLISH: its topic mapped to the local one and published there."""
        q = (b0 >> PUB_QOS_SHIFT) & QOS_MASK
        n = (body[0] << 8) | body[1]
        topic = body[2:2 + n].decode()
        pid = (body[2 + n] << 8) | body[3 + n] if q else 0
        local = None
        for t in self.conf.topics:
            if t[BRIDGE_DIRECTION] & IN and matches(t[BRIDGE_REMOTE], topic):
                local = t[BRIDGE_LOCAL_PREFIX] + topic[len(t[BRIDGE_REMOTE_PREFIX]):]
                break
        self.active = self.b.now
        if local is None or self.conn is None:  # not ours (an old subscription): acknowledged
            if q:
                self.out += bytes((PUBACK if q == 1 else PUBREC, 2, pid >> 8, pid & 0xFF))
            return
        put_publish(self.local, b0, local.encode(), pid, body[4 + n if q else 2 + n:])

    def forward0(self, c, mv, s, ps, e, topic):
        """Session.forward0: a QoS 0 PUBLISH as received, mv[s:e] (its payload from ps) on
        local topic, into out as it is when the upstream topic is the same, nothing waits
        before it at the local side c (the order kept) and out is under out_limit, counted
        as sent to c; else False: it goes the usual way (c.out, then pump())."""
        out = self.out
        sess = self.sess
        b = self.b
        if c is not self.conn or c.out or sess.queue or self.closing or \
                len(out) >= b.out_limit or len(sess.inflight) >= (sess.window or b.max_inflight):
            return False
        last = self.plain
        if last is None or last[0] != topic:
            tb = topic.encode()
            last = self.plain = (topic, self._remote(tb) == tb)
        mps = self.conf.max_packet_size
        if not last[1] or mps and e - s + 4 > mps:  # near the limit: _outgoing() decides
            return False
        out += mv[s:e]
        c.tx_bytes += e - s  # as if written by the local side (its count in capture)
        c.tx_msgs += 1
        b.msgs_out += 1
        ev = b.events
        if ev is not None and ev.deliveries is not None:
            ev.deliveries(c, topic, 0, 0, e - ps)
        if b.debug:
            b.packet_log().publish_out(b, c, PUBLISH, 0, topic, e - ps)
        self.sent_msgs += 1
        self.active = b.now
        return True

    def _as_is(self, data, p, s, e):
        """True when the local side's packet data[p:e] (its body from s) goes upstream
        unchanged: an acknowledgement, or a PUBLISH whose topic maps to itself (counted as
        sent); else _local() handles it."""
        b0 = data[p]
        t = b0 & TYPE_MASK
        if t != PUBLISH:
            return PUBACK <= t <= PUBCOMP  # acknowledgements of in-direction messages
        c = self.conf
        n = (data[s] << 8) | data[s + 1]
        tb = data[s + 2:s + 2 + n]
        if self._remote(tb) != tb or b0 & PUB_RETAIN and not c.outgoing_retain or \
                c.max_packet_size and e - s + 5 > c.max_packet_size:
            return False
        self.sent_msgs += 1
        self.active = self.b.now
        return True

    def _local(self, b0, data, s, e):
        """One packet the broker wrote to the local side that _as_is() does not send up
        unchanged: a PUBLISH mapped (or dropped), a SUBACK's failures logged."""
        t = b0 & TYPE_MASK
        if t == PUBLISH:
            self._outgoing(b0, data, s, e)
        elif t == SUBACK:
            for i in range(s + 2, e):
                if data[i] == SUBACK_FAILURE:
                    self.b.log("warning", "Bridge %s: a local subscription was refused."
                               % self.name)

    def _remote(self, tb):
        """The upstream topic (bytes) of local topic tb (bytes), None when no out topic
        line maps it; the last answer is kept: a stream is mostly one topic."""
        last = self.last
        if last is not None and last[0] == tb:
            return last[1]
        topic = tb.decode()
        rb = None
        for t in self.conf.topics:
            if t[BRIDGE_DIRECTION] & OUT and matches(t[BRIDGE_LOCAL], topic):
                rb = (t[BRIDGE_REMOTE_PREFIX] + topic[len(t[BRIDGE_LOCAL_PREFIX]):]).encode()
                break
        self.last = (tb, rb)
        return rb

    def _outgoing(self, b0, data, s, e):
        q = (b0 >> PUB_QOS_SHIFT) & QOS_MASK
        n = (data[s] << 8) | data[s + 1]
        pid = (data[s + 2 + n] << 8) | data[s + 3 + n] if q else 0
        ps = s + 4 + n if q else s + 2 + n
        rb = self._remote(data[s + 2:s + 2 + n])
        c = self.conf
        if rb is not None and c.max_packet_size:
            size = e - ps + len(rb) + (4 if q else 2)
            if size + 5 > c.max_packet_size:
                self.too_big += 1
                self.b.log("warning", "Bridge %s: message on '%s' dropped: %d bytes is over "
                           "bridge_max_packet_size." % (self.name, data[s + 2:s + 2 + n].decode(),
                                                        size))
                rb = None
        if rb is None:  # not forwarded: the local side acknowledges it
            if q:
                self.b.received(self.conn, bytes((PUBACK if q == 1 else PUBREC, 2, pid >> 8,
                                                  pid & 0xFF)))
            return
        put_publish(self.out, b0 if c.outgoing_retain else b0 & ~PUB_RETAIN, rb, pid, data[ps:e])
        self.sent_msgs += 1
        self.active = self.b.now


def start(broker, cfg, host_name, rand):
    """The Links of cfg.bridges, their local sessions made (the port drives them)."""
    broker.bridged = set()
    links = [Link(c, broker, host_name, rand) for c in cfg.bridges]
    broker.sys_sources = (broker.sys_sources or []) + links
    return links
