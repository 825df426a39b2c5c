"""Retained messages: the last retained message per topic."""

from core.topic import matches


class RetainStore:
    """Maps a topic name to (message, qos); message is (topic, topic_bytes, payload)."""

    def __init__(self):
        self.msgs = {}

    def set(self, msg, qos):
        """Store msg as the retained message of its topic; an empty payload deletes it."""
        if len(msg[2]) == 0:
            self.msgs.pop(msg[0], None)
        else:
            self.msgs[msg[0]] = (msg, qos)

    def matching(self, f):
        """List of (message, qos) whose topic matches filter f."""
        if "+" not in f and "#" not in f:
            r = self.msgs.get(f)
            return [r] if r is not None else []
        return [v for t, v in self.msgs.items() if matches(f, t)]
