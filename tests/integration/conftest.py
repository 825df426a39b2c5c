"""Fixtures that start the real broker process (ports/cpython/main.py) on a free loopback port.

Set MQTT_TEST_BROKER=mosquitto to run the client tests against the system mosquitto
instead: it checks that the tests themselves state true mosquitto behaviour.
"""

import os
import subprocess
import time

import pytest

from brokerlog import STOP_TIMEOUT, LoggedBroker, port_accepts
from brokerproc import HOST, broker_command, free_port

START_TIMEOUT = 10.0
MOSQUITTO_PUB = "/usr/bin/mosquitto_pub"
MOSQUITTO_SUB = "/usr/bin/mosquitto_sub"


class RunningBroker(LoggedBroker):
    """A broker subprocess: .host, .port, .proc, .log(), .wait_for_log(), .stop()."""

    def __init__(self, proc, port, log_path, port2=None, config_path=None):
        LoggedBroker.__init__(self, proc, log_path)
        self.host = HOST
        self.port = port
        self.port2 = port2
        self.config_path = config_path

    def wait_until_up(self):
        """Until the first listener accepts; RuntimeError with the log if it never does."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("broker exited with %s before listening:\n%s"
                                   % (self.proc.returncode, self.log()))
            if port_accepts(self.host, self.port):
                return
            time.sleep(0.05)
        self.proc.kill()
        self.proc.wait(STOP_TIMEOUT)
        raise RuntimeError("broker did not accept on %s:%d within %.0f s:\n%s"
                           % (self.host, self.port, START_TIMEOUT, self.log()))

    def wait_until_running(self):
        """Until the broker logs "... running": every listener is open (the first one
        accepts earlier, while a TLS listener after it may still be loading its
        certificate)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            text = self.log()
            if " running" in text:
                return
            if self.proc.poll() is not None:
                raise RuntimeError("broker exited with %s before running:\n%s"
                                   % (self.proc.returncode, text))
            time.sleep(0.05)
        raise RuntimeError("broker did not log 'running' within %.0f s:\n%s"
                           % (START_TIMEOUT, text))


@pytest.fixture
def broker_factory(tmp_path):
    """start(config_text=None, args=(), wait=True) -> RunningBroker; all stopped at teardown.

    config_text may use {port} (and {port2} for a second listener); without config_text
    the broker runs with `-p PORT` (mosquitto 2 local-only defaults, anonymous allowed).
    """
    started = []

    def start(config_text=None, args=(), wait=True):
        n = len(started)
        port = free_port()
        port2 = None
        config_path = None
        cmd = broker_command()
        if config_text is not None:
            if "{port2}" in config_text:
                port2 = free_port()
                while port2 == port:
                    port2 = free_port()
                config_text = config_text.replace("{port2}", str(port2))
            config_text = config_text.replace("{port}", str(port))
            config_path = str(tmp_path / ("broker%d.conf" % n))
            with open(config_path, "w", encoding="utf-8") as f:
                f.write(config_text)
            cmd = cmd + ["-c", config_path]
        else:
            cmd = cmd + ["-p", str(port)]
        cmd += list(args)
        log_path = str(tmp_path / ("broker%d.log" % n))
        with open(log_path, "wb") as logf:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                    stderr=subprocess.STDOUT, cwd=str(tmp_path))
        b = RunningBroker(proc, port, log_path, port2, config_path)
        started.append(b)
        if wait:
            b.wait_until_up()
            if port2 is not None:
                b.wait_until_running()
        return b

    yield start
    # A broker that crashed, logged an internal error, or would not stop cleanly fails the test.
    problems = []
    for b in started:
        was_running = b.proc.poll() is None
        rc = b.stop()
        log = b.log()
        if "Traceback" in log:
            problems.append("broker on port %d logged a traceback:\n%s" % (b.port, log))
        elif was_running and rc != 0:
            problems.append("broker on port %d exited %s on SIGTERM:\n%s" % (b.port, rc, log))
    if problems:
        pytest.fail("\n\n".join(problems))


@pytest.fixture
def broker(broker_factory):
    """A broker started with `-p PORT`: loopback listeners, anonymous clients allowed."""
    return broker_factory()


@pytest.fixture
def mosquitto_bin():
    """Directory of mosquitto_pub / mosquitto_sub; skips when they are not installed."""
    for path in (MOSQUITTO_PUB, MOSQUITTO_SUB):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            pytest.skip("%s is missing: install Debian package mosquitto-clients "
                        "(tools/test.sh does)" % path)
    return os.path.dirname(MOSQUITTO_PUB)

