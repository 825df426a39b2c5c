"""PUBLISH from a client and the acknowledgements of both directions' QoS flows."""

from core.errors import ProtocolError
from core import utf8
from core import deliver
from core.names import PUBLISH, PUBACK, PUBREC, PUBREL_OUT, PUBCOMP
from core.names import PUB_DUP, PUB_QOS_SHIFT, PUB_RETAIN, QOS_MASK
from core.names import OUT_QOS, OUT_RELEASED, RC_RETAIN_NOT_SUPPORTED
from core.names import RC_PROTOCOL_ERROR
from core.names import PUB5_TOPIC, PUB5_BLOCK_SIZE, PUB5_PROPS, PUB5_BAD


def publish(b, conn, b0, mv, s, e, p0):
    """Handle PUBLISH: validate, store retained, route, acknowledge (the hot path); of a
    5.0 client too, with what its property block says (v5 below: the topic, maybe by
    alias; the block's size; the properties to forward...; None for 3.1.1 and for an
    empty block)."""
    qos = (b0 >> PUB_QOS_SHIFT) & QOS_MASK
    if qos == 3:
        from core.why import text
        raise ProtocolError(text(7))  # MQTT-3.3.1-4: QoS 3
    if b0 & PUB_DUP and not qos:
        from core.why import text
        raise ProtocolError(text(8))  # MQTT-3.3.1-2: QoS 0 with DUP
    if e - s < 2:
        from core.why import text
        raise ProtocolError(text(9))  # too short
    ts = s + 2
    te = ts + ((mv[s] << 8) | mv[s + 1])
    ps = te + 2 if qos else te
    v5 = conn.v5
    if v5 is not None:  # MQTT 5.0: the property block, before the payload
        if qos < 2 and ps < e and not mv[ps] and qos <= conn.listener.max_qos:
            ps += 1  # empty, the common case: from here on as a 3.1.1 PUBLISH, no call
            v5 = None
        else:
            v5 = v5.publish(b, conn, b0, mv, ts, te, ps, e)  # core/v5.py, core/pub5.py
            ps += v5[PUB5_BLOCK_SIZE]
    if ps > e:
        from core.why import text
        raise ProtocolError(text(10))  # topic length beyond the end
    topic = v5 and v5[PUB5_TOPIC] or utf8.decode(mv, ts, te)  # v5: a topic alias's or None
    if not topic:  # MQTT-4.7.3-1; v5: and no topic alias, a protocol error (section 3.3.2.3.4)
        from core.why import text
        raise ProtocolError(text(11), RC_PROTOCOL_ERROR)
    if "+" in topic or "#" in topic:
        from core.why import text
        raise ProtocolError(text(12, topic), RC_PROTOCOL_ERROR)  # MQTT-3.3.2-2: a wildcard
    if conn.mlen:  # the listener's mount_point: the broker sees, stores and limits the full topic
        topic = conn.mount + topic
        b.check_topic(topic, te - ts + conn.mlen)
    elif te - ts > b.max_topic_len or topic.count("/") >= b.max_levels:
        b.check_topic(topic, te - ts)
    pid = 0
    if qos:
        pid = (mv[te] << 8) | mv[te + 1]
        if not pid:
            from core.why import text
            raise ProtocolError(text(13, qos), RC_PROTOCOL_ERROR)  # MQTT-2.3.1-1: packet id 0
    b.msgs_in += 1
    conn.published = True
    lim = b.cfg.message_size_limit
    why = None
    if lim and e - ps > lim:
        why = "%d bytes is over message_size_limit %d" % (e - ps, lim)
    elif (mv[ts] == 0x24 if te > ts else v5[PUB5_TOPIC].startswith("$")) and not (
            b.bridged and conn.session in b.bridged and
            topic.startswith("$SYS/broker/connection/")):
        # "$" first in the topic the client sent (v5: or that its topic alias stands for); a
        # bridge's state is taken, as mosquitto does
        why = "clients may not publish to $ topics"
    elif b.acl is not None and not b.acl.can_write(conn.username, conn.client_id, topic):
        why = "denied by acl_file"  # v5: 0x87 Not authorized, as "$" (below)
        if b.events is not None:
            b.events.denied(conn, "publish", topic, why)
    elif v5 and v5[PUB5_BAD]:  # v5: Payload Format Indicator 1, the payload is not UTF-8
        why = v5[PUB5_BAD]
    deliverable = why is None
    if why is not None:
        b.log("notice", "Dropped PUBLISH from %s on '%s': %s." % (conn.name(), topic, why))
    if b.events is not None:
        b.events.publish(conn, topic, b0, pid, mv, ps, e, why)
    if deliverable and b0 & PUB_RETAIN and not b.cfg.retain_available:
        from core.why import text
        raise ProtocolError(text(14), RC_RETAIN_NOT_SUPPORTED)  # retain_available false
    if qos == 2:  # kept until its PUBREL, then delivered (pubrel below), as mosquitto 2.0
        from core import qos2_in
        if not qos2_in.q2in(b, conn, pid, topic, mv, ts, te, ps, e, b0 & PUB_RETAIN, why,
                            v5):
            b.ack(conn, PUBREC, pid)  # MQTT-4.3.3-2
        return
    found = True
    if deliverable and v5 and v5[PUB5_PROPS] is not None:  # v5: properties to forward, an alias
        from core.v5 import route  # core/pub5.py
        found = route(b, conn, b0, mv, ts, te, ps, e, qos, topic, v5)
    elif deliverable:
        msg = None  # a message (core/names.py, MSG_*), made at most once below
        if b0 & PUB_RETAIN:
            msg = deliver.new_msg(b, topic, mv, ps, e)
            msg = b.retained.set(msg, qos)  # MQTT-3.3.1-5/10/11
            if b.store is not None:
                b.store.retain(msg, qos)
        if conn.mlen:  # the received bytes carry the short topic: route a PUBLISH made anew
            if msg is None:
                msg = deliver.new_msg(b, topic, mv, ps, e)
            found = deliver.route_msg(b, msg, qos, b0 & PUB_RETAIN, conn)
        else:
            found = deliver.route(b, topic, qos, mv, ts, te, ps, e,
                                  p0 if b0 == PUBLISH else -1, msg, b0 & PUB_RETAIN, conn)
    if qos and (why is not None or not found) and conn.v5 is not None:
        from core.v5 import refused
        if refused(b, conn, qos, pid, why, e - ps, v5 and why is v5[PUB5_BAD]):  # a reason code
            return
    if qos == 1:
        b.ack(conn, PUBACK, pid)  # MQTT-4.3.2-2


