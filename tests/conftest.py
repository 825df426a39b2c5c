"""Options for tests/hil (registered here: pytest reads pytest_addoption only from the
conftest files it loads first, and `pytest tests` does not load tests/hil/conftest.py first),
tests/core on sys.path for every folder (mqttc, the one packet builder and raw client), and
the fixtures both ports' tests use: the capture receiver, and the bridges' upstream mosquitto
and proxy (tests/bridge_support.py)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import bridge_support
from brokerlog import stop_process

# appended, not prepended: `core` must stay the repo root's engine package
CORE_TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "core")
if CORE_TESTS not in sys.path:
    sys.path.append(CORE_TESTS)

SINK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    "tools", "capture_sink.py")


def pytest_addoption(parser):
    g = parser.getgroup("hil", "hardware-in-the-loop tests (tests/hil)")
    g.addoption("--board", metavar="DEVICE", default=None,
                help="run tests/hil on this board (mpremote device: /dev/ttyACM0, "
                     "socket://HOST:PORT, ...); default: a simulated board (tools/simboard.py)")
    g.addoption("--board-host", metavar="HOST", default=None,
                help="address MQTT clients use to reach the board (needed with --board)")
    g.addoption("--board-type", default="esp32", choices=("esp32", "rp2040w"),
                help="board model: config from boards/TYPE/ (default esp32)")
    g.addoption("--board-network", metavar="FILE", default=None,
                help="filled-in network.json for the board (needed with --board)")


class Sink:
    """tools/capture_sink.py as a subprocess writing records and a summary to files."""

    def __init__(self, tmp_path, port, *args):
        self.out = str(tmp_path / ("sink-%d-%f.jsonl" % (port, time.monotonic())))
        self.summary_path = self.out + ".summary"
        self.proc = subprocess.Popen(
            [sys.executable, SINK, "--port", str(port), "--out", self.out,
             "--summary", self.summary_path] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        assert line.startswith("listening on"), line

    def records(self):
        """Records written so far (a line the sink is still writing is left for later)."""
        if not os.path.exists(self.out):
            return []
        with open(self.out, encoding="utf-8") as f:
            return [json.loads(l) for l in f if l.endswith("\n") and l.strip()]

    def wait_for(self, pred, timeout=10.0):
        """Wait until pred(records) is true; returns the records."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            recs = self.records()
            if pred(recs):
                return recs
            time.sleep(0.1)
        return self.records()

    def stop(self, sig=signal.SIGTERM):
        """Send sig, wait, kill if need be; closes the pipe the sink announced itself on."""
        stop_process(self.proc, sig)
        self.proc.stdout.close()


@pytest.fixture
def sinks(tmp_path):
    made = []

    def start(port, *args):
        s = Sink(tmp_path, port, *args)
        made.append(s)
        return s
    yield start
    for s in made:
        s.stop(signal.SIGKILL)


@pytest.fixture
def upstreams(tmp_path):
    """start(**options) -> a started bridge_support.Mosquitto in a folder of its own (options
    as Mosquitto's); every one is stopped at teardown."""
    if not bridge_support.mosquitto_available():
        pytest.fail("%s missing: run tools/test.sh" % bridge_support.MOSQUITTO)
    made = []

    def start(**options):
        d = tmp_path / ("upstream%d" % len(made))
        d.mkdir()
        m = bridge_support.Mosquitto(str(d), **options)
        made.append(m)
        return m.start()
    yield start
    for m in made:
        m.stop()


@pytest.fixture
def proxies():
    """start(target_port, **options) -> a bridge_support.Proxy; every one closed at teardown."""
    made = []

    def start(target_port, **options):
        p = bridge_support.Proxy(target_port, **options)
        made.append(p)
        return p
    yield start
    for p in made:
        p.close()
