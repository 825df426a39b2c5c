"""The figures of tools/memprobe.py that run inside MicroPython: packet builders, the
import, idle-client and steady-state measurements, and the load run's clients.

Kept apart from the driver so that the driver compiles on a 96 KB heap; the driver
compiles this file with mpy-cross and runs it in child processes (see memprobe.py). On a
board this module alone is enough: `import memprobe_figs; memprobe_figs.board()`.
"""

import gc
import os

LOAD_RETAINED = 32  # retained messages in the load run, LOAD_PAYLOAD bytes each
LOAD_PAYLOAD = 64
LOAD_ROUNDS = 20  # QoS 1 rounds: each client to its neighbour, client 0 to everyone


def _random_port():
    # below Linux's ephemeral range (32768-60999): no client socket of another test holds it
    r = os.urandom(2)
    return 20000 + ((r[0] << 8) | r[1]) % 12000


# ---- MQTT packets, prebuilt so that building them is not measured ----

def _s(b):
    return bytes((len(b) >> 8, len(b) & 255)) + b


def _packet(b0, body):
    n = len(body)
    head = bytearray((b0,))
    while True:
        d = n & 127
        n >>= 7
        head.append(d | (128 if n else 0))
        if not n:
            return bytes(head) + body


# v5: MQTT 5.0 packets (protocol level 5, an empty property block), else 3.1.1

def connect_pkt(cid, keepalive=60, v5=False):
    level = b"\x05" if v5 else b"\x04"
    return _packet(0x10, _s(b"MQTT") + level + bytes((2, keepalive >> 8, keepalive & 255)) +
                   (b"\x00" if v5 else b"") + _s(cid))


def subscribe_pkt(pid, filters, v5=False):
    body = bytes((pid >> 8, pid & 255)) + (b"\x00" if v5 else b"")
    for f, q in filters:
        body += _s(f) + bytes((q,))
    return _packet(0x82, body)


def publish_pkt(topic, payload, qos, pid=1, retain=0, v5=False):
    body = _s(topic) + (bytes((pid >> 8, pid & 255)) if qos else b"") + \
        (b"\x00" if v5 else b"") + payload
    return _packet(0x30 | (qos << 1) | retain, body)


# ---- figures taken in this process ----

def recv_size(main_py):
    """Size of the receive buffer that the port's main.py (path main_py) takes first, on its
    line `_buf = bytearray(N)`: defined there alone (tools/deploy.py RECV_LINE)."""
    with open(main_py) as f:
        text = f.read()
    i = text.index("\n_buf = bytearray(") + 18
    return int(text[i:text.index(")", i)])


def fig_import(recv):
    """Heap the started broker takes in this process: import from .mpy, config parsed and
    its code dropped (as board.py does), then loop.start (Broker, connection tables, one
    listener); recv: the receive buffer's size."""
    gc.collect()
    a0 = gc.mem_alloc()
    buf = bytearray(recv)  # the loop's receive buffer, taken first as on a board
    from core.config import parse_config
    cfg = parse_config("listener %d 127.0.0.1\nallow_anonymous true\n" % _random_port(),
                       "probe.conf")
    del parse_config
    from core.settings import snapshot
    cfg = snapshot(cfg)
    del snapshot
    from forget import forget  # the port's own, as board.py drops them
    forget("core.config_parse", "core.config", "core.settings")
    del forget
    import loop
    from log import Logger
    log = Logger(())
    for _ in range(20):
        srv = loop.start(cfg, log, loop.OUT_LIMIT, loop.MIN_FREE, buf)  # as the port starts
        if not isinstance(srv, int):
            break
        cfg.listeners[0].port = _random_port()  # the port was taken: another one
    else:
        raise RuntimeError("the probe's listener found no free port")
    gc.collect()
    r = {"heap_total": gc.mem_free() + gc.mem_alloc(), "import_free": gc.mem_free(),
         "import_used": gc.mem_alloc() - a0}
    srv.shutdown()
    return r


