"""What the loop needs rarely: start-up sizing (the default connection cap and the tables
sized for it), error texts, and rebuilding a broken poller.

Imported by loop.serve() once and dropped again; imported again only on those rare paths.
"""

import gc

# max_connections where the config leaves it unlimited: one client per CONN_HEAP bytes of
# heap, at most MAX_CONN_CAP (506 on the unix build's default 2 MB heap).
CONN_HEAP = 4096
MAX_CONN_CAP = 512

# strerror texts the unix port has no table for (errno names otherwise)
ERRNO_TEXT = {"ENOENT": "No such file or directory", "EACCES": "Permission denied",
              "EISDIR": "Is a directory", "EADDRINUSE": "Address already in use",
              "EADDRNOTAVAIL": "Cannot assign requested address"}


def limit_connections(cfg, log):
    """Give every listener without max_connections the heap's default; returns the total.

    Past about 700 connections on the unix build's 2 MB heap, growing the tables that hold
    the connections needs blocks of 10-20 KB that the fragmented heap no longer has; a
    MemoryError there must never happen inside select.poll.register or a set's growth
    (see reserve_slots and loop.Server.register).
    """
    heap = gc.mem_free() + gc.mem_alloc()
    dflt = max(1, min(MAX_CONN_CAP, heap // CONN_HEAP))
    total = 0
    for l in cfg.listeners:
        if l.max_connections is None or l.max_connections < 0:
            l.max_connections = dflt
            log("information", "max_connections not set for port %d: %d on a %d KB heap."
                % (l.port, dflt, heap >> 10))
        total += l.max_connections
    return total


def reserve_slots(server, n):
    """Size the tables that grow with the connections for n sockets now, while the heap
    is unfragmented: they never shrink, so no later accept needs a large block.

    The sets matter most: MicroPython's set rehash stores the new size before it
    allocates the new table, so a MemoryError there leaves a set indexing past its table
    (the broker's connection set: SIGSEGV in mp_set_lookup).
    """
    objs = server.objs
    writing = server.writing
    conns = server.broker.conns
    poller = server.poller
    keys = [1 << 20 | i for i in range(n)]  # ints: never a socket, never a fd we poll
    try:
        for k in keys:
            objs[k] = None
            writing.add(k)
            conns.add(k)
        try:
            for k in keys:
                poller.register(k, 0)  # grows the map and, on unix, the pollfd array
        except TypeError:
            pass  # a board's poll takes streams only: its tables grow as clients come
        finally:
            for k in keys:
                poller.unregister(k)
    finally:
        for k in keys:
            objs.pop(k, None)
            writing.discard(k)
            conns.discard(k)


def new_poller(server, listen_type):
    """Give server a new poller with every socket it serves (the old one is broken).

    Only after poll.register failed twice for lack of memory (see loop.Server.register);
    a MemoryError here leaves server.poller None and the next loop turn tries again.
    """
    import select
    gc.collect()
    server.log("error", "Error: out of memory in poll.register; rebuilding the poller.")
    p = select.poll()
    for sock, obj in server.objs.items():
        if isinstance(obj, listen_type):
            m = 0 if obj.paused_until is not None else select.POLLIN
        elif obj in server.writing:
            m = select.POLLOUT if obj.closing else select.POLLIN | select.POLLOUT
        elif obj is server.capture:
            m = select.POLLIN | select.POLLOUT
        else:
            m = select.POLLIN
        p.register(sock, m)
    server.poller = p


def format_exc(e):
    """Traceback text of e (MicroPython has no traceback module)."""
    try:
        import io
        import sys
        s = io.StringIO()
        sys.print_exception(e, s)
        return s.getvalue().rstrip()
    except Exception:
        return repr(e)
