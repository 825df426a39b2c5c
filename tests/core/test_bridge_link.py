"""core/bridge/link.py between two real core brokers (an edge with the bridge and an upstream),
the test carrying the bytes as a port would: runs under CPython and MicroPython."""

from core.config import parse_config
from core.bridge.link import start
from harness import Harness
import mqttc


class Wire:
    """An edge Harness with one bridge to an upstream Harness; the test is the port."""

    def __init__(self, lines, rand=0.5):
        self.edge = Harness()
        self.up = Harness()
        cfg = parse_config("connection up\naddress 127.0.0.1:1883\n" + lines)
        self.link = start(self.edge.broker, cfg, "gw", lambda: rand)[0]
        self.conn = None  # the bridge's connection on the upstream

    def connect(self):
        """The port's part of a connection: poll gives the address, then bytes both ways."""
        assert self.link.poll(self.edge.now) == ("127.0.0.1", 1883)
        self.conn = self.up.broker.open(self.up.cfg.listeners[0], "127.0.0.1", 40000)
        self.link.opened(self.edge.now)
        self.carry()

    def carry(self, rounds=6):
        """Move bytes between the link and the upstream until both are quiet."""
        for _ in range(rounds):
            self.link.pump()
            if self.conn is None or self.link.closing:
                return
            moved = False
            if self.link.out:
                data = bytes(self.link.out)
                self.link.sent(len(data))
                self.up.broker.received(self.conn, data)
                moved = True
            if self.conn.out:
                data = bytes(self.conn.out)
                self.conn.sent(len(data))
                self.link.received(data)
                moved = True
            self.up.broker.pending.clear()
            self.edge.broker.pending.clear()
            if not moved:
                return

    def cut(self, why="test cut"):
        """The socket is gone: both sides learn it."""
        self.up.broker.closed(self.conn)
        self.conn = None
        self.link.lost(self.edge.now, why)


def test_out_and_in_messages_are_mapped_and_acknowledged_through():
    w = Wire("topic s/# out 1 site/ e1/\ntopic c/# in 2 l/ r/\n")
    w.connect()
    usub = w.up.subscriber("usub", "e1/#", 1)
    lsub = w.edge.subscriber("lsub", "l/#", 2)
    pub = w.edge.connected("pub")
    pub.publish("site/s/1", b"x", qos=1)
    w.carry()
    (p,) = usub.publishes()
    assert (p.topic, p.payload, p.qos) == (b"e1/s/1", b"x", 1)
    upub = w.up.connected("upub")
    upub.publish("r/c/2", b"y", qos=2)  # the upstream's QoS 2 flow ends at its PUBCOMP
    w.carry()
    (q,) = lsub.publishes()
    assert (q.topic, q.payload, q.qos) == (b"l/c/2", b"y", 2)
    assert not w.edge.broker.sessions["local.gw.up"].inflight


def test_while_the_link_is_down_messages_queue_and_go_out_in_order_with_dup_for_the_unacked():
    w = Wire("topic q/# out 1\nrestart_timeout 2 10\n")
    w.connect()
    usub = w.up.subscriber("usub", "q/#", 1, clean=False)
    pub = w.edge.connected("pub")
    pub.publish("q/1", b"1", qos=1)
    w.link.pump()  # on its way: in the link's output, not acknowledged
    w.cut()
    for i in range(2, 5):
        pub.publish("q/%d" % i, b"%d" % i, qos=1)
    s = w.edge.broker.sessions["local.gw.up"]
    assert (len(s.inflight), len(s.queue) >> 1) == (1, 3)
    assert w.link.poll(w.edge.now) is None  # backoff: between 2 and 10 s (rand 0.5: 4 s)
    w.edge.advance(3900)
    assert w.link.poll(w.edge.now) is None
    w.edge.advance(200)
    w.up.broker.debug = True  # its packet log shows what the bridge sent
    m = w.up.mark()
    w.connect()
    assert [p.topic for p in usub.publishes()] == [b"q/1", b"q/2", b"q/3", b"q/4"]
    sent = [line.split(", '")[0] + line.split(", '")[1][:4]
            for line in w.up.logs_since(m, ("debug",)) if line.startswith("Received PUBLISH")
            and "'$SYS" not in line]  # the bridge's state notification, QoS 0
    assert sent == ["Received PUBLISH from gw.up (d1, q1, r0, m1q/1'",
                    "Received PUBLISH from gw.up (d0, q1, r0, m2q/2'",
                    "Received PUBLISH from gw.up (d0, q1, r0, m3q/3'",
                    "Received PUBLISH from gw.up (d0, q1, r0, m4q/4'"]


