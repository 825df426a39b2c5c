#!/usr/bin/env python3
"""MQTT broker benchmark: raw-socket load generator (CPython, standard library only).

  python tools/bench.py --host 127.0.0.1 --port 1883          # one running broker
  python tools/bench.py --compare                             # ours vs Debian mosquitto
  python tools/bench.py --compare --broker-cmd "micropython ports/micropython/main.py -c {conf}"
  python tools/bench.py --compare --scenarios fanin,qos1 --duration 1 --payload 64
  python tools/bench.py --capture     # capture of every event off / on / receiver black-holed
  python tools/bench.py --compare --board esp32 --scenarios burst --payload 64   # as a board
  python tools/bench.py --bridge      # this broker's bridge vs mosquitto's, to one upstream
  python tools/bench.py --compare --v5   # each scenario with MQTT 3.1.1 and 5.0 clients

Scenarios: fanin, fanout, qos1, latency, idle (the default set), burst and q1fanin
(back-pressure: every message delivered, nobody disconnected? see SCENARIOS), bridge0 and
bridge1 (with --bridge: publishers on the edge broker, the subscriber on the upstream
mosquitto its bridge forwards to). This is a measuring tool,
not a test: it prints numbers and asserts nothing about speed.
"""

import argparse
import atexit
import errno
import json
import multiprocessing
import os
import queue
import selectors
import shlex
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

import wsclient  # tools/wsclient.py (tools/ is sys.path[0] when bench.py runs)
from deploy import terminate  # tools/deploy.py, likewise

try:
    import resource
except ImportError:  # not on every platform; only needed for the idle scenario
    resource = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # core/: the packet encoding, and the engine for --restart
from core.proto import put_varint  # noqa: E402
MOSQUITTO = "/usr/sbin/mosquitto"
N_FANIN_PUBS = 4
N_FANOUT_SUBS = 4
QOS1_WINDOW = 64
IDLE_CONNS = 1000
BURST_IDLE = 6           # idle clients of 4 subscriptions each beside the burst
BURST_COUNT = 20000
LATENCY_MAX_MSGS = 2000
BATCH_BYTES = 16384      # one sendall() of pre-encoded publishes
DRAIN_IDLE_S = 0.5       # after the window, read until the broker is quiet this long
DRAIN_MAX_S = 10.0
IO_TIMEOUT_S = 10.0
QOS0_AHEAD = 8192        # QoS 0 flow control: max messages published but not yet delivered
STALL_S = 0.2


# a host given as WS + address: the load generator speaks MQTT over WebSockets
# (tools/wsclient.py, one masked binary frame per write, as clients frame their writes)
WS = "ws:"
WS_SCENARIOS = ("fanin", "fanout", "qos1")  # the QoS 0 and QoS 1 flows
# a host given as V5 + host (either of the above): the load generator's clients speak MQTT
# 5.0 (no properties: what the protocol itself costs a broker)
V5 = "v5:"
V5_SUFFIX = "@v5"  # a scenario name + V5_SUFFIX: that scenario with MQTT 5.0 clients


class BenchError(Exception):
    """A scenario could not run (connection refused, protocol error, timeout)."""


# --- MQTT 3.1.1 and 5.0 encoding ---------------------------------------------
# In 5.0 a CONNECT, SUBSCRIBE and PUBLISH carry a property length (0 here) after their
# fixed fields; a CONNACK, SUBACK and PUBLISH from the broker may carry properties.

def packet(b0, body):
    """The packet with first byte b0 and body (its remaining length between)."""
    out = bytearray((b0,))
    put_varint(out, len(body))
    out += body
    return bytes(out)


def mqtt_str(s):
    """Length-prefixed UTF-8 string."""
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def connect_packet(client_id, keepalive=60, clean=True, v5=False):
    """CONNECT, MQTT 3.1.1 or 5.0 (clean session / clean start unless clean is False; a
    5.0 session then never expires, as a 3.1.1 persistent one)."""
    props = (b"\x05\x11\xff\xff\xff\xff" if not clean else b"\x00") if v5 else b""
    body = mqtt_str("MQTT") + bytes([5 if v5 else 4, 0x02 if clean else 0]) \
        + struct.pack(">H", keepalive) + props + mqtt_str(client_id)
    return packet(0x10, body)


def subscribe_packet(pid, topic_filter, qos, v5=False):
    """SUBSCRIBE for one filter."""
    body = struct.pack(">H", pid) + (b"\x00" if v5 else b"") + mqtt_str(topic_filter) \
        + bytes([qos])
    return packet(0x82, body)


def publish_packet(topic, payload, qos=0, pid=0, v5=False):
    """PUBLISH (no DUP, no retain, no properties)."""
    body = mqtt_str(topic) + (struct.pack(">H", pid) if qos else b"") \
        + (b"\x00" if v5 else b"") + payload
    return packet(0x30 | (qos << 1), body)


def split_v5(host):
    """(host without the V5 prefix, True when its clients speak MQTT 5.0)."""
    if host.startswith(V5):
        return host[len(V5):], True
    return host, False


def varint_at(buf, i):
    """(value, index after it) of the variable byte integer at buf[i]."""
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            return n, i
        shift += 7


DISCONNECT = b"\xe0\x00"


# --- blocking client helpers -------------------------------------------------

class Conn:
    """A blocking MQTT client socket with a receive buffer for the handshake phase."""

    def __init__(self, host, port, client_id, timeout=IO_TIMEOUT_S, keepalive=60, clean=True):
        host, self.v5 = split_v5(host)
        if host.startswith(WS):  # MQTT over WebSockets: each sendall() is one frame
            self.sock = wsclient.connect(host[len(WS):], port, timeout)
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.sock.sendall(connect_packet(client_id, keepalive, clean, self.v5))
        hdr, body = self.read_packet()
        if hdr != 0x20 or len(body) < 2:
            raise BenchError("expected CONNACK, got packet type 0x%02x" % hdr)
        if body[1] != 0:
            raise BenchError("CONNACK refused the connection: return code %d" % body[1])

    def read_packet(self):
        """Read one whole packet: (first byte, body bytes)."""
        while True:
            parsed = parse_one(self.buf)
            if parsed is not None:
                hdr, start, end = parsed
                body = bytes(self.buf[start:end])
                del self.buf[:end]
                return hdr, body
            data = self.sock.recv(65536)
            if not data:
                raise BenchError("broker closed the connection")
            self.buf += data

    def subscribe(self, topic_filter, qos):
        """SUBSCRIBE and wait for the SUBACK granting it."""
        self.sock.sendall(subscribe_packet(1, topic_filter, qos, self.v5))
        while True:
            hdr, body = self.read_packet()
            if hdr == 0x90:
                at = varint_at(body, 2) if self.v5 and len(body) > 2 else (0, 2)
                at = at[0] + at[1]  # the reason codes after a 5.0 SUBACK's properties
                if len(body) <= at or body[at] >= 0x80:
                    raise BenchError("SUBACK refused %r" % topic_filter)
                return
            if hdr & 0xF0 != 0x30:
                raise BenchError("expected SUBACK, got packet type 0x%02x" % hdr)

    def close(self):
        """DISCONNECT (best effort) and close."""
        try:
            self.sock.settimeout(0.5)
            self.sock.sendall(DISCONNECT)
        except OSError:
            pass
        self.sock.close()


def parse_one(buf, i=0, end=None):
    """Locate the packet at buf[i:]: (first byte, body start, body end) or None if incomplete."""
    if end is None:
        end = len(buf)
    if i + 2 > end:
        return None
    rl = 0
    shift = 0
    j = i + 1
    while True:
        if j >= end:
            return None
        b = buf[j]
        rl |= (b & 0x7F) << shift
        j += 1
        if b < 0x80:
            break
        shift += 7
        if shift > 21:
            raise BenchError("malformed remaining length from broker")
    if j + rl > end:
        return None
    return buf[i], j, j + rl


def packets(buf):
    """[(first byte, body start, body end)] of the whole packets at the start of buf, and
    where the rest starts."""
    out = []
    i = 0
    while True:
        parsed = parse_one(buf, i)
        if parsed is None:
            return out, i
        out.append(parsed)
        i = parsed[2]


def publishes(buf):
    """[(first byte, packet end, packet id)] of the whole PUBLISH packets at the start of
    buf (id 0 for QoS 0), and where the rest starts. A stamp is the payload's last 8 bytes,
    just before the packet end: found without reading a 5.0 PUBLISH's properties, so that
    5.0 costs the load generator what 3.1.1 does."""
    got, i = packets(buf)
    out = []
    for h, s, e in got:
        if h & 0xF0 == 0x30:
            pid = 0
            if h & 0x06:
                p = s + 2 + ((buf[s] << 8) | buf[s + 1])
                pid = (buf[p] << 8) | buf[p + 1]
            out.append((h, e, pid))
    return out, i


# --- worker processes ---------------------------------------------------------
# Each worker body: fn(name, ready_q, start_ev, res_q, *args), run by run_worker. It puts
# (name, "ready") on ready_q once connected (and subscribed), waits for start_ev, then puts
# (name, result) on res_q. Errors are reported as (name, "error", text) on both queues.

def run_worker(body, name, ready_q, start_ev, res_q, *args):
    """Process target: run body and report any exception instead of losing it."""
    try:
        body(name, ready_q, start_ev, res_q, *args)
    except BaseException as e:  # report everything, the parent decides
        msg = "%s: %s: %s" % (name, type(e).__name__, e)
        ready_q.put((name, "error", msg))
        res_q.put((name, "error", msg))


def _wait_start(name, start_ev):
    """Block until the parent starts the measurement."""
    if not start_ev.wait(60):
        raise BenchError("start signal never came")


