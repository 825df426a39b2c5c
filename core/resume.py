"""Sending again what a resumed session had in flight (MQTT-4.4.0-1), within the limits of
its new connection. Loaded at the first resume: a board's resident delivery code
(core/deliver.py) stays smaller. The resident modules name it and call it by names they
have anyway (resume, refill): a board interns each new name at its start."""

from core.proto import put_publish
from core import deliver
from core.names import PUBLISH, PUB_DUP, PUB_QOS_SHIFT, PUBREL_OUT
from core.names import MSG_TOPIC, MSG_TOPIC_BYTES, MSG_PAYLOAD
from core.names import OUT_QOS, OUT_RETAIN_SHIFT, OUT_RELEASED


def resume(b, sess):
    """Re-send unacknowledged messages of a resumed session with their packet ids
    (MQTT-4.4.0-1), then the queue. No more are unacknowledged on the new connection than
    its window (MQTT 5.0: the client's Receive Maximum now, MQTT-3.3.4-9): the PUBLISHes
    beyond it wait in sess.held, in order, and go as acknowledgements come (refill)."""
    ents = [(f, pid) for pid, f in sess.flags.items()]
    ents.sort()  # by seq: the order they were first sent in
    sess.held = None
    c = sess.conn
    w = sess.window or b.max_inflight
    n = 0  # (re)sent on this connection and unacknowledged
    for i in range(len(ents)):
        f, pid = ents[i]
        if f & OUT_RELEASED or n < w:
            n += _again(b, sess, c, f, pid)
        else:
            sess.held = ents[i:]
            break
    deliver.refill(b, sess)


def refill(b, sess, c, w):
    """Send again the in-flight messages a resume held back (sess.held) while the window w
    has room (core/deliver.py refill, before the queue)."""
    fl = sess.flags
    # those acknowledged meanwhile (their id maybe reused since) are no longer held
    h = [e for e in sess.held if fl.get(e[1]) == e[0]]
    while h and len(sess.inflight) - len(h) < w:
        f, pid = h.pop(0)
        _again(b, sess, c, f, pid)
    sess.held = h or None


def _again(b, sess, c, f, pid):
    """Send in-flight pid (flags f) to c again: its PUBREL, or its PUBLISH with DUP
    (MQTT-3.3.1-1); 1 if sent, 0 if that PUBLISH is dropped, as if acknowledged, because
    this client cannot take it (outside its mount point; over its Maximum Packet Size:
    MQTT-3.1.2-25, as mosquitto drops it)."""
    out = c.out
    n0 = len(out)
    if not f & OUT_RELEASED:
        m = sess.inflight[pid]
        tb = m[MSG_TOPIC_BYTES]
        q = f & OUT_QOS
        props = None
        if c.mlen:
            if not deliver.inside(c, m[MSG_TOPIC]):  # sent through another listener, outside this one's view
                del sess.inflight[pid]  # not recorded: dropped again after a restart
                del sess.flags[pid]
                return 0
            tb = tb[c.mlen:]
        if c.v5 is not None:  # MQTT 5.0: its properties
            props = c.v5.publish_props(b, c, tb, m, q)
            if props is None:
                del sess.inflight[pid]
                del sess.flags[pid]
                if b.store is not None:
                    b.store.acked(sess, pid)
                return 0
        h = PUBLISH | PUB_DUP | q << PUB_QOS_SHIFT | (f >> OUT_RETAIN_SHIFT & 1)
        put_publish(out, h, tb, pid, m[MSG_PAYLOAD], props)
        if b.debug:
            b.packet_log().publish_out(b, c, h, pid, m[MSG_TOPIC], len(m[MSG_PAYLOAD]))
    else:
        out += bytes((PUBREL_OUT, 2, pid >> 8, pid & 0xFF))  # rare: on a resume only
        if b.debug:
            b.packet_log().ack(b, c, PUBREL_OUT, pid)
    if not n0:
        b.pending.append(c)
    return 1
