"""The load run of tools/memprobe32.mjs: the started broker driven with bytes as
ports/micropython/loop.py drives it, through the port's own Server methods (_read,
_flush, spill, _close) over stand-in sockets (_Sock), no network.

The port's loop, modelled: each turn a tick, then, from each connection that has bytes
waiting, one read of at most its receive buffer (srv.buf, main.py's) handed to
broker.received(); right after each read and each tick it writes every connection in
broker.pending (Server._flush: conn.out, conn.sent(n)), and within a read Server.spill
writes a connection whose output passed 256 bytes, as on a board; with persistence each
turn ends, as the port's, with its batch's turn (persist.py: the changes written once 16
wait or the window passed), so they do not pile up for the whole run. The clients take every
byte written to them (a reader as fast as loopback), count the packets and acknowledge
each QoS 1 delivery as they read it: the PUBACK is queued to their own input, which the
port reads at its next turn. A client the core pauses (core/flow.py: broker.flow and
broker.hold(conn)) is not read in that turn, as the port leaves it unpolled.

One step is one port read or one port write of one connection: node calls step() once
per step, and this port collects between calls (see memprobe32.mjs). Measured per step:
the heap in use at its start, after the previous step's garbage was collected (the live
heap: its highest value is the run's peak), and the garbage the step left (in use at its
end less in use at the next step's start).

The run: n clients connect; client 0 publishes LOAD_RETAINED retained QoS 1 messages of
LOAD_PAYLOAD bytes (all written at once: the port reads them a receive buffer at a time, a packet
split across reads); each client subscribes to 4 filters (r/#, t/N/#, all, cmd/N: the
retained messages come at once, beyond the in-flight window they queue); BURSTS QoS 0
bursts (every client writes QOS0_BURST messages to "all", which every client reads, all
clients' bursts waiting in the same turn) and BURSTS QoS 1 bursts (every client QOS1_BURST
messages to its neighbour's t/N/v, QoS 1 end to end, all waiting in the same turn); then
every client disconnects. Every CONNACK, SUBACK, PUBLISH and PUBACK is counted and a
shortfall raises RuntimeError. The clients' packets are made from templates made in begin()
(their bytes are written into the receive buffer as a socket's readinto would), so what a
step allocates is the broker's, but for a CONNECT or SUBSCRIBE built once per client. The
run is one generator made in begin(), so that its frames are the probe's own.
"""

import gc

from core.clock import diff
from memprobe_figs import LOAD_PAYLOAD, LOAD_RETAINED, connect_pkt, publish_pkt, subscribe_pkt

QOS0_BURST = 16  # 16 x 72 bytes to "all": every client's burst in one read
QOS1_BURST = 16  # beyond the board's in-flight window (5 or 10) the rest queues
BURSTS = 3
_WAIT_S = 5  # seconds the run waits for a full destination (slow_subscriber_timeout)
_ACK_ROOM = 16  # PUBACKs a client may owe before the port reads them: above any window

# a client: [Conn, CONNACKs, SUBACKs, PUBLISHes, retained PUBLISHes, PUBACKs, refusals,
#            PUBACKs to send (bytearray), their length, packet template, packets left,
#            next packet id, offset in the current packet, kind of packet, 1 if it speaks
#            MQTT 5.0 else 0]
_CONN, _CONNACK, _SUBACK, _PUBS, _RET, _ACKS, _BAD, _OWE, _OWN = 0, 1, 2, 3, 4, 5, 6, 7, 8
_TPL, _LEFT, _PID, _OFF, _KIND, _V5 = 9, 10, 11, 12, 13, 14
_PLAIN, _QOS1, _RETAINED = 0, 1, 2  # template as is; its packet id set; and its topic r/NN

# the run's state, all made by begin() so that memprobe32.mjs can tell the probe's own
# objects from the broker's: the Broker, the port's receive buffer and a memoryview of it,
# the clients, their QoS 1 templates, the QoS 0 templates (3.1.1, 5.0) and the retained
# one, the steps
_srv = _b = _buf = _mv = _cls = _q1 = _q0 = _rt = _run = None
_now = 0
_cap = 0  # gc.mem_free() + gc.mem_alloc() at begin(): more later means the heap grew
_start = 0  # in use when the current step began
grown = 0  # 1 when a step needed more than the heap (this port then adds an area)
peak = 0  # the highest heap in use at a step's start (live: garbage collected)
garbage = 0  # the most garbage one step left
peak_end = 0  # the highest heap in use at a step's end, its garbage not yet collected


