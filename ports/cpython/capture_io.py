"""The socket side of the capture sender (core/capture/) for the CPython selector loop.

Same shape as ports/micropython/capture_io.py: CaptureIO.create(broker, cfg, server),
poll(now), wait_ms(now), on_event(events, now), startup(), shut_down(ms).
"""

import errno
import os
import random
import selectors
import socket
import ssl
import struct
import threading
import time

from core.capture.sender import create, CONNECTING, UP, PortIO
from ports.cpython import resolve

_SNDBUF = 65536  # bytes the kernel may hold for a receiver that died (bounded loss window)
# Linux: bytes a TCP socket holds that the receiver has not acknowledged (SIOCOUTQ)
try:
    import fcntl
    import termios
    _TIOCOUTQ = getattr(termios, "TIOCOUTQ", None)
except ImportError:
    _TIOCOUTQ = None
_INT0 = struct.pack("i", 0)


def wall_ms():
    """Epoch milliseconds from the system clock."""
    return time.time_ns() // 1000000  # called per record: cheaper than int(time.time() * 1000)


def local_zone(secs):
    """(UTC offset in seconds, zone abbreviation) of the local time zone at epoch secs."""
    t = time.localtime(secs)
    return t.tm_gmtoff or 0, t.tm_zone or "UTC"


def tls_context(cafile):
    """Client TLS context that verifies the receiver against cafile (None: system CAs)."""
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as e:
        raise ValueError("cannot load capture_cafile %s: %s"
                         % (cafile, getattr(e, "strerror", None) or e))


