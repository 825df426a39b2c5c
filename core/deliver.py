"""Outgoing messages: route to subscribers, in-flight window, queue (core/resume.py sends
again what a resumed session had in flight)."""

from core.proto import put_publish, put_varint
from core.session import Session
from core.const import const
from core.names import PUBLISH, PUB_QOS_SHIFT
from core.names import MSG_TOPIC, MSG_TOPIC_BYTES, MSG_PAYLOAD, MSG_PROPS, MSG_EXPIRES
from core.names import OUT_QOS, OUT_RETAIN_SHIFT, OUT_SEQ_SHIFT
from core.names import QUEUED_MSG, QUEUED_FLAGS, QUEUED_PAIR
from core.names import RC_QUOTA_EXCEEDED, SUBSCRIBER_SESSION, SUBSCRIBER_QOS, NODE_SUBS

# output a connection may gather before the port's spill (if any) writes it out: growing
# one buffer by kilobytes needs a free block that big, which a fragmented heap may lack
_SPILL_AT = const(256)


def route(b, topic, qos, mv, ts, te, ps, pe, p0, msg, retain=0, src=None):
    """Deliver a message whose topic bytes are mv[ts:te] and payload mv[ps:pe]; False
    when no subscription matched (a v5 PUBACK says so; not when acl_file lets none of them
    read it, as mosquitto).

    When p0 >= 0, mv[p0:pe] is already the message as a QoS 0 non-retained PUBLISH and is
    forwarded as is to the clients of its protocol: 3.1.1 when ps == te, else 5.0 (an empty
    property block); msg is the message (core/names.py, MSG_*) or None. Each form is built
    at most once, whatever the number of subscribers. retain: the flag it was published
    with, and src the connection it came from (None: made inside the broker), for bridges.
    """
    subs = b.subs.match(topic)
    sh = b.subs.root[NODE_SUBS]  # shared subscriptions' groups (core/session.py, core/subs.py)
    if sh is not None:  # one member of each matching group
        from core import subs as m
        subs = m.match(sh, topic, subs)
    if not subs:
        return False
    if b.acl is not None:
        subs = b.acl.readers(subs, topic)  # the receiver's read rights (acl_file)
    if b.bridged is not None and subs:  # bridges' sessions (mosquitto's or ours) exist
        subs = _to_bridges(b, subs, topic, qos, mv, ts, te, ps, pe, msg, retain, src,
                           p0 if ps == te else -1)
    if not subs:
        return True  # matched, as mosquitto counts it: bridges' sessions, or none may read
    limit = b.out_limit
    up = b.cfg.upgrade_outgoing_qos
    dv = b.events
    if dv is not None:
        dv = dv.deliveries  # None unless capture_deliveries is on
    pkt = pk5 = None  # the PUBLISH for 3.1.1 clients, and for 5.0 ones (no properties)
    if p0 >= 0:  # received as it is forwarded, to clients of its protocol
        if ps == te:
            pkt = mv[p0:pe]
        else:  # a 5.0 PUBLISH: its empty property block between topic and payload
            pk5 = mv[p0:pe]
    mpk = None  # the PUBLISH with the topic shortened for clients of mount point mpm
    mpm = None
    for sess, sq in subs:
        if sess.props is not None:  # MQTT 5.0 options and identifiers: core/subs.py sends it
            from core import subs as m
            if msg is None:
                msg = new_msg(b, topic, mv, ps, pe)
            m.send(b, sess, msg, sq, qos, src, retain)
            continue
        q = sq if up or sq < qos else qos
        c = sess.conn
        if q == 0:
            if c is None or c.closing:
                if b.cfg.queue_qos0_messages and c is None:
                    if msg is None:
                        msg = new_msg(b, topic, mv, ps, pe)
                    send(b, sess, msg, 0, 0)
                continue
            out = c.out
            if c.v5 is not None:  # MQTT 5.0
                if c.mlen or c.v5.max_out or msg is not None and len(msg) > MSG_PROPS:
                    # a mount point, a Maximum Packet Size, properties: a PUBLISH of its own
                    if len(out) > limit and full0(b, c):
                        continue
                    if msg is None:
                        msg = new_msg(b, topic, mv, ps, pe)
                    _start(b, sess, c, msg, 0, 0)
                    continue
                if pk5 is None:  # one with an empty property block for all
                    pk5 = bytearray()
                    put_publish(pk5, PUBLISH, mv[ts:te], 0, mv[ps:pe], b"\x00")
                p = pk5
            elif c.mlen:
                if not inside(c, topic):
                    continue
                if mpm != c.mount:
                    mpm = c.mount
                    mpk = bytearray()
                    mpk.append(PUBLISH)
                    put_varint(mpk, te - ts - c.mlen + 2 + pe - ps)
                    mpk.append((te - ts - c.mlen) >> 8)
                    mpk.append((te - ts - c.mlen) & 0xFF)
                    mpk += mv[ts + c.mlen:te]
                    mpk += mv[ps:pe]
                p = mpk
            else:
                if pkt is None:
                    pkt = bytearray()
                    pkt.append(PUBLISH)
                    put_varint(pkt, te - ts + 2 + pe - ps)
                    pkt += mv[ts - 2:te]
                    pkt += mv[ps:pe]
                p = pkt
            if len(out) > limit and full0(b, c):
                continue
            try:
                out += p
            except MemoryError:  # QoS 0 may be lost: this subscriber's copy is, counted
                if b.flow:
                    raise  # the packet is kept and retried (core/flow.py)
                c.dropped += 1
                b.msgs_dropped += 1
                continue
            if len(out) == len(p):
                b.pending.append(c)
            b.msgs_out += 1
            c.tx_msgs += 1
            if dv is not None:
                dv(c, topic, 0, 0, pe - ps)
            if b.debug:
                b.packet_log().publish_out(b, c, PUBLISH, 0, topic, pe - ps)
            if len(out) > _SPILL_AT and b.spill is not None:
                b.spill(c)  # as _start does: a burst to many would grow each buffer by KBs
        else:
            if msg is None:
                msg = new_msg(b, topic, mv, ps, pe)
            send(b, sess, msg, q, 0)
    return True


