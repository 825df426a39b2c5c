"""The broker configuration (mosquitto.conf semantics); the parser is core.config_parse."""

from core.listener import DEFAULT_PORT, Listener

LOCAL_BINDS = ("127.0.0.1", "::1")  # mosquitto 2 local-only mode listens on both
# log_type values, and mosquitto's set when the config names none
LOG_TYPES = ("debug", "error", "warning", "notice", "information",
             "subscribe", "unsubscribe", "websockets")
DEFAULT_LOG_TYPES = ("error", "warning", "notice", "information")
MAX_PAYLOAD = 268435455  # the largest message_size_limit: MQTT's largest remaining length

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


class Config:
    """Broker settings with mosquitto 2 defaults; call finish() before use."""

    # Immutable defaults are class attributes (set on the instance only when changed);
    # the lists and sets a parser fills in are made per instance in __init__.
    allow_anonymous = None  # resolved by finish()
    max_connections = -1  # default for listeners that do not set their own
    max_inflight_messages = 20
    max_queued_messages = 1000
    max_queued_bytes = 0  # 0: no limit
    message_size_limit = 0  # 0: no limit
    retain_available = True
    persistent_client_expiration = None  # seconds, None: never
    max_keepalive = 65535
    max_packet_size = 0  # 0: no limit
    # limits against abuse: None lets the broker (or port) pick its default, 0 no limit
    max_subscriptions_per_client = None
    max_topic_length = None
    max_topic_levels = None
    max_outgoing_bytes = None
    # back-pressure (core/flow.py): None lets the port pick (boards on, CPython off)
    back_pressure = None
    slow_subscriber_timeout = 10  # seconds a full destination may take nothing (back_pressure)
    queue_qos0_messages = False
    upgrade_outgoing_qos = False
    allow_zero_length_clientid = True
    auto_id_prefix = "auto-"
    sys_interval = 10
    connection_messages = True
    websockets_headers_size = 0  # 0: core.ws_http.HEADERS_SIZE
    password_file = None  # path; the port reads it (core/passwd.py parses)
    acl_file = None  # path; the port reads it (core/acl.py parses)
    local_only = False
    filename = "mosquitto.conf"
    # capture (core/capture/, its options parsed by core/capture/options.py once a port has
    # registered them): off while capture_address is None
    capture_address = None
    capture_format = "ecs"
    capture_events = None  # None: every kind
    capture_payload = None  # None: "none" for ecs, "base64" for hicap
    capture_payload_limit = 0  # 0: whole payload
    capture_queue_size = None  # None: the port's default (core/capture/conf.py QUEUE_SIZE)
    capture_broker_id = None  # None: the port's host name
    capture_stats_interval = 60
    capture_tls = False
    capture_cafile = None
    capture_deliveries = False  # one record per message delivered to a client
    # the persistence options (core/persist/): a Persistence once the file names one, else
    # None (one attribute: a board keeps every public value after start-up)
    persist = None
    # bridges (core/bridge/): a list of core.bridge.conf.Bridge once a `connection` line
    # starts one, else None
    bridges = None
    _default_used = False
    _port_seen = False  # `port` given (mosquitto warns when repeated)
    _log_type_seen = False
    _cli_warned = 0
    _configured = None  # mqtt listeners from the file, fixed by the first finish()
    _file_listeners = False  # the file defined any listener at all
    _anon = None  # allow_anonymous as set explicitly

    def __init__(self):
        self.listeners = []
        self.log_types = set(DEFAULT_LOG_TYPES)
        self.warnings = []
        self.capture_topics = []  # empty: every publish
        # The default listener (mosquitto's `port` / `bind_address`) also takes
        # per-listener options written before the first `listener` line.
        self._default = Listener()
        self._default_only = []  # warnings if the default listener is never created
        self._cli_ports = []

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
            self._configured = list(self.listeners)
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


class Persistence:
    """persistence, persistence_location, persistence_file, autosave_interval,
    autosave_on_changes and persistence_journal_limit, with their defaults."""

    enabled = False  # persistence true
    location = None  # folder; None: the current directory
    file = "mqtt-edge.db"  # the snapshot; its journal is this name + ".journal"
    autosave_interval = None  # seconds (or changes); None: the port's default
    autosave_on_changes = False
    journal_limit = None  # journal bytes that trigger a snapshot; None: the port's default


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


# prefix -> the subsystem module whose option(parser, option, values) parses the options
# starting with prefix (raising _Invalid for a name it does not know). The parser imports it
# by this name at the first such line only: the engine's modules never import a subsystem,
# and a config without its options loads none of its code.
# "connection" starts a bridge section (core/bridge/options.py: its option() then takes the
# bridge options after it too, through the parser's `section`).
OPTION_MODULES = {"capture_": "core.capture.options", "connection": "core.bridge.options"}


def parse_config(text, filename="mosquitto.conf"):
    """Parse mosquitto.conf text (str or UTF-8 bytes); return a finished Config."""
    # The parser lives in its own module so that a small board can drop it after start-up.
    from core.config_parse import parse
    return parse(text, filename)


def wanted_types(cfg, verbose):
    """The set of log types to print: all with -v, else the config's log_type lines or defaults."""
    # here, not in core.cli: a board needs it at start and loads no core.cli (its names)
    if verbose:
        return set(LOG_TYPES)
    types = getattr(cfg, "log_types", None) if cfg is not None else None
    if not types:
        return set(DEFAULT_LOG_TYPES)
    types = set(types)
    if "all" in types:
        return set(LOG_TYPES)
    types.discard("none")
    return types