class CaptureIO(PortIO):
    """Drives one Capture's TCP connection from the loop; never blocks."""

    _RECV_SIZE = 4096

    def __init__(self, cap, server):
        self.cap = cap
        self.sel = server.sel  # the loop's selector: the capture socket is one more in it
        self.log = server.log
        self.sock = None
        self.events = 0
        self.addrs = None  # resolved (family, sockaddr) list
        self._resolving = None  # thread resolving a host name
        self._resolved = None
        self.tls = None  # ssl.SSLContext when capture_tls is on
        self._handshaking = False

    @classmethod
    def create(cls, broker, cfg, server):
        """A CaptureIO when capture is configured, else None; its sender becomes
        broker.events. Raises ValueError for a setting this port cannot honour."""
        if cfg.capture_address is None:
            return None
        cap = create(cfg, broker, socket.gethostname(), wall=wall_ms, tz=local_zone,
                     seed=random.getrandbits(32))
        tls = None
        if cfg.capture_tls:
            tls = tls_context(cfg.capture_cafile)
        elif cfg.capture_cafile is not None:
            raise ValueError("capture_cafile is set but capture_tls is not true")
        broker.events = cap
        server.log("notice", "Capture: sending %s records to %s port %d%s." %
            (cfg.capture_format, cap.host, cap.port, " over TLS" if tls else ""))
        io = cls(cap, server)
        io.tls = tls
        cap.spill = io._spill
        return io

    def _addresses(self):
        """Resolved addresses, None while a resolver thread works, or the OSError it got."""
        if self.addrs is not None:
            return self.addrs
        host = self.cap.host
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            socket.inet_pton(fam, host)
            self.addrs = [(fam, (host, self.cap.port))]  # numeric: kept for good
            return self.addrs
        except OSError:
            pass
        if self._resolving is None:
            # DNS may take seconds: it must never stall the broker loop.
            self._resolved = None
            t = threading.Thread(target=self._resolve, args=(host, self.cap.port), daemon=True)
            self._resolving = t
            t.start()
            return None
        if self._resolving.is_alive():
            return None
        self._resolving = None
        return self._resolved  # a name is resolved again for every connect

    def _resolve(self, host, port):
        self._resolved = resolve.addresses(host, port)

    def _address(self, now):
        addrs = self._addresses()
        if addrs is None:
            return None  # still resolving; the state stays CONNECTING until it is done
        if isinstance(addrs, Exception):
            self._fail(now, "cannot resolve %s: %s" % (self.cap.host, addrs))
            return None
        return addrs[0]

    def _connect(self, fam, addr):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SNDBUF)
        except OSError:
            pass
        err = s.connect_ex(addr)
        if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            s.close()
            raise OSError(err, os.strerror(err))
        self.events = selectors.EVENT_WRITE
        self.sel.register(s, self.events, self)
        return s

    def on_event(self, events, now):
        """Selector reported the capture socket ready."""
        cap = self.cap
        if self.sock is None:
            return
        if cap.state == CONNECTING:
            if not self._handshaking:
                err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    self._fail(now, os.strerror(err))
                    return
                if self.tls is not None:
                    self._wrap()
            if self._handshaking and not self._handshake(now):
                return
            cap.connected(now)
        elif events & selectors.EVENT_READ and not self._readable(now):
            return
        self._write(now)

    def _wrap(self):
        """TCP is up: wrap the socket for a TLS handshake driven by the selector."""
        self.sel.unregister(self.sock)
        self.sock = self.tls.wrap_socket(self.sock, server_hostname=self.cap.host,
                                         do_handshake_on_connect=False)
        self._handshaking = True
        self.events = selectors.EVENT_READ | selectors.EVENT_WRITE
        self.sel.register(self.sock, self.events, self)

    def _handshake(self, now):
        """One non-blocking handshake step: True when done; False to wait (or failed)."""
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            self._want(selectors.EVENT_READ)
            return False
        except ssl.SSLWantWriteError:
            self._want(selectors.EVENT_WRITE)
            return False
        except (ssl.SSLError, OSError) as e:
            self._fail(now, "TLS handshake failed: %s" % (getattr(e, "reason", None) or e))
            return False
        self._handshaking = False
        return True

    def _want(self, events):
        if events != self.events:
            self.events = events
            self.sel.modify(self.sock, events, self)

    def _send(self, buf):
        try:
            return self.sock.send(buf)
        except OSError as e:
            if self._again(e):
                return 0  # TLS: tried again with the same bytes when the socket is ready
            raise

    def _again(self, e):
        return isinstance(e, (ssl.SSLWantReadError, ssl.SSLWantWriteError)) or \
            e.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR)

    def _why(self, e):
        return e.strerror or str(e)

    def _interest(self, out):
        self._want(selectors.EVENT_READ | (selectors.EVENT_WRITE if out else 0))

    def _spill(self):
        """cap.spill: the ring is half full in the middle of the broker's work; write now,
        unless the receiver is behind (then the ring drops its oldest records, counted,
        rather than let stale records pile up in the kernel's buffer ahead of new ones)."""
        if _TIOCOUTQ is not None and self.sock is not None and not self._handshaking:
            try:
                q = struct.unpack("i", fcntl.ioctl(self.sock.fileno(), _TIOCOUTQ, _INT0))[0]
            except OSError:
                q = 0
            if q >= self.cap.batch:
                return
        self._write(self.cap.broker.now)

    def _fail(self, now, why):
        self._resolving = None  # a hung resolver thread is abandoned
        self.close()
        self._handshaking = False
        self.cap.failed(now, why)

    def wait_ms(self, now):
        """Milliseconds the loop may sleep before the sender needs it, or None."""
        if self._resolving is not None:
            return 50  # the resolver thread is polled
        return self.cap.wait_ms(now)

    def final_flush(self, deadline):
        """At shutdown: try to write what is queued until deadline (time.monotonic())."""
        while self.sock is not None and self.cap.state == UP and self.cap.has_output() \
                and time.monotonic() < deadline:
            self._write(0)
            if not self.cap.has_output() or self.sock is None:
                break
            time.sleep(0.01)

    def close(self):
        """Close the socket (at exit)."""
        if self.sock is not None:
            try:
                self.sel.unregister(self.sock)
            except (KeyError, ValueError):
                pass
            self.sock.close()
            self.sock = None

    def shut_down(self, ms):
        """Queue the shutdown record, let the queue leave for up to ms, then close."""
        self.cap.shutdown(self._listeners())
        self.final_flush(time.monotonic() + ms / 1000)
        self.close()
