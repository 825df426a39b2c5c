"""MicroPython port: what a config with WebSocket listeners keeps from start. The first
read of a WebSocket connection imports wsport.py (and with it core/ws.py), which takes
over; until a WebSocket client comes, a board's heap holds no WebSocket code."""


def install(server):
    """Load wsport at the first read of a WebSocket connection."""
    b = server.broker
    engine = b.received  # the Broker's own, bound

    def received(conn, data):
        if conn.listener.protocol == "websockets":
            import wsport
            wsport.install(server, engine)  # replaces b.received, drops this module
            b.received(conn, data)
        else:
            engine(conn, data)

    b.received = received
