"""MQTT 5.0, the packets a connection sends rarely and its end: CONNECT (its properties,
the will's, the v5 refusals, the CONNACK), UNSUBSCRIBE, DISCONNECT, AUTH, and the close
(DISCONNECT from the server, the will, delayed or not, the session's expiry).

Imported by core/handle_connect.py for a v5 CONNECT, by core/v5.py for the rest, and
needed only while one of those is handled: a port short of heap drops it again after each
(broker.forget), as core/why.py holds the texts of rare paths. The connection's state and
the code of its every packet are core/v5.py's.
"""

from core.errors import ProtocolError
from core import handle_subscribe
from core.v5 import V5
from core.names import CONNACK, EXPIRY_NEVER, PROP_PAYLOAD_FORMAT, PROP_SESSION_EXPIRY
from core.names import SESSION_ENDING
from core.names import TYPE_MASK, UNSUBSCRIBE, UNSUBACK, DISCONNECT, MSG_TOPIC
from core.names import MSG_TOPIC_BYTES, RC_NO_SUBSCRIPTION_EXISTED, RC_DISCONNECT_WITH_WILL
from core.names import PROP_ASSIGNED_CLIENT_ID, PROP_SERVER_KEEP_ALIVE, PROP_AUTH_METHOD
from core.names import PROP_AUTH_DATA, PROP_WILL_DELAY, PROP_RECEIVE_MAXIMUM
from core.names import PROP_TOPIC_ALIAS_MAXIMUM, PROP_MAXIMUM_QOS, PROP_RETAIN_AVAILABLE
from core.names import PROP_MAXIMUM_PACKET_SIZE, PROP_MESSAGE_EXPIRY
from core.names import WILL_MSG, WILL_QOS, WILL_RETAIN, MSG_PAYLOAD
from core.names import RC_PROTOCOL_ERROR, RC_BAD_AUTHENTICATION_METHOD
from core.names import RC_PAYLOAD_FORMAT_INVALID, RC_RETAIN_NOT_SUPPORTED, RC_QOS_NOT_SUPPORTED


def connect_props(b, conn, mv, pos, end):
    """Read CONNECT's properties at mv[pos] into conn.v5; return where they end."""
    v = conn.v5 = V5()
    if pos < end and not mv[pos]:
        return pos + 1  # none, the common case: the spec's defaults (V5's)
    from core import props
    pe = props.scan(mv, pos, end, 1)
    x = props.get(mv, pos, PROP_SESSION_EXPIRY)
    if x:
        v.expiry = x
    x = props.get(mv, pos, PROP_RECEIVE_MAXIMUM)
    if x is not None:
        v.rmax = x
    x = props.get(mv, pos, PROP_MAXIMUM_PACKET_SIZE)
    if x is not None:
        v.max_out = x
    x = props.get(mv, pos, PROP_TOPIC_ALIAS_MAXIMUM)
    if x:
        v.alias_max = x
    v.auth = props.get(mv, pos, PROP_AUTH_METHOD)
    if v.auth is None and props.get(mv, pos, PROP_AUTH_DATA) is not None:
        raise ProtocolError("Authentication Data without an Authentication Method",
                            RC_PROTOCOL_ERROR)
    return pe


def will_props(conn, mv, pos, end):
    """Read the will properties at mv[pos] into conn.v5; return where they end."""
    from core import props
    pe = props.scan(mv, pos, end, props.WILL)
    v = conn.v5
    x = props.get(mv, pos, PROP_WILL_DELAY)
    if x:
        v.will_delay = x
    v.will_utf8 = props.get(mv, pos, PROP_PAYLOAD_FORMAT) == 1
    v.will_expiry = props.get(mv, pos, PROP_MESSAGE_EXPIRY)
    out = bytearray()
    props.copy(out, mv, pos, bytes((PROP_WILL_DELAY, PROP_MESSAGE_EXPIRY)))
    if out:
        v.will_props = bytes(out)
    return pe


def checked(b, conn, cid, ka, will):
    """The keepalive conn gets, or None when its CONNECT is refused here (CONNACK sent):
    an Authentication Method (0x8C, MQTT-4.12.0-1) or a will the broker cannot take."""
    v = conn.v5
    if not cid:
        v.assigned = True
    rc = RC_BAD_AUTHENTICATION_METHOD if v.auth is not None else 0
    if not rc and will is not None:
        rc = _will_refused(conn, b.cfg, will)
    if rc:
        from core.handle_connect import refuse
        refuse(b, conn, rc, 39)  # CONNECT asks for what the broker does not offer
        return None
    return keepalive(b.cfg, conn, ka)


