"""The CPython event loop: listening sockets, client sockets and the core's output queue."""

import errno
import selectors
import signal
import socket
import time
import traceback

from core.clock import PERIOD, add, diff
from ports.cpython import tls, wsio
from ports.cpython.bridge_io import Uplink

_RECV_SIZE = 65536
_BACKLOG = 4096  # the kernel caps this at net.core.somaxconn
_CLOSE_LINGER_MS = 5000  # a closing client that will not take its last bytes is cut off
_ACCEPT_PAUSE_MS = 1000  # out of file descriptors: stop accepting for a while
_STOP_FLUSH_S = 2.0  # at shutdown, time allowed to flush queued bytes


class ListenError(Exception):
    """A listener could not be opened (the message says which and why)."""


def now_ms():
    """Monotonic milliseconds masked to the core's clock period."""
    return int(time.monotonic() * 1000) & (PERIOD - 1)


class _Client:
    """What the port keeps per connection (in conn.port_data)."""

    __slots__ = ("sock", "events", "closing_since", "tls", "hs", "counted")

    def __init__(self, sock, is_tls=False):
        self.sock = sock
        self.events = selectors.EVENT_READ
        self.closing_since = None
        self.tls = is_tls
        self.hs = is_tls  # TLS handshake still running
        self.counted = False  # its CONNECT is in Server.sys_more.connects


class _Listen:
    """One listening socket and the core Listener it serves."""

    __slots__ = ("sock", "listener", "paused_until", "ctx")

    def __init__(self, sock, listener, ctx=None):
        self.sock = sock
        self.listener = listener
        self.paused_until = None
        self.ctx = ctx  # ssl.SSLContext of a TLS listener


def _family_name(family):
    return "ipv6" if family == socket.AF_INET6 else "ipv4"


def _bind_addresses(listener):
    """getaddrinfo results for a listener: all interfaces when bind is None; every address
    of its bind_interface when it has one (which wins over bind, as in mosquitto)."""
    if listener.bind_interface is not None:
        from ports.cpython import netif  # ctypes: loaded only by a config that asks
        what = "Error: bind_interface %s (listener on port %d): " % (listener.bind_interface,
                                                                    listener.port)
        try:
            addrs = netif.addresses(listener.bind_interface, listener.port)
        except netif.NetifError as e:
            raise ListenError(what + str(e))
        if listener.bind is None:
            return addrs
        # an address on the listener line must be one of the interface's (mosquitto 2.0
        # opens no socket otherwise): then only that one is bound
        own = [(f, a[0]) for f, a in _resolve(listener.bind, listener.port)]
        addrs = [(f, a) for f, a in addrs if (f, a[0]) in own]
        if not addrs:
            raise ListenError(what + "%s is not an address of that interface"
                              % listener.bind)
        return addrs
    return _resolve(listener.bind, listener.port)


def _resolve(host, port):
    """[(family, sockaddr)] getaddrinfo gives for a passive socket, without repeats (IPv4 and
    IPv6: socket_domain is one of the options ignored, core/config_parse.py)."""
    infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0,
                               socket.AI_PASSIVE)
    seen = []
    for fam, _, _, _, addr in infos:
        if fam in (socket.AF_INET, socket.AF_INET6) and (fam, addr) not in seen:
            seen.append((fam, addr))
    return seen


# errnos meaning "this machine has no IPv6 (on that address)": a warning, not a failure.
_NO_V6 = (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL, errno.EPROTONOSUPPORT)


