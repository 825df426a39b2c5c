"""Shared helpers of the WebSocket tests (tests/ is on sys.path through tests/conftest.py):
tools/wsclient.py (the raw client bench.py uses too), a close check, an HTTP GET, and the
node scripts that drive MQTT.js and the status page in chromium."""

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TOOLS = os.path.join(_ROOT, "tools")
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)

import wsclient  # noqa: E402,F401


def closed_with(s, code):
    """Read until the broker closes: its close frame carried code and TCP closed after it."""
    while s.recv(65536):
        pass
    closes = [p for op, p in s.control if op == 8]
    assert closes and int.from_bytes(closes[0][:2], "big") == code, s.control
    return True


def round_trip(sub, pub, topic, payload):
    """paho clients: sub (connected, CONNACK 0) subscribes to topic's first level and gets
    what pub publishes on topic at QoS 1."""
    assert sub.rc == 0
    assert sub.subscribe(topic.split("/")[0] + "/#", 1) == [1]
    pub.publish(topic, payload, 1)
    assert sub.got(1) == [(topic, payload)]


def http(host, port, req):
    """(status, headers, body) of the answer to raw request bytes, read until close."""
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(req)
    status, headers, body = wsclient.read_http(s)
    while True:
        more = s.recv(65536)
        if not more:
            break
        body += more
    s.close()
    return status, headers, body


def get(host, port, path):
    """http() of a plain GET of path."""
    return http(host, port, ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())


NODE_MODULES = os.path.join(_ROOT, ".venv", "node", "node_modules")
MQTT_JS = os.path.join(NODE_MODULES, "mqtt", "dist", "mqtt.min.js")
PAGE = os.path.join(_ROOT, "boards", "www", "index.html")
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = os.path.join(_ROOT, "tests", "artifacts")
_SCRIPTS = os.path.join(_ROOT, "tests", "integration")


def need(path, what):
    """Fail (not skip) when something tools/test.sh installs is missing."""
    if not os.path.exists(path):
        pytest.fail("%s missing (%s): run tools/test.sh, which installs it" % (path, what))


def www(folder):
    """folder made an http_dir holding the status page and MQTT.js; returns its path."""
    need(MQTT_JS, "npm mqtt")
    os.makedirs(folder, exist_ok=True)
    shutil.copy(PAGE, os.path.join(folder, "index.html"))
    shutil.copy(MQTT_JS, os.path.join(folder, "mqtt.min.js"))
    return folder


def node(script, *args, timeout=60):
    """Run tests/integration/SCRIPT under node; its last stdout line parsed as JSON (asserts
    success)."""
    env = dict(os.environ, MQTT_NODE_MODULES=NODE_MODULES)
    r = subprocess.run(["node", os.path.join(_SCRIPTS, script)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout, env=env)
    lines = r.stdout.strip().splitlines()
    assert lines, r.stderr
    out = json.loads(lines[-1])
    assert r.returncode == 0 and "error" not in out, (out, r.stderr)
    return out


def browse(page, side, name, ca=""):
    """The status page at URL page in headless chromium (browser_check.mjs, MQTT.js side
    client at URL side); returns its JSON, the screenshot kept as tests/artifacts/NAME.png."""
    need(CHROMIUM, "Debian package chromium")
    need(os.path.join(NODE_MODULES, "playwright-core"), "npm playwright-core")
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, name + ".png")
    out = node("browser_check.mjs", page, side, shot, ca, timeout=90)
    print("status page screenshot: %s" % shot)
    assert os.path.getsize(shot) > 5000
    return out
