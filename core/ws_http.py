"""http_dir for WebSocket listeners (core/ws.py): a plain GET's path checked for the port,
and the answer's header. Imported at the first plain GET only."""

from core import ws as ws_mod

# Content-Type of an http_dir file by its extension
TYPES = {"html": "text/html; charset=utf-8", "htm": "text/html; charset=utf-8",
         "js": "text/javascript; charset=utf-8", "mjs": "text/javascript; charset=utf-8",
         "css": "text/css; charset=utf-8", "json": "application/json",
         "txt": "text/plain; charset=utf-8", "svg": "image/svg+xml", "png": "image/png",
         "ico": "image/x-icon", "map": "application/json"}


def get(b, conn, ws, target):
    """A plain GET: the checked path of a file under http_dir, or an answer and close."""
    if conn.listener.http_dir is None:
        return ws_mod.refuse(b, conn, ws, "426 Upgrade Required", "HTTP request without "
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
    ws_mod.answer(b, conn, ws, "404 Not Found", "", "404 Not Found\n")
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
