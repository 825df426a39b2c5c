"""The names of MQTT 3.1.1's packet bytes and codes (as mosquitto's mqtt_protocol.h) and of
the layouts of the broker's state: every bit position and tuple index that more than one
line of the engine reads or writes, defined here once.

Only `NAME = const(int)` lines: tools/mpyc.py, which compiles every module to .mpy for a
board (deploy, the memory probes, the port's tests), rewrites `from core.names import A`
into the importer's own `_A = const(...)` and its uses into `_A`, so that a board's
bytecode holds the literal, as if it were written there, and no global, name or module
object costs heap (a public const imported costs about 30 bytes per name and importer on a
32-bit board). Sources run as .py (CPython, MicroPython's tests of the core) import them as
plain globals. Import them at a module's top level, without `as`.
"""

from core.const import const

# ---- the fixed header (MQTT 3.1.1 section 2.2) ----
TYPE_SHIFT = const(4)  # first byte >> TYPE_SHIFT: the packet type, 0..15
TYPE_MASK = const(0xF0)  # first byte & TYPE_MASK: the type as the first bytes below
FLAGS_MASK = const(0x0F)  # first byte & FLAGS_MASK: its flags

# first bytes by packet type, flags 0 (mosquitto's CMD_*)
CONNECT = const(0x10)
CONNACK = const(0x20)
PUBLISH = const(0x30)
PUBACK = const(0x40)
PUBREC = const(0x50)
PUBREL = const(0x60)
PUBCOMP = const(0x70)
SUBSCRIBE = const(0x80)
SUBACK = const(0x90)
UNSUBSCRIBE = const(0xA0)
UNSUBACK = const(0xB0)
PINGREQ = const(0xC0)
PINGRESP = const(0xD0)
DISCONNECT = const(0xE0)
PUBREL_OUT = const(0x62)  # PUBREL as sent: its fixed flags are 0010 (MQTT-3.6.1-1)
SUBSCRIBE_OUT = const(0x82)  # SUBSCRIBE as sent (a bridge's): flags 0010 (MQTT-3.8.1-1)
UNSUBSCRIBE_OUT = const(0xA2)  # UNSUBSCRIBE as sent: flags 0010 (MQTT-3.10.1-1)

# PUBLISH's flags (3.3.1): DUP, QoS (two bits), RETAIN
PUB_DUP = const(0x08)
PUB_QOS = const(0x06)
PUB_QOS_SHIFT = const(1)  # (first byte >> PUB_QOS_SHIFT) & QOS_MASK: the QoS
PUB_RETAIN = const(0x01)
QOS_MASK = const(3)

LEVEL_BRIDGE = const(0x80)  # in CONNECT's protocol level: a bridge (mosquitto's try_private)

# CONNECT's flags (3.1.2.3)
CONNECT_RESERVED = const(0x01)
CONNECT_CLEAN = const(0x02)
CONNECT_WILL = const(0x04)
CONNECT_WILL_QOS = const(0x18)
CONNECT_WILL_QOS_SHIFT = const(3)
CONNECT_WILL_RETAIN = const(0x20)
CONNECT_PASSWORD = const(0x40)
CONNECT_USERNAME = const(0x80)

# CONNACK: its session present flag (3.2.2.2) and return codes (3.2.2.3); 4, bad user name
# or password, is not sent (mosquitto 2.0 answers 5 for 3.1.1 clients: core/auth.py)
SESSION_PRESENT = const(1)
ACCEPTED = const(0)
BAD_PROTOCOL = const(1)
ID_REJECTED = const(2)
UNAVAILABLE = const(3)
NOT_AUTHORIZED = const(5)

SUBACK_FAILURE = const(0x80)  # SUBACK's failure code (3.9.3); also a refused filter's qos

# MQTT 5.0 SUBSCRIBE's subscription options byte (section 3.8.3.1; mosquitto's
# MQTT_SUB_OPT_*): the QoS (& QOS_MASK), then these
SUB_NO_LOCAL = const(0x04)
SUB_RETAIN_AS_PUBLISHED = const(0x08)
SUB_RETAIN_HANDLING = const(0x30)  # & SUB_RETAIN_HANDLING: 0 send retained, or these two
SUB_SEND_RETAIN_NEW = const(0x10)  # only for a subscription that did not exist
SUB_SEND_RETAIN_NEVER = const(0x20)
SUB_RESERVED = const(0xC0)
# Session.props' word per filter (core/subs.py): the options' SUB_NO_LOCAL and
# SUB_RETAIN_AS_PUBLISHED bits | Subscription Identifier << SUB_ID_SHIFT
SUB_ID_SHIFT = const(4)

