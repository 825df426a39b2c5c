"""MQTT 5.0 PUBLISH properties: those of a 5.0 client's PUBLISH (Topic Alias, Payload
Format Indicator, Message Expiry Interval; the rest is kept as received, to be forwarded)
and the property block a 5.0 subscriber gets with a message. Loaded by core/v5.py at the
first 5.0 PUBLISH with properties, or delivery of a message with properties: a board's heap
holds it only then.

A message with properties (core/names.py, MSG_*) is (topic, topic bytes, payload, qos,
properties, expires): qos as a retained message's (0 when it is not retained), properties
the bytes of the properties forwarded unchanged (MQTT-3.3.2-4, -15 to -18, -20: Payload
Format Indicator, Content Type, Response Topic, Correlation Data and User Properties in
their order, one slice of the received packet when nothing in it needs to change) and
expires the broker second its Message Expiry Interval ends (0: never). Messages without
either stay (topic, topic bytes, payload): 3.1.1 paths never see the longer form.
"""

from core.const import const
from core.errors import ProtocolError
from core import props
from core import utf8
from core.proto import put_varint
from core.deliver import message, route_msg
from core.names import MSG_TOPIC, MSG_TOPIC_BYTES, MSG_PAYLOAD, MSG_PROPS, MSG_EXPIRES
from core.names import KEPT_RETAIN, PUB_RETAIN
from core.names import PUB5_TOPIC_BYTES, PUB5_PROPS, PUB5_EXPIRES
from core.names import PROP_PAYLOAD_FORMAT, PROP_MESSAGE_EXPIRY, PROP_SUBSCRIPTION_ID
from core.names import PROP_TOPIC_ALIAS, RC_PROTOCOL_ERROR, RC_TOPIC_ALIAS_INVALID
from core.names import RC_RETAIN_NOT_SUPPORTED

_PUBLISH = const(3)  # core/props.py's packet kind
# not forwarded as received: the expiry (the time left is written instead), the Topic
# Alias (per connection)
_NOT_FORWARDED = b"\x02\x23"
_EMPTY = b"\x00"  # an empty property block


def read(b, conn, mv, ts, te, p, e):
    """The properties of a 5.0 PUBLISH from conn: topic mv[ts:te], property block at mv[p].

    Returns (topic, its bytes or None when they are mv[ts:te], the block's size (the payload
    starts that far after p), properties to
    forward (bytes, the block without its length, the Topic Alias and the Message Expiry
    Interval), expiry second or 0, why it is not delivered (Payload Format Indicator 1 with
    a payload that is not UTF-8) or None). ProtocolError with the DISCONNECT reason code for
    a bad block (core/props.py), a Subscription Identifier or a bad topic alias."""
    stop = props.scan(mv, p, e, _PUBLISH)
    if props.get(mv, p, PROP_SUBSCRIPTION_ID) is not None:  # MQTT-3.3.4-6: the server only
        raise ProtocolError("PUBLISH from a client with a Subscription Identifier",
                            RC_PROTOCOL_ERROR)
    tb = None
    alias = props.get(mv, p, PROP_TOPIC_ALIAS)
    if alias is None:
        topic = utf8.decode(mv, ts, te)
        if not topic:
            raise ProtocolError("empty topic and no topic alias", RC_PROTOCOL_ERROR)
    else:
        lim = conn.listener.max_topic_alias
        if not alias or alias > lim:  # MQTT-3.3.2-12: 1 to the maximum sent in CONNACK
            raise ProtocolError("topic alias %d is not between 1 and %d" % (alias, lim),
                                RC_TOPIC_ALIAS_INVALID)
        if te == ts:  # the topic the alias stands for on this connection (MQTT-3.3.2-7)
            aliases = getattr(conn.v5, "aliases", None)  # made at the first (an instance's)
            known = aliases.get(alias) if aliases is not None else None
            if known is None:
                raise ProtocolError("topic alias %d is not set" % alias, RC_PROTOCOL_ERROR)
            topic, tb = known
        else:
            topic = utf8.decode(mv, ts, te)
            tb = bytes(mv[ts:te])
            aliases = getattr(conn.v5, "aliases", None)
            if aliases is None:
                aliases = conn.v5.aliases = {}
            aliases[alias] = (topic, tb)
    bad = None
    if props.get(mv, p, PROP_PAYLOAD_FORMAT) == 1:  # a payload of UTF-8 Encoded Characters
        try:  # well-formed (U+0000 is: a payload is no MQTT string)
            if len(str(mv[stop:e], "utf-8")) != e - stop:
                utf8.check(mv, stop, e)  # MicroPython's decoder takes what RFC 3629 refuses
        except (UnicodeError, ProtocolError):
            bad = "payload format indicator 1 and the payload is not UTF-8"
    exp = props.get(mv, p, PROP_MESSAGE_EXPIRY)
    expires = 0
    if exp is not None:
        expires = b.secs + exp or 1
    if alias is None and exp is None:
        fwd = bytes(mv[props.varint(mv, p, stop)[1]:stop])  # forwarded as received: one slice
    else:
        out = bytearray()
        props.copy(out, mv, p, _NOT_FORWARDED)
        fwd = bytes(out)
    return topic, tb, stop - p, fwd, expires, bad  # core/names.py, PUB5_*


