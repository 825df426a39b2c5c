"""Parse mosquitto.conf text into a Config (sans-I/O: the port reads the file)."""

DEFAULT_PORT = 1883
LOCAL_BINDS = ("127.0.0.1", "::1")  # mosquitto 2 local-only mode listens on both
LOG_TYPES = ("debug", "error", "warning", "notice", "information",
             "subscribe", "unsubscribe", "websockets")
DEFAULT_LOG_TYPES = ("error", "warning", "notice", "information")
MAX_PACKET = 268435460  # 5-byte fixed header + largest MQTT remaining length
MAX_PAYLOAD = 268435455

# persistent_client_expiration units (mosquitto.conf(5): h d w m y)
_UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400, "m": 30 * 86400, "y": 365 * 86400}

# mosquitto 2.0 options this broker recognises but does not implement yet:
# they give a warning instead of the "unknown option" error.
UNSUPPORTED_OPTIONS = (
    # general and security
    "allow_duplicate_messages", "auth_plugin", "auth_plugin_deny_special_chars",
    "plugin", "autosave_interval", "autosave_on_changes", "check_retain_source",
    "clientid_prefixes", "include_dir", "log_dest", "log_facility", "log_timestamp",
    "log_timestamp_format", "max_inflight_bytes", "memory_limit",
    "persistence", "persistence_file", "persistence_location", "pid_file", "psk_file",
    "set_tcp_nodelay", "user", "retry_interval",
    # listeners
    "http_dir", "max_qos", "max_topic_alias", "socket_domain", "use_username_as_clientid",
    "websockets_log_level", "websockets_headers_size",
    # listener TLS (certificate and PSK)
    "cafile", "capath", "certfile", "ciphers", "ciphers_tls1.3", "crlfile", "dhparamfile",
    "keyfile", "require_certificate", "tls_engine", "tls_engine_kpass_sha1", "tls_keyform",
    "tls_version", "use_identity_as_username", "use_subject_as_username", "psk_hint",
    # bridges
    "connection", "address", "addresses", "bridge_attempt_unsubscribe", "bridge_bind_address",
    "bridge_max_packet_size", "bridge_outgoing_retain", "bridge_protocol_version",
    "cleansession", "local_cleansession", "keepalive_interval", "idle_timeout",
    "local_clientid", "local_password", "local_username", "notifications",
    "notifications_local_only", "notification_topic", "remote_clientid", "remote_password",
    "remote_username", "clientid", "password", "username", "restart_timeout", "round_robin",
    "start_type", "threshold", "topic", "try_private", "bridge_alpn", "bridge_cafile",
    "bridge_capath", "bridge_certfile", "bridge_identity", "bridge_insecure", "bridge_keyfile",
    "bridge_psk", "bridge_require_ocsp", "bridge_tls_version",
)
UNSUPPORTED_PREFIXES = ("auth_opt_", "plugin_opt_")


class ConfigError(Exception):
    """A configuration problem: str(e) is "FILE:LINE: REASON"."""

    def __init__(self, filename, lineno, reason):
        if lineno:
            msg = "%s:%d: %s" % (filename, lineno, reason)
        else:
            msg = "%s: %s" % (filename, reason)
        super().__init__(msg)
        self.filename = filename
        self.lineno = lineno
        self.reason = reason


class Listener:
    """One listening socket the port opens: bind None means all interfaces."""

    def __init__(self, port=DEFAULT_PORT, bind=None):
        self.port = port
        self.bind = bind
        self.max_connections = -1  # -1: unlimited
        self.protocol = "mqtt"
        self.mount_point = None
        self.bind_interface = None
        # TLS: filled in once TLS options are supported
        self.certfile = None
        self.keyfile = None
        self.cafile = None
        self.require_certificate = False
        self.use_identity_as_username = False
        self.tls_version = None
        self._max_set = False  # max_connections given for this listener itself
        self._line = 0  # config line that defined it (for duplicate errors)

    def where(self):
        """Human-readable "port P on ADDRESS" for messages."""
        return "port %d on %s" % (self.port, self.bind or "all interfaces")

    def __repr__(self):
        return "<Listener %s>" % self.where()


