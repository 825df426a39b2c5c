"""Per-client session state that outlives a connection when clean session is 0."""


class Session:
    """Subscriptions, in-flight and queued outgoing messages, QoS 2 ids received."""

    # Defaults as class attributes: an instance stores only what changed (smaller on a board)
    conn = None
    queued_bytes = 0  # payload bytes in queue
    qos2_in = None  # pid -> True: QoS 2 PUBLISH received, PUBREL not yet (made on first use)
    next_pid = 0
    seq = 0
    gone_at = 0  # broker seconds when the last connection ended
    dropped = 0
    username = None  # the last connection's, for acl_file read checks while offline

    def __init__(self, client_id, clean):
        self.client_id = client_id
        self.clean = clean
        self.subs = {}  # filter -> granted qos
        # Two flat maps and a flat list rather than an object per message: a board holds
        # max_inflight + queued messages per client in ~100 KB.
        self.inflight = {}  # pid -> msg
        # pid -> seq << 4 | state << 3 | retain << 2 | qos; state 0 waits for PUBACK/PUBREC,
        # 1 for PUBCOMP; seq orders re-sending on resume (dicts are unordered on MicroPython)
        self.flags = {}
        self.queue = []  # msg, retain << 2 | qos, msg, ... waiting for an in-flight slot

    def new_pid(self):
        """A packet identifier not used by any in-flight message."""
        p = self.next_pid
        while True:
            p = p + 1 if p < 65535 else 1
            if p not in self.inflight:
                self.next_pid = p
                return p