def _to_bridges(b, subs, topic, qos, mv, ts, te, ps, pe, msg, retain, src, p0):
    """Send to the bridges' sessions (broker.bridged) among subs, with the retain flag as
    published and not to the bridge the message came in over (no loops); returns the
    other subscribers. p0 >= 0: mv[p0:pe] is the message as a 3.1.1 QoS 0 PUBLISH."""
    rest = []
    for e in subs:
        sess = e[SUBSCRIBER_SESSION]
        if sess not in b.bridged:
            rest.append(e)
            continue
        c = sess.conn
        if src is not None and c is src:
            continue
        q = e[SUBSCRIBER_QOS]
        if q.__class__ is str:  # a shared subscription's delivery (core/subs.py match)
            q = sess.subs[q]
        if q > qos and not b.cfg.upgrade_outgoing_qos:
            q = qos
        if q == 0 and (c is None or c.closing) and not b.cfg.queue_qos0_messages:
            continue
        if not q and p0 >= 0 and not retain and sess.forward0 is not None and \
                c is not None and sess.forward0(c, mv, p0, ps, pe, topic):
            continue  # as received, with neither a message nor a copy in c.out (counted)
        if msg is None:
            msg = new_msg(b, topic, mv, ps, pe)
        send(b, sess, msg, q, retain)
        if sess.uplink:  # this broker's bridge: full, it holds the publishers (core/flow.py)
            mark(b, sess)
    return rest


def full0(b, c):
    """c's unsent bytes are over the limit: True when a QoS 0 message to it is dropped
    (counted), False when back-pressure keeps it (the publishers wait instead)."""
    if b.flow:
        mark(b, c)
        return False
    if not c.dropped:
        b.log("warning", "Client %s is slow: QoS 0 messages to it are dropped "
              "while %d bytes wait to be sent." % (c.name(), len(c.out)))
    c.dropped += 1
    b.msgs_dropped += 1
    return True


def new_msg(b, topic, mv, ps, pe):
    """The message (core/names.py, MSG_*) of a received PUBLISH on topic (the broker's:
    with the listener's mount_point) with payload mv[ps:pe]."""
    # a burst to one topic shares one topic str and bytes: on a board each message kept
    # in flight or queued would hold its own copies, 64 bytes more. The str is encoded
    # rather than mv[ts:te] copied: a slice of a memoryview is one more object to collect
    last = b.last_topic  # the first two fields of a message
    if last is None or last[MSG_TOPIC] != topic:
        last = b.last_topic = (topic, topic.encode())
    return (last[MSG_TOPIC], last[MSG_TOPIC_BYTES], bytes(mv[ps:pe]))


def inside(c, topic):
    """True if topic lies under the mount point of c (and is more than the mount point)."""
    mp = c.mount
    return len(topic) > len(mp) and topic.startswith(mp)


def message(topic, tb, payload, n=None, props=None, expires=0):
    """A message (core/names.py, MSG_*) made inside the broker: str topic, tb its bytes;
    with n, a retained message (n: its qos, MSG_QOS) or a kept QoS 2 one (n: its retain
    flag, KEPT_RETAIN); with props (bytes), an MQTT 5.0 one with its properties and expiry
    second (core/pub5.py; n 0 when None)."""
    if props is not None:
        return (topic, tb, payload, n or 0, props, expires)
    if n is None:
        return (topic, tb, payload)
    return (topic, tb, payload, n)


