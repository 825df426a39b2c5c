"""What some subscriptions need beyond the subscription tree: shared subscriptions
($share/GROUP/FILTER, MQTT 5.0 section 4.8.2, which mosquitto 2.0 offers to 3.1.1 clients
too) and the MQTT 5.0 options and Subscription Identifiers that outlive SUBSCRIBE.
Imported at the first of either: a broker without them loads none of this.

The resident modules call it by names their code already has (subscribe, unsubscribe,
match, drop_session, check_filter, set, retain, matching): a board's heap interns each new
name at start, and a sixth qstr pool costs the 32-bit esp32 model 4.6 KB. The subscription
tree (SubTree.subscribe / unsubscribe, core/session.py) sends a $share/ filter here; its
groups live in the tree's root node.

Shared subscriptions: a session keeps the whole filter ("$share/g/a/+") in Session.subs,
as any other, so that persistence needs no code of its own. The subscription tree's root
node, whose subscriber slot no filter uses, holds a second SubTree whose "sessions" are
Share objects (one per share name and filter) once a shared subscription exists: a topic
matches the groups there, and each group gives the message to one member, round robin as
mosquitto does (the first subscriber first, then in subscription order, online or not: a
member's persistent session queues what it is given while it is offline).

Options: Session.props maps a filter to a word (core/names.py SUB_ID_SHIFT: No Local and
Retain As Published as in the options byte, the Subscription Identifier, at most
2**28 - 1, above them: it fits 32 bits), only for the filters that have one; the tree
keeps the granted QoS alone, as for any subscription.
"""

from core.errors import ProtocolError
from core import topic
from core import deliver
from core.proto import put_varint
from core.names import MSG_TOPIC, MSG_TOPIC_BYTES, MSG_PAYLOAD, MSG_QOS, MSG_PROPS, MSG_EXPIRES
from core.names import MSG_BASE
from core.names import OUT_QOS, OUT_QUEUED, OUT_RETAIN_SHIFT, QUEUED_MSG, QUEUED_FLAGS
from core.names import NODE_SUBS
from core.names import SUB_NO_LOCAL, SUB_RETAIN_AS_PUBLISHED, SUB_ID_SHIFT, PROP_SUBSCRIPTION_ID

_PREFIX = "$share/"


class Share:
    """The members of one shared subscription, in round-robin order."""

    def __init__(self, f):
        # the stored filter: a member with options gets the group's deliveries with this
        # subscription's options and identifier alone (match(), MQTT-3.3.4-5)
        self.filter = f
        self.subs = {}  # session -> granted qos
        self.order = []  # the sessions, the next to receive first


# ---- shared subscriptions ----

def _split(f):
    """(share name, filter) of a filter that starts with $share/; None when the share name
    is empty or holds a wildcard, or no filter follows it (MQTT-4.8.2-1, MQTT-4.8.2-2)."""
    i = f.find("/", len(_PREFIX))
    if i <= len(_PREFIX) or i == len(f) - 1:
        return None
    g = f[len(_PREFIX):i]
    if "+" in g or "#" in g:
        return None
    return g, f[i + 1:]


def _part(f):
    """The topic filter part of a stored shared filter f (what is matched)."""
    return f[f.find("/", len(_PREFIX)) + 1:]


def check_filter(f, mp):
    """The filter a client's $share/ filter f is kept as: the mount point mp (or None) in
    front of its topic filter part. None when f is not a valid shared filter; ProtocolError
    when its topic filter part is malformed (as for any filter)."""
    gf = _split(f)
    if gf is None:
        return None
    g, tf = gf
    topic.check_filter(tf)
    if mp is not None:
        try:
            topic.check_filter(mp + tf)
        except ProtocolError:
            return None  # e.g. "#" after a mount point without a trailing "/": refused
        f = _PREFIX + g + "/" + mp + tf
    if _part(f)[:len(_PREFIX)] == _PREFIX:
        return None  # a shared filter inside a shared filter: refused, not nested
    return f


