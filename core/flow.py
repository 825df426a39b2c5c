"""Back-pressure (back_pressure true): while a destination is full, or the heap is short,
the port stops reading from the connections that publish, so that TCP slows the
publishers instead of the broker dropping messages or disconnecting clients.

A destination is full when its unsent bytes pass the broker's out_limit or its session
queue holds max_queued_messages (or max_queued_bytes), or 256 messages when that is
fewer (a queue of 100,000 messages would be one list block of a megabyte). What was
already read is routed all the same (a queue exceeds its limit by at most one receive
buffer's worth); a packet that finds no heap waits in conn.inbuf (broker.stuck) and is
routed again. Only a full destination that takes no byte for slow_subscriber_timeout
seconds is cut off.

A bridge's local session (Session.uplink) is such a destination whatever back_pressure
says, connected to its upstream or not (the key is then the Session, not a Conn): a
publisher gets PUBACK for what the bridge keeps, never for what it would drop. When it
takes nothing for slow_subscriber_timeout it is not cut off: with back_pressure the
publishers keep waiting; with the drop policy its queue drops at its limits (as any
client's) until its uplink connects again.
"""

from core import clock
from core.deliver import mark, over, moved  # there: every queued message asks (deliver.py)
from core.names import RC_QUOTA_EXCEEDED, FULL_SINCE, FULL_MOVED
from core.session import Session

def hold(b, c):
    """True when the port must not read from c now: it publishes, owes no acknowledgement
    and the broker is paused (a destination is full, a packet waits for heap, or the heap
    is short while bytes wait to be sent), or its own packets wait for heap."""
    if c in b.stuck:
        return True
    if not c.published or c.closing:
        return False
    s = c.session
    if s is not None and s.inflight:
        return False  # it owes acknowledgements: reading them is what drains the broker
    f = b.full
    if b.low_memory and b.flow:  # the heap is short: whoever has bytes to take is waited for
        for x in b.conns:
            if x.out and not x.closing:
                mark(b, x)
    for x in list(f):  # let go of the destinations that drained or closed
        if _done(b, x):
            del f[x]
    if c in f or s in f or not (f or b.stuck):
        return False  # (a full destination is read: its own acknowledgements drain it)
    c.last_rx = b.now  # it has sent bytes we leave unread: not a keepalive timeout
    return True


def check(b):
    """Every second: route again the packets a MemoryError kept back (broker.stuck), and
    close a connection whose packet found no heap for slow_subscriber_timeout; cut off a
    full destination that took no byte for as long (counted in backlog_cut; a bridge's
    session: see the module docstring), let go of one that drained."""
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
        if _done(b, c):
            del f[c]
        elif moved(c) != st[FULL_MOVED]:
            st[FULL_SINCE] = b.now
            st[FULL_MOVED] = moved(c)
        elif clock.diff(b.now, st[FULL_SINCE]) >= lim:
            _timed_out(b, c)


def _timed_out(b, c):
    """Full destination c took nothing for slow_subscriber_timeout."""
    f = b.full
    lim = b.cfg.slow_subscriber_timeout
    if c.__class__ is not Session:
        del f[c]
        b.backlog_cut += 1
        why = "it took no data for %d s (slow_subscriber_timeout) with %d bytes unsent" \
            % (lim, len(c.out))
        b.log("warning", "Client %s disconnected: %s." % (c.name(), why))
        b.close(c, True, why, RC_QUOTA_EXCEEDED)
    elif not b.flow:  # a bridge's uplink down or stalled that long (with back_pressure its
        # publishers wait however long: README, Bridges): the drop policy's turn now
        del f[c]
        c.uplink = False  # until the uplink connects again (core/bridge/link.py)
        b.log("warning", "Bridge session %s took no message for %d s: messages over its "
              "queue limit are dropped until its uplink connects again." % (c.client_id, lim))


def _done(b, x):
    """True when destination x drained, closed, or (a bridge's session) was replaced."""
    if x.__class__ is Session:
        return not over(b, x) or b.sessions.get(x.client_id) is not x
    return x.closing or not over(b, x)
