"""MQTT over WebSockets (RFC 6455), sans-I/O: the HTTP upgrade, frames in, frames out.

A port gives each connection of a `protocol websockets` listener a state (start(conn)),
passes what it reads to received() instead of broker.received(), and calls frame(conn)
before it sends conn.out. The engine modules (core/*.py) never import this one: a broker
without WebSockets listeners does not load it (a board's heap).

Incoming frames are unmasked in place in the port's receive buffer and their payloads
moved together at its front, so the MQTT bytes of a whole read reach broker.received() in
one call, without an object per frame. Outgoing bytes are framed where the core queued
them: each flush turns what conn.out gained since the last one into one binary frame by
inserting a 2-10 byte header in front of it (one move of the new bytes, no copy of the
queue). Anything malformed closes that connection with a close frame and one log line.
"""

import binascii
import hashlib

from core.const import const

_HTTP = const(0)  # reading the HTTP request
_OPEN = const(1)  # frames both ways
_DONE = const(2)  # close frame or HTTP answer queued: further input is ignored
DONE = _DONE

# whole HTTP request (request line and headers) allowed when websockets_headers_size is 0
# or unset: mosquitto's 1024 counts only the headers libwebsockets keeps, this limit every
# byte of the request, and a browser's User-Agent, Origin and cookies alone pass 1024
HEADERS_SIZE = const(4096)

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
# sub-protocols in order of preference: "mqtt" (MQTT-6.0.0-4) and the name MQTT 3.1
# clients offer, which mosquitto still accepts
PROTOCOLS = ("mqtt", "mqttv3.1")

# close status codes (RFC 6455 section 7.4.1)
NORMAL = const(1000)
PROTOCOL_ERROR = const(1002)
UNSUPPORTED_DATA = const(1003)
TOO_BIG = const(1009)

class Ws:
    """The WebSocket state of one connection (conn.ws)."""

    file = None  # set by the port while it sends an http_dir file
    ctl = None  # payload of the control frame being read
    frag = False  # a fragmented binary message is open: continuation frames follow
    hdr = None  # bytearray(14) once open: the frame header being read, mask last

    def __init__(self):
        self.state = _HTTP
        self.req = None  # the HTTP request's bytes so far
        self.hn = 0  # header bytes read
        self.hl = 2  # header length (known once its second byte is read); mask at hl-4
        self.left = -1  # payload bytes of the current frame still to come; -1: in a header
        self.op = 0  # opcode of the current frame (continuations: 2)
        self.ph = 0  # mask phase: payload bytes of the current frame so far, mod 4
        self.end = 0  # conn.tx_bytes + len(conn.out) up to which conn.out is framed


def start(conn):
    """Make conn a WebSocket connection (before any byte is read)."""
    conn.ws = Ws()


def _unmask_loop(mv, dst, src, k, key, ko, ph):
    for j in range(k):
        mv[dst + j] = mv[src + j] ^ key[ko + ((ph + j) & 3)]


# unmask(mv, dst, src, k, key, ko, ph): mv[dst:dst+k] = mv[src:src+k] XOR the mask key
# key[ko:ko+4] from phase ph; dst <= src. This loop allocates nothing (a board's heap); a
# port with memory to spare may put a faster equivalent here (ports/cpython does).
unmask = _unmask_loop


def received(b, conn, mv, n):
    """Bytes mv[:n] arrived on a WebSocket listener's conn (instead of b.received);
    returns None, or the path (relative, checked) of an http_dir file the port must
    answer with core.ws_http.file_answer()."""
    ws = conn.ws
    if ws.state == _OPEN:
        _frames(b, conn, ws, mv, 0, n)
        return None
    if ws.state == _HTTP and not conn.closing:
        return _request(b, conn, ws, mv, n)
    return None


# ---- the HTTP request ----

def _request(b, conn, ws, mv, n):
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
        return refuse(b, conn, ws, "431 Request Header Fields Too Large",
                       "HTTP request header over %d bytes (websockets_headers_size)" % limit)
    try:
        lines = bytes(req[:end]).decode().split("\r\n")
    except UnicodeError:
        return refuse(b, conn, ws, "400 Bad Request", "HTTP request is not UTF-8")
    words = lines[0].split(" ")
    if len(words) != 3 or words[2] != "HTTP/1.1" or not words[1].startswith("/"):
        return refuse(b, conn, ws, "400 Bad Request", "bad HTTP request line")
    if words[0] != "GET":
        return refuse(b, conn, ws, "405 Method Not Allowed", "HTTP method %s" % words[0][:16])
    hs = {}
    for line in lines[1:]:
        i = line.find(":")
        if i <= 0:
            return refuse(b, conn, ws, "400 Bad Request", "bad HTTP header line")
        k = line[:i].strip().lower()
        v = line[i + 1:].strip()
        hs[k] = hs[k] + "," + v if k in hs else v  # repeated headers are one list
    if "websocket" not in _tokens(hs.get("upgrade", ""), True):
        from core import ws_http  # only plain GETs (http_dir) pay for it
        return ws_http.get(b, conn, ws, words[1])
    why = _handshake(b, conn, ws, hs)
    if why is not None:
        return why
    # frames sent right behind the request (before the answer) start in this read
    rest = len(req) - end - 4
    if rest:
        _frames(b, conn, ws, mv, n - rest, n)
    return None


