"""The MicroPython event loop: select.poll over non-blocking sockets around the core."""

import errno
import gc
import select
import socket

import clock
from core.broker import Broker
from core.clock import diff
from core.const import const
from core.version import NAME, VERSION

# select.POLLIN/POLLOUT/POLLERR|POLLHUP: MicroPython's stream poll flags, the same on every
# port; const() keeps them out of the module's globals (heap on a board)
_POLLIN = const(1)
_POLLOUT = const(4)
_BAD = const(24)
_EAGAIN = errno.EAGAIN
_AF_INET6 = getattr(socket, "AF_INET6", 10)
_BACKLOG = const(8)  # lwIP on a Pico W accepts a backlog of 1; unix takes what we ask
_POLL_MS = const(500)  # the core wants tick() at least every second
_CLOSE_LINGER_MS = const(5000)  # a closing client that will not take its last bytes is cut off
_ACCEPT_PAUSE_MS = const(1000)  # accept failing for lack of memory or descriptors: wait a while
_GC_EVERY_MS = const(250)  # while memory is short, collect at most this often

OUT_LIMIT = 4096  # bytes queued per connection before QoS 0 messages to it are dropped
MIN_FREE = 8192  # below this much free heap new clients get CONNACK 3
_MATCH_CACHE = const(6)  # topics whose subscriber lists the core keeps (core/session.py, SubTree)
_RESERVE = const(128)  # bytes kept back so that a failed poll.register can be completed
_SHORT_READ = const(256)  # bytes read at a time while free heap is under twice min_free

class ListenError(Exception):
    """A listener could not be opened (the message says which and why)."""


def errno_text(e):
    """Readable reason of an OSError: MicroPython has no strerror, only the errno."""
    code = e.args[0] if e.args else None
    if not isinstance(code, int):
        return str(e)
    name = getattr(errno, "errorcode", {}).get(code)
    if name is None:
        return "error %d" % code
    from limits import ERRNO_TEXT  # rare: not worth a table on the heap all the time
    return ERRNO_TEXT.get(name, name)


def peer_address(addr):
    """(ip, port) of an accept() address: a raw sockaddr on unix, ('ip', port) on boards."""
    if isinstance(addr, tuple):
        return str(addr[0]), addr[1]
    fam = addr[0] or addr[1]  # sa_family is in host byte order: one byte is 0
    port = (addr[2] << 8) | addr[3]  # sin_port / sin6_port: network byte order
    if fam == socket.AF_INET:
        return "%d.%d.%d.%d" % (addr[4], addr[5], addr[6], addr[7]), port
    if fam == _AF_INET6:
        from limits import ipv6_text  # IPv6 peers are rare on a board
        return ipv6_text(addr[8:24]), port
    return "unknown", port


def _format_exc(e):
    """Traceback text of e (MicroPython has no traceback module)."""
    from limits import format_exc  # error paths only
    return format_exc(e)


class _Listen:
    """One listening socket and the core Listener it serves."""

    def __init__(self, sock, listener):
        self.sock = sock
        self.listener = listener
        self.paused_until = None


