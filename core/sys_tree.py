"""The $SYS topic tree: broker statistics published as retained messages, like mosquitto."""

from core import deliver
from core.topic import matches
from core.version import NAME, VERSION


class SysTree:
    """Publishes $SYS/broker/... every sys_interval seconds, only the values that changed.

    The values act as retained messages but are not kept in the retained store: a new
    subscriber gets them made from `last`, which saves a board ~4 KB of message copies.
    """

    def __init__(self, b):
        self.b = b
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
        return (
            ("$SYS/broker/version", NAME + " version " + VERSION),
            ("$SYS/broker/uptime", "%d seconds" % b.secs),
            ("$SYS/broker/clients/connected", connected),
            ("$SYS/broker/clients/active", connected),
            ("$SYS/broker/clients/disconnected", total - connected if total > connected else 0),
            ("$SYS/broker/clients/total", total),
            ("$SYS/broker/clients/maximum", self.max_clients),
            ("$SYS/broker/messages/received", b.msgs_in),
            ("$SYS/broker/messages/sent", b.msgs_out),
            ("$SYS/broker/publish/messages/dropped", b.msgs_dropped),
            ("$SYS/broker/clients/backlog_disconnected", b.backlog_cut),
            ("$SYS/broker/bytes/received", b.bytes_in),
            ("$SYS/broker/retained messages/count", len(b.retained.msgs)),
            ("$SYS/broker/subscriptions/count", b.subs.count),
        )

    def tick(self):
        """Publish changed values when the interval has passed."""
        b = self.b
        if b.secs < self.next_at:
            return
        self.next_at = b.secs + b.cfg.sys_interval
        vals = self.values()
        heap = b.heap_current  # set by a port that measures its heap
        if heap is not None:
            vals += (("$SYS/broker/heap/current", heap), ("$SYS/broker/heap/free", b.heap_free))
        if b.events is not None:  # the observer's own figures (capture: its queue)
            vals += b.events.sys_values()
        for t, v in vals:
            v = str(v)
            if self.last.get(t) != v:
                self.last[t] = v
                deliver.publish_msg(b, (t, t.encode(), v.encode()), 0, 0)  # a message

    def matching(self, f):
        """The current values matching filter f as retained (message, qos) pairs."""
        return [((t, t.encode(), v.encode()), 0)  # (a message, qos)
                for t, v in self.last.items() if matches(f, t)]
