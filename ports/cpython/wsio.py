"""CPython port: WebSocket listeners (core/ws.py does the protocol): a fast unmask and
http_dir files read from disk."""

import os
import stat

from core import ws, ws_http


def _unmask(mv, dst, src, k, key, ko, ph):
    # one XOR of two big integers: ~100x the byte loop core.ws uses on boards
    m = bytes(key[ko + ph:ko + 4]) + bytes(key[ko:ko + ph])
    x = int.from_bytes(mv[src:src + k], "little") ^ \
        int.from_bytes(memoryview(m * ((k >> 2) + 1))[:k], "little")
    mv[dst:dst + k] = x.to_bytes(k, "little")


ws.unmask = _unmask
start = ws.start
frame = ws.frame


def received(b, conn, mv, n):
    """Bytes mv[:n] from a WebSocket listener's conn; answers GETs of http_dir files."""
    path = ws.received(b, conn, mv, n)
    if path is None:
        return
    data = None
    full = os.path.join(conn.listener.http_dir, path)
    try:
        with open(full, "rb") as f:
            if stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                data = f.read()  # a status page and its script: small enough to send whole
    except OSError:
        pass
    ws_http.file_answer(b, conn, path, None if data is None else len(data))
    if data is not None:
        b.write(conn, data)
        b.close(conn, False, "http")
