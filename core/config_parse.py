"""The mosquitto.conf parser: one handler per option; core.config holds what it builds."""

from core.config import (Config, ConfigError, _Invalid, _int, _int_range,
                         LOG_TYPES, MAX_PAYLOAD, OPTION_MODULES)
from core.listener import Listener
from core.proto import MAX_PACKET

# persistent_client_expiration units (mosquitto.conf(5): h d w m y)
_UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400, "m": 30 * 86400, "y": 365 * 86400}

# mosquitto 2.0 options this broker recognises but does not implement yet:
# they give a warning instead of the "unknown option" error.
UNSUPPORTED_OPTIONS = (
    # general and security
    "allow_duplicate_messages", "auth_plugin", "auth_plugin_deny_special_chars",
    "plugin", "check_retain_source",
    "clientid_prefixes", "include_dir", "log_dest", "log_facility", "log_timestamp",
    "log_timestamp_format", "max_inflight_bytes", "memory_limit",
    "pid_file", "psk_file",
    "set_tcp_nodelay", "user", "retry_interval",
    # listeners
    "socket_domain", "use_username_as_clientid",
    "websockets_log_level",
    # listener TLS (certificate and PSK)
    "capath", "ciphers", "ciphers_tls1.3", "crlfile", "dhparamfile",
    "tls_engine", "tls_engine_kpass_sha1", "tls_keyform", "use_subject_as_username", "psk_hint",
)
# (the bridge options are core/bridge/options.py's, which warns about those it ignores)
UNSUPPORTED_PREFIXES = ("auth_opt_", "plugin_opt_")


def _one(opt, args):
    """The single value of an option."""
    if not args:
        raise _Invalid("missing value for option '%s'" % opt)
    if len(args) > 1:
        raise _Invalid("too many values for option '%s' (unexpected '%s')" % (opt, args[1]))
    return args[0]


def _bool(opt, s):
    """mosquitto booleans: exactly "true" or "false"."""
    if s == "true":
        return True
    if s == "false":
        return False
    raise _Invalid("invalid value '%s' for option '%s': expected true or false" % (s, opt))


def _duration(opt, s):
    """persistent_client_expiration: positive integer with unit h, d, w, m or y."""
    unit = _UNITS.get(s[-1:])
    digits = s[:-1]
    if unit is None or not digits or [c for c in digits if c not in "0123456789"] \
            or int(digits) == 0:
        raise _Invalid("invalid value '%s' for option '%s': expected a positive number "
                       "followed by h, d, w, m or y (hour, day, week, month, year), "
                       "e.g. 14d" % (s, opt))
    return int(digits) * unit


class _Parser:
    """Line-by-line state: the config, the file name and the current listener."""

    def __init__(self, cfg, filename):
        self.cfg = cfg
        self.filename = filename
        self.lineno = 0
        self.cur = None  # Listener of the latest `listener` line
        # the module of the section the lines belong to (core/bridge/options.py after a
        # `connection` line): its option() takes the names in its NAMES, end(p) closes it
        self.section = None

    def warn(self, msg):
        self.cfg.warnings.append("%s:%d: %s" % (self.filename, self.lineno, msg))

    def listener(self, opt):
        """Listener that a per-listener option applies to."""
        if self.cur is not None:
            return self.cur
        self.cfg._default_only.append(
            "%s:%d: option '%s' before any 'listener' line applies to the default listener, "
            "which only 'port' or 'bind_address' creates: it is ignored"
            % (self.filename, self.lineno, opt))
        return self.cfg._default

    def use_default(self):
        d = self.cfg._default
        d._line = self.lineno
        self.cfg._default_used = True
        return d


# The handlers are named after what they set: names the broker interns anyway (a Config or
# Listener attribute, a short option name), where _opt_NAME would intern one more qstr
# (a name stays interned after this module is dropped: README of ports/micropython, Memory).
def _global_bool(attr):
    def handle(p, opt, args):
        setattr(p.cfg, attr, _bool(opt, _one(opt, args)))
    return handle


def _global_int(attr, lo, hi=None):
    def handle(p, opt, args):
        setattr(p.cfg, attr, _int_range(opt, _one(opt, args), lo, hi))
    return handle


def auto_id_prefix(p, opt, args):
    p.cfg.auto_id_prefix = _one(opt, args)


def _global_str(attr):
    def handle(p, opt, args):
        setattr(p.cfg, attr, _one(opt, args))
    return handle


def persistent_client_expiration(p, opt, args):
    p.cfg.persistent_client_expiration = _duration(opt, _one(opt, args))


