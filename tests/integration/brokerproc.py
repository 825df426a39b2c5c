"""Names the integration tests share (a module of its own: several folders have a conftest):
the broker process under test, started and stopped."""

import os
import socket
import subprocess
import sys
import time

from brokerlog import HOST, STOP_TIMEOUT, LoggedBroker, free_port, port_accepts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAIN = os.path.join(ROOT, "ports", "cpython", "main.py")
START_TIMEOUT = 10.0


def broker_command():
    """argv prefix that starts the broker under test."""
    if os.environ.get("MQTT_TEST_BROKER") == "mosquitto":
        return ["/usr/sbin/mosquitto"]
    return [sys.executable, MAIN]


def ipv6_loopback_available():
    """True if this machine can bind ::1."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


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


def start_broker(folder, name, config_text=None, args=(), wait=True, command=None):
    """A RunningBroker of command (argv prefix, broker_command() by default) on a free
    port, its config (when given) and log as folder/NAME.conf and NAME.log; waits until
    it accepts unless wait is false.

    config_text may use {port} (and {port2} for a second listener); without config_text
    the broker runs with `-p PORT` (mosquitto 2 local-only defaults, anonymous allowed).
    """
    port = free_port()
    port2 = None
    config_path = None
    cmd = list(command or broker_command())
    if config_text is not None:
        if "{port2}" in config_text:
            port2 = free_port()
            while port2 == port:
                port2 = free_port()
            config_text = config_text.replace("{port2}", str(port2))
        config_text = config_text.replace("{port}", str(port))
        config_path = os.path.join(folder, name + ".conf")
        with open(config_path, "w", encoding="utf-8") as f:
            f.write(config_text)
        cmd = cmd + ["-c", config_path]
    else:
        cmd = cmd + ["-p", str(port)]
    cmd += list(args)
    log_path = os.path.join(folder, name + ".log")
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, cwd=folder)
    b = RunningBroker(proc, port, log_path, port2, config_path)
    if wait:
        b.wait_until_up()
        if port2 is not None:
            b.wait_until_running()
    return b


def stop_brokers(brokers):
    """Stop each broker; returns what is wrong (a traceback in its log, a non-zero exit on
    SIGTERM), one text a broker."""
    problems = []
    for b in brokers:
        was_running = b.proc.poll() is None
        rc = b.stop()
        log = b.log()
        if "Traceback" in log:
            problems.append("broker on port %d logged a traceback:\n%s" % (b.port, log))
        elif was_running and rc != 0:
            problems.append("broker on port %d exited %s on SIGTERM:\n%s" % (b.port, rc, log))
    return problems
