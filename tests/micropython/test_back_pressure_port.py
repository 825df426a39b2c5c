"""Back-pressure on the MicroPython port (on by default): on the board model's heap
(board.main, boards/esp32 config, 112 KB) a publisher sending QoS 0 as fast as it can to
one subscriber beside 6 idle clients of 4 subscriptions loses nothing and nobody is
disconnected; a slow reader gets every QoS 0 and QoS 1 message; a subscriber that stops
reading is cut after slow_subscriber_timeout. Real sockets, the real interpreter."""

import time

from flow_support import (Publisher, idle_clients, read_numbered, slow_readers_get_everything,
                          still_open, subscriber)
from mpbroker import BOARD_HEAP, board_conf, start_board
BURST = 3000  # the benchmark sends 20,000 (tools/bench.py --scenarios burst)


def test_board_burst_to_one_subscriber_beside_idle_clients_loses_nothing(tmp_path, mpy_main):
    b = start_board(tmp_path, mpy_main, board_conf(), {}, heap=BOARD_HEAP)
    try:
        sub = subscriber(b.host, b.port, "sub", "b/#", 0)
        idle = idle_clients(b.host, b.port, 6, 4)
        pub = Publisher(b.host, b.port, "pub", "b/x", BURST, 0, size=64)
        pub.start()
        got = read_numbered(sub, BURST)
        pub.finish()
        assert got == list(range(BURST)), (len(got), b.log()[-2000:])
        assert all(still_open(s) for s in idle + [sub, pub.sock])
        assert "out of memory" not in b.log() and "disconnected" not in b.log(), b.log()
    finally:
        b.stop()


def test_slow_reader_gets_every_qos0_and_qos1_message(mp_broker_factory):
    b = mp_broker_factory("listener {port} 127.0.0.1\nallow_anonymous true\n"
                          "max_queued_messages 20\n")
    slow_readers_get_everything(b.host, b.port, 1500, 200, rcvbuf=4096, chunk=2048)
    assert "disconnected" not in b.log() and "dropped" not in b.log(), b.log()


def test_subscriber_that_stops_reading_is_cut_after_slow_subscriber_timeout(mp_broker_factory):
    b = mp_broker_factory("listener {port} 127.0.0.1\nallow_anonymous true\n"
                          "slow_subscriber_timeout 2\n")
    stuck = subscriber(b.host, b.port, "stuck", "t/#", 0, rcvbuf=4096)  # never reads again
    p = Publisher(b.host, b.port, "fast", "t/x", 20000, 0, size=200)
    t0 = time.monotonic()
    p.start()
    assert b.wait_for_log("'stuck' from 127.0.0.1", timeout=20), b.log()
    assert time.monotonic() - t0 >= 2
    assert "slow_subscriber_timeout" in b.log()
    p.finish()  # held while the subscriber was full, read again once it was cut
    assert still_open(p.sock)
    stuck.close()