def begin(srv, n, v5=0):
    """Prepare the run against srv (loop.start's Server) with n clients, the first v5 of
    which speak MQTT 5.0 (core/v5.py loads with the first of their CONNECTs)."""
    global _srv, _b, _buf, _mv, _cls, _q1, _q0, _rt, _run, _cap
    _srv = srv
    # the port's poller, in Python: the JavaScript one of memprobe32.mjs keeps a proxy of
    # each socket passed to it on this heap, which a board's built-in poll does not
    srv.poller = _Poll()
    _b = srv.broker
    _buf = srv.buf
    _mv = memoryview(_buf)
    _cls = [[None, 0, 0, 0, 0, 0, 0, bytearray(4 * _ACK_ROOM), 0, None, 0, 0, 0, 0,
             1 if k < v5 else 0] for k in range(n)]
    for k in range(n):
        _cls[k][_CONN] = _Sock(_cls[k])  # replaced by the Conn once opened
    _q0 = [publish_pkt(b"all", bytes(LOAD_PAYLOAD), 0, v5=x) for x in (False, True)]
    _q1 = [publish_pkt(b"t/%d/v" % ((i + 1) % n), bytes(LOAD_PAYLOAD), 1, 1, v5=i < v5)
           for i in range(n)]
    _rt = publish_pkt(b"r/00", bytes(LOAD_PAYLOAD), 1, 1, 1, v5=v5 > 0)
    _run = _load(n)
    _cap = gc.mem_free() + gc.mem_alloc()


def step():
    """One step of the run (see the module's text); 0 when the run is over, else 1."""
    global grown, peak, garbage, peak_end, _start
    used = gc.mem_alloc()  # the previous step's garbage is collected: live
    if _start:
        garbage = max(garbage, _start - used)
    peak = max(peak, used)
    try:
        next(_run)
    except StopIteration:
        return 0
    _start = gc.mem_alloc()
    peak_end = max(peak_end, _start)
    if gc.mem_free() + _start > _cap:
        grown = 1
    gc.collect()  # on this port: done when node's next call begins
    return 1


def _write(cl, tpl, count, pid, kind):
    """cl writes count packets made from tpl to its socket (read by the port later)."""
    if cl[_LEFT]:
        raise RuntimeError("load run: a client writes a burst before its last was read")
    cl[_TPL] = tpl
    cl[_LEFT] = count
    cl[_PID] = pid
    cl[_OFF] = 0
    cl[_KIND] = kind