def test_a_half_open_link_is_closed_after_keepalive_without_pingresp():
    w = Wire("topic k/# out 0\nkeepalive_interval 5\n")
    w.connect()
    w.edge.advance(5000)
    w.link.poll(w.edge.now)
    assert w.link.out == bytearray(b"\xc0\x00")  # PINGREQ after 5 s without sending
    w.link.sent(2)  # written, and black-holed: no PINGRESP comes
    w.edge.advance(4900)
    w.link.poll(w.edge.now)
    assert not w.link.closing
    w.edge.advance(200)
    w.link.poll(w.edge.now)
    assert w.link.closing and "keepalive timeout" in w.link.why


def test_a_message_that_came_in_over_the_bridge_is_not_sent_back():
    w = Wire("topic # both 1\n")
    w.connect()
    upub = w.up.connected("upub")
    usub = w.up.subscriber("usub", "#", 1)
    upub.publish("a/b", b"once", qos=1)
    w.carry()
    assert [p.topic for p in usub.publishes()] == [b"a/b"]  # once, not echoed by the bridge
    assert w.edge.broker.sessions["local.gw.up"].inflight == {}


def test_the_state_notification_and_sys_counts():
    w = Wire("topic n/# out 1\n")
    t = "$SYS/broker/connection/gw.up/state"
    assert w.edge.broker.retained.msgs[t][2] == b"0"
    w.connect()
    assert w.edge.broker.retained.msgs[t][2] == b"1"
    pub = w.edge.connected("pub")
    pub.publish("n/1", b"1", qos=1)
    w.carry()
    w.cut()
    pub.publish("n/2", b"2", qos=1)
    assert w.edge.broker.retained.msgs[t][2] == b"0"
    assert dict(w.link.sys_values()) == {"$SYS/broker/connection/gw.up/queued": 1,
                                         "$SYS/broker/connection/gw.up/sent": 1,
                                         "$SYS/broker/connection/gw.up/dropped": 0}


def test_refused_credentials_close_and_back_off_with_jitter_within_base_and_cap():
    w = Wire("topic x out\nremote_username u\nremote_password p\nrestart_timeout 1 8\n",
             rand=0.99)
    w.up.broker.auth = lambda conn, user, password: 5  # not authorized
    waits = []
    for _ in range(5):
        w.connect()
        assert w.link.closing and "not authorized" in w.link.why
        w.cut(None)
        at = w.link.at
        waits.append((at - w.edge.now) & ((1 << 30) - 1))
        w.edge.advance(waits[-1])
    assert waits == [2980, 8000, 8000, 8000, 8000]  # base + 0.99 * (3 * last - base), capped


def test_the_local_side_is_a_client_of_the_broker_named_local_clientid():
    w = Wire("topic o/# out 2\nlocal_clientid edge-bridge\n")
    m = w.edge.mark()
    w.connect()
    s = w.edge.broker.sessions["edge-bridge"]
    assert s.subs == {"o/#": 2} and s.conn is not None and not s.clean
    assert any("edge-bridge" in line for line in w.edge.logs_since(m))
    w.cut()
    assert s.conn is None and w.edge.broker.sessions["edge-bridge"] is s  # kept: it queues


def test_addresses_fail_over_in_turn_and_back_to_the_main_one_after_a_lost_link():
    w = Wire("address 127.0.0.2:1884 127.0.0.3\ntopic x out\nrestart_timeout 1\n")
    tried = []
    for _ in range(3):  # each connect fails: the next address, 1 s later
        a = w.link.poll(w.edge.now)
        tried.append(a)
        w.link.lost(w.edge.now, "Connection refused")
        w.edge.advance(1000)
    assert tried == [("127.0.0.1", 1883), ("127.0.0.2", 1884), ("127.0.0.3", 1883)]
    w.connect()  # the main one again (the list wrapped), connected
    w.edge.advance(1000)
    w.link.poll(w.edge.now)
    assert w.link.poll(w.edge.now) is None
    w.cut()
    w.edge.advance(1000)
    assert w.link.poll(w.edge.now) == ("127.0.0.1", 1883)  # round_robin false: the main first


