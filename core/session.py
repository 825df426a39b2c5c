"""The state the broker keeps: sessions that outlive a connection, the subscription tree
and the retained messages (one module: a module of its own costs a board heap).

The layouts of a message, a retained message and the outgoing flags (Session.flags,
Session.queue) are named in core/names.py: tuples and small ints rather than objects, as
a board holds hundreds of them.
"""

from core.const import const
from core.names import MSG_TOPIC, MSG_TOPIC_BYTES, MSG_PAYLOAD, MSG_PROPS, MSG_EXPIRES
from core.names import NODE_CHILDREN, NODE_SUBS
from core.topic import matches

_MAX_PID = const(65535)  # the largest packet identifier (two bytes)


class Session:
    """Subscriptions, in-flight and queued outgoing messages, QoS 2 ids received."""

    # Defaults as class attributes: an instance stores only what changed (smaller on a board)
    conn = None
    queued_bytes = 0  # payload bytes in queue
    # pid -> a QoS 2 PUBLISH received, PUBREL not yet: its message (topic, topic bytes,
    # payload, retain), delivered when PUBREL comes (core/qos2_in.py), or True (not to be
    # delivered: dropped by a check, or restored from a file of before); made on first use
    qos2_in = None
    next_pid = 0
    seq = 0
    gone_at = 0  # broker seconds when the last connection ended
    dropped = 0
    lost = 0  # messages dropped at its queue limit, ever (a bridge's $SYS count)
    # True: a bridge's local session (core/bridge/link.py), whose full queue holds the
    # publishers instead of dropping (core/flow.py), its uplink up or down; False again
    # (drop policy) once it took nothing for slow_subscriber_timeout, until it reconnects
    uplink = False
    # a bridge's local session: its Link's forward0(c, mv, s, ps, e, topic), which takes a
    # QoS 0 PUBLISH as received (mv[s:e], 3.1.1, not retained) straight upstream when it can
    # (True; core/bridge/link.py), else the message goes the usual way through c.out
    forward0 = None
    username = None  # the last connection's, for acl_file read checks while offline
    props = None  # filter -> MQTT 5.0 options and Subscription Identifier (core/subs.py)
    # MQTT 5.0 (core/v5.py): the Session Expiry Interval in seconds when finite (None: as
    # 3.1.1, persistent_client_expiration), and the in-flight window when the client's
    # Receive Maximum is below max_inflight_messages (0: the broker's; a bridge's local
    # session: its link's window upstream, core/bridge/link.py)
    expiry = None
    window = 0
    # on a resume, the in-flight messages not sent again yet, as (flags, pid) in their
    # order: more than the window were unacknowledged (core/deliver.py resume)
    held = None

    def __init__(self, client_id, clean):
        self.client_id = client_id
        self.clean = clean
        self.subs = {}  # filter -> granted qos
        # Two flat maps and a flat list rather than an object per message: a board holds
        # max_inflight + queued messages per client in ~100 KB.
        self.inflight = {}  # pid -> msg
        self.flags = {}  # pid -> outgoing flags (core/names.py, OUT_*)
        self.queue = []  # msg, its queue flags, ... waiting for an in-flight slot

    def new_pid(self):
        """A packet identifier not used by any in-flight message."""
        p = self.next_pid
        while True:
            p = p + 1 if p < _MAX_PID else 1
            if p not in self.inflight:
                self.next_pid = p
                return p


class RetainStore:
    """Maps a topic name to the last retained message of that topic: a message with its
    qos appended (core/names.py, MSG_QOS), a message as any other to its readers."""

    def __init__(self):
        self.msgs = {}

    def set(self, msg, qos):
        """Store msg as the retained message of its topic; an empty payload deletes it.
        Returns what is stored (msg when deleted), to be routed in msg's place."""
        if len(msg[MSG_PAYLOAD]) == 0:
            self.msgs.pop(msg[MSG_TOPIC], None)
            return msg
        if len(msg) > MSG_PROPS:  # MQTT 5.0: kept with its properties and expiry (a will's)
            r = (msg[MSG_TOPIC], msg[MSG_TOPIC_BYTES], msg[MSG_PAYLOAD], qos, msg[MSG_PROPS],
                 msg[MSG_EXPIRES])
        else:
            r = (msg[MSG_TOPIC], msg[MSG_TOPIC_BYTES], msg[MSG_PAYLOAD], qos)
        self.msgs[msg[MSG_TOPIC]] = r
        return r

    def matching(self, f):
        """List of the retained messages (with their qos, above) whose topic matches f."""
        if "+" not in f and "#" not in f:
            r = self.msgs.get(f)
            return [r] if r is not None else []
        return [v for t, v in self.msgs.items() if matches(f, t)]


