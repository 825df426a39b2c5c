"""Network fuzzing of the running broker (CPython port): random and mutated packets over
many short connections while a well-behaved paho publisher sends QoS 1 messages to a paho
subscriber; in the MQTT 5.0 mode the fuzzed packets are 5.0 ones (CONNECT level 5,
properties of every kind on every packet, reason codes) and the paho clients speak 5.0; in
the WebSockets mode the fuzzed connections go to a `protocol websockets`
listener: handshakes, mutated or not, and the packets in frames cut at random places, some
of them malformed (unmasked, text, reserved opcodes and bits, fragmented or long control
frames, wrong lengths). The broker must stay up, the subscriber must get every message, the log must
hold no traceback and the process memory must come back to its level.

Bounded in packets and time; the RNG seed is printed (set FUZZ_SEED to replay a run,
FUZZ_PACKETS / FUZZ_SECONDS to run longer)."""

import os
import queue
import random
import socket
import threading
import time
import uuid

import pytest

import mqttc

mqtt = pytest.importorskip("paho.mqtt.client")
from ws_support import wsclient

PACKETS = int(os.environ.get("FUZZ_PACKETS", "10000"))
SECONDS = float(os.environ.get("FUZZ_SECONDS", "20"))
WAIT = 10

CIDS = ["fz-%d" % i for i in range(16)]  # few ids: fuzzed sessions are reused, not piled up
TOPICS = ["fz/a", "fz/b/c", "fz/+/c", "fz/#", "#", "$SYS/x", "fz//", "fz/\u00e9"]


def valid_packets(rng):
    """A list of well-formed client packets to mutate."""
    t = rng.choice(TOPICS[:2] + TOPICS[6:])
    will = (rng.choice(TOPICS[:2]), b"w", rng.randrange(3), rng.random() < 0.5) \
        if rng.random() < 0.3 else None
    return [
        mqttc.connect(rng.choice(CIDS), clean=rng.random() < 0.8, keepalive=rng.randrange(120),
                      will=will, username="u" if rng.random() < 0.2 else None),
        mqttc.publish(t, bytes(rng.randrange(256) for _ in range(rng.randrange(40))),
                      rng.randrange(3), rng.random() < 0.2, False, rng.randrange(1, 65536)),
        mqttc.subscribe(rng.randrange(1, 65536), [(rng.choice(TOPICS), rng.randrange(3))]),
        mqttc.unsubscribe(rng.randrange(1, 65536), [rng.choice(TOPICS)]),
        mqttc.puback(rng.randrange(65536)), mqttc.pubrec(rng.randrange(65536)),
        mqttc.pubrel(rng.randrange(65536)), mqttc.pubcomp(rng.randrange(65536)),
        mqttc.pingreq(), mqttc.disconnect(),
    ]


def random_props(rng, idents=tuple(mqttc.PROP_TYPES)):
    """A property block of 0-4 properties of idents with random values of their types."""
    items = []
    for _ in range(rng.randrange(5)):
        ident = rng.choice(idents)
        t = mqttc.PROP_TYPES[ident]
        if t in ("s", "b", "p"):
            v = rng.choice(TOPICS + ["", "k", "\u00e9t\u00e9"])
            v = (v, rng.choice(TOPICS)) if t == "p" else v
        else:
            v = rng.randrange(1 << 28 if t == "v" else 1 << (8 * t))
        items.append((ident, v))
    return mqttc.props(items)


def valid_packets5(rng):
    """A list of MQTT 5.0 client packets to mutate: mostly well-formed, the properties
    valid for the packet more often than not."""
    t = rng.choice(TOPICS[:2] + TOPICS[6:])
    pub = mqttc.PUBLISH_PROPERTIES if rng.random() < 0.7 else tuple(mqttc.PROP_TYPES)
    will = (rng.choice(TOPICS[:2]), b"w", rng.randrange(3),
            rng.random() < 0.5) if rng.random() < 0.3 else None
    pid = rng.randrange(1, 65536)
    acks = [mqttc.packet(first, mqttc.u16(rng.randrange(65536)) + bytes([rng.choice(
        (0, 0x10, 0x80, 0x92, 0x99))]) + random_props(rng, (0x1F, 0x26)))
        for first in (0x40, 0x50, 0x62, 0x70)]
    return [
        mqttc.connect5(rng.choice(CIDS), clean=rng.random() < 0.8,
                       keepalive=rng.randrange(120), properties=random_props(
                           rng, (0x11, 0x17, 0x19, 0x21, 0x22, 0x26, 0x27)), will=will,
                       will_properties=random_props(rng, pub + (0x18,)),
                       username="u" if rng.random() < 0.2 else None),
        mqttc.publish5(t, bytes(rng.randrange(256) for _ in range(rng.randrange(40))),
                       rng.randrange(3), rng.random() < 0.2, False, pid,
                       random_props(rng, pub)),
        mqttc.publish5("", b"aliased", 1, False, False, pid,
                       mqttc.props([(0x23, rng.randrange(12))])),
        mqttc.packet(0x82, mqttc.u16(pid) + random_props(rng, (0x0B, 0x26)) + mqttc.mstr(
            rng.choice(TOPICS + ["$share/g/fz/a"])) + bytes([rng.randrange(64)])),
        mqttc.packet(0xA2, mqttc.u16(pid) + random_props(rng, (0x26,)) + mqttc.mstr(
            rng.choice(TOPICS))),
        mqttc.packet(0xE0, bytes([rng.choice((0, 4, 0x80))]) + random_props(rng, (0x11, 0x1F))),
        mqttc.packet(0xF0, bytes([rng.choice((0, 0x18, 0x19))]) + random_props(rng, (0x15, 0x16))),
        mqttc.pingreq(),
    ] + acks