def persist(p, opt, args):
    v = _one(opt, args)
    o = p.cfg.persist
    if o is None:
        from core.config import Persistence
        o = p.cfg.persist = Persistence()
    if opt == "persistence":
        o.enabled = _bool(opt, v)
    elif opt == "persistence_location":
        o.location = v
    elif opt == "persistence_file":
        if "/" in v:
            raise _Invalid("invalid value '%s' for option 'persistence_file': a file name "
                           "without '/' (the folder is persistence_location)" % v)
        o.file = v
    elif opt == "autosave_interval":
        o.autosave_interval = _int_range(opt, v, 0)
    elif opt == "autosave_on_changes":
        o.autosave_on_changes = _bool(opt, v)
    else:
        o.journal_limit = _int_range(opt, v, 4096)


def log_type(p, opt, args):
    if not args:
        _one(opt, args)
    for t in args:
        if t not in LOG_TYPES and t not in ("all", "none"):
            raise _Invalid("invalid value '%s' for option 'log_type': expected one of %s, "
                           "all, none" % (t, ", ".join(LOG_TYPES)))
    if not p.cfg._log_type_seen:  # the first log_type line replaces the defaults
        p.cfg._log_type_seen = True
        p.cfg.log_types.clear()
    for t in args:
        if t == "all":
            p.cfg.log_types.update(LOG_TYPES)
        elif t == "none":
            p.cfg.log_types.clear()
        else:
            p.cfg.log_types.add(t)


def listener(p, opt, args):
    if len(args) > 2:
        raise _Invalid("too many values for option 'listener' (unexpected '%s')" % args[2])
    s = _one(opt, args[:1])
    if s == "0":
        raise _Invalid("listener port 0 (a unix socket) is not supported")
    l = Listener(_int_range(opt, s, 1, 65535), args[1] if len(args) > 1 else None)
    l._line = p.lineno
    p.cfg.listeners.append(l)
    p.cur = l


def port(p, opt, args):
    n = _int_range(opt, _one(opt, args), 1, 65535)
    if p.cfg._port_seen:
        p.warn("default listener port given more than once: only the latest (%d) is used"
               % n)
    p.use_default().port = n
    p.cfg._port_seen = True


def bind(p, opt, args):
    p.use_default().bind = _one(opt, args)


def max_connections(p, opt, args):
    n = _int_range(opt, _one(opt, args), -1)
    if p.cur is None:
        p.cfg.max_connections = n  # global default for every listener
    else:
        p.cur.max_connections = n
        p.cur._max_set = True


def protocol(p, opt, args):
    v = _one(opt, args)
    if v not in ("mqtt", "websockets"):
        raise _Invalid("invalid value '%s' for option 'protocol': expected mqtt or "
                       "websockets" % v)
    p.listener(opt).protocol = v


def http_dir(p, opt, args):
    # served by a websockets listener (core/ws.py); an mqtt listener warns at the end
    p.listener(opt).http_dir = _one(opt, args).rstrip("/") or "/"


def mount_point(p, opt, args):
    v = _one(opt, args)
    if "+" in v or "#" in v:
        raise _Invalid("invalid value '%s' for option 'mount_point': wildcards + and # "
                       "are not allowed" % v)
    p.listener(opt).mount_point = v


def _listener_int(lo, hi):
    def handle(p, opt, args):
        setattr(p.listener(opt), opt, _int_range(opt, _one(opt, args), lo, hi))
    return handle


def bind_interface(p, opt, args):
    # the port binds to the interface's addresses (the MicroPython port warns: no names)
    p.listener(opt).bind_interface = _one(opt, args)


def per_listener_settings(p, opt, args):
    if _bool(opt, _one(opt, args)):
        p.warn("option 'per_listener_settings true' is not supported yet and is ignored: "
               "security options apply to all listeners")


_TLS_VERSIONS = ("tlsv1.3", "tlsv1.2", "tlsv1.1")


def tls(p, opt, args):
    v = _one(opt, args)
    l = p.listener(opt)
    if opt in ("require_certificate", "use_identity_as_username"):
        v = _bool(opt, v)
    elif opt == "tls_version" and v not in _TLS_VERSIONS:
        raise _Invalid("invalid value '%s' for option 'tls_version': expected tlsv1.3, "
                       "tlsv1.2 or tlsv1.1 (the oldest version allowed)" % v)
    setattr(l, opt, v)


def _check_tls(filename, l):
    """ConfigError for TLS options of listener l that cannot work together."""
    why = None
    if (l.certfile is None) != (l.keyfile is None):
        why = "certfile and keyfile must both be given"
    elif l.certfile is None and (l.cafile or l.require_certificate or l.tls_version or
                                 l.use_identity_as_username):
        why = "TLS options need certfile and keyfile"
    elif l.require_certificate and l.cafile is None:
        why = "require_certificate true needs cafile to check client certificates"
    elif l.use_identity_as_username and not l.require_certificate:
        why = "use_identity_as_username true needs require_certificate true"
    if why is not None:
        raise ConfigError(filename, l._line, "listener on %s: %s" % (l.where(), why))