def publish_msg(b, msg, qos, retain, src=None):
    """Publish a message made inside the broker (a will, $SYS, a bridge's state) or kept
    in it (a QoS 2 one of src's until its PUBREL)."""
    if retain and b.cfg.retain_available:
        msg = b.retained.set(msg, qos)
        if b.store is not None:
            b.store.retain(msg, qos)
    route_msg(b, msg, qos, retain, src)


def route_msg(b, msg, qos, retain=0, src=None):
    """Route message msg that has no received packet to forward (retain, src: as for
    route); False when no subscription matched."""
    buf = bytearray()
    put_publish(buf, PUBLISH, msg[MSG_TOPIC_BYTES], 0, msg[MSG_PAYLOAD])
    mv = memoryview(buf)
    n = len(buf)
    ts = n - len(msg[MSG_PAYLOAD]) - len(msg[MSG_TOPIC_BYTES])
    return route(b, msg[MSG_TOPIC], qos, mv, ts, ts + len(msg[MSG_TOPIC_BYTES]),
                 n - len(msg[MSG_PAYLOAD]), n, 0, msg, retain, src)


def send(b, sess, msg, q, retain):
    """Start sending msg to sess at QoS q, or queue it behind earlier ones."""
    c = sess.conn
    if c is not None and not c.closing and not sess.queue and \
            len(sess.inflight) < (sess.window or b.max_inflight):
        if _start(b, sess, c, msg, q, retain):
            _backlog(b, sess, c)
            return
        retry_later(b, sess)  # no heap for it now: queued below, tried again in a second
    cfg = b.cfg
    lim = cfg.max_queued_messages
    if ((lim and len(sess.queue) >= QUEUED_PAIR * lim) or (
            cfg.max_queued_bytes
            and sess.queued_bytes + len(msg[MSG_PAYLOAD]) > cfg.max_queued_bytes)) \
            and not sess.uplink and (not b.flow or c is None or c.closing):
        # (else kept: its publishers wait, core/flow.py)
        if not sess.dropped:
            b.log("warning", "Outgoing messages are being dropped for client %s: %d queued."
                  % (sess.client_id, len(sess.queue) // QUEUED_PAIR))
        sess.dropped += 1
        sess.lost += 1
        b.msgs_dropped += 1
        return
    sq = sess.queue
    sq.append(msg)
    try:
        sq.append(retain << OUT_RETAIN_SHIFT | q)
    except MemoryError:
        sq.pop()  # the queue stays pairs: a packet kept back (core/flow.py) comes again
        raise
    sess.queued_bytes += len(msg[MSG_PAYLOAD])
    if b.store is not None:
        b.store.queue(sess, msg, retain << OUT_RETAIN_SHIFT | q)
    if c is not None:
        if b.flow:  # publishers wait while its queue is over a limit (core/flow.py)
            mark(b, c)
        _backlog(b, sess, c)


def _backlog(b, sess, c):
    # what a connected client has waiting (max_outgoing_bytes): unsent bytes plus queued
    # payloads; with back-pressure only the bytes its socket did not take
    n = len(c.out) if b.flow else len(c.out) + sess.queued_bytes
    if n > b.backlog_limit and not c.closing:
        b.backlog_cut += 1
        why = "%d bytes wait, over max_outgoing_bytes %d" % (n, b.backlog_limit)
        b.log("warning", "Client %s disconnected: %s." % (c.name(), why))
        b.close(c, True, why, RC_QUOTA_EXCEEDED)


def _start(b, sess, c, msg, q, retain, head=False):
    """Write msg to c now; False, with nothing changed, when the heap has no room for it.

    head: msg is the head of sess's queue (for the persistence store).
    """
    tb = msg[MSG_TOPIC_BYTES]
    if c.mlen:
        if not inside(c, msg[MSG_TOPIC]):
            if b.store is not None:
                b.store.start(sess, 0, msg, retain << OUT_RETAIN_SHIFT | q, head)
            return True  # outside its mount point: never for this client (a resumed session)
        tb = tb[c.mlen:]
    props = None
    v5 = c.v5
    if v5 is not None:  # MQTT 5.0: a property block (core/v5.py; empty without a call)
        props = v5.publish_props(b, c, tb, msg, q) if v5.max_out or len(msg) > MSG_PROPS \
            else b"\x00"
        if props is None:  # over the client's Maximum Packet Size: as if sent (MQTT-3.1.2-25)
            if b.store is not None:
                b.store.start(sess, 0, msg, retain << OUT_RETAIN_SHIFT | q, head)
            return True
    out = c.out
    n0 = len(out)
    pid = 0
    try:
        if q:
            pid = sess.new_pid()
            sess.inflight[pid] = msg
            sess.flags[pid] = (sess.seq + 1) << OUT_SEQ_SHIFT | retain << OUT_RETAIN_SHIFT | q
        put_publish(out, PUBLISH | q << PUB_QOS_SHIFT | retain, tb, pid, msg[MSG_PAYLOAD],
                    props)
    except MemoryError:
        # a board's fragmented heap may lack one block the size of a large message: the
        # message waits in the queue rather than costing the sender its connection
        if pid:
            sess.inflight.pop(pid, None)
            sess.flags.pop(pid, None)
        if len(out) > n0:
            out[n0:] = b""
        return False
    if q:
        sess.seq += 1
    if b.store is not None:
        b.store.start(sess, pid, msg, sess.flags[pid] if q else retain << OUT_RETAIN_SHIFT, head)
    if b.debug:
        b.packet_log().publish_out(b, c, PUBLISH | q << PUB_QOS_SHIFT | retain, pid,
                                   msg[MSG_TOPIC], len(msg[MSG_PAYLOAD]))
    if b.flow and len(out) > b.out_limit:
        mark(b, c)
    if not n0:
        b.pending.append(c)
    b.msgs_out += 1
    c.tx_msgs += 1
    dv = b.events
    if dv is not None and dv.deliveries is not None:
        dv.deliveries(c, msg[MSG_TOPIC], q, retain, len(msg[MSG_PAYLOAD]))
    if len(out) > _SPILL_AT and b.spill is not None:
        b.spill(c)
    return True


def retry_later(b, sess):
    """Have the broker's next second refill sess (a message found no heap)."""
    if sess not in b.retry:
        b.retry.append(sess)


def refill(b, sess):
    """Move queued messages into the in-flight window while there is room (after the
    in-flight ones a resume held back, sess.held)."""
    c = sess.conn
    if c is None or c.closing:
        return
    w = sess.window or b.max_inflight
    if sess.held is not None:  # what a resume held back goes first (core/resume.py)
        from core import resume
        resume.refill(b, sess, c, w)
    q = sess.queue
    while q and len(sess.inflight) < w:
        m = q[QUEUED_MSG]
        f = q[QUEUED_FLAGS]
        if len(m) > MSG_PROPS and m[MSG_EXPIRES] and m[MSG_EXPIRES] <= b.secs:
            if b.store is not None:  # MQTT 5.0: expired while it waited (MQTT-3.3.2-5)
                b.store.start(sess, 0, m, f, True)  # the head left unsent
        elif not _start(b, sess, c, m, f & OUT_QOS, f >> OUT_RETAIN_SHIFT, True):
            retry_later(b, sess)
            return
        q.pop(0)  # the pair: message and flags
        q.pop(0)
        sess.queued_bytes -= len(m[MSG_PAYLOAD])
    if not q and sess.dropped:
        sess.dropped = 0


# Whether a destination is full (core/flow.py): here rather than in core/flow.py, because
# every queued message asks; a board then loads flow's code only once something is full.

_QUEUE = const(256)  # queued messages that pause publishers at most: 512 list slots, 2 KB


def over(b, c):
    """True when destination c is over a limit: unsent bytes (any, while the heap is short)
    or its session's queue. c is a Conn, or the Session of a bridge's uplink (Session.uplink,
    waited for as a session whether its uplink is connected or not)."""
    if c.__class__ is Session:
        s = c
        c = s.conn
        if c is not None and len(c.out) > b.out_limit:
            return True
    else:
        if len(c.out) > b.out_limit or (b.low_memory and c.out):
            return True
        s = c.session
        if s is None:
            return False
    if not s.queue:
        return False
    cfg = b.cfg
    lim = cfg.max_queued_messages
    if not lim or lim > _QUEUE:
        lim = _QUEUE  # a long queue is one large block: pause before it grows
    if len(s.queue) >= QUEUED_PAIR * lim:
        return True
    return bool(cfg.max_queued_bytes and s.queued_bytes >= cfg.max_queued_bytes)


def mark(b, c):
    """If destination c (as for over) is over a limit, publishers wait until it drains (or
    proves slow)."""
    s = c.session if c.__class__ is not Session else None
    if s is not None and s.uplink:
        c = s  # a bridge's uplink: the same wait whether it is connected or not
    if c not in b.full and over(b, c):
        b.full[c] = [b.now, moved(c)]  # core/names.py, FULL_*


def moved(c):
    """Bytes destination c (as for over) has taken so far (-1: a bridge's uplink is down)."""
    if c.__class__ is Session:
        c = c.conn
        if c is None:
            return -1
    return c.tx_bytes
