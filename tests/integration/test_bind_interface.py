"""bind_interface (mosquitto.conf(5)): a listener listens only on the addresses of one
network interface. Loopback only: the interface is `lo` (127.0.0.1 and, where the machine
has it, ::1); 127.0.0.2 also reaches `lo`, but is not one of its addresses, so a listener
bound to the interface's addresses refuses it while a 0.0.0.0 listener would accept it.
Debian's mosquitto 2.0.11 behaves the same (checked by hand: it binds 127.0.0.1 and ::1)."""

import os
import socket

import pytest

from brokerproc import ipv6_loopback_available
from mqttc import raw_connect

def connack(host, port):
    """The CONNACK return code a client gets on host:port (OSError when nothing listens)."""
    s, rc = raw_connect(host, port, "bi-cli", timeout=5)
    s.close()
    return rc


def refused(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_listener_with_bind_interface_serves_only_that_interfaces_addresses(broker_factory):
    b = broker_factory("listener {port}\nbind_interface lo\nallow_anonymous true\n")
    assert connack("127.0.0.1", b.port) == 0
    assert refused("127.0.0.2", b.port)  # not bound to 0.0.0.0
    if ipv6_loopback_available():
        assert connack("::1", b.port) == 0
        assert "Opening ipv6 listen socket on port %d." % b.port in b.log()
    assert "Opening ipv4 listen socket on port %d." % b.port in b.log()
    assert "not supported" not in b.log()


def test_listener_address_of_the_interface_narrows_bind_interface_to_it(broker_factory):
    b = broker_factory("listener {port} 127.0.0.1\nbind_interface lo\nallow_anonymous true\n")
    assert connack("127.0.0.1", b.port) == 0
    if ipv6_loopback_available():
        assert refused("::1", b.port)


@pytest.mark.parametrize("conf, reason", [
    ("listener {port}\nbind_interface nosuch9\n", "no such network interface"),
    ("listener {port} 127.0.0.2\nbind_interface lo\n",
     "127.0.0.2 is not an address of that interface"),
])
def test_bind_interface_that_cannot_be_bound_exits_1_with_the_reason(broker_factory, conf,
                                                                     reason):
    b = broker_factory(conf, wait=False)
    assert b.proc.wait(15) == 1  # mosquitto 2.0.11 too, after warnings of its own wording
    if os.environ.get("MQTT_TEST_BROKER") == "mosquitto":
        return
    log = b.log()
    assert "Error: bind_interface" in log and reason in log, log
    assert "(listener on port %d)" % b.port in log, log
