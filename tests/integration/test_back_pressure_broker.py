"""Back-pressure on the CPython port (back_pressure true): a publisher faster than a
subscriber is slowed by TCP instead of losing messages; a subscriber that stops reading
for slow_subscriber_timeout is disconnected and counted. Real sockets, the real process."""

import time

import mqttc
from flow_support import Publisher, slow_readers_get_everything, still_open, subscriber

CONF = ("listener {port} 127.0.0.1\nallow_anonymous true\nback_pressure true\n"
        "max_queued_messages 100\nsys_interval 1\n")


def test_slow_reader_gets_every_qos0_and_qos1_message_and_nobody_is_disconnected(
        broker_factory):
    b = broker_factory(CONF)
    # 4 MB at each QoS: several times the 1 MiB of unsent bytes that pauses the publishers
    slow_readers_get_everything(b.host, b.port, 4000, 1000, rcvbuf=16384, chunk=16384)
    assert "disconnected" not in b.log() and "dropped" not in b.log()


def test_subscriber_that_stops_reading_is_cut_after_slow_subscriber_timeout(broker_factory):
    b = broker_factory(CONF + "slow_subscriber_timeout 2\n")
    stuck = subscriber(b.host, b.port, "stuck", "t/#", 0, rcvbuf=4096)  # never reads again
    p = Publisher(b.host, b.port, "fast", "t/x", 10000, 0, size=1000)  # 10 MB
    t0 = time.monotonic()
    p.start()
    assert b.wait_for_log("'stuck' from 127.0.0.1", timeout=20)
    assert time.monotonic() - t0 >= 2
    p.finish()  # held while the subscriber was full, then read again
    assert "slow_subscriber_timeout" in b.log()
    watch = subscriber(b.host, b.port, "watch", "$SYS/broker/clients/backlog_disconnected", 0)
    assert read_sys_value(watch) == 1
    assert still_open(p.sock)


def read_sys_value(s):
    """The next retained or periodic $SYS value on s."""
    h, body = mqttc.read_packet(s)
    assert h & 0xF0 == 0x30
    return int(body[2 + ((body[0] << 8) | body[1]):])
