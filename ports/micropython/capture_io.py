"""The socket side of the capture sender (core/capture/) for the MicroPython poll loop.

Same shape as ports/cpython/capture_io.py: CaptureIO.create(broker, cfg, server),
poll(now), wait_ms(now), on_event(ev, now), startup(), shut_down(ms). Where they differ,
a board's heap is why: one non-blocking TCP socket in the loop's poller (no selector
objects, no TLS, no resolver thread: a capture_address that is a host name is looked up
by dns.py, imported only then, on a non-blocking UDP socket in the same poller, with the
DNS server of dns_server; after a failure the name is looked up again), a small default
queue, and the wall clock carried on from NTP by the port clock.
"""

import errno
import select
import socket
import time

import clock
from core.capture.sender import create, CONNECTING, UP, PortIO
from core.clock import PERIOD

_POLLIN = select.POLLIN
_POLLOUT = select.POLLOUT
_BAD = select.POLLERR | select.POLLHUP
_EAGAIN = errno.EAGAIN
_MASK = PERIOD - 1
_REBASE_MS = PERIOD >> 2  # about 3 days: well inside one wrap of the port clock
_INPROGRESS = (errno.EINPROGRESS, getattr(errno, "EALREADY", 114), _EAGAIN)
DEFAULT_QUEUE = 4096  # a few KB: what a board can spare (capture_queue_size overrides)
_SYNCED_AFTER = 1672531200  # 2023-01-01: a clock before this was never set (no RTC, no NTP)
# some boards count from 2000-01-01, not 1970
_EPOCH_S = 946684800 if time.gmtime(0)[0] == 2000 else 0

# "HOST[:PORT]" of the DNS server for a capture_address that is a host name: board.py
# sets it (network.json "dns", else the Wi-Fi's), cli.py from MQTT_EDGE_DNS; None: the
# first nameserver of /etc/resolv.conf
dns_server = None
wall_clock = True  # tests set False (cli --wall-clock 0) to model a board without a clock
# Set by set_wall() (NTP at start-up): a Unix time in ms and the port clock's now_ms() then.
# The port clock, not time.time(), carries it on: the unix port cannot set the host's
# clock, and a board's RTC may be missing or drift.
_wall_at = None
_tick_at = 0


def set_wall(epoch_ms):
    """The time is epoch_ms (Unix ms, from NTP): capture records carry it from now on.

    Also sets the board's RTC when it has one, so that log lines get the time too.
    """
    global _wall_at, _tick_at
    _tick_at = clock.now_ms()
    _wall_at = epoch_ms
    try:
        from machine import RTC
        t = time.gmtime(epoch_ms // 1000 - _EPOCH_S)
        RTC().datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0))
    except (ImportError, AttributeError, OSError, TypeError, ValueError):
        pass  # no RTC (unix port) or one that refuses: the capture clock is set anyway


def wall_ms():
    """Epoch milliseconds, or None while the clock has not been set (records flag that)."""
    global _wall_at, _tick_at
    if _wall_at is not None:
        # the port clock wraps every 2^30 ms (12.4 days): the base moves forward at every
        # call (and every few days in CaptureIO.poll), so no wrap is ever missed
        now = clock.now_ms()
        _wall_at += (now - _tick_at) & _MASK
        _tick_at = now
        return _wall_at
    if not wall_clock:
        return None
    try:
        ms = time.time_ns() // 1000000
    except AttributeError:
        ms = int(time.time()) * 1000
    ms += _EPOCH_S * 1000
    if ms < _SYNCED_AFTER * 1000:
        return None
    return ms


def _seed():
    try:
        import os
        b = os.urandom(4)
        return (b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]
    except (ImportError, AttributeError, OSError):
        return time.ticks_cpu() if hasattr(time, "ticks_cpu") else time.ticks_ms()


