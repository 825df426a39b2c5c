"""The broker on a board (simulated by default, real with --board), flashed with
tools/deploy.py and started as a board starts it (board.main with /broker.conf and
/network.json), driven from the host by paho-mqtt and raw sockets."""

import queue
import socket
import time
import uuid

from hiltarget import WAIT, PahoClient, config_value
from mqttc import raw_connect, read_packet


def _id(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:6])


def test_broker_runs_from_the_flashed_files(broker):
    log = broker.log()
    assert "board.main" in log  # started by deploy.py --run, as main.py does at boot
    assert "Opening ipv4 listen socket on port %d." % broker.port in log
    c = PahoClient(broker, _id("hello"))
    c.close()


def test_pub_sub_qos_0_1_2_deliver_at_the_lower_qos(broker):
    # MQTT-3.8.4-6 / 3.3.5: delivered at min(publish QoS, granted QoS)
    topic = "hil/%s" % _id("qos")
    sub = PahoClient(broker, _id("sub"))
    pub = PahoClient(broker, _id("pub"))
    try:
        assert sub.subscribe(topic + "/#", 2) == 2
        for qos in (0, 1, 2):
            pub.publish("%s/%d" % (topic, qos), b"payload %d" % qos, qos)
        got = {}
        for _ in range(3):
            m = sub.message()
            got[m.topic] = (m.payload, m.qos)
        assert got == {"%s/%d" % (topic, q): (b"payload %d" % q, q) for q in (0, 1, 2)}
        # a QoS 1 subscription takes QoS 2 messages down to 1
        low = PahoClient(broker, _id("low"))
        try:
            assert low.subscribe(topic + "/2", 1) == 1
            pub.publish(topic + "/2", b"down", 2)
            assert low.message().qos == 1
        finally:
            low.close()
    finally:
        sub.close()
        pub.close()


def test_MQTT_3_3_1_6_retained_message_goes_to_new_subscribers(broker):
    topic = "hil/%s" % _id("retained")
    pub = PahoClient(broker, _id("pub"))
    pub.publish(topic, b"kept", 1, retain=True)
    pub.close()
    sub = PahoClient(broker, _id("sub"))
    try:
        sub.subscribe(topic, 1)
        m = sub.message()
        assert (m.topic, m.payload, m.retain) == (topic, b"kept", True)
    finally:
        sub.close()
    # MQTT-3.3.1-10: an empty retained message clears it
    pub = PahoClient(broker, _id("pub"))
    pub.publish(topic, b"", 1, retain=True)
    pub.close()
    sub = PahoClient(broker, _id("sub"))
    try:
        sub.subscribe(topic, 1)
        try:
            m = sub.message(timeout=1.5)
            raise AssertionError("retained message not cleared: %r" % m.payload)
        except queue.Empty:
            pass
    finally:
        sub.close()


def test_MQTT_3_1_2_8_will_is_published_when_the_connection_drops(broker):
    topic = "hil/%s" % _id("will")
    sub = PahoClient(broker, _id("sub"))
    try:
        sub.subscribe(topic, 1)
        s, rc = raw_connect(broker.host, broker.port, _id("dying"), will=(topic, b"gone", 1, False))
        assert rc == 0
        s.close()  # no DISCONNECT: the will must go out
        m = sub.message()
        assert (m.topic, m.payload) == (topic, b"gone")
    finally:
        sub.close()


def test_MQTT_3_1_2_24_silent_client_is_cut_off_after_one_and_a_half_keepalives(broker):
    topic = "hil/%s" % _id("ka")
    sub = PahoClient(broker, _id("sub"))
    try:
        sub.subscribe(topic, 0)
        s, rc = raw_connect(broker.host, broker.port, _id("silent"), keepalive=1,
                            will=(topic, b"timed out", 0, False))
        assert rc == 0
        s.settimeout(WAIT)
        started = time.monotonic()
        assert read_packet(s) is None  # the broker closes the connection
        waited = time.monotonic() - started
        s.close()
        # 1.5 x 1 s, the broker's 1 s tick and the network: never before 1 s
        assert 1.0 <= waited < WAIT
        assert sub.message().payload == b"timed out"  # a keepalive timeout sends the will
    finally:
        sub.close()


def test_connections_over_max_connections_are_refused(broker):
    limit = config_value(broker.config_text, "max_connections")
    socks = []
    try:
        for i in range(limit):
            s, rc = raw_connect(broker.host, broker.port, _id("full%d" % i))
            socks.append(s)
            assert rc == 0, "client %d of %d refused" % (i + 1, limit)
        s, rc = raw_connect(broker.host, broker.port, _id("extra"))
        socks.append(s)
        assert rc is None  # closed without CONNACK, as mosquitto does
        assert broker.wait_for_log("max_connections (%d) reached" % limit)
    finally:
        for s in socks:
            s.close()
    # the slots come back once those clients are gone
    deadline = time.monotonic() + WAIT
    while True:
        s, rc = raw_connect(broker.host, broker.port, _id("again"))
        s.close()
        if rc == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert rc == 0


def test_heap_is_given_back_when_the_broker_stops(broker):
    # Some traffic with state that must all be freed: sessions, a retained message, a
    # queued QoS 1 message for a subscriber that is gone.
    topic = "hil/%s" % _id("heap")
    sub = PahoClient(broker, _id("sub"))
    sub.subscribe(topic, 1)
    pub = PahoClient(broker, _id("pub"))
    for i in range(20):
        pub.publish(topic, b"x" * 200, 1, retain=(i == 0))
    for _ in range(20):
        sub.message()
    sub.close()
    pub.close()
    log = broker.log()
    assert "memory low" not in log and "out of memory" not in log
    assert "internal error" not in log
    at_start = broker.heap_at_start()
    free_busy, _ = broker.stop()  # Ctrl-C: the clean stop, then gc.collect()
    assert free_busy > at_start, "stopping freed nothing (%d < %d)" % (free_busy, at_start)
    # A second run with no clients at all must end with the same free heap: whatever the
    # busy run allocated was freed, not kept in a module or a cache.
    broker.start()
    assert broker.heap_at_start() >= at_start - 1024
    free_idle, _ = broker.stop()
    print("heap free: %d at start, %d after the busy run, %d after an idle run"
          % (at_start, free_busy, free_idle))
    assert free_busy >= free_idle - 1024, (free_busy, free_idle)


def test_port_is_closed_once_the_broker_stopped(board):
    if board.running():
        board.stop()
    with socket.socket() as s:
        s.settimeout(WAIT)
        assert s.connect_ex((board.host, board.port)) != 0