def test_outgoing_retain_false_clears_the_flag_and_max_packet_size_drops_and_counts():
    w = Wire("topic r/# out 1\nbridge_outgoing_retain false\nbridge_max_packet_size 40\n")
    w.connect()
    usub = w.up.subscriber("usub", "r/#", 1)
    w.up.broker.debug = True
    m = w.up.mark()
    pub = w.edge.connected("pub")
    pub.publish("r/small", b"s", qos=1, retain=True)
    pub.publish("r/big", b"x" * 40, qos=1)
    w.carry()
    assert [p.payload for p in usub.publishes()] == [b"s"]
    assert [line[:47] for line in w.up.logs_since(m, ("debug",))
            if line.startswith("Received PUBLISH") and "'$SYS" not in line] == \
        ["Received PUBLISH from gw.up (d0, q1, r0, m1, 'r"]  # retain cleared
    assert dict(w.link.sys_values())["$SYS/broker/connection/gw.up/dropped"] == 1
    assert not w.edge.broker.sessions["local.gw.up"].inflight  # acknowledged locally


def test_an_upstream_that_refuses_try_private_is_connected_to_again_as_a_plain_client():
    w = Wire("topic p/# out 1\n")
    assert w.link.poll(w.edge.now) is not None
    w.link.opened(w.edge.now)
    assert w.link.out[8] == 0x84  # MQTT level 4 | 0x80
    w.link.received(b"\x20\x02\x00\x01")  # CONNACK 1: unacceptable protocol version
    assert w.link.closing
    w.link.lost(w.edge.now, None)
    assert w.link.poll(w.edge.now) == ("127.0.0.1", 1883)  # at once, the same address
    w.link.opened(w.edge.now)
    assert w.link.out[8] == 0x04


def test_an_upstream_that_closes_on_try_private_gets_every_other_connect_without_it():
    w = Wire("topic p/# out 1\nrestart_timeout 1\n")
    levels = []
    for _ in range(4):
        w.link.poll(w.edge.now)
        w.link.opened(w.edge.now)
        levels.append(w.link.out[8])
        w.link.lost(w.edge.now, "closed by the upstream")  # no CONNACK
        w.edge.advance(1000)
    assert levels == [0x84, 0x04, 0x84, 0x04]
    w.connect()  # accepted with 0x84 (this broker takes it): it stays on from now
    w.cut()
    for _ in range(2):
        w.edge.advance(1000)
        w.link.poll(w.edge.now)
        w.link.opened(w.edge.now)
        assert w.link.out[8] == 0x84
        w.link.lost(w.edge.now, "closed by the upstream")


def test_qos2_stays_exactly_once_when_the_link_drops_before_pubrec_or_before_pubcomp():
    w = Wire("topic e/# out 2\nrestart_timeout 1\n")
    w.connect()
    usub = w.up.subscriber("usub", "e/#", 2)
    pub = w.edge.connected("pub")
    # the first: PUBLISH reached the upstream, its PUBREC did not come back
    pub.publish("e/1", b"1", qos=2)
    w.link.pump()
    data = bytes(w.link.out)
    w.link.sent(len(data))
    w.up.broker.received(w.conn, data)
    w.conn.sent(len(w.conn.out))  # the upstream's PUBREC is lost with the link
    w.cut()
    w.edge.advance(1000)
    w.connect()  # the same packet id again with DUP: the upstream's session knows it
    # the second: PUBREC came, PUBREL was on its way when the link went
    pub.publish("e/2", b"2", qos=2)
    w.link.pump()
    data = bytes(w.link.out)
    w.link.sent(len(data))
    w.up.broker.received(w.conn, data)
    rec = bytes(w.conn.out)
    w.conn.sent(len(rec))
    w.link.received(rec)  # PUBREC: the local side answers PUBREL, which goes no further
    assert w.link.out[:1] == b"\x62"
    (f,) = w.edge.broker.sessions["local.gw.up"].flags.values()
    assert f & 8  # waiting for PUBCOMP
    w.cut()
    w.edge.advance(1000)
    w.connect()  # PUBREL again, PUBCOMP ends it
    assert [p.payload for p in usub.publishes()] == [b"1", b"2"]
    assert w.edge.broker.sessions["local.gw.up"].inflight == {}


