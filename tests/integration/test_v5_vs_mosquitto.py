"""MQTT 5.0 where the standard leaves the choice: this broker sends the bytes Debian's
mosquitto 2.0 sends (issue 15). Each case runs one raw-socket scenario against mosquitto
and against this broker, both started with the same config on loopback, and compares
every byte each connection received, packet by packet, and when it was closed. The cases
where README says the two differ on purpose assert that documented difference.

Only the Assigned Client Identifier is normalised (both brokers make up a random one).
Every close this broker decides is preceded by DISCONNECT with its reason code (MQTT 5.0
section 4.13, README): the cases where mosquitto closes without one are differences.
"""

import socket
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

import bridge_support
import mqttc
from brokerproc import HOST, MAIN, start_broker, stop_brokers
from mqttc import ack5, connect5, disconnect5, props, publish5, subscribe5, unsubscribe5

WAIT = 3.0  # seconds an answer may take
BASE = "listener {port} 127.0.0.1\nallow_anonymous true\n"
CLOSED = "closed"  # the broker closed the connection (or reset it)
SILENT = "silent"  # nothing came within WAIT and the connection stayed open
ASSIGNED = "auto-ID"  # what an Assigned Client Identifier is replaced by

@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """get(config lines) -> (mosquitto, this broker), both on BASE + those lines, started
    once a config for the module (this broker even with MQTT_TEST_BROKER=mosquitto)."""
    if not bridge_support.mosquitto_available():
        pytest.fail("%s missing: run tools/test.sh" % bridge_support.MOSQUITTO)
    folder = str(tmp_path_factory.mktemp("v5diff"))
    started = {}

    def get(extra):
        if extra not in started:
            n = len(started)
            conf = BASE + extra
            started[extra] = (
                start_broker(folder, "mosquitto%d" % n, conf,
                             command=[bridge_support.MOSQUITTO]),
                start_broker(folder, "ours%d" % n, conf, command=[sys.executable, MAIN]))
        return started[extra]
    yield get
    problems = stop_brokers([b for two in started.values() for b in two])
    assert not problems, problems


def shown(data):
    """A packet as its type's name and its bytes in hex, with an assigned client id
    replaced by ASSIGNED."""
    if data[0] >> 4 == mqttc.CONNACK and len(data) > 4:  # a v5 CONNACK (not 3.1.1's)
        body = mqttc.split5(data)[0][0]
        items = [(i, ASSIGNED if i == 0x12 else v) for i, v in body.props]
        data = mqttc.packet(data[0], data[2:4] + props(items))
    return "%s %s" % (mqttc.NAMES.get(data[0] >> 4, "?"), data.hex(" "))


class Run:
    """One scenario's connections (by name) to one broker and what they received, in the
    order the scenario read it: (name, shown packet, CLOSED or SILENT)."""

    def __init__(self, broker):
        self.port = broker.port
        self.socks = {}
        self.got = []

    def send(self, name, data):
        """Send data on connection name (opened at its first use)."""
        s = self.socks.get(name)
        if s is None:
            s = self.socks[name] = socket.create_connection((HOST, self.port), timeout=WAIT)
        try:
            s.sendall(data)
        except OSError:
            pass  # closed by the broker: what it sent before is still read

    def _next(self, name):
        """Record the next packet on name and return its type, or None at its end."""
        if (name, CLOSED) in self.got:
            return None
        try:
            p = mqttc.read_packet(self.socks[name])
        except socket.timeout:
            self.got.append((name, SILENT))
            return None
        if p is None:
            self.got.append((name, CLOSED))
            return None
        first, body = p
        self.got.append((name, shown(bytes([first]) + mqttc.varint(len(body)) + body)))
        return first >> 4

    def one(self, name, data=b""):
        """Send data, then record one packet (or the close)."""
        self.send(name, data)
        self._next(name)

    def sync(self, name, data=b""):
        """Send data and a PINGREQ, then record up to the PINGRESP (or the close)."""
        self.send(name, data + mqttc.pingreq())
        while self._next(name) not in (mqttc.PINGRESP, None):
            pass

    def end(self, name, data=b"", wait=WAIT):
        """Send data, then record everything until the broker closes (or wait passes)."""
        self.send(name, data)
        self.socks[name].settimeout(wait)
        while self._next(name) is not None:
            pass

    def close(self):
        """Close every connection (no DISCONNECT)."""
        for s in self.socks.values():
            s.close()


SAME = []  # scenarios where both brokers must send the same bytes
DIFFER = []  # scenarios where README says they differ, with how


def case(config=""):
    """Register a scenario fn(run, k) (k: a prefix unique to the case for client ids and
    topics) that both brokers, started with config, must answer alike."""
    def add(fn):
        SAME.append(pytest.param(fn, config, id=fn.__name__))
        return fn
    return add


def differs(tails, config=""):
    """Register a scenario as case() does, where README lists a difference on purpose:
    tails(k) -> (mosquitto's last records, ours), what each broker must end with after
    the records both got alike."""
    def add(fn):
        DIFFER.append(pytest.param(fn, config, tails, id=fn.__name__))
        return fn
    return add


def _run(broker, fn, k):
    r = Run(broker)
    try:
        fn(r, k)
    finally:
        r.close()
    return r.got


def both(pair, scenario, config):
    """(mosquitto's records, ours) of scenario, run on both side by side (a case that
    waits, waits once)."""
    k = scenario.__name__ + "-"
    with ThreadPoolExecutor(2) as ex:
        return list(ex.map(lambda b: _run(b, scenario, k), pair(config)))


