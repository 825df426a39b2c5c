"""Fixtures that run the MicroPython port (ports/micropython/main.py) in the real unix
`micropython` executable, from .mpy files as a board would, on free loopback ports."""

import subprocess

import pytest

from dns_support import DnsServer
from mpbroker import HEAP, start_board, MpBroker, build_mpy_tree, free_port, micropython_exe


@pytest.fixture(scope="session")
def mpy_main(tmp_path_factory):
    """main.py of a .mpy build of the broker (what a board runs)."""
    return build_mpy_tree(str(tmp_path_factory.mktemp("mpy")))


@pytest.fixture
def mp_broker_factory(tmp_path, mpy_main):
    """start(config_text=None, args=(), heap=HEAP, wait=True) -> MpBroker; all stopped after.

    config_text may use {port}; without it the port runs with `-p PORT`.
    """
    started = []

    def start(config_text=None, args=(), heap=HEAP, wait=True):
        n = len(started)
        port = free_port()
        cmd = [micropython_exe(), "-X", "heapsize=" + heap, mpy_main]
        if config_text is not None:
            path = str(tmp_path / ("mp%d.conf" % n))
            with open(path, "w", encoding="utf-8") as f:
                f.write(config_text.replace("{port}", str(port)))
            cmd += ["-c", path]
        else:
            cmd += ["-p", str(port)]
        cmd += list(args)
        log_path = str(tmp_path / ("mp%d.log" % n))
        with open(log_path, "wb") as logf:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                    stderr=subprocess.STDOUT, cwd=str(tmp_path))
        b = MpBroker(proc, port, log_path)
        started.append(b)
        if wait:
            b.wait_serving("MicroPython broker did not start")
        return b

    yield start
    for b in started:
        b.stop()  # kills it when it does not stop


@pytest.fixture
def mp_broker(mp_broker_factory):
    """The port with `-p PORT -v` on the model heap."""
    return mp_broker_factory(args=("-v",))


@pytest.fixture
def boards(tmp_path, mpy_main):
    """start(config_text, network, wait=True, wrap_in=None) -> MpBroker running board.main
    (mpbroker.start_board); all stopped after."""
    made = []

    def start(config_text, network, wait=True, wrap_in=None):
        b = start_board(tmp_path, mpy_main, config_text, network, wait, wrap_in)
        made.append(b)
        return b
    yield start
    for b in made:
        b.stop()


@pytest.fixture
def dns_server():
    """start(zone, silent=False, drop=0) -> a DnsServer (dns_support); all stopped after."""
    made = []

    def start(zone, silent=False, drop=0):
        s = DnsServer(zone, silent, drop)
        made.append(s)
        return s
    yield start
    for s in made:
        s.stop()
