"""Back-pressure (back_pressure true): while a destination is full, or the heap is short,
the port stops reading from the connections that publish, so that TCP slows the
publishers instead of the broker dropping messages or disconnecting clients.

A destination is full when its unsent bytes pass the broker's out_limit or its session
queue holds max_queued_messages (or max_queued_bytes), or 256 messages when that is
fewer (a queue of 100,000 messages would be one list block of a megabyte). What was
already read is routed all the same (a queue exceeds its limit by at most one receive
buffer's worth); a packet that finds no heap waits in conn.inbuf (broker.stuck) and is
routed again. Only a
full destination that takes no byte for slow_subscriber_timeout seconds is cut off.
"""

from core import clock
from core.deliver import mark, over  # there: every queued message asks (see deliver.py)
from core.names import RC_QUOTA_EXCEEDED

def hold(b, c):
    """True when the port must not read from c now: it publishes, owes no acknowledgement
    and the broker is paused (a destination is full, a packet waits for heap, or the heap
    is short while bytes wait to be sent), or its own packets wait for heap."""
    if c in b.stuck:
        return True
    if not c.published or c.closing:
        return False
    if c.session is not None and c.session.inflight:
        return False  # it owes acknowledgements: reading them is what drains the broker
    f = b.full
    if b.low_memory:  # the heap is short: whoever has bytes to take is waited for, timed
        for x in b.conns:
            if x.out and not x.closing:
                mark(b, x)
    for x in list(f):  # let go of the destinations that drained or closed
        if x.closing or not over(b, x):
            del f[x]
    if c in f or not (f or b.stuck):
        return False  # (a full destination is read: its own acknowledgements drain it)
    c.last_rx = b.now  # it has sent bytes we leave unread: not a keepalive timeout
    return True


def check(b):
    """Every second: route again the packets a MemoryError kept back (broker.stuck), and
    close a connection whose packet found no heap for slow_subscriber_timeout; cut off a
    full destination that took no byte for as long (counted in backlog_cut), let go of one
    that drained."""
    s = b.stuck
    b.stuck = []
    lim = b.cfg.slow_subscriber_timeout * 1000
    for c in s:
        if not c.closing and c.inbuf:
            b.received(c, b"")
            if c in b.stuck and clock.diff(b.now, c.partial_since) >= lim:
                # the heap has not recovered for that long: shed this load, as without
                # back-pressure (conn.partial_since: when its kept packet last moved)
                b.stuck.remove(c)
                b.log("error", "Error: out of memory while handling %s for %d s; closing it."
                      % (c.name(), lim // 1000))
                b.close(c, True, "out of memory", RC_QUOTA_EXCEEDED)
    f = b.full
    for c in list(f):
        st = f[c]
        if c.closing or not over(b, c):
            del f[c]
        elif c.tx_bytes != st[1]:
            st[0] = b.now
            st[1] = c.tx_bytes
        elif clock.diff(b.now, st[0]) >= b.cfg.slow_subscriber_timeout * 1000:
            del f[c]
            b.backlog_cut += 1
            why = "it took no data for %d s (slow_subscriber_timeout) with %d bytes unsent" \
                % (b.cfg.slow_subscriber_timeout, len(c.out))
            b.log("warning", "Client %s disconnected: %s." % (c.name(), why))
            b.close(c, True, why, RC_QUOTA_EXCEEDED)
