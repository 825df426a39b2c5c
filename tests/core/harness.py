"""A small driver around core.broker.Broker for the spec tests: clients, time, logs."""

from core.broker import Broker
from core.config import Config
from core.clock import PERIOD
from core.listener import Listener
import mqttc


class Harness:
    """One broker with a controllable clock and a captured log."""

    def __init__(self, start_ms=0, **settings):
        cfg = Config()
        cfg.finish()
        for k in settings:
            setattr(cfg, k, settings[k])
        self.cfg = cfg
        self.logs = []
        self.now = start_ms & (PERIOD - 1)
        self.broker = Broker(cfg, self._log)
        self.broker.tick(self.now)
        self._next_port = 50000

    def _log(self, level, msg):
        self.logs.append((level, msg))

    def mounted_listener(self, prefix, port=1884):
        """A further listener whose mount_point is prefix, for client(listener=...)."""
        l = Listener(port)
        l.mount_point = prefix
        self.cfg.listeners.append(l)
        return l

    def client(self, listener=None):
        """Open a new TCP-level connection (not yet MQTT-connected), on listener or the first."""
        conn = self.broker.open(listener or self.cfg.listeners[0], "127.0.0.1", self._next_port)
        assert conn is not None, "broker refused to open a connection"
        c = Client(self, conn, self._next_port)
        self._next_port += 1
        return c

    def refused(self, data, rc):
        """A new client sends data (a CONNECT): it gets only CONNACK rc, session present 0,
        and its connection is closed; returns the client."""
        c = self.client()
        c.send(data)
        ack = c.only(mqttc.CONNACK)
        assert (ack.rc, ack.session_present) == (rc, 0), ack
        assert c.closing
        return c

    def connected(self, client_id, clean=True, keepalive=60, listener=None, **kw):
        """A client whose CONNECT was accepted; asserts CONNACK rc 0 and returns it."""
        c = self.client(listener)
        ack = c.connect(client_id, clean=clean, keepalive=keepalive, **kw)
        assert ack.rc == 0, "CONNACK %r" % ack
        return c

    def connected5(self, client_id, clean=True, keepalive=60, listener=None, **kw):
        """An MQTT 5.0 client whose CONNECT was accepted (see Client.connect5)."""
        c = self.client(listener)
        ack = c.connect5(client_id, clean=clean, keepalive=keepalive, **kw)
        assert ack.rc == 0, "CONNACK %r" % ack
        return c

    def subscriber(self, client_id, flt, qos=0, clean=True, listener=None):
        """A connected client subscribed to one filter; asserts the grant."""
        c = self.connected(client_id, clean=clean, listener=listener)
        codes = c.subscribe([(flt, qos)])
        assert codes == [qos], "SUBACK codes %r" % codes
        return c

    def subscriber5(self, client_id, flt, options=0, **kw):
        """A connected MQTT 5.0 client subscribed to one filter with subscription options
        (the QoS in their low bits); asserts the grant."""
        c = self.connected5(client_id, **kw)
        codes = c.subscribe5([(flt, options)])
        assert codes == [options & 3], "SUBACK codes %r" % codes
        return c

    def advance(self, ms, step=500):
        """Let ms milliseconds pass, ticking the broker every step ms."""
        while ms > 0:
            d = step if ms > step else ms
            ms -= d
            self.now = (self.now + d) & (PERIOD - 1)
            self.broker.tick(self.now)
        self.broker.pending.clear()

    def closes_after(self, c, open_ms, more_ms):
        """After open_ms client c is still connected; more_ms later the broker closed it."""
        self.advance(open_ms)
        assert not c.closing
        self.advance(more_ms)
        assert c.closing

    def mark(self):
        """Position in the log, for logs_since()."""
        return len(self.logs)

    def logs_since(self, mark, levels=("notice", "warning")):
        """Log messages written since mark at the given levels."""
        out = []
        for lv, msg in self.logs[mark:]:
            if lv in levels:
                out.append(msg)
        return out


