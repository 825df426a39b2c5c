"""One listening socket's settings: its own module so that a board can drop core.config
(and its code) after start-up while connections keep pointing at their Listener."""

DEFAULT_PORT = 1883


class Listener:
    """One listening socket the port opens: bind None means all interfaces."""

    # Defaults are class attributes: an instance stores only what its config changed,
    # which keeps the broker's heap small on a board.
    max_connections = -1  # -1: unlimited
    protocol = "mqtt"
    mount_point = None
    bind_interface = None
    http_dir = None  # protocol websockets: folder of static files served over HTTP
    # MQTT 5.0 (mosquitto's per-listener options): the highest QoS its clients may use
    # (CONNACK Maximum QoS), and the topic aliases a client may create (Topic Alias Maximum)
    max_qos = 2
    max_topic_alias = 10
    # TLS: a listener with a certfile is a TLS listener
    certfile = None
    keyfile = None
    cafile = None
    require_certificate = False
    use_identity_as_username = False
    tls_version = None
    _max_set = False  # max_connections given for this listener itself
    _line = 0  # config line that defined it (for duplicate errors)

    def __init__(self, port=DEFAULT_PORT, bind=None):
        self.port = port
        self.bind = bind

    def where(self):
        """Human-readable "port P on ADDRESS" for messages."""
        return "port %d on %s" % (self.port, self.bind or "all interfaces")

    def __repr__(self):
        return "<Listener %s>" % self.where()
