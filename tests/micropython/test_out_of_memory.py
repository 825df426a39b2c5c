"""A delivery that finds no heap (a real MemoryError under micropython.heap_lock()) changes
nothing and waits in the session's queue; the broker retries it a second later."""

import os
import subprocess

from mpbroker import ROOT, micropython_exe

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


def _run():
    env = dict(os.environ)
    env["MICROPYPATH"] = ROOT + ":" + CORE_TESTS
    r = subprocess.run([micropython_exe(), "-X", "heapsize=2m", "-c", SCRIPT],
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
