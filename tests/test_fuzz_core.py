"""Property test of framing and parsing: any bytes from a client are handled, or close that
connection with a log line; nothing ever escapes Broker.received (CPython only)."""

import os
import sys

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st, HealthCheck  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "core"))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from core.broker import Broker  # noqa: E402
from core.config import Config  # noqa: E402
from core import auth, passwd, acl  # noqa: E402
import mqttc  # noqa: E402

CONNECT = mqttc.connect("fz", username="u", password=b"p")
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Packets a real client sends, so that fuzzed input often gets past the fixed header.
VALID = [mqttc.subscribe(1, [("a/#", 1)]), mqttc.publish("a/b", b"x", 1, False, False, 2),
         mqttc.publish("a/c", b"y", 0, True, False, None), mqttc.pubrel(3),
         b"\xc0\x00", mqttc.puback(1)]


def _broker(secured):
    cfg = Config()
    cfg.finish()
    logs = []
    b = Broker(cfg, lambda level, msg: logs.append((level, msg)))
    b.tick(0)
    if secured:
        text = "u:%s\n" % passwd.make_hash("p", passwd.SHA256_PBKDF2, b"s" * 12, 2)
        auth.install(b, passwd.parse_passwd(text),
                     acl.parse_acl("user u\ntopic read a/#\ntopic write a/b\n"))
    return b, logs


def _feed(b, logs, chunks):
    listener = b.cfg.listeners[0]
    watcher = b.open(listener, "127.0.0.1", 40000)  # a subscriber that receives routed copies
    b.received(watcher, mqttc.connect("w") + mqttc.subscribe(1, [("#", 2)]))
    c = b.open(listener, "127.0.0.1", 40001)
    before = len(logs)
    for data in chunks:
        b.received(c, data)  # must never raise
        b.pending.clear()
        if c.closing:
            break
    if c.closing:
        assert len(logs) > before, "connection closed without a log line"
    b.closed(c)
    b.closed(watcher)


@SETTINGS
@given(st.lists(st.binary(max_size=64), max_size=6), st.booleans())
def test_random_bytes_before_connect_never_escape_received(chunks, secured):
    b, logs = _broker(secured)
    _feed(b, logs, chunks)


@SETTINGS
@given(st.lists(st.one_of(st.sampled_from(VALID), st.binary(max_size=48)), max_size=8),
       st.booleans(), st.integers(0, 7))
def test_random_packets_after_connect_never_escape_received(parts, secured, cut):
    b, logs = _broker(secured)
    data = CONNECT + b"".join(parts)
    # split the stream at an arbitrary point: framing must not depend on read boundaries
    k = len(CONNECT) + cut if len(CONNECT) + cut < len(data) else len(data)
    _feed(b, logs, [data[:k], data[k:]])


@SETTINGS
@given(st.binary(min_size=1, max_size=40), st.integers(0, 255))
def test_mutated_valid_packets_never_escape_received(noise, pos):
    b, logs = _broker(False)
    data = bytearray(CONNECT + b"".join(VALID))
    i = pos % len(data)
    data[i:i + len(noise)] = noise
    _feed(b, logs, [bytes(data)])


# ---- MQTT 5.0 (tests/v5_strategies.py) ----

from v5_strategies import CONNECTS, PACKETS  # noqa: E402


@SETTINGS
@given(CONNECTS, st.lists(PACKETS, max_size=8), st.integers(0, 40))
def test_v5_packets_after_a_v5_connect_never_escape_received(connect, parts, cut):
    b, logs = _broker(False)
    data = connect + b"".join(parts)
    k = min(len(connect) + cut, len(data))
    _feed(b, logs, [data[:k], data[k:]])


@SETTINGS
@given(CONNECTS, st.lists(PACKETS, min_size=1, max_size=4), st.binary(min_size=1, max_size=24),
       st.integers(0, 255))
def test_mutated_v5_packets_never_escape_received(connect, parts, noise, pos):
    b, logs = _broker(False)
    data = bytearray(connect + b"".join(parts))
    i = pos % len(data)
    data[i:i + len(noise)] = noise
    _feed(b, logs, [bytes(data)])
