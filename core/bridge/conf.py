"""One bridge's settings (a `connection NAME` section of mosquitto.conf), mosquitto's
defaults; kept for the bridge's life (core/bridge/options.py, which fills it, is not)."""

OUT = 1  # a topic line's direction bits
IN = 2
BOTH = 3
DEFAULT_PORT = 1883


class Bridge:
    """Settings of one bridge; class defaults are mosquitto 2.0's."""

    remote_clientid = None  # None: HOSTNAME.NAME (the port's host name)
    local_clientid = None  # None: local.REMOTE_CLIENTID
    remote_username = None
    remote_password = None
    local_username = None  # the local side's user name, for acl_file
    cleansession = False
    local_cleansession = None  # None: as cleansession
    keepalive_interval = 60
    restart_base = 5  # restart_timeout BASE CAP: decorrelated jitter between them
    restart_cap = 30  # None: restart_timeout CONSTANT (restart_base)
    start_type = "automatic"  # or "once", "lazy"
    threshold = 10  # lazy: messages queued for the upstream that start the link
    idle_timeout = 60  # lazy: seconds without a message either way that stop it
    notifications = True
    notifications_local_only = False
    notification_topic = None  # None: $SYS/broker/connection/REMOTE_CLIENTID/state
    try_private = True
    protocol_version = 4  # bridge_protocol_version mqttv311; mqttv31: 3
    outgoing_retain = True
    max_packet_size = 0  # bridge_max_packet_size: 0 no limit
    round_robin = False
    attempt_unsubscribe = True
    # TLS to the upstream: on when cafile or capath is set (as in mosquitto)
    cafile = None
    capath = None
    certfile = None
    keyfile = None
    insecure = False
    tls_version = None

    def __init__(self, name, line):
        self.name = name
        self.line = line  # of its `connection` line, for errors found at its end
        self.addresses = []  # (host, port), the first the main one
        # (local filter, remote filter, direction, qos, local prefix, remote prefix)
        self.topics = []

    def tls(self):
        """True when the link to the upstream is TLS."""
        return self.cafile is not None or self.capath is not None