@pytest.mark.parametrize("scenario,config", SAME)
def test_v5_packets_as_mosquitto_2_0(pair, scenario, config):
    got_m, got_o = both(pair, scenario, config)
    assert got_o == got_m


@pytest.mark.parametrize("scenario,config,tails", DIFFER)
def test_v5_packets_differ_from_mosquitto_2_0_as_readme_says(pair, scenario, config, tails):
    got_m, got_o = both(pair, scenario, config)
    tail_m, tail_o = tails(scenario.__name__ + "-")
    n_m = len(got_m) - len(tail_m)
    n_o = len(got_o) - len(tail_o)
    assert (got_m[n_m:], got_o[n_o:]) == (tail_m, tail_o)
    assert got_m[:n_m] == got_o[:n_o]


# ---- scenarios ----------------------------------------------------------------------

PINGRESP = "PINGRESP d0 00"
# CONNACK with mosquitto's defaults: Topic Alias Maximum 10, Receive Maximum 20
CONNACK_OK = "CONNACK 20 09 00 00 06 22 00 0a 21 00 14"


def closes(name, rc):
    """The records of connection name closed by the broker after DISCONNECT rc."""
    return [(name, "DISCONNECT e0 01 %02x" % rc), (name, CLOSED)]


def answers(name):
    """The records of connection name still open: the PINGRESP of a sync."""
    return [(name, PINGRESP)]


def c5(r, k, name="a", data=None, **kw):
    """Connection name sends a v5 CONNECT (client id k + name) and records the answer."""
    r.one(name, data if data is not None else connect5(k + name, **kw))


@case()
def connect_plain(r, k):
    c5(r, k)
    r.sync("a")
    r.end("a", disconnect5())


# ---- CONNECT ----

@case()
def connect_session_expiry(r, k):
    c5(r, k, properties=props([(0x11, 60)]))
    r.end("a", disconnect5())


@case()
def connect_receive_maximum(r, k):
    c5(r, k, properties=props([(0x21, 5)]))


@case()
def connect_maximum_packet_size(r, k):
    c5(r, k, properties=props([(0x27, 1000)]))


@case()
def connect_topic_alias_maximum(r, k):
    c5(r, k, properties=props([(0x22, 5)]))


@case()
def connect_request_problem_information_0(r, k):
    c5(r, k, properties=props([(0x17, 0)]))


@case()
def connect_request_problem_information_1(r, k):
    c5(r, k, properties=props([(0x17, 1)]))


@case()
def connect_request_response_information(r, k):
    c5(r, k, properties=props([(0x19, 1)]))


@case()
def connect_user_property(r, k):
    c5(r, k, properties=props([(0x26, ("a", "b"))]))


@case()
def connect_empty_client_id(r, k):
    c5(r, k, data=connect5(""))


@case()
def connect_empty_client_id_clean_start_0(r, k):
    c5(r, k, data=connect5("", clean=False))


@case()
def connect_bad_protocol_name(r, k):
    c5(r, k, data=connect5(k, proto=b"MQTX"))
    r.end("a")


@case()
def connect_bad_protocol_level(r, k):
    c5(r, k, data=mqttc.connect(k, level=6, properties=b"\x00"))
    r.end("a")


@case()
def connect_will_with_properties(r, k):
    r.sync("s", connect5(k + "s") + subscribe5(1, [(k + "will", 0)]))
    c5(r, k, will=(k + "will", b"gone", 1, False),
       will_properties=props([(0x01, 1), (0x02, 60), (0x03, "text/plain"),
                              (0x08, "re/ply"), (0x09, b"cd"), (0x26, ("u", "v"))]))
    r.socks["a"].close()
    r.sync("s")


@case()
def connect_will_delay(r, k):
    c5(r, k, will=(k + "will", b"gone", 0, False), will_properties=props([(0x18, 5)]))


@case()
def connect_auth_method(r, k):
    c5(r, k, properties=props([(0x15, "SCRAM-SHA-1")]))
    r.end("a")


# a protocol error (3.1.2.11.10), which closes (MQTT-4.13.1-1); mosquitto accepts it
@differs(lambda k: ([("a", CONNACK_OK), ("a", PINGRESP)], [("a", CLOSED)]))
def connect_auth_data_without_method(r, k):
    c5(r, k, properties=props([(0x16, b"xx")]))
    r.sync("a")


@case()
def connect_username_without_password(r, k):
    c5(r, k, username="u")


@case()
def connect_password_without_username(r, k):
    c5(r, k, password="p")


@case()
def connect_duplicate_property(r, k):
    c5(r, k, properties=props([(0x11, 1), (0x11, 2)]))
    r.end("a")


@case()
def connect_property_not_in_connect(r, k):
    c5(r, k, properties=props([(0x01, 1)]))
    r.end("a")


@case()
def connect_receive_maximum_0(r, k):
    c5(r, k, properties=props([(0x21, 0)]))
    r.end("a")


@case()
def connect_maximum_packet_size_0(r, k):
    c5(r, k, properties=props([(0x27, 0)]))
    r.end("a")


@case()
def connect_reserved_flag(r, k):
    c5(r, k, data=connect5(k, flags=0x03))
    r.end("a")


@case()
def connect_will_qos_3(r, k):
    c5(r, k, data=connect5(k, flags=0x1E, will=("t", b"m", 3, False)))
    r.end("a")


@differs(lambda k: ([("a", CLOSED)], closes("a", 0x82)))
def connect_twice(r, k):
    c5(r, k)
    r.sync("a", connect5(k + "a"))


