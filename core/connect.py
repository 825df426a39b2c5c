"""MQTT 5.0 CONNECT: its properties, the will's, the v5 refusals and the CONNACK.

Imported by core/handle_connect.py for a v5 CONNECT only, and needed only while that
packet is handled: a port short of heap drops it again once the CONNACK is written
(broker.forget), as core/why.py holds the texts of rare paths. The connection's lasting v5 state and code
are core/v5.py's.
"""

from core.errors import ProtocolError
from core.v5 import V5, later
from core.names import CONNACK, EXPIRY_NEVER, PROP_PAYLOAD_FORMAT, PROP_SESSION_EXPIRY
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


def _done(b):
    """The CONNECT is answered: a port short of heap drops this module (broker.forget) until
    the next v5 CONNECT imports it again (after a protocol error it stays until then)."""
    if b.forget is not None:
        b.forget(__name__)


def _put(out, pid, v, n):
    """Append property pid and the n-byte big-endian integer v to out (core/props.py's
    put, which this module does without, for the few CONNACK carries)."""
    out.append(pid)
    while n:
        n -= 1
        out.append(v >> 8 * n & 0xFF)
