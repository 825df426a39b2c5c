"""A delivery that finds no heap (a real MemoryError under micropython.heap_lock()) changes
nothing and waits in the session's queue; the broker retries it a second later. With
back_pressure on, a packet whose routing finds no heap (a fragmented heap: a subscriber's
grown output buffer has no block to move to) is kept and routed again: the publisher is
not disconnected and nothing acknowledged is lost; from a WebSocket client too (the
port's real Server, wshook and wsport), without the client sending another byte."""

import os
import subprocess

import pytest

from mpbroker import PORT_DIR, ROOT, micropython_exe

CORE_TESTS = os.path.join(ROOT, "tests", "core")

SCRIPT = r"""
import micropython
from harness import Harness
import mqttc
from core import deliver

h = Harness(max_inflight_messages=1, sys_interval=0)
sub = h.subscriber("s", "t/#", qos=1)
pub = h.connected("p")
pub.publish("t/1", b"one", qos=1, pid=1)
pub.publish("t/2", b"two" * 100, qos=1, pid=2)  # queued behind the window of 1
got = sub.publishes()
print("FIRST", [(p.topic, p.payload) for p in got])
sess = sub.conn.session
print("QUEUED", len(sess.queue) // 2)
sub.conn.out = bytearray()  # empty: writing the next message must allocate
m, f = sess.queue[0], sess.queue[1]
before = (dict(sess.inflight), dict(sess.flags), h.broker.msgs_out, len(h.broker.pending))
micropython.heap_lock()
try:
    ok = deliver._start(h.broker, sess, sub.conn, m, f & 3, f >> 2)
finally:
    micropython.heap_unlock()
after = (dict(sess.inflight), dict(sess.flags), h.broker.msgs_out, len(h.broker.pending))
print("START", ok, before == after, len(sub.conn.out))
# The PUBACK of the first message refills; a refill that fails is retried on the next second
sub.send(mqttc.puback(got[0].pid))
print("SECOND", [(p.topic, len(p.payload)) for p in sub.publishes()])
deliver.retry_later(h.broker, sess)
deliver.retry_later(h.broker, sess)
print("RETRY", len(h.broker.retry))
h.advance(1000)
print("RETRY_AFTER", len(h.broker.retry))
"""


# A back-pressure broker, a QoS 1 subscriber to t/#, and data: a retained QoS 1 PUBLISH
# whose routing copies its 1,000-byte payload into one new block
HELD = r"""
import gc
from core import flow  # noqa: F401  (loaded before the heap is short, as the port does)
from harness import Harness
import mqttc

h = Harness(back_pressure=True, sys_interval=0, slow_subscriber_timeout=2)
b = h.broker
sub = h.subscriber("s", "t/#", qos=1)
data = mqttc.publish("t/r", b"r" * 1000, qos=1, retain=True, pid=5)
if len(data) % 16 == 1:
    data = mqttc.publish("t/r", b"r" * 1001, qos=1, retain=True, pid=5)
"""

# The heap filled with 200-byte blocks and holes of about 400 bytes: none for the payload's
# copy (b.stuck has room for one entry first)
FRAGMENT = r"""
b.stuck.append(0)
b.stuck.pop()
gc.collect()
fill = [None] * 4000
n = 0
try:
    while n < 4000:
        fill[n] = bytearray(200)
        n += 1
except MemoryError:
    fill[n - 1] = None  # room for the loop below
for i in range(0, n - 1, 8):  # holes of about 400 bytes: none for the payload's copy
    fill[i] = None
    fill[i + 1] = None
gc.collect()
"""

FRAGMENTED = HELD + r"""
pub = h.connected("p")
pub.send(data[:-1])  # all but its last byte: kept in the connection's input buffer
""" + FRAGMENT + r"""
b.received(pub.conn, data[-1:])  # completes the packet in place; routing finds no heap
print("KEPT", len(b.stuck), pub.conn.closing, len(pub.conn.inbuf or b"") == len(data))
if KEEP_FULL:  # the heap never recovers: after slow_subscriber_timeout the load is shed
    h.advance(2000)
    print("SHED", pub.conn.closing, len(b.stuck),
          len([m for lv, m in h.logs if "out of memory while handling 'p'" in m]))
fill = None
gc.collect()
h.advance(1000)
print("GOT", [(p.topic, len(p.payload), p.retain) for p in sub.publishes()])
print("ACK", [(p.type, p.pid) for p in pub.packets()], len(b.stuck), pub.conn.closing,
      len(sub.conn.session.queue) % 2)
"""