def _byte(cl, j):
    """Byte j of cl's current packet: its template's, with the packet id and topic set."""
    tpl = cl[_TPL]
    kind = cl[_KIND]
    if kind != _PLAIN:
        t = len(tpl) - LOAD_PAYLOAD - 2 - cl[_V5]  # where the packet id is (v5: then 0 properties)
        if j == t:
            return cl[_PID] >> 8
        if j == t + 1:
            return cl[_PID] & 255
        if kind == _RETAINED and t - 2 <= j < t:  # r/NN: NN is the packet id less one
            return 48 + ((cl[_PID] - 1) // 10 if j == t - 2 else (cl[_PID] - 1) % 10)
    return tpl[j]


class _Poll:
    """select.poll as the Server calls it; the run decides itself what is readable."""

    def register(self, sock, mask):
        pass

    def modify(self, sock, mask):
        pass

    def unregister(self, sock):
        pass


class _Sock:
    """A client's socket as the port's Server uses it (its own readinto, write, close)."""

    def __init__(self, cl):
        self.cl = cl

    def readinto(self, buf, size=0):
        return _fill(self.cl, size or len(buf))

    def write(self, data):
        take(self.cl, data)  # the client takes every byte
        return len(data)

    def setblocking(self, flag):
        pass

    def close(self):
        pass


def _fill(cl, size):
    """What the port's readinto gets from cl's socket: bytes in the receive buffer."""
    k = 0
    while k < size:
        if cl[_OFF] or (cl[_LEFT] and not cl[_OWN]):
            # the packet in hand, or the next of the burst; acknowledgements go between
            tpl = cl[_TPL]
            j = cl[_OFF]
            m = min(len(tpl) - j, size - k)
            for x in range(m):
                _buf[k + x] = _byte(cl, j + x)
            k += m
            if j + m < len(tpl):
                cl[_OFF] = j + m
                break
            cl[_OFF] = 0
            cl[_LEFT] -= 1
            cl[_PID] += 1
            if not cl[_LEFT]:
                cl[_TPL] = None  # a CONNECT or SUBSCRIBE made for this client: garbage now
        elif cl[_OWN]:
            own = cl[_OWN]
            m = min(own, (size - k) & ~3)
            if not m:
                break
            owe = cl[_OWE]
            _buf[k:k + m] = owe[0:m]
            owe[0:own - m] = owe[m:own]
            cl[_OWN] = own - m
            k += m
        else:
            break
    return k


def _flush():
    """The port writes one connection of broker.pending (Server._flush, as
    Server.flush_pending does for each)."""
    _srv._flush(_b.pending.pop())


def _held(c):
    """True while the core pauses c's input (core/flow.py), as the port then does not
    read it."""
    return _b.hold(c)


def _phase(i, n):
    """What the clients write in phase i (see the module's text); False after the last."""
    if i == 0:
        _b.tick(0)  # the core wants a tick before the first open()
        lst = _b.cfg.listeners[0]
        for k in range(n):
            c = _b.open(lst, "127.0.0.1", 10000 + k)
            if c is None:
                raise RuntimeError("load run: the broker refused connection %d" % k)
            sock = _cls[k][_CONN]  # as Server._admit: the Conn knows its socket, and back
            c.port_data = sock
            _srv.objs[sock] = c
            _srv.register(sock, 1)
            _cls[k][_CONN] = c
            _write(_cls[k], connect_pkt(b"load%d" % k, v5=_cls[k][_V5]), 1, 0, _PLAIN)
    elif i == 1:
        _write(_cls[0], _rt, LOAD_RETAINED, 1, _RETAINED)
    elif i == 2:
        for k in range(n):
            _write(_cls[k], subscribe_pkt(1, ((b"r/#", 1), (b"t/%d/#" % k, 1), (b"all", 0),
                                              (b"cmd/%d" % k, 1)), _cls[k][_V5]), 1, 0,
                   _PLAIN)
    elif i < 3 + BURSTS:  # every client's burst waiting in the same turn of the port
        for cl in _cls:
            _write(cl, _q0[cl[_V5]], QOS0_BURST, 0, _PLAIN)
    elif i < 3 + 2 * BURSTS:
        for k in range(n):
            _write(_cls[k], _q1[k], QOS1_BURST, 100 + (i - 3 - BURSTS) * QOS1_BURST, _QOS1)
    elif i == 3 + 2 * BURSTS:
        for cl in _cls:
            _write(cl, b"\xe0\x00", 1, 0, _PLAIN)  # DISCONNECT
    else:
        return False
    return True


def _load(n):
    """The run's steps: each phase's writes, then turns of the port's loop until every
    client's bytes are read; one generator, made in begin(), so that the probe's frames
    are its own."""
    global _now
    i = 0
    while _phase(i, n):
        i += 1
        read = True
        waited = 0
        while read:  # one turn: a tick and its writes, then each client read once
            _now += 10
            _b.tick(_now)
            while _b.pending:
                _flush()
                yield
            read = False
            for cl in _cls:
                c = cl[_CONN]
                if (cl[_LEFT] or cl[_OWN]) and c.port_data is not None and not _held(c):
                    _srv._read(c)  # the port's own read: readinto, broker.received
                    read = True
                    yield
                    while _b.pending:
                        _flush()
                        yield
            if _srv.batch is not None:  # persistence: the port writes its records each turn
                _srv.batch.turn(_now, diff)
                yield
            if not read and _b.full and waited < _WAIT_S:
                # held by a full destination: the seconds of slow_subscriber_timeout pass
                # (a bridge whose uplink is down, with the drop policy: then it drops)
                _now += 1000
                waited += 1
                read = True
        if any(cl[_LEFT] or cl[_OWN] for cl in _cls):
            raise RuntimeError("load run: clients held with nothing left to send %r %r %r" % (len(_b.stuck), len(_b.full), _b.low_memory))
    for cl in _cls:
        _srv._close(cl[_CONN])  # the peer closed after DISCONNECT (done if written out)
        yield
    _check(n)


def take(cl, out):
    """Count the packets in out, written to cl, and queue a PUBACK for each QoS 1 PUBLISH."""
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
                owe = cl[_OWE]
                if k + 4 > len(owe):
                    raise RuntimeError("load run: more unacknowledged QoS 1 deliveries than "
                                       "%d" % _ACK_ROOM)
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
