"""MQTT over WebSockets (RFC 6455), sans-I/O: frames in, frames out.

A port gives each connection of a `protocol websockets` listener a state (start(conn)),
passes what it reads to received() instead of broker.received(), and calls frame(conn)
before it sends conn.out. The engine modules (core/*.py) never import this one: a broker
without WebSockets listeners does not load it (a board's heap). The HTTP request that
opens a connection (the upgrade, or an http_dir GET) is core/ws_http.py, imported only
while a connection has not upgraded yet: a board's port drops it again (its code is not
worth the heap between handshakes).

Incoming frames are unmasked in place in the port's receive buffer and their payloads
moved together at its front, so the MQTT bytes of a whole read reach broker.received() in
one call, without an object per frame. Outgoing bytes are framed where the core queued
them: each flush turns what conn.out gained since the last one into one binary frame by
inserting a 2-10 byte header in front of it (one move of the new bytes, no copy of the
queue). Anything malformed closes that connection with a close frame and one log line.
"""

from core.const import const

_HTTP = const(0)  # reading the HTTP request
_OPEN = const(1)  # frames both ways
_DONE = const(2)  # close frame or HTTP answer queued: further input is ignored
OPEN = _OPEN
DONE = _DONE

# close status codes (RFC 6455 section 7.4.1)
NORMAL = const(1000)
PROTOCOL_ERROR = const(1002)
UNSUPPORTED_DATA = const(1003)
TOO_BIG = const(1009)

# a frame's first two bytes (RFC 6455 section 5.2): FIN, RSV1-3, opcode; MASK, length
_FIN = const(0x80)
_RSV = const(0x70)
_OPCODE = const(0x0F)
_MASKED = const(0x80)
_LEN = const(0x7F)  # & _LEN: the length, or one of these two (the length follows)
_LEN16 = const(126)
_LEN64 = const(127)
# opcodes (5.2, 5.5): _CLOSE and up are control frames
_CONTINUATION = const(0)
_TEXT = const(1)
_BINARY = const(2)
_CLOSE = const(8)
_PING = const(9)
_PONG = const(10)


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
        frames(b, conn, ws, mv, 0, n)
        return None
    if ws.state == _HTTP and not conn.closing:
        from core import ws_http  # once per connection: the upgrade or an http_dir GET
        return ws_http.request(b, conn, ws, mv, n)
    return None


# ---- frames in ----

def frames(b, conn, ws, mv, i, n):
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
            if ws.op == _BINARY:
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
        if ws.op != _BINARY:
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
    op = b0 & _OPCODE
    if b0 & _RSV:
        return PROTOCOL_ERROR, "reserved bits set in a frame"
    if not b1 & _MASKED:
        return PROTOCOL_ERROR, "unmasked frame from the client"
    if op >= _CLOSE:
        if op > _PONG:
            return PROTOCOL_ERROR, "reserved opcode %d" % op
        if not b0 & _FIN:
            return PROTOCOL_ERROR, "fragmented control frame"
        if b1 & _LEN >= _LEN16:
            return PROTOCOL_ERROR, "control frame over 125 bytes"
    elif op == _TEXT:
        return UNSUPPORTED_DATA, "text frame (MQTT needs binary frames)"  # MQTT-6.0.0-1
    elif op == _CONTINUATION:
        if not ws.frag:
            return PROTOCOL_ERROR, "continuation frame without a message"
    elif op == _BINARY:
        if ws.frag:
            return PROTOCOL_ERROR, "new message inside a fragmented one"
    else:
        return PROTOCOL_ERROR, "reserved opcode %d" % op
    ln = b1 & _LEN
    # the header: these 2 bytes, the longer length's 2 or 8, the 4-byte masking key
    ws.hl = 6 if ln < _LEN16 else 8 if ln == _LEN16 else 14
    return None


def _header(b, ws, hdr, hl):
    """A whole frame header is in hdr: take its length; the error, or None."""
    b0 = hdr[0]
    ln = hdr[1] & _LEN
    if ln == _LEN16:
        ln = (hdr[2] << 8) | hdr[3]
        small = ln < _LEN16
    elif ln == _LEN64:
        if hdr[2] & 0x80:
            return PROTOCOL_ERROR, "frame length with its top bit set"
        ln = int.from_bytes(bytes(hdr[2:10]), "big")
        small = ln < 65536
    else:
        small = False
    if small:
        return PROTOCOL_ERROR, "frame length not in its shortest form"
    op = b0 & _OPCODE
    if op < _CLOSE:
        if ln > b.max_packet:
            return TOO_BIG, "frame of %d bytes is over the maximum packet size %d" \
                % (ln, b.max_packet)
        ws.frag = not b0 & _FIN
        ws.op = _BINARY
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
    if op == _PING:  # pong with the same payload
        _queue(b, conn, ws, _FIN | _PONG, data)
    elif op == _CLOSE:
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
        _queue(b, conn, ws, _FIN | _CLOSE, bytes((code >> 8, code & 255)))
        ws.state = _DONE
        # as the socket closing: "closed its connection", the will published; the port's
        # own closed() call later is a no-op (closed() is idempotent)
        b.closed(conn)


def _fail(b, conn, ws, err):
    """Close conn for err (code, why): close frame, one log line."""
    if conn.closing:
        return  # the MQTT bytes before it closed the connection: that was its one log line
    code, why = err
    _queue(b, conn, ws, _FIN | _CLOSE, bytes((code >> 8, code & 255)))
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
        if n < _LEN16:
            h = bytes((_FIN | _BINARY, n))
        elif n < 65536:
            h = bytes((_FIN | _BINARY, _LEN16, n >> 8, n & 255))
        else:
            h = b"\x82\x7f" + n.to_bytes(8, "big")
        out[at:at] = h
    if conn.closing:
        out += b"\x88\x02\x03\xe8"  # close, 1000
        ws.state = _DONE
    ws.end = conn.tx_bytes + len(out)
