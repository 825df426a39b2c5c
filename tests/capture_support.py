"""Helpers both ports' capture tests share (tests/ is on sys.path through tests/conftest.py)."""

import socket


def broker_conf(sink_port, extra=""):
    """A broker config sending capture records to the sink on sink_port ({port}: the broker's)."""
    return ("listener {port} 127.0.0.1\nallow_anonymous true\n"
            "capture_address 127.0.0.1:%d\n%s" % (sink_port, extra))


def exchange(port, packets, read=True):
    """Send raw MQTT bytes on one loopback connection; returns what came back."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(packets)
        data = b""
        if read:
            s.settimeout(1.0)
            try:
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    data += d
            except socket.timeout:
                pass
        return data
    finally:
        s.close()


def sequences(recs):
    """The event.sequence numbers of records recs."""
    return [r["event"]["sequence"] for r in recs]


def check_gaps_are_counted_drops(sink, published):
    """Wait for two stats records made once the broker had received all `published`
    PUBLISH packets (so after every record of them was made or dropped); the records must
    come in order, and every gap in their sequence numbers must be a drop the broker
    counted."""
    def stats_after(recs):
        return [x for x in recs if x["event"]["action"] == "stats"
                and x["mqtt"]["messages_received"] >= published]
    recs = sink.wait_for(lambda r: len(stats_after(r)) >= 2, timeout=40)
    stats = stats_after(recs)
    assert len(stats) >= 2, "%d records, %d stats records after the burst" % (len(recs),
                                                                            len(stats))
    seqs = sequences(recs)
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    x, y = stats[:2]
    gaps_before_x = x["event"]["sequence"] - len([s for s in seqs if s <= x["event"]["sequence"]])
    assert gaps_before_x > 0
    # The connection never broke, so every gap is a drop the broker counted. A record
    # carries the count as it was when it was encoded; older records still waiting in the
    # ring may be dropped after that, and the next record reports them. So each gap before
    # stats record x is counted by x or, at the latest, by the following stats record y.
    assert x["mqtt"]["capture_dropped"] <= gaps_before_x <= y["mqtt"]["capture_dropped"]


def rss_kb(pid):
    """Resident memory of process pid in KiB (Linux /proc)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)
