"""The bridge options of mosquitto.conf, for the config parser (core.config_parse): it imports
this module by name (core.config.OPTION_MODULES) at the first `connection` line, which starts
a section that the bridge options after it belong to."""

from core import config_parse
from core.config import ConfigError, _Invalid, _int_range
from core.bridge.conf import Bridge, OUT, IN, BOTH, DEFAULT_PORT
from core.proto import MAX_PACKET

# mosquitto 2.0's bridge options that this broker reads but does not implement: a warning
IGNORED = ("bridge_bind_address", "bridge_alpn", "bridge_identity", "bridge_psk",
           "bridge_require_ocsp", "local_password")
# option -> Bridge attribute, for the ones that take one plain value
_STR = {"remote_clientid": "remote_clientid", "clientid": "remote_clientid",
        "local_clientid": "local_clientid", "remote_username": "remote_username",
        "username": "remote_username", "remote_password": "remote_password",
        "password": "remote_password", "local_username": "local_username",
        "bridge_cafile": "cafile", "bridge_capath": "capath", "bridge_certfile": "certfile",
        "bridge_keyfile": "keyfile"}
_BOOL = {"cleansession": "cleansession", "local_cleansession": "local_cleansession",
         "notifications": "notifications",
         "notifications_local_only": "notifications_local_only",
         "try_private": "try_private", "bridge_outgoing_retain": "outgoing_retain",
         "round_robin": "round_robin", "bridge_attempt_unsubscribe": "attempt_unsubscribe",
         "bridge_insecure": "insecure"}
NAMES = tuple(_STR) + tuple(_BOOL) + IGNORED + (
    "connection", "address", "addresses", "topic", "keepalive_interval", "restart_timeout",
    "start_type", "notification_topic", "bridge_protocol_version", "bridge_max_packet_size",
    "bridge_tls_version", "idle_timeout", "threshold")
_DIRECTIONS = {"out": OUT, "in": IN, "both": BOTH}


def option(p, opt, args):
    """One bridge option line: checked and stored in the current section's Bridge."""
    cfg = p.cfg
    if opt == "connection":
        name = config_parse._one(opt, args)
        if p.section is not None:
            end(p)
        for b in cfg.bridges or ():
            if b.name == name:
                raise _Invalid("duplicate bridge connection '%s' (first at line %d)"
                               % (name, b.line))
        if cfg.bridges is None:
            cfg.bridges = []
        cfg.bridges.append(Bridge(name, p.lineno))
        p.section = __import__("core.bridge.options", None, None, ("option",))
        return
    if opt not in NAMES:
        raise _Invalid("unknown option '%s'" % opt)
    b = cfg.bridges[-1]
    if opt in ("address", "addresses"):
        if not args:
            config_parse._one(opt, args)
        for a in args:
            b.addresses.append(_address(opt, a))
    elif opt == "topic":
        b.topics.append(_topic(args))
    elif opt == "restart_timeout":
        if not args or len(args) > 2:
            raise _Invalid("option 'restart_timeout' takes BASE CAP or one CONSTANT (seconds)")
        b.restart_base = _int_range(opt, args[0], 1, 86400)
        b.restart_cap = _int_range(opt, args[1], b.restart_base, 86400) if len(args) == 2 \
            else None
    elif opt in IGNORED:
        config_parse._one(opt, args[:1])
        p.warn("option '%s' is not supported yet and is ignored" % opt)
    else:
        v = config_parse._one(opt, args)
        if opt in _STR:
            setattr(b, _STR[opt], v)
        elif opt in _BOOL:
            setattr(b, _BOOL[opt], config_parse._bool(opt, v))
        elif opt == "keepalive_interval":
            b.keepalive_interval = _int_range(opt, v, 5, 65535)
        elif opt == "start_type":
            if v not in ("automatic", "lazy", "once"):
                raise _Invalid("invalid value '%s' for option 'start_type': expected "
                               "automatic, lazy or once" % v)
            b.start_type = v
        elif opt == "idle_timeout":
            b.idle_timeout = _int_range(opt, v, 1, 86400)
        elif opt == "threshold":
            b.threshold = _int_range(opt, v, 1, 65535)
        elif opt == "notification_topic":
            _check(opt, v, False)
            b.notification_topic = v
        elif opt == "bridge_protocol_version":
            if v not in ("mqttv311", "mqttv31"):
                raise _Invalid("invalid value '%s' for option 'bridge_protocol_version': "
                               "expected mqttv311 or mqttv31 (mqttv50 is not supported)" % v)
            b.protocol_version = 4 if v == "mqttv311" else 3
        elif opt == "bridge_max_packet_size":
            b.max_packet_size = _int_range(opt, v, 0, MAX_PACKET)
        elif opt == "bridge_tls_version":
            if v not in ("tlsv1.3", "tlsv1.2", "tlsv1.1"):
                raise _Invalid("invalid value '%s' for option 'bridge_tls_version': expected "
                               "tlsv1.3, tlsv1.2 or tlsv1.1" % v)
            b.tls_version = v


