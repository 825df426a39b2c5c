"""A board loads only the encoder of its capture_format: the MicroPython port captures with
the other encoder's module deleted from its .mpy build (an import of it would fail)."""

import os

import pytest

from capture_support import broker_conf, exchange
from mpbroker import build_mpy_tree, free_port
import mqttc

OTHER = {"ecs": "hicap", "hicap": "ecs"}
HEAP = "176k"  # as tests/micropython/test_capture_port.py: the model heap plus capture's share


@pytest.fixture(scope="module", params=("ecs", "hicap"))
def encoder(request):
    """The capture_format under test."""
    return request.param


@pytest.fixture(scope="module")
def mpy_main(encoder, tmp_path_factory):
    """main.py of a .mpy build without the other format's encoder module."""
    main = build_mpy_tree(str(tmp_path_factory.mktemp("mpy-" + encoder)))
    root = os.path.dirname(os.path.dirname(os.path.dirname(main)))
    os.remove(os.path.join(root, "core", "capture", OTHER[encoder] + ".mpy"))
    return main


def test_port_captures_with_only_the_configured_encoder_module_present(
        encoder, mp_broker_factory, sinks):
    sp = free_port()
    sink = sinks(sp)
    b = mp_broker_factory(broker_conf(sp, "capture_format %s\n" % encoder), heap=HEAP)
    exchange(b.port, mqttc.connect("only-" + encoder) + b"\xe0\x00")
    recs = sink.wait_for(lambda r: len(r) >= 3)
    assert b.stop() == 0, b.log()
    if encoder == "ecs":
        acts = [r["event"]["action"] for r in recs[:3]]
        assert acts == ["startup", "connect", "disconnect"], recs
    else:
        acts = [r["mqtt"]["action"] for r in recs[:3]]
        assert acts == ["STARTUP", "CONNECT", "DISCONNECT"], recs
    assert "ImportError" not in b.log() and "Traceback" not in b.log()
