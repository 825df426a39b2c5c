"""MQTT 5.0 (protocol level 5): a v5 connection's state, DISCONNECT both ways, reason codes
on acknowledgements, session expiry and will delay.

Imported only when a v5 client connects (core/connect.py, the code of its CONNECT): a
broker that serves 3.1.1 clients alone never loads it. core/props.py is loaded only for a
property block that is not empty. A v5 connection carries a V5 (conn.v5), whose
handlers (V5.handlers, below) core/broker.py dispatches its packets to; its PUBLISH goes
to core/handle_publish.py, which reads an empty property block itself and asks
V5.publish for any other (core/pub5.py for the properties), and deliveries to it are
written by core/deliver.py with a property block (publish_props).
"""

from core.errors import ProtocolError
from core import handle_publish
from core import handle_subscribe
from core.handle_connect import connect
from core.broker import pingreq
from core.names import PUBACK, PUBREC, MSG_PAYLOAD, MSG_PROPS, OUT_QOS, OUT_RELEASED
from core.names import RC_NO_MATCHING_SUBSCRIBERS, RC_ERROR, RC_PROTOCOL_ERROR
from core.names import RC_NOT_AUTHORIZED, RC_PACKET_TOO_LARGE
from core.names import RC_PAYLOAD_FORMAT_INVALID, RC_QOS_NOT_SUPPORTED
from core.names import RC_RECEIVE_MAXIMUM_EXCEEDED, LATER_CONN, LATER_WILL, LATER_DUE
from core.names import PUB_QOS_SHIFT, QOS_MASK, PROP_SUBSCRIPTION_ID
from core.names import SUB_NO_LOCAL, SUB_RETAIN_AS_PUBLISHED, SUB_RETAIN_HANDLING, SUB_RESERVED


class V5:
    """What a v5 client asked for in CONNECT (class defaults: the spec's when absent)."""

    expiry = 0  # Session Expiry Interval, seconds (EXPIRY_NEVER: does not expire)
    sid = 0  # the Subscription Identifier of the SUBSCRIBE being handled (0: none)
    rmax = 65535  # Receive Maximum: QoS 1 and 2 PUBLISHes it takes unacknowledged
    max_out = 0  # Maximum Packet Size it accepts, 0: no limit
    alias_max = 0  # Topic Alias Maximum toward it
    keepalive = None  # Server Keep Alive sent in CONNACK, when the broker set one
    assigned = False  # the broker assigned its client identifier
    auth = None  # Authentication Method asked for (refused: 0x8C)
    will_delay = 0  # Will Delay Interval, seconds
    will_props = b""  # the will's properties to forward (all but its two intervals)
    will_expiry = None  # the will's Message Expiry Interval, counted from its publication
    will_utf8 = False  # the will's Payload Format Indicator is 1: its payload is UTF-8

    def options(self, conn, o, f):
        """The QoS of SUBSCRIBE's subscription options o for filter f: bits 6 and 7 are
        reserved (MQTT-3.8.3-5), Retain Handling 3 is malformed, No Local on a shared
        subscription a protocol error (MQTT-3.8.3-4). Granted at most max_qos
        (MQTT-3.2.2-10); 3 stays (a protocol error)."""
        if o & SUB_RESERVED or o & SUB_RETAIN_HANDLING == SUB_RETAIN_HANDLING:
            raise ProtocolError("SUBSCRIBE options 0x%02x" % o)
        if o & SUB_NO_LOCAL and f[:7] == "$share/":
            raise ProtocolError("No Local on shared subscription '%s'" % f, RC_PROTOCOL_ERROR)
        q = o & QOS_MASK
        m = conn.listener.max_qos
        return m if m < q < 3 else q

    def granted(self, sess, f, o):
        """sess's subscription f was granted with options o in a SUBSCRIBE whose
        Subscription Identifier is self.sid: keep No Local, Retain As Published and the
        identifier (core/subs.py); the word kept, for the persistence store (0: none)."""
        if o & (SUB_NO_LOCAL | SUB_RETAIN_AS_PUBLISHED) or self.sid or sess.props is not None:
            from core import subs
            return subs.set(sess, f, o, self.sid)
        return 0

    # what core/handle_publish.py's publish takes from an empty property block (core/names.py,
    # PUB5_*): no topic alias, the block's one byte, nothing to forward, no expiry, no fault
    plain = (None, None, 1, None, 0, None)

    def publish(self, b, conn, b0, mv, ts, te, p, e):
        """The checks of a 5.0 PUBLISH (topic mv[ts:te], property block at mv[p]) that is
        not a plain QoS 0 or 1 one, and what its properties say (core/pub5.py read())."""
        if p >= e:
            raise ProtocolError("PUBLISH cut short before its property length")
        qos = b0 >> PUB_QOS_SHIFT & QOS_MASK
        if qos > conn.listener.max_qos:
            raise ProtocolError("PUBLISH QoS %d over max_qos %d" % (qos, conn.listener.max_qos),
                                RC_QOS_NOT_SUPPORTED)
        if qos == 2:
            q2 = conn.session.qos2_in
            pid = mv[te] << 8 | mv[te + 1]
            if q2 and len(q2) >= b.max_inflight and pid not in q2:
                raise ProtocolError("more than Receive Maximum (%d) QoS 2 PUBLISHes unreleased"
                                    % b.max_inflight, RC_RECEIVE_MAXIMUM_EXCEEDED)
        if not mv[p]:
            return self.plain
        from core import pub5
        return pub5.read(b, conn, mv, ts, te, p, e)

    def publish_props(self, b, c, tb, msg, q):
        """The property block of a PUBLISH of msg (topic bytes tb, QoS q) to this client,
        connection c, or None when the packet would be over its Maximum Packet Size (a
        notice logged, as mosquitto's)."""
        p = b"\x00"  # an empty property block
        if len(msg) > MSG_PROPS:  # a message with properties (core/pub5.py, loaded then)
            from core import pub5
            p = pub5.block(b, msg)
        mx = self.max_out
        if mx:
            n = 2 + len(tb) + (2 if q else 0) + len(p) + len(msg[MSG_PAYLOAD])  # remaining length
            if 1 + (1 if n < 128 else 2 if n < 16384 else 3 if n < 2097152 else 4) + n > mx:
                from core.why import text
                b.log("notice", text(40, c.client_id, n))
                return None
        return p


