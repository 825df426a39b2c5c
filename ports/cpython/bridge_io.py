"""The sockets of the bridges (core/bridge/) in the CPython selector loop: a non-blocking
connect (host names resolved in a thread), the TLS handshake, reads and writes. The core's
Link decides everything else (core/README.md, Bridges)."""

import errno
import os
import random
import selectors
import socket
import ssl
import threading

from core.bridge.portio import PortIO
from ports.cpython import resolve, tls

_RECV_SIZE = 65536


def client_context(conf):
    """The SSLContext of a TLS bridge (bridge_cafile/capath, certfile/keyfile, insecure,
    tls_version); ValueError naming the file that cannot be used."""
    try:
        ctx = ssl.create_default_context(cafile=conf.cafile, capath=conf.capath)
        if conf.certfile is not None:
            ctx.load_cert_chain(conf.certfile, conf.keyfile)
    except (OSError, ssl.SSLError) as e:
        raise ValueError("bridge %s: cannot load its certificates: %s"
                         % (conf.name, tls.reason(e)))
    ctx.minimum_version = tls.VERSIONS[conf.tls_version or "tlsv1.2"]
    if conf.insecure:
        ctx.check_hostname = False  # the chain is still verified (as mosquitto's)
    return ctx


class Uplink:
    """One Link's socket, the data of its selector key (probe: a TCP connect to the main
    address only, core/bridge/portio.py)."""

    def __init__(self, link, io, ctx, probe=False):
        self.link = link
        self.io = io
        self.ctx = ctx
        self.probe = probe
        self.prober = None  # the Uplink of the last probe (Link.probe())
        self.sock = None
        self.events = 0
        self.stage = None  # "resolve", "tcp", "tls", "mqtt"
        self.target = None  # (host, port)
        self.addrs = []  # resolved (family, sockaddr) not tried yet
        self._resolved = None

    def start(self, target, now):
        """Begin connecting to target (host, port)."""
        self.target = target
        host = target[0]
        for fam in (socket.AF_INET, socket.AF_INET6):
            try:
                socket.inet_pton(fam, host)
                self._connect([(fam, target)], now)
                return
            except OSError:
                continue
        # DNS may take seconds: never in the loop
        self.stage = "resolve"
        self._resolved = None
        threading.Thread(target=self._resolve, args=target, daemon=True).start()

    def _resolve(self, host, port):
        self._resolved = resolve.addresses(host, port)

    def wait_ms(self, now):
        """Milliseconds until poll() is due, or None."""
        if self.stage == "resolve":
            return 50  # the resolver thread may be done: look again soon
        return self.link.wait_ms(now)

    def poll(self, now):
        """A resolved name connects; a closing link's socket closes."""
        if self.stage == "resolve" and self._resolved is not None:
            r = self._resolved
            self._resolved = None
            if isinstance(r, Exception):
                self._fail(now, "cannot resolve %s: %s" % (self.target[0], r))
                return
            self._connect(r, now)
        self.sync(now)

    def _connect(self, addrs, now):
        """Connect to the first of addrs; the others are tried if it fails (localhost: ::1
        and 127.0.0.1)."""
        fam, addr = addrs[0]
        self.addrs = addrs[1:]
        sock = socket.socket(fam, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.sock = sock
        self.stage = "tcp"
        try:
            sock.connect(addr)
        except BlockingIOError:
            pass
        except OSError as e:
            self._fail(now, e.strerror or str(e))
            return
        self._want(selectors.EVENT_WRITE)

    def on_event(self, events, now):
        """The selector's events for this socket."""
        if self.stage == "tcp":
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                if self.addrs:
                    self.close()
                    self._connect(self.addrs, now)
                else:
                    self._fail(now, os.strerror(err))
                return
            if self.ctx is not None:
                try:
                    self.sock = self.ctx.wrap_socket(self.sock, server_hostname=self.target[0],
                                                     do_handshake_on_connect=False)
                except (OSError, ValueError) as e:
                    self._fail(now, "TLS: %s" % tls.reason(e))
                    return
                self.stage = "tls"
            else:
                self._opened(now)
                return
        if self.stage == "tls":
            try:
                want = tls.handshake(self.sock)
            except (OSError, ValueError) as e:
                self._fail(now, "TLS handshake: %s" % tls.reason(e))
                return
            if want:
                self._want(want)
            else:
                self._opened(now)
            return
        if events & selectors.EVENT_READ:
            self._read(now)
        if self.sock is not None:
            self.sync(now)

    def _opened(self, now):
        if self.probe:
            self.close()
            self.link.probed(now, True)
            return
        self.stage = "mqtt"
        self.link.opened(now)
        self.sync(now)

    def _read(self, now):
        while self.sock is not None:
            try:
                data = self.sock.recv(_RECV_SIZE)
            except tls.WANT:
                return
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                    return
                self._fail(now, e.strerror or str(e))
                return
            if not data:
                self._fail(now, "closed by the upstream")
                return
            self.link.received(data)
            if not (self.ctx is not None and self.sock.pending()):
                return

    def sync(self, now):
        """Write what the link has queued; close the socket when the link asks."""
        link = self.link
        if self.probe:
            return
        if self.sock is None or self.stage != "mqtt":
            if link.closing:  # e.g. no connection within the limit
                self._fail(now, None)
            return
        out = link.out
        while out:
            try:
                n = self.sock.send(out)
            except tls.WANT:
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                    self._fail(now, e.strerror or str(e))
                    return
                break
            out = link.sent(n)
        if link.closing:
            self._fail(now, None)
            return
        # not read while the broker holds the bridge's local side (back_pressure); poll()
        # comes back to it every loop pass
        self._want((0 if link.hold() else selectors.EVENT_READ) |
                   (selectors.EVENT_WRITE if out else 0))

    def _want(self, ev):
        if ev == self.events:
            return
        if not ev:
            self.io.sel.unregister(self.sock)
        elif not self.events:
            self.io.sel.register(self.sock, ev, self)
        else:
            self.io.sel.modify(self.sock, ev, self)
        self.events = ev

    def _fail(self, now, why):
        self.close()
        self.stage = None
        if self.probe:
            self.link.probed(now, False)
        else:
            self.link.lost(now, why)

    def close(self):
        """Close the socket (if any)."""
        if self.sock is not None:
            if self.events:
                self.io.sel.unregister(self.sock)
            self.events = 0
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None


class BridgeIO(PortIO):
    """The bridges of a config, driven from the loop (poll, wait_ms, pump, shut_down)."""

    def __init__(self, server):
        self.sel = server.sel
        self.ups = []

    @classmethod
    def create(cls, broker, cfg, server):
        """A BridgeIO when the config has bridges, else None (no bridge code is loaded);
        ValueError for a TLS file that cannot be used."""
        if not cfg.bridges:
            return None
        ctxs = [client_context(c) if c.tls() else None for c in cfg.bridges]
        from core.bridge.link import start
        io = cls(server)
        for link, ctx in zip(start(broker, cfg, socket.gethostname(), random.random), ctxs):
            io.ups.append(Uplink(link, io, ctx))
        return io

    def shut_down(self, now):
        """DISCONNECT to each upstream, then the sockets closed."""
        self.close_probers()
        for u in self.ups:
            u.link.stop()
            if u.sock is not None and u.stage == "mqtt":
                try:
                    u.sock.setblocking(True)
                    u.sock.settimeout(1.0)
                    u.sock.sendall(u.link.out)
                except OSError:
                    pass
            u.close()