def board(clients=4, messages=10000, messages1=2000, main_py="/main.py"):
    """Every figure a board can take in this process (no load run), printed as a table and
    FIG lines; free heap includes this module's own code, so it errs low. main_py: the
    port's main.py, whose receive buffer size the figures use."""
    import sys
    recv = recv_size(main_py)
    figs = {}
    for name, f in (("import", lambda: fig_import(recv)),
                    ("clients", lambda: fig_clients(clients, False, recv)),
                    ("steady", lambda: fig_steady(messages, messages1))):
        try:
            figs.update(f())
        except MemoryError as e:
            figs["error:" + name] = "MemoryError %s" % e
        gc.collect()
    print("memprobe: MicroPython %s on %s, figures taken in this process"
          % (".".join([str(x) for x in sys.implementation.version[:3]]), sys.platform))
    missed = 0
    for k, label, op, lim in (("heap_total", "heap total", "", 0),
                              ("import_used", "used by broker + listener", "", 0),
                              ("import_free", "free after import + listener", ">=", 61440),
                              ("client_bytes", "per idle client (2 subs)", "<=", 2048),
                              ("steady_qos0", "steady-state growth, QoS 0", "<=", 1024),
                              ("steady_qos1", "steady-state growth, QoS 1", "<=", 1024)):
        v = figs.get(k)
        mark = ""
        if op and v is not None:
            ok = v >= lim if op == ">=" else v <= lim
            mark = "%s %d %s" % (op, lim, "ok" if ok else "MISSED")
            missed += not ok
        print("%-38s %10s  %s" % (label, "-" if v is None else str(v), mark))
    for k in figs:
        if k.startswith("error:"):
            print("error in %s: %s" % (k[6:], figs[k]))
            missed += 1
    for k in figs:
        if not k.startswith("error:"):
            print("FIG %s %d" % (k, figs[k]))
    print("memprobe: %d budget(s) missed" % missed)
    return figs


# a WebSocket client's upgrade request; its frames carry the all-zero mask key (masked as
# RFC 6455 requires, the XOR a no-op), so the probe needs no masking code
_WS_REQ = (b"GET /mqtt HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Protocol: mqtt\r\n\r\n")
WS_ANSWER = 159  # bytes of the broker's 101 answer to _WS_REQ


def idle_pkt(cid):
    """What an idle client sends: CONNECT and a SUBSCRIBE of 2 filters."""
    return connect_pkt(cid) + subscribe_pkt(1, ((b"sensors/" + cid + b"/#", 1),
                                                (b"cmd/" + cid, 0)))


def ws_client_pkt(cid):
    """What an idle WebSocket client sends: the upgrade request, then idle_pkt in a frame."""
    p = idle_pkt(cid)
    return _WS_REQ + bytes((0x82, 0x80 | len(p))) + bytes(4) + p


