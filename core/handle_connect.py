"""CONNECT: validate, authenticate, take over or create the session, CONNACK."""

from core.proto import Reader, connack_text
from core import utf8
from core.errors import ProtocolError
from core.session import Session
from core.topic import check_name
from core import deliver
from core.const import const

# CONNACK return codes (3.1.1 section 3.2.2.3)
_ACCEPTED = const(0)
_BAD_PROTOCOL = const(1)
_ID_REJECTED = const(2)
_UNAVAILABLE = const(3)
_NOT_AUTHORIZED = const(5)


def connect(b, conn, b0, mv, s, e, p0):
    """Handle a CONNECT packet from a new connection."""
    r = Reader(mv, s, e)
    name = r.string()
    level = r.u8()
    if name == "MQTT":
        ok = level == 4
    elif name == "MQIsdp":
        ok = level == 3
    else:
        # MQTT-3.1.2-1: not MQTT at all, close without CONNACK
        raise ProtocolError("protocol name '%s' is not MQTT" % name)
    conn.level = level
    if not ok:
        return refuse(b, conn, _BAD_PROTOCOL, "protocol level %d is not supported" % level)
    flags = r.u8()
    if flags & 1:
        raise ProtocolError("reserved CONNECT flag is set")  # MQTT-3.1.2-3
    clean = (flags >> 1) & 1
    will_flag = flags & 4
    will_qos = (flags >> 3) & 3
    will_retain = (flags >> 5) & 1
    if will_qos == 3:
        raise ProtocolError("will QoS 3")  # MQTT-3.1.2-14
    if not will_flag and (will_qos or will_retain):
        raise ProtocolError("will QoS or retain set without a will")  # MQTT-3.1.2-11/13/15
    if flags & 0x40 and not flags & 0x80:
        raise ProtocolError("password flag without user name flag")  # MQTT-3.1.2-22
    keepalive = r.u16()
    cid = r.string()
    will = None
    if will_flag:
        ts, te = r.span()
        wt = utf8.decode(mv, ts, te)
        check_name(wt)
        tb = bytes(mv[ts:te])
        mp = conn.mount
        if mp is not None:  # published under the listener's mount_point, as a PUBLISH is
            wt = mp + wt
            tb = mp.encode() + tb
        b.check_topic(wt, len(tb))
        will = ((wt, tb, r.binary()), will_qos, will_retain)
    username = r.string() if flags & 0x80 else None
    password = r.binary() if flags & 0x40 else None
    if r.left():
        raise ProtocolError("%d bytes after the CONNECT payload" % r.left())
    ident = conn.listener.use_identity_as_username
    if ident:  # the port verified the client certificate and set its CN (TLS listeners)
        username = conn.cert_username
    conn.username = username
    cfg = b.cfg
    if not cid:
        if level == 3 or not clean or not cfg.allow_zero_length_clientid:
            return refuse(b, conn, _ID_REJECTED, "empty client id needs clean session")  # MQTT-3.1.3-8
        cid = b.new_client_id()  # MQTT-3.1.3-6
    conn.client_id = cid
    if cfg.max_keepalive < 65535 and (keepalive == 0 or keepalive > cfg.max_keepalive):
        return refuse(b, conn, _ID_REJECTED, "keepalive %d is over max_keepalive %d"
                      % (keepalive, cfg.max_keepalive))
    if ident:  # password_file is not used for this listener (as in mosquitto)
        rc = _ACCEPTED if username is not None else _NOT_AUTHORIZED
    elif b.auth is not None:
        rc = b.auth(conn, username, password)
    else:
        rc = _ACCEPTED if cfg.allow_anonymous else _NOT_AUTHORIZED
        if rc and b.events is not None:
            b.events.denied(conn, "login", None, "anonymous clients are not allowed")
    if rc:
        return refuse(b, conn, rc, "not allowed to connect")
    if b.low_memory:
        return refuse(b, conn, _UNAVAILABLE, "server is low on memory")
    if will is not None and cfg.message_size_limit and len(will[0][2]) > cfg.message_size_limit:
        return refuse(b, conn, _UNAVAILABLE, "will message over message_size_limit")
    _accept(b, conn, cid, clean, keepalive, will)


def refuse(b, conn, rc, why):
    """Send CONNACK with a refusal code and close (MQTT-3.2.2-4/5)."""
    b.log("notice", "Client %s refused: %s (CONNACK %d, %s)." % (conn.name(), why, rc, connack_text(rc)))
    b.write(conn, bytes((0x20, 2, 0, rc)))
    if b.events is not None:
        b.events.connect(conn, rc, why)
    b.close(conn, False, "connect refused")


def _accept(b, conn, cid, clean, keepalive, will):
    old = b.sessions.get(cid)
    if old is not None and old.conn is not None:
        # MQTT-3.1.4-2: the existing client is disconnected
        oc = old.conn
        b.log("notice", "Client %s already connected, closing old connection." % oc.name())
        oc.session = None
        old.conn = None
        b.close(oc, True, "session takeover")
    if old is not None and clean:
        b.drop_session(old)  # MQTT-3.1.2-6
        old = None
    present = 0
    if old is None:
        s = Session(cid, clean)
        b.sessions[cid] = s
    else:
        s = old
        s.clean = clean
        present = 1  # MQTT-3.2.2-2
    s.conn = conn
    s.username = conn.username  # for acl_file read checks while the session is offline
    if b.store is not None:
        b.store.session(s)
    conn.session = s
    conn.connected = True
    if will is not None:
        conn.will = will
    conn.keepalive_ms = keepalive * 1500  # MQTT-3.1.2-24
    b.conn_log("New client connected from %s:%d as %s (p%d, c%d, k%d%s)."
          % (conn.ip, conn.port, cid, conn.level, clean, keepalive,
             (", u'%s'" % conn.username) if conn.username is not None else ""))
    b.write(conn, bytes((0x20, 2, present, 0)))
    if b.events is not None:
        b.events.connect(conn, 0, None)
    if present:
        deliver.resume(b, s)