def sub_body(name, ready_q, start_ev, res_q, host, port, topic_filter, qos, duration,
             progress=None, slot=0, clean=True):
    """Subscriber: count PUBLISH packets received during the window (PUBACK QoS 1 ones).
    progress[slot] (shared) follows the running total, for the publishers' flow control.
    clean False: a persistent session (what a persistence store writes for)."""
    c = Conn(host, port, "bench-" + name, clean=clean)
    c.subscribe(topic_filter, qos)
    sock = c.sock
    buf = bytearray(1 << 20)
    mv = memoryview(buf)
    fill = len(c.buf)
    buf[:fill] = c.buf
    ready_q.put((name, "ready"))
    _wait_start(name, start_ev)
    sock.settimeout(0.1)
    t0 = time.monotonic()
    t_end = t0 + duration
    in_window = 0
    total = 0
    last_rx = t0
    while True:
        now = time.monotonic()
        if now >= t_end:
            if now - last_rx >= DRAIN_IDLE_S or now - t_end >= DRAIN_MAX_S:
                break
        try:
            n = sock.recv_into(mv[fill:])
        except socket.timeout:
            continue
        if not n:
            raise BenchError("broker closed the subscriber connection")
        now = time.monotonic()
        last_rx = now
        end = fill + n
        i = 0
        count = 0
        acks = bytearray() if qos else None
        # Tight scan over fixed header + remaining length.
        while i + 2 <= end:
            b = buf[i + 1]
            if b < 0x80:
                j = i + 2
                nxt = j + b
                if nxt > end:
                    break
            else:  # a longer remaining length (packets of 128 bytes and more)
                p = parse_one(buf, i, end)
                if p is None:
                    break
                j, nxt = p[1], p[2]
            h = buf[i]
            if h & 0xF0 == 0x30:
                count += 1
                if h & 0x06:  # QoS 1: acknowledge by packet id after the topic
                    p = j + 2 + ((buf[j] << 8) | buf[j + 1])
                    acks += b"\x40\x02"
                    acks += buf[p:p + 2]
            i = nxt
        if i:
            buf[:end - i] = buf[i:end]
        fill = end - i
        if fill == len(buf):
            raise BenchError("packet larger than the receive buffer")
        total += count
        if now < t_end:
            in_window += count
        if progress is not None:
            progress[slot] = total
        if acks:
            sock.sendall(acks)
    c.close()
    res_q.put((name, {"in_window": in_window, "total": total}))


