"""SUBSCRIBE and UNSUBSCRIBE: the subscription tree, SUBACK, retained delivery."""

from core.proto import Reader, put_varint
from core.errors import ProtocolError
from core.topic import check_filter
from core import deliver
from core.names import SUBACK, UNSUBACK, SUBACK_FAILURE, MSG_TOPIC, MSG_QOS
from core.names import MSG_PROPS, MSG_EXPIRES


def subscribe(b, conn, b0, mv, s, e, p0, v5=0):
    """Handle SUBSCRIBE: grant each filter, SUBACK, then send matching retained messages.

    v5: where the filters start in a v5 SUBSCRIBE, after its properties (core/v5.py reads
    them); 0 for 3.1.1."""
    r = Reader(mv, s, e)
    pid = r.u16()
    if not pid:
        from core.why import text
        raise ProtocolError(text(18))  # MQTT-2.3.1-1: packet id 0
    if v5:
        r.pos = v5
    reqs = []
    mp = conn.mount
    while r.pos < r.end:
        f = r.string()
        q = r.u8()
        if v5:  # MQTT 5.0 subscription options: the QoS granted (core/v5.py)
            q = conn.v5.options(conn, q)
        if q > 2:
            from core.why import text
            raise ProtocolError(text(19, q))  # MQTT-3.8.3-4: QoS over 2
        check_filter(f)
        if mp is not None:  # the listener's mount_point: stored, matched and checked in full
            f = mp + f
            try:
                check_filter(f)
            except ProtocolError:
                q = SUBACK_FAILURE  # e.g. "#" after a mount_point without a trailing "/": refused
        b.check_topic(f, len(f.encode()))
        reqs.append((f, q))
    if not reqs:
        from core.why import text
        raise ProtocolError(text(20))  # MQTT-3.8.3-3: no topic filter
    sess = conn.session
    out = bytearray()
    out.append(SUBACK)
    put_varint(out, 2 + len(reqs) + (1 if v5 else 0))
    out.append(pid >> 8)
    out.append(pid & 0xFF)
    if v5:
        out.append(0)  # no properties
    acl = b.acl
    for f, q in reqs:
        if q == SUBACK_FAILURE:
            out.append(SUBACK_FAILURE)
            from core.why import denied
            denied(b, conn, f, mp)  # not a valid filter under the mount_point
            continue
        if acl is not None and not acl.can_subscribe(conn.username, conn.client_id, f):
            out.append(SUBACK_FAILURE)  # for this filter only (MQTT-3.9.3)
            from core.why import denied
            denied(b, conn, f, None)  # by acl_file
            if b.events is not None:
                b.events.denied(conn, "subscribe", f, "denied by acl_file")
                b.events.subscribe(conn, f, SUBACK_FAILURE)
            continue
        if f not in sess.subs and len(sess.subs) >= b.max_subs:
            out.append(SUBACK_FAILURE)
            from core.why import denied
            denied(b, conn, f, len(sess.subs))  # max_subscriptions_per_client
            continue
        b.subs.subscribe(f, sess, q)  # MQTT-3.8.4-3: a repeated filter replaces the old one
        sess.subs[f] = q
        if b.store is not None:
            b.store.sub(sess, f, q)
        out.append(q)
        b.log("debug", "Client %s subscribed to '%s' (QoS %d)." % (conn.name(), f, q))
        if b.events is not None:
            b.events.subscribe(conn, f, q)
    b.write(conn, out)  # MQTT-3.8.4-1
    for f, q in reqs:
        if f not in sess.subs:
            continue  # refused above
        ms = b.retained.matching(f)
        if b.sys is not None and f[0] == "$":
            ms += b.sys.matching(f)  # $SYS values are made on demand, not stored
        for msg in ms:  # retained messages, with their qos
            if len(msg) > MSG_PROPS and msg[MSG_EXPIRES] and msg[MSG_EXPIRES] <= b.secs:
                b.retained.msgs.pop(msg[MSG_TOPIC], None)  # MQTT 5.0: expired (MQTT-3.3.2-5)
                continue
            if acl is not None and not acl.can_read(conn.username, conn.client_id,
                                                    msg[MSG_TOPIC]):
                continue
            deliver.send(b, sess, msg, msg[MSG_QOS] if msg[MSG_QOS] < q else q, 1)  # MQTT-3.3.1-6/8


def unsubscribe(b, conn, b0, mv, s, e, p0, v5=0):
    """Handle UNSUBSCRIBE: drop each filter, UNSUBACK even when nothing matched.

    v5: where the filters start in a v5 UNSUBSCRIBE, after its properties; its UNSUBACK
    is core/v5.py's, which gets the filters."""
    r = Reader(mv, s, e)
    pid = r.u16()
    if not pid:
        from core.why import text
        raise ProtocolError(text(21))  # packet id 0
    if v5:
        r.pos = v5
    fs = []
    mp = conn.mount
    while r.pos < r.end:
        f = r.string()
        check_filter(f)
        if mp is not None:
            f = mp + f
        b.check_topic(f, len(f.encode()))
        fs.append(f)
    if not fs:
        from core.why import text
        raise ProtocolError(text(22))  # MQTT-3.10.3-2: no topic filter
    sess = conn.session
    for f in fs:
        if b.subs.unsubscribe(f, sess):
            sess.subs.pop(f, None)
            if b.store is not None:
                b.store.unsub(sess, f)
        if b.events is not None:
            b.events.unsubscribe(conn, f)
    if v5:
        return fs
    b.ack(conn, UNSUBACK, pid)  # MQTT-3.10.4-4/5