# ---- the state's layouts (core/session.py keeps them) ----
# A message is a tuple (topic, topic bytes, payload): the topic bytes as on the wire, so
# that a delivery does not encode them again. A retained message is one with its qos
# appended (one tuple, not a pair: 32 bytes less each on a board).
MSG_TOPIC = const(0)
MSG_TOPIC_BYTES = const(1)
MSG_PAYLOAD = const(2)
MSG_QOS = const(3)  # retained messages only
# An MQTT 5.0 message with properties (core/pub5.py) has two more: the properties forwarded
# (bytes) and the broker second its Message Expiry Interval ends (0: never); its MSG_QOS
# is 0 unless it is retained.
MSG_PROPS = const(4)
MSG_EXPIRES = const(5)
# A message made for one MQTT 5.0 subscriber (core/subs.py) has one more: the message it
# was made from, whose MSG_PROPS it extends with that subscriber's Subscription Identifiers.
MSG_BASE = const(6)

# What core/pub5.py's read() returns for a 5.0 PUBLISH (core/v5.py's V5.plain: the one of a
# PUBLISH without properties): its topic (None: core/handle_publish.py decodes it), the
# topic's bytes (None: as in the packet), the property block's size (the payload starts that
# far after the topic and packet id), the properties to forward (None: none, nor a topic
# alias), the expiry second (0: never) and why it is not delivered (None).
PUB5_TOPIC = const(0)
PUB5_TOPIC_BYTES = const(1)
PUB5_BLOCK_SIZE = const(2)
PUB5_PROPS = const(3)
PUB5_EXPIRES = const(4)
PUB5_BAD = const(5)

# A QoS 2 message received and kept until its PUBREL (Session.qos2_in, core/qos2_in.py)
# is a message with its retain flag (0 or 1) in MSG_QOS's place (and, with properties, its
# MSG_PROPS and MSG_EXPIRES).
KEPT_RETAIN = const(3)

# A will (Conn.will) is a tuple (message, qos, retain), retain 0 or 1.
WILL_MSG = const(0)
WILL_QOS = const(1)
WILL_RETAIN = const(2)

# Outgoing flags. Session.queue holds pairs message, retain << OUT_RETAIN_SHIFT | qos;
# Session.flags maps a packet id in flight to the same with OUT_RELEASED (PUBREC came,
# PUBCOMP is awaited) and seq << OUT_SEQ_SHIFT, which orders re-sending on resume (dicts
# are unordered on MicroPython). Small ints rather than objects: a board holds hundreds.
OUT_QOS = const(3)  # flags & OUT_QOS: the QoS (1 or 2 in flight)
OUT_RETAIN_SHIFT = const(2)  # flags >> OUT_RETAIN_SHIFT & 1: the retain flag
OUT_QUEUED = const(7)  # flags & OUT_QUEUED: the queue's flags (qos and retain)
OUT_RELEASED = const(8)
OUT_SEQ_SHIFT = const(4)

# Session.queue is a flat list of pairs (message, queue flags): the head's at QUEUED_MSG and
# QUEUED_FLAGS, the pair at index i (a multiple of QUEUED_PAIR) at i + QUEUED_MSG and
# i + QUEUED_FLAGS.
QUEUED_MSG = const(0)
QUEUED_FLAGS = const(1)
QUEUED_PAIR = const(2)  # list slots per queued message

# A destination over a limit (broker.full, core/flow.py): a list [since, moved] kept per
# destination, when it last took a byte and deliver.moved()'s count then.
FULL_SINCE = const(0)
FULL_MOVED = const(1)

# A node of the subscription tree (core/session.py's SubTree): a list [children,
# subscribers]; the root's subscriber slot holds what core/subs.py keeps there.
NODE_CHILDREN = const(0)
NODE_SUBS = const(1)

# A subscriber entry (core/session.py's SubTree.match, the ACL's readers): a pair (session,
# granted qos), one per session at its highest qos; a shared subscription's delivery to a
# member with MQTT 5.0 options has the group's stored filter (str) in the qos's place
# (core/subs.py match).
SUBSCRIBER_SESSION = const(0)
SUBSCRIBER_QOS = const(1)

# MQTT 5.0's broker.later (core/v5.py, core/connect.py) maps an offline session to None or
# to its delayed will: a tuple (connection, will, the second it is due).
LATER_CONN = const(0)
LATER_WILL = const(1)
LATER_DUE = const(2)

# A bridge's topic line (core/bridge/conf.py, Bridge.topics): a tuple (local filter, remote
# filter, direction bits OUT / IN, qos, local prefix, remote prefix), made by
# core/bridge/options.py.
BRIDGE_LOCAL = const(0)
BRIDGE_REMOTE = const(1)
BRIDGE_DIRECTION = const(2)
BRIDGE_QOS = const(3)
BRIDGE_LOCAL_PREFIX = const(4)
BRIDGE_REMOTE_PREFIX = const(5)

