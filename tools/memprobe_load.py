"""The load run of tools/memprobe32.mjs: the started broker driven through its sans-I/O
core with bytes (Broker.open / received / tick / conn.out / conn.sent / closed), no sockets.

node calls begin() once and then step() until it returns 0: one step is one read the
port would hand to the core (a client's packets in the port's 2 KB receive buffer) and
the writes that follow it, every client taking all its bytes. Clients acknowledge their
QoS 1 deliveries in a later step, as a real client answers after it has read.

The run: n clients connect; client 0 publishes LOAD_RETAINED retained QoS 1 messages of
LOAD_PAYLOAD bytes; each client subscribes to 4 filters (r/#, t/N/#, all, cmd/N: the
retained messages come at once, beyond the in-flight window they queue); BURSTS QoS 0
bursts (each client QOS0_BURST messages to "all", which every client reads) and BURSTS
QoS 1 bursts (each client QOS1_BURST messages to its neighbour's t/N/v, QoS 1 end to
end; all clients' bursts in one turn of the port's loop, acknowledged after it); then
every client disconnects. Every CONNACK, SUBACK, PUBLISH and PUBACK is counted and a
shortfall raises RuntimeError. What the clients allocate within a step (a packet built,
a parsed header) counts against the broker: the figures err high.
"""

import gc

from memprobe_figs import LOAD_PAYLOAD, LOAD_RETAINED, connect_pkt, publish_pkt, subscribe_pkt

QOS0_BURST = 16  # 16 x 72 bytes: a burst fills most of the port's 2 KB receive buffer
QOS1_BURST = 16  # beyond the board's in-flight window (5 or 10) the rest queues
BURSTS = 3
_ACK_ROOM = 16  # PUBACKs a client holds before it answers: above any board's window

# a client: [Conn, CONNACKs, SUBACKs, PUBLISHes, retained PUBLISHes, PUBACKs, refusals,
#            PUBACKs to send (bytearray), their length]
_CONN, _CONNACK, _SUBACK, _PUBS, _RET, _ACKS, _BAD, _OWE, _OWN = 0, 1, 2, 3, 4, 5, 6, 7, 8

# the run's state, all made by begin() so that memprobe32.mjs can tell the probe's own
# objects from the broker's: the Broker, the port's receive buffer and a memoryview of it,
# the clients, the simulated clock (ms), the steps (a generator)
_b = _buf = _mv = _cls = _run = None
_now = 0
_cap = 0  # gc.mem_free() + gc.mem_alloc() at begin(): more later means the heap grew
grown = 0  # 1 when a step needed more than the heap (this port then adds an area)


def begin(srv, n):
    """Prepare the run against srv (loop.start's Server) with n clients."""
    global _b, _buf, _mv, _cls, _run, _cap
    _b = srv.broker
    _buf = srv.buf
    _mv = memoryview(_buf)
    _cls = [[None, 0, 0, 0, 0, 0, 0, bytearray(4 * _ACK_ROOM), 0] for _ in range(n)]
    _run = _load(n)
    _cap = gc.mem_free() + gc.mem_alloc()


def step():
    """One step of the run; the heap in use at its end, or 0 when the run is over.

    The figure is gc.mem_alloc() before any collection: what the step's objects, live and
    garbage, took on top of what was live when it began (on this port nothing is collected
    within a call: see memprobe32.mjs). Within a step the heap only grows, but for blocks
    the VM frees itself when it moves a growing buffer or table, so this is the step's peak
    to within one such move.
    """
    global grown
    try:
        next(_run)
    except StopIteration:
        return 0
    used = gc.mem_alloc()
    if gc.mem_free() + used > _cap:
        grown = 1
    gc.collect()  # on this port: done when node's next call begins
    return used


def _send(cl, data):
    """cl's packets arrive in the port's receive buffer."""
    _buf[0:len(data)] = data
    _feed(cl, len(data))


def _feed(cl, k):
    """The core handles k bytes of cl's from the receive buffer; every client reads all its
    bytes, as the port writes them right after the read."""
    global _now
    _now += 10
    _b.tick(_now)
    _b.received(cl[_CONN], _mv[:k])
    for c in _b.pending:
        for other in _cls:
            if other[_CONN] is c:
                take(other)
        c.sent(len(c.out))
    _b.pending.clear()


def _answer():
    """Each client that owes PUBACKs sends them, one step each; False when none did."""
    sent = False
    for cl in _cls:
        k = cl[_OWN]
        if k:
            _buf[0:k] = cl[_OWE][0:k]
            cl[_OWN] = 0
            _feed(cl, k)
            sent = True
            yield
    return sent


