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

SETTINGS = settings(max_examples=300, deadline=None)
# topic names a client may publish to: no wildcards, no U+0000, not starting with $
TOPIC = st.text(alphabet=st.characters(blacklist_characters="+#$\x00",
                                       blacklist_categories=("Cs",)),
                min_size=1, max_size=40)


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


@SETTINGS
@given(TOPIC, st.binary(max_size=300), st.integers(0, 2), st.booleans(), st.integers(1, 65535))
def test_publish_written_by_the_codec_reaches_a_subscriber_unchanged(topic, payload, qos,
                                                                     retain, pid):
    cfg = Config()
    cfg.finish()
    b = Broker(cfg)
    b.tick(0)
    lst = cfg.listeners[0]
    sub = b.open(lst, "127.0.0.1", 1)
    b.received(sub, mqttc.connect("s") + mqttc.subscribe(1, [("#", qos)]))
    pub = b.open(lst, "127.0.0.1", 2)
    b.received(pub, mqttc.connect("p"))
    sub.sent(len(sub.out))
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
