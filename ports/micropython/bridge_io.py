"""The bridges' sockets (core/bridge/) in the MicroPython poll loop, imported only when the
config has a `connection` section (listeners.open_all). The same calls as the CPython
port's BridgeIO (create, poll, wait_ms, pump, shut_down); the core's Link decides the rest.
Nothing blocks the loop: a host name is looked up by dns.py on a non-blocking UDP socket in
the Server's poller (with dns_server, as capture_io's), the TCP connect is non-blocking,
and with bridge_cafile mbedTLS's handshake runs inside the first writes of CONNECT."""

import errno
import random
import socket

from core.bridge import link as _link
from core.bridge.portio import PortIO
from core.const import const

_POLLIN = const(1)
_POLLOUT = const(4)
_BAD = const(24)  # POLLERR | POLLHUP
_EAGAIN = errno.EAGAIN
_INPROGRESS = (errno.EINPROGRESS, getattr(errno, "EALREADY", 114), _EAGAIN)
_RESOLVE = const(1)  # the stages of a connection
_TCP = const(2)
_TLS = const(3)  # CONNECT is offered to mbedTLS until the handshake lets it through
_MQTT = const(4)

# "HOST[:PORT]" of the DNS server for addresses that are host names: board.py sets it
# (network.json "dns", else the Wi-Fi's), cli.py from MQTT_EDGE_DNS; None: the first
# nameserver of /etc/resolv.conf
dns_server = None


class Uplink:
    """One Link's connection: the object the Server's socket map gives for its sockets
    (probe: a TCP connect to the main address only, core/bridge/portio.py)."""

    def __init__(self, link, io, ctx, probe=False):
        self.link = link
        self.io = io
        self.ctx = ctx  # the tls.SSLContext of a TLS bridge, else None
        self.probe = probe
        self.prober = None  # the Uplink of the last probe (Link.probe())
        self.sock = None
        self.raw = None  # the TCP socket under a TLS one
        self.query = None  # dns.Query while the address is looked up
        self.stage = 0
        self.target = None  # (host, port)
        self.mask = None  # what the poller watches on sock (None: not registered)

    def start(self, target, now):
        """Begin connecting to target (host, port): its lookup first when it is a name."""
        self.target = target
        if target[0] not in self.io.names:
            self._connect(target[0], now)
            return
        import dns
        try:
            q = dns.Query(target[0], self.io.dns, now)
        except (OSError, ValueError) as e:
            self._fail(now, "cannot resolve %s: %s" % (target[0], _text(e)))
            return
        self.query = q
        self.stage = _RESOLVE
        self.io.server.objs[q.sock] = self
        self.io.server.register(q.sock, _POLLIN)

    def poll(self, now):
        """Each loop pass: the lookup's resends and timeout, then sync."""
        if self.stage == _RESOLVE:
            self._resolve(now)
        self.sync(now)

    def wait_ms(self, now):
        """Milliseconds until poll() is due (the lookup's next resend), or None."""
        return self.query.wait_ms(now) if self.query is not None else self.link.wait_ms(now)

    def _resolve(self, now):
        try:
            ip = self.query.poll(now)
        except (OSError, ValueError) as e:
            self._fail(now, "cannot resolve %s: %s" % (self.target[0], _text(e)))
            return
        if ip is not None:
            self._end_query()
            self._connect(ip, now)

    def _connect(self, host, now):
        try:
            # numeric (or the answer's): getaddrinfo converts it without asking DNS
            ai = socket.getaddrinfo(host, self.target[1], 0, socket.SOCK_STREAM)[0]
            s = socket.socket(ai[0], socket.SOCK_STREAM)
        except (OSError, IndexError) as e:
            self._fail(now, _text(e))
            return
        s.setblocking(False)
        self.sock = self.raw = s
        self.stage = _TCP
        try:
            s.connect(ai[-1])
        except OSError as e:
            if not e.args or e.args[0] not in _INPROGRESS:
                self._fail(now, _text(e))
                return
        self.io.server.objs[s] = self
        self._want(_POLLOUT)

    def on_event(self, ev, now):
        """The poller reported one of this link's sockets (ev: its event mask)."""
        st = self.stage
        if st == _RESOLVE:
            self._resolve(now)
        elif st == _TCP:
            if ev & _BAD:
                self._fail(now, "connection refused")
            elif ev & _POLLOUT:
                self._opened(now)
        elif st == _TLS:
            self.sync(now)  # the server's handshake messages: offer CONNECT again
        else:
            if ev & (_POLLIN | _BAD):
                self._read(now)
            self.sync(now)

    def _opened(self, now):
        if self.probe:
            self.close()
            self.link.probed(now, True)
            return
        if self.ctx is not None:
            srv = self.io.server
            srv.objs.pop(self.raw, None)
            srv.poller.unregister(self.raw)
            self.mask = None
            try:
                # bridge_insecure: no host name check (the chain is still verified)
                self.sock = self.ctx.wrap_socket(
                    self.raw, server_hostname=None if self.link.conf.insecure
                    else self.target[0], do_handshake_on_connect=False)
            except (OSError, ValueError, MemoryError) as e:
                self._fail(now, "TLS: %s" % self.io.tls.reason(e))
                return
            self.io.tls.tlss[self.sock] = 0  # its writes go through tls_server.send
            srv.objs[self.sock] = self
            self.stage = _TLS
        else:
            self.stage = _MQTT
        self.link.opened(now)  # CONNECT is queued
        self.sync(now)

    def _read(self, now):
        srv = self.io.server
        while self.sock is not None:
            try:
                n = self.sock.readinto(srv.buf)
            except OSError as e:
                if e.args and e.args[0] == _EAGAIN:
                    return
                self._fail(now, _text(e))
                return
            if n is None:
                return
            if not n:
                self._fail(now, "closed by the upstream")
                return
            try:
                self.link.received(srv.mv[:n])
            except MemoryError:
                self._fail(now, "out of memory")
                return
            srv.flush_pending()  # what came in went to local clients
            if n < len(srv.buf):
                return  # else mbedTLS may hold more of a record than poll shows

    def sync(self, now):
        """Write what the link has queued; close the connection when the link asks."""
        link = self.link
        if self.probe:
            return
        if self.stage < _TLS:
            if link.closing:  # e.g. no connection within the link's limit
                self._fail(now, None)
            return
        out = link.out
        while out:
            try:
                if self.ctx is None:
                    n = self.sock.write(out)
                else:
                    n = self.io.tls.send(self.io.server, self.sock, out)
            except (OSError, ValueError) as e:
                if isinstance(e, OSError) and e.args and e.args[0] == _EAGAIN:
                    break
                self._fail(now, ("TLS handshake: %s" % self.io.tls.reason(e))
                           if self.stage == _TLS else _text(e))
                return
            if not n:
                break  # None: the socket's buffer is full, or the handshake goes on
            self.stage = _MQTT  # a TLS handshake is done once bytes are taken
            out = link.sent(n)
        if link.closing:
            self._fail(now, None)
        elif self.stage == _TLS:
            self._want(_POLLIN)  # the handshake waits for the server
        else:
            # not read while the broker holds the bridge's local side (back_pressure);
            # poll() comes back to it every loop pass
            self._want((0 if link.hold() else _POLLIN) | (_POLLOUT if out else 0))

    def _want(self, mask):
        if mask == self.mask:
            return
        if self.mask is None:
            self.io.server.register(self.sock, mask)
        else:
            self.io.server.poller.modify(self.sock, mask)
        self.mask = mask

    def _end_query(self):
        q = self.query
        if q is not None:
            self.query = None
            self.io.server.objs.pop(q.sock, None)
            try:
                self.io.server.poller.unregister(q.sock)
            except (OSError, KeyError, ValueError):
                pass
            q.close()

    def _fail(self, now, why):
        self.close()
        if self.probe:
            self.link.probed(now, False)
        else:
            self.link.lost(now, why)

    def close(self):
        """Close the connection's sockets, if any."""
        self._end_query()
        srv = self.io.server
        for s in (self.sock, self.raw):
            if s is not None:
                srv.objs.pop(s, None)
                if self.io.tls is not None:
                    self.io.tls.forget(s)
                try:
                    srv.poller.unregister(s)
                except (OSError, KeyError, ValueError, AttributeError):
                    pass
                try:
                    s.close()
                except OSError:
                    pass
        self.sock = self.raw = self.mask = None
        self.stage = 0