class Config:
    """Broker settings with mosquitto 2 defaults; call finish() before use."""

    def __init__(self):
        self.listeners = []
        self.allow_anonymous = None  # resolved by finish()
        self.max_connections = -1  # default for listeners that do not set their own
        self.max_inflight_messages = 20
        self.max_queued_messages = 1000
        self.max_queued_bytes = 0  # 0: no limit
        self.message_size_limit = 0  # 0: no limit
        self.retain_available = True
        self.persistent_client_expiration = None  # seconds, None: never
        self.max_keepalive = 65535
        self.max_packet_size = 0  # 0: no limit
        self.queue_qos0_messages = False
        self.upgrade_outgoing_qos = False
        self.allow_zero_length_clientid = True
        self.auto_id_prefix = "auto-"
        self.sys_interval = 10
        self.log_types = set(DEFAULT_LOG_TYPES)
        self.connection_messages = True
        self.password_file = None  # path; the port reads it (core/passwd.py parses)
        self.acl_file = None  # path; the port reads it (core/acl.py parses)
        self.warnings = []
        self.local_only = False
        self.filename = "mosquitto.conf"
        # capture (core/capture.py): off while capture_address is None
        self.capture_address = None
        self.capture_format = "ecs"
        self.capture_events = None  # None: every kind
        self.capture_payload = None  # None: "none" for ecs, "base64" for hicap
        self.capture_payload_limit = 0  # 0: whole payload
        self.capture_topics = []  # empty: every publish
        self.capture_queue_size = 262144
        self.capture_broker_id = None  # None: the port's host name
        self.capture_stats_interval = 60
        self.capture_tls = False
        self.capture_cafile = None
        # The default listener (mosquitto's `port` / `bind_address`) also takes
        # per-listener options written before the first `listener` line.
        self._default = Listener()
        self._default_used = False
        self._port_seen = False  # `port` given (mosquitto warns when repeated)
        self._default_only = []  # warnings if the default listener is never created
        self._log_type_seen = False
        self._cli_ports = []
        self._cli_warned = 0
        self._configured = None  # mqtt listeners from the file, fixed by the first finish()
        self._file_listeners = False  # the file defined any listener at all
        self._anon = None  # allow_anonymous as set explicitly

    def add_port(self, port):
        """Apply the `-p PORT` command-line flag (mosquitto 2 semantics).

        Without listeners in the config, -p ports replace 1883 and listen on
        loopback only; when the config defines listeners, -p is ignored
        with a warning. May be called before or after finish().
        """
        try:
            port = _int_range("-p", str(port), 1, 65535)
        except _Invalid as e:
            raise ConfigError("command line", 0, str(e))
        if port in self._cli_ports:
            raise ConfigError("command line", 0, "-p %d given twice" % port)
        self._cli_ports.append(port)
        if self._configured is not None:
            self.finish()

    def finish(self):
        """Resolve defaults like mosquitto 2 (local-only mode, allow_anonymous)."""
        if self._configured is None:
            self._anon = self.allow_anonymous
            if self._default_used:
                self.listeners.insert(0, self._default)
            else:
                self.warnings.extend(self._default_only)
            _check_duplicates(self.filename, self.listeners)
            self._file_listeners = bool(self.listeners)
            self._configured = [l for l in self.listeners if l.protocol == "mqtt"]
        for l in self._configured:
            if not l._max_set:
                l.max_connections = self.max_connections
        self.local_only = not self._file_listeners
        if self.local_only:
            self.listeners = []
            for port in self._cli_ports or [DEFAULT_PORT]:
                for bind in LOCAL_BINDS:
                    l = Listener(port, bind)
                    l.max_connections = self.max_connections
                    self.listeners.append(l)
        else:
            self.listeners = list(self._configured)
            for port in self._cli_ports[self._cli_warned:]:
                self.warnings.append("command line: -p %d is ignored because %s defines "
                                     "listeners" % (port, self.filename))
            self._cli_warned = len(self._cli_ports)
        if self._anon is None:
            self.allow_anonymous = self.local_only
        else:
            self.allow_anonymous = self._anon
        return self


class _Invalid(Exception):
    """A bad value on the current line (becomes a ConfigError with the line)."""


def _check_duplicates(filename, listeners):
    """Raise ConfigError for two listeners on the same port and address."""
    for i in range(len(listeners)):
        for j in range(i):
            a, b = listeners[j], listeners[i]
            if a.port == b.port and a.bind == b.bind:
                if a._line > b._line:
                    a, b = b, a
                raise ConfigError(filename, b._line, "duplicate listener on %s (first "
                                  "defined at line %d)" % (b.where(), a._line))


