"""tools/capture_sink.py --count (the benchmark's cheap receiver) accounts exactly as the
JSON-parsing mode: records, invalid lines, per-broker sequence gaps, repeats and drops."""

import json
import os
import socket
import time

from brokerproc import free_port

HOST = "127.0.0.1"


def _rec(name, seq, dropped=None, topic="t/1"):
    mq = {"client_id": "c", "topic": topic, "qos": 0, "retain": False, "dup": False,
          "payload_size": 3}
    if dropped is not None:
        mq["capture_dropped"] = dropped
    r = {"@timestamp": "2026-01-01T00:00:00.000Z",
         "event": {"kind": "event", "dataset": "mqtt.capture", "action": "publish",
                   "sequence": seq, "outcome": "success"},
         "observer": {"name": name, "type": "mqtt-broker"}, "mqtt": mq}
    return (json.dumps(r, separators=(",", ":")) + "\n").encode()


def _stream():
    """Bytes a receiver may see: runs, a gap, a repeat, drop counts, two brokers, a record
    of the fork's format, an invalid line, and text that looks like a key inside a topic."""
    out = b"".join(_rec("edge-1", s) for s in range(1, 301))
    out += b"".join(_rec("edge-1", s, dropped=40) for s in range(341, 400))  # gap of 40
    out += _rec("edge-1", 350)  # a repeat
    out += _rec("edge-1", 400, topic='x/"sequence":7/"observer":{"name":"y"}')
    out += b"".join(_rec("edge-2", s) + _rec("edge-1", 400 + s) for s in range(1, 50))
    out += b'{"mqtt": {"action": "PUBLISH", "topic": "a", "clientID": "c"}}\n'
    out += b"not json\n"
    out += b"".join(_rec("edge-\\u00e9", s) for s in range(1, 20))
    return out


def _summary(sink, want_records, timeout=10):
    deadline = time.monotonic() + timeout
    s = None
    while time.monotonic() < deadline:
        if os.path.exists(sink.summary_path):
            with open(sink.summary_path) as f:
                s = json.load(f)
            if s["records"] + s["invalid"] >= want_records:
                return s
        time.sleep(0.1)
    return s


def test_count_mode_accounts_exactly_as_the_json_mode_for_gaps_repeats_and_drops(sinks):
    data = _stream()
    lines = data.count(b"\n")
    got = []
    for args in ((), ("--count",)):
        port = free_port()
        sink = sinks(port, *args)
        with socket.create_connection((HOST, port), timeout=5) as c:
            for i in range(0, len(data), 7001):  # chunks cut records anywhere
                c.sendall(data[i:i + 7001])
                time.sleep(0.01)
        got.append(_summary(sink, lines))
        sink.stop()
    parsed, counted = got
    assert parsed["records"] == lines - 1 and parsed["invalid"] == 1, parsed
    assert parsed["brokers"]["edge-1"] == {"records": 410, "gaps": 40, "repeats": 1,
                                           "last_seq": 449, "dropped_reported": 40}
    assert parsed["brokers"]["edge-2"]["records"] == 49
    assert counted == parsed