class BridgeIO(PortIO):
    """The bridges of a config, driven by the Server's loop (poll, wait_ms, pump,
    shut_down)."""

    def __init__(self, server):
        self.server = server
        self.ups = []
        self.names = ()  # addresses that are host names (looked up with dns.py)
        self.dns = None  # (host, port) of the DNS server, when there are names
        self.tls = None  # module tls_server when a bridge has TLS

    @classmethod
    def create(cls, broker, cfg, server):
        """A BridgeIO for cfg.bridges (the caller checks there are some); ValueError for a
        setting this port cannot honour (a TLS file, no DNS server for a name)."""
        from hostaddr import host_name, numeric  # start-up only (start() drops it)
        io = cls(server)
        io.names = [a[0] for c in cfg.bridges for a in c.addresses if not numeric(a[0])]
        if io.names:
            import dns
            io.dns = dns.server(dns_server)  # ValueError: none known
        ctxs = []
        for c in cfg.bridges:
            ctx = None
            if c.tls():
                if io.tls is None:
                    import tls_server
                    io.tls = tls_server
                import tls_setup  # start-up only: dropped again
                try:
                    ctx = tls_setup.client_context(c)
                except io.tls.TlsError as e:
                    raise ValueError(str(e))
            ctxs.append(ctx)
        server.uplink = Uplink
        for link, ctx in zip(_link.start(broker, cfg, host_name(), random.random), ctxs):
            io.ups.append(Uplink(link, io, ctx))
        return io

    def shut_down(self, now):
        """DISCONNECT to each upstream (as far as the socket takes it), then close."""
        self.close_probers()
        for u in self.ups:
            u.link.stop()
            if u.stage == _MQTT:
                u.sync(now)
            u.close()


def start(broker, cfg, server, log):
    """listeners.open_all's step: the BridgeIO of cfg's bridges, or 1 when one cannot work
    (the reason logged, and on stderr)."""
    from forget import forget
    try:
        return BridgeIO.create(broker, cfg, server)
    except ValueError as e:
        import sys
        log("error", "Error: bridge: %s" % e)
        if "error" not in getattr(log, "types", ("error",)):
            sys.stderr.write("Error: bridge: %s\n" % e)
        return 1
    finally:
        forget("hostaddr", "tls_setup")  # start-up only


def _text(e):
    from loop import errno_text
    return errno_text(e) if isinstance(e, OSError) else str(e)