def end(p):
    """The checks of a finished section (the next `connection` line or the file's end)."""
    b = p.cfg.bridges[-1]
    why = None
    if not b.addresses:
        why = "no address"
    elif b.remote_password is not None and b.remote_username is None:
        why = "remote_password needs remote_username"
    elif (b.certfile is None) != (b.keyfile is None):
        why = "bridge_certfile and bridge_keyfile must both be given"
    elif not b.tls() and (b.certfile or b.insecure or b.tls_version):
        why = "TLS options need bridge_cafile or bridge_capath"
    if why is not None:
        raise ConfigError(p.filename, b.line, "bridge '%s': %s" % (b.name, why))
    if not b.topics:
        p.cfg.warnings.append("%s:%d: bridge '%s' has no topic line: it forwards nothing"
                              % (p.filename, b.line, b.name))


def _address(opt, a):
    from core.hostport import parse
    try:
        return parse(a, DEFAULT_PORT)
    except ValueError as e:
        raise _Invalid("invalid value for option '%s': %s" % (opt, e))


def _check(opt, t, wild):
    """_Invalid unless t is a topic filter (wild) or a topic name (not wild)."""
    from core.topic import check_filter, check_name
    from core.errors import ProtocolError
    try:
        (check_filter if wild else check_name)(t)
    except ProtocolError as e:
        raise _Invalid("invalid value '%s' for option '%s': %s" % (t, opt, e))


def _topic(args):
    """topic PATTERN [[[out|in|both] QOS] LOCAL_PREFIX REMOTE_PREFIX] (mosquitto.conf(5)):
    (local filter, remote filter, direction, qos, local prefix, remote prefix)."""
    if not args or len(args) == 4 or len(args) > 5:
        raise _Invalid("option 'topic' takes PATTERN [[[out|in|both] QOS] LOCAL_PREFIX "
                       "REMOTE_PREFIX]")
    words = [("" if w == '""' else w) for w in args]  # "" marks an empty pattern or prefix
    pattern = words[0]
    d = _DIRECTIONS.get(words[1] if len(words) > 1 else "out")
    if d is None:
        raise _Invalid("invalid direction '%s' for option 'topic': expected out, in or both"
                       % words[1])
    qos = _int_range("topic", words[2], 0, 2) if len(words) > 2 else 0
    lp = words[3] if len(words) > 3 else ""
    rp = words[4] if len(words) > 3 else ""
    if not pattern and not (lp and rp):
        raise _Invalid("option 'topic': an empty pattern needs both a local and a remote prefix")
    for w in (lp, rp):
        if "+" in w or "#" in w:
            raise _Invalid("invalid prefix '%s' for option 'topic': wildcards are not allowed" % w)
    _check("topic", lp + pattern, True)
    _check("topic", rp + pattern, True)
    return (lp + pattern, rp + pattern, d, qos, lp, rp)  # core/names.py, BRIDGE_*