def mutate(rng, data):
    """data with one random mutation: bit flips, truncation, bad length, garbage."""
    data = bytearray(data)
    k = rng.randrange(7)
    if k == 0:  # flip a few bits
        for _ in range(rng.randrange(1, 5)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    elif k == 1:  # truncate
        data = data[:rng.randrange(len(data))]
    elif k == 2 and len(data) > 1:  # a wrong remaining length, maybe 4 continuation bytes
        data[1:2] = bytes([rng.randrange(256)]) if rng.random() < 0.7 else b"\xff\xff\xff\xff"
    elif k == 3:  # garbage inserted
        i = rng.randrange(len(data) + 1)
        data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
    elif k == 4:  # another packet type in the first byte
        data[0] = rng.randrange(256)
    elif k == 5:  # pure random bytes
        data = bytearray(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    # k == 6: left valid
    return bytes(data)


def ws_frame(rng, payload):
    """payload in one client frame: mostly well-formed, sometimes malformed."""
    r = rng.random()
    if r < 0.85:
        return wsclient.frame(payload)
    k = rng.randrange(7)
    if k == 0:
        return wsclient.frame(payload, mask=False)
    if k == 1:
        return wsclient.frame(payload, op=rng.choice((1, 3, 7, 11, 15)))
    if k == 2:
        return wsclient.frame(payload[:125], op=rng.choice((8, 9, 10)), fin=rng.random() < 0.5)
    if k == 3:
        return wsclient.frame(payload, rsv=rng.choice((0x10, 0x20, 0x40)))
    if k == 4:
        return wsclient.frame(payload, length=rng.choice((0, 1, 126, 65536, 1 << 40)))
    if k == 5:
        return wsclient.frame(payload, op=0, fin=rng.random() < 0.5)
    return wsclient.frame(b"x" * rng.randrange(126, 300), op=9)


def ws_stream(rng, host, port, stream):
    """stream (MQTT packets) as a WebSocket connection's writes: the upgrade request (maybe
    mutated) and frames cut at random places, a control frame here and there."""
    req = wsclient.request(host, port)
    if rng.random() < 0.15:
        req = mutate(rng, req)
    data = b"".join(stream)
    out = [req]
    i = 0
    while i < len(data):
        k = rng.randrange(1, 64)
        out.append(ws_frame(rng, data[i:i + k]))
        i += k
        if rng.random() < 0.05:
            out.append(wsclient.frame(bytes(rng.randrange(256) for _ in range(rng.randrange(4))),
                                      op=rng.choice((8, 9, 10))))
    return out


def fuzz_connection(rng, host, port, ws=False, v5=False):
    """One short connection: a stream of valid and mutated packets (5.0 ones with v5, in
    WebSocket frames with ws); returns packets sent."""
    pkts = valid_packets5(rng) if v5 else valid_packets(rng)
    stream = []
    if rng.random() < 0.75:
        stream.append(pkts[0])  # mostly past CONNECT, so later packets reach the handlers
    for _ in range(rng.randrange(1, 6)):
        stream.append(mutate(rng, rng.choice(pkts)))
    n = len(stream)
    if ws:
        stream = ws_stream(rng, host, port, stream)
    try:
        s = socket.create_connection((host, port), timeout=2)
    except OSError:
        return 0
    try:
        # the broker answers on loopback within milliseconds, or not at all: a frame or
        # request cut short leaves it waiting for the rest (2 % of WebSocket connections),
        # and this wait was most of a WebSocket run's time at 0.5 s
        s.settimeout(0.2)
        if rng.random() < 0.2:  # close with RST instead of FIN
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        if rng.random() < 0.5:
            s.sendall(b"".join(stream))
        else:
            for p in stream:  # separate writes: framing across reads
                s.sendall(p)
        if rng.random() < 0.3:
            try:
                s.recv(4096)
            except OSError:
                pass
    except OSError:
        pass  # the broker closed first: fine
    finally:
        s.close()
    return n


class GoodClients:
    """A paho subscriber on good/# (QoS 1) and a publisher sending numbered QoS 1 messages."""

    def __init__(self, host, port, v5=False):
        self.v5 = v5
        self.got = set()
        self.lock = threading.Lock()
        self.sub = self._client(host, port)
        subacks = queue.Queue()
        self.sub.on_subscribe = lambda c, u, mid, rcs, p: subacks.put(rcs)
        self.sub.on_message = self._on_message
        self.sub.subscribe("good/#", 1)
        assert [r.value for r in subacks.get(timeout=WAIT)] == [1]
        self.pub = self._client(host, port)
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._publish, daemon=True)

    def _client(self, host, port):
        cid = "good-" + uuid.uuid4().hex[:8]
        acks = queue.Queue()
        if self.v5:
            from paho.mqtt.properties import Properties
            from paho.mqtt.packettypes import PacketTypes
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid,
                            protocol=mqtt.MQTTv5)
            cp = Properties(PacketTypes.CONNECT)
            cp.SessionExpiryInterval = 300  # a persistent session, as clean_session=False
            c.on_connect = lambda cl, u, f, rc, p: acks.put(rc)
            c.connect(host, port, keepalive=30, clean_start=False, properties=cp)
        else:
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid,
                            protocol=mqtt.MQTTv311, clean_session=False)
            c.on_connect = lambda cl, u, f, rc, p: acks.put(rc)
            c.connect(host, port, keepalive=30)
        c.loop_start()
        assert acks.get(timeout=WAIT) == 0
        return c

    def _on_message(self, c, u, m):
        with self.lock:
            self.got.add(int(m.payload))

    def _publish(self):
        while not self.stop.is_set():
            self.pub.publish("good/seq", str(self.sent).encode(), 1).wait_for_publish(WAIT)
            self.sent += 1
            time.sleep(0.01)

    def missing(self, timeout=WAIT):
        """Sequence numbers the subscriber has not received after waiting up to timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                miss = sorted(set(range(self.sent)) - self.got)
            if not miss or time.monotonic() > deadline:
                return miss
            time.sleep(0.1)

    def close(self):
        for c in (self.pub, self.sub):
            c.disconnect()
            c.loop_stop()


def end_sessions(host, port, v5=False):
    """A clean-session CONNECT and DISCONNECT for every fuzz client id. A fuzzed persistent
    session subscribed to "#" keeps queueing the good client's messages while offline (up to
    max_queued_messages, as mosquitto does): state kept on purpose, not a leak, so it is
    ended before memory is compared (MQTT-3.1.2-6: a clean session discards the old one)."""
    for cid in CIDS:
        with socket.create_connection((host, port), timeout=WAIT) as s:
            s.sendall(mqttc.connect5(cid) if v5 else mqttc.connect(cid, clean=True))
            ack = mqttc.read_packet(s)
            assert ack[0] == 0x20 and ack[1][:2] == b"\x00\x00", \
                "clean CONNECT of %s: %r" % (cid, ack)
            s.sendall(mqttc.disconnect())


def _expect(s, ptype):
    """The next packet of type ptype on s, skipping others (deliveries to this client)."""
    while True:
        p = mqttc.read_packet(s)
        assert p is not None, "broker closed the warm-up connection (waiting for %d)" % ptype
        if p[0] >> 4 == ptype:
            return p


def exercise_every_path(host, port, v5=False):
    """One well-formed session that sends each kind of packet the fuzzer sends once: a will,
    a QoS 2 exchange, a QoS 1 retained message, and in 5.0 a shared subscription with options
    and an identifier and PUBLISHes with properties and a topic alias. A board loads the
    modules of these paths on demand (and keeps them): loading them after the reference
    reading of memory, where the random fuzz happens to reach one late, is not a leak."""
    with socket.create_connection((host, port), timeout=WAIT) as s:
        if v5:
            s.sendall(mqttc.connect5("fz-warm", properties=mqttc.props([(0x22, 4)]),
                                     will=("fz/a", b"w", 1, False),
                                     will_properties=mqttc.props([(0x18, 1), (0x01, 1)])))
            _expect(s, 2)
            s.sendall(mqttc.subscribe5(1, [("$share/g/fz/a", 1), ("fz/b/c", 2 | 4 | 8)],
                                       mqttc.props([(0x0B, 7)])))
            _expect(s, 9)
            s.sendall(mqttc.publish5("fz/b/c", b"x", 2, False, False, 2,
                                     mqttc.props([(0x02, 60), (0x23, 1), (0x03, "t")])))
            _expect(s, 5)
            s.sendall(mqttc.ack5(0x62, 2))
            _expect(s, 7)
            s.sendall(mqttc.publish5("", b"y", 1, False, False, 3, mqttc.props([(0x23, 1)])))
            _expect(s, 4)
            s.sendall(mqttc.publish5("fz/a", b"z", 1, True, False, 4,
                                     mqttc.props([(0x08, "fz/b/c"), (0x09, "c")])))
            _expect(s, 4)
            s.sendall(mqttc.unsubscribe5(5, ["$share/g/fz/a", "fz/b/c"]))
            _expect(s, 11)
            s.sendall(mqttc.disconnect5(0x04))  # with its will
        else:
            s.sendall(mqttc.connect("fz-warm", will=("fz/a", b"w", 1, False)))
            _expect(s, 2)
            s.sendall(mqttc.subscribe(1, [("fz/b/c", 2)]))
            _expect(s, 9)
            s.sendall(mqttc.publish("fz/b/c", b"x", 2, False, False, 2))
            _expect(s, 5)
            s.sendall(mqttc.pubrel(2))
            _expect(s, 7)
            s.sendall(mqttc.publish("fz/a", b"z", 1, True, False, 3))
            _expect(s, 4)
            s.sendall(mqttc.unsubscribe(4, ["fz/b/c"]))
            _expect(s, 11)
            s.close()  # no DISCONNECT: the will is published


def run_fuzz(host, port, alive, memory, label, ws_port=None, v5=False):
    """Fuzz a broker; alive() -> bool, memory() -> bytes; ws_port: fuzz its WebSocket
    listener there (the good clients stay on port); v5: MQTT 5.0 packets and good clients.
    Returns a summary dict."""
    fport = ws_port or port
    seed = int(os.environ.get("FUZZ_SEED", "0")) or random.randrange(1, 1 << 31)
    rng = random.Random(seed)
    print("%s network fuzz: seed %d (FUZZ_SEED=%d to replay)" % (label, seed, seed))
    good = GoodClients(host, port, v5)
    good.thread.start()
    try:
        # warm up so that buffers and caches exist before the reference reading
        sent = 0
        while sent < PACKETS // 10:
            sent += fuzz_connection(rng, host, fport, ws_port is not None, v5)
        exercise_every_path(host, port, v5)
        time.sleep(1.0)
        before = memory()
        deadline = time.monotonic() + SECONDS
        conns = 0
        while sent < PACKETS and time.monotonic() < deadline:
            sent += fuzz_connection(rng, host, fport, ws_port is not None, v5)
            conns += 1
            assert alive(), "broker died (seed %d, after %d packets)" % (seed, sent)
        good.stop.set()
        good.thread.join(WAIT)
        missing = good.missing()
        end_sessions(host, port, v5)
        time.sleep(1.5)  # fuzz connections closed, timers run
        after = memory()
    finally:
        good.stop.set()
        good.close()
    summary = {"seed": seed, "packets": sent, "connections": conns, "good_messages": good.sent,
               "missing": len(missing), "mem_before": before, "mem_after": after}
    print("%s network fuzz: %d packets over %d connections, %d good QoS 1 messages, "
          "%d missing, memory %d -> %d bytes" % (label, sent, conns, good.sent, len(missing),
                                                before, after))
    assert not missing, "subscriber missed %r (seed %d)" % (missing[:20], seed)
    assert good.sent > 0
    return summary


def _vm_rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for pid %d" % pid)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["tcp", "websockets", "tcp-v5"])
def test_fuzzed_packets_do_not_disturb_a_well_behaved_client(broker_factory, mode):
    b = broker_factory("listener {port} 127.0.0.1\nallow_anonymous true\n"
                       "connection_messages false\nlistener {port2} 127.0.0.1\n"
                       "protocol websockets\n")
    s = run_fuzz(b.host, b.port, lambda: b.proc.poll() is None, lambda: _vm_rss(b.proc.pid),
                 "CPython " + mode, b.port2 if mode == "websockets" else None, mode == "tcp-v5")
    assert s["packets"] >= min(PACKETS, 1000), s  # enough was tried to mean something
    assert b.proc.poll() is None
    log = b.log()
    assert "Traceback" not in log and "internal error" not in log, log[-3000:]
    # memory comes back to its level: fuzzed sessions, retained messages and buffers are
    # bounded, so RSS may not grow by more than a few MB however long the run
    assert s["mem_after"] <= s["mem_before"] + 4 * 1024 * 1024, s