class Client:
    """One connection, driven from the test as the client side."""

    def __init__(self, h, conn, port):
        self.h = h
        self.conn = conn
        self.port = port
        self.rest = b""
        self.decode = None  # mqttc's packet decoder: 3.1.1 until connect5()

    def send(self, data):
        """Feed bytes from the client to the broker."""
        self.h.broker.received(self.conn, data)
        self.h.broker.pending.clear()

    def answer(self, data):
        """Feed data to the broker; the bytes it queued for this client (consumed)."""
        self.send(data)
        return self.read()

    def read(self):
        """All bytes the broker has queued for this client (consumed)."""
        data = bytes(self.conn.out)
        self.conn.sent(len(data))
        return data

    def packets(self):
        """Packets the broker has sent to this client since the last read."""
        pkts, self.rest = mqttc.split(self.rest + self.read(), self.decode)
        return pkts

    def publishes(self):
        """PUBLISH packets received since the last read (other packets are dropped)."""
        out = []
        for p in self.packets():
            if p.type == mqttc.PUBLISH:
                out.append(p)
        return out

    def only(self, ptype):
        """Exactly one packet received, of type ptype; returns it."""
        pkts = self.packets()
        assert len(pkts) == 1 and pkts[0].type == ptype, \
            "expected one %s, got %r" % (mqttc.NAMES[ptype], pkts)
        return pkts[0]

    @property
    def closing(self):
        return self.conn.closing

    def connect(self, client_id, builder=mqttc.connect, **kw):
        """Send CONNECT; returns the CONNACK (asserts it is the only packet so far)."""
        self.send(builder(client_id, **kw))
        pkts = self.packets()
        assert pkts and pkts[0].type == mqttc.CONNACK, "no CONNACK: %r" % pkts
        self.after_connack = pkts[1:]
        return pkts[0]

    def connect5(self, client_id, **kw):
        """Send an MQTT 5.0 CONNECT (mqttc.connect5's arguments); its packets are read as
        v5 from now on. Returns the CONNACK (asserts it is the only packet so far)."""
        self.decode = mqttc.decode5
        return self.connect(client_id, builder=mqttc.connect5, **kw)

    def subscribe5(self, filters, pid=1, properties=b"\x00"):
        """A v5 SUBSCRIBE (filters: (filter, options byte)); returns the SUBACK codes."""
        return self.subscribe(filters, pid, mqttc.subscribe5(pid, filters, properties))

    def disconnect5(self, rc=None, properties=None):
        """A v5 DISCONNECT followed by the socket closing."""
        self.send(mqttc.disconnect5(rc, properties))
        self.drop()

    def subscribe(self, filters, pid=1, packet=None):
        """SUBSCRIBE and return the SUBACK codes (other packets kept in self.extra); packet:
        the SUBSCRIBE to send instead of the 3.1.1 one of filters."""
        self.send(packet or mqttc.subscribe(pid, filters))
        pkts = self.packets()
        assert pkts and pkts[0].type == mqttc.SUBACK and pkts[0].pid == pid, \
            "no SUBACK: %r" % pkts
        self.extra = pkts[1:]
        return pkts[0].codes

    def publish(self, topic, payload=b"", qos=0, retain=False, pid=None, dup=False):
        """PUBLISH (v5 after connect5()) and complete the client-to-server QoS flow;
        returns the packets got."""
        if qos and pid is None:
            pid = 1
        build = mqttc.publish5 if self.decode is mqttc.decode5 else mqttc.publish
        self.send(build(topic, payload, qos, retain, dup, pid))
        if qos == 0:
            return []
        pkts = self.packets()
        want = mqttc.PUBACK if qos == 1 else mqttc.PUBREC
        assert pkts and pkts[0].type == want and pkts[0].pid == pid, \
            "qos %d ack: %r" % (qos, pkts)
        if qos == 2:
            self.send(mqttc.pubrel(pid))
            more = self.packets()
            assert more and more[0].type == mqttc.PUBCOMP and more[0].pid == pid, \
                "PUBCOMP: %r" % more
            pkts = pkts + more
        return pkts

    def ack(self, p):
        """Complete the client side of the QoS flow for a PUBLISH received."""
        if p.qos == 1:
            self.send(mqttc.puback(p.pid))
        elif p.qos == 2:
            self.send(mqttc.pubrec(p.pid))
            rel = self.only(mqttc.PUBREL)
            assert rel.pid == p.pid
            self.send(mqttc.pubcomp(p.pid))

    def drop(self):
        """The socket closed without DISCONNECT."""
        self.h.broker.closed(self.conn)
        self.h.broker.pending.clear()

    def disconnect(self):
        """A clean DISCONNECT followed by the socket closing."""
        self.send(mqttc.disconnect())
        self.drop()


def assert_closed_for_violation(h, c, mark, name):
    """c was closed, and a notice/warning line since mark names the client (or peer)."""
    assert c.closing, "connection not closed"
    lines = h.logs_since(mark)
    hits = [m for m in lines if name in m]
    assert len(hits) == 1, "want one notice/warning log naming %r; got %r" % (name, h.logs[mark:])
    # The line must say why, not just name the client.
    assert len(hits[0]) > len(name) + 20, hits[0]


def raised(exc, fn, *args):
    """The exc that fn(*args) raises; fails the test when it raises none."""
    try:
        fn(*args)
    except exc as e:
        return e
    assert False, "no %s for %r" % (exc.__name__, args)


def violation(data, cid="violator"):
    """A connected client cid sends data; asserts that the broker closed it and logged why.
    Returns (harness, client)."""
    h = Harness()
    c = h.connected(cid)
    m = h.mark()
    c.send(data)
    assert_closed_for_violation(h, c, m, cid)
    return h, c


def violation5(data, rc, cid="violator", h=None):
    """A connected MQTT 5.0 client cid (of harness h, or a new one) sends data; asserts that
    the broker answered DISCONNECT with reason code rc, closed it and logged why. Returns
    (harness, client)."""
    h = h or Harness()
    c = h.connected5(cid)
    m = h.mark()
    c.send(data)
    d = c.only(mqttc.DISCONNECT)
    assert d.rc == rc, "DISCONNECT 0x%02x, not 0x%02x" % (d.rc, rc)
    assert_closed_for_violation(h, c, m, cid)
    return h, c


def burst5(qos, n):
    """A v5 subscriber of "t" at qos, then n messages published to "t" at qos by a v5
    client: (harness, subscriber, the PUBLISH packets it got)."""
    h = Harness()
    sub = h.subscriber5("sub", "t", qos)
    pub = h.connected5("pub")
    for i in range(n):
        pub.publish("t", b"%d" % i, qos=qos, pid=i + 1 if qos else None)
    return h, sub, sub.publishes()


def topics(pkts):
    """The (topic, payload) pairs of PUBLISH packets in pkts."""
    return [(p.topic, p.payload) for p in pkts if p.type == mqttc.PUBLISH]