class Server:
    """Runs a core Broker on non-blocking sockets until stopped or interrupted."""

    tls = None  # module tls_server once a listener has a certfile (set on the instance)

    def __init__(self, broker, log, min_free, buf, backlog=_BACKLOG):
        self.broker = broker
        broker.spill = self.spill
        from forget import forget
        broker.forget = forget  # a v5 CONNECT's code goes once it is handled (core/connect.py)
        # a few match results, not 256: each costs 100-200 bytes, even for a topic nobody reads
        broker.subs.cache_size = _MATCH_CACHE
        self.log = log
        self.min_free = min_free
        self.backlog = backlog
        self.poller = select.poll()
        self.objs = {}  # socket -> _Listen or Conn
        self.listens = []
        self.writing = set()  # conns registered for POLLOUT
        # conns not polled for input while the core pauses them (core/flow.py), oldest
        # first: they are read again in that order, so that no publisher starves
        self.held = []
        self.lingering = {}  # closing conn -> ms when it started closing
        # buf: the one receive buffer every read shares: main.py's bytearray, allocated
        # before imports fragment the heap, or a size (unix --recv-size, tests)
        self.buf = bytearray(buf) if isinstance(buf, int) else buf
        self.mv = memoryview(self.buf)
        self.stopping = False
        self.low = False
        self.free = 0
        self._last_gc = clock.now_ms()
        self._prev_now = None
        self._heap_at = self._last_gc
        self.capture = None  # capture_io.CaptureIO when capture_address is set
        self.bridges = None  # bridge_io.BridgeIO when the config has bridges
        self.uplink = None  # then bridge_io.Uplink: the objects of their sockets
        self.batch = None  # the module persist when persistence is on
        self.reserve = None  # bytearray(_RESERVE) from the first check_memory() on

    def register(self, sock, mask):
        """poll.register that never leaves the poller broken; MemoryError when it failed.

        MicroPython's poll.register adds the object to its map first and then allocates
        its entry (and, on unix, grows its pollfd array); a MemoryError in between leaves a
        map slot without an entry, and the next poll() or unregister() dereferences it
        (SIGSEGV). Registering the same object again fills the slot, so on MemoryError the
        reserve is released and register is retried before the error is passed on; if that
        fails too, the loop moves to a new poller.
        """
        try:
            self.poller.register(sock, mask)
            return
        except MemoryError:
            pass
        self.reserve = None
        gc.collect()
        try:
            self.poller.register(sock, mask)
        except MemoryError:
            self.objs.pop(sock, None)
            self.poller = None  # step() builds a new one (limits.new_poller)
        raise MemoryError("poll.register")

    # ---- the loop ----

    def run(self):
        """Serve until stop() or Ctrl-C (SIGINT), then shut down cleanly."""
        self.broker.tick(clock.now_ms())
        try:
            while not self.stopping:
                try:
                    self.step(_POLL_MS)
                except Exception as e:  # MemoryError; a bug; no poller until the next turn
                    gc.collect()
                    self.log("error", "Error: %s in the main loop (%d bytes free after "
                             "collecting); carrying on." % (
                                 "out of memory" if isinstance(e, MemoryError)
                                 else _format_exc(e), gc.mem_free()))
        except KeyboardInterrupt:
            self.log("notice", "Received SIGINT, shutting down.")
        self.shutdown()

    def stop(self):
        """Ask the loop to stop after the current step."""
        self.stopping = True

    def step(self, timeout_ms):
        """One loop turn: tick the core, wait for socket events up to timeout_ms, serve them."""
        if self.poller is None:
            import limits  # a last resort: not worth its heap while all is well
            limits.new_poller(self, _Listen)
        now = clock.now_ms()
        self.broker.tick(now)
        self._housekeeping(now)
        self.check_memory()
        self.flush_pending()
        if self.held:
            import hold
            hold.release(self)
        cap = self.capture
        for io in (cap, self.bridges):  # their timers, connects and writes
            if io is not None:
                io.poll(now)
                w = io.wait_ms(now)
                if w is not None and w < timeout_ms:
                    timeout_ms = w
        # poll() returns a list: registrations may change while it is walked
        for ev in self.poller.poll(timeout_ms):
            obj = self.objs.get(ev[0])
            if obj is None:
                continue  # closed earlier in this batch
            e = ev[1]
            if obj is cap or obj.__class__ is self.uplink:
                obj.on_event(e, clock.now_ms())
                continue
            if isinstance(obj, _Listen):
                self._accept(obj)
                continue
            if e & _POLLOUT:
                self._flush(obj)
            if e & (_POLLIN | _BAD) and obj.port_data is not None:
                if obj.closing:
                    if e & _BAD:
                        self._close(obj)  # the peer is gone: nobody to flush to
                else:
                    try:
                        if not e & _BAD and self.broker.hold(obj):
                            import hold  # loaded once publishers must wait
                            hold.hold(self, obj)  # TCP slows it until the core has drained
                            continue
                    except MemoryError:
                        # no block to load core/flow.py or hold.py in (a fragmented heap):
                        # obj stays unread this turn and the other events are served (the
                        # listener's too), instead of the whole turn failing again and again
                        continue
                    self._read(obj)
                    # at once, not after the batch: one SUBSCRIBE can queue a window of retained
                    # messages, and eight clients' worth at a time would not fit a board's heap
                    self.flush_pending()
        self.flush_pending()
        if self.batch is not None:
            self.batch.turn(clock.now_ms(), diff)

    def check_memory(self):
        """Refresh broker.low_memory from gc.mem_free(); decides only on collected figures."""
        free = gc.mem_free()
        if free < self.min_free or self.low:
            now = clock.now_ms()
            if diff(now, self._last_gc) >= _GC_EVERY_MS or free < self.min_free // 2:
                self._last_gc = now
                gc.collect()
                free = gc.mem_free()
                # a quarter of hysteresis: no low/recovered flapping around the threshold
                low = free < (self.min_free + (self.min_free >> 2) if self.low else self.min_free)
                if low != self.low:
                    self._set_low(low, free)
        self.free = free
        if self.reserve is None and free >= self.min_free:
            try:
                self.reserve = bytearray(_RESERVE)  # spent by register(): take it back
            except MemoryError:
                pass
        return free

    def _set_low(self, low, free):
        self.low = low
        self.broker.low_memory = low
        if low:
            self.log("warning", "Warning: memory low (%d bytes free, threshold %d): new "
                     "clients are refused with CONNACK 3 (server unavailable)."
                     % (free, self.min_free))
            if self.broker.flow:
                try:  # back-pressure's code (hold.py, core/flow.py): low heap needs it
                    import hold  # noqa: F401
                except MemoryError:
                    pass  # the first hold tries again
        else:
            self.log("notice", "Memory recovered (%d bytes free): new clients are "
                     "accepted again." % free)

    def _housekeeping(self, now):
        prev = self._prev_now
        self._prev_now = now
        if prev is not None and now < prev:
            self.log("debug", "Clock wrapped (%d -> %d ms)." % (prev, now))
        for entry in self.listens:
            if entry.paused_until is not None and diff(now, entry.paused_until) >= 0:
                entry.paused_until = None
                self.poller.modify(entry.sock, _POLLIN)
        if self.lingering:
            for conn in list(self.lingering):
                if diff(now, self.lingering[conn]) >= _CLOSE_LINGER_MS:
                    self._close(conn)
        if self.broker.sys is not None and diff(now, self._heap_at) >= 1000:
            # $SYS/broker/heap/current: live bytes, measured after a collection
            self._heap_at = now
            gc.collect()
            self.broker.heap_current = gc.mem_alloc()
            self.broker.heap_free = gc.mem_free()

    def _pause(self, entry, why):
        self.log("error", "Error: unable to accept new connection: %s; pausing %d ms."
                 % (why, _ACCEPT_PAUSE_MS))
        entry.paused_until = (clock.now_ms() + _ACCEPT_PAUSE_MS) & (clock.PERIOD - 1)
        self.poller.modify(entry.sock, 0)

    def _accept(self, entry):
        while True:
            try:
                sock, addr = entry.sock.accept()
            except OSError as e:
                code = e.args[0] if e.args else None
                if code == _EAGAIN:
                    return
                if code == errno.ECONNABORTED:
                    continue
                self._pause(entry, errno_text(e))
                return
            except MemoryError:
                gc.collect()
                self._pause(entry, "out of memory")
                return
            try:
                self._admit(entry, sock, addr)
            except MemoryError:
                try:
                    sock.close()
                except OSError:
                    pass
                conn = self.objs.pop(sock, None)
                if conn is not None:
                    self._drop(conn)
                gc.collect()
                self.log("error", "Error: out of memory while accepting a connection; "
                         "it was closed (%d bytes free)." % gc.mem_free())

    def _admit(self, entry, sock, addr):
        ip, port = peer_address(addr)
        sock.setblocking(False)
        free = self.check_memory()
        if free < self.min_free // 2:
            # Too short even to answer CONNECT: close before the core spends anything.
            self.log("warning", "Connection from %s:%d closed: only %d bytes of memory free."
                     % (ip, port, free))
            sock.close()
            return
        if entry.listener.certfile is not None:
            sock = self.tls.wrap(self, entry.listener, sock, ip, port)
            if sock is None:
                return
        conn = self.broker.open(entry.listener, ip, port)
        if conn is None:
            sock.close()
            return
        conn.port_data = sock
        try:
            self.objs[sock] = conn
            self.register(sock, _POLLIN)
        except MemoryError:
            self._drop(conn)  # register() left the poller whole: unregistering is safe
            self.broker.closed(conn)
            raise

    def _read(self, conn):
        sock = conn.port_data
        try:
            if self.tls is not None:
                n = self.tls.read(self, conn)
            else:  # short of heap, a small read: what a MemoryError holds back stays small
                n = sock.readinto(self.buf, _SHORT_READ if self.free < 2 * self.min_free
                                  else len(self.buf))
        except OSError as e:
            if e.args and e.args[0] == _EAGAIN:
                return
            self._close(conn)
            return
        if n is None:
            return  # nothing waiting after all
        if not n:
            self._close(conn)  # the peer closed
            return
        try:
            self.broker.received(conn, self.mv[:n])
        except MemoryError:
            gc.collect()
            self.log("error", "Error: out of memory while handling %s; closing it "
                     "(%d bytes free after collecting)." % (conn.name(), gc.mem_free()))
            self._close(conn)
        except Exception as e:
            # A core bug must cost one connection, not the whole broker.
            self.log("error", "Error: internal error while handling %s, closing it:\n%s"
                     % (conn.name(), _format_exc(e)))
            self._close(conn)

    def flush_pending(self):
        """Write out every connection the core queued bytes for, and close finished ones."""
        pending = self.broker.pending
        while pending:
            self._flush(pending.pop())  # pop(): no list copy per turn
        if self.bridges is not None:
            self.bridges.pump(clock.now_ms())  # output to a bridge's local side goes upstream

    def spill(self, conn):
        """broker.spill: write what conn has queued now; errors wait for the usual flush."""
        sock = conn.port_data
        if sock is None or self.tls is not None:
            return  # TLS records must be retried with the same bytes: leave them to _flush
        out = conn.out
        while out:
            try:
                n = sock.write(out)
            except OSError:
                return
            if not n:
                return
            out = conn.sent(n)

    def _flush(self, conn):
        sock = conn.port_data
        if sock is None:
            return  # already closed
        out = conn.out
        failed = False
        while out:
            try:
                n = sock.write(out) if self.tls is None else self.tls.send(self, sock, out)
            except OSError as e:
                failed = not (e.args and e.args[0] == _EAGAIN)
                break
            if not n:
                break  # None: the socket buffer is full
            out = conn.sent(n)
        if failed or (conn.closing and not out):
            self._close(conn)
            return
        if conn.closing:
            if conn not in self.lingering:
                self.lingering[conn] = clock.now_ms()
            want_out = True
        else:
            want_out = bool(out)
        if want_out != (conn in self.writing):
            if want_out:
                self.writing.add(conn)
            else:
                self.writing.discard(conn)
            # input unless held (core/flow.py), output while bytes wait
            self.poller.modify(sock, _POLLOUT if conn.closing else (_POLLOUT if want_out else 0)
                               | (0 if conn in self.held else _POLLIN))
        elif conn.closing and want_out:
            self.poller.modify(sock, _POLLOUT)  # stop reading from a closing client

    def _close(self, conn):
        """Close conn's socket and tell the core (which may publish its will)."""
        if conn.port_data is None:
            return
        self._drop(conn)
        try:
            self.broker.closed(conn)
        except MemoryError:
            gc.collect()
            self.log("error", "Error: out of memory while closing %s." % conn.name())

    def _drop(self, conn):
        sock = conn.port_data
        conn.port_data = None
        self.objs.pop(sock, None)
        self.writing.discard(conn)
        if conn in self.held:
            self.held.remove(conn)
        self.lingering.pop(conn, None)
        if self.tls is not None:
            self.tls.forget(sock)
        try:
            self.poller.unregister(sock)
        except (OSError, KeyError, ValueError, AttributeError):
            pass  # AttributeError: no poller until step() has built a new one
        try:
            sock.close()
        except OSError:
            pass

    def shutdown(self):
        """Stop listening, let the core close every client, flush briefly, close all."""
        import limits  # once per run: not worth its heap while serving
        limits.shutdown(self, _Listen)


def start(cfg, log, out_limit, min_free, buf):
    """A broker for cfg listening on real sockets: its Server, or an exit code (int) when
    it cannot start (the reason logged). tools/memprobe measures this very start-up."""
    broker = Broker(cfg, log)  # before the start-up's code, which leaves a hole when dropped
    import startup  # the start-up's code: dropped once the broker is built
    server = startup.start(broker, cfg, log, out_limit, min_free, buf)
    del startup
    if isinstance(server, int):
        return server
    gc.collect()  # startup's code is free: the modules kept for good may take its place
    import listeners  # capture, persistence, listening: start-up only too
    return listeners.open_all(server, cfg, log, _Listen)


def serve(cfg, log, out_limit, min_free, buf):
    """Run a broker for cfg on real sockets until interrupted; returns an exit code."""
    server = start(cfg, log, out_limit, min_free, buf)
    if isinstance(server, int):
        return server
    server.run()
    log("notice", "%s version %s terminating" % (NAME, VERSION))
    return 0