# ---- MQTT 5.0 reason codes (section 2.4; mosquitto's MQTT_RC_*) that the engine sends ----
RC_NO_MATCHING_SUBSCRIBERS = const(0x10)  # PUBACK
RC_NO_SUBSCRIPTION_EXISTED = const(0x11)  # UNSUBACK
RC_ERROR = const(0x80)  # this code or more: an error, which ends a flow or a connection
RC_MALFORMED_PACKET = const(0x81)
RC_PROTOCOL_ERROR = const(0x82)
RC_NOT_AUTHORIZED = const(0x87)
RC_SERVER_SHUTTING_DOWN = const(0x8B)
RC_BAD_AUTHENTICATION_METHOD = const(0x8C)
RC_KEEP_ALIVE_TIMEOUT = const(0x8D)
RC_SESSION_TAKEN_OVER = const(0x8E)
RC_TOPIC_FILTER_INVALID = const(0x8F)  # SUBACK
RC_RECEIVE_MAXIMUM_EXCEEDED = const(0x93)
RC_TOPIC_ALIAS_INVALID = const(0x94)
RC_PACKET_TOO_LARGE = const(0x95)
RC_QUOTA_EXCEEDED = const(0x97)
RC_PAYLOAD_FORMAT_INVALID = const(0x99)
RC_RETAIN_NOT_SUPPORTED = const(0x9A)
RC_QOS_NOT_SUPPORTED = const(0x9B)
RC_DISCONNECT_WITH_WILL = const(0x04)  # a client's DISCONNECT: publish the will

# ---- MQTT 5.0 property identifiers (section 2.2.2.2) that the engine reads or writes ----
PROP_PAYLOAD_FORMAT = const(0x01)
PROP_MESSAGE_EXPIRY = const(0x02)
PROP_SUBSCRIPTION_ID = const(0x0B)
PROP_SESSION_EXPIRY = const(0x11)
PROP_ASSIGNED_CLIENT_ID = const(0x12)
PROP_SERVER_KEEP_ALIVE = const(0x13)
PROP_AUTH_METHOD = const(0x15)
PROP_AUTH_DATA = const(0x16)
PROP_WILL_DELAY = const(0x18)
PROP_RECEIVE_MAXIMUM = const(0x21)
PROP_TOPIC_ALIAS_MAXIMUM = const(0x22)
PROP_TOPIC_ALIAS = const(0x23)
PROP_MAXIMUM_QOS = const(0x24)
PROP_RETAIN_AVAILABLE = const(0x25)
PROP_USER = const(0x26)
PROP_MAXIMUM_PACKET_SIZE = const(0x27)
EXPIRY_NEVER = const(0xFFFFFFFF)  # a Session Expiry Interval that never ends
# Session.clean: 0 the session outlives its connection, 1 it ends with it, SESSION_ENDING it
# was kept and a v5 DISCONNECT set its expiry to 0: it ends now, and its end is recorded
SESSION_ENDING = const(2)

# ---- persistence records (core/persist/records.py): the frame, then a body's type byte ----
REC_FRAME = const(8)  # length and CRC32 before each body

REC_HEADER = const(1)  # kind (0 snapshot, 1 journal), generation, wall-clock seconds
REC_RETAIN = const(2)  # retained message set: topic, qos, payload
REC_UNRETAIN = const(3)  # retained message cleared: topic
REC_SESSION = const(4)  # persistent session created or reconnected: client id, clean, username
REC_GONE = const(5)  # its connection ended at wall-clock seconds (persistent_client_expiration)
REC_DROP = const(6)  # session removed (clean reconnect or expiry)
REC_SUB = const(7)  # client id, filter, granted qos
REC_UNSUB = const(8)  # client id, filter
REC_QUEUE = const(9)  # outgoing message queued: client id, queue flags (core/names.py), topic, payload
REC_START = const(10)  # head of the queue sent: client id, pid (0: dropped unsent), flags word
REC_ACKED = const(11)  # PUBACK (QoS 1) or PUBCOMP (QoS 2) for an outgoing message: client id, pid
REC_RELEASED = const(12)  # PUBREC for an outgoing QoS 2 message (PUBREL sent): client id, pid
# 13 is not used (it was PUBCOMP, now ACKED)
REC_Q2IN = const(14)  # incoming QoS 2 id received, PUBREL awaited: client id, pid
REC_Q2REL = const(15)  # that PUBREL came: client id, pid
REC_SENT = const(16)  # outgoing message sent at once, not queued: client id, pid, flags word,
# topic, payload (the QUEUE and START of a message that never waited, in one record)
REC_Q2MSG = const(17)  # incoming QoS 2 message kept until its PUBREL: client id, pid, retain,
# topic, payload (Q2IN: one not to be delivered, or of a file written before this record)
REC_SUB5 = const(18)  # a SUB with MQTT 5.0 options or a Subscription Identifier: client id,
# filter, granted qos, their word (core/subs.py)
REC_EXPIRY = const(19)  # an MQTT 5.0 session's finite Session Expiry Interval: client id,
# seconds (after its SESSION or GONE record, which set it back to none)
REC_PROPS = const(20)  # a message with MQTT 5.0 properties: properties (u32 length), the
# wall-clock second its Message Expiry Interval ends (0: never), then the body of its RETAIN,
# QUEUE, SENT or Q2MSG record in the same record (one CRC: all or nothing)
