"""boards/: configs parse without warnings, templates hold placeholders that net.py refuses."""

import json
import os
import subprocess

import pytest

from mpbroker import PORT_DIR, ROOT, micropython_exe
from core.config import parse_config

BOARDS = ("esp32", "rp2040w", "rpi")
MAX_CONN = {"esp32": 8, "rp2040w": 4, "rpi": 1000}


@pytest.mark.parametrize("board", BOARDS)
def test_board_config_parses_without_warnings(board):
    path = os.path.join(ROOT, "boards", board, "mosquitto.conf")
    with open(path, encoding="utf-8") as f:
        cfg = parse_config(f.read(), path)
    assert cfg.warnings == []
    assert [(l.port, l.bind) for l in cfg.listeners] == [(1883, None)]
    assert cfg.listeners[0].max_connections == MAX_CONN[board]
    assert cfg.message_size_limit > 0 and cfg.max_queued_bytes > 0


def _net_load(path):
    code = ("import sys; sys.path.insert(0, %r)\nimport net\ntry:\n print('OK', net.load(%r)['ssid'])\n"
            "except net.NetError as e:\n print('ERR', e)\n" % (PORT_DIR, path))
    r = subprocess.run([micropython_exe(), "-c", code], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.mark.parametrize("board", BOARDS)
def test_network_template_has_placeholders_that_net_refuses(board, tmp_path):
    path = os.path.join(ROOT, "boards", board, "network.json")
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    assert d["ssid"] == "YOUR_WIFI_SSID" and d["password"] == "YOUR_WIFI_PASSWORD"
    out = _net_load(path)
    assert out.startswith("ERR ") and "placeholder" in out
    d["ssid"], d["password"] = "lab", "secret-pass"
    filled = tmp_path / "network.json"
    filled.write_text(json.dumps(d))
    assert _net_load(str(filled)) == "OK lab"


def test_net_load_rejects_bad_mode_and_short_ap_password(tmp_path):
    p = tmp_path / "n.json"
    p.write_text(json.dumps({"mode": "mesh", "ssid": "x", "password": "y"}))
    assert "\"mode\" must be" in _net_load(str(p))
    p.write_text(json.dumps({"mode": "ap", "ssid": "x", "password": "short"}))
    assert "at least 8 characters" in _net_load(str(p))
    p.write_text("{not json")
    assert "not valid JSON" in _net_load(str(p))


def test_rpi_unit_runs_cpython_port_as_unprivileged_user():
    with open(os.path.join(ROOT, "boards", "rpi", "mqtt-edge.service"), encoding="utf-8") as f:
        lines = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    kv = dict(l.split("=", 1) for l in lines if "=" in l)
    assert kv["User"] not in ("root", "0")
    assert kv["ExecStart"].split()[1:] == ["ports/cpython/main.py", "-c",
                                           "/etc/mqtt-edge/mosquitto.conf"]
    assert kv["WorkingDirectory"].startswith("/")


def test_peer_address_decodes_unix_sockaddr_and_board_tuple():
    code = ("import sys; sys.path.insert(0, %r); sys.path.insert(0, %r)\nimport loop, limits\n"
            "v4 = bytearray(b'\\x02\\x00\\x07\\x5b\\x7f\\x00\\x00\\x01' + bytes(8))\n"
            "v6 = bytearray(b'\\x0a\\x00\\x75\\x30' + bytes(4) + bytes(15) + b'\\x01' + bytes(4))\n"
            "print(loop.peer_address(v4), loop.peer_address(v6), loop.peer_address(('10.0.0.2', 5)))\n"
            "print(limits.ipv6_text(bytes((0x20,1,0x0d,0xb8,0,0,0,0,0,1,0,0,0,0,0,1))),"
            " limits.ipv6_text(bytes(10)+b'\\xff\\xff\\xc0\\xa8\\x01\\x02'), limits.ipv6_text(bytes(16)))\n"
            % (ROOT, PORT_DIR))
    r = subprocess.run([micropython_exe(), "-c", code], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == [
        "('127.0.0.1', 1883) ('::1', 30000) ('10.0.0.2', 5)",
        "2001:db8::1:0:0:1 ::ffff:192.168.1.2 ::"]