# The same packet from a WebSocket client, read as the MicroPython port reads: into the
# Server's receive buffer, through the broker.received that wshook/wsport install
WS_FRAGMENTED = HELD + r"""
from core import ws
from core.listener import Listener
from loop import MIN_FREE, Server
from test_ws import KEY, masked, unframe
import wshook

server = Server(b, h._log, MIN_FREE, 256)  # smaller than the PUBLISH's frame, as a board's
wshook.install(server)
l = Listener(8080)
l.protocol = "websockets"
h.cfg.listeners.append(l)
conn = b.open(l, "127.0.0.1", 40000)


def feed(x):
    for i in range(0, len(x), len(server.buf)):  # as the port reads: a buffer at a time
        n = min(len(x) - i, len(server.buf))
        server.buf[:n] = x[i:i + n]
        b.received(conn, server.mv[:n])
    b.pending.clear()


feed(b"GET /mqtt HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     b"Sec-WebSocket-Key: " + KEY.encode() + b"\r\nSec-WebSocket-Version: 13\r\n"
     b"Sec-WebSocket-Protocol: mqtt\r\n\r\n")
feed(masked(mqttc.connect("p")))
last = masked(data[-1:])  # framed before the heap is short
feed(masked(data[:-1]))  # all but its last byte: kept in the connection's input buffer
""" + FRAGMENT + r"""
feed(last)  # completes the packet; routing finds no heap
print("KEPT", len(b.stuck), conn.closing, len(conn.inbuf or b"") == len(data))
fill = None
gc.collect()
h.advance(1000)  # no byte from the client: flow.check routes the kept packet again
print("GOT", [(p.topic, len(p.payload), p.retain) for p in sub.publishes()])
ws.frame(conn)
out = bytes(conn.out)
print("ACK", unframe(out[out.index(b"\r\n\r\n") + 4:]), len(b.stuck), conn.closing)
"""


def _run(script=SCRIPT, heap="2m"):
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join((ROOT, CORE_TESTS, PORT_DIR))
    r = subprocess.run([micropython_exe(), "-X", "heapsize=" + heap, "-c", script],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return dict(l.split(" ", 1) for l in r.stdout.strip().split("\n"))


def test_a_delivery_without_heap_changes_nothing_and_reports_it():
    out = _run()
    assert out["FIRST"] == "[(b't/1', b'one')]"
    assert out["QUEUED"] == "1"
    assert out["START"] == "False True 0"  # refused, in-flight state and counters untouched


def test_the_queued_message_is_sent_once_there_is_room_and_retries_are_not_duplicated():
    out = _run()
    assert out["SECOND"] == "[(b't/2', 300)]"
    assert out["RETRY"] == "1"  # a session is listed once however often it failed
    assert out["RETRY_AFTER"] == "0"  # the next second took the list


def test_back_pressure_keeps_a_packet_that_found_no_heap_and_routes_it_again():
    out = _run("KEEP_FULL = False\n" + FRAGMENTED, "256k")
    assert out["KEPT"] == "1 False True"  # kept back, the publisher still connected
    assert out["GOT"] in ("[(b't/r', 1000, 0)]", "[(b't/r', 1001, 0)]")  # delivered once
    assert out["ACK"] == "[(4, 5)] 0 False 0"  # one PUBACK, nothing left kept, queue whole


def test_a_packet_that_finds_no_heap_for_slow_subscriber_timeout_costs_its_connection():
    out = _run("KEEP_FULL = True\n" + FRAGMENTED, "256k")
    assert out["KEPT"] == "1 False True"
    assert out["SHED"] == "True 0 1"  # closed, logged once, no longer kept


def test_a_websocket_packet_kept_for_heap_is_routed_again_without_more_bytes_from_it():
    # Whether the heap FRAGMENT leaves has a block for the payload's copy once the frame's
    # last byte has grown conn.inbuf depends on where the allocations fell (the checkout's
    # path length moves them): a block of PAD bytes taken first shifts them, tried in turn
    # until one layout keeps the packet; in each the message is delivered and acknowledged
    # once
    for pad in (0, 16, 48, 112, 240, 496, 1008):
        script = WS_FRAGMENTED.replace("\n" + FRAGMENT, "\npad = bytearray(%d)\n" % pad
                                       + FRAGMENT)
        assert script != WS_FRAGMENTED
        out = _run(script, "384k")
        assert out["GOT"] in ("[(b't/r', 1000, 0)]", "[(b't/r', 1001, 0)]"), pad  # once
        # the CONNACK and the PUBACK, framed together (the test frames only once)
        assert out["ACK"] == "[(2, b' \\x02\\x00\\x00@\\x02\\x00\\x05')] 0 False", pad
        if out["KEPT"] == "1 False True":
            return
        assert out["KEPT"] == "0 False False", pad  # routed at once: heap was found
    pytest.fail("no layout left the packet without a block for its payload")
