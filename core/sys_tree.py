"""The $SYS topic tree: broker statistics published as retained messages, like mosquitto."""

from core import deliver
from core.topic import matches
from core.version import NAME, VERSION


# the topics below $SYS/broker/ in the order of SysTree.values(), in one constant: a board
# keeps one string on its heap rather than one per topic (each made when it is published)
_NAMES = ("version,uptime,clients/connected,clients/active,clients/disconnected,"
          "clients/total,clients/maximum,messages/received,messages/sent,"
          "publish/messages/dropped,clients/backlog_disconnected,bytes/received,"
          "retained messages/count,subscriptions/count,heap/current,heap/free")
_PREFIX = "$SYS/broker/"


class SysTree:
    """Publishes $SYS/broker/... every sys_interval seconds, only the values that changed.

    The values act as retained messages but are not kept in the retained store: a new
    subscriber gets them made from `last`, which saves a board ~4 KB of message copies.
    """

    def __init__(self, b):
        self.b = b
        # the values last published: a built-in one by its place in values() (no topic
        # str kept), the observer's by topic
        self.last = {}
        self.next_at = 0
        self.max_clients = 0

    def values(self):
        """(topic, value) pairs as mosquitto names them."""
        b = self.b
        connected = 0
        for c in b.conns:
            if c.connected and not c.closing:
                connected += 1
        if connected > self.max_clients:
            self.max_clients = connected
        total = len(b.sessions)
        vals = (NAME + " version " + VERSION, "%d seconds" % b.secs, connected, connected,
                total - connected if total > connected else 0, total, self.max_clients,
                b.msgs_in, b.msgs_out, b.msgs_dropped, b.backlog_cut, b.bytes_in,
                len(b.retained.msgs), b.subs.count)
        if b.heap_current is not None:  # set by a port that measures its heap
            vals += (b.heap_current, b.heap_free)
        names = _NAMES.split(",")
        return [(_PREFIX + names[i], vals[i]) for i in range(len(vals))]

    def tick(self):
        """Publish changed values when the interval has passed."""
        b = self.b
        if b.secs < self.next_at:
            return
        self.next_at = b.secs + b.cfg.sys_interval
        vals = self.values()
        n = len(vals)
        if b.events is not None:  # the observer's own figures (capture: its queue)
            vals += b.events.sys_values()
        for s in b.sys_sources or ():  # bridges' counts
            vals += s.sys_values()
        last = self.last
        for i in range(len(vals)):
            t, v = vals[i]
            k = i if i < n else t
            if last.get(k) != v:
                last[k] = v
                deliver.publish_msg(b, deliver.message(t, t.encode(), str(v).encode()), 0, 0)

    def matching(self, f):
        """The current values matching filter f as retained messages with their qos (0)."""
        names = _NAMES.split(",")
        r = []
        for k in self.last:
            t = _PREFIX + names[k] if type(k) is int else k
            if matches(f, t):
                r.append(deliver.message(t, t.encode(), str(self.last[k]).encode(), 0))
        return r