_OPTIONS = {
    "allow_anonymous": _global_bool("allow_anonymous"),
    "allow_zero_length_clientid": _global_bool("allow_zero_length_clientid"),
    "connection_messages": _global_bool("connection_messages"),
    "queue_qos0_messages": _global_bool("queue_qos0_messages"),
    "retain_available": _global_bool("retain_available"),
    "upgrade_outgoing_qos": _global_bool("upgrade_outgoing_qos"),
    "max_inflight_messages": _global_int("max_inflight_messages", 0, 65535),
    "max_keepalive": _global_int("max_keepalive", 10, 65535),
    "max_packet_size": _global_int("max_packet_size", 20, MAX_PACKET),
    "max_queued_bytes": _global_int("max_queued_bytes", 0),
    "max_queued_messages": _global_int("max_queued_messages", 0),
    "message_size_limit": _global_int("message_size_limit", 0, MAX_PAYLOAD),
    "sys_interval": _global_int("sys_interval", 0, 65535),
    "max_subscriptions_per_client": _global_int("max_subscriptions_per_client", 0),
    "max_topic_length": _global_int("max_topic_length", 0, 65535),
    "max_topic_levels": _global_int("max_topic_levels", 0, 65535),
    "max_outgoing_bytes": _global_int("max_outgoing_bytes", 0),
    "back_pressure": _global_bool("back_pressure"),
    "slow_subscriber_timeout": _global_int("slow_subscriber_timeout", 1, 86400),
    "certfile": tls,
    "keyfile": tls,
    "cafile": tls,
    "require_certificate": tls,
    "use_identity_as_username": tls,
    "tls_version": tls,
    "auto_id_prefix": auto_id_prefix,
    "password_file": _global_str("password_file"),
    "acl_file": _global_str("acl_file"),
    "persistent_client_expiration": persistent_client_expiration,
    "persistence": persist,
    "persistence_location": persist,
    "persistence_file": persist,
    "autosave_interval": persist,
    "autosave_on_changes": persist,
    "persistence_journal_limit": persist,
    "log_type": log_type,
    "listener": listener,
    "port": port,
    "bind_address": bind,
    "max_connections": max_connections,
    "protocol": protocol,
    "http_dir": http_dir,
    "websockets_headers_size": _global_int("websockets_headers_size", 0, 65535),
    "mount_point": mount_point,
    "max_qos": _listener_int(0, 2),
    "max_topic_alias": _listener_int(0, 65535),
    "bind_interface": bind_interface,
    "per_listener_settings": per_listener_settings,
}


def _is_unsupported(opt):
    if opt in UNSUPPORTED_OPTIONS:
        return True
    for prefix in UNSUPPORTED_PREFIXES:
        if opt.startswith(prefix) and len(opt) > len(prefix):
            return True
    return False


def _unknown(opt):
    """Why opt is refused: a bridge option outside a `connection` section says so."""
    if opt in __import__(OPTION_MODULES["connection"], None, None, ("NAMES",)).NAMES:
        return "option '%s' belongs to a bridge: it must follow a 'connection' line" % opt
    return "unknown option '%s'" % opt


def parse(text, filename="mosquitto.conf"):
    """Parse mosquitto.conf text (str or UTF-8 bytes); return a finished Config."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeError:
            raise ConfigError(filename, 0, "file is not valid UTF-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    cfg = Config()
    cfg.filename = filename
    p = _Parser(cfg, filename)
    for line in text.split("\n"):
        p.lineno += 1
        words = line.split()
        # '#' starts a comment: a whole line, or the rest of a line after values; a bridge's
        # `topic # both` is a pattern, as in mosquitto (whose comments are whole lines)
        for i in range(2 if words[:1] == ["topic"] else 0, len(words)):
            if words[i].startswith("#"):
                words = words[:i]
                break
        if not words:
            continue
        opt, args = words[0], words[1:]
        handle = _OPTIONS.get(opt)
        if handle is None and p.section is not None and opt in p.section.NAMES:
            handle = p.section.option
        if handle is None:
            for prefix in OPTION_MODULES:
                if opt.startswith(prefix):
                    handle = __import__(OPTION_MODULES[prefix], None, None, ("option",)).option
        try:
            if handle is not None:
                handle(p, opt, args)
            elif _is_unsupported(opt):
                if not args:
                    _one(opt, args)
                p.warn("option '%s' is not supported yet and is ignored" % opt)
            else:
                raise _Invalid(_unknown(opt))
        except _Invalid as e:
            raise ConfigError(filename, p.lineno, str(e))
    if p.section is not None:
        p.section.end(p)
    for l in cfg.listeners + ([cfg._default] if cfg._default_used else []):
        _check_tls(filename, l)
        if l.http_dir is not None and l.protocol != "websockets":
            cfg.warnings.append("%s:%d: http_dir of the listener on %s is ignored: it "
                                "needs protocol websockets" % (filename, l._line, l.where()))
    return cfg.finish()
