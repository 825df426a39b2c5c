"""The MicroPython port's start-up (loop.start), second part: capture, persistence, bridges
and the listening sockets (with TLS and WebSockets when configured), then the line that says
the broker runs. Imported once startup.py's code is dropped and collected, and dropped
itself before the broker serves: its code is not worth a board's heap while it serves.
"""

import gc
import sys


def open_all(server, cfg, log, listen_type):
    """Capture, persistence, bridges and the listeners for server; server, or an exit code
    (int) with the reason logged."""
    from forget import forget
    from core.version import NAME, VERSION
    from loop import ListenError
    forget("listeners")  # this function runs on; the module's code can go
    broker = server.broker
    if cfg.capture_address is not None:
        import capture_io
        try:
            server.capture = capture_io.CaptureIO.create(broker, cfg, server)
        except ValueError as e:
            log("error", "Error: capture: %s" % e)
            if "error" not in getattr(log, "types", ("error",)):
                sys.stderr.write("Error: capture: %s\n" % e)
            return 1
    if cfg.persist is not None:
        import persist_files  # only a config that names persistence pays for it
        server.batch = persist_files.start(broker, cfg, log)  # which drops its code again
        if server.batch == 1:
            return 1
    if cfg.bridges:
        import bridge_io  # after persistence: a bridge's local session may be loaded
        server.bridges = bridge_io.start(broker, cfg, server, log)
        if server.bridges == 1:
            return 1
    try:
        listen_all(server, cfg.listeners, listen_type)
    except ListenError as e:
        log("error", str(e))
        if "error" not in getattr(log, "types", ("error",)):
            sys.stderr.write("%s\n" % e)  # a fatal error is never silent
        server.shutdown()
        return 1
    gc.collect()  # the start-up's garbage: the figure logged is what clients can have
    log("notice", "%s version %s running (MicroPython, %d bytes of heap free)"
        % (NAME, VERSION, server.check_memory()))
    if server.capture is not None:
        server.capture.startup()
    return server


def listen(server, listener, listen_type):
    """Open the listening socket of one core Listener; raises loop.ListenError on failure."""
    import socket
    from loop import _AF_INET6, ListenError, errno_text
    host = listener.bind or "0.0.0.0"
    if listener.bind_interface is not None:  # a board's interfaces have no names here
        server.log("warning", "Warning: bind_interface %s is not supported on MicroPython: "
                   "the listener on port %d listens on %s"
                   % (listener.bind_interface, listener.port, host))
    try:
        ai = socket.getaddrinfo(host, listener.port)[0]
    except OSError as e:
        raise ListenError("Error: cannot resolve listener address %s: %s"
                          % (host, errno_text(e)))
    fam, addr = ai[0], ai[-1]
    server.log("notice", "Opening %s listen socket on port %d."
               % ("ipv6" if fam == _AF_INET6 else "ipv4", listener.port))
    sock = socket.socket(fam, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(server.backlog)
        sock.setblocking(False)
    except OSError as e:
        sock.close()
        raise ListenError("Error: cannot listen on %s port %d: %s"
                          % (host, listener.port, errno_text(e)))
    entry = listen_type(sock, listener)
    server.listens.append(entry)
    server.objs[sock] = entry
    server.register(sock, 1)  # POLLIN
    return entry


def listen_all(server, listeners, listen_type):
    """Open every listener; a failing IPv6 one is a warning while another one works."""
    from loop import ListenError
    for l in listeners:
        if l.certfile is not None:
            import tls_server  # only a config with TLS listeners pays for the module
            server.tls = tls_server.setup(listeners)  # ListenError when one cannot work
            break
    for l in listeners:
        if l.protocol == "websockets":
            import wshook  # wsport and core/ws come with the first WebSocket client
            wshook.install(server)
            break
    for l in listeners:
        try:
            listen(server, l, listen_type)
        except ListenError as e:
            if l.bind is not None and ":" in l.bind:
                server.log("warning", "Warning: no IPv6 listener: %s" % str(e)[7:])
                continue
            raise
    if not server.listens:
        raise ListenError("Error: no listen socket could be opened.")