def subscribe(tree, f, session, qos):
    """Add session to the group of stored shared filter f with granted qos; True if new."""
    inner = tree.root[NODE_SUBS]
    if inner is None:
        from core.session import SubTree
        inner = tree.root[NODE_SUBS] = SubTree(tree.cache_size)
        inner.groups = {}  # stored filter -> Share
    g = inner.groups.get(f)
    if g is None:
        g = inner.groups[f] = Share(f)
        inner.subscribe(_part(f), g, 0)
    new = session not in g.subs
    g.subs[session] = qos  # a second SUBSCRIBE changes the qos, not the membership
    if new:
        g.order.append(session)
        tree.count += 1
    return new


def unsubscribe(tree, f, session):
    """Remove session from the group of f; the group ends with its last member. True if
    session was a member."""
    inner = tree.root[NODE_SUBS]
    g = inner.groups.get(f) if inner is not None else None
    if g is None or session not in g.subs:
        return False
    del g.subs[session]
    g.order.remove(session)
    tree.count -= 1
    if not g.order:
        del inner.groups[f]
        inner.unsubscribe(_part(f), g)
        if not inner.groups:
            tree.root[NODE_SUBS] = None  # the last one: the tree costs nothing again
    return True


def match(inner, t, subs):
    """subs (session, qos) pairs with one member of each group matching topic t added: a
    member with options (Session.props) as (session, the group's stored filter), whose
    options and identifier alone apply to that delivery (send())."""
    gs = inner.match(t)
    if not gs:
        return subs
    r = list(subs)
    for g, _ in gs:
        s, q = _next(g)  # a subscriber entry (core/names.py SUBSCRIBER_*) made below
        r.append((s, g.filter) if s.props is not None else (s, q))
    return r


def _next(g):
    """(session, granted qos) of the member of g whose turn it is; it goes to the end."""
    s = g.order.pop(0)
    g.order.append(s)
    return s, g.subs[s]


def drop_session(b, s):
    """Session s ends: it leaves its groups, and the messages they gave it that it had not
    begun to send, and its QoS 1 ones awaiting PUBACK, go to another member of the group
    (MQTT 5.0 4.8.2: SHOULD for QoS 1). A QoS 2 message it began to send goes to nobody
    else (MQTT-4.8.2-5). A message one of s's other filters matches may have come through
    that one and stays (no member gets a message the group was not given)."""
    inner = b.subs.root[NODE_SUBS]
    shares = []
    plain = []
    for f in s.subs:
        if f[:len(_PREFIX)] == _PREFIX:
            g = inner.groups.get(f)
            if g is not None:
                shares.append((g, f))
        else:
            plain.append(f)
    for g, f in shares:
        unsubscribe(b.subs, f, s)  # the broker's own unsubscribe of f then finds nothing
    ents = [(fl, pid) for pid, fl in s.flags.items() if fl & OUT_QOS == 1]
    ents.sort()  # by seq: the order they were first sent in
    msgs = [s.inflight[pid] for fl, pid in ents]
    flags = [fl & OUT_QUEUED for fl, pid in ents]
    q = s.queue
    for i in range(0, len(q), 2):
        msgs.append(q[i + QUEUED_MSG])
        flags.append(q[i + QUEUED_FLAGS])
    for i in range(len(msgs)):
        m = msgs[i]
        if any(topic.matches(f, m[MSG_TOPIC]) for f in plain):
            continue
        for g, f in shares:
            if g.order and topic.matches(_part(f), m[MSG_TOPIC]):
                t, gq = _next(g)
                q = flags[i] & OUT_QOS
                if len(m) > MSG_BASE:  # made for s: its Subscription Identifiers off
                    m = m[MSG_BASE]
                if t.props is not None:  # and t's for this group's subscription on
                    m = matching(t, m, f)
                deliver.send(b, t, m, q if q < gq else gq, flags[i] >> OUT_RETAIN_SHIFT & 1)
                break


# ---- MQTT 5.0 subscription options and identifiers ----

