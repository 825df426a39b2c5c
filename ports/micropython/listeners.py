"""The listening sockets, opened once at start (loop.start), which then drops this module:
its code is not worth a board's heap while the broker serves."""


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
            import wsport  # only a config with WebSocket listeners pays for it
            wsport.install(server)
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
