"""A bounded byte ring of newline-terminated records; when full, the oldest records go."""


class Ring:
    """Preallocated circular buffer of records, each ending in b"\\n" (JSON lines).

    Bytes are addressed "linearly" from head: linear position p is buf[p] when p < size,
    else buf[p - size]. Dropping and popping work on whole spans of records with the C-level
    find/count of bytearray, never one Python loop pass per record (the capture hot path).
    """

    def __init__(self, size):
        if size < 16:
            raise ValueError("ring size %d is too small" % size)
        self.buf = bytearray(size)
        # writes go through a view: slice assignment to a memoryview is cheaper than to the
        # bytearray (never resized, so the view stays valid)
        self.view = memoryview(self.buf)
        self.size = size
        self.head = 0  # offset of the oldest byte
        self.used = 0  # bytes held
        self.records = 0  # records held
        self.dropped = 0  # records dropped since creation (oldest first, or too big)

    def push(self, rec, n):
        """Append rec[:n] (one record ending in a newline); returns how many records were dropped.

        Oldest records are dropped to make room; a record larger than the whole ring is
        itself dropped.
        """
        size = self.size
        used = self.used
        tail = self.head + used
        if tail >= size:
            tail -= size
        if tail + n <= size and used + n <= size:
            # the usual case (the capture hot path): room, and contiguous: one slice
            # assignment (a whole record skips the slicing)
            self.view[tail:tail + n] = rec if n == len(rec) else rec[0:n]
            self.used = used + n
            self.records += 1
            return 0
        if n > size:
            self.dropped += 1
            return 1
        lost = 0
        if size - used < n:
            lost = self.dropped
            self.reserve(n)
            lost = self.dropped - lost
        tail = self.head + self.used
        if tail >= size:
            tail -= size
        first = size - tail
        view = self.view
        if first >= n:
            view[tail:tail + n] = rec if n == len(rec) else rec[0:n]
        else:
            view[tail:size] = rec[0:first]
            view[0:n - first] = rec[first:n]
        self.used += n
        self.records += 1
        return lost

    def reserve(self, n):
        """Drop oldest records (counted) until n bytes are free; nothing when n exceeds the ring."""
        size = self.size
        short = n - size + self.used
        if short <= 0 or n > size or not self.records:
            return
        # A full ring (a burst, a slow or absent receiver) would drop on every push: freeing
        # at least 1/32 of a big ring at a time makes that one find and one count per few
        # dozen records. A board's small ring still drops record by record.
        if short < size >> 5:
            short = min(size >> 5, self.used)
        buf = self.buf
        h = self.head
        stop = self._span_end(short) + 1
        if stop <= size:
            k = buf.count(b"\n", h, stop)
        else:
            k = buf.count(b"\n", h, size) + buf.count(b"\n", 0, stop - size)
        self._take(stop - h, k)
        self.dropped += k

    def _span_end(self, k):
        """Linear position of the newline ending the record that holds byte k - 1 (0 < k <= used)."""
        buf = self.buf
        size = self.size
        p = self.head + k - 1
        end = self.head + self.used
        if end <= size:
            return buf.find(b"\n", p, end)
        if p < size:
            i = buf.find(b"\n", p, size)
            if i >= 0:
                return i
            p = size
        return buf.find(b"\n", p - size, end - size) + size

    def _take(self, n, records):
        """Forget the oldest n bytes, which hold records whole records."""
        self.head += n
        if self.head >= self.size:
            self.head -= self.size
        self.used -= n
        self.records -= records
        if not self.used:
            self.head = 0  # keep records contiguous while the ring is drained

    def written(self, n, out):
        """The first n held bytes (in one piece from the head) were written: forget the whole records among them and
        move the record cut at byte n, whole, to the end of bytearray out (its first bytes
        went out already); returns how many whole records were written."""
        buf = self.buf
        h = self.head
        stop = h + n
        if buf[stop - 1] == 10:  # the usual case: the write ended on a record boundary
            k = buf.count(b"\n", h, stop)
            self._take(n, k)
            return k
        done = buf.rfind(b"\n", h, stop) + 1
        if done <= h:
            done = h
        k = buf.count(b"\n", h, done)
        e = self._span_end(n + 1) + 1  # linear end of the cut record
        size = self.size
        try:
            if e <= size:
                out += self.view[done:e]
            else:
                out += self.view[done:size]
                out += self.view[0:e - size]
        except MemoryError:
            # the cut record cannot be kept to finish it: it is dropped (counted) and the
            # port must close the connection (the receiver then sees a cut line)
            self._take(e - h, k + 1)
            self.dropped += 1
            raise
        self._take(e - h, k + 1)
        return k