def fig_clients(n, ws, recv):
    """Heap per idle client: n real loopback clients, CONNECT and 2 subscriptions each
    (ws: over a websockets listener, upgrade and frames included, after a first WebSocket
    client has loaded the port's WebSocket code, which is not per client), read recv bytes
    at a time."""
    import socket
    import listeners
    import loop
    from core.config import parse_config
    from core.broker import Broker
    from log import Logger
    log = Logger(())
    for _ in range(20):
        port = _random_port()
        cfg = parse_config("listener %d 127.0.0.1\nallow_anonymous true\n%s"
                           % (port, "protocol websockets\n" if ws else ""), "probe.conf")
        b = Broker(cfg, log)
        b.out_limit = 4096
        srv = loop.Server(b, log, 0, recv, n + 4)
        try:
            listeners.listen_all(srv, cfg.listeners, loop._Listen)
            break
        except loop.ListenError:
            continue
    addr = socket.getaddrinfo("127.0.0.1", port)[0][-1]
    socks = []
    pkts = []
    got = []
    first = 1 if ws else 0  # a client served before the baseline
    for i in range(n + first):
        cid = b"probe%03d" % i
        pkts.append(ws_client_pkt(cid) if ws else idle_pkt(cid))
        s = socket.socket()
        s.connect(addr)  # completes in the kernel backlog before the broker accepts
        s.setblocking(False)
        socks.append(s)
        got.append(0)
    rbuf = bytearray(64)
    want = 4 + 6  # CONNACK + SUBACK with two return codes
    if ws:
        want += WS_ANSWER + 2  # and one frame header at least
    srv.step(0)  # settle the loop's own first-turn allocations before the baseline
    _serve(srv, socks[:first], pkts, got, want, rbuf)
    gc.collect()
    before = gc.mem_alloc()
    _serve(srv, socks[first:], pkts[first:], got[first:], want, rbuf)
    gc.collect()
    after = gc.mem_alloc()
    for s in socks:
        s.close()
    srv.shutdown()
    return {"ws_client_bytes" if ws else "client_bytes": (after - before) // n}


def _serve(srv, socks, pkts, got, want, rbuf):
    """Each client of socks writes its packet; the server runs until each has read want
    bytes (RuntimeError if not)."""
    n = len(socks)
    for i in range(n):
        socks[i].write(pkts[i])
    done = 0
    for _ in range(500):
        if done == n:
            return
        srv.step(10)
        done = 0
        for i in range(n):
            r = socks[i].readinto(rbuf)
            if r:
                got[i] += r
            if got[i] >= want:
                done += 1
    if done != n:
        raise RuntimeError("only %d of %d clients got CONNACK and SUBACK" % (done, n))


def _drain(b, sub, ack):
    """Empty every output; PUBACK each QoS 1 PUBLISH the subscriber got."""
    out = sub.out
    i = 0
    while i < len(out):
        b0 = out[i]
        n = 0
        shift = 0
        j = i + 1
        while True:
            d = out[j]
            j += 1
            n |= (d & 127) << shift
            shift += 7
            if d < 128:
                break
        if b0 & 0xF6 == 0x32:  # PUBLISH QoS 1: topic, then packet id
            t = j + 2 + ((out[j] << 8) | out[j + 1])
            ack[2] = out[t]
            ack[3] = out[t + 1]
            sub.sent(0)
            b.received(sub, ack)
        i = j + n
    for c in b.pending:
        c.sent(len(c.out))
    b.pending.clear()


def fig_steady(m0, m1):
    """mem_alloc growth after gc.collect across m0 QoS 0 and m1 QoS 1 forwarded messages."""
    from core.config import Config
    from core.broker import Broker
    cfg = Config()
    cfg.finish()
    b = Broker(cfg, None)
    b.tick(0)
    lst = cfg.listeners[0]
    pub = b.open(lst, "127.0.0.1", 1)
    sub = b.open(lst, "127.0.0.1", 2)
    b.received(pub, connect_pkt(b"pub", 0))  # keepalive 0: hours of simulated time pass
    b.received(sub, connect_pkt(b"sub", 0))
    b.received(sub, subscribe_pkt(1, ((b"s/#", 1),)))
    ack = bytearray(b"\x40\x02\x00\x00")
    _drain(b, sub, ack)
    res = {}
    for qos in (0, 1):
        pkt = publish_pkt(b"s/temperature", b"x" * 32, qos)
        now = [0]

        def run(k):
            for _ in range(k):
                b.received(pub, pkt)
                _drain(b, sub, ack)
                now[0] += 100  # 10 messages a second: $SYS updates run in between
                b.tick(now[0] & ((1 << 30) - 1))
        # warm up past three $SYS intervals: first-use allocations are not growth
        run(300)
        gc.collect()
        before = gc.mem_alloc()
        run(m1 if qos else m0)
        gc.collect()
        res["steady_qos%d" % qos] = gc.mem_alloc() - before
    if b.msgs_out < m0 + m1:
        raise RuntimeError("only %d messages were forwarded" % b.msgs_out)
    return res


# ---- the load run's clients (this process; the broker is a child process) ----

# a client: [socket, bytes not yet parsed, CONNACKs, SUBACKs, PUBLISHes, PUBACKs,
#            refusals (CONNACK rc or SUBACK 0x80), retained PUBLISHes]
_CONNACK, _SUBACK, _PUBS, _ACKS, _BAD, _RET = 2, 3, 4, 5, 6, 7


def _send(cl, data, rbuf):
    """Write all of data on cl's non-blocking socket, reading while the socket is full."""
    while data:
        n = cl[0].write(data)
        if n:
            data = data[n:]
        else:
            _pump((cl,), rbuf)


def _pump(cls, rbuf):
    """Read what each client has waiting; count packets and PUBACK each QoS 1 PUBLISH."""
    for cl in cls:
        while True:
            r = cl[0].readinto(rbuf)
            if r is None:
                break
            if not r:
                raise RuntimeError("the broker closed a client's connection")
            cl[1] += rbuf[:r]
        buf = cl[1]
        i = 0
        acks = b""
        while i + 2 <= len(buf):
            n = shift = 0
            j = i + 1
            done = False
            while j < len(buf) and not done:
                d = buf[j]
                j += 1
                n |= (d & 127) << shift
                shift += 7
                done = d < 128
            if not done or j + n > len(buf):
                break
            t = buf[i] >> 4
            if t == 2:
                cl[_CONNACK] += 1
                cl[_BAD] += buf[j + 1] != 0
            elif t == 9:
                cl[_SUBACK] += 1
                cl[_BAD] += buf.find(b"\x80", j + 2, j + n) >= 0  # a refused filter
            elif t == 3:
                cl[_PUBS] += 1
                cl[_RET] += buf[i] & 1
                if buf[i] & 6:
                    p = j + 2 + ((buf[j] << 8) | buf[j + 1])
                    acks += bytes((0x40, 2, buf[p], buf[p + 1]))
            elif t == 4:
                cl[_ACKS] += 1
            i = j + n
        if i:
            buf[0:i] = b""
        if acks:
            _send(cl, acks, rbuf)


def _wait(cls, rbuf, what, cond):
    """Pump until cond() holds; RuntimeError naming what after 30 s."""
    import time
    t0 = time.ticks_ms()
    while not cond():
        if time.ticks_diff(time.ticks_ms(), t0) > 30000:
            raise RuntimeError("load run: timed out waiting for %s (client counts %s)"
                               % (what, [cl[2:] for cl in cls]))
        _pump(cls, rbuf)
        time.sleep_ms(1)


def load_clients(port, n):
    """The load run's traffic against a broker on port; raises RuntimeError on a shortfall."""
    import socket
    addr = socket.getaddrinfo("127.0.0.1", port)[0][-1]
    rbuf = bytearray(1024)
    cls = []
    try:
        for i in range(n):
            s = socket.socket()
            s.connect(addr)
            s.setblocking(False)
            cl = [s, bytearray(), 0, 0, 0, 0, 0, 0]
            cls.append(cl)
            _send(cl, connect_pkt(b"load%d" % i), rbuf)
        _wait(cls, rbuf, "CONNACK", lambda: all([cl[_CONNACK] for cl in cls]))
        payload = bytes(LOAD_PAYLOAD)
        c0 = cls[0]
        for k in range(LOAD_RETAINED):
            _send(c0, publish_pkt(b"r/%02d" % k, payload, 1, k + 1, 1), rbuf)
        _wait(cls, rbuf, "PUBACK of the retained messages",
              lambda: c0[_ACKS] == LOAD_RETAINED)
        for i in range(n):
            _send(cls[i], subscribe_pkt(1, ((b"r/#", 1), (b"t/%d/#" % i, 1), (b"all", 0),
                                            (b"cmd/%d" % i, 1))), rbuf)
        _wait(cls, rbuf, "SUBACK and the retained messages",
              lambda: all([cl[_SUBACK] and cl[_RET] == LOAD_RETAINED for cl in cls]))
        for r in range(1, LOAD_ROUNDS + 1):
            for i in range(n):
                _send(cls[i], publish_pkt(b"t/%d/v" % ((i + 1) % n), payload, 1, 100 + r), rbuf)
            _send(c0, publish_pkt(b"all", payload, 1, 1000 + r), rbuf)
            _wait(cls, rbuf, "round %d of QoS 1 traffic" % r,
                  lambda: all([cl[_PUBS] == LOAD_RETAINED + 2 * r and
                               cl[_ACKS] == r + (cl is c0) * (LOAD_RETAINED + r)
                               for cl in cls]))
        bad = sum([cl[_BAD] for cl in cls])
        if bad:
            raise RuntimeError("load run: %d refusals (CONNACK or SUBACK)" % bad)
        for cl in cls:
            _send(cl, b"\xe0\x00", rbuf)  # DISCONNECT
    finally:
        for cl in cls:
            cl[0].close()


def phase(name, clients, m0, m1, recv):
    """A child run of the driver: print one group of figures as FIG lines (recv: the
    receive buffer's size)."""
    figs = fig_clients(clients, name == "wsclients", recv) if name.endswith("clients") \
        else fig_steady(m0, m1)
    for k in figs:
        print("FIG %s %d" % (k, figs[k]))
