"""Incoming QoS 2 messages kept until their PUBREL and delivered then, as mosquitto 2.0
does (MQTT 3.1.1 section 4.3.3 allows delivery on PUBLISH or on PUBREL): imported at the
first QoS 2 PUBLISH, so that a board whose clients publish at QoS 0 and 1 never loads it.
Named after Session.qos2_in: a board's heap interns each new name of the modules it loads
at start (core/handle_publish.py imports this one by name), and one more qstr put the
32-bit esp32 websockets model into a new 4.6 KB qstr pool.

Session.qos2_in maps a packet id to the message (topic, topic bytes, payload, retain), or
to True for one not to be delivered (dropped by a check, or restored from a file written
before messages were kept).
"""

from core import deliver
from core.names import MSG_TOPIC, MSG_TOPIC_BYTES, MSG_PAYLOAD, MSG_PROPS, KEPT_RETAIN
from core.names import PUB5_PROPS, PUB5_EXPIRES, PUB5_BAD


def q2in(b, conn, pid, topic, mv, ts, te, ps, e, retain, why, v5=None):
    """Keep QoS 2 pid of conn, its topic bytes mv[ts:te] and payload mv[ps:e], until its
    PUBREL; why: why it is not to be delivered, or None; v5: what core/pub5.py read of a
    v5 PUBLISH (kept with its properties and expiry as core/names.py's MSG_PROPS and
    MSG_EXPIRES fields), or None. A resend before PUBREL replaces
    it, so it is delivered once (MQTT-4.3.3-2); the same message again is not recorded
    again. True when a v5 client was answered PUBREC with a reason code (its refusal ends
    the flow there), else the caller sends PUBREC."""
    if why is not None:
        if conn.v5 is not None:
            from core.v5 import refused
            return refused(b, conn, 2, pid, why, e - ps, v5 is not None and why is v5[PUB5_BAD])
        retain = -1
    sess = conn.session
    q2 = sess.qos2_in
    if q2 is None:
        q2 = sess.qos2_in = {}
    old = q2.get(pid)
    if retain < 0:
        if old is not None:
            return False
        m = True
    else:
        m = deliver.new_msg(b, topic, mv, ps, e)
        props = None
        if v5 is not None and v5[PUB5_PROPS] is not None:  # v5: properties, an alias's topic
            props = v5[PUB5_PROPS]
        m = deliver.message(topic, m[MSG_TOPIC_BYTES], m[MSG_PAYLOAD], retain, props,
                            v5[PUB5_EXPIRES] if props is not None else 0)
        if old is not None and old is not True and old[MSG_TOPIC] == topic \
                and old[MSG_PAYLOAD] == m[MSG_PAYLOAD] and old[KEPT_RETAIN] == retain:
            return False
    q2[pid] = m
    if b.store is not None:
        b.store.q2in(sess, pid, m)
    return False


def q2rel(b, conn, pid):
    """PUBREL for kept QoS 2 pid of conn: deliver its message (retained first if it was
    published so) to the subscribers of this moment, then forget it."""
    sess = conn.session
    q2 = sess.qos2_in
    m = q2[pid]
    if m is not True and len(m) > MSG_PROPS:  # v5: with its properties (core/pub5.py)
        from core import pub5
        pub5.release(b, conn, m)
    elif m is not True:
        deliver.publish_msg(b, m[:KEPT_RETAIN], 2, m[KEPT_RETAIN], conn)  # the message alone
    del q2[pid]  # after routing: a PUBREL a MemoryError kept back (core/flow.py) routes it again
    if b.store is not None:
        b.store.q2rel(sess, pid)
