"""The rest of mosquitto 2.0's $SYS/broker tree, beside core/sys_tree.py's (which boards
publish too): load averages, bytes sent, stored messages, inactive and expired clients,
shared subscriptions. A port with memory to spare (CPython) calls start() and counts the
sockets it accepts, the CONNECTs accepted on them and the bytes it writes in the SysMore.
Not publish/bytes/received and sent: the PUBLISH payload bytes would be counted by the
per-message code, which boards run too."""

from math import exp

from core.names import MSG_PAYLOAD, QUEUED_MSG, QUEUED_PAIR

_PREFIX = "$SYS/broker/"
# load/NAME/1min, 5min, 15min: a moving average of NAME per minute, as mosquitto(8) says.
# messages/...: this broker's messages/received and sent count PUBLISH packets, so they
# move as publish/... (mosquitto counts every packet there)
_LOADS = ("messages/received", "messages/sent", "bytes/received", "bytes/sent",
          "publish/received", "publish/sent", "publish/dropped", "connections", "sockets")
_SPANS = (60, 300, 900)  # the averages' time constants in seconds: 1min, 5min, 15min


def start(b):
    """Publish the rest of the tree on broker b (which has $SYS on); returns the SysMore
    whose counts the port keeps."""
    s = SysMore(b)
    b.sys_sources = (b.sys_sources or []) + [s]
    return s


class SysMore:
    """A $SYS source (Broker.sys_sources): its values every sys_interval."""

    def __init__(self, b):
        self.b = b
        self.sockets = 0  # the port's counts
        self.connects = 0
        self.bytes_out = 0
        self.expired = 0
        self.offline = ()  # client ids of the offline sessions at the last call
        self.at = b.secs  # when the load counters were last read
        self.prev = self._loads()
        self.avg = [0.0] * (len(_LOADS) * len(_SPANS))

    def _loads(self):
        b = self.b
        return (b.msgs_in, b.msgs_out, b.bytes_in, self.bytes_out, b.msgs_in, b.msgs_out,
                b.msgs_dropped, self.connects, self.sockets)

    def _average(self):
        """Move the load averages by the counts since the last call."""
        dt = self.b.secs - self.at
        if dt <= 0:
            return
        now = self._loads()
        for i in range(len(_LOADS)):
            rate = (now[i] - self.prev[i]) * 60.0 / dt
            for j in range(len(_SPANS)):
                k = i * len(_SPANS) + j
                self.avg[k] = rate + exp(-dt / _SPANS[j]) * (self.avg[k] - rate)
        self.prev = now
        self.at = self.b.secs

    def _expire(self):
        """Count the offline sessions gone since the last call: expired (by
        persistent_client_expiration or an MQTT 5.0 expiry interval). A clean CONNECT with
        the same client id puts a session back under it, unless that ended too before this
        call: then it is counted as well."""
        sessions = self.b.sessions
        for cid in self.offline:
            if cid not in sessions:
                self.expired += 1
        self.offline = [cid for cid, s in sessions.items() if s.conn is None]

    def _stored(self):
        """(count, payload bytes) of the messages the broker holds: retained, in flight and
        queued, each message once however many sessions hold it (as mosquitto's store)."""
        b = self.b
        msgs = {}
        for m in b.retained.msgs.values():
            msgs[id(m)] = m
        for s in b.sessions.values():
            for m in s.inflight.values():
                msgs[id(m)] = m
            q = s.queue
            for i in range(QUEUED_MSG, len(q), QUEUED_PAIR):
                msgs[id(q[i])] = q[i]
        return len(msgs), sum(len(m[MSG_PAYLOAD]) for m in msgs.values())

    def sys_values(self):
        """(topic, value) pairs as mosquitto names them."""
        b = self.b
        self._average()
        self._expire()
        connected = 0
        for c in b.conns:
            if c.connected and not c.closing:
                connected += 1
        stored, stored_bytes = self._stored()
        shared = 0
        for s in b.sessions.values():
            for f in s.subs:
                if f.startswith("$share/"):
                    shared += 1
        vals = [("bytes/sent", self.bytes_out),
                ("clients/inactive", max(len(b.sessions) - connected, 0)),
                ("clients/expired", self.expired),
                ("messages/stored", stored), ("store/messages/count", stored),
                ("store/messages/bytes", stored_bytes),
                ("publish/messages/received", b.msgs_in),
                ("publish/messages/sent", b.msgs_out),
                ("shared_subscriptions/count", shared)]
        for i in range(len(_LOADS)):
            for j in range(len(_SPANS)):
                vals.append(("load/%s/%dmin" % (_LOADS[i], _SPANS[j] // 60),
                             "%.2f" % self.avg[i * len(_SPANS) + j]))
        return [(_PREFIX + t, v) for t, v in vals]
