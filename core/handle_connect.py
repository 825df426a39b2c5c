"""CONNECT: validate, authenticate, take over or create the session, CONNACK."""

from core import utf8
from core.errors import ProtocolError
from core.session import Session
from core.topic import check_name
from core import deliver
from core.const import const
from core.proto import Reader
from core.names import CONNACK, ACCEPTED, BAD_PROTOCOL, ID_REJECTED, UNAVAILABLE
from core.names import NOT_AUTHORIZED, SESSION_PRESENT
from core.names import CONNECT_RESERVED, CONNECT_CLEAN, CONNECT_WILL, CONNECT_WILL_QOS
from core.names import CONNECT_WILL_QOS_SHIFT, CONNECT_WILL_RETAIN, CONNECT_PASSWORD
from core.names import CONNECT_USERNAME, LEVEL_BRIDGE, MSG_TOPIC, WILL_MSG, WILL_QOS
from core.names import WILL_RETAIN, RC_SESSION_TAKEN_OVER, RC_ERROR, RC_PACKET_TOO_LARGE

_MAX_KEEPALIVE = const(65535)  # the largest keepalive, in seconds (two bytes)


def connect(b, conn, b0, mv, s, e, p0):
    """Handle a CONNECT packet from a new connection."""
    r = Reader(mv, s, e)
    name = r.string()
    level = r.u8()
    private = level & LEVEL_BRIDGE  # a bridge's try_private (mosquitto's)
    level &= ~LEVEL_BRIDGE
    if name == "MQTT":
        ok = level == 4 or level == 5
    elif name == "MQIsdp":
        ok = level == 3
    else:
        # MQTT-3.1.2-1: not MQTT at all, close without CONNACK
        from core.why import text
        raise ProtocolError(text(23, name))  # not MQTT
    conn.level = level
    if not ok:
        return refuse(b, conn, BAD_PROTOCOL, 33, level)  # protocol level not supported
    flags = r.u8()
    if flags & CONNECT_RESERVED:
        from core.why import text
        raise ProtocolError(text(24))  # MQTT-3.1.2-3: reserved flag
    clean = 1 if flags & CONNECT_CLEAN else 0
    will_flag = flags & CONNECT_WILL
    will_qos = (flags & CONNECT_WILL_QOS) >> CONNECT_WILL_QOS_SHIFT
    will_retain = 1 if flags & CONNECT_WILL_RETAIN else 0
    if will_qos == 3:
        from core.why import text
        raise ProtocolError(text(25))  # MQTT-3.1.2-14: will QoS 3
    if not will_flag and (will_qos or will_retain):
        from core.why import text
        raise ProtocolError(text(26))  # MQTT-3.1.2-11/13/15
    if flags & CONNECT_PASSWORD and not flags & CONNECT_USERNAME and level != 5:
        from core.why import text
        raise ProtocolError(text(27))  # MQTT-3.1.2-22 (MQTT 5.0 allows a password alone)
    keepalive = r.u16()
    v5 = None
    if level == 5:  # MQTT 5.0: loaded only now, for this CONNECT (broker.forget)
        from core import connect as v5  # core/connect.py (its name is interned at start)
        r.pos = v5.connect_props(b, conn, mv, r.pos, r.end)
    cid = r.string()
    will = None
    wp = b""  # the will's payload
    if will_flag:
        if v5 is not None:
            r.pos = v5.will_props(conn, mv, r.pos, r.end)
        ts, te = r.span()
        wt = utf8.decode(mv, ts, te)
        check_name(wt)
        tb = bytes(mv[ts:te])
        mp = conn.mount
        if mp is not None:  # published under the listener's mount_point, as a PUBLISH is
            wt = mp + wt
            tb = mp.encode() + tb
        b.check_topic(wt, len(tb))
        wp = r.binary()
        # a will (core/names.py, WILL_*)
        will = (deliver.message(wt, tb, wp), will_qos, will_retain)
    # an empty user name is none, as in mosquitto 2.0 (allow_anonymous, acl_file's rules)
    username = r.string() or None if flags & CONNECT_USERNAME else None
    password = r.binary() if flags & CONNECT_PASSWORD else None
    if r.pos < r.end:
        from core.why import text
        raise ProtocolError(text(28, r.end - r.pos))  # bytes after the payload
    ident = conn.listener.use_identity_as_username
    if ident:  # the port verified the client certificate and set its CN (TLS listeners)
        username = conn.cert_username
    conn.username = username
    cfg = b.cfg
    if v5 is not None:  # its refusals (v5 reason codes), its Server Keep Alive
        keepalive = v5.checked(b, conn, cid, keepalive, will)
        if keepalive is None:
            return
    if not cid:
        # MQTT-3.1.3-8; MQTT 5.0 assigns one whatever Clean Start is (its MQTT-3.1.3-6)
        if level == 3 or (not clean and v5 is None) or not cfg.allow_zero_length_clientid:
            # empty client id needs clean session; v5: 0x80 as mosquitto 2.0 (0x85 is a MAY)
            return refuse(b, conn, ID_REJECTED if v5 is None else RC_ERROR, 34)
        cid = b.new_client_id()  # MQTT-3.1.3-6
    conn.client_id = cid
    if v5 is None and cfg.max_keepalive < _MAX_KEEPALIVE and \
            (keepalive == 0 or keepalive > cfg.max_keepalive):
        return refuse(b, conn, ID_REJECTED, 35, keepalive, cfg.max_keepalive)
    if ident:  # password_file is not used for this listener (as in mosquitto)
        rc = ACCEPTED if username is not None else NOT_AUTHORIZED
    elif b.auth is not None:
        rc = b.auth(conn, username, password)
    else:
        rc = ACCEPTED if cfg.allow_anonymous else NOT_AUTHORIZED
        if rc and b.events is not None:
            b.events.denied(conn, "login", None, "anonymous clients are not allowed")
    if rc:
        return refuse(b, conn, rc, 36)  # not allowed to connect
    if b.low_memory:
        return refuse(b, conn, UNAVAILABLE, 37)  # server is low on memory
    if cfg.message_size_limit and len(wp) > cfg.message_size_limit:
        # as mosquitto 2.0: 3.1.1 and 3.1 "not authorized", 5.0 "packet too large"
        return refuse(b, conn, NOT_AUTHORIZED if conn.v5 is None else RC_PACKET_TOO_LARGE, 38)
    accept(b, conn, cid, clean, keepalive, will)
    if private:  # a bridge (try_private): retain as published, none of its own back
        if b.bridged is None:
            b.bridged = set()
        b.bridged.add(conn.session)
    elif b.bridged:
        b.bridged.discard(conn.session)