class CaptureIO(PortIO):
    """Drives one Capture's TCP connection from the Server's poll loop; never blocks."""

    def __init__(self, cap, server):
        self.cap = cap
        self.server = server  # loop.Server: its poller and socket map are shared
        self.log = server.log
        self.sock = None
        self.addr = None
        self.dns = None  # (host, port) of the DNS server when cap.host is a name
        self.query = None  # dns.Query while the name is being looked up
        self.ip = None  # the address its answer gave

    @classmethod
    def create(cls, broker, cfg, server):
        """A CaptureIO when capture is configured, else None; its sender becomes
        broker.events. Raises ValueError for a setting this port cannot honour."""
        if cfg.capture_address is None:
            return None
        if cfg.capture_tls:
            raise ValueError("capture_tls is not supported on the MicroPython port")
        from hostaddr import host_name, numeric  # start-up only: dropped below
        from forget import forget
        forget("hostaddr")
        cap = create(cfg, broker, host_name(), wall=wall_ms, tz=None, seed=_seed(),
                     queue_size=DEFAULT_QUEUE)
        broker.events = cap
        io = cls(cap, server)
        how = ""
        if not numeric(cap.host):
            import dns
            try:
                io.dns = dns.server(dns_server)
                dns.encode(cap.host)
            except ValueError as e:
                raise ValueError("capture_address %s is a host name: %s" % (cap.host, e))
            how = ", looked up with DNS server %s port %d" % io.dns
        server.log("notice", "Capture: sending %s records to %s port %d%s (queue %d bytes)."
                   % (cfg.capture_format, cap.host, cap.port, how, cap.ring.size))
        return io

    def poll(self, now):
        """Every loop pass: timers, connects and writes."""
        if _wall_at is not None and (now - _tick_at) & _MASK > _REBASE_MS:
            wall_ms()  # no record for days: move the NTP time's base on before a wrap
        PortIO.poll(self, now)

    def wait_ms(self, now):
        """Milliseconds the loop may sleep before the sender needs it, or None."""
        w = self.cap.wait_ms(now)
        if self.query is not None:
            q = self.query.wait_ms(now)  # its resend or timeout
            if w is None or q < w:
                w = q
        return w

    def _address(self, now):
        if self.addr is None:
            if self.dns is not None and not self._resolve(now):
                return None  # the answer is awaited (or the lookup failed)
            try:
                # a numeric address (or the answer's): getaddrinfo converts it, no DNS
                ai = socket.getaddrinfo(self.ip or self.cap.host, self.cap.port, 0,
                                        socket.SOCK_STREAM)[0]
                self.addr = (ai[0], ai[-1])
            except (OSError, IndexError) as e:
                self._fail(now, "cannot resolve %s: %s" % (self.cap.host, _text(e)))
                return None
        return self.addr

    def _connect(self, fam, addr):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(addr)
        except OSError as e:
            if not e.args or e.args[0] not in _INPROGRESS:
                s.close()
                raise
        self.server.objs[s] = self
        self.server.poller.register(s, _POLLOUT)
        return s

    def _resolve(self, now):
        """Start or poll the lookup of cap.host: True once self.ip holds the answer."""
        q = self.query
        why = None
        try:
            if q is None:
                import dns
                self.ip = None
                q = self.query = dns.Query(self.cap.host, self.dns, now)
                self.server.objs[q.sock] = self  # the loop calls on_event for the answer
                self.server.poller.register(q.sock, _POLLIN)
            self.ip = q.poll(now)
        except (OSError, ValueError) as e:
            why = _text(e)
        if why is None and self.ip is None:
            return False
        self._end_query()
        if why is not None:
            self._fail(now, "cannot resolve %s: %s" % (self.cap.host, why))
            return False
        self.log("debug", "Capture: %s is %s." % (self.cap.host, self.ip))
        return True

    def _end_query(self):
        q = self.query
        if q is None:
            return
        self.query = None
        self.server.objs.pop(q.sock, None)
        try:
            self.server.poller.unregister(q.sock)
        except (OSError, KeyError, ValueError):
            pass
        q.close()

    def on_event(self, ev, now):
        """The poller reported the capture socket or the DNS query's (ev: its event mask)."""
        cap = self.cap
        if self.sock is None:
            if self.query is not None and cap.state == CONNECTING:
                self._start(now)  # an answer (or an ICMP refusal) arrived
            return
        if ev & _BAD:
            self._fail(now, "connection refused" if cap.state == CONNECTING
                       else "connection lost")
            return
        if cap.state == CONNECTING:
            if not ev & _POLLOUT:
                return
            cap.connected(now)
        elif ev & _POLLIN and not self._readable(now):
            return
        self._write(now)

    def _send(self, buf):
        try:
            n = self.sock.write(buf)
        except OSError as e:
            if self._again(e):
                return 0
            raise
        return n or 0  # None: the socket buffer is full

    def _again(self, e):
        return e.args and e.args[0] == _EAGAIN

    def _why(self, e):
        return _text(e)

    def _interest(self, out):
        self.server.poller.modify(self.sock, _POLLIN | (_POLLOUT if out else 0))

    def _fail(self, now, why):
        self._drop()
        if self.dns is not None:
            self.addr = None  # look the name up again before the next connect
        self.cap.failed(now, why)

    def _drop(self):
        self._end_query()
        s = self.sock
        if s is None:
            return
        self.sock = None
        self.server.objs.pop(s, None)
        try:
            self.server.poller.unregister(s)
        except (OSError, KeyError, ValueError):
            pass
        try:
            s.close()
        except OSError:
            pass

    def shut_down(self, ms):
        """Queue the shutdown record, let the queue leave for up to ms, then close."""
        from core.clock import diff
        cap = self.cap
        cap.shutdown(self._listeners())
        start = clock.now_ms()
        while self.sock is not None and cap.state == UP and cap.has_output() \
                and diff(clock.now_ms(), start) < ms:
            self._write(clock.now_ms())
            if cap.has_output():
                time.sleep_ms(10)
        self._drop()


def _text(e):
    code = e.args[0] if getattr(e, "args", None) else None
    if isinstance(code, int):
        name = getattr(errno, "errorcode", {}).get(code)
        return name or ("error %d" % code)
    return str(e)
