"""Persistence on the MicroPython port (unix build, .mpy files as on a board): records are
written in batches at most autosave_interval apart, so a kill -9 loses at most the messages
acknowledged within that window before it; a clean stop loses nothing."""

import signal
import threading
import time

import mqttc
from persist_clients import check_received, connect, drain, publisher, shared_handover_v5

CONF = ("listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
        "autosave_interval 1\nmax_queued_messages 0\nsys_interval 0\n")
WINDOW_S = 1.0  # autosave_interval above
SLACK_S = 0.5  # a loop turn (the port polls every 500 ms at most) and the write itself
HEAP = "16m"  # thousands of queued messages: the flush window is under test, not the heap


def _load(b, seconds):
    """Two QoS 1 publishers to an offline persistent subscriber for seconds; their acks."""
    s, _ = connect(b, "sub", clean=False)
    s.sendall(mqttc.subscribe(1, [("load/#", 1)]))
    assert mqttc.read_packet(s)[0] == 0x90
    s.close()
    acked = [[], []]
    stop = threading.Event()
    ts = [threading.Thread(target=publisher, args=(b, n, 1, acked, stop)) for n in range(2)]
    for t in ts:
        t.start()
    time.sleep(seconds)
    return acked, stop, ts


def test_kill_9_loses_only_what_was_acknowledged_within_the_flush_window(mp_broker_factory):
    b = mp_broker_factory(CONF, heap=HEAP)
    acked, stop, ts = _load(b, 2.5)
    b.proc.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    b.proc.wait(10)
    stop.set()
    for t in ts:
        t.join(10)
    safe = [a for a in acked[0] + acked[1] if a[1] <= killed - WINDOW_S - SLACK_S]
    assert len(safe) > 20, acked  # enough was acknowledged before the window to check
    b2 = mp_broker_factory(CONF, heap=HEAP)
    got = drain(b2, "sub")
    check_received(got, acked, before=killed - WINDOW_S - SLACK_S)
    assert "Traceback" not in b2.log()


def test_a_clean_stop_keeps_every_acknowledged_message(mp_broker_factory):
    b = mp_broker_factory(CONF, heap=HEAP)
    acked, stop, ts = _load(b, 1.0)
    stop.set()
    for t in ts:
        t.join(10)
    assert b.stop() == 0
    b2 = mp_broker_factory(CONF, heap=HEAP)
    got = drain(b2, "sub")
    check_received(got, acked)
    assert len(got) >= len(acked[0]) + len(acked[1])


def test_MQTT_3_3_4_5_a_shared_message_handed_over_after_kill_9_carries_its_takers_identifier(
        mp_broker_factory):
    """persist_clients.shared_handover_v5 on the port's .mpy files, with kill -9 once the
    flush window has passed."""
    def kill(b):
        time.sleep(WINDOW_S + SLACK_S + 0.5)
        b.proc.send_signal(signal.SIGKILL)
        b.proc.wait(10)
    b2 = shared_handover_v5(lambda: mp_broker_factory(CONF, heap=HEAP), kill)
    assert "Traceback" not in b2.log()