@case()
def connect_first_packet_not_connect(r, k):
    r.end("a", mqttc.pingreq())


@case("max_keepalive 10\n")
def connect_keepalive_over_max_keepalive(r, k):
    c5(r, k, keepalive=60)


@case("max_keepalive 10\n")
def connect_keepalive_0_with_max_keepalive(r, k):
    c5(r, k, keepalive=0)


@case("max_qos 1\nretain_available false\nmax_packet_size 200\nmax_inflight_messages 2\n"
      "max_topic_alias 0\n")
def connect_connack_property_order(r, k):
    c5(r, k, data=connect5("", keepalive=0))


@case("max_qos 1\n")
def connect_will_qos_over_max_qos(r, k):
    c5(r, k, will=(k + "will", b"gone", 2, False))
    r.end("a")


@case("retain_available false\n")
def connect_will_retain_without_retain_available(r, k):
    c5(r, k, will=(k + "will", b"gone", 0, True))
    r.end("a")


@case()
def connect_session_present(r, k):
    c5(r, k, properties=props([(0x11, 60)]))
    r.end("a", disconnect5())
    c5(r, k, "b", data=connect5(k + "a", clean=False, properties=props([(0x11, 60)])))
    r.end("b", disconnect5(0, props([(0x11, 0)])))


# ---- SUBSCRIBE, UNSUBSCRIBE ----

def sub1(r, k, filters, properties=b"\x00"):
    """Connect a, subscribe with filters, record up to the PINGRESP."""
    c5(r, k)
    r.sync("a", subscribe5(1, filters, properties))


@case()
def subscribe_qos_0_1_2(r, k):
    sub1(r, k, [(k + "0", 0), (k + "1", 1), (k + "2", 2)])


@case()
def subscribe_options(r, k):
    sub1(r, k, [(k + "nl", 0x05), (k + "rap", 0x09), (k + "rh1", 0x12), (k + "rh2", 0x22)])


@case()
def subscribe_retain_handling_3(r, k):
    sub1(r, k, [(k + "t", 0x30)])


@case()
def subscribe_reserved_option_bits(r, k):
    sub1(r, k, [(k + "t", 0x40)])


@case()
def subscribe_qos_3(r, k):
    sub1(r, k, [(k + "t", 0x03)])


@case()
def subscribe_subscription_identifier(r, k):
    sub1(r, k, [(k + "t", 1)], props([(0x0B, 7)]))
    r.sync("a", publish5(k + "t", b"x", qos=1, pid=1))


# the spec calls it a protocol error (3.8.2.1.2); mosquitto says malformed
@differs(lambda k: (closes("a", 0x81), closes("a", 0x82)))
def subscribe_subscription_identifier_0(r, k):
    sub1(r, k, [(k + "t", 1)], props([(0x0B, 0)]))


@case()
def subscribe_user_property(r, k):
    sub1(r, k, [(k + "t", 1)], props([(0x26, ("a", "b"))]))


@case()
def subscribe_shared(r, k):
    sub1(r, k, [("$share/g/" + k + "t", 1)])
    r.sync("a", publish5(k + "t", b"x", qos=1, pid=1))


# MQTT-3.8.3-4: a protocol error; mosquitto grants it
@differs(lambda k: ([("a", "SUBACK 90 04 00 01 00 01")] + answers("a"), closes("a", 0x82)))
def subscribe_shared_no_local(r, k):
    sub1(r, k, [("$share/g/" + k + "t", 0x05)])


@case()
def subscribe_wildcard_in_level(r, k):
    sub1(r, k, [(k + "a+", 0)])


@case()
def subscribe_hash_not_last(r, k):
    sub1(r, k, [(k + "#/a", 0)])


@case()
def subscribe_empty_filter(r, k):
    sub1(r, k, [("", 0)])


@case()
def subscribe_no_filter(r, k):
    sub1(r, k, [])


@case()
def subscribe_bad_flags(r, k):
    c5(r, k)
    r.sync("a", b"\x80" + subscribe5(1, [(k + "t", 0)])[1:])


@case()
def unsubscribe_known_and_unknown(r, k):
    sub1(r, k, [(k + "t", 0)])
    r.sync("a", unsubscribe5(2, [k + "t", k + "u"]))


@case()
def unsubscribe_no_filter(r, k):
    c5(r, k)
    r.sync("a", unsubscribe5(2, []))


# ---- PUBLISH ----

@case()
def publish_no_subscribers(r, k):
    c5(r, k)
    r.sync("a", publish5(k + "t", b"0"))
    r.sync("a", publish5(k + "t", b"1", qos=1, pid=1))
    r.sync("a", publish5(k + "t", b"2", qos=2, pid=2))
    r.sync("a", ack5(0x62, 2))


def pubsub(r, k, filters=None, config_sub=None):
    """s subscribes to k + "t" (or filters) at QoS 2, p connects."""
    r.sync("s", connect5(k + "s") + subscribe5(1, filters or [(k + "t", 2)]))
    c5(r, k, "p")


@case()
def publish_each_qos_to_a_subscriber(r, k):
    pubsub(r, k)
    r.sync("p", publish5(k + "t", b"0"))
    r.sync("p", publish5(k + "t", b"1", qos=1, pid=1))
    r.sync("p", publish5(k + "t", b"2", qos=2, pid=2))
    r.sync("p", ack5(0x62, 2))
    r.sync("s")
    r.sync("s", ack5(0x40, 1) + ack5(0x50, 2))
    r.sync("s", ack5(0x70, 2))