def closed(b, conn, will, rc):
    """conn, a v5 connection, is closing (core/broker.py close): core/connect.py's closed."""
    from core import connect as m  # the module (this one's connect is handle_connect's)
    m.closed(b, conn, will, rc)


def _rare(b, conn, b0, mv, s, e, p0):
    """UNSUBSCRIBE, DISCONNECT and AUTH of a v5 client: core/connect.py's handlers."""
    from core import connect as m
    m.handle(b, conn, b0, mv, s, e, p0)


def resumed(b, s, ending):
    """A new connection for session s: ending (Clean Start, or it ended with its last
    connection), its delayed will goes out now; else the will is not sent (MQTT-3.1.3-9)
    and its expiry stops; resumed by a 3.1.1 client, it loses its v5 expiry and window."""
    w = b.later.pop(s, None)
    if w is not None and ending:
        from core.connect import will_now
        will_now(b, w[LATER_CONN], w[LATER_WILL])
    if s.expiry is not None or s.window:
        s.expiry = None
        s.window = 0


def tick(b):
    """Every second: delayed wills that are due, sessions whose expiry interval passed (or
    persistent_client_expiration, which core/broker.py applies next, for those that never
    expire: their wills go first)."""
    now = b.secs
    later = b.later
    for s in list(later):
        lim = s.expiry if s.expiry is not None else b.cfg.persistent_client_expiration
        end = lim is not None and now - s.gone_at >= lim
        w = later[s]
        if w is not None and (end or now >= w[LATER_DUE]):
            later[s] = None
            from core.connect import will_now
            will_now(b, w[LATER_CONN], w[LATER_WILL])
            w = None
        if end and s.expiry is not None:
            b.log("notice", "Expiring client %s, its session expiry interval of %d s passed."
                  % (s.client_id, s.expiry))
            b.drop_session(s)
        if end or w is None and s.expiry is None:
            del later[s]


# ---- packets of a connected v5 client ----