def route(b, conn, b0, mv, ts, te, ps, e, qos, topic, v5):
    """Store if retained and route a 5.0 PUBLISH whose topic came by alias, or that carries
    properties to forward or an expiry (v5: what read() returned): its message made with
    them. False when no subscription matched."""
    tb = v5[PUB5_TOPIC_BYTES]
    if tb is None:
        tb = bytes(mv[ts:te])
    if conn.mlen:
        tb = conn.mount.encode() + tb
    return _publish(b, conn, message(topic, tb, bytes(mv[ps:e]), 0, v5[PUB5_PROPS],
                                     v5[PUB5_EXPIRES]), qos, b0 & PUB_RETAIN)


def release(b, conn, m):
    """Deliver QoS 2 message m that conn's PUBREL releases (core/qos2_in.py: topic, topic
    bytes, payload, retain, properties, expires), unless its Message Expiry Interval passed
    while it waited for the PUBREL (MQTT-3.3.2-5; the flow goes on, MQTT-4.3.3-13)."""
    x = m[MSG_EXPIRES]
    if not x or x > b.secs:
        _publish(b, conn, message(m[MSG_TOPIC], m[MSG_TOPIC_BYTES], m[MSG_PAYLOAD], 0,
                                  m[MSG_PROPS], x), 2, m[KEPT_RETAIN])


def _publish(b, conn, msg, qos, retain):
    """Store msg if retain and route it from conn; False when no subscription matched."""
    if retain:
        if not b.cfg.retain_available:
            from core.why import text
            raise ProtocolError(text(14), RC_RETAIN_NOT_SUPPORTED)  # retain_available false
        if msg[MSG_PAYLOAD]:  # kept with its qos in place of the 0 (as RetainStore.set)
            msg = b.retained.msgs[msg[MSG_TOPIC]] = message(
                msg[MSG_TOPIC], msg[MSG_TOPIC_BYTES], msg[MSG_PAYLOAD], qos, msg[MSG_PROPS],
                msg[MSG_EXPIRES])
        else:
            msg = b.retained.set(msg, qos)  # an empty payload clears the topic's
        if b.store is not None:
            b.store.retain(msg, qos)
    return route_msg(b, msg, qos, retain, conn)


def block(b, msg):
    """The property block (its length first) a 5.0 client gets with msg: the properties it
    came with, then the Message Expiry Interval left (MQTT-3.3.2-6)."""
    if len(msg) <= MSG_PROPS:
        return _EMPTY
    fwd = msg[MSG_PROPS]
    exp = msg[MSG_EXPIRES]
    out = bytearray()
    put_varint(out, len(fwd) + 5 if exp else len(fwd))
    out += fwd
    if exp:
        left = exp - b.secs
        props.put(out, PROP_MESSAGE_EXPIRY, left if left > 0 else 0)
    return out