class Server:
    """Runs a core Broker on real sockets until stop() or a signal."""

    def __init__(self, broker, log):
        self.broker = broker
        self.log = log
        self.sel = selectors.DefaultSelector()
        self.listens = []
        self.buf = bytearray(_RECV_SIZE)
        self.mv = memoryview(self.buf)
        self.stopping = None  # signal number (or True) once a stop is asked for
        self.hup = False  # SIGHUP seen, not yet handled
        self.reload = None  # called on SIGHUP (main sets it: re-read password and ACL files)
        self.lingering = set()  # closing conns whose last bytes have not left yet
        # conns not read while the core pauses them (back_pressure), oldest first: they are
        # read again in that order, so that no publisher starves
        self.held = {}
        self._wake_r = None
        self._wake_w = None
        self.capture = None  # a ports.cpython.capture_io.CaptureIO, set by main
        self.persist = None  # persist_files.Writer when persistence is on, set by main
        self.bridges = None  # a ports.cpython.bridge_io.BridgeIO when bridges are configured
        # core/sys_more.py's SysMore with $SYS on, set by main: counts the sockets accepted,
        # the CONNECTs they get accepted and the bytes written
        self.sys_more = None

    # ---- setup ----

    def listen(self, listener):
        """Open the listening sockets of one Listener; returns how many, ListenError on failure.

        Missing IPv6 support only gives a warning (and may leave the listener with none).
        """
        opened = 0
        try:
            ctx = tls.context(listener)
        except tls.TlsError as e:
            raise ListenError("Error: %s" % e)
        try:
            addrs = _bind_addresses(listener)
        except socket.gaierror as e:
            if listener.bind is not None and ":" in listener.bind:
                self.log("warning", "Warning: no IPv6 listener on %s port %d: %s"
                         % (listener.bind, listener.port, e.strerror or e))
                return 0
            raise ListenError("Error: cannot resolve listener address %s: %s"
                              % (listener.bind, e.strerror or e))
        for family, addr in addrs:
            self.log("notice", "Opening %s listen socket on port %d."
                     % ("websockets" if listener.protocol == "websockets"
                        else _family_name(family), listener.port))
            try:
                sock = self._listen_socket(family, addr)
            except OSError as e:
                if family == socket.AF_INET6 and e.errno in _NO_V6:
                    self.log("warning", "Warning: no IPv6 listener on %s port %d: %s"
                             % (addr[0], listener.port, e.strerror))
                    continue
                raise ListenError("Error: cannot listen on %s port %d: %s"
                                  % (addr[0], listener.port, e.strerror or e))
            entry = _Listen(sock, listener, ctx)
            self.listens.append(entry)
            self.sel.register(sock, selectors.EVENT_READ, entry)
            opened += 1
        return opened

    def _listen_socket(self, family, addr):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # v4 and v6 listeners share a port number only when v6 stays v6-only.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(addr)
            sock.listen(_BACKLOG)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    def install_signals(self):
        """SIGINT and SIGTERM ask the loop to stop; a socket pair wakes select() at once."""
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        self.sel.register(self._wake_r, selectors.EVENT_READ, None)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_hup)

    def _on_signal(self, signum, frame):
        self.stopping = signum

    def _on_hup(self, signum, frame):
        # handled in the loop (self.reload), never inside the signal handler
        self.hup = True

    def stop(self):
        """Ask the loop to stop after the current batch of events."""
        self.stopping = True

    # ---- the loop ----

    def run(self):
        """Serve until stopped, then shut the broker down and close every socket."""
        broker = self.broker
        broker.tick(now_ms())
        while self.stopping is None:
            now = now_ms()
            broker.tick(now)
            self._housekeeping(now)
            self.flush_pending()
            if self.held:
                self._release()
            timeout = 1.0
            if self.capture is not None:
                self.capture.poll(now)
                w = self.capture.wait_ms(now)
                if w is not None and w < timeout * 1000:
                    timeout = w / 1000
            if self.bridges is not None:
                self.bridges.poll(now)
                self.flush_pending()
                w = self.bridges.wait_ms(now)
                if w is not None and w < timeout * 1000:
                    timeout = w / 1000
            for key, events in self.sel.select(timeout):
                data = key.data
                if data is not None and data is self.capture:
                    data.on_event(events, now_ms())
                elif data is not None and data is self.persist:
                    data.on_event()  # a batch is durable: its acknowledgements go out
                    self.flush_pending()  # now, not after the rest of this turn's reads
                elif isinstance(data, Uplink):
                    data.on_event(events, now_ms())
                elif data is None:
                    self._drain_wakeup()
                    if self.hup:
                        self.hup = False
                        if self.reload is not None:
                            self.reload()
                        else:
                            self.log("notice", "Received SIGHUP: configuration reload is not "
                                     "supported, keeping the current configuration.")
                elif isinstance(data, _Listen):
                    self._accept(data)
                elif data.port_data is not None and data.port_data.hs:
                    self._handshake(data)
                else:
                    if events & selectors.EVENT_WRITE:
                        self._flush(data)
                    if events & selectors.EVENT_READ and data.port_data is not None:
                        if broker.hold(data):
                            self._hold(data)  # TCP slows the publisher until drained
                        else:
                            self._read(data)
            if self.persist is not None:
                self.persist.turn()  # this turn's records to the writer thread
            self.flush_pending()
        self._shutdown()

    def _drain_wakeup(self):
        try:
            while self._wake_r.recv(512):
                pass
        except OSError:
            pass

    def _accept(self, entry):
        broker = self.broker
        while True:
            try:
                sock, addr = entry.sock.accept()
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    return
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of descriptors: the listener would stay readable and spin the loop.
                    self.log("error", "Error: unable to accept new connection: %s" % e.strerror)
                    self.sel.unregister(entry.sock)
                    entry.paused_until = add(now_ms(), _ACCEPT_PAUSE_MS)
                    return
                if e.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EINTR):
                    continue
                self.log("error", "Error: accept failed: %s" % e.strerror)
                return
            sock.setblocking(False)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            conn = broker.open(entry.listener, addr[0], addr[1])
            if conn is None:
                sock.close()
                continue
            if self.sys_more is not None:  # $SYS/broker/load/sockets
                self.sys_more.sockets += 1
            if entry.ctx is not None:
                try:
                    sock = tls.wrap(entry.ctx, sock)
                except (OSError, ValueError) as e:
                    self.log("notice", "TLS setup for %s:%d failed: %s" % (addr[0], addr[1], tls.reason(e)))
                    sock.close()
                    broker.closed(conn)
                    continue
            if entry.listener.protocol == "websockets":
                wsio.start(conn)
            client = _Client(sock, entry.ctx is not None)
            conn.port_data = client
            self.sel.register(sock, selectors.EVENT_READ, conn)

    def _handshake(self, conn):
        """Advance conn's TLS handshake; once done, take the client certificate's CN."""
        client = conn.port_data
        try:
            want = tls.handshake(client.sock)
        except (OSError, ValueError) as e:
            self.log("notice", "TLS handshake with %s:%d failed: %s"
                     % (conn.ip, conn.port, tls.reason(e)))
            self._close(conn)
            return
        if not want:
            client.hs = False
            conn.tls_info = tls.info(client.sock)  # for capture's connect records
            if conn.listener.use_identity_as_username:
                conn.cert_username = tls.identity(client.sock)  # core/handle_connect.py
            want = selectors.EVENT_READ
        if want != client.events:
            client.events = want
            self.sel.modify(client.sock, want, conn)
        if not client.hs and client.sock.pending():
            self._read(conn)  # CONNECT came with the last handshake flight

    def _read(self, conn):
        client = conn.port_data
        if conn.closing:
            return  # waiting for the last bytes to leave; input is no longer wanted
        try:
            n = client.sock.recv_into(self.buf)
        except tls.WANT:
            return
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                return
            self._close(conn)
            return
        if n == 0:
            self._close(conn)
            return
        cap = self.capture.cap if self.capture is not None else None
        if cap is not None:
            cap.read_ms = time.time_ns() // 1000000  # records from these bytes: their arrival
        try:
            if conn.ws is None:
                self.broker.received(conn, self.mv[:n])
            else:
                wsio.received(self.broker, conn, self.mv, n)
        except Exception:
            # A core bug must cost one connection, not the whole broker.
            self._internal_error(conn)
            self._close(conn)
            return
        finally:
            if cap is not None:
                cap.read_ms = None
        if self.sys_more is not None and conn.connected and not client.counted:
            client.counted = True  # $SYS/broker/load/connections
            self.sys_more.connects += 1
        if client.tls and conn.port_data is client and client.sock.pending():
            self._read(conn)  # decrypted bytes the selector cannot see

    def _internal_error(self, conn):
        self.log("error", "Error: internal error while handling %s, closing it:\n%s"
                 % (conn.name(), traceback.format_exc().rstrip()))

    def flush_pending(self):
        """Write out every connection the core queued bytes for, and close finished ones."""
        pending = self.broker.pending
        while pending:
            if self.bridges is not None:
                self.bridges.pump(now_ms())  # output to a bridge's local side goes upstream
            conns = list(pending)
            pending.clear()
            for conn in conns:
                self._flush(conn)

    def _flush(self, conn):
        client = conn.port_data
        if client is None:
            return  # already closed
        if client.hs:  # nothing is queued before CONNECT, which needs the handshake done
            if conn.closing:
                self._close(conn)
            return
        if conn.ws is not None:
            wsio.frame(conn)
        out = conn.out
        failed = False
        while out:
            try:
                n = client.sock.send(out)
            except tls.WANT:
                break  # retried with the same bytes first: out only grows at its end
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                    failed = True
                break
            out = conn.sent(n)
            if self.sys_more is not None:  # $SYS/broker/bytes/sent
                self.sys_more.bytes_out += n
        if failed or (conn.closing and not out):
            self._close(conn)
            return
        if conn.closing and client.closing_since is None:
            client.closing_since = now_ms()
            self.lingering.add(conn)
        self._want(conn)

    def _want(self, conn):
        """Select conn for what it needs: input unless closing or held, output if queued."""
        client = conn.port_data
        if conn.closing:
            want = selectors.EVENT_WRITE
        else:
            want = (selectors.EVENT_WRITE if conn.out else 0) | \
                (0 if conn in self.held else selectors.EVENT_READ)
        if want != client.events:
            if not want:
                self.sel.unregister(client.sock)  # a selector takes no empty event set
            elif not client.events:
                self.sel.register(client.sock, want, conn)
            else:
                self.sel.modify(client.sock, want, conn)
            client.events = want

    def _hold(self, conn):
        self.held[conn] = None
        self._want(conn)

    def _release(self):
        # once the core has drained, read the held connections again, longest held first
        for conn in list(self.held):
            if conn.port_data is not None and self.broker.hold(conn):
                break  # still paused: the others wait behind it
            del self.held[conn]
            if conn.port_data is not None:
                self._want(conn)
                self._read(conn)
        self.flush_pending()

    def _close(self, conn):
        client = conn.port_data
        if client is None:
            return
        conn.port_data = None
        self.lingering.discard(conn)
        self.held.pop(conn, None)
        try:
            self.sel.unregister(client.sock)
        except (KeyError, ValueError):
            pass
        try:
            client.sock.close()
        except OSError:
            pass
        try:
            self.broker.closed(conn)
        except Exception:
            self._internal_error(conn)

    def reload_tls(self):
        """SIGHUP: re-read each TLS listener's certfile and keyfile (as mosquitto does)."""
        for entry in self.listens:
            if entry.ctx is not None:
                try:
                    tls.load_cert(entry.ctx, entry.listener)
                except tls.TlsError as e:
                    self.log("error", "Error: reload after SIGHUP kept the old certificate: %s" % e)

    def _housekeeping(self, now):
        """Resume paused listeners and cut off closing clients that stopped reading."""
        for entry in self.listens:
            if entry.paused_until is not None and diff(now, entry.paused_until) >= 0:
                entry.paused_until = None
                self.sel.register(entry.sock, selectors.EVENT_READ, entry)
        if self.lingering:
            for conn in list(self.lingering):
                if diff(now, conn.port_data.closing_since) >= _CLOSE_LINGER_MS:
                    self._close(conn)

    def _shutdown(self):
        broker = self.broker
        if self.stopping in (signal.SIGINT, signal.SIGTERM):
            self.log("notice", "Received %s, shutting down."
                     % signal.Signals(self.stopping).name)
        for entry in self.listens:
            if entry.paused_until is None:
                self.sel.unregister(entry.sock)
            entry.sock.close()
        self.listens = []
        if self.bridges is not None:
            self.bridges.shut_down(now_ms())
        broker.shutdown()
        if self.persist is not None:
            self.persist.wait()
            self.persist.store.close()
        self.flush_pending()
        if self.capture is not None:
            self.capture.shut_down(_STOP_FLUSH_S * 1000)
        # Give queued bytes a short while to leave, then close whatever is left.
        deadline = time.monotonic() + _STOP_FLUSH_S
        while time.monotonic() < deadline and self._client_keys():
            for key, events in self.sel.select(max(0.0, deadline - time.monotonic())):
                if key.data is None:
                    self._drain_wakeup()
                elif events & selectors.EVENT_WRITE:
                    self._flush(key.data)
            self.flush_pending()
        for key in self._client_keys():
            self._close(key.data)
        self.flush_pending()
        if self._wake_r is not None:
            signal.set_wakeup_fd(-1)
            self._wake_r.close()
            self._wake_w.close()
        self.sel.close()

    def _client_keys(self):
        return [k for k in self.sel.get_map().values()
                if k.data is not None and not isinstance(k.data, _Listen)
                and k.data is not self.capture and k.data is not self.persist
                and not isinstance(k.data, Uplink)]

