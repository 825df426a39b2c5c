"""One network connection as the core sees it: bytes in, bytes out, protocol state."""

from core.const import const

# an emptied out buffer larger than this is replaced, so that each idle client does not
# hold its largest burst's capacity for ever (a board has 8 clients in ~100 KB)
_KEEP = const(256)


class Conn:
    """A client connection; the port owns the socket, the core owns everything else."""

    mount = None  # the listener's mount_point (a class default: most have none)
    ws = None  # core.ws.Ws on a WebSockets listener (set by the port)
    # set by a port on TLS listeners (class defaults: most connections never set them; see
    # core/README.md): the verified client certificate's CN on a use_identity_as_username
    # listener, and the connection's TLS facts for capture (dict)
    cert_username = None
    tls_info = None
    published = False  # sent a PUBLISH: held while the broker is paused (core/flow.py)
    # QoS 0 messages dropped because out was over its limit: a class default, so that a
    # publisher's instance keeps 23 attributes, the size of its table on a board (24 is 29)
    dropped = 0
    # MQTT 5.0 (core/v5.py, loaded when a v5 client connects): its state (core.v5.V5),
    # None for 3.1.1 and 3.1; a class default
    v5 = None

    def __init__(self, listener, ip, port, now):
        self.listener = listener
        # mount's length in bytes, 0 for none, tested once per delivery: an instance value,
        # which CPython 3.11 reads faster than a class default (and a board's Conn is no bigger)
        self.mlen = 0
        mp = listener.mount_point
        if mp:
            self.mount = mp
            self.mlen = len(mp.encode())
        self.ip = ip
        self.port = port
        self.out = bytearray()
        self.inbuf = None  # bytes of an incomplete packet kept between reads
        self.partial_since = now  # when the packet in inbuf began to arrive
        self.closing = False
        self.connected = False  # CONNECT accepted
        self.session = None
        self.client_id = None
        self.username = None
        self.level = 0  # protocol level: 3 (MQTT 3.1), 4 (3.1.1) or 5 (5.0)
        self.will = None  # a will (core/names.py, WILL_*)
        self.keepalive_ms = 0
        self.last_rx = now
        self.opened = now
        self.port_data = None
        self.rx_packets = 0
        self.tx_msgs = 0
        self.rx_bytes = 0  # for capture's disconnect record
        self.tx_bytes = 0

    def sent(self, n):
        """The port wrote the first n bytes of out: returns out, which this may replace."""
        self.tx_bytes += n
        if n >= len(self.out):
            if n > _KEEP:
                self.out = bytearray()  # a bytearray never gives back its capacity
            else:
                self.out[:] = b""
        elif n > 0:
            self.out[0:n] = b""
        return self.out

    def name(self):
        """Client id and address, for log lines."""
        a = "%s:%d" % (self.ip, self.port)
        if self.client_id is None:
            return "<new client> from " + a
        return "'%s' from %s" % (self.client_id, a)