def test_a_slow_upstream_leaves_messages_at_the_local_side_past_out_limit():
    w = Wire("topic z/# out 0\n")
    w.connect()
    w.edge.broker.out_limit = 100
    pub = w.edge.connected("pub")
    for i in range(20):
        pub.publish("z/%d" % i, b"x" * 10)  # 17 bytes each as sent upstream
    w.link.pump()
    assert 100 <= len(w.link.out) < 120  # the rest waits in the local side's output
    conn = w.link.conn
    assert conn.out
    n = 0
    while w.link.out:  # the socket takes 30 bytes at a time: sent() refills from the local side
        out = w.link.sent(min(30, len(w.link.out)))
        n += 1
        assert len(out) < 130
    assert not conn.out and n > 10


def test_qos0_messages_on_unmapped_topics_go_up_as_received_and_in_order_with_the_rest():
    w = Wire("topic a/# out 0\ntopic m/# out 0 l/ r/\ntopic q/# out 1\n"
             "bridge_max_packet_size 40\n")
    w.connect()
    usub = w.up.subscriber("usub", "#", 1)
    pub = w.edge.connected("pub")
    conn = w.link.conn
    tx0 = conn.tx_bytes  # its CONNACK and SUBACK
    w.edge.broker.debug = True
    m = w.edge.mark()
    pub.publish("a/1", b"1")
    assert w.link.out.endswith(mqttc.publish("a/1", b"1")) and not conn.out  # the bytes read
    pub.publish("q/1", b"2", qos=1)  # waits in the local side's output...
    pub.publish("a/2", b"3")  # ...so this one waits behind it
    pub.publish("l/m/1", b"4")  # mapped: made anew upstream
    pub.publish("a/r", b"5", retain=True)
    pub.publish("a/big", b"x" * 40)  # over bridge_max_packet_size: dropped, counted
    pub.publish("a/3", b"6")
    w.carry()
    assert [(p.topic, p.payload) for p in usub.publishes()] == [
        (b"a/1", b"1"), (b"q/1", b"2"), (b"a/2", b"3"), (b"r/m/1", b"4"), (b"a/r", b"5"),
        (b"a/3", b"6")]
    assert w.up.broker.retained.msgs["a/r"][2] == b"5"  # sent retained
    v = dict(w.link.sys_values())
    assert (v["$SYS/broker/connection/gw.up/sent"], v["$SYS/broker/connection/gw.up/dropped"]) \
        == (6, 1)
    assert [line for line in w.edge.logs_since(m, ("debug",)) if "Sending PUBLISH to local" in
            line][:2] == ["Sending PUBLISH to local.gw.up (d0, q0, r0, m0, 'a/1', ... (1 bytes))",
                          "Sending PUBLISH to local.gw.up (d0, q1, r0, m1, 'q/1', ... (1 bytes))"]
    assert conn.tx_msgs == 7 and conn.tx_bytes - tx0 == len(b"".join(  # the big one too
        mqttc.publish(t, m) for t, m in (("a/1", b"1"), ("a/2", b"3"), ("l/m/1", b"4"),
                                         ("a/r", b"5"), ("a/big", b"x" * 40), ("a/3", b"6")))
    ) + len(mqttc.publish("q/1", b"2", 1, pid=1))


def test_cleansession_true_keeps_nothing_while_the_link_is_down():
    w = Wire("topic c/# out 1\ncleansession true\n")
    w.connect()
    w.cut()
    pub = w.edge.connected("pub")
    pub.publish("c/1", b"1", qos=1)
    assert "local.gw.up" not in w.edge.broker.sessions  # as mosquitto: clean, nothing queued