@case()
def publish_properties_forwarded(r, k):
    pubsub(r, k)
    r.sync("p", publish5(k + "t", b"x", qos=1, pid=1, properties=props(
        [(0x01, 1), (0x02, 60), (0x03, "a/b"), (0x08, "re/ply"), (0x09, b"cd"),
         (0x26, ("u", "v")), (0x26, ("u", "w"))])))
    r.sync("s")


@case()
def publish_topic_alias(r, k):
    pubsub(r, k)
    r.sync("p", publish5(k + "t", b"1", properties=props([(0x23, 1)])))
    r.sync("p", publish5("", b"2", properties=props([(0x23, 1)])))
    r.sync("s")


@case()
def publish_unknown_topic_alias(r, k):
    c5(r, k)
    r.sync("a", publish5("", b"2", properties=props([(0x23, 2)])))


@differs(lambda k: (closes("a", 0x81), closes("a", 0x94)))  # the spec's code is 0x94
def publish_topic_alias_0(r, k):
    c5(r, k)
    r.sync("a", publish5(k + "t", b"2", properties=props([(0x23, 0)])))


@case()
def publish_topic_alias_over_maximum(r, k):
    c5(r, k)
    r.sync("a", publish5(k + "t", b"2", properties=props([(0x23, 11)])))


@case()
def publish_empty_topic_without_alias(r, k):
    c5(r, k)
    r.sync("a", publish5("", b"2"))


@case()
def publish_message_expiry(r, k):
    pubsub(r, k)
    r.sync("p", publish5(k + "t", b"x", qos=1, pid=1, properties=props([(0x02, 60)])))
    r.sync("s")


@case()
def publish_response_topic_with_wildcard(r, k):
    c5(r, k)
    r.sync("a", publish5(k + "t", b"x", qos=1, pid=1, properties=props([(0x08, "a/#")])))


# MQTT-3.3.4-6: a client's PUBLISH carries none, a protocol error; mosquitto takes it
@differs(lambda k: ([("a", "PUBACK 40 03 00 01 10")] + answers("a"), closes("a", 0x82)))
def publish_subscription_identifier_from_client(r, k):
    c5(r, k)
    r.sync("a", publish5(k + "t", b"x", qos=1, pid=1, properties=props([(0x0B, 1)])))


@case()
def publish_wildcard_topic(r, k):
    c5(r, k)
    r.sync("a", publish5(k + "+", b"x", qos=1, pid=1))


@case()
def publish_qos_3(r, k):
    c5(r, k)
    r.sync("a", publish5(k + "t", b"x", qos=3, pid=1))


@case("max_qos 1\n")
def publish_qos_over_max_qos(r, k):
    c5(r, k)
    r.sync("a", publish5(k + "t", b"x", qos=2, pid=1))


@case("retain_available false\n")
def publish_retain_without_retain_available(r, k):
    c5(r, k)
    r.sync("a", publish5(k + "t", b"x", retain=True))


@case("max_packet_size 100\n")
def publish_over_max_packet_size(r, k):
    c5(r, k)
    r.sync("a", publish5(k + "t", b"x" * 120, qos=1, pid=1))


@case()
def publish_over_client_maximum_packet_size(r, k):
    r.sync("s", connect5(k + "s", properties=props([(0x27, 40)]))
           + subscribe5(1, [(k + "t", 1)]))
    c5(r, k, "p")
    r.sync("p", publish5(k + "t", b"x" * 60, qos=1, pid=1))
    r.sync("p", publish5(k + "t", b"y", qos=1, pid=2))
    r.sync("s")


@case()
def pubrel_unknown_packet_id(r, k):
    c5(r, k)
    r.sync("a", ack5(0x62, 9))


@case()
def puback_unknown_packet_id(r, k):
    c5(r, k)
    r.sync("a", ack5(0x40, 9))


@case()
def retained_and_retain_handling(r, k):
    c5(r, k, "p")
    r.sync("p", publish5(k + "t", b"r", qos=1, pid=1, retain=True))
    r.sync("s", connect5(k + "s") + subscribe5(1, [(k + "t", 0x01)]))
    r.sync("s", subscribe5(2, [(k + "t", 0x11)]))
    r.sync("s", subscribe5(3, [(k + "t", 0x21)]))
    r.sync("s", subscribe5(4, [(k + "t", 0x09)]))
    r.sync("p", publish5(k + "t", b"", qos=1, pid=2, retain=True))


@case()
def no_local_and_retain_as_published(r, k):
    c5(r, k)
    r.sync("a", subscribe5(1, [(k + "t", 0x05), (k + "r", 0x08)]))
    r.sync("a", publish5(k + "t", b"own", qos=1, pid=1))
    r.sync("a", publish5(k + "r", b"kept", qos=1, pid=2, retain=True))


@case("max_inflight_messages 2\n")
def receive_maximum_of_the_client_honoured(r, k):
    r.sync("s", connect5(k + "s", properties=props([(0x21, 1)]))
           + subscribe5(1, [(k + "t", 1)]))
    c5(r, k, "p")
    for i in range(3):
        r.sync("p", publish5(k + "t", b"%d" % i, qos=1, pid=i + 1))
    r.sync("s")
    r.sync("s", ack5(0x40, 1))


# ---- DISCONNECT ----

@case()
def disconnect_with_will(r, k):
    r.sync("s", connect5(k + "s") + subscribe5(1, [(k + "will", 0)]))
    c5(r, k, will=(k + "will", b"gone", 0, False))
    r.end("a", disconnect5(0x04))
    r.sync("s")


