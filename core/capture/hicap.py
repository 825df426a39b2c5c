"""Capture records in the Flex4Apps fork's format (capture_format hicap), byte for byte.

The fork recorded connects, disconnects, publishes, subscribes, start-up and shutdown:
the other events are not written in this format.
"""

from core.capture import json as J
from core.capture.sender import Sender
from core.names import SUBACK_FAILURE

# CONNACK return codes as the fork named them
HICAP_REASONS = (None, "CONNACK_REFUSED_PROTOCOL_VERSION", "CONNACK_REFUSED_IDENTIFIER_REJECTED",
                 "CONNACK_REFUSED_SERVER_UNAVAILABLE", "CONNACK_REFUSED_BAD_USERNAME_PASSWORD",
                 "CONNACK_REFUSED_NOT_AUTHORIZED")


class Hicap(Sender):
    """Observer of broker events (broker.events) writing the fork's JSON lines."""

    PAYLOAD = "base64"
    deliveries = None  # the fork did not record deliveries

    def __init__(self, cfg, broker, broker_id, wall, tz, seed, queue_size):
        """See core.capture.sender.create()."""
        Sender.__init__(self, cfg, broker, broker_id, wall, tz, seed, queue_size)
        self.stats_ms = 0  # the fork had no statistics records
        self._pub = "publish" in self.kinds

    def _head(self, action):
        self.seq += 1
        out = self.rec
        out[:] = b""
        out += b'{"mqtt": {"action": "'
        out += action
        out += b'"'

    def _ts(self):
        out = self.rec
        ms = self.wall() if self.wall is not None else None
        if ms is None:
            out += b', "tsUTC": null, "tsLocal": null'
            return
        secs = ms // 1000
        out += b', "tsUTC": '
        J.hicap_utc(out, secs)
        out += b', "tsLocal": '
        off, zone = self.tz(secs) if self.tz is not None else (0, "UTC")
        J.hicap_local(out, secs, off, zone)

    def _client(self, conn, topic=None):
        """clientIP, port, clientID (and topic first when given) as the fork ordered them."""
        out = self.rec
        tls = conn.tls_info if topic is not None else None
        if tls and tls.get("client_cn") is not None:
            # the fork: sslSN and sslCN only with a client certificate
            out += b', "sslSN": '
            J.string(out, str(tls.get("client_serial") or ""))
            out += b', "sslCN": '
            J.string(out, tls["client_cn"])
        if topic is not None:
            out += b', "topic": '
            J.string(out, topic)
        out += b', "clientIP": '
        J.string(out, conn.ip)
        out += b', "port": '
        J.integer(out, conn.listener.port)
        out += b', "clientID": '
        if conn.client_id is None:
            out += b"null"
        else:
            J.string(out, conn.client_id)
        self._ts()

    def _end(self):
        self.rec += b"}}"
        self._commit()

    def connect(self, conn, rc, why):
        """CONNACK sent: rc 0 accepted, else refused."""
        if "connect" not in self.kinds:
            return
        out = self.rec
        self._head(b"CONNECT")
        self._client(conn)
        if rc:
            out += b', "success": false, "state": "REFUSED", "errCode": '
            J.integer(out, rc)
            out += b', "reason": "'
            out += (HICAP_REASONS[rc] if 0 < rc < 6 else "CONNACK_REFUSED_UNKNOWN_REASON").encode()
            out += b'"'
        else:
            out += b', "success": true, "state": "ACCEPTED"'
        self._end()

    def disconnect(self, conn, reason):
        """An accepted connection ended."""
        if "disconnect" not in self.kinds:
            return
        self._head(b"DISCONNECT")
        self._client(conn)
        self._end()

    def publish(self, conn, topic, b0, pid, mv, ps, pe, why):
        """PUBLISH received (accepted or dropped: the fork did not tell them apart)."""
        if not self._pub or not self._wanted(topic):
            return
        self._head(b"PUBLISH")
        self._client(conn, topic)
        self._payload(self.rec, mv, ps, pe, True)
        self._end()

    def subscribe(self, conn, f, qos):
        """One topic filter subscribed with granted qos (0x80: refused)."""
        if "subscribe" not in self.kinds:
            return
        if qos < SUBACK_FAILURE:  # the fork's records made refusals look granted: not repeated
            self._head(b"SUBSCRIBE")
            self._client(conn, f)
            self._end()

    def will(self, conn, msg, qos, retain):
        """Not recorded by the fork."""

    def unsubscribe(self, conn, f):
        """Not recorded by the fork."""

    def denied(self, conn, what, topic, why):
        """Not recorded by the fork."""

    def _lifecycle(self, action, listeners):
        if action.decode() not in self.kinds:
            return
        out = self.rec
        self._head(action.upper())
        out += b', "listeners": '
        J.listeners(out, listeners, b" ")
        self._end()