def _will_refused(conn, cfg, will):
    """The CONNACK reason code that refuses conn's will, or 0."""
    if will[WILL_QOS] > conn.listener.max_qos:
        return RC_QOS_NOT_SUPPORTED  # MQTT-3.2.2-12
    if will[WILL_RETAIN] and not cfg.retain_available:
        return RC_RETAIN_NOT_SUPPORTED  # MQTT-3.2.2-13
    if conn.v5.will_utf8:
        from core import utf8
        p = will[WILL_MSG][MSG_PAYLOAD]
        try:
            utf8.check(memoryview(p), 0, len(p))
        except ProtocolError:
            return RC_PAYLOAD_FORMAT_INVALID
    return 0


def keepalive(cfg, conn, ka):
    """The keepalive conn gets: max_keepalive, sent as Server Keep Alive, when it asked
    for more or for none (as mosquitto 2.0; a 3.1.1 client is refused instead)."""
    m = cfg.max_keepalive
    if ka == 0 or ka > m:
        conn.v5.keepalive = m
        return m
    return ka


def refuse(b, conn, rc, why):
    """Log and write the v5 CONNACK refusing conn with 3.1.1 return code rc (its reason
    code below) or reason code rc (0x80 or more)."""
    if rc < 6:  # CONNACK's reason codes for the 3.1.1 return codes 1..5 (section 3.2.2.2);
        # not a module global: a 37th would grow the module's dict once more as it loads
        rc = b"\x00\x84\x85\x88\x86\x87"[rc]
    b.log("notice", "Client %s refused: %s (CONNACK 0x%02x)." % (conn.name(), why, rc))
    if rc == RC_QOS_NOT_SUPPORTED:  # with the Maximum QoS, as mosquitto 2.0 sends it
        b.write(conn, bytes((CONNACK, 5, 0, rc, 2, PROP_MAXIMUM_QOS, conn.listener.max_qos)))
    else:
        b.write(conn, bytes((CONNACK, 3, 0, rc, 0)))
    _done(b)


def accepted(b, conn, s, present):
    """CONNACK for conn's accepted CONNECT, with the properties mosquitto 2.0 sends, in its
    order; the session s takes the expiry asked for and the client's receive maximum."""
    v = conn.v5
    cfg = b.cfg
    if v.expiry == 0:
        s.clean = 1  # ends with the connection (Session Expiry Interval 0, section 3.1.2.11.2)
    else:
        s.clean = 0
        s.expiry = v.expiry if v.expiry != EXPIRY_NEVER else None
    s.window = v.rmax if v.rmax < b.max_inflight else 0
    later(b)  # core/handle_connect.py asks resumed() from now on
    l = conn.listener
    own = v.keepalive is not None or v.assigned or present  # not the listener's usual one
    out = None if own else getattr(l, "connack5", None)  # kept below (an instance's: no
    if out is not None:  # class default on a board that never sees 5.0); the common case
        b.write(conn, out)
        _done(b)
        return
    body = bytearray()
    if l.max_topic_alias:
        _put(body, PROP_TOPIC_ALIAS_MAXIMUM, l.max_topic_alias, 2)
    if v.keepalive is not None:
        _put(body, PROP_SERVER_KEEP_ALIVE, v.keepalive, 2)
    if v.assigned:
        cid = conn.client_id.encode()
        _put(body, PROP_ASSIGNED_CLIENT_ID, len(cid), 2)
        body += cid
    if not cfg.retain_available:
        _put(body, PROP_RETAIN_AVAILABLE, 0, 1)
    if cfg.max_packet_size:
        _put(body, PROP_MAXIMUM_PACKET_SIZE, cfg.max_packet_size, 4)
    if b.max_inflight < 65535:
        _put(body, PROP_RECEIVE_MAXIMUM, b.max_inflight, 2)
    if l.max_qos < 2:
        _put(body, PROP_MAXIMUM_QOS, l.max_qos, 1)
    from core.proto import put_varint
    out = bytearray()
    out.append(CONNACK)
    put_varint(out, 2 + len(body) + (1 if len(body) < 128 else 2))
    out.append(present)
    out.append(0)
    put_varint(out, len(body))
    out += body
    if not own:  # the config does not change: the listener keeps it for its next clients
        out = l.connack5 = bytes(out)
    b.write(conn, out)
    _done(b)


# ---- the end of a v5 connection ----

def closed(b, conn, will, rc):
    """conn, a v5 connection, is closing (core/broker.py close): DISCONNECT with rc when
    the server ends an accepted connection, its session's expiry counted, its will
    published now or after its delay (will: the will to publish, or None).

    broker.later maps an offline session with a finite expiry or a delayed will to that
    will: (connection, will, when it is due), or None."""
    if rc and conn.connected:
        b.write(conn, bytes((DISCONNECT, 1, rc)))  # no properties, as mosquitto sends it
    s = conn.session
    if s is None and conn.connected:
        # taken over: the session stays (core/handle_connect.py)
        s = b.sessions.get(conn.client_id)
        if s is not None and s.conn is not None:
            s = None
    if s is None or s.clean:
        s = None  # no session outlives the connection: the will goes now
    elif s.expiry is not None:
        later(b)[s] = None
    if will is not None:
        v = conn.v5
        if v.will_delay and s is not None:
            later(b)[s] = (conn, will, b.secs + v.will_delay)  # LATER_*
        else:
            will_now(b, conn, will)
    _done(b)


