"""Per-packet debug log lines in mosquitto's formats ("Received PUBLISH from ...").

Imported only when broker.debug is True (log type debug, e.g. -v): a broker that does not
log them never loads this module.
"""

from core.proto import packet_name
from core.errors import ProtocolError
from core import utf8
from core.names import TYPE_SHIFT, TYPE_MASK, CONNACK, PUBLISH, PUBACK, PUBREC, PUBCOMP
from core.names import SUBSCRIBE, UNSUBSCRIBE, UNSUBACK, PINGREQ, DISCONNECT
from core.names import PUB_DUP, PUB_QOS_SHIFT, PUB_RETAIN, QOS_MASK, ACCEPTED
from core.names import MSG_TOPIC, MSG_PAYLOAD, WILL_MSG, WILL_QOS, WILL_RETAIN


def _who(conn):
    # mosquitto names a client by its id, or by its address before it has one
    return conn.client_id if conn.client_id is not None else conn.ip


def _publish(b, verb, conn, b0, pid, topic, n):
    b.log("debug", "%s PUBLISH %s %s (d%d, q%d, r%d, m%d, '%s', ... (%d bytes))"
          % (verb, "from" if verb == "Received" else "to", _who(conn), 1 if b0 & PUB_DUP else 0,
             b0 >> PUB_QOS_SHIFT & QOS_MASK, b0 & PUB_RETAIN, pid, topic, n))


def received(b, conn, b0, mv, s, e):
    """Log the packet mv[s:e] (first byte b0) that conn sent, before it is handled; a packet
    too malformed to describe is left to the handler, which reports it."""
    t = b0 >> TYPE_SHIFT
    c = b0 & TYPE_MASK
    who = _who(conn)
    if c == PUBLISH:
        if e - s < 2:
            return
        te = s + 2 + (mv[s] << 8 | mv[s + 1])
        qos = b0 >> PUB_QOS_SHIFT & QOS_MASK
        ps = te + 2 if qos else te
        if conn.v5 is not None:  # MQTT 5.0: the properties come before the payload
            ps = _after_props(mv, ps, e)
        if ps > e:
            return
        try:
            topic = utf8.decode(mv, s + 2, te)
        except ProtocolError:  # bad UTF-8: the handler reports it
            return
        _publish(b, "Received", conn, b0, (mv[te] << 8 | mv[te + 1]) if qos else 0, topic,
                 e - ps)
    elif PUBACK <= c <= PUBCOMP:
        if e - s != 2 and (conn.v5 is None or e - s < 2):
            return
        pid = mv[s] << 8 | mv[s + 1]
        # MQTT 3.1.1 acknowledgements carry no code: mosquitto shows 0 for PUBACK, PUBCOMP
        rc = ", RC:%d" % (mv[s + 2] if e - s > 2 else 0) if c == PUBACK or c == PUBCOMP else ""
        b.log("debug", "Received %s from %s (Mid: %d%s)" % (packet_name(t), who, pid, rc))
    elif c == SUBSCRIBE or c == UNSUBSCRIBE:
        b.log("debug", "Received %s from %s" % (packet_name(t), who))
        i = s + 2
        if conn.v5 is not None:
            i = _after_props(mv, i, e)
        while i + 2 <= e:
            j = i + 2 + (mv[i] << 8 | mv[i + 1])
            if j > e or (c == SUBSCRIBE and j >= e):
                return
            try:
                f = utf8.decode(mv, i + 2, j)
            except ProtocolError:  # reported by the handler
                return
            if c == SUBSCRIBE:
                b.log("debug", "\t%s (QoS %d)" % (f, mv[j] & QOS_MASK))
                j += 1
            else:
                b.log("debug", "\t%s" % f)
            i = j
    elif c == PINGREQ or c == DISCONNECT:
        b.log("debug", "Received %s from %s" % (packet_name(t), who))


def _after_props(mv, p, e):
    """Where the MQTT 5.0 property block at mv[p] ends (e when it is malformed)."""
    from core.props import varint
    try:
        n, p = varint(mv, p, e)
    except ProtocolError:  # reported by the handler
        return e + 1
    return p + n


def sent(b, conn, data):
    """Log a CONNACK, SUBACK or PINGRESP (data) queued for conn; an accepted CONNECT's
    will is described first, as mosquitto does."""
    t = data[0] >> TYPE_SHIFT
    who = _who(conn)
    if data[0] == CONNACK:
        if data[3] == ACCEPTED:
            w = conn.will
            if w is None:
                b.log("debug", "No will message specified.")
            else:
                b.log("debug", "Will message specified (%d bytes) (r%d, q%d)."
                      % (len(w[WILL_MSG][MSG_PAYLOAD]), w[WILL_RETAIN], w[WILL_QOS]))
                b.log("debug", "\t%s" % w[WILL_MSG][MSG_TOPIC])
        b.log("debug", "Sending CONNACK to %s (%d, %d)" % (who, data[2], data[3]))
    elif PUBACK <= data[0] & TYPE_MASK <= PUBCOMP and len(data) > 4:  # MQTT 5.0: with a reason code (core/v5.py)
        ack(b, conn, data[0], data[2] << 8 | data[3], data[4])
    else:
        b.log("debug", "Sending %s to %s" % (packet_name(t), who))


def ack(b, conn, b0, pid, rc=0):
    """Log a PUBACK, PUBREC, PUBREL, PUBCOMP or UNSUBACK with packet id pid (and MQTT 5.0
    reason code rc) queued for conn."""
    t = b0 >> TYPE_SHIFT
    if b0 == UNSUBACK:
        b.log("debug", "Sending UNSUBACK to %s" % _who(conn))
        return
    rc = ", rc%d" % rc if b0 == PUBACK or b0 == PUBREC else ""
    b.log("debug", "Sending %s to %s (m%d%s)" % (packet_name(t), _who(conn), pid, rc))


def publish_out(b, conn, b0, pid, topic, n):
    """Log a PUBLISH (first byte b0, packet id pid, broker topic, n payload bytes) queued for
    conn; the topic is shown as the client gets it (without its listener's mount_point)."""
    if conn.mlen:
        topic = topic[len(conn.mount):]
    _publish(b, "Sending", conn, b0, pid, topic, n)