def _tokens(s, lower):
    return [t.strip().lower() if lower else t.strip() for t in s.split(",")]


def _handshake(b, conn, ws, hs):
    """Answer an upgrade request with 101, or refuse it; None when the WebSocket is open."""
    if "upgrade" not in _tokens(hs.get("connection", ""), True):
        return refuse(b, conn, ws, "400 Bad Request",
                       "WebSocket handshake without Connection: Upgrade")
    if hs.get("sec-websocket-version") != "13":
        return refuse(b, conn, ws, "426 Upgrade Required",
                       "WebSocket version %s, not 13" % hs.get("sec-websocket-version"),
                       "Sec-WebSocket-Version: 13\r\n")
    key = hs.get("sec-websocket-key", "")
    try:
        ok = len(binascii.a2b_base64(key)) == 16
    except ValueError:
        ok = False
    if not ok:
        return refuse(b, conn, ws, "400 Bad Request", "bad Sec-WebSocket-Key")
    proto = ""
    offered = hs.get("sec-websocket-protocol")
    if offered is not None:
        offered = _tokens(offered, False)
        for p in PROTOCOLS:
            if p in offered:
                proto = "Sec-WebSocket-Protocol: %s\r\n" % p
                break
        else:
            return refuse(b, conn, ws, "400 Bad Request",
                           "WebSocket sub-protocols offered do not include mqtt")
    accept = binascii.b2a_base64(hashlib.sha1(key.encode() + _GUID).digest())
    b.write(conn, ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n"
                   % (accept.decode().strip(), proto)).encode())
    ws.state = _OPEN
    ws.hdr = bytearray(14)
    ws.end = conn.tx_bytes + len(conn.out)  # the answer is not framed
    return None


def refuse(b, conn, ws, status, why, extra=""):
    """Answer status to a bad request and close with one log line; returns None."""
    answer(b, conn, ws, status, extra, status + "\n")
    b.violation(conn, why)
    return None