def refuse(b, conn, rc, i, *a):
    """Send CONNACK with a refusal code and close (MQTT-3.2.2-4/5): rc is a 3.1.1 return
    code (a v5 client gets its reason code) or a v5 reason code (0x80 or more); the reason
    is text i of core/why.py with the arguments a (a rare path: its code and texts live
    there)."""
    from core.why import refuse
    refuse(b, conn, rc, i, a)


def accept(b, conn, cid, clean, keepalive, will):
    """Connect conn as client cid: take over or create the session, CONNACK, resume.

    Also a bridge's local side (core/bridge/link.py), which sends no CONNECT: set
    conn.level, conn.username and conn.client_id first."""
    old = b.sessions.get(cid)
    if old is not None and old.conn is not None:
        # MQTT-3.1.4-2: the existing client is disconnected
        oc = old.conn
        b.log("notice", "Client %s already connected, closing old connection." % oc.name())
        oc.session = None
        old.conn = None
        b.close(oc, True, "session takeover", RC_SESSION_TAKEN_OVER)  # v5: MQTT-3.1.4-3
    if old is not None and b.later is not None:  # MQTT 5.0 ran: delayed will, expiry
        from core.v5 import resumed
        resumed(b, old, clean or old.clean)
    if old is not None and (clean or old.clean):
        # MQTT-3.1.2-6: a clean session ends with its connection, even when taken over
        b.drop_session(old)
        old = None
    present = 0
    if old is None:
        s = Session(cid, clean)
        b.sessions[cid] = s
    else:
        s = old
        s.clean = clean
        present = SESSION_PRESENT  # MQTT-3.2.2-2
    s.conn = conn
    s.username = conn.username  # for acl_file read checks while the session is offline
    conn.session = s
    conn.connected = True
    if will is not None:
        conn.will = will
    conn.keepalive_ms = keepalive * 1500  # MQTT-3.1.2-24
    b.conn_log("New client connected from %s:%d as %s (p%d, c%d, k%d%s)."
          % (conn.ip, conn.port, cid, conn.level, clean, keepalive,
             (", u'%s'" % conn.username) if conn.username is not None else ""))
    if conn.v5 is not None:
        from core import connect as v5
        v5.accepted(b, conn, s, present)  # CONNACK with properties; the session's expiry
    else:
        # MQTT 3.1 has no session present flag: its byte is reserved (0, as mosquitto sends)
        b.write(conn, bytes((CONNACK, 2, present if conn.level == 4 else 0, ACCEPTED)))
    if b.store is not None:  # after a v5 CONNACK: its session expiry decides s.clean
        b.store.session(s)
    if b.events is not None:
        b.events.connect(conn, 0, None)
    if present:
        from core import resume  # a name the broker has anyway (a board interns each)
        resume.resume(b, s)


def publish_will(b, conn, will):
    """Publish the will of conn, whose connection was lost, unless acl_file denies it."""
    msg = will[WILL_MSG]
    qos = will[WILL_QOS]
    retain = will[WILL_RETAIN]
    topic = msg[MSG_TOPIC]
    if b.acl is not None and not b.acl.can_write(conn.username, conn.client_id, topic):
        b.log("notice", "Denied will of client %s on '%s' (acl_file)." % (conn.name(), topic))
        if b.events is not None:
            b.events.denied(conn, "will", topic, "denied by acl_file")
        return
    b.log("information", "Publishing will of client %s on '%s'." % (conn.name(), topic))
    if b.events is not None:
        b.events.will(conn, msg, qos, retain)
    deliver.publish_msg(b, msg, qos, retain)