@case()
def disconnect_normal_with_will(r, k):
    r.sync("s", connect5(k + "s") + subscribe5(1, [(k + "will", 0)]))
    c5(r, k, will=(k + "will", b"gone", 0, False))
    r.end("a", disconnect5(0x00))
    r.sync("s")


@case()
def disconnect_session_expiry_after_0(r, k):
    c5(r, k)
    r.sync("a", disconnect5(0, props([(0x11, 30)])))


@case()
def disconnect_bad_reason_code(r, k):
    c5(r, k)
    r.sync("a", disconnect5(0x03))


@case()
def disconnect_reason_string(r, k):
    c5(r, k)
    r.sync("a", disconnect5(0x80, props([(0x1F, "why")])))


@differs(lambda k: ([("a", CLOSED)], closes("a", 0x82)))
def auth_packet(r, k):
    c5(r, k)
    r.sync("a", mqttc.auth5())


@differs(lambda k: ([("a", CLOSED)], closes("a", 0x8d)))
def keepalive_timeout(r, k):
    c5(r, k, keepalive=1)
    r.end("a", wait=8.0)  # mosquitto checks keepalives every few seconds: 3 to 5 s here


@differs(lambda k: ([("a", CLOSED)], closes("a", 0x8E)))  # MQTT-3.1.4-3
def takeover(r, k):
    c5(r, k)
    c5(r, k, "b", data=connect5(k + "a"))
    r.end("a")


@differs(lambda k: ([("a", CLOSED)], closes("a", 0x81)))
def malformed_remaining_length(r, k):
    c5(r, k)
    r.sync("a", b"\x30\xff\xff\xff\xff\x01")


@case()
def malformed_publish_topic_utf8(r, k):
    c5(r, k)
    r.sync("a", publish5(b"\xc0\x80", b"x"))


@case()
def reserved_packet_type_0(r, k):
    c5(r, k)
    r.sync("a", b"\x00\x00")


@differs(lambda k: ([("a", CLOSED)], closes("a", 0x82)))
def connack_from_client(r, k):
    c5(r, k)
    r.sync("a", b"\x20\x03\x00\x00\x00")


@differs(lambda k: ([("a", CLOSED)], closes("a", 0x81)))
def pubrel_bad_flags(r, k):
    c5(r, k)
    r.sync("a", ack5(0x60, 1))


# malformed (MQTT-4.13.1-1); mosquitto answers it
@differs(lambda k: (answers("a"), closes("a", 0x81)))
def pingreq_with_body(r, k):
    c5(r, k)
    r.sync("a", b"\xc0\x01\x00")


# MQTT-3.3.1-2: malformed; mosquitto takes it
@differs(lambda k: (answers("a"), closes("a", 0x81)))
def publish_qos_0_with_dup(r, k):
    c5(r, k)
    r.sync("a", publish5(k + "t", b"x", dup=True))


@case()
def publish_qos_1_packet_id_0(r, k):
    c5(r, k)
    r.sync("a", publish5(k + "t", b"x", qos=1, pid=0))


@differs(lambda k: ([("a", CLOSED)], closes("a", 0x81)))
def puback_too_short(r, k):
    c5(r, k)
    r.sync("a", b"\x40\x01\x00")


@differs(lambda k: ([("a", CLOSED)], closes("a", 0x81)))
def disconnect_bytes_after_properties(r, k):
    c5(r, k)
    r.sync("a", b"\xe0\x03\x00\x00\x00")


@case()
def subscribe_packet_id_0(r, k):
    c5(r, k)
    r.sync("a", subscribe5(0, [(k + "t", 0)]))


@differs(lambda k: ([("a", CLOSED)], closes("a", 0x82)))
def publish_duplicate_property(r, k):
    c5(r, k)
    r.sync("a", publish5(k + "t", b"x", properties=props([(0x01, 0), (0x01, 0)])))


@case()
def puback_with_error_reason_from_client(r, k):
    pubsub(r, k)
    r.sync("p", publish5(k + "t", b"1", qos=1, pid=1))
    r.sync("s", ack5(0x40, 1, 0x80))


@case()
def subscribe_over_topic_alias_use(r, k):
    c5(r, k, properties=props([(0x22, 5)]))
    r.sync("a", subscribe5(1, [(k + "t", 0)]))
    r.sync("a", publish5(k + "t", b"x"))


@case()
def publish_payload_format_utf8_valid(r, k):
    pubsub(r, k)
    r.sync("p", publish5(k + "t", "é".encode(), qos=1, pid=1, properties=props([(0x01, 1)])))
    r.sync("s")


@case()
def unsubscribe_shared(r, k):
    sub1(r, k, [("$share/g/" + k + "t", 1)])
    r.sync("a", unsubscribe5(2, ["$share/g/" + k + "t", "$share/h/" + k + "t"]))


@case()
def connect_clean_start_0_no_session(r, k):
    c5(r, k, clean=False, properties=props([(0x11, 10)]))
    r.end("a", disconnect5(0, props([(0x11, 0)])))


@case()
def connect_session_expiry_never(r, k):
    c5(r, k, properties=props([(0x11, 0xFFFFFFFF)]))
    r.end("a", disconnect5(0, props([(0x11, 0)])))


@case()
def disconnect_session_expiry_after_nonzero(r, k):
    c5(r, k, properties=props([(0x11, 10)]))
    r.end("a", disconnect5(0, props([(0x11, 30)])))
    c5(r, k, "b", data=connect5(k + "a", clean=False))


