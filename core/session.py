"""Per-client session state that outlives a connection when clean session is 0."""


class Session:
    """Subscriptions, in-flight and queued outgoing messages, QoS 2 ids received."""

    def __init__(self, client_id, clean):
        self.client_id = client_id
        self.clean = clean
        self.conn = None
        self.subs = {}  # filter -> granted qos
        # pid -> [msg, qos, retain, state, seq]; state 0 waits for PUBACK/PUBREC, 1 for PUBCOMP
        self.inflight = {}
        self.queue = []  # (msg, qos, retain) waiting for an in-flight slot, oldest first
        self.queued_bytes = 0  # payload bytes in queue
        self.qos2_in = {}  # pid -> True: QoS 2 PUBLISH received, PUBREL not yet
        self.next_pid = 0
        self.seq = 0
        self.gone_at = 0  # broker seconds when the last connection ended
        self.dropped = 0

    def new_pid(self):
        """A packet identifier not used by any in-flight message."""
        p = self.next_pid
        while True:
            p = p + 1 if p < 65535 else 1
            if p not in self.inflight:
                self.next_pid = p
                return p
