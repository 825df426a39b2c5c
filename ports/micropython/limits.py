"""What the loop needs rarely: start-up sizing (the default connection cap and the tables
sized for it), reading the password and ACL files, error texts, IPv6 address text, rebuilding a broken poller and shutting down.

Imported by loop.serve() once and dropped again; imported again only on those rare paths.
"""

import gc

import clock
from core.clock import diff
from core.const import const

_POLLOUT = const(4)  # as in loop.py: MicroPython's stream poll flags
_BAD = const(24)
_STOP_FLUSH_MS = const(2000)  # at shutdown, time allowed to flush queued bytes

# max_connections where the config leaves it unlimited: one client per CONN_HEAP bytes of
# heap, at most MAX_CONN_CAP (506 on the unix build's default 2 MB heap).
CONN_HEAP = 4096
MAX_CONN_CAP = 512

# strerror texts the unix port has no table for (errno names otherwise)
ERRNO_TEXT = {"ENOENT": "No such file or directory", "EACCES": "Permission denied",
              "EISDIR": "Is a directory", "EADDRINUSE": "Address already in use",
              "EADDRNOTAVAIL": "Cannot assign requested address"}


def read_file(path):
    """The bytes of file path (password_file, acl_file); an OSError carries the reason as
    its last argument, as CPython's strerror, where the core's message takes it from
    (MicroPython's holds only the errno: "Unable to open password_file ...: 2")."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        from loop import errno_text
        raise OSError(e.args[0] if e.args else 0, errno_text(e))


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
    said = []  # local-only mode has two listeners on one port (127.0.0.1 and ::1): one line
    for l in cfg.listeners:
        if l.max_connections is None or l.max_connections < 0:
            l.max_connections = dflt
            if l.port not in said:
                said.append(l.port)
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
    gc.collect()  # the start-up's garbage first: the tables want blocks of a KB or more
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
        elif obj is server.capture:
            m = select.POLLIN | select.POLLOUT
        else:
            m = select.POLLOUT if obj.closing or obj in server.writing else 0
            if not obj.closing and obj not in server.held:
                m |= select.POLLIN
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


def ipv6_text(b):
    """RFC 5952 text of 16 address bytes: lowercase hex, longest zero run as '::'."""
    w = [(b[i] << 8) | b[i + 1] for i in range(0, 16, 2)]
    if w[:6] == [0, 0, 0, 0, 0, 0xFFFF]:
        return "::ffff:%d.%d.%d.%d" % (b[12], b[13], b[14], b[15])
    best, blen, i = -1, 1, 0
    while i < 8:
        if w[i]:
            i += 1
            continue
        j = i
        while j < 8 and not w[j]:
            j += 1
        if j - i > blen:
            best, blen = i, j - i
        i = j
    if best < 0:
        return ":".join(["%x" % x for x in w])
    head = ":".join(["%x" % x for x in w[:best]])
    tail = ":".join(["%x" % x for x in w[best + blen:]])
    return head + "::" + tail


def shutdown(server, listen_type):
    """Server.shutdown(): stop listening, let the core close every client, flush, close all."""
    if server.poller is None:
        new_poller(server, listen_type)
    for entry in server.listens:
        server.objs.pop(entry.sock, None)
        try:
            server.poller.unregister(entry.sock)
        except (OSError, KeyError, ValueError):
            pass
        entry.sock.close()
    server.listens = []
    if server.bridges is not None:
        server.bridges.shut_down(clock.now_ms())  # DISCONNECT upstream; local sides detached
        server.bridges = None
    server.broker.shutdown()
    server.flush_pending()
    if server.capture is not None:
        server.capture.shut_down(_STOP_FLUSH_MS)
        server.capture = None
    start = clock.now_ms()
    while server.objs and diff(clock.now_ms(), start) < _STOP_FLUSH_MS:
        for ev in server.poller.poll(100):
            conn = server.objs.get(ev[0])
            if conn is None:
                continue
            if ev[1] & _POLLOUT:
                server._flush(conn)
            elif ev[1] & _BAD:
                server._close(conn)
        server.flush_pending()
    for conn in list(server.objs.values()):
        server._close(conn)
    server.flush_pending()
    if server.batch is not None:
        server.batch.write(True)  # the records of the closes too; the journal closed
    from forget import forget
    # A board's REPL lives on after the broker: give back the heap of the modules the run
    # loaded on its rare or v5 paths (a 3.1.1 QoS 2 PUBLISH loads core.qos2_in, a $share/
    # filter core.subs, a resumed session core.resume). Their names are here, not in
    # loop.py, so that they are interned at the stop, not at the start.
    forget("persist", "limits", "hold", "core.flow", "core.why", "core.qos2_in", "core.v5",
           "core.pub5", "core.props", "core.subs", "core.resume")
