"""The board under test (a real one or tools/simboard.py), flashed with tools/deploy.py and
driven with mpremote, plus small MQTT clients (paho-mqtt and raw sockets) for the tests.

Only Target.sim differs between a simulated and a real board: everything after it (deploy,
start, stop, heap figures) goes through the same mpremote commands.
"""

import json
import os
import queue
import re
import select
import signal
import subprocess
import sys
import time

from brokerlog import LoggedBroker, free_port, port_accepts, stop_process
from tools.deploy import tool as deploy_tool
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "tools", "deploy.py")
SIMBOARD = os.path.join(ROOT, "tools", "simboard.py")
SIM_START_TIMEOUT = 20.0
DEPLOY_TIMEOUT = 120  # first flash of a real board over USB: about 40 files
START_TIMEOUT = 100.0  # a first flash over a 115200-baud UART, imports, listen
MPREMOTE_TIMEOUT = 30
RUNNING = "running (MicroPython, "
HEAP_TAG = "HEAP"
HEAP_CODE = "import gc\ngc.collect()\nprint(%r, gc.mem_free(), gc.mem_alloc())\n" % HEAP_TAG


def tool(name):
    """Path of a tool from the repo's venv, next to this Python, or on PATH."""
    path = deploy_tool(name)
    if path is None:
        raise RuntimeError("%s not found in .venv/bin: run tools/test.sh" % name)
    return path


def board_config(board_type, port, bind):
    """boards/TYPE/mosquitto.conf with its listener moved to port (and bind, if any)."""
    with open(os.path.join(ROOT, "boards", board_type, "mosquitto.conf"), encoding="utf-8") as f:
        text = f.read()
    listener = "listener %d%s" % (port, " " + bind if bind else "")
    text, n = re.subn(r"(?m)^listener .*$", listener, text)
    assert n == 1, "boards/%s/mosquitto.conf should have one listener line" % board_type
    return text


def config_value(text, option):
    """The int value of option in a mosquitto.conf text."""
    m = re.search(r"(?m)^%s\s+(\d+)\s*$" % re.escape(option), text)
    assert m, "%s is not set in the board config" % option
    return int(m.group(1))


def sim_network(board_type):
    """boards/TYPE/network.json with the placeholders filled in: the unix port brings no
    Wi-Fi up, but board.py still checks the file as a board does."""
    with open(os.path.join(ROOT, "boards", board_type, "network.json"), encoding="utf-8") as f:
        d = json.load(f)
    d.update(ssid="simboard", password="simboard-unused", retries=1, reset_on_failure=False)
    return d