def set(sess, f, o, sid):
    """Keep the options byte o's No Local and Retain As Published and the Subscription
    Identifier sid (0: none) of sess's subscription f (both 0: forget them); returns the
    word kept (0: none). o may be a word: its identifier bits are not read."""
    w = o & (SUB_NO_LOCAL | SUB_RETAIN_AS_PUBLISHED) | sid << SUB_ID_SHIFT
    if w:
        if sess.props is None:
            sess.props = {}
        sess.props[f] = w
    elif sess.props is not None:
        sess.props.pop(f, None)
        if not sess.props:
            sess.props = None
    return w


def _words(sess, t, f):
    """The options words (0 for none) of the subscriptions of sess a delivery on topic t is
    for: f's alone (a shared subscription's delivery, a retained message at SUBSCRIBE), or
    when f is None every plain one that matches t (one copy for them all)."""
    opts = sess.props
    if f is not None:
        return [opts.get(f, 0)]
    return [opts.get(x, 0) for x in sess.subs
            if x[:len(_PREFIX)] != _PREFIX and topic.matches(x, t)]


def retain(sess, t, src, flag, f):
    """The retain flag of a message published with flag to topic t, for sess, which gets
    it through its shared subscription f (None: its plain ones): flag when a subscription
    it is for has Retain As Published (MQTT-3.3.1-13), else 0 (MQTT-3.3.1-12); -1 when
    sess must not get it: it came from sess's own connection src and every matching
    subscription has No Local (MQTT-3.8.3-3)."""
    ws = _words(sess, t, f)
    if src is not None and src is sess.conn and ws:
        for w in ws:
            if not w & SUB_NO_LOCAL:
                break
        else:
            return -1
    if flag:
        for w in ws:
            if w & SUB_RETAIN_AS_PUBLISHED:
                return 1
    return 0


def matching(sess, msg, f=None):
    """The message sess gets for msg (core/names.py, MSG_*) through its subscription f (a
    shared one, or a new one's retained message at SUBSCRIBE; None: its plain ones): msg
    itself, or when those subscriptions have Subscription Identifiers, a copy for sess
    alone with them (MQTT-3.3.4-3, -4: every plain one in one copy; -5: a shared
    subscription's copy carries its own alone)."""
    if len(msg) > MSG_BASE:
        msg = msg[MSG_BASE]  # one made for another subscriber (a shared member that left)
    ws = _words(sess, msg[MSG_TOPIC], f)
    out = None
    for w in ws:
        if w >> SUB_ID_SHIFT:
            if out is None:
                out = bytearray(msg[MSG_PROPS]) if len(msg) > MSG_PROPS else bytearray()
            out.append(PROP_SUBSCRIPTION_ID)
            put_varint(out, w >> SUB_ID_SHIFT)
    if out is None:
        return msg
    return deliver.message(msg[MSG_TOPIC], msg[MSG_TOPIC_BYTES], msg[MSG_PAYLOAD],
                           msg[MSG_QOS] if len(msg) > MSG_QOS else 0, bytes(out),
                           msg[MSG_EXPIRES] if len(msg) > MSG_PROPS else 0) + (msg,)  # MSG_BASE


def send(b, sess, msg, sq, qos, src, flag):
    """Deliver msg, published with qos and retain flag, to sess, which has MQTT 5.0 options
    and its plain subscriptions granted sq, or (sq a str, match()) gets it through its
    shared subscription sq, as core/deliver.py route() does, with the options applied and
    the identifiers added: route() leaves such sessions to this."""
    f = None
    if sq.__class__ is str:
        f = sq
        sq = sess.subs[f]
    r = retain(sess, msg[MSG_TOPIC], src, flag, f)
    if r < 0:
        return
    msg = matching(sess, msg, f)
    q = sq
    if qos < q and not b.cfg.upgrade_outgoing_qos:
        q = qos
    c = sess.conn
    if q or c is None:  # QoS 0 to a session offline: queued if queue_qos0_messages
        if q or b.cfg.queue_qos0_messages:
            deliver.send(b, sess, msg, q, r)
    elif not c.closing and not (len(c.out) > b.out_limit and deliver.full0(b, c)):
        deliver._start(b, sess, c, msg, 0, r)