# a server's packet from a client: a protocol error; mosquitto ignores it
@differs(lambda k: (answers("a"), closes("a", 0x82)))
def pingresp_from_client(r, k):
    c5(r, k)
    r.sync("a", b"\xd0\x00")


@case()
def unsubscribe_bad_flags(r, k):
    c5(r, k)
    r.sync("a", b"\xa0" + unsubscribe5(1, [k + "t"])[1:])


@differs(lambda k: ([("a", CLOSED)], closes("a", 0x82)))
def subscribe_duplicate_subscription_identifier(r, k):
    sub1(r, k, [(k + "t", 1)], props([(0x0B, 7), (0x0B, 8)]))


@case()
def publish_property_overruns(r, k):
    c5(r, k)
    r.sync("a", publish5(k + "t", b"x", properties=b"\x05\x02\x00"))


@case()
def publish_unknown_property(r, k):
    c5(r, k)
    r.sync("a", publish5(k + "t", b"x", properties=b"\x02\x7f\x00"))


# 0 and 1 are its values (3.3.2.3.2): a protocol error; mosquitto forwards it
@differs(lambda k: (answers("a"), closes("a", 0x82)))
def publish_payload_format_indicator_5(r, k):
    c5(r, k)
    r.sync("a", publish5(k + "t", b"x", properties=props([(0x01, 5)])))


# malformed (MQTT-4.13.1-1); mosquitto takes it
@differs(lambda k: (answers("s"), closes("s", 0x81)))
def puback_bytes_after_properties(r, k):
    pubsub(r, k)
    r.sync("p", publish5(k + "t", b"1", qos=1, pid=1))
    r.sync("s", b"\x40\x05\x00\x01\x00\x00\x00")


@case()
def pubrec_unknown_packet_id(r, k):
    c5(r, k)
    r.sync("a", ack5(0x50, 9))


@case()
def pubcomp_unknown_packet_id(r, k):
    c5(r, k)
    r.sync("a", ack5(0x70, 9))


# the session ends with the connection, so the will goes now (MQTT-3.1.2-8);
# mosquitto waits for the Will Delay Interval
@differs(lambda k: (answers("s"), [("s", shown(publish5(k + "will", b"gone"))), ("s", PINGRESP)]))
def disconnect_with_will_and_delay(r, k):
    r.sync("s", connect5(k + "s") + subscribe5(1, [(k + "will", 0)]))
    c5(r, k, will=(k + "will", b"gone", 0, False), will_properties=props([(0x18, 30)]))
    r.end("a", disconnect5(0x04))
    r.sync("s")


@case()
def unsubscribe_duplicate_user_property_allowed(r, k):
    sub1(r, k, [(k + "t", 0)])
    r.sync("a", unsubscribe5(2, [k + "t"], props([(0x26, ("a", "b")), (0x26, ("a", "b"))])))


@case()
def unsubscribe_packet_id_0(r, k):
    c5(r, k)
    r.sync("a", unsubscribe5(0, [k + "t"]))


@case()
def subscribe_invalid_utf8_filter(r, k):
    sub1(r, k, [(b"\xc0\x80", 0)])


# a server's packet from a client: a protocol error; mosquitto ignores it
@differs(lambda k: (answers("a"), closes("a", 0x82)))
def suback_from_client(r, k):
    c5(r, k)
    r.sync("a", b"\x90\x04\x00\x01\x00\x00")


# a server's packet from a client: a protocol error; mosquitto ignores it
@differs(lambda k: (answers("a"), closes("a", 0x82)))
def unsuback_from_client(r, k):
    c5(r, k)
    r.sync("a", b"\xb0\x04\x00\x01\x00\x00")


# reserved flags: malformed (MQTT-2.1.3-1); mosquitto takes it
@differs(lambda k: (answers("a"), closes("a", 0x81)))
def puback_bad_flags(r, k):
    c5(r, k)
    r.sync("a", ack5(0x41, 1))


# reserved flags: malformed (MQTT-2.1.3-1); mosquitto takes it
@differs(lambda k: (answers("a"), closes("a", 0x81)))
def pingreq_bad_flags(r, k):
    c5(r, k)
    r.sync("a", b"\xc1\x00")


@differs(lambda k: ([("a", CLOSED)], closes("a", 0x81)))
def disconnect_bad_flags(r, k):
    c5(r, k)
    r.sync("a", b"\xe1\x00")


@differs(lambda k: ([("a", CLOSED)], closes("a", 0x81)))
def pubrec_too_short(r, k):
    c5(r, k)
    r.sync("a", b"\x50\x01\x00")


@differs(lambda k: ([("a", CLOSED)], closes("a", 0x81)))
def disconnect_malformed_properties(r, k):
    c5(r, k)
    r.sync("a", b"\xe0\x03\x00\x05\x11")


@differs(lambda k: ([("a", CLOSED)], closes("a", 0x82)))
def disconnect_duplicate_property(r, k):
    c5(r, k, properties=props([(0x11, 10)]))
    r.sync("a", disconnect5(0, props([(0x11, 1), (0x11, 2)])))


@case()
def unsubscribe_duplicate_property(r, k):
    c5(r, k)
    r.sync("a", unsubscribe5(1, [k + "t"], props([(0x0B, 1)])))


@case()
def subscribe_property_not_allowed(r, k):
    sub1(r, k, [(k + "t", 1)], props([(0x01, 1)]))


@case()
def pubrel_bytes_after_reason(r, k):
    c5(r, k)
    r.sync("a", publish5(k + "t", b"x", qos=2, pid=1))
    r.sync("a", b"\x62\x03\x00\x01\x00")