class Target:
    """Where the tests run: .device (for mpremote), .host (for MQTT), .board_type, .sim."""

    def __init__(self, device, host, board_type, sim=None, network_path=None):
        self.device = device
        self.host = host
        self.board_type = board_type
        self.sim = sim  # the simboard process, None on a real board
        self.network_path = network_path
        self.rom_file = None  # host file behind a simulated ROMFS partition

    def mpremote(self, *cmds, timeout=MPREMOTE_TIMEOUT):
        """Run `mpremote connect DEVICE resume CMDS`; returns the CompletedProcess."""
        return subprocess.run([tool("mpremote"), "connect", self.device, "resume"] + list(cmds),
                              capture_output=True, text=True, errors="replace",
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def heap(self):
        """(free, allocated) heap bytes after gc.collect(); stops a running program first
        (mpremote enters the raw REPL with Ctrl-C)."""
        r = self.mpremote("exec", HEAP_CODE)
        assert r.returncode == 0, "mpremote exec failed:\n%s%s" % (r.stdout, r.stderr)
        m = re.search(HEAP_TAG + r" (\d+) (\d+)", r.stdout)
        assert m, "no heap figures in %r" % r.stdout
        return int(m.group(1)), int(m.group(2))

    def deploy(self, *args, timeout=DEPLOY_TIMEOUT):
        """Run tools/deploy.py for this board; returns the CompletedProcess."""
        cmd = [sys.executable, DEPLOY, "--board", self.board_type, "--port", self.device]
        return subprocess.run(cmd + list(args), capture_output=True, text=True,
                              errors="replace", timeout=timeout, stdin=subprocess.DEVNULL)

    def close(self):
        """Power the simulated board off (nothing to do for a real one)."""
        if self.sim is not None:
            stop_process(self.sim)


def start_simboard(board_type, workdir, romfs=None):
    """Start tools/simboard.py with a fresh flash image (and a ROMFS partition of romfs
    bytes, e.g. "128k", kept in Target.rom_file); returns a Target on it."""
    image = os.path.join(workdir, "flash-%s.img" % board_type)
    cmd = [sys.executable, SIMBOARD, "--board", board_type, "--image", image,
           "--console-log", os.path.join(workdir, "console.log"), "--exit-with-parent"]
    if romfs:
        cmd += ["--romfs", romfs]
    err = open(os.path.join(workdir, "simboard.err"), "wb")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
    err.close()
    line = b""
    deadline = time.monotonic() + SIM_START_TIMEOUT
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        r = select.select([proc.stdout], [], [], max(0, left))[0] if left > 0 else []
        chunk = proc.stdout.read1(4096) if r else b""
        if not chunk:
            proc.kill()
            proc.wait(10)
            with open(os.path.join(workdir, "simboard.err"), encoding="utf-8",
                      errors="replace") as f:
                raise RuntimeError("simboard did not start:\n" + f.read())
        line += chunk
    m = re.search(r"ready on (socket://127\.0\.0\.1:\d+)", line.decode())
    assert m, "unexpected simboard output %r" % line
    t = Target(m.group(1), "127.0.0.1", board_type, sim=proc)
    t.rom_file = image + ".rom" if romfs else None
    return t


class BoardBroker(LoggedBroker):
    """The broker on the target, started with `tools/deploy.py --run`, as a user does;
    .log() is the board's console output of the current (or last) run."""

    LOG_WAIT = 10.0  # a real board over Wi-Fi

    def __init__(self, target, workdir, romfs=False):
        LoggedBroker.__init__(self, None, None)
        self.target = target
        self.romfs = romfs  # deploy with --romfs: the modules go to the ROMFS partition
        self.workdir = workdir
        self.host = target.host
        if target.sim is not None:
            self.port, bind = free_port(), "127.0.0.1"  # loopback only on the host
            net_path = os.path.join(workdir, "network.json")
            with open(net_path, "w", encoding="utf-8") as f:
                json.dump(sim_network(target.board_type), f)
        else:
            self.port, bind = 1883, None
            net_path = target.network_path
        self.config_text = board_config(target.board_type, self.port, bind)
        self.config_path = os.path.join(workdir, "broker.conf")
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(self.config_text)
        self.network_path = net_path
        self.runs = 0

    def deploy_args(self):
        return (["--config", self.config_path, "--network", self.network_path]
                + (["--romfs"] if self.romfs else []))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        """Deploy (unchanged files are skipped) and start the broker; waits until it serves."""
        self.runs += 1
        self.log_path = os.path.join(self.workdir, "run%d.log" % self.runs)
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, DEPLOY, "--board", self.target.board_type,
                 "--port", self.target.device, "--run"] + self.deploy_args(),
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while not (RUNNING in self.log() and port_accepts(self.host, self.port, 1.0)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.detach()
                raise RuntimeError("the broker did not start on %s:\n%s"
                                   % (self.target.device, self.log()))
            time.sleep(0.1)

    def heap_at_start(self):
        """Free heap the broker logged when it started serving."""
        m = re.search(re.escape(RUNNING) + r"(\d+) bytes of heap free", self.log())
        assert m, "no start-up heap figure in the log:\n" + self.log()
        return int(m.group(1))

    def detach(self):
        """Stop following the console (the broker keeps running on the board)."""
        LoggedBroker.stop(self)  # SIGTERM: deploy.py stops its mpremote

    def kill(self):
        """Kill deploy.py with its mpremote (they run in a session of their own)."""
        os.killpg(self.proc.pid, signal.SIGKILL)

    def stop(self):
        """Stop the broker with Ctrl-C (Server.run's clean stop) and return the heap figures
        (free, allocated) measured right after it."""
        self.detach()
        return self.target.heap()


# ---- MQTT clients ----

WAIT = 10  # seconds any single expected MQTT event may take (a real board over Wi-Fi)


class PahoClient:
    """A connected paho-mqtt 2.x client on its own network thread, events in queues."""

    def __init__(self, broker, client_id, will=None, keepalive=60):
        import paho.mqtt.client as mqtt
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv311, clean_session=True)
        self.c.reconnect_delay_set(min_delay=120, max_delay=120)  # no surprise reconnects
        self.messages = queue.Queue()
        self.acks = queue.Queue()
        self.c.on_connect = lambda c, u, flags, rc, p: self.acks.put(("connack", rc))
        self.c.on_subscribe = lambda c, u, mid, rcs, p: self.acks.put(("suback", rcs))
        self.c.on_message = lambda c, u, msg: self.messages.put(msg)
        if will is not None:
            self.c.will_set(*will)
        self.c.connect(broker.host, broker.port, keepalive=keepalive)
        self.c.loop_start()
        kind, rc = self.acks.get(timeout=WAIT)
        assert kind == "connack" and not rc.is_failure, "CONNECT refused: %s" % rc

    def subscribe(self, topic, qos):
        """Subscribe and wait for the SUBACK; returns the granted QoS."""
        self.c.subscribe(topic, qos)
        kind, rcs = self.acks.get(timeout=WAIT)
        assert kind == "suback", kind
        return rcs[0].value

    def publish(self, topic, payload, qos=0, retain=False):
        """Publish and wait until paho has finished the QoS flow."""
        info = self.c.publish(topic, payload, qos, retain)
        info.wait_for_publish(WAIT)
        assert info.is_published(), "PUBLISH %s qos %d not completed" % (topic, qos)

    def message(self, timeout=WAIT):
        """The next message received (raises queue.Empty after timeout)."""
        return self.messages.get(timeout=timeout)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()
