"""The HTTP side of WebSocket listeners (core/ws.py): the request that opens a connection,
answered with the upgrade (101) or refused, and http_dir: a plain GET's path checked for
the port, and the answer's header. Imported while a connection reads its request only (a
board's port drops it again once the request is answered)."""

import binascii
import hashlib

from core import ws as ws_mod
from core.const import const

# whole HTTP request (request line and headers) allowed when websockets_headers_size is 0
# or unset: mosquitto's 1024 counts only the headers libwebsockets keeps, this limit every
# byte of the request, and a browser's User-Agent, Origin and cookies alone pass 1024
HEADERS_SIZE = const(4096)

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
# sub-protocols in order of preference: "mqtt" (MQTT-6.0.0-4) and the name MQTT 3.1
# clients offer, which mosquitto still accepts
PROTOCOLS = ("mqtt", "mqttv3.1")


def request(b, conn, ws, mv, n):
    """Bytes mv[:n] of ws's HTTP request (core.ws.received): None until it is whole, then
    the upgrade answered (101, and the frames behind the request decoded) or refused, or
    the checked path of an http_dir GET (see core.ws.received)."""
    req = ws.req
    if req is None:
        req = ws.req = bytearray(mv[:n])
    else:
        req += mv[:n]
    end = req.find(b"\r\n\r\n")
    limit = b.cfg.websockets_headers_size or HEADERS_SIZE
    if end < 0 and len(req) <= limit:
        return None
    ws.req = None
    if end < 0 or end + 4 > limit:
        return _refuse(b, conn, ws, "431 Request Header Fields Too Large",
                       "HTTP request header over %d bytes (websockets_headers_size)" % limit)
    try:
        lines = bytes(req[:end]).decode().split("\r\n")
    except UnicodeError:
        return _refuse(b, conn, ws, "400 Bad Request", "HTTP request is not UTF-8")
    words = lines[0].split(" ")
    if len(words) != 3 or words[2] != "HTTP/1.1" or not words[1].startswith("/"):
        return _refuse(b, conn, ws, "400 Bad Request", "bad HTTP request line")
    if words[0] != "GET":
        return _refuse(b, conn, ws, "405 Method Not Allowed", "HTTP method %s" % words[0][:16])
    hs = {}
    for line in lines[1:]:
        i = line.find(":")
        if i <= 0:
            return _refuse(b, conn, ws, "400 Bad Request", "bad HTTP header line")
        k = line[:i].strip().lower()
        v = line[i + 1:].strip()
        hs[k] = hs[k] + "," + v if k in hs else v  # repeated headers are one list
    if "websocket" not in _tokens(hs.get("upgrade", ""), True):
        return _get(b, conn, ws, words[1])
    why = _handshake(b, conn, ws, hs)
    if why is not None:
        return why
    # frames sent right behind the request (before the answer) start in this read
    rest = len(req) - end - 4
    if rest:
        ws_mod.frames(b, conn, ws, mv, n - rest, n)
    return None


def _tokens(s, lower):
    return [t.strip().lower() if lower else t.strip() for t in s.split(",")]


def _handshake(b, conn, ws, hs):
    """Answer an upgrade request with 101, or refuse it; None when the WebSocket is open."""
    if "upgrade" not in _tokens(hs.get("connection", ""), True):
        return _refuse(b, conn, ws, "400 Bad Request",
                       "WebSocket handshake without Connection: Upgrade")
    if hs.get("sec-websocket-version") != "13":
        return _refuse(b, conn, ws, "426 Upgrade Required",
                       "WebSocket version %s, not 13" % hs.get("sec-websocket-version"),
                       "Sec-WebSocket-Version: 13\r\n")
    key = hs.get("sec-websocket-key", "")
    try:
        ok = len(binascii.a2b_base64(key)) == 16
    except ValueError:
        ok = False
    if not ok:
        return _refuse(b, conn, ws, "400 Bad Request", "bad Sec-WebSocket-Key")
    proto = ""
    offered = hs.get("sec-websocket-protocol")
    if offered is not None:
        offered = _tokens(offered, False)
        for p in PROTOCOLS:
            if p in offered:
                proto = "Sec-WebSocket-Protocol: %s\r\n" % p
                break
        else:
            return _refuse(b, conn, ws, "400 Bad Request",
                           "WebSocket sub-protocols offered do not include mqtt")
    accept = binascii.b2a_base64(hashlib.sha1(key.encode() + _GUID).digest())
    b.write(conn, ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n"
                   % (accept.decode().strip(), proto)).encode())
    ws.state = ws_mod.OPEN
    ws.hdr = bytearray(14)
    ws.end = conn.tx_bytes + len(conn.out)  # the answer is not framed
    return None


def _refuse(b, conn, ws, status, why, extra=""):
    """Answer status to a bad request and close with one log line; returns None."""
    _answer(b, conn, ws, status, extra, status + "\n")
    b.violation(conn, why)
    return None


def _answer(b, conn, ws, status, extra, body):
    """Queue an HTTP answer; the connection takes no more input."""
    b.write(conn, ("HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                   "Connection: close\r\n%s\r\n%s" % (status, len(body), extra, body)).encode())
    ws.state = ws_mod.DONE


# Content-Type of an http_dir file by its extension
TYPES = {"html": "text/html; charset=utf-8", "htm": "text/html; charset=utf-8",
         "js": "text/javascript; charset=utf-8", "mjs": "text/javascript; charset=utf-8",
         "css": "text/css; charset=utf-8", "json": "application/json",
         "txt": "text/plain; charset=utf-8", "svg": "image/svg+xml", "png": "image/png",
         "ico": "image/x-icon", "map": "application/json"}


def _get(b, conn, ws, target):
    """A plain GET: the checked path of a file under http_dir, or an answer and close."""
    if conn.listener.http_dir is None:
        return _refuse(b, conn, ws, "426 Upgrade Required", "HTTP request without "
                             "WebSocket upgrade (no http_dir)", "Upgrade: websocket\r\n")
    path = target.split("?")[0].split("#")[0]
    if "%" in path:
        try:
            path = _unquote(path)
        except ValueError:
            path = "/.."  # refused below
    parts = []
    for p in path.split("/"):
        if p == "." or p == ".." or "\\" in p or "\0" in p:
            return _not_found(b, conn, ws)
        if p:
            parts.append(p)
    if not parts or path.endswith("/"):
        parts.append("index.html")
    return "/".join(parts)


def _not_found(b, conn, ws):
    """Answer 404 and close (no log line: a missing file is not a protocol error)."""
    _answer(b, conn, ws, "404 Not Found", "", "404 Not Found\n")
    b.close(conn, False, "http")


def _unquote(s):
    """%XX escapes of a URL path decoded (UTF-8); ValueError when malformed."""
    out = bytearray()
    i = 0
    while i < len(s):
        if s[i] == "%":
            h = s[i + 1:i + 3]
            if len(h) != 2:
                raise ValueError
            out.append(int(h, 16))
            i += 3
        else:
            out += s[i].encode()
            i += 1
    try:
        return bytes(out).decode()
    except UnicodeError:
        raise ValueError


def file_answer(b, conn, path, size):
    """Start the answer to a GET of http_dir file path: size its length in bytes, or None
    for no such file (404 and close). The port then sends the body and calls b.close()."""
    ws = conn.ws
    if size is None:
        _not_found(b, conn, ws)
        return
    ext = path[path.rfind(".") + 1:] if "." in path else ""
    b.write(conn, ("HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                   "Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
                   % (TYPES.get(ext.lower(), "application/octet-stream"), size)).encode())
    ws.state = ws_mod.DONE