# MQTT-3.3.4-7: DISCONNECT 0x93; mosquitto answers PUBREC 0x97
@differs(lambda k: ([("a", "PUBREC 50 03 00 03 97")] + answers("a"), closes("a", 0x93)), "max_inflight_messages 2\n")
def receive_maximum_exceeded_by_the_client(r, k):
    c5(r, k)
    for i in range(3):
        r.sync("a", publish5(k + "t", b"%d" % i, qos=2, pid=i + 1))


# Payload Format Indicator 1 with a payload that is not UTF-8: 0x99; mosquitto does not look
@differs(lambda k: ([("a", "PUBACK 40 03 00 01 10")] + answers("a"), [("a", "PUBACK 40 03 00 01 99")] + answers("a")))
def publish_payload_format_invalid_utf8(r, k):
    c5(r, k)
    r.sync("a", publish5(k + "t", b"\xff", qos=1, pid=1, properties=props([(0x01, 1)])))


# MQTT-4.8.2-1: not a valid shared subscription; mosquitto grants it as a plain filter
@differs(lambda k: ([("a", "SUBACK 90 04 00 01 00 01")] + answers("a"), [("a", "SUBACK 90 04 00 01 00 8f")] + answers("a")))
def subscribe_shared_empty_share_name(r, k):
    sub1(r, k, [("$share//" + k + "t", 1)])


# MQTT-4.8.2-2: not a valid shared subscription; mosquitto grants it as a plain filter
@differs(lambda k: ([("a", "SUBACK 90 04 00 01 00 01")] + answers("a"), [("a", "SUBACK 90 04 00 01 00 8f")] + answers("a")))
def subscribe_shared_without_filter(r, k):
    sub1(r, k, [("$share/g", 1)])


# MQTT-4.8.2-2: not a valid shared subscription, refused alone; mosquitto closes
@differs(lambda k: (closes("a", 0x81), [("a", "SUBACK 90 04 00 01 00 8f")] + answers("a")))
def subscribe_shared_wildcard_in_share_name(r, k):
    sub1(r, k, [("$share/g+/" + k + "t", 1)])


# 4.8.2: retained messages are not sent on a shared subscription; mosquitto sends them
@differs(lambda k: ([("a", "SUBACK 90 04 00 01 00 01"), ("a", shown(publish5(k + "t", b"r", retain=True))),
                     ("a", PINGRESP), ("p", PINGRESP)],
                    [("a", "SUBACK 90 04 00 01 00 01"), ("a", PINGRESP), ("p", PINGRESP)]))
def subscribe_shared_gets_no_retained(r, k):
    c5(r, k, "p")
    r.sync("p", publish5(k + "t", b"r", retain=True))
    sub1(r, k, [("$share/g/" + k + "t", 1)])
    r.sync("p", publish5(k + "t", b"", retain=True))


@case()
def resumed_session_resends_with_dup(r, k):
    keep = props([(0x11, 60)])
    r.sync("s", connect5(k + "s", properties=keep) + subscribe5(1, [(k + "t", 2)]))
    c5(r, k, "p")
    r.sync("p", publish5(k + "t", b"1", qos=1, pid=1))
    r.sync("p", publish5(k + "t", b"2", qos=2, pid=2) + ack5(0x62, 2))
    r.sync("s")
    r.socks["s"].close()
    r.sync("p", publish5(k + "t", b"3", qos=1, pid=3))
    r.sync("s2", connect5(k + "s", clean=False, properties=keep))
    r.sync("s2", disconnect5(0, props([(0x11, 0)])))


# MQTT-3.3.4-2 allows one copy at the highest QoS with every identifier (MQTT-3.3.4-4),
# which this broker sends (fewer bytes, less heap on a board); mosquitto sends one a
# subscription
@differs(lambda k: ([("a", shown(publish5(k + "t/x", b"x", properties=props([(0x0B, 4)])))),
                     ("a", shown(publish5(k + "t/x", b"x", 2, pid=1,
                                          properties=props([(0x0B, 3)])))),
                     ("a", shown(publish5(k + "t/x", b"x", 1, pid=2,
                                          properties=props([(0x0B, 3)]))))] + answers("a"),
                    [("a", shown(publish5(k + "t/x", b"x", 2, pid=1, properties=props(
                        [(0x0B, 3), (0x0B, 3), (0x0B, 4)]))))] + answers("a")))
def overlapping_subscriptions_one_copy(r, k):
    c5(r, k)
    r.sync("a", subscribe5(1, [(k + "t/#", 1), (k + "t/+", 2)], props([(0x0B, 3)])))
    r.sync("a", subscribe5(2, [(k + "t/x", 0)], props([(0x0B, 4)])))
    c5(r, k, "p")
    r.sync("p", publish5(k + "t/x", b"x", qos=2, pid=1) + ack5(0x62, 1))
    r.sync("a")


@case()
def subscribe_resubscribe_replaces(r, k):
    c5(r, k)
    r.sync("a", subscribe5(1, [(k + "t", 1)]))
    r.sync("a", subscribe5(2, [(k + "t", 0)]))
    r.sync("a", publish5(k + "t", b"x", qos=1, pid=1))


@case()
def will_retained_and_qos(r, k):
    c5(r, k, will=(k + "will", b"gone", 1, True))
    r.socks["a"].close()
    r.sync("s", connect5(k + "s") + subscribe5(1, [(k + "will", 1)]))