def _pid(mv, s, e, what):
    if e - s != 2:
        from core.why import text
        raise ProtocolError(text(15, what, e - s))  # remaining length not 2
    return (mv[s] << 8) | mv[s + 1]


def puback(b, conn, b0, mv, s, e, p0):
    """PUBACK for a QoS 1 message we sent."""
    pid = _pid(mv, s, e, "PUBACK")
    f = conn.session.flags.get(pid)
    if f is not None:  # an unknown id is ignored, as mosquitto does
        if f & OUT_QOS != 1:  # mosquitto 2.0 closes the connection too (v5: without 0x82)
            from core.why import text
            raise ProtocolError(text(16, pid), RC_PROTOCOL_ERROR)  # PUBACK for QoS 2
        done(b, conn.session, pid)


def done(b, sess, pid):
    """Outgoing pid is acknowledged to the end (PUBACK, PUBCOMP): the next one may go."""
    del sess.inflight[pid]
    del sess.flags[pid]
    if b.store is not None:
        b.store.acked(sess, pid)
    if sess.queue or sess.held is not None:
        deliver.refill(b, sess)


def pubrec(b, conn, b0, mv, s, e, p0):
    """PUBREC for a QoS 2 message we sent: answer PUBREL."""
    pid = _pid(mv, s, e, "PUBREC")
    fl = conn.session.flags
    f = fl.get(pid)
    if f is not None:
        if f & OUT_QOS != 2:
            from core.why import text
            raise ProtocolError(text(17, pid), RC_PROTOCOL_ERROR)  # PUBREC for QoS 1
        fl[pid] = f | OUT_RELEASED  # now waiting for PUBCOMP
        if b.store is not None and not f & OUT_RELEASED:
            b.store.released(conn.session, pid)
    b.ack(conn, PUBREL_OUT, pid)


def pubrel(b, conn, b0, mv, s, e, p0):
    """PUBREL for a QoS 2 message we received: deliver it (core/qos2_in.py), answer PUBCOMP."""
    pid = _pid(mv, s, e, "PUBREL")
    q2 = conn.session.qos2_in
    if q2 and pid in q2:
        from core import qos2_in
        qos2_in.q2rel(b, conn, pid)
    b.ack(conn, PUBCOMP, pid)  # with the same id, MQTT-4.3.3-2


def pubcomp(b, conn, b0, mv, s, e, p0):
    """PUBCOMP ends a QoS 2 message we sent."""
    pid = _pid(mv, s, e, "PUBCOMP")
    f = conn.session.flags.get(pid)
    if f is not None:
        if not f & OUT_RELEASED:
            from core.why import text
            raise ProtocolError(text(31, pid, "QoS 1" if f & OUT_QOS == 1 else text(32)),
                                RC_PROTOCOL_ERROR)
        done(b, conn.session, pid)
