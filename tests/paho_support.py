"""A paho-mqtt client for the tests, plain or TLS (tests/ is on sys.path through
tests/conftest.py)."""

import queue
import time
import uuid

import paho.mqtt.client as mqtt

WAIT = 10


class Paho:
    """A paho MQTT 3.1.1 client on its own thread; CONNACK, SUBACK and messages in queues.

    certs: TLS with certs["ca"] + ".crt" as the trusted CA (None: plain TCP); client: path
    without .crt/.key of the client certificate to present. The client id is prefix and a
    random part, or client_id; clean False: a persistent session (3.1.1). transport
    "websockets": MQTT over WebSockets (path /mqtt). reconnect: paho connects again within
    a second when the connection is lost (else not for 120 s: no reconnects in tests).
    MQTT 5.0 with protocol=mqtt.MQTTv5: clean_start, properties (CONNECT's, a paho
    Properties) and will (topic, payload, qos, Properties or None); the CONNACK's flags and
    properties are kept in connack_flags / connack_props, the reason codes of
    disconnections in disconnects."""

    def __init__(self, host, port, prefix="paho-", certs=None, client=None, user=None,
                 password=None, transport="tcp", client_id=None, clean=True, reconnect=False,
                 protocol=mqtt.MQTTv311, clean_start=True, properties=None, will=None,
                 keepalive=60):
        v5 = protocol == mqtt.MQTTv5
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                             client_id=prefix + uuid.uuid4().hex[:8] if client_id is None
                             else client_id, clean_session=None if v5 else clean,
                             protocol=protocol, transport=transport)
        delay = 1 if reconnect else 120
        self.c.reconnect_delay_set(min_delay=delay, max_delay=delay)
        if certs is not None:
            self.c.tls_set(ca_certs=certs["ca"] + ".crt",
                           certfile=client + ".crt" if client else None,
                           keyfile=client + ".key" if client else None)
        if user is not None:
            self.c.username_pw_set(user, password)
        self.connacks = queue.Queue()
        self.subacks = queue.Queue()
        self.messages = queue.Queue()
        self.connack_flags = self.connack_props = None
        self.disconnects = queue.Queue()
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = lambda c, u, f, rc, p: self.disconnects.put(rc)
        self.c.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.put(rcs)
        self.c.on_message = lambda c, u, m: self.messages.put(m)
        if will is not None:
            self.c.will_set(*will)
        if v5:
            self.c.connect(host, port, keepalive=keepalive, clean_start=clean_start,
                           properties=properties)
        else:
            self.c.connect(host, port, keepalive=keepalive)
        self.c.loop_start()
        self.rc = self.connacks.get(timeout=WAIT)

    def _on_connect(self, c, userdata, flags, rc, props):
        self.connack_flags = flags
        self.connack_props = props
        self.connacks.put(rc)

    def subscribe(self, topic, qos=1, options=None, properties=None):
        """The SUBACK return codes for one filter; MQTT 5.0: options (paho SubscribeOptions,
        instead of qos) and properties (SUBSCRIBE's)."""
        if options is None:
            self.c.subscribe(topic, qos, properties=properties)
        else:
            self.c.subscribe(topic, options=options, properties=properties)
        return [r.value for r in self.subacks.get(timeout=WAIT)]

    def publish(self, topic, payload, qos=1):
        """Publish and wait until paho has finished the QoS flow."""
        info = self.c.publish(topic, payload, qos)
        info.wait_for_publish(WAIT)
        assert info.is_published()

    def received(self, n, timeout=WAIT):
        """The paho messages (with .properties in 5.0) of the next n received, or fewer when
        they do not come within timeout."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            try:
                out.append(self.messages.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                break
        return out

    def got(self, n=None, timeout=None, gap=0.3):
        """(topic, payload) of the messages received: n of them, waiting up to timeout (WAIT
        by default); or (n None) those that come within timeout (1 s by default) and then
        each within gap of the one before; gap None: all that come within timeout."""
        out = []
        deadline = time.monotonic() + (timeout if timeout is not None else WAIT if n else 1.0)
        while n is None or len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                m = self.messages.get(timeout=left)
            except queue.Empty:
                break
            out.append((m.topic, m.payload))
            if n is None and gap is not None:
                deadline = time.monotonic() + gap
        return out

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


class HeapWatch(Paho):
    """A paho client keeping the latest $SYS/broker/heap/current of a MicroPython port
    (the live heap after a collection, published every sys_interval when it changed; a new
    subscriber gets the last one at once)."""

    def __init__(self, host, port):
        super().__init__(host, port, prefix="heapwatch-")
        assert self.subscribe("$SYS/broker/heap/current", 0) == [0]
        try:
            self.last = int(self.messages.get(timeout=WAIT).payload)
        except queue.Empty:
            raise AssertionError("no $SYS/broker/heap/current from the port")

    def settled(self, settle=3.0):
        """The latest figure after settle seconds (the broker publishes it only when it
        changed: a wait of a few sys_intervals, not a condition)."""
        deadline = time.monotonic() + settle
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return self.last
            try:
                self.last = int(self.messages.get(timeout=left).payload)
            except queue.Empty:
                return self.last