@case()
def session_expiry_over_and_resume_without_session(r, k):
    c5(r, k, properties=props([(0x11, 1)]))
    r.end("a", disconnect5())
    c5(r, k, "b", data=connect5(k + "a", clean=False))


@case("max_packet_size 100\n")
def connect_over_max_packet_size(r, k):
    c5(r, k, data=connect5(k, will=(k + "will", b"x" * 100, 0, False)))
    r.end("a")


@case()
def publish_to_dollar_sys(r, k):
    c5(r, k)
    r.sync("a", publish5("$SYS/" + k, b"x", qos=2, pid=2))


@case()
def subscribe_dollar_sys_and_wildcards(r, k):
    sub1(r, k, [("#", 0), ("+/" + k, 1), ("$SYS/" + k, 2)])
    r.sync("a", unsubscribe5(2, ["#", "+/" + k, "$SYS/" + k]))


# 4.7.2: the server SHOULD keep clients from exchanging messages on `$` topics (README,
# Policies); mosquitto refuses only $SYS
@differs(lambda k: ([("a", shown(publish5("$x/" + k, b"x", qos=1, pid=1))),
                     ("a", "PUBACK 40 02 00 01")] + answers("a"),
                    [("a", "PUBACK 40 03 00 01 87")] + answers("a")))
def publish_to_dollar_topic_with_subscriber(r, k):
    sub1(r, k, [("$x/" + k, 1)])
    r.sync("a", publish5("$x/" + k, b"x", qos=1, pid=1))


@case("max_qos 1\n")
def subscribe_qos_2_over_max_qos(r, k):
    sub1(r, k, [(k + "t", 2)])


@case("max_qos 0\n")
def publish_qos_1_over_max_qos_0(r, k):
    c5(r, k)
    r.sync("a", publish5(k + "t", b"x", qos=1, pid=1))


@case("allow_zero_length_clientid false\n")
def connect_empty_client_id_not_allowed(r, k):
    c5(r, k, data=connect5(""))
    r.end("a")


# the will's Payload Format Indicator 1 with a payload that is not UTF-8: 0x99 (MQTT 5.0
# 3.1.3.2.3 lets the server check, as for a PUBLISH: README); mosquitto does not look
@differs(lambda k: ([("a", CONNACK_OK), ("a", PINGRESP)], [("a", "CONNACK 20 03 00 99 00"),
                                                           ("a", CLOSED)]))
def connect_will_payload_format_invalid_utf8(r, k):
    c5(r, k, will=(k + "will", b"\xff", 0, False), will_properties=props([(0x01, 1)]))
    r.sync("a")


@case()
def connect_will_topic_with_wildcard(r, k):
    c5(r, k, will=(k + "#", b"x", 0, False))
    r.end("a")


@case()
def publish_topic_alias_reassigned(r, k):
    pubsub(r, k, [(k + "#", 2)])
    r.sync("p", publish5(k + "a", b"1", properties=props([(0x23, 1)])))
    r.sync("p", publish5(k + "b", b"2", properties=props([(0x23, 1)])))
    r.sync("p", publish5("", b"3", properties=props([(0x23, 1)])))
    r.sync("s")


@case()
def publish_qos_2_repeated_before_pubrel(r, k):
    pubsub(r, k)
    r.sync("p", publish5(k + "t", b"1", qos=2, pid=1))
    r.sync("p", publish5(k + "t", b"1", qos=2, pid=1, dup=True))
    r.sync("p", ack5(0x62, 1))
    r.sync("s")


@differs(lambda k: ([("s", CLOSED)], closes("s", 0x82)))
def pubrec_for_a_qos_1_delivery(r, k):
    pubsub(r, k, [(k + "t", 1)])
    r.sync("p", publish5(k + "t", b"1", qos=1, pid=1))
    r.sync("s", ack5(0x50, 1))


@differs(lambda k: ([("s", CLOSED)], closes("s", 0x82)))
def pubcomp_before_pubrec(r, k):
    pubsub(r, k)
    r.sync("p", publish5(k + "t", b"1", qos=2, pid=1) + ack5(0x62, 1))
    r.sync("s", ack5(0x70, 1))


@differs(lambda k: ([("s", CLOSED)], closes("s", 0x82)))
def puback_for_a_qos_2_delivery(r, k):
    pubsub(r, k)
    r.sync("p", publish5(k + "t", b"1", qos=2, pid=1) + ack5(0x62, 1))
    r.sync("s", ack5(0x40, 1))


@case()
def pubrec_with_error_reason_from_client(r, k):
    pubsub(r, k)
    r.sync("p", publish5(k + "t", b"1", qos=2, pid=1) + ack5(0x62, 1))
    r.sync("s", ack5(0x50, 1, 0x80))
    r.sync("s", ack5(0x70, 1))


@case()
def retained_with_message_expiry(r, k):
    c5(r, k, "p")
    r.sync("p", publish5(k + "t", b"r", qos=1, pid=1, retain=True,
                         properties=props([(0x02, 100), (0x03, "text")])))
    r.sync("s", connect5(k + "s") + subscribe5(1, [(k + "t", 0x09)]))
    r.sync("p", publish5(k + "t", b"", retain=True))


@case()
def unsubscribe_then_publish(r, k):
    sub1(r, k, [(k + "t", 1)])
    r.sync("a", unsubscribe5(2, [k + "t"]))
    r.sync("a", publish5(k + "t", b"x", qos=1, pid=1))


@case()
def subscribe_many_filters_mixed_errors(r, k):
    sub1(r, k, [(k + "a", 0), ("$share/g/" + k + "b", 2), (k + "c/+", 1), (k + "#", 0)])
