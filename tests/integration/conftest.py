"""Fixtures that start the real broker process (ports/cpython/main.py) on a free loopback port.

Set MQTT_TEST_BROKER=mosquitto to run the client tests against the system mosquitto
instead: it checks that the tests themselves state true mosquitto behaviour.
"""

import os

import pytest

from brokerproc import start_broker, stop_brokers

MOSQUITTO_PUB = "/usr/bin/mosquitto_pub"
MOSQUITTO_SUB = "/usr/bin/mosquitto_sub"


@pytest.fixture
def broker_factory(tmp_path):
    """start(config_text=None, args=(), wait=True) -> RunningBroker; all stopped at teardown.

    config_text may use {port} (and {port2} for a second listener); without config_text
    the broker runs with `-p PORT` (mosquitto 2 local-only defaults, anonymous allowed).
    """
    started = []

    def start(config_text=None, args=(), wait=True):
        b = start_broker(str(tmp_path), "broker%d" % len(started), config_text, args, wait)
        started.append(b)
        return b

    yield start
    # A broker that crashed, logged an internal error, or would not stop cleanly fails the test.
    problems = stop_brokers(started)
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

