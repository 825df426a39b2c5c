"""MicroPython port: WebSocket listeners (core/ws.py does the protocol), installed on a
Server by wrapping a few of its methods, so that loop.py carries no WebSocket code and a
board without such a listener pays nothing for it; imported by wshook.py at the first
read of a WebSocket connection. http_dir files are sent a receive buffer at a time as the
socket takes them (a board cannot hold a 340 KB script). core/ws_http.py, which reads a
connection's HTTP request, is dropped again once the request is answered."""

import os

from core import ws

_POLLIN_OUT = 5  # select.POLLIN | select.POLLOUT


def install(server, engine):
    """Route the server's WebSocket connections through core/ws; engine: the Broker's own
    received, bound."""
    from forget import forget
    b = server.broker
    flush = server._flush
    spill = server.spill
    drop = server._drop

    def received(conn, data):
        # data: the loop's receive buffer, server.mv[:n]; core/ws rewrites it in place. No
        # bytes: core/flow.py routes a packet kept back in conn.inbuf again (its MQTT bytes)
        if conn.listener.protocol != "websockets" or not data:
            engine(conn, data)
            return
        w = conn.ws
        if w is None:
            ws.start(conn)
            w = conn.ws
        elif w.state == ws.OPEN:
            ws.received(b, conn, data, len(data))
            return
        _get(server, conn, ws.received(b, conn, data, len(data)))
        if w.req is None:  # no request half read: core/ws_http's code can go
            forget("core.ws_http")

    def send_flush(conn):
        if conn.ws is not None and conn.port_data is not None:
            _before_send(server, conn)
        flush(conn)
        w = conn.ws
        if w is not None and w.file is not None and conn.port_data is not None and \
                conn not in server.writing:
            server.writing.add(conn)  # the rest of the file goes out as the socket takes it
            server.poller.modify(conn.port_data, _POLLIN_OUT)

    def send_spill(conn):
        if conn.ws is not None and conn.port_data is not None:
            _before_send(server, conn)
        spill(conn)

    def dropped(conn):
        w = conn.ws
        if w is not None and w.file is not None:
            w.file.close()
            w.file = None
        drop(conn)

    b.received = received
    ws.deliver = engine  # the engine's received, for the MQTT bytes core/ws decodes
    server._flush = send_flush
    server.spill = b.spill = send_spill
    server._drop = dropped
    forget("wshook")  # its hook has done its work


def _get(server, conn, path):
    """Answer a GET of http_dir file path (None: nothing to answer)."""
    if path is None:
        return
    f = None
    size = None
    full = conn.listener.http_dir + "/" + path
    try:
        st = os.stat(full)
        if st[0] & 0o170000 == 0o100000:  # a regular file
            size = st[6]
            f = open(full, "rb")
    except OSError:
        size = None
    from core import ws_http  # loaded by the GET already
    ws_http.file_answer(server.broker, conn, path, size)
    conn.ws.file = f


def _before_send(server, conn):
    """The next piece of an http_dir file once the last one has left; the core's new bytes
    framed."""
    w = conn.ws
    f = w.file
    if f is not None and not conn.out:
        n = f.readinto(server.buf)
        if n:
            server.broker.write(conn, server.mv[:n])
        else:
            f.close()
            w.file = None
            server.broker.close(conn, False, "http")
    ws.frame(conn)