def answer(b, conn, ws, status, extra, body):
    b.write(conn, ("HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                   "Connection: close\r\n%s\r\n%s" % (status, len(body), extra, body)).encode())
    ws.state = _DONE


# ---- frames in ----

def _frames(b, conn, ws, mv, i, n):
    """Decode the frames in mv[i:n]: binary payloads unmasked and moved together to
    mv[i:w] and passed to the broker; control frames answered."""
    s = i  # the MQTT bytes gathered so far are mv[s:w]
    w = i
    hdr = ws.hdr
    while i < n and not conn.closing:
        if ws.left < 0:
            hn = ws.hn
            hl = ws.hl if hn else 2
            while hn < hl and i < n:
                hdr[hn] = mv[i]
                hn += 1
                i += 1
                if hn == 2:
                    why = _first_bytes(ws, hdr)
                    if why is not None:
                        _deliver(b, conn, mv, s, w)
                        _fail(b, conn, ws, why)
                        return
                    hl = ws.hl
            ws.hn = hn
            if hn < hl:
                break
            why = _header(b, ws, hdr, hl)
            if why is not None:
                _deliver(b, conn, mv, s, w)
                _fail(b, conn, ws, why)
                return
            if ws.left:
                continue
        else:
            k = ws.left
            if n - i < k:
                k = n - i
            if ws.op == 2:
                unmask(mv, w, i, k, hdr, ws.hl - 4, ws.ph)
                w += k
            else:  # a control frame: 125 bytes at most, kept aside
                ko = ws.hl - 4
                for j in range(k):
                    ws.ctl.append(mv[i + j] ^ hdr[ko + ((ws.ph + j) & 3)])
            i += k
            ws.ph = (ws.ph + k) & 3
            ws.left -= k
            if ws.left:
                continue
        # a whole frame has been read
        ws.left = -1
        ws.hn = 0
        if ws.op != 2:
            w = _deliver(b, conn, mv, s, w)  # the MQTT bytes before it come first
            _control(b, conn, ws)
            if ws.state != _OPEN:
                return
    _deliver(b, conn, mv, s, w)


# deliver(conn, data): the engine's Broker.received for the MQTT bytes decoded; None: the
# broker's own. A port that routes WebSocket reads by wrapping b.received sets it to the
# engine's (ports/micropython/wsport.py).
deliver = None


def _deliver(b, conn, mv, s, w):
    """Pass mv[s:w] to the broker; returns s (the gathered bytes are consumed)."""
    if w > s and not conn.closing:
        (deliver or b.received)(conn, mv[s:w])
    return s


def _first_bytes(ws, hdr):
    """Check a frame's first two bytes and set the header length; the error, or None."""
    b0 = hdr[0]
    b1 = hdr[1]
    op = b0 & 15
    if b0 & 0x70:
        return PROTOCOL_ERROR, "reserved bits set in a frame"
    if not b1 & 0x80:
        return PROTOCOL_ERROR, "unmasked frame from the client"
    if op >= 8:
        if op > 10:
            return PROTOCOL_ERROR, "reserved opcode %d" % op
        if not b0 & 0x80:
            return PROTOCOL_ERROR, "fragmented control frame"
        if b1 & 127 > 125:
            return PROTOCOL_ERROR, "control frame over 125 bytes"
    elif op == 1:
        return UNSUPPORTED_DATA, "text frame (MQTT needs binary frames)"  # MQTT-6.0.0-1
    elif op == 0:
        if not ws.frag:
            return PROTOCOL_ERROR, "continuation frame without a message"
    elif op == 2:
        if ws.frag:
            return PROTOCOL_ERROR, "new message inside a fragmented one"
    else:
        return PROTOCOL_ERROR, "reserved opcode %d" % op
    ln = b1 & 127
    ws.hl = 6 if ln < 126 else 8 if ln == 126 else 14
    return None


def _header(b, ws, hdr, hl):
    """A whole frame header is in hdr: take its length; the error, or None."""
    b0 = hdr[0]
    ln = hdr[1] & 127
    if ln == 126:
        ln = (hdr[2] << 8) | hdr[3]
        small = ln < 126
    elif ln == 127:
        if hdr[2] & 0x80:
            return PROTOCOL_ERROR, "frame length with its top bit set"
        ln = int.from_bytes(bytes(hdr[2:10]), "big")
        small = ln < 65536
    else:
        small = False
    if small:
        return PROTOCOL_ERROR, "frame length not in its shortest form"
    op = b0 & 15
    if op < 8:
        if ln > b.max_packet:
            return TOO_BIG, "frame of %d bytes is over the maximum packet size %d" \
                % (ln, b.max_packet)
        ws.frag = not b0 & 0x80
        ws.op = 2
    else:
        ws.op = op
        ws.ctl = bytearray()
    ws.left = ln
    ws.ph = 0
    return None


def _control(b, conn, ws):
    op = ws.op
    data = ws.ctl
    ws.ctl = None
    if op == 9:  # ping: pong with the same payload
        _queue(b, conn, ws, 0x8A, data)
    elif op == 8:
        code = NORMAL
        if len(data) == 1:
            _fail(b, conn, ws, (PROTOCOL_ERROR, "close frame of 1 byte"))
            return
        if len(data) >= 2:
            code = (data[0] << 8) | data[1]
            if not (1000 <= code <= 1011 and code not in (1004, 1005, 1006)) and \
                    not 3000 <= code <= 4999:
                _fail(b, conn, ws, (PROTOCOL_ERROR, "close code %d" % code))
                return
        _queue(b, conn, ws, 0x88, bytes((code >> 8, code & 255)))
        ws.state = _DONE
        # as the socket closing: "closed its connection", the will published; the port's
        # own closed() call later is a no-op (closed() is idempotent)
        b.closed(conn)


def _fail(b, conn, ws, err):
    """Close conn for err (code, why): close frame, one log line."""
    if conn.closing:
        return  # the MQTT bytes before it closed the connection: that was its one log line
    code, why = err
    _queue(b, conn, ws, 0x88, bytes((code >> 8, code & 255)))
    ws.state = _DONE
    b.violation(conn, "WebSocket: " + why)


# ---- frames out ----

def _queue(b, conn, ws, b0, payload):
    """Queue one control frame behind what conn.out holds."""
    frame(conn)
    b.write(conn, bytes((b0, len(payload))) + payload)
    ws.end = conn.tx_bytes + len(conn.out)


def frame(conn):
    """Before sending conn.out: what the core queued since the last call becomes one binary
    frame; a closing connection also gets its close frame (1000), once."""
    ws = conn.ws
    out = conn.out
    if ws.state != _OPEN:
        ws.end = conn.tx_bytes + len(out)
        return
    at = ws.end - conn.tx_bytes
    n = len(out) - at
    if n > 0:
        if n < 126:
            h = bytes((0x82, n))
        elif n < 65536:
            h = bytes((0x82, 126, n >> 8, n & 255))
        else:
            h = b"\x82\x7f" + n.to_bytes(8, "big")
        out[at:at] = h
    if conn.closing:
        out += b"\x88\x02\x03\xe8"  # close, 1000
        ws.state = _DONE
    ws.end = conn.tx_bytes + len(out)