def _one(opt, args):
    """The single value of an option."""
    if not args:
        raise _Invalid("missing value for option '%s'" % opt)
    if len(args) > 1:
        raise _Invalid("too many values for option '%s' (unexpected '%s')" % (opt, args[1]))
    return args[0]


def _int(opt, s):
    """Strict decimal integer (no '+', '_', '0x' or unicode digits)."""
    digits = s[1:] if s.startswith("-") else s
    if not digits or [c for c in digits if c not in "0123456789"]:
        raise _Invalid("invalid value '%s' for option '%s': expected an integer" % (s, opt))
    return int(s)


def _int_range(opt, s, lo, hi=None):
    """Integer within lo..hi (hi None: no upper limit)."""
    n = _int(opt, s)
    if n < lo or (hi is not None and n > hi):
        if hi is None:
            rng = "at least %d" % lo
        else:
            rng = "between %d and %d" % (lo, hi)
        raise _Invalid("invalid value '%s' for option '%s': must be %s" % (s, opt, rng))
    return n


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


def _global_bool(attr):
    def handle(p, opt, args):
        setattr(p.cfg, attr, _bool(opt, _one(opt, args)))
    return handle


def _global_int(attr, lo, hi=None):
    def handle(p, opt, args):
        setattr(p.cfg, attr, _int_range(opt, _one(opt, args), lo, hi))
    return handle


def _opt_auto_id_prefix(p, opt, args):
    p.cfg.auto_id_prefix = _one(opt, args)


def _global_str(attr):
    def handle(p, opt, args):
        setattr(p.cfg, attr, _one(opt, args))
    return handle


def _opt_persistent_client_expiration(p, opt, args):
    p.cfg.persistent_client_expiration = _duration(opt, _one(opt, args))


def _opt_log_type(p, opt, args):
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


def _opt_listener(p, opt, args):
    if len(args) > 2:
        raise _Invalid("too many values for option 'listener' (unexpected '%s')" % args[2])
    s = _one(opt, args[:1])
    if s == "0":
        raise _Invalid("listener port 0 (a unix socket) is not supported")
    l = Listener(_int_range(opt, s, 1, 65535), args[1] if len(args) > 1 else None)
    l._line = p.lineno
    p.cfg.listeners.append(l)
    p.cur = l


def _opt_port(p, opt, args):
    port = _int_range(opt, _one(opt, args), 1, 65535)
    if p.cfg._port_seen:
        p.warn("default listener port given more than once: only the latest (%d) is used"
               % port)
    p.use_default().port = port
    p.cfg._port_seen = True


def _opt_bind_address(p, opt, args):
    p.use_default().bind = _one(opt, args)


def _opt_max_connections(p, opt, args):
    n = _int_range(opt, _one(opt, args), -1)
    if p.cur is None:
        p.cfg.max_connections = n  # global default for every listener
    else:
        p.cur.max_connections = n
        p.cur._max_set = True


def _opt_protocol(p, opt, args):
    v = _one(opt, args)
    if v not in ("mqtt", "websockets"):
        raise _Invalid("invalid value '%s' for option 'protocol': expected mqtt or "
                       "websockets" % v)
    l = p.listener(opt)
    l.protocol = v
    if v == "websockets":
        p.warn("protocol 'websockets' is not supported yet: this listener is not started")


def _opt_mount_point(p, opt, args):
    v = _one(opt, args)
    if "+" in v or "#" in v:
        raise _Invalid("invalid value '%s' for option 'mount_point': wildcards + and # "
                       "are not allowed" % v)
    p.listener(opt).mount_point = v
    p.warn("option 'mount_point' is not supported yet and is ignored")


def _opt_bind_interface(p, opt, args):
    p.listener(opt).bind_interface = _one(opt, args)
    p.warn("option 'bind_interface' is not supported yet and is ignored")


def _opt_per_listener_settings(p, opt, args):
    if _bool(opt, _one(opt, args)):
        p.warn("option 'per_listener_settings true' is not supported yet and is ignored: "
               "security options apply to all listeners")