# The subscription tree: topic filters stored by level, matched without scanning them all.
# A node is [children, subscribers]: children maps a level (or "+", "#") to a node (None
# in a leaf: most filters end in one, and an empty dict costs a board 32 bytes each),
# subscribers maps a Session to its granted QoS (or is None). No filter ends at the root:
# its subscriber slot holds the groups of shared subscriptions, once there are any
# (core/subs.py; a slot rather than an attribute: a board interns each new name).


class SubTree:
    """Topic filters of all sessions, with a small cache of match results per topic."""

    def __init__(self, cache_size=256):
        self.root = [None, None]  # a node (core/names.py, NODE_*)
        self.count = 0
        self.cache = {}
        self.cache_size = cache_size

    def subscribe(self, f, session, qos):
        """Add or replace session's subscription to filter f; True if it is new."""
        node = self.root
        for lv in f.split("/"):
            ch = node[NODE_CHILDREN]
            if ch is None:
                ch = node[NODE_CHILDREN] = {}
            nxt = ch.get(lv)
            if nxt is None:
                nxt = [None, None]
                ch[lv] = nxt
            node = nxt
        if node[NODE_SUBS] is None:
            node[NODE_SUBS] = {}
        new = session not in node[NODE_SUBS]
        node[NODE_SUBS][session] = qos
        if new:
            self.count += 1
        self.cache.clear()
        return new

    def unsubscribe(self, f, session):
        """Remove session's subscription to f; True if it existed."""
        path = []
        node = self.root
        for lv in f.split("/"):
            nxt = node[NODE_CHILDREN].get(lv) if node[NODE_CHILDREN] else None
            if nxt is None:
                return False
            path.append((node, lv))
            node = nxt
        if not node[NODE_SUBS] or session not in node[NODE_SUBS]:
            return False
        del node[NODE_SUBS][session]
        self.count -= 1
        self.cache.clear()
        # prune empty branches so the tree does not grow with churn
        while path and not node[NODE_SUBS] and not node[NODE_CHILDREN]:
            parent, lv = path.pop()
            del parent[NODE_CHILDREN][lv]
            node = parent
            if not node[NODE_CHILDREN]:
                node[NODE_CHILDREN] = None  # a leaf again
        return True

    def match(self, topic):
        """List of (session, qos) subscribed to topic, one per session at its highest QoS."""
        r = self.cache.get(topic)
        if r is not None:
            return r
        found = {}
        _walk(self.root, topic.split("/"), 0, found, topic[:1] == "$")
        r = list(found.items())
        if len(self.cache) >= self.cache_size:
            self.cache.clear()
        self.cache[topic] = r
        return r


def _add(found, subs):
    for s in subs:
        q = subs[s]
        old = found.get(s)
        if old is None or q > old:
            found[s] = q


def _walk(node, levels, i, found, dollar):
    ch = node[NODE_CHILDREN]
    if i == len(levels):
        if node[NODE_SUBS]:
            _add(found, node[NODE_SUBS])
        n = ch.get("#") if ch else None  # "a/#" also matches "a"
        if n is not None and n[NODE_SUBS]:
            _add(found, n[NODE_SUBS])
        return
    if not ch:
        return
    n = ch.get(levels[i])
    if n is not None:
        _walk(n, levels, i + 1, found, dollar)
    if i == 0 and dollar:
        return  # MQTT-4.7.2-1: a leading wildcard never matches a $ topic
    n = ch.get("+")
    if n is not None:
        _walk(n, levels, i + 1, found, dollar)
    n = ch.get("#")
    if n is not None and n[NODE_SUBS]:
        _add(found, n[NODE_SUBS])
