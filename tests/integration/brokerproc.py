"""Names the integration tests share (a module of its own: several folders have a conftest)."""

import os
import socket
import sys

from brokerlog import HOST, free_port  # noqa: F401  (the integration tests import them from here)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAIN = os.path.join(ROOT, "ports", "cpython", "main.py")


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
