"""Subscription tree: topic filters stored by level, matched without scanning them all."""

# A node is [children, subscribers]: children maps a level (or "+", "#") to a node,
# subscribers maps a Session to its granted QoS (or is None).


class SubTree:
    """Topic filters of all sessions, with a small cache of match results per topic."""

    def __init__(self, cache_size=256):
        self.root = [{}, None]
        self.count = 0
        self.cache = {}
        self.cache_size = cache_size

    def subscribe(self, f, session, qos):
        """Add or replace session's subscription to filter f; True if it is new."""
        node = self.root
        for lv in f.split("/"):
            ch = node[0]
            nxt = ch.get(lv)
            if nxt is None:
                nxt = [{}, None]
                ch[lv] = nxt
            node = nxt
        if node[1] is None:
            node[1] = {}
        new = session not in node[1]
        node[1][session] = qos
        if new:
            self.count += 1
        self.cache.clear()
        return new

    def unsubscribe(self, f, session):
        """Remove session's subscription to f; True if it existed."""
        path = []
        node = self.root
        for lv in f.split("/"):
            nxt = node[0].get(lv)
            if nxt is None:
                return False
            path.append((node, lv))
            node = nxt
        if not node[1] or session not in node[1]:
            return False
        del node[1][session]
        self.count -= 1
        self.cache.clear()
        # prune empty branches so the tree does not grow with churn
        while path and not node[1] and not node[0]:
            parent, lv = path.pop()
            del parent[0][lv]
            node = parent
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
    ch = node[0]
    if i == len(levels):
        if node[1]:
            _add(found, node[1])
        n = ch.get("#")  # "a/#" also matches "a"
        if n is not None and n[1]:
            _add(found, n[1])
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
    if n is not None and n[1]:
        _add(found, n[1])
