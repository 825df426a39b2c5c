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


def rss_kb(pid):
    """Resident memory of process pid in KiB (Linux /proc)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)
