"""Property tests of the codec in core/proto.py (hypothesis, CPython only): what the codec writes reads
back the same, and any bytes either read or raise the codec's own ProtocolError."""

import os
import sys

import pytest

pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "core"))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from core.broker import Broker  # noqa: E402
from core.proto import Reader, put_publish, put_varint  # noqa: E402
from core.config import Config  # noqa: E402
from core.errors import ProtocolError  # noqa: E402
import mqttc  # noqa: E402
from v5_strategies import chars  # noqa: E402

SETTINGS = settings(max_examples=300, deadline=None)
# topic names a client may publish to: no wildcards, not starting with $
TOPIC = st.text(alphabet=chars("+#$"), min_size=1, max_size=40)


@SETTINGS
@given(st.integers(0, 268435455))
def test_varint_round_trip_through_the_frame_reader(n):
    out = bytearray()
    put_varint(out, n)
    assert 1 <= len(out) <= 4
    # decoded here by the spec's algorithm (section 2.2.3), independently of core/
    value, mult = 0, 1
    for i, d in enumerate(out):
        value += (d & 0x7F) * mult
        mult *= 128
        if not d & 0x80:
            break
    assert i == len(out) - 1 and value == n


def _connected(*streams):
    """A new broker and a connection for each stream of packets (a CONNECT first) it has
    received, what they were sent so far taken."""
    cfg = Config()
    cfg.finish()
    b = Broker(cfg)
    b.tick(0)
    conns = []
    for i, data in enumerate(streams):
        c = b.open(cfg.listeners[0], "127.0.0.1", i + 1)
        b.received(c, data)
        c.sent(len(c.out))
        conns.append(c)
    return b, conns


@SETTINGS
@given(TOPIC, st.binary(max_size=300), st.integers(0, 2), st.booleans(), st.integers(1, 65535))
def test_publish_written_by_the_codec_reaches_a_subscriber_unchanged(topic, payload, qos,
                                                                     retain, pid):
    b, (sub, pub) = _connected(mqttc.connect("s") + mqttc.subscribe(1, [("#", qos)]),
                               mqttc.connect("p"))
    pkt = bytearray()
    put_publish(pkt, 0x30 | (qos << 1) | retain, topic.encode(), pid, payload)
    b.received(pub, bytes(pkt))
    if qos == 2:
        b.received(pub, mqttc.pubrel(pid))  # delivered on PUBREL
    assert not pub.closing
    got = mqttc.parse(bytes(sub.out))
    assert len(got) == 1
    p = got[0]
    assert (p.topic, p.payload, p.qos) == (topic.encode(), payload, qos)


@SETTINGS
@given(st.binary(max_size=64), st.lists(st.sampled_from("u8 u16 binary string span".split()),
                                         max_size=8))
def test_reader_reads_or_raises_protocol_error_only(data, calls):
    r = Reader(memoryview(data), 0, len(data))
    for name in calls:
        try:
            getattr(r, name)()
        except ProtocolError:
            return
        assert 0 <= r.pos <= len(data)


# ---- MQTT 5.0 (tests/v5_strategies.py) ----

from v5_strategies import publish_properties  # noqa: E402


@SETTINGS
@given(TOPIC, st.binary(max_size=100), st.integers(0, 2), st.booleans(), publish_properties(10))
def test_v5_publish_properties_reach_a_v5_subscriber_as_sent_and_a_311_one_not_at_all(
        topic, payload, qos, retain, items):
    b, (s5, s4, pub) = _connected(mqttc.connect5("s5") + mqttc.subscribe5(1, [("#", 2)]),
                                  mqttc.connect("s4") + mqttc.subscribe(1, [("#", 2)]),
                                  mqttc.connect5("p"))
    b.received(pub, mqttc.publish5(topic, payload, qos, retain, False, 7 if qos else None,
                                   mqttc.props(items)))
    if qos == 2:
        b.received(pub, mqttc.pubrel(7))  # delivered on PUBREL
    assert not pub.closing
    [m5] = mqttc.split5(bytes(s5.out))[0]
    [m4] = mqttc.parse(bytes(s4.out))
    assert (m5.topic, m5.payload, m5.qos) == (m4.topic, m4.payload, m4.qos) == (
        topic.encode(), payload, qos)
    # every property but the Topic Alias, in order; the Message Expiry Interval (no time
    # has passed: all of it) after them, as mosquitto 2.0 writes it
    want = [(i, v) for i, v in items if i not in (0x02, 0x23)]
    want += [(i, v) for i, v in items if i == 0x02]
    assert m5.props == [(i, v) for i, v in want], (items, m5.props)