def route(b, conn, b0, mv, ts, te, ps, e, qos, topic, v5):
    """core/pub5.py route(): a v5 PUBLISH with properties to forward or an alias."""
    from core import pub5
    return pub5.route(b, conn, b0, mv, ts, te, ps, e, qos, topic, v5)


def refused(b, conn, qos, pid, why, size, bad=False):
    """Acknowledge with a reason code, as mosquitto 2.0, a PUBLISH that was not accepted
    (why; bad: its payload is not of its Payload Format Indicator's format) or found no
    subscriber (PUBACK 0x10 only); False: the usual acknowledgement."""
    if why is None:
        if qos != 1:
            return False
        rc = RC_NO_MATCHING_SUBSCRIBERS
    else:
        lim = b.cfg.message_size_limit
        # Payload format invalid, Packet too large, Not authorized
        rc = RC_PAYLOAD_FORMAT_INVALID if bad else \
            RC_PACKET_TOO_LARGE if lim and size > lim else RC_NOT_AUTHORIZED
    _ack_rc(b, conn, PUBACK if qos == 1 else PUBREC, pid, rc)
    return True


def _ack_rc(b, conn, b0, pid, rc):
    """An acknowledgement with reason code rc (no properties, as mosquitto sends them)."""
    b.write(conn, bytes((b0, 3, pid >> 8, pid & 0xFF, rc)))


def _ack(mv, s, e, kind):
    """The reason code of a v5 acknowledgement mv[s:e] (its properties checked)."""
    if e - s < 2:
        raise ProtocolError("acknowledgement of %d bytes, without a packet identifier"
                            % (e - s))
    if e - s == 2:
        return 0
    if e - s > 3:
        from core import props
        if props.scan(mv, s + 3, e, kind) != e:
            raise ProtocolError("bytes after the properties of an acknowledgement")
    return mv[s + 2]


def puback(b, conn, b0, mv, s, e, p0):
    """PUBACK, the two-byte form or with a reason code: the message is done either way."""
    if e - s != 2:
        _ack(mv, s, e, 4)
    handle_publish.puback(b, conn, b0, mv, s, s + 2, p0)


def pubrec(b, conn, b0, mv, s, e, p0):
    """PUBREC: an error code (0x80 or more) ends the flow there, else PUBREL."""
    if _ack(mv, s, e, 5) < RC_ERROR:
        handle_publish.pubrec(b, conn, b0, mv, s, s + 2, p0)
        return
    pid = mv[s] << 8 | mv[s + 1]
    f = conn.session.flags.get(pid)
    if f is not None and f & OUT_QOS == 2 and not f & OUT_RELEASED:
        handle_publish.done(b, conn.session, pid)  # acknowledged to the end


def pubrel(b, conn, b0, mv, s, e, p0):
    """PUBREL: PUBCOMP, 0x00 also for an identifier that is not awaiting release (as
    mosquitto 2.0: 0x92 is the spec's choice to make, not its rule)."""
    _ack(mv, s, e, 6)
    handle_publish.pubrel(b, conn, b0, mv, s, s + 2, p0)


def pubcomp(b, conn, b0, mv, s, e, p0):
    """PUBCOMP with a reason code."""
    _ack(mv, s, e, 7)
    handle_publish.pubcomp(b, conn, b0, mv, s, s + 2, p0)


def subscribe(b, conn, b0, mv, s, e, p0):
    """SUBSCRIBE: its properties (a Subscription Identifier for every filter), then each
    filter with its subscription options."""
    if e - s < 3:
        from core.why import text
        raise ProtocolError(text(20))
    pe = s + 3  # an empty property block (one 0 byte), the common case: core/props.py not loaded
    sid = 0
    if mv[s + 2]:
        from core import props
        pe = props.scan(mv, s + 2, e, 8)
        sid = props.get(mv, s + 2, PROP_SUBSCRIPTION_ID) or 0
    v = conn.v5
    if sid or v.sid:  # V5.sid (0) until one comes
        v.sid = sid
    handle_subscribe.subscribe(b, conn, b0, mv, s, e, p0, pe)


# a v5 connection's packet handlers, by type (core/broker.py: a second CONNECT is refused
# before its handler is called)
V5.handlers = (None, connect, None, handle_publish.publish, puback, pubrec, pubrel, pubcomp,
               subscribe, None, _rare, None, pingreq, None, _rare, _rare)