def _opt_capture(p, opt, args):
    # names and values are checked here; core/capture.py uses them
    from core import capture
    cfg = p.cfg
    if opt == "capture_events":
        if not args:
            _one(opt, args)
        kinds = []
        for w in " ".join(args).replace(",", " ").split():
            if w == "all":
                kinds.extend(capture.KINDS)
            elif w in capture.KINDS:
                kinds.append(w)
            else:
                raise _Invalid("invalid value '%s' for option 'capture_events': expected a "
                               "comma list of %s, or all" % (w, ", ".join(capture.KINDS)))
        cfg.capture_events = kinds
        return
    v = _one(opt, args)
    if opt == "capture_address":
        try:
            capture.parse_address(v)
        except ValueError as e:
            raise _Invalid("invalid value for option 'capture_address': %s" % e)
        cfg.capture_address = v
    elif opt == "capture_format":
        if v not in capture.FORMATS:
            raise _Invalid("invalid value '%s' for option 'capture_format': expected ecs or "
                           "hicap" % v)
        cfg.capture_format = v
    elif opt == "capture_payload":
        if v not in capture.PAYLOADS:
            raise _Invalid("invalid value '%s' for option 'capture_payload': expected none, "
                           "base64 or sha256" % v)
        cfg.capture_payload = v
    elif opt == "capture_payload_limit":
        cfg.capture_payload_limit = _int_range(opt, v, 0, MAX_PAYLOAD)
    elif opt == "capture_topic":
        from core.topic import check_filter
        from core.errors import ProtocolError
        try:
            check_filter(v)
        except ProtocolError as e:
            raise _Invalid("invalid value '%s' for option 'capture_topic': %s" % (v, e))
        cfg.capture_topics.append(v)
    elif opt == "capture_queue_size":
        cfg.capture_queue_size = _int_range(opt, v, 1024)
    elif opt == "capture_broker_id":
        cfg.capture_broker_id = v
    elif opt == "capture_stats_interval":
        cfg.capture_stats_interval = _int_range(opt, v, 0, 86400)
    elif opt == "capture_tls":
        if _bool(opt, v):
            raise _Invalid("option 'capture_tls true' is not supported yet (plain TCP only)")
    elif opt == "capture_cafile":
        cfg.capture_cafile = v


_OPTIONS = {
    "capture_address": _opt_capture,
    "capture_format": _opt_capture,
    "capture_events": _opt_capture,
    "capture_payload": _opt_capture,
    "capture_payload_limit": _opt_capture,
    "capture_topic": _opt_capture,
    "capture_queue_size": _opt_capture,
    "capture_broker_id": _opt_capture,
    "capture_stats_interval": _opt_capture,
    "capture_tls": _opt_capture,
    "capture_cafile": _opt_capture,
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
    "auto_id_prefix": _opt_auto_id_prefix,
    "password_file": _global_str("password_file"),
    "acl_file": _global_str("acl_file"),
    "persistent_client_expiration": _opt_persistent_client_expiration,
    "log_type": _opt_log_type,
    "listener": _opt_listener,
    "port": _opt_port,
    "bind_address": _opt_bind_address,
    "max_connections": _opt_max_connections,
    "protocol": _opt_protocol,
    "mount_point": _opt_mount_point,
    "bind_interface": _opt_bind_interface,
    "per_listener_settings": _opt_per_listener_settings,
}


def _is_unsupported(opt):
    if opt in UNSUPPORTED_OPTIONS:
        return True
    for prefix in UNSUPPORTED_PREFIXES:
        if opt.startswith(prefix) and len(opt) > len(prefix):
            return True
    return False


def parse_config(text, filename="mosquitto.conf"):
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
        # '#' starts a comment: a whole line, or the rest of a line after values
        for i in range(len(words)):
            if words[i].startswith("#"):
                words = words[:i]
                break
        if not words:
            continue
        opt, args = words[0], words[1:]
        handle = _OPTIONS.get(opt)
        try:
            if handle is not None:
                handle(p, opt, args)
            elif _is_unsupported(opt):
                if not args:
                    _one(opt, args)
                p.warn("option '%s' is not supported yet and is ignored" % opt)
            else:
                raise _Invalid("unknown option '%s'" % opt)
        except _Invalid as e:
            raise ConfigError(filename, p.lineno, str(e))
    return cfg.finish()
