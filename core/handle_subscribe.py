"""SUBSCRIBE and UNSUBSCRIBE: the subscription tree, SUBACK, retained delivery."""

from core.proto import Reader, put_varint
from core.errors import ProtocolError
from core.topic import check_filter
from core import deliver
from core.names import SUBACK, UNSUBACK, SUBACK_FAILURE, MSG_TOPIC, MSG_QOS
from core.names import MSG_PROPS, MSG_EXPIRES
from core.names import RC_TOPIC_FILTER_INVALID, RC_NOT_AUTHORIZED, RC_QUOTA_EXCEEDED
from core.names import SUB_RETAIN_HANDLING, SUB_SEND_RETAIN_NEW, SUB_SEND_RETAIN_NEVER


def _start(mv, s, e, v5, why):
    """(a Reader at the first topic filter, the packet id) of a SUBSCRIBE or UNSUBSCRIBE
    body mv[s:e] (v5: where its filters start); a packet id 0 is core/why.py's text why."""
    r = Reader(mv, s, e)
    pid = r.u16()
    if not pid:
        from core.why import text
        raise ProtocolError(text(why))
    if v5:
        r.pos = v5
    return r, pid


def subscribe(b, conn, b0, mv, s, e, p0, v5=0):
    """Handle SUBSCRIBE: grant each filter, SUBACK, then send matching retained messages.

    v5: where the filters start in a v5 SUBSCRIBE, after its properties (core/v5.py reads
    them); 0 for 3.1.1."""
    r, pid = _start(mv, s, e, v5, 18)  # MQTT-2.3.1-1: packet id 0
    reqs = []
    mp = conn.mount
    while r.pos < r.end:
        f = r.string()
        o = q = r.u8()
        if v5:  # MQTT 5.0 subscription options: the QoS granted (core/v5.py)
            q = conn.v5.options(conn, o, f)
        if q > 2:
            from core.why import text
            raise ProtocolError(text(19, q))  # MQTT-3.8.3-4: QoS over 2
        if f[:7] == "$share/":  # a shared subscription (core/subs.py)
            from core import subs as m
            sf = m.check_filter(f, mp)
            if sf is None:
                q = SUBACK_FAILURE  # MQTT-4.8.2-1/2: a bad share name: refused
            else:
                f = sf
        else:
            check_filter(f)
            if mp is not None:  # the listener's mount_point: stored, matched and checked in full
                f = mp + f
                try:
                    check_filter(f)
                except ProtocolError:
                    q = SUBACK_FAILURE  # e.g. "#" after a mount_point without a "/": refused
        b.check_topic(f, len(f.encode()))
        reqs.append((f, q, o))  # o: 3.1.1's is the QoS, no option bits
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
    ret = []  # (filter, qos, options word) to send the retained messages of
    for f, q, o in reqs:
        if q == SUBACK_FAILURE:
            out.append(RC_TOPIC_FILTER_INVALID if v5 else SUBACK_FAILURE)
            from core.why import denied
            denied(b, conn, f, mp)  # not a valid filter under the mount_point
            continue
        if acl is not None and not acl.can_subscribe(conn.username, conn.client_id, f):
            out.append(RC_NOT_AUTHORIZED if v5 else SUBACK_FAILURE)  # this filter only (MQTT-3.9.3)
            from core.why import denied
            denied(b, conn, f, None)  # by acl_file
            if b.events is not None:
                b.events.denied(conn, "subscribe", f, "denied by acl_file")
                b.events.subscribe(conn, f, SUBACK_FAILURE)
            continue
        new = f not in sess.subs
        if new and len(sess.subs) >= b.max_subs:
            out.append(RC_QUOTA_EXCEEDED if v5 else SUBACK_FAILURE)
            from core.why import denied
            denied(b, conn, f, len(sess.subs))  # max_subscriptions_per_client
            continue
        if f[:7] == "$share/":  # its group (core/subs.py)
            from core import subs as m
            m.subscribe(b.subs, f, sess, q)
        else:
            b.subs.subscribe(f, sess, q)  # MQTT-3.8.4-3: a repeated filter replaces the old one
        sess.subs[f] = q
        w = conn.v5.granted(sess, f, o) if v5 else 0  # its options kept (core/v5.py)
        if b.store is not None:
            b.store.sub(sess, f, q, w)
        out.append(q)
        b.log("debug", "Client %s subscribed to '%s' (QoS %d)." % (conn.name(), f, q))
        if b.events is not None:
            b.events.subscribe(conn, f, q)
        # retained messages: none on a shared subscription (MQTT 5.0 4.8.2); v5 Retain
        # Handling 1: only for a new subscription, 2: none (MQTT-3.3.1-10, -11)
        rh = o & SUB_RETAIN_HANDLING  # 3.1.1: 0 (o is the QoS, 0 to 2)
        if rh != SUB_SEND_RETAIN_NEVER and (new or rh != SUB_SEND_RETAIN_NEW) \
                and f[:7] != "$share/":
            ret.append((f, q, w))
    b.write(conn, out)  # MQTT-3.8.4-1
    for f, q, w in ret:
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
            if w:  # with f's Subscription Identifier, if it has one (core/subs.py)
                from core import subs as m
                msg = m.matching(sess, msg, f)
            deliver.send(b, sess, msg, msg[MSG_QOS] if msg[MSG_QOS] < q else q, 1)  # MQTT-3.3.1-6/8


def unsubscribe(b, conn, b0, mv, s, e, p0, v5=0):
    """Handle UNSUBSCRIBE: drop each filter, UNSUBACK even when nothing matched.

    v5: where the filters start in a v5 UNSUBSCRIBE, after its properties; its UNSUBACK
    is core/v5.py's, which gets the filters."""
    r, pid = _start(mv, s, e, v5, 21)  # packet id 0
    fs = []
    mp = conn.mount
    while r.pos < r.end:
        f = r.string()
        if f[:7] == "$share/":
            from core import subs as m
            f = m.check_filter(f, mp) or f  # an invalid one is no subscription: UNSUBACK
        else:
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
        if f[:7] == "$share/":
            from core import subs as m
            ok = m.unsubscribe(b.subs, f, sess)
        else:
            ok = b.subs.unsubscribe(f, sess)
        if ok:
            sess.subs.pop(f, None)  # its options stay in sess.props, unused (core/subs.py)
            if b.store is not None:
                b.store.unsub(sess, f)
        if b.events is not None:
            b.events.unsubscribe(conn, f)
    if v5:
        return fs
    b.ack(conn, UNSUBACK, pid)  # MQTT-3.10.4-4/5