def test_round_robin_false_on_a_second_address_tries_the_main_one_and_goes_back_to_it():
    w = Wire("address 127.0.0.2\ntopic x out\nrestart_timeout 1 3\n")
    w.link.poll(w.edge.now)
    w.link.lost(w.edge.now, "Connection refused")  # the main address refuses
    w.edge.advance(3000)
    assert w.link.poll(w.edge.now) == ("127.0.0.2", 1883)
    w.conn = w.up.broker.open(w.up.cfg.listeners[0], "127.0.0.1", 40000)
    w.link.opened(w.edge.now)
    w.carry()
    assert w.link.probe(w.edge.now) is None  # every restart_timeout cap (3 s)
    w.edge.advance(3000)
    assert w.link.probe(w.edge.now) == ("127.0.0.1", 1883)
    w.link.probed(w.edge.now, False)  # no answer: the link stays
    assert not w.link.closing and w.link.probe(w.edge.now) is None
    w.edge.advance(3000)
    assert w.link.probe(w.edge.now) == ("127.0.0.1", 1883)
    w.link.probed(w.edge.now, True)
    assert w.link.closing  # the port closes the socket
    w.cut()
    assert w.link.poll(w.edge.now) == ("127.0.0.1", 1883)  # at once, the main address


def test_round_robin_goes_on_to_the_next_address_after_a_lost_link():
    w = Wire("address 127.0.0.2\ntopic x out\nround_robin true\nrestart_timeout 1\n")
    w.connect()
    w.cut()
    w.edge.advance(1000)
    assert w.link.poll(w.edge.now) == ("127.0.0.2", 1883)
    w.conn = w.up.broker.open(w.up.cfg.listeners[0], "127.0.0.1", 40000)
    w.link.opened(w.edge.now)
    w.carry()
    w.edge.advance(5000)
    assert w.link.probe(w.edge.now) is None  # never back to the main address


def test_notifications_false_publishes_no_state_and_local_only_sets_no_will_upstream():
    w = Wire("topic x out\nnotifications false\n")
    w.connect()
    assert not [t for t in w.edge.broker.retained.msgs if t.startswith("$SYS")]
    assert w.up.broker.sessions["gw.up"].conn.will is None
    w2 = Wire("topic x out\nnotifications_local_only true\n")
    w2.connect()
    assert w2.edge.broker.retained.msgs["$SYS/broker/connection/gw.up/state"][2] == b"1"
    assert w2.up.broker.sessions["gw.up"].conn.will is None
    assert not [t for t in w2.up.broker.retained.msgs if t.startswith("$SYS")]
    w3 = Wire("topic x out\n")
    w3.connect()
    will = w3.up.broker.sessions["gw.up"].conn.will
    assert (will[0][0], will[0][2], will[1], will[2]) == \
        ("$SYS/broker/connection/gw.up/state", b"0", 1, 1)  # as mosquitto's: QoS 1, retained
    assert w3.up.broker.retained.msgs["$SYS/broker/connection/gw.up/state"][2] == b"1"


def test_start_type_lazy_starts_past_threshold_messages_and_stops_after_idle_timeout():
    # mosquitto.conf(5): a lazy bridge starts when more than threshold messages are queued
    # and stops after idle_timeout; then it waits for threshold messages again
    w = Wire("topic q/# out 1\nstart_type lazy\nthreshold 3\nidle_timeout 5\n")
    usub = w.up.subscriber("usub", "q/#", 1)
    pub = w.edge.connected("pub")
    for i in range(3):
        pub.publish("q/%d" % i, b"%d" % i, qos=1)
    w.edge.advance(2000)
    assert w.link.poll(w.edge.now) is None  # 3 queued: not more than threshold
    pub.publish("q/3", b"3", qos=1)
    w.connect()  # the 4th starts it
    assert [p.topic for p in usub.publishes()] == [b"q/0", b"q/1", b"q/2", b"q/3"]
    w.edge.advance(4000)
    pub.publish("q/4", b"4", qos=1)  # a message: idle from now on
    w.carry()
    w.edge.advance(4500)
    assert w.link.poll(w.edge.now) is None and not w.link.closing
    w.edge.advance(1000)
    w.link.poll(w.edge.now)
    assert w.link.closing and w.link.out.endswith(b"\xe0\x00")  # DISCONNECT: no will
    w.cut()
    w.edge.advance(10000)
    assert w.link.poll(w.edge.now) is None  # stopped until threshold messages queue again
    for i in range(5, 9):
        pub.publish("q/%d" % i, b"%d" % i, qos=1)
    w.connect()
    assert [p.topic for p in usub.publishes()][-4:] == [b"q/5", b"q/6", b"q/7", b"q/8"]
