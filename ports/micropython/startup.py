"""The MicroPython port's start-up (loop.start), first part: the Broker's board limits and
security, the connection tables.

Imported by loop.start() once and dropped again before the modules the broker keeps
(capture, persistence, TLS, WebSockets: listeners.py) are imported, so that its code
neither stays on a board's heap nor leaves a hole below theirs.
"""

import sys


def start(broker, cfg, log, out_limit, min_free, buf):
    """loop.start()'s first part: broker's limits and security, the connection tables; the
    Server, or an exit code (int) with the reason logged."""
    from loop import Server
    import limits
    from forget import forget
    broker.debug = "debug" in getattr(log, "types", ())  # per-packet lines (-v)
    broker.out_limit = out_limit
    if cfg.back_pressure is None:
        broker.flow = True  # boards: publishers wait rather than messages being dropped
    # a small heap: tighter limits against abuse where the config leaves them unset
    if cfg.max_subscriptions_per_client is None:
        broker.max_subs = 100
    if cfg.max_topic_levels is None and sys.platform in ("esp32", "rp2"):
        # the subscription tree recurses once per level: a board's C stack is small (the
        # unix build takes the core's 201 levels, as mosquitto)
        broker.max_levels = 32
    if cfg.max_outgoing_bytes is None:
        broker.backlog_limit = 16 * out_limit
    if cfg.password_file is not None or cfg.acl_file is not None:
        from core import auth
        try:
            auth.install(broker, *auth.load(cfg, limits.read_file))
        except auth.SecurityError as e:
            log("error", "Error: %s" % e)
            if "error" not in getattr(log, "types", ("error",)):
                sys.stderr.write("Error: %s\n" % e)
            return 1
    cap = limits.limit_connections(cfg, log)
    server = Server(broker, log, min_free, buf)
    # + listeners, capture (its socket and DNS query's), each bridge's (the same two)
    limits.reserve_slots(server, cap + len(cfg.listeners) + 2 * (1 + len(cfg.bridges or ())))
    del limits
    forget("limits", "startup")  # this function runs on; the modules' code can go
    return server
