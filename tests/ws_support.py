"""Shared helpers of the WebSocket tests (tests/ is on sys.path through tests/conftest.py):
tools/wsclient.py (the raw client bench.py uses too), a close check and an HTTP GET."""

import os
import socket
import sys

_TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools")
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