def pub_body(name, ready_q, start_ev, res_q, host, port, topic, payload_size, duration,
             sent_arr=None, slot=0, progress=None, limit=0):
    """QoS 0 publisher: send pre-encoded batches with sendall for the whole window.

    Flow control: while the publishers together are `limit` messages ahead of the slowest
    subscriber, wait; so the broker's backlog stays bounded and the count in the window is
    a steady-state rate, not how much the kernel and the broker can buffer. If the
    subscribers make no progress for STALL_S (a broker may drop QoS 0), send anyway."""
    c = Conn(host, port, "bench-" + name)
    pkt = publish_packet(topic, b"x" * payload_size, v5=c.v5)
    per_batch = max(1, BATCH_BYTES // len(pkt))
    if limit:
        per_batch = max(1, min(per_batch, limit // 8))
    batch = pkt * per_batch
    sock = c.sock
    sock.settimeout(IO_TIMEOUT_S)
    ready_q.put((name, "ready"))
    _wait_start(name, start_ev)
    now = time.monotonic()
    t_end = now + duration
    sent = 0
    seen, seen_at = -1, now
    while now < t_end:
        if limit:
            got = min(progress)
            if sum(sent_arr) - got >= limit:
                if got != seen:
                    seen, seen_at = got, now
                if now - seen_at < STALL_S:
                    time.sleep(0.0002)
                    now = time.monotonic()
                    continue
                seen_at = now
        sock.sendall(batch)
        sent += per_batch
        if sent_arr is not None:
            sent_arr[slot] = sent
        now = time.monotonic()
    c.close()
    res_q.put((name, {"sent": sent}))


def qos1_pub_body(name, ready_q, start_ev, res_q, host, port, topic, payload_size, duration,
                  stamp=False):
    """QoS 1 publisher keeping at most QOS1_WINDOW un-PUBACKed messages in flight; stamp:
    each payload ends with the monotonic_ns it was sent at (flow_sub_body's latency)."""
    c = Conn(host, port, "bench-" + name)
    payload = b"x" * (max(8, payload_size) if stamp else payload_size)
    pkts = [b""] + [publish_packet(topic, payload, 1, pid, c.v5) for pid in range(1, 65536)]
    outstanding = bytearray(65536)
    sock = c.sock
    ready_q.put((name, "ready"))
    _wait_start(name, start_ev)
    sock.settimeout(0.1)
    t_end = time.monotonic() + duration
    next_pid = 1
    sent = acked = 0

    def send(k):
        nonlocal next_pid, sent
        out = []
        for _ in range(k):
            if outstanding[next_pid]:
                raise BenchError("packet id %d still unacknowledged after 65535 sends" % next_pid)
            outstanding[next_pid] = 1
            if stamp:
                p = pkts[next_pid]
                out.append(p[:-8] + struct.pack(">Q", time.monotonic_ns()))
            else:
                out.append(pkts[next_pid])
            next_pid = next_pid + 1 if next_pid < 65535 else 1
        sock.sendall(b"".join(out))
        sent += k

    send(QOS1_WINDOW)
    buf = bytearray(c.buf)
    deadline = t_end + IO_TIMEOUT_S
    while True:
        now = time.monotonic()
        if now >= t_end and sent == acked:
            break
        if now >= deadline:
            raise BenchError("%d PUBACKs missing after the window" % (sent - acked))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        if not data:
            raise BenchError("broker closed the publisher connection")
        buf += data
        k = 0
        got, i = packets(buf)
        for h, s, e in got:
            if h == 0x40 and e - s >= 2:  # 5.0: a reason code and properties may follow
                if e - s > 2 and buf[s + 2] >= 0x80:
                    raise BenchError("PUBACK reason code 0x%02x" % buf[s + 2])
                pid = (buf[s] << 8) | buf[s + 1]
                if not outstanding[pid]:
                    raise BenchError("PUBACK for packet id %d that is not in flight" % pid)
                outstanding[pid] = 0
                k += 1
        del buf[:i]
        acked += k
        if k and time.monotonic() < t_end:
            send(k)
    c.close()
    res_q.put((name, {"sent": sent, "acked": acked}))


def _subscribed(name, ready_q, start_ev, host, port, topic_filter, qos):
    """Connect and subscribe, report ready, wait for the start: (Conn, bytes read ahead)."""
    c = Conn(host, port, "bench-" + name)
    c.subscribe(topic_filter, qos)
    ready_q.put((name, "ready"))
    _wait_start(name, start_ev)
    return c, bytearray(c.buf)


def lat_sub_body(name, ready_q, start_ev, res_q, host, port, topic, count, duration):
    """Latency subscriber: publish-to-delivery time from the timestamp in each payload."""
    c, buf = _subscribed(name, ready_q, start_ev, host, port, topic, 0)
    sock = c.sock
    sock.settimeout(0.2)
    lats = []
    deadline = time.monotonic() + duration + IO_TIMEOUT_S
    while len(lats) < count and time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        now = time.monotonic_ns()
        if not data:
            raise BenchError("broker closed the subscriber connection")
        buf += data
        pubs, i = publishes(buf)
        for h, e, _ in pubs:
            lats.append(now - int.from_bytes(buf[e - 8:e], "big"))
        del buf[:i]
    c.close()
    res_q.put((name, {"lat_ns": lats}))


def lat_pub_body(name, ready_q, start_ev, res_q, host, port, topic, count, payload_size, interval):
    """Latency publisher: one QoS 0 message every interval s with a monotonic_ns stamp."""
    c = Conn(host, port, "bench-" + name)
    head = publish_packet(topic, b"\0" * max(8, payload_size), v5=c.v5)
    head, pad = head[:len(head) - max(8, payload_size)], b"x" * (max(8, payload_size) - 8)
    sock = c.sock
    ready_q.put((name, "ready"))
    _wait_start(name, start_ev)
    t0 = time.monotonic()
    for i in range(count):
        delay = t0 + i * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sock.sendall(head + pad + struct.pack(">Q", time.monotonic_ns()))
    c.close()
    res_q.put((name, {"sent": count}))


def flow_sub_body(name, ready_q, start_ev, res_q, host, port, topic_filter, qos, count,
                  duration, done_ev):
    """Back-pressure subscriber: count PUBLISHes (PUBACK QoS 1) and their latency from the
    stamp each payload ends with, until count arrived (count 0: the window and a drain),
    the broker closed it, or nothing came for IO_TIMEOUT_S; then set done_ev."""
    c, buf = _subscribed(name, ready_q, start_ev, host, port, topic_filter, qos)
    sock = c.sock
    sock.settimeout(0.1)
    lats = []
    t0 = last = time.monotonic()
    t_end = t0 + duration
    in_window = total = 0
    closed = False
    while not count or total < count:
        now = time.monotonic()
        if now - last >= IO_TIMEOUT_S or (not count and now >= t_end and
                                          now - last >= DRAIN_IDLE_S):
            break
        try:
            data = sock.recv(1 << 20)
        except socket.timeout:
            continue
        except ConnectionError:
            data = b""
        if not data:
            closed = True
            break
        ns = time.monotonic_ns()
        last = time.monotonic()
        buf += data
        acks = bytearray()
        pubs, i = publishes(buf)
        for h, e, pid in pubs:
            if h & 0x06:
                acks += bytes((0x40, 2, pid >> 8, pid & 0xFF))
            total += 1
            if last < t_end:
                in_window += 1
            if total % 16 == 0:  # a sample: the parse stays cheaper than the broker
                lats.append(ns - int.from_bytes(buf[e - 8:e], "big"))
        del buf[:i]
        if acks:
            sock.sendall(acks)
    done_ev.set()
    if not closed:
        c.close()
    res_q.put((name, {"total": total, "in_window": in_window, "closed": closed,
                      "elapsed": last - t0, "lat_ns": lats}))


def burst_pub_body(name, ready_q, start_ev, res_q, host, port, topic, payload_size, count):
    """QoS 0 publisher: count messages as fast as the socket takes them (no flow control
    of its own: a broker that reads on regardless must buffer, drop or disconnect)."""
    c = Conn(host, port, "bench-" + name)
    size = max(8, payload_size)
    head = publish_packet(topic, b"\0" * size, v5=c.v5)[:-size]
    pad = b"x" * (size - 8)
    sock = c.sock
    sock.settimeout(IO_TIMEOUT_S * 3)
    ready_q.put((name, "ready"))
    _wait_start(name, start_ev)
    per = max(1, BATCH_BYTES // (len(head) + size))
    sent = 0
    closed = False
    try:
        while sent < count:
            k = min(per, count - sent)
            stamp = head + pad + struct.pack(">Q", time.monotonic_ns())
            sock.sendall(stamp * k)
            sent += k
    except OSError:
        closed = True
    if not closed:
        c.close()
    res_q.put((name, {"sent": sent, "closed": closed}))


def idle_subs_body(name, ready_q, start_ev, res_q, host, port, n, n_filters, done_ev):
    """n clients of n_filters subscriptions each that publish nothing; once done_ev is set,
    how many the broker closed."""
    conns = []
    for i in range(n):
        c = Conn(host, port, "bench-%s-%d" % (name, i))
        for k in range(n_filters):
            c.subscribe("idle/%d/%d/#" % (i, k), 1)
        conns.append(c)
    ready_q.put((name, "ready"))
    _wait_start(name, start_ev)
    done_ev.wait(600)
    closed = 0
    for c in conns:
        c.sock.setblocking(False)
        try:
            if not c.sock.recv(4096):
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        c.close()
    res_q.put((name, {"closed": closed}))


def idle_body(name, ready_q, start_ev, res_q, host, port, n, window):
    """Open n MQTT connections (at most window handshakes at once), then a QoS 0 round trip."""
    ready_q.put((name, "ready"))
    _wait_start(name, start_ev)
    ip, v5 = split_v5(host)
    addr = (ip, port)
    sel = selectors.DefaultSelector()
    opened = []
    accepted = refused = errors = 0
    first_error = None
    pending = 0
    nxt = 0
    tag = "%d" % os.getpid()
    t0 = time.monotonic()
    deadline = t0 + 120
    while accepted + refused + errors < n:
        if time.monotonic() > deadline:
            raise BenchError("idle: only %d of %d connections done after 120 s"
                             % (accepted + refused + errors, n))
        while pending < window and nxt < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex(addr)
            if err not in (0, errno.EINPROGRESS):
                errors += 1
                first_error = first_error or os.strerror(err)
                s.close()
            else:
                sel.register(s, selectors.EVENT_WRITE, [nxt, False, bytearray()])
                pending += 1
            nxt += 1
        for key, _ in sel.select(0.5):
            s, st = key.fileobj, key.data
            done = ok = False
            if not st[1]:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    first_error = first_error or os.strerror(err)
                    done = True
                else:
                    s.send(connect_packet("idle-%s-%d" % (tag, st[0]), v5=v5))
                    st[1] = True
                    sel.modify(s, selectors.EVENT_READ, st)
            else:
                try:
                    data = s.recv(64)
                except OSError as e:
                    first_error = first_error or str(e)
                    data = b""
                if not data:
                    done = True
                else:
                    st[2] += data
                    got = parse_one(st[2])
                    if got is not None:  # a 5.0 CONNACK carries properties too
                        done = True
                        ok = got[0] == 0x20 and got[2] - got[1] >= 2 and \
                            st[2][got[1]:got[1] + 2] == b"\x00\x00"
                        if not ok:
                            first_error = first_error or "CONNACK %r" % bytes(st[2][:got[2]])
            if done:
                sel.unregister(s)
                pending -= 1
                if ok:
                    accepted += 1
                    opened.append(s)
                elif st[1] and st[2]:
                    refused += 1
                    s.close()
                else:
                    errors += 1
                    s.close()
    connect_s = time.monotonic() - t0
    sel.close()
    # With all of them open, a QoS 0 message still goes through.
    try:
        sub = Conn(host, port, "bench-idle-sub-" + tag)
        sub.subscribe("bench/idle/rt", 0)
        pub = Conn(host, port, "bench-idle-pub-" + tag)
        t1 = time.monotonic()
        pub.sock.sendall(publish_packet("bench/idle/rt", b"ping", v5=v5))
        while True:
            hdr, body = sub.read_packet()
            if hdr & 0xF0 == 0x30:
                break
        rt_ms = (time.monotonic() - t1) * 1000
    except (OSError, BenchError) as e:
        raise BenchError("round trip failed (%s: %s) after %d accepted, %d refused, %d errors "
                         "(first error: %s)" % (type(e).__name__, e, accepted, refused, errors,
                                                first_error))
    pub.close()
    sub.close()
    # Count idle connections the broker has not closed meanwhile.
    still_open = 0
    for s in opened:
        try:
            if s.recv(1):
                still_open += 1   # unexpected data, but open
        except BlockingIOError:
            still_open += 1
        except OSError:
            pass
    for s in opened:
        try:
            s.send(DISCONNECT)
        except OSError:
            pass
        s.close()
    res_q.put((name, {"connect_s": connect_s, "accepted": accepted, "refused": refused,
                      "errors": errors, "first_error": first_error, "still_open": still_open,
                      "rt_ms": rt_ms}))


# --- running a group of workers -----------------------------------------------

def _mp_context():
    """fork where available (fast start); the workers are spawn-safe anyway."""
    try:
        return multiprocessing.get_context("fork")
    except ValueError:
        return multiprocessing.get_context()


def run_group(stages, timeout, opt=None):
    """Start stages of (name, worker, args) in order, each stage ready before the next; then
    set start and return {name: result}. Raises BenchError on any worker error or timeout.
    opt: opt.cpu_start is the broker's CPU time (cpu_s) at the start, its clients connected."""
    ctx = _mp_context()
    ready_q, res_q, start_ev = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = []
    names = []
    try:
        for stage in stages:
            for name, fn, args in stage:
                p = ctx.Process(target=run_worker,
                                args=(fn, name, ready_q, start_ev, res_q) + tuple(args),
                                daemon=True)
                p.start()
                procs.append(p)
                names.append(name)
            for _ in stage:
                try:
                    msg = ready_q.get(timeout=30)
                except queue.Empty:
                    raise BenchError("workers not connected after 30 s")
                if msg[1] == "error":
                    raise BenchError(msg[2])
        if opt is not None:
            opt.cpu_start = cpu_s(opt.broker_pid)
        start_ev.set()
        results = {}
        end = time.monotonic() + timeout
        while len(results) < len(names):
            try:
                msg = res_q.get(timeout=max(0.1, end - time.monotonic()))
            except queue.Empty:
                missing = sorted(set(names) - set(results))
                raise BenchError("no result from %s within %.0f s" % (", ".join(missing), timeout))
            if msg[1] == "error":
                raise BenchError(msg[2])
            results[msg[0]] = msg[1]
        return results
    finally:
        start_ev.set()
        for p in procs:
            p.join(timeout=2)
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=2)
            if p.is_alive():
                p.kill()
                p.join(timeout=2)


# --- scenarios ------------------------------------------------------------------
# Each returns (metrics: {key: number}, details: str). A scenario that streams messages
# also returns under MOVED how many the broker took in (PUBACKed, for QoS 1) and sent out:
# run_scenarios turns it into the broker's CPU time per message from the start signal (its
# clients connected and subscribed) to the end (NAME_cpu), which the machine's other load
# moves far less than a rate.
MOVED = "moved"
NAN = float("nan")  # a figure that cannot be had here (shown n/a): not an error


def _flow_arrays(n_pubs, n_subs):
    """Shared counters for QoS 0 flow control: messages sent per publisher, got per subscriber."""
    ctx = _mp_context()
    return ctx.RawArray("q", n_pubs), ctx.RawArray("q", n_subs)


def _fanin(host, pub_port, sub_port, topic, opt):
    """N_FANIN_PUBS QoS 0 publishers on pub_port -> 1 subscriber on sub_port to topic/+:
    (msg/s received in the window, messages in and out, details)."""
    d = opt.duration
    sent_arr, progress = _flow_arrays(N_FANIN_PUBS, 1)
    subs = [("sub", sub_body, (host, sub_port, topic + "/+", 0, d, progress, 0))]
    pubs = [("pub%d" % i, pub_body, (host, pub_port, "%s/%d" % (topic, i), opt.payload, d,
                                     sent_arr, i, progress, QOS0_AHEAD))
            for i in range(N_FANIN_PUBS)]
    r = run_group([subs, pubs], d + DRAIN_MAX_S + 30, opt)
    sent = sum(r[n]["sent"] for n, _, _ in pubs)
    got = r["sub"]
    return (got["in_window"] / d, sent + got["total"],
            "sent %d, received %d in window, %d in all" % (sent, got["in_window"], got["total"]))


def scen_fanin(host, port, opt):
    """4 QoS 0 publishers -> 1 subscriber on bench/in/+ ; msg/s received."""
    rate, n, det = _fanin(host, port, port, "bench/in", opt)
    return {"fanin": rate, MOVED: n}, det


def scen_fanout(host, port, opt):
    """1 QoS 0 publisher -> 4 subscribers on bench/out ; msg/s delivered (sum)."""
    d = opt.duration
    sent_arr, progress = _flow_arrays(1, N_FANOUT_SUBS)
    subs = [("sub%d" % i, sub_body, (host, port, "bench/out", 0, d, progress, i))
            for i in range(N_FANOUT_SUBS)]
    pubs = [("pub", pub_body, (host, port, "bench/out", opt.payload, d,
                               sent_arr, 0, progress, QOS0_AHEAD))]
    r = run_group([subs, pubs], d + DRAIN_MAX_S + 30, opt)
    got = sum(r[n]["in_window"] for n, _, _ in subs)
    total = sum(r[n]["total"] for n, _, _ in subs)
    return ({"fanout": got / d, MOVED: r["pub"]["sent"] + total},
            "sent %d, delivered %d in window, %d in all" % (r["pub"]["sent"], got, total))


def _qos1(host, pub_port, sub_port, topic, opt):
    """1 QoS 1 publisher (window 64) on pub_port -> 1 QoS 1 subscriber on sub_port: (msg/s
    received in the window, % of the PUBACKed received in all, messages in and out, details)."""
    d = opt.duration
    subs = [("sub", sub_body, (host, sub_port, topic, 1, d))]
    pubs = [("pub", qos1_pub_body, (host, pub_port, topic, opt.payload, d))]
    r = run_group([subs, pubs], d + DRAIN_MAX_S + IO_TIMEOUT_S + 30, opt)
    acked = r["pub"]["acked"]
    return (r["sub"]["in_window"] / d, 100.0 * r["sub"]["total"] / acked if acked else 0.0,
            acked + r["sub"]["total"], "sent %d, PUBACKed %d, received %d in window, %d in all"
            % (r["pub"]["sent"], acked, r["sub"]["in_window"], r["sub"]["total"]))


def scen_qos1(host, port, opt):
    """1 QoS 1 publisher (window 64) -> 1 QoS 1 subscriber ; msg/s received."""
    rate, pct, n, det = _qos1(host, port, port, "bench/q1", opt)
    return {"qos1": rate, "qos1_delivered_pct": pct, MOVED: n}, det


def scen_persist(host, port, opt):
    """4 QoS 1 publishers (window 64 each) -> 1 persistent QoS 1 subscriber; msg/s received,
    and bytes the broker wrote to storage per message (/proc/PID/io write_bytes)."""
    d = opt.duration
    subs = [("sub", sub_body, (host, port, "bench/p/+", 1, d, None, 0, False))]
    pubs = [("pub%d" % i, qos1_pub_body, (host, port, "bench/p/%d" % i, opt.payload, d))
            for i in range(N_FANIN_PUBS)]
    w0 = _written(opt.broker_pid)
    r = run_group([subs, pubs], d + DRAIN_MAX_S + IO_TIMEOUT_S + 30)
    w1 = _written(opt.broker_pid)
    acked = sum(r[n]["acked"] for n, _, _ in pubs)
    got = r["sub"]["total"]
    per = (w1 - w0) / got if got and w0 is not None and w1 is not None else None
    return ({"persist": r["sub"]["in_window"] / d, "persist_acked": acked / d,
             "persist_bytes": per},
            "PUBACKed %d, received %d in window, %d in all" % (acked, r["sub"]["in_window"], got))


def _written(pid):
    """Bytes process pid has written to storage so far (None: unknown)."""
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                if line.startswith("write_bytes:"):
                    return int(line.split()[1])
    except (OSError, TypeError):
        return None
    return None
def scen_bridge0(host, port, opt):
    """4 QoS 0 publishers on the edge broker (host:port) -> its bridge -> 1 subscriber on the
    upstream (opt.upstream_port); msg/s received upstream."""
    rate, _, det = _fanin(host, port, opt.upstream_port, "bench/b0", opt)
    return {"bridge0": rate}, det


def scen_bridge1(host, port, opt):
    """1 QoS 1 publisher (window 64) on the edge broker -> its bridge -> 1 QoS 1 subscriber
    on the upstream; msg/s received upstream, and how many of the PUBACKed arrived."""
    rate, pct, _, det = _qos1(host, port, opt.upstream_port, "bench/b1/x", opt)
    return {"bridge1": rate, "bridge1_pct": pct}, det


def scen_burst(host, port, opt):
    """BURST_IDLE idle clients of 4 subscriptions; 1 QoS 0 publisher sends opt.count
    messages as fast as it can to 1 subscriber on b/#: all delivered, nobody cut off?"""
    done = _mp_context().Event()
    subs = [("sub", flow_sub_body, (host, port, "b/#", 0, opt.count, 0, done)),
            ("idle", idle_subs_body, (host, port, BURST_IDLE, 4, done))]
    pubs = [("pub", burst_pub_body, (host, port, "b/x", opt.payload, opt.count))]
    r = run_group([subs, pubs], 600, opt)
    got = r["sub"]
    cut = r["idle"]["closed"] + got["closed"] + r["pub"]["closed"]
    return ({"burst_pct": 100.0 * got["total"] / opt.count,
             "burst_rate": got["total"] / got["elapsed"] if got["elapsed"] else 0.0,
             "burst_cut": cut, MOVED: r["pub"]["sent"] + got["total"]},
            "sent %d, received %d in %.2f s, clients closed by the broker %d"
            % (r["pub"]["sent"], got["total"], got["elapsed"], cut))


def scen_q1fanin(host, port, opt):
    """4 QoS 1 publishers (window 64) -> 1 QoS 1 subscriber: rate, delivered of PUBACKed, p99."""
    d = opt.duration
    done = _mp_context().Event()
    subs = [("sub", flow_sub_body, (host, port, "bench/q1in/+", 1, 0, d, done))]
    pubs = [("pub%d" % i, qos1_pub_body, (host, port, "bench/q1in/%d" % i, opt.payload, d,
                                          True)) for i in range(N_FANIN_PUBS)]
    r = run_group([subs, pubs], d + DRAIN_MAX_S + 2 * IO_TIMEOUT_S + 30, opt)
    acked = sum(r[n]["acked"] for n, _, _ in pubs)
    got = r["sub"]
    lats = sorted(got["lat_ns"]) or [0]
    p99 = lats[max(0, -(-len(lats) * 99 // 100) - 1)] / 1e6
    log("bench:   q1fanin latency p50 %.3f ms" % (lats[len(lats) // 2] / 1e6))
    return ({"q1fanin": got["in_window"] / d,
             "q1fanin_pct": 100.0 * got["total"] / acked if acked else 0.0,
             "q1fanin_p99": p99, MOVED: acked + got["total"]},
            "PUBACKed %d, received %d in window, %d in all, subscriber closed by the broker: %s"
            % (acked, got["in_window"], got["total"], got["closed"]))


def scen_latency(host, port, opt):
    """QoS 0 message every 1 ms, 1 pub -> 1 sub ; p50/p99 publish-to-delivery."""
    count = max(100, min(LATENCY_MAX_MSGS, int(opt.duration * 1000)))
    interval = 0.001
    subs = [("sub", lat_sub_body, (host, port, "bench/lat", count, count * interval))]
    pubs = [("pub", lat_pub_body, (host, port, "bench/lat", count, opt.payload, interval))]
    r = run_group([subs, pubs], count * interval + IO_TIMEOUT_S + 30)
    lats = sorted(r["sub"]["lat_ns"])
    if not lats:
        raise BenchError("no latency message arrived")

    def pct(p):
        return lats[max(0, -(-len(lats) * p // 100) - 1)] / 1e6

    return ({"latency_p50": pct(50), "latency_p99": pct(99)},
            "%d of %d messages, max %.2f ms" % (len(lats), count, lats[-1] / 1e6))


def scen_idle(host, port, opt):
    """1000 idle connections: time to connect all, all accepted, QoS 0 still flows."""
    r = run_group([[("idle", idle_body, (host, port, IDLE_CONNS, 64))]], 200)["idle"]
    det = "accepted %d, refused %d, errors %d, still open after round trip %d" % (
        r["accepted"], r["refused"], r["errors"], r["still_open"])
    if r["first_error"]:
        det += ", first error: %s" % r["first_error"]
    return ({"idle_connect_s": r["connect_s"], "idle_accepted": r["accepted"],
             "idle_rt_ms": r["rt_ms"]}, det)


HIGHER, LOWER = "higher", "lower"


def cpu_row(name):
    """The row of scenario name's broker CPU time per message in or out (MOVED)."""
    return (name + "_cpu", "%s: broker CPU per message in or out (us)" % name, LOWER, "%.2f")


# name: (function, [(metric key, label, better, format)])
SCENARIOS = {
    "fanin": (scen_fanin, [
        ("fanin", "fanin: QoS 0, 4 pubs -> 1 sub on bench/in/+ (msg/s)", HIGHER, "%.0f"),
        cpu_row("fanin")]),
    "fanout": (scen_fanout, [
        ("fanout", "fanout: QoS 0, 1 pub -> 4 subs (msg/s delivered)", HIGHER, "%.0f"),
        cpu_row("fanout")]),
    "qos1": (scen_qos1, [
        ("qos1", "qos1: QoS 1, window 64, 1 pub -> 1 sub (msg/s)", HIGHER, "%.0f"),
        ("qos1_delivered_pct", "qos1: delivered of PUBACKed, incl. after window (%)",
         HIGHER, "%.1f"),
        cpu_row("qos1")]),
    "persist": (scen_persist, [
        ("persist", "persist: QoS 1, 4 pubs -> 1 persistent sub (msg/s received)", HIGHER,
         "%.0f"),
        ("persist_acked", "persist: PUBACKs to the publishers (msg/s)", HIGHER, "%.0f"),
        ("persist_bytes", "persist: bytes written to storage per message", LOWER, "%.0f")]),
    "bridge0": (scen_bridge0, [
        ("bridge0", "bridge0: QoS 0, 4 local pubs -> bridge -> 1 upstream sub (msg/s upstream)",
         HIGHER, "%.0f")]),
    "bridge1": (scen_bridge1, [
        ("bridge1", "bridge1: QoS 1, window 64, 1 local pub -> bridge -> 1 upstream sub "
         "(msg/s upstream)", HIGHER, "%.0f"),
        ("bridge1_pct", "bridge1: delivered upstream of PUBACKed (%)", HIGHER, "%.1f")]),
    "burst": (scen_burst, [
        ("burst_pct", "burst: QoS 0 as fast as sent, 1 pub -> 1 sub, delivered (%)", HIGHER,
         "%.1f"),
        ("burst_rate", "burst: delivered (msg/s)", HIGHER, "%.0f"),
        ("burst_cut", "burst: clients disconnected by the broker", LOWER, "%d"),
        cpu_row("burst")]),
    "q1fanin": (scen_q1fanin, [
        ("q1fanin", "q1fanin: QoS 1, 4 pubs (window 64) -> 1 sub (msg/s)", HIGHER, "%.0f"),
        ("q1fanin_pct", "q1fanin: delivered of PUBACKed (%)", HIGHER, "%.1f"),
        ("q1fanin_p99", "q1fanin: latency p99 (ms)", LOWER, "%.3f"),
        cpu_row("q1fanin")]),
    "latency": (scen_latency, [
        ("latency_p50", "latency: QoS 0 every 1 ms, p50 (ms)", LOWER, "%.3f"),
        ("latency_p99", "latency: QoS 0 every 1 ms, p99 (ms)", LOWER, "%.3f")]),
    "idle": (scen_idle, [
        ("idle_connect_s", "idle: connect 1000 clients (s)", LOWER, "%.3f"),
        ("idle_accepted", "idle: connections accepted (of 1000)", HIGHER, "%d"),
        ("idle_rt_ms", "idle: QoS 0 round trip with 1000 open (ms)", LOWER, "%.3f")]),
}
DEFAULT_SCENARIOS = "fanin,fanout,qos1,latency,idle"
RSS_METRIC = ("rss_mib", "broker peak RSS, VmHWM (MiB)", LOWER, "%.1f")


# --- brokers ---------------------------------------------------------------------

def free_port():
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid):
    """CPU seconds the threads of process pid have run so far, or None (pid None, or no
    /proc). From schedstat (nanoseconds): /proc/PID/stat's clock ticks (10 ms) are too
    coarse for a burst of 20,000 messages."""
    try:
        ns = 0
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                ns += int(f.read().split()[0])
        return ns / 1e9
    except (OSError, TypeError, ValueError, IndexError):
        return None


def peak_rss_mib(pid):
    """VmHWM of pid in MiB, or None if it cannot be read."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


class Broker:
    """A broker process started on a free loopback port for the benchmark."""

    def __init__(self, label, argv_template, mosquitto_conf=False, extra_conf=""):
        self.label = label
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="bench-")
        self.conf = os.path.join(self.tmp, "broker.conf")
        with open(self.conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\n%s"
                    % (self.port, extra_conf.replace("{tmp}", self.tmp)))
        os.chmod(self.tmp, 0o755)   # readable whichever user the broker runs as
        os.chmod(self.conf, 0o644)
        argv = [a.replace("{port}", str(self.port)).replace("{conf}", self.conf)
                for a in argv_template]
        if not mosquitto_conf and not any("{port}" in a or "{conf}" in a for a in argv_template):
            argv += ["-c", self.conf] if extra_conf.strip() else ["-p", str(self.port)]
        self.argv = argv
        self.log_path = os.path.join(self.tmp, "broker.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_listening()

    def _wait_listening(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError("%s exited with %d at start: %s\n%s" % (
                    self.label, self.proc.returncode, " ".join(self.argv), self.log_tail()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BenchError("%s not listening on port %d after 20 s: %s\n%s" % (
            self.label, self.port, " ".join(self.argv), self.log_tail()))

    def log_tail(self, n=2000):
        """Last bytes of the broker's output."""
        self.log.flush()
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def alive(self):
        """True while the broker process runs."""
        return self.proc.poll() is None

    def peak_rss(self):
        """Peak resident set size so far, MiB."""
        return peak_rss_mib(self.proc.pid)

    def stop(self):
        """Terminate the broker and clean up its files."""
        terminate(self.proc)
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)  # config, log, persistence files


def board_argv(board, heap, tmp):
    """argv that runs this broker as a board does: board.main on the MicroPython unix port
    with a board-sized heap, from .mpy files built as tools/deploy.py builds them, reading
    {conf} (the board's config with the bench's loopback listener); no Wi-Fi, no NTP."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import deploy
    try:
        deploy.compile_modules(deploy.needed_modules(), tmp)
    except deploy.DeployError as e:
        raise BenchError(str(e))
    net = os.path.join(tmp, "network.json")
    with open(net, "w") as f:
        json.dump({"ssid": "bench", "ntp_host": ""}, f)
    mp = deploy.tool("micropython")
    if mp is None:
        raise BenchError("micropython not found (.venv/bin or PATH): run tools/test.sh")
    code = ("import sys\nsys.path[:0] = [%r]\n%s\nimport board\n"
            "board.CONF = '{conf}'\nboard.NETWORK = %r\nboard.main(_buf)\n"
            % (os.path.join(tmp, "lib"), deploy.RECV_LINE, net))
    return [mp, "-X", "heapsize=" + heap, "-c", code]


def raise_nofile(need):
    """Raise the soft open-file limit (inherited by brokers we start) to at least need."""
    if resource is None:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


# --- driver --------------------------------------------------------------------------

def log(msg):
    """Progress on stderr; stdout carries only the table."""
    print(msg, file=sys.stderr, flush=True)


def run_scenarios(host, port, names, opt, broker=None):
    """Run the named scenarios against host:port: {metric key: value or None}, {name: details}."""
    values, details = {}, {}
    opt.broker_pid = broker.proc.pid if broker is not None else opt.pid
    for name in run_order(names):
        base, suffix = split_name(name)
        fn = SCENARIOS[base][0]
        log("bench: %s on %s:%d ..." % (name, host, port))
        opt.cpu_start = None
        try:
            vals, det = fn(V5 + host if suffix else host, port, opt)
            n = vals.pop(MOVED, None)
            if n is not None:  # the broker's CPU time per message, from the start to the end
                cpu0, cpu1 = opt.cpu_start, cpu_s(opt.broker_pid)  # (drain included)
                vals[base + "_cpu"] = (cpu1 - cpu0) * 1e6 / n if cpu0 is not None and n else NAN
            values.update((k + suffix, v) for k, v in vals.items())
            details[name] = det
        except (BenchError, OSError) as e:
            for key, _, _, _ in scenario_rows(name):
                values[key] = None
            details[name] = "error: %s" % e
            if broker is not None and not broker.alive():
                details[name] += " (broker exited with %s)\n%s" % (
                    broker.proc.returncode, broker.log_tail(800))
        log("bench:   %s" % details[name])
        time.sleep(0.3)   # let the broker settle between scenarios
    return values, details


def run_order(names):
    """names in the order they run: of each scenario run with 3.1.1 and then 5.0 clients
    (--v5), every other pair the other way round, so that neither protocol always runs
    second on a broker (the second of two scenarios often got the lower rate)."""
    out = list(names)
    k = 0
    for i in range(len(out) - 1):
        if out[i + 1] == out[i] + V5_SUFFIX:
            if k % 2:
                out[i], out[i + 1] = out[i + 1], out[i]
            k += 1
    return out


def fmt(value, f):
    """Format a metric value, or 'error' (None), or 'n/a' (NAN)."""
    if value is None:
        return "error"
    return "n/a" if value != value else f % value  # NAN: not to be had here


def ratio(ours, theirs, better):
    """ours relative to theirs, >1 meaning ours is better."""
    if ours is None or theirs is None or not ours > 0 or not theirs > 0:  # NAN too
        return "n/a"
    return "%.2f" % (ours / theirs if better == HIGHER else theirs / ours)


def split_name(name):
    """(scenario, "" or V5_SUFFIX) of a scenario name, e.g. "qos1@v5" -> ("qos1", "@v5")."""
    base, at, _ = name.partition(V5_SUFFIX)
    return base, V5_SUFFIX if at else ""


def scenario_rows(name):
    """The metric descriptors of scenario name; of its MQTT 5.0 run ("qos1@v5": keys end
    in @v5, labels say v5 before the colon)."""
    base, suffix = split_name(name)
    rows = SCENARIOS[base][1]
    if not suffix:
        return rows
    return [(k + suffix, label.replace(":", " v5:", 1), better, f)
            for k, label, better, f in rows]


def metric_rows(names):
    """The metric descriptors of the selected scenarios, in order."""
    rows = []
    for n in names:
        rows.extend(scenario_rows(n))
    return rows


def print_v5_ratios(names, results, heads):
    """Markdown table: each metric's MQTT 5.0 value over its 3.1.1 value (>1: 5.0 better),
    for each broker's (values, details) in results, headed heads."""
    print("| metric | %s |" % " | ".join("%s: 5.0 / 3.1.1" % h for h in heads))
    print("|---|%s" % ("---|" * len(heads)))
    for n in names:
        if split_name(n)[1]:
            continue
        for (key, label, better, f), (key5, _, _, _) in zip(scenario_rows(n),
                                                            scenario_rows(n + V5_SUFFIX)):
            print("| %s | %s |" % (label, " | ".join(ratio(r[0].get(key5), r[0].get(key), better)
                                                    for r in results)))
    print()


def print_single(names, values, details, rss=None):
    """Markdown table for one broker."""
    print("| metric | result | details |")
    print("|---|---|---|")
    for n in names:
        for i, (key, label, _, f) in enumerate(scenario_rows(n)):
            print("| %s | %s | %s |" % (label, fmt(values.get(key), f),
                                        details.get(n, "") if i == 0 else ""))
    if rss is not None:
        print("| %s | %s | |" % (RSS_METRIC[1], fmt(rss, RSS_METRIC[3])))


def print_two(rows, heads, first, second, second_over_first=False):
    """Markdown table: metric | heads[0] | heads[1] | heads[2] (the ratio column); the
    ratio is first's over second's, or second's over first's."""
    print("| metric | %s | %s | %s |" % heads)
    print("|---|---|---|---|")
    for key, label, better, f in rows:
        a, b = first[0].get(key), second[0].get(key)
        r = ratio(b, a, better) if second_over_first else ratio(a, b, better)
        print("| %s | %s | %s | %s |" % (label, fmt(a, f), fmt(b, f), r))
    print()


def print_compare(names, ours, theirs, opt):
    """Markdown table: metric | this broker | mosquitto | ratio."""
    print_two(metric_rows(names) + [RSS_METRIC],
              ("this broker", "mosquitto", "ratio (>1: this broker better)"), ours, theirs)
    print("ratio = this/mosquitto for rates and counts, mosquitto/this for times and memory. "
          "duration %.2f s per scenario, payload %d bytes, load generator and broker share "
          "%d CPUs; mosquitto set_tcp_nodelay %s."
          % (opt.duration, opt.payload, os.cpu_count() or 0,
             "true" if opt.mosquitto_nodelay else "false (its default)"))
    if opt.bridge:
        print("Each broker is the edge: the load publishes to it and it bridges out to the same "
              "upstream mosquitto 2.0.11, where one subscriber counts what arrives; the edge's "
              "bridge: `%s`. Each scenario ran %d times on each edge, in the order ABBAABBA: "
              "the median of each is shown." % ((BRIDGE_CONF % (0, "bench-edge-NAME")).strip()
                                           .replace(":0", ":PORT").replace("\n", "` / `"),
                                           BRIDGE_REPEAT))
    for label, (_, det) in (("this broker", ours), ("mosquitto", theirs)):
        for n in names:
            print("- %s, %s: %s" % (label, n, det.get(n, "")))


def bench_broker(label, argv, names, opt, mosquitto_conf=False, extra_conf="", ready=None):
    """Start a broker, run the scenarios on it (after ready(broker), if given), record its
    peak RSS, stop it."""
    log("bench: starting %s: %s" % (label, " ".join(argv)))
    b = Broker(label, argv, mosquitto_conf, extra_conf)
    try:
        if ready is not None:
            ready(b)
        values, details = run_scenarios("127.0.0.1", b.port, names, opt, b)
        values["rss_mib"] = b.peak_rss()
    finally:
        b.stop()
    return values, details


# --- bridge: local publishers -> the edge broker's bridge -> an upstream mosquitto ----------

BRIDGE_SCENARIOS = ("bridge0", "bridge1")
BRIDGE_CONF = ("connection bench\naddress 127.0.0.1:%d\nremote_clientid %s\ncleansession true\n"
               "topic bench/b0/# out 0\ntopic bench/b1/# out 1\n")
BRIDGE_PROBE = "bench/b1/probe"
BRIDGE_UP_S = 20.0
BRIDGE_REPEAT = 4  # runs of each scenario on each edge (ABBAABBA): the medians are shown


def wait_bridged(edge, upstream_port):
    """Until a QoS 1 message published on edge (a Broker) reaches a subscriber on the
    upstream: its bridge is connected. One probe every 0.5 s: a bridge with a clean
    session keeps nothing published before it connects."""
    sub = Conn("127.0.0.1", upstream_port, "bench-probe-sub")
    pub = Conn("127.0.0.1", edge.port, "bench-probe-pub")
    try:
        sub.subscribe(BRIDGE_PROBE, 1)
        sub.sock.settimeout(0.5)
        deadline = time.monotonic() + BRIDGE_UP_S
        pid = 0
        while time.monotonic() < deadline:
            pid += 1
            pub.sock.sendall(publish_packet(BRIDGE_PROBE, b"probe", 1, pid))
            try:
                while sub.read_packet()[0] & 0xF0 != 0x30:
                    pass
                return
            except socket.timeout:
                continue
        raise BenchError("%s's bridge forwarded nothing within %.0f s\n%s"
                         % (edge.label, BRIDGE_UP_S, edge.log_tail()))
    finally:
        sub.close()
        pub.close()


def bench_bridge(argv, opt):
    """The bridge scenarios on this broker and on mosquitto, each bridging out to the same
    upstream mosquitto (started first, stopped last): [(values, details)] of each. Both
    edges are started and bridged first, then each scenario runs BRIDGE_REPEAT times on
    each, in the order ABBAABBA, and its values are each edge's medians: the load of a
    shared machine drifts, so the two rates of a ratio are seconds apart rather than a
    whole set of scenarios (an idle edge costs nothing), and a run's place in the series
    mattered (this broker in both slots, alternately A then B: B's median rate 1.6 and
    1.7 times A's in 2 of 3 series; ABBA: the second run of a pair faster in 10 of 12)."""
    log("bench: starting the upstream mosquitto")
    # no queue limit upstream: its subscriber may read slower than a bridge forwards, and
    # what the upstream would drop for it is not the edge's doing
    up = Broker("upstream mosquitto", [MOSQUITTO, "-c", "{conf}"], True,
                "max_queued_messages 0\n")
    opt.upstream_port = up.port
    edges = []
    try:
        for label, cmd, mosq, own in (("this broker", argv, False, opt.ours_conf),
                                      ("mosquitto", [MOSQUITTO, "-c", "{conf}"], True,
                                       opt.mosquitto_conf)):
            conf = opt.conf_text + BRIDGE_CONF % (up.port, "bench-edge-" + label.split()[0])
            log("bench: starting %s: %s" % (label, " ".join(cmd)))
            edges.append(Broker(label, cmd, mosq, conf + own))
            wait_bridged(edges[-1], up.port)
        results = [({}, {}) for _ in edges]
        for name in opt.names:
            runs = [[] for _ in edges]
            for k in range(BRIDGE_REPEAT):
                pairs = list(zip(edges, runs))
                for b, r in pairs if k % 2 == 0 else pairs[::-1]:  # ABBA...
                    r.append(run_scenarios("127.0.0.1", b.port, [name], opt, b))
            for (values, details), r in zip(results, runs):
                for key in r[0][0]:
                    got = sorted(v[key] for v, _ in r if v[key] is not None)
                    n = len(got)
                    values[key] = (got[(n - 1) // 2] + got[n // 2]) / 2 if n == len(r) else None
                details[name] = "; ".join(d[name] for _, d in r)
        for b, (values, _) in zip(edges, results):
            values["rss_mib"] = b.peak_rss()
    finally:
        for b in edges:
            b.stop()
        up.stop()
    return results


# --- capture: the broker's cost of recording every event (tools/capture_sink.py) ---------

# latency first: the sink's backlog after fan-in would share the CPUs with the latency run
CAPTURE_SCENARIOS = ("latency", "fanin")
# "sink reading": tools/capture_sink.py --count reads every byte and checks every record's
# sequence number (gaps are counted), without parsing each record as JSON
CAPTURE_MODES = (("off", None), ("on, sink reading", ("--count",)),
                 ("on, sink black-holed", ("--blackhole",)))


class CaptureSink:
    """tools/capture_sink.py on a free port (records discarded: --quiet)."""

    def __init__(self, args):
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tools", "capture_sink.py"), "--port", "0",
             "--quiet"] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self.err)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("listening on"):
            self.stop()
            raise BenchError("capture_sink.py did not start: %r" % line)
        self.port = int(line.split()[-1])
        self.summary = None

    def stop(self):
        """Stop the sink; its summary (records, per-broker gaps) is then in self.summary."""
        terminate(self.proc)
        self.proc.stdout.close()
        self.err.seek(0)
        lines = self.err.read().decode(errors="replace").strip().splitlines()
        self.err.close()
        try:
            self.summary = json.loads(lines[-1])
        except (IndexError, ValueError):
            self.summary = None

    def describe(self):
        """What the sink got: records, and records lost (sequence gaps) and duplicated."""
        s = self.summary
        if not s:
            return "sink summary unavailable"
        gaps = sum(b["gaps"] for b in s["brokers"].values())
        reps = sum(b["repeats"] for b in s["brokers"].values())
        dropped = max([b["dropped_reported"] for b in s["brokers"].values()] or [0])
        return ("sink got %d records (%d invalid), %d missing by sequence (broker reported %d "
                "dropped), %d repeated" % (s["records"], s["invalid"], gaps, dropped, reps))


def bench_capture(argv, opt):
    """Run fanin and latency with capture off, on, and on with a black-holed receiver."""
    names = [n for n in opt.names if n in CAPTURE_SCENARIOS] or list(CAPTURE_SCENARIOS)
    if not any("{conf}" in a for a in argv):
        if any("{port}" in a for a in argv):
            raise BenchError("--capture needs {conf} in --broker-cmd (capture is configured "
                             "in the config file)")
        argv = list(argv) + ["-c", "{conf}"]
    results = []
    for label, sink_args in CAPTURE_MODES:
        sink = None
        extra = ""
        if sink_args is not None:
            sink = CaptureSink(sink_args)
            extra = ("capture_address 127.0.0.1:%d\ncapture_events all\n"
                     "capture_stats_interval 0\n" % sink.port)
        try:
            results.append(bench_broker("capture " + label, argv, names, opt,
                                        extra_conf=extra))
        finally:
            if sink is not None:
                sink.stop()
        if sink is not None and "--blackhole" not in sink_args:
            results[-1][1]["sink"] = sink.describe()
            log("bench:   %s" % results[-1][1]["sink"])
    return results


def print_capture(results, opt):
    """Markdown table: metric per capture mode, and the ratio to capture off."""
    names = [n for n in opt.names if n in CAPTURE_SCENARIOS] or list(CAPTURE_SCENARIOS)
    labels = [l for l, _ in CAPTURE_MODES]
    print("| metric | " + " | ".join("capture " + l for l in labels) +
          " | on / off | black-holed / off |")
    print("|---" * (len(labels) + 3) + "|")
    for key, label, better, f in metric_rows(names) + [RSS_METRIC]:
        vals = [r[0].get(key) for r in results]
        rel = []
        for v in vals[1:]:
            if v is None or vals[0] is None or not vals[0]:
                rel.append("n/a")
            else:
                rel.append("%.2f" % (v / vals[0]))
        print("| %s | %s | %s |" % (label, " | ".join(fmt(v, f) for v in vals), " | ".join(rel)))
    print()
    print("capture_events all, capture_payload none (ecs), default queue 256 KB; every publish "
          "makes one record. Targets: fan-in on/off >= 0.5; p99 black-holed/off <= 2. "
          "duration %.2f s per scenario, payload %d bytes, load generator, sink and broker "
          "share %d CPUs. Sink reading: tools/capture_sink.py --count (reads every byte, checks "
          "every record's sequence number, does not parse records as JSON)."
          % (opt.duration, opt.payload, os.cpu_count() or 0))
    for (label, _), (_, det) in zip(CAPTURE_MODES, results):
        for n in names:
            print("- capture %s, %s: %s" % (label, n, det.get(n, "")))
        if "sink" in det:
            print("- capture %s, sink over all scenarios: %s" % (label, det["sink"]))


# --- persistence: the cost of acknowledged-means-durable (group commit) ----------------

# no in-flight limit towards the subscriber: the broker, not the subscriber's round trips,
# sets the rate (with 20 in flight both brokers drop most messages at their queue limit)
FLOW_CONF = "max_inflight_messages 0\n"
PERSIST_CONF = FLOW_CONF + "persistence true\npersistence_location {tmp}/\n"
PERSIST_RUNS = (("this broker, persistence false", False, FLOW_CONF),
                ("this broker, persistence true", False, PERSIST_CONF),
                ("mosquitto, persistence false", True, FLOW_CONF),
                ("mosquitto, persistence true", True, PERSIST_CONF))


def bench_persistence(argv, opt):
    """The persist scenario on this broker and mosquitto, persistence off and on."""
    if not any("{conf}" in a for a in argv):
        argv = list(argv) + ["-c", "{conf}"]
    opt.names = ["persist"]
    results = []
    for label, mosq, extra in PERSIST_RUNS:
        cmd = [MOSQUITTO, "-c", "{conf}"] if mosq else argv
        results.append(bench_broker(label, cmd, opt.names, opt, mosq, extra))
    return results


def print_persistence(results, opt):
    """Markdown table: one column per run, and this broker's on/off ratio."""
    print("| metric | " + " | ".join(l for l, _, _ in PERSIST_RUNS) + " | this broker on / off |")
    print("|---" * (len(PERSIST_RUNS) + 2) + "|")
    for key, label, better, f in metric_rows(opt.names) + [RSS_METRIC]:
        vals = [r[0].get(key) for r in results]
        rel = "%.2f" % (vals[1] / vals[0]) if vals[0] and vals[1] is not None else "n/a"
        print("| %s | %s | %s |" % (label, " | ".join(fmt(v, f) for v in vals), rel))
    print()
    print("mosquitto's persistence writes a snapshot every autosave_interval (1800 s by "
          "default) and at exit, nothing per message: what it acknowledged since is lost on "
          "a crash. This broker with persistence true sends each PUBACK after the fsync of "
          "its records (a batch per loop turn, up to 3 syncs at once). duration %.2f s, payload %d bytes, load "
          "generator and broker share %d CPUs." % (opt.duration, opt.payload,
                                                    os.cpu_count() or 0))
    for (label, _, _), (_, det) in zip(PERSIST_RUNS, results):
        print("- %s: %s" % (label, det.get("persist", "")))


RESTART_RETAINED = 100000
RESTART_SESSIONS = 1000
RESTART_QUEUED = 10  # per session
RESTART_CHUNK = 1000  # packets per write while filling
RESTART_RUNS = (("this broker", False), ("mosquitto", True))


def _pingpong(c):
    """PINGREQ, then read until its PINGRESP: the broker has handled what was sent before."""
    c.sock.sendall(b"\xc0\x00")
    while c.read_packet()[0] != 0xD0:
        pass


def fill_restart_state(port):
    """Through MQTT, as clients would: RESTART_RETAINED retained messages, RESTART_SESSIONS
    persistent sessions with one QoS 1 subscription each (offline), RESTART_QUEUED QoS 1
    messages queued for each (every PUBACK received)."""
    payload = b"x" * 32
    pub = Conn("127.0.0.1", port, "bench-fill")
    for i in range(0, RESTART_RETAINED, RESTART_CHUNK):
        pub.sock.sendall(b"".join(
            packet(0x31, mqtt_str("bench/r/%d/%d" % (k // 1000, k % 1000)) + payload)
            for k in range(i, i + RESTART_CHUNK)))
    _pingpong(pub)
    for i in range(RESTART_SESSIONS):
        c = Conn("127.0.0.1", port, "bench-s%d" % i, clean=False)
        c.subscribe("bench/q/%d" % i, 1)
        c.close()
    pid = 0
    total = RESTART_SESSIONS * RESTART_QUEUED
    acked = 0
    for i in range(0, total, RESTART_CHUNK):
        pkts = []
        for k in range(i, min(total, i + RESTART_CHUNK)):
            pid = pid % 65535 + 1
            pkts.append(publish_packet("bench/q/%d" % (k % RESTART_SESSIONS), payload, 1, pid))
        pub.sock.sendall(b"".join(pkts))
        while acked < min(total, i + RESTART_CHUNK):
            if pub.read_packet()[0] == 0x40:
                acked += 1
    pub.close()


def _used(path):
    """Bytes of file path without the zeros at its end (this broker's journal reserves
    space ahead of its writes)."""
    with open(path, "rb") as f:
        return len(f.read().rstrip(b"\0"))


def restart_one(argv, mosq, keep):
    """Fill a broker with the state, stop it (it saves its files), start it again on them:
    (seconds from start to accepting connections, bytes of its files)."""
    extra = "persistence true\npersistence_location %s/\nsys_interval 0\n" % keep
    if not mosq:
        extra += "max_queued_messages 1000\n"  # mosquitto's default, for the same state
    b = Broker("fill", argv, mosq, extra)
    try:
        fill_restart_state(b.port)
    finally:
        b.stop()
    size = sum(_used(os.path.join(keep, n)) for n in os.listdir(keep))
    t0 = time.monotonic()
    b = Broker("restart", argv, mosq, extra)
    took = time.monotonic() - t0
    try:  # the state is back: a session's queued messages arrive when it resumes
        c = Conn("127.0.0.1", b.port, "bench-s%d" % (RESTART_SESSIONS - 1), clean=False)
        got = 0
        while got < RESTART_QUEUED:
            if c.read_packet()[0] & 0xF0 == 0x30:
                got += 1
        c.close()
    finally:
        b.stop()
    return took, size


def bench_restart(argv, opt):
    """Start-up time of this broker and of mosquitto on persistence files holding the same
    state (RESTART_RETAINED retained messages, RESTART_SESSIONS sessions with RESTART_QUEUED
    queued messages each): [(label, seconds, bytes of files)]."""
    if not any("{conf}" in a for a in argv):
        argv = list(argv) + ["-c", "{conf}"]
    out = []
    for label, mosq in RESTART_RUNS:
        keep = tempfile.mkdtemp(prefix="bench-restart-")
        os.chmod(keep, 0o777)  # writable whichever user the broker runs as
        try:
            log("bench: %s: filling %d retained, %d sessions x %d queued" % (
                label, RESTART_RETAINED, RESTART_SESSIONS, RESTART_QUEUED))
            took, size = restart_one([MOSQUITTO, "-c", "{conf}"] if mosq else argv, mosq, keep)
        finally:
            shutil.rmtree(keep, ignore_errors=True)
        log("bench:   restarted in %.2f s on %d bytes of files" % (took, size))
        out.append((label, took, size))
    return out


def bench_websockets(argv, names, opt):
    """This broker once, with a TCP and a WebSockets listener: the scenarios over each."""
    ws_port = free_port()
    log("bench: starting this broker with a websockets listener on %d" % ws_port)
    if not any("{conf}" in a for a in argv):
        argv = list(argv) + ["-c", "{conf}"]
    b = Broker("this broker", argv, extra_conf="listener %d 127.0.0.1\nprotocol websockets\n"
               % ws_port)
    try:
        tcp = run_scenarios("127.0.0.1", b.port, names, opt, b)
        ws = run_scenarios(WS + "127.0.0.1", ws_port, names, opt, b)
        tcp[0]["rss_mib"] = ws[0]["rss_mib"] = b.peak_rss()
    finally:
        b.stop()
    return tcp, ws


def print_websockets(names, tcp, ws, opt):
    """Markdown table: metric | TCP | WebSockets | WebSockets / TCP."""
    print_two(metric_rows(names), ("TCP", "WebSockets", "WebSockets / TCP"), tcp, ws, True)
    print("The same broker process (CPython port) in one run, its TCP listener then its "
          "websockets listener; duration %.2f s per scenario, payload %d bytes, load generator "
          "(one masked binary frame per write) and broker share %d CPUs."
          % (opt.duration, opt.payload, os.cpu_count() or 0))
    for label, (_, det) in (("TCP", tcp), ("WebSockets", ws)):
        for n in names:
            print("- %s, %s: %s" % (label, n, det.get(n, "")))


def parse_args(argv):
    """Command line."""
    p = argparse.ArgumentParser(description="MQTT broker benchmark (raw sockets, no assertions).")
    p.add_argument("--host", default="127.0.0.1", help="broker host (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=1883, help="broker port (default 1883)")
    p.add_argument("--pid", type=int,
                   help="broker PID, to report its peak RSS (single-broker mode)")
    p.add_argument("--broker-cmd",
                   help="command that starts the broker under test; {port} and {conf} "
                        "(a mosquitto-style file: listener PORT 127.0.0.1, allow_anonymous true) "
                        "are substituted; without either, '-p PORT' is appended. "
                        "Default: python ports/cpython/main.py -p PORT")
    for flag, text in (
            ("--compare", "start this broker and Debian's mosquitto on free ports and compare "
                          "them"),
            ("--capture", "start this broker three times (capture off, on, on with a "
                          "black-holed receiver) and compare fan-in throughput and latency"),
            ("--websockets", "run the QoS 0 and QoS 1 scenarios (%s) on this broker over TCP "
                             "and over a websockets listener, and compare"
                             % ", ".join(WS_SCENARIOS)),
            ("--mosquitto-nodelay", "add 'set_tcp_nodelay true' to mosquitto's config (its "
                                    "default is off: Nagle's algorithm then delays small "
                                    "messages by up to ~40 ms)"),
            ("--bridge", "run the bridge scenarios (%s) on this broker and on mosquitto, "
                         "each bridging out (connection ... topic ... out) to one upstream "
                         "mosquitto where a subscriber counts what arrives"
                         % ", ".join(BRIDGE_SCENARIOS)),
            ("--persistence", "run the persist scenario on this broker and on mosquitto, each "
                              "with persistence false and true"),
            ("--restart", "time the start of this broker and of mosquitto on persistence "
                          "files holding %d retained messages and %d sessions with %d queued "
                          "messages each (made through MQTT)"
                          % (RESTART_RETAINED, RESTART_SESSIONS, RESTART_QUEUED)),
            ("--v5", "run every scenario twice on each broker, with MQTT 3.1.1 and with "
                     "MQTT 5.0 clients, every other scenario 5.0 first (rows 'NAME v5:'; a "
                     "scenario named NAME%s in "
                     "--scenarios runs only with 5.0 clients), and show 5.0 / 3.1.1"
                     % V5_SUFFIX)):
        p.add_argument(flag, action="store_true", help=text)
    p.add_argument("--scenarios", default=DEFAULT_SCENARIOS,
                   help="comma-separated subset of: %s (default %s)"
                        % (", ".join(SCENARIOS), DEFAULT_SCENARIOS))
    p.add_argument("--duration", type=float, default=3.0, help="seconds per scenario (default 3)")
    p.add_argument("--payload", type=int, default=32, help="payload bytes (default 32)")
    p.add_argument("--count", type=int, default=BURST_COUNT,
                   help="messages the burst scenario sends (default %d)" % BURST_COUNT)
    p.add_argument("--conf",
                   help="a mosquitto.conf whose lines (except listener/port) are added to "
                        "both brokers' configs, e.g. boards/esp32/mosquitto.conf")
    p.add_argument("--board", choices=("esp32", "rp2040w"),
                   help="run this broker as that board does (board.main, .mpy files, "
                        "boards/BOARD/mosquitto.conf for both brokers) on the MicroPython "
                        "unix port with --board-heap")
    p.add_argument("--board-heap", default="112k",
                   help="heap of --board (default 112k: an ESP32's, with 64-bit objects)")
    p.add_argument("--ours-conf", default="",
                   help="config lines for this broker only, e.g. 'back_pressure true'")
    opt = p.parse_args(argv)
    names = [s.strip() for s in opt.scenarios.split(",") if s.strip()]
    bad = [s for s in names if split_name(s)[0] not in SCENARIOS]
    if bad or not names:
        p.error("unknown scenario(s) %s; choose from %s"
                % (", ".join(bad) or "(none)", ", ".join(SCENARIOS)))
    if opt.bridge and opt.scenarios == DEFAULT_SCENARIOS:
        names = list(BRIDGE_SCENARIOS)
    if opt.bridge != all(n in BRIDGE_SCENARIOS for n in names):
        p.error("the scenarios %s need --bridge, and --bridge runs only those"
                % ", ".join(BRIDGE_SCENARIOS))
    if opt.duration <= 0:
        p.error("--duration must be positive")
    if opt.payload < 0 or opt.payload > 100000:
        p.error("--payload must be between 0 and 100000")
    if opt.v5:
        names = [m for n in names for m in ((n, n + V5_SUFFIX) if not split_name(n)[1] else (n,))]
    opt.names = names
    opt.conf_text = ""
    if opt.board and not opt.conf:
        opt.conf = os.path.join(ROOT, "boards", opt.board, "mosquitto.conf")
    if opt.conf:
        with open(opt.conf) as f:  # the bench's own listener replaces the file's
            opt.conf_text = "".join(l for l in f if l.split()[:1] not in (["listener"], ["port"]))
    opt.ours_conf = opt.ours_conf.replace("\\n", "\n") + "\n"
    opt.mosquitto_conf = "set_tcp_nodelay true\n" if opt.mosquitto_nodelay else ""
    return opt


def main(argv=None):
    """Entry point; returns the exit status (1 if any scenario failed)."""
    opt = parse_args(sys.argv[1:] if argv is None else argv)
    raise_nofile(IDLE_CONNS + 1000)
    names = opt.names
    if opt.board:
        try:
            tmp = tempfile.mkdtemp(prefix="bench-board-")
            atexit.register(shutil.rmtree, tmp, True)
            ours_argv = board_argv(opt.board, opt.board_heap, tmp)
        except BenchError as e:
            log("bench: %s" % e)
            return 2
    elif opt.broker_cmd:
        ours_argv = shlex.split(opt.broker_cmd)
    else:
        ours_argv = [sys.executable, os.path.join(ROOT, "ports", "cpython", "main.py")]
    if opt.restart:
        try:
            runs = bench_restart(ours_argv, opt)
        except (BenchError, OSError) as e:
            log("bench: %s" % e)
            return 2
        print("| restart on %d retained messages, %d sessions x %d queued | %s | mosquitto / "
              "this broker |" % (RESTART_RETAINED, RESTART_SESSIONS, RESTART_QUEUED,
                                 " | ".join(l for l, _, _ in runs)))
        print("|---|---|---|---|")
        print("| seconds from start to accepting connections | %s | %.2f |" % (
            " | ".join("%.2f" % t for _, t, _ in runs), runs[1][1] / runs[0][1]))
        print("| bytes in its persistence files when stopped | %s | |"
              % " | ".join("%d" % n for _, _, n in runs))
        return 0
    if opt.websockets:
        names = [n for n in names if split_name(n)[0] in WS_SCENARIOS] or list(WS_SCENARIOS)
        try:
            tcp, ws = bench_websockets(ours_argv, names, opt)
        except BenchError as e:
            log("bench: %s" % e)
            return 2
        print_websockets(names, tcp, ws, opt)
        failed = any(v is None for v in list(tcp[0].values()) + list(ws[0].values()))
    elif opt.persistence or opt.capture:
        run, show = ((bench_persistence, print_persistence) if opt.persistence
                     else (bench_capture, print_capture))
        try:
            results = run(ours_argv, opt)
        except BenchError as e:
            log("bench: %s" % e)
            return 2
        show(results, opt)
        # bytes written is unknown (None) where /proc/PID/io is missing: not a failure
        failed = any(v is None for r in results for k, v in r[0].items()
                     if k != "persist_bytes")
    elif opt.compare or opt.bridge:
        if not os.path.exists(MOSQUITTO):
            log("bench: %s not found (apt-get install mosquitto)" % MOSQUITTO)
            return 2
        try:
            if opt.bridge:
                ours, theirs = bench_bridge(ours_argv, opt)
            else:
                ours = bench_broker("this broker", ours_argv, names, opt,
                                    extra_conf=opt.conf_text + opt.ours_conf)
                theirs = bench_broker("mosquitto", [MOSQUITTO, "-c", "{conf}"], names, opt,
                                      True, opt.conf_text + opt.mosquitto_conf)
        except BenchError as e:
            log("bench: %s" % e)
            return 2
        print_compare(names, ours, theirs, opt)
        if opt.v5:
            print()
            print_v5_ratios(names, (ours, theirs), ("this broker", "mosquitto"))
        failed = any(v is None for v in list(ours[0].values()) + list(theirs[0].values()))
    elif opt.broker_cmd or opt.board:
        try:
            values, details = bench_broker("this broker", ours_argv, names, opt,
                                           extra_conf=opt.conf_text + opt.ours_conf)
        except BenchError as e:
            log("bench: %s" % e)
            return 2
        print_single(names, values, details, values.get("rss_mib"))
        if opt.v5:
            print()
            print_v5_ratios(names, ((values, details),), ("this broker",))
        failed = any(v is None for v in values.values())
    else:
        values, details = run_scenarios(opt.host, opt.port, names, opt)
        rss = peak_rss_mib(opt.pid) if opt.pid else None
        print_single(names, values, details, rss)
        failed = any(v is None for v in values.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