def will_now(b, conn, will):
    """Publish conn's will now, with its properties (MQTT-3.1.3-10: forwarded as a
    PUBLISH's) and its Message Expiry Interval counted from now."""
    v = conn.v5
    x = v.will_expiry
    if v.will_props or x is not None:
        m = will[WILL_MSG]
        from core.deliver import message
        m = message(m[MSG_TOPIC], m[MSG_TOPIC_BYTES], m[MSG_PAYLOAD], 0, v.will_props,
                    0 if x is None else b.secs + x or 1)
        will = (m, will[WILL_QOS], will[WILL_RETAIN])  # a will (core/names.py, WILL_*)
    from core.handle_connect import publish_will
    publish_will(b, conn, will)
    _done(b)  # also when core/v5.py's tick or resumed called it


def later(b):
    """broker.later, made at the first v5 CONNECT (accepted)."""
    if b.later is None:
        b.later = {}
    return b.later


# ---- a connected v5 client's UNSUBSCRIBE, DISCONNECT and AUTH (core/v5.py's _rare) ----

def handle(b, conn, b0, mv, s, e, p0):
    """UNSUBSCRIBE, DISCONNECT or AUTH (b0) of conn, a connected v5 client."""
    t = b0 & TYPE_MASK
    if t == UNSUBSCRIBE:
        _unsubscribe(b, conn, b0, mv, s, e, p0)
    elif t == DISCONNECT:
        _disconnect(b, conn, b0, mv, s, e, p0)
    else:
        _auth(b, conn, b0, mv, s, e, p0)
    _done(b)


def _unsubscribe(b, conn, b0, mv, s, e, p0):
    """UNSUBSCRIBE: its properties, then the filters; UNSUBACK has a reason code per
    filter (0x00 success, 0x11 no subscription existed)."""
    if e - s < 3:
        from core.why import text
        raise ProtocolError(text(22))
    had = set(conn.session.subs)
    pe = s + 3  # an empty property block
    if mv[s + 2]:
        from core import props
        pe = props.scan(mv, s + 2, e, 10)
    fs = handle_subscribe.unsubscribe(b, conn, b0, mv, s, e, p0, pe)
    out = bytearray()
    out.append(UNSUBACK)
    from core.proto import put_varint
    put_varint(out, 3 + len(fs))
    out.append(mv[s])
    out.append(mv[s + 1])
    out.append(0)  # no properties
    for f in fs:
        out.append(0 if f in had else RC_NO_SUBSCRIPTION_EXISTED)
    b.write(conn, out)


def _disconnect(b, conn, b0, mv, s, e, p0):
    """DISCONNECT from the client: its reason code (0x04: publish the will) and a new
    Session Expiry Interval, which a session that had 0 may not get (MQTT-3.14.2-?)."""
    rc = mv[s] if e > s else 0
    if e - s > 1:
        from core import props
        if props.scan(mv, s + 1, e, 14) != e:
            raise ProtocolError("bytes after the DISCONNECT properties")
        x = props.get(mv, s + 1, PROP_SESSION_EXPIRY)
        if x is not None:
            v = conn.v5
            if not v.expiry and x:
                raise ProtocolError("DISCONNECT sets a Session Expiry Interval after CONNECT "
                                    "had 0", RC_PROTOCOL_ERROR)
            v.expiry = x
            sess = conn.session
            if x == 0:
                if not sess.clean:  # kept so far: the store records its end (Store.drop)
                    sess.clean = SESSION_ENDING
            elif x == EXPIRY_NEVER:
                sess.expiry = None
            else:
                sess.expiry = x
    if rc != RC_DISCONNECT_WITH_WILL:
        conn.will = None  # MQTT-3.1.2-10: deleted after a normal DISCONNECT
    b.conn_log("Client %s disconnected." % conn.name())
    b.close(conn, True, "client disconnect")


def _auth(b, conn, b0, mv, s, e, p0):
    """AUTH: no authentication method is offered, so any AUTH is a protocol error."""
    if e - s > 1:
        from core import props
        props.scan(mv, s + 1, e, 15)
    raise ProtocolError("AUTH without an authentication method in CONNECT",
                        RC_PROTOCOL_ERROR)


def _done(b):
    """A CONNECT, a close or a packet handled: a port short of heap drops this module
    (broker.forget) until the next imports it again (after a protocol error, until the
    close that follows)."""
    if b.forget is not None:
        b.forget(__name__)


def _put(out, pid, v, n):
    """Append property pid and the n-byte big-endian integer v to out (core/props.py's
    put, which this module does without, for the few CONNACK carries)."""
    out.append(pid)
    while n:
        n -= 1
        out.append(v >> 8 * n & 0xFF)
