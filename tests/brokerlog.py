"""What the tests' broker wrappers share (the CPython port's process, the MicroPython port's
process, the broker on a board behind deploy.py): a subprocess whose output goes to a log
file, read, waited on and stopped the same way, and the loopback port it listens on (tests/
is on sys.path through tests/conftest.py)."""

import signal
import socket
import subprocess
import time

HOST = "127.0.0.1"
STOP_TIMEOUT = 10.0


def free_port():
    """A TCP port that was free on loopback a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_accepts(host, port, timeout=0.5):
    """True when a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def stop_process(proc, sig=signal.SIGTERM, kill=None):
    """Send sig to proc unless it has ended, wait up to STOP_TIMEOUT, then kill (proc.kill,
    or the kill function given) and wait again; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            (kill or proc.kill)()
            proc.wait(STOP_TIMEOUT)
    return proc.returncode


class LoggedBroker:
    """A broker process (.proc) writing to a log file (.log_path): .log(), .wait_for_log(),
    .stop(). Subclasses set the signal that stops theirs cleanly and how long a log line
    may take to come."""

    STOP_SIGNAL = signal.SIGTERM
    LOG_WAIT = 5.0

    def __init__(self, proc, log_path):
        self.proc = proc
        self.log_path = log_path

    def log(self):
        """Everything the broker wrote so far ("" before it started)."""
        if self.log_path is None:
            return ""
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_for_log(self, text, timeout=None):
        """Wait until text is in the log (LOG_WAIT seconds by default); returns whether it
        appeared."""
        deadline = time.monotonic() + (self.LOG_WAIT if timeout is None else timeout)
        while time.monotonic() < deadline:
            if text in self.log():
                return True
            time.sleep(0.05)
        return text in self.log()

    def stop(self, sig=None):
        """Send sig (STOP_SIGNAL by default), wait, kill if need be; returns the exit code
        (None if the process was never started)."""
        if self.proc is None:
            return None
        return stop_process(self.proc, self.STOP_SIGNAL if sig is None else sig, self.kill)

    def kill(self):
        """End the process at once (when the stop signal did not)."""
        self.proc.kill()
