"""A bounded byte ring of newline-terminated records; when full, the oldest records go."""


class Ring:
    """Preallocated circular buffer of records, each ending in b"\\n" (JSON lines)."""

    def __init__(self, size):
        if size < 16:
            raise ValueError("ring size %d is too small" % size)
        self.buf = bytearray(size)
        self.size = size
        self.head = 0  # offset of the oldest byte
        self.used = 0  # bytes held
        self.records = 0  # records held
        self.dropped = 0  # records dropped since creation (oldest first, or too big)

    def free(self):
        """Bytes that can be pushed without dropping anything."""
        return self.size - self.used

    def push(self, rec, n):
        """Append rec[:n] (one record ending in a newline); returns how many records were dropped.

        Oldest records are dropped to make room; a record larger than the whole ring is
        itself dropped.
        """
        if n > self.size:
            self.dropped += 1
            return 1
        lost = 0
        while self.size - self.used < n:
            self._drop_oldest()
            lost += 1
        tail = self.head + self.used
        if tail >= self.size:
            tail -= self.size
        first = self.size - tail
        buf = self.buf
        if first >= n:
            buf[tail:tail + n] = rec[0:n]
        else:
            buf[tail:self.size] = rec[0:first]
            buf[0:n - first] = rec[first:n]
        self.used += n
        self.records += 1
        self.dropped += lost
        return lost

    def reserve(self, n):
        """Drop oldest records (counted) until n bytes are free; nothing when n exceeds the ring."""
        if n > self.size:
            return
        while self.size - self.used < n and self.records:
            self._drop_oldest()
            self.dropped += 1

    def _record_len(self):
        """Length (newline included) of the oldest record."""
        buf = self.buf
        h = self.head
        end = h + self.used
        if end <= self.size:
            return buf.find(b"\n", h, end) - h + 1
        i = buf.find(b"\n", h, self.size)
        if i >= 0:
            return i - h + 1
        return self.size - h + buf.find(b"\n", 0, end - self.size) + 1

    def _take(self, n):
        self.head += n
        if self.head >= self.size:
            self.head -= self.size
        self.used -= n
        self.records -= 1
        if not self.used:
            self.head = 0  # keep records contiguous while the ring is drained

    def _drop_oldest(self):
        self._take(self._record_len())

    def pop_into(self, out, limit):
        """Move whole records from the ring to the end of bytearray out while len(out) < limit.

        At least one record moves when any is held; returns how many moved.
        """
        moved = 0
        buf = self.buf
        while self.records and (len(out) < limit or not moved):
            n = self._record_len()
            h = self.head
            if h + n <= self.size:
                out += buf[h:h + n]
            else:
                out += buf[h:self.size]
                out += buf[0:n - (self.size - h)]
            self._take(n)
            moved += 1
        return moved
