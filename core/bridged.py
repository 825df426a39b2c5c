"""Delivery to bridges' sessions (broker.bridged): the retain flag as published, and never
back to the bridge a message came in over, as mosquitto treats its bridges. An engine module
loaded only once a bridge exists (this broker's, core/bridge/, or a client's CONNECT with
protocol level | 0x80): a board without bridges keeps none of its code."""

from core import deliver


def to_bridges(b, subs, topic, qos, mv, ts, te, ps, pe, msg, retain, src):
    """Send to the bridges' sessions among subs, with the retain flag as published and not
    to the bridge the message came in over (no loops); returns the other subscribers."""
    rest = []
    for e in subs:
        sess = e[0]
        if sess not in b.bridged:
            rest.append(e)
            continue
        c = sess.conn
        if src is not None and c is src:
            continue
        q = e[1] if b.cfg.upgrade_outgoing_qos or e[1] < qos else qos
        if q == 0 and (c is None or c.closing) and not b.cfg.queue_qos0_messages:
            continue
        if msg is None:
            msg = deliver.new_msg(b, topic, mv, ts, te, ps, pe)
        deliver.send(b, sess, msg, q, retain)
    return rest


def mark(b, s, private):
    """A bridge's session gets messages with the retain flag as published and never those it
    published itself (core/deliver.py route), as mosquitto treats a try_private bridge."""
    if private:
        if b.bridged is None:
            b.bridged = set()
        b.bridged.add(s)
    else:
        b.bridged.discard(s)
