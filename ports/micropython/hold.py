"""Back-pressure in the loop (core/flow.py): a held client is not polled for input until
the core has drained. Imported, with core/flow.py, on the first hold or when free heap
falls under min_free: a board pays for them only then."""

from core import flow
from core.const import const

_POLLIN = const(1)  # as in loop.py: MicroPython's stream poll flags
_POLLOUT = const(4)


def hold(server, conn):
    """Stop polling conn for input (output still flows)."""
    if conn not in server.held:
        server.held.append(conn)
    server.poller.modify(conn.port_data, _POLLOUT if conn in server.writing else 0)


def release(server):
    """Read the held clients again once the core has drained, longest held first."""
    held = server.held
    while held:
        conn = held[0]
        if conn.port_data is not None and flow.hold(server.broker, conn):
            return  # still paused: the others wait behind it
        held.pop(0)
        if conn.port_data is not None and not conn.closing:  # a closing one only writes
            server.poller.modify(conn.port_data,
                                 _POLLIN | _POLLOUT if conn in server.writing else _POLLIN)
            server._read(conn)
            server.flush_pending()