def _burst(cl, topic, qos, pid):
    """cl sends count messages of LOAD_PAYLOAD bytes to topic in one read; the next pid."""
    p = publish_pkt(topic, bytes(LOAD_PAYLOAD), qos, 1)
    n = len(p)
    t = n - LOAD_PAYLOAD - 2  # where the packet id is
    count = QOS1_BURST if qos else QOS0_BURST
    for m in range(count):
        _buf[m * n:(m + 1) * n] = p
        if qos:
            _buf[m * n + t] = pid >> 8
            _buf[m * n + t + 1] = pid & 255
            pid += 1
    _feed(cl, count * n)
    return pid


def _load(n):
    _b.tick(0)  # the core wants a tick before the first open()
    lst = _b.cfg.listeners[0]
    for i in range(n):
        c = _b.open(lst, "127.0.0.1", 10000 + i)
        if c is None:
            raise RuntimeError("load run: the broker refused connection %d" % i)
        _cls[i][_CONN] = c
        _send(_cls[i], connect_pkt(b"load%d" % i))
        yield
    c0 = _cls[0]
    per = 8  # retained messages per read
    for k in range(0, LOAD_RETAINED, per):
        j = 0
        for r in range(k, min(k + per, LOAD_RETAINED)):
            p = publish_pkt(b"r/%02d" % r, bytes(LOAD_PAYLOAD), 1, r + 1, 1)
            _buf[j:j + len(p)] = p
            j += len(p)
        _feed(c0, j)
        yield
    for i in range(n):
        _send(_cls[i], subscribe_pkt(1, ((b"r/#", 1), (b"t/%d/#" % i, 1), (b"all", 0),
                                         (b"cmd/%d" % i, 1))))
        yield
    while (yield from _answer()):
        pass
    for _ in range(BURSTS):
        for cl in _cls:
            _burst(cl, b"all", 0, 0)
            yield
    pid = 100
    for _ in range(BURSTS):
        # every client's burst in one turn of the port's loop, before any subscriber reads
        for i in range(n):
            pid = _burst(_cls[i], b"t/%d/v" % ((i + 1) % n), 1, pid)
            yield
        while (yield from _answer()):
            pass
    for cl in _cls:
        _send(cl, b"\xe0\x00")  # DISCONNECT
        _b.closed(cl[_CONN])
        yield
    _check(n)


def take(cl):
    """Count the packets in cl's output and note a PUBACK for each QoS 1 PUBLISH."""
    out = cl[_CONN].out
    i = 0
    while i < len(out):
        b0 = out[i]
        n = out[i + 1]
        if n > 127:  # none is: one byte of remaining length, and no tuple to decode it
            raise RuntimeError("load run: a packet of more than 127 bytes")
        j = i + 2
        t = b0 >> 4
        if t == 2:
            cl[_CONNACK] += 1
            cl[_BAD] += out[j + 1] != 0
        elif t == 9:
            cl[_SUBACK] += 1
            for q in range(j + 2, j + n):
                cl[_BAD] += out[q] == 0x80  # a refused filter
        elif t == 3:
            cl[_PUBS] += 1
            cl[_RET] += b0 & 1
            if b0 & 6:
                p = j + 2 + ((out[j] << 8) | out[j + 1])
                k = cl[_OWN]
                if k + 4 > len(cl[_OWE]):
                    raise RuntimeError("load run: more unacknowledged QoS 1 deliveries than "
                                       "%d" % _ACK_ROOM)
                owe = cl[_OWE]
                owe[k] = 0x40
                owe[k + 1] = 2
                owe[k + 2] = out[p]
                owe[k + 3] = out[p + 1]
                cl[_OWN] = k + 4
        elif t == 4:
            cl[_ACKS] += 1
        i = j + n


def _check(n):
    """RuntimeError naming the first client whose counts are not the run's."""
    for i in range(n):
        cl = _cls[i]
        want = [1, 1, LOAD_RETAINED + BURSTS * (n * QOS0_BURST + QOS1_BURST), LOAD_RETAINED,
                BURSTS * QOS1_BURST + (LOAD_RETAINED if i == 0 else 0), 0]
        got = cl[_CONNACK:_BAD + 1]
        if got != want:
            raise RuntimeError("load run: client %d got (CONNACK, SUBACK, PUBLISH, retained, "
                               "PUBACK, refusals) %s, not %s" % (i, got, want))
