"""Texts and steps of the engine's rare paths (protocol errors, refusals, timeouts).

Imported only inside those paths: on a board the texts of a module kept loaded sit on the
heap (10 characters or more: a str object each), these only while one is in use.
"""

from core.errors import ProtocolError
from core.proto import packet_name, connack_text
from core.names import CONNACK, RC_KEEP_ALIVE_TIMEOUT
from core.names import RC_MALFORMED_PACKET, RC_PROTOCOL_ERROR

def check(t):
    """Raise ProtocolError at the first code point of t that core.utf8.decode refuses."""
    for ch in t:
        c = ord(ch)
        if c < 0x20 or 0x7F <= c <= 0x9F or 0xFDD0 <= c <= 0xFDEF or c & 0xFFFE == 0xFFFE:
            raise ProtocolError(text(41, c))


# text(i, ...): protocol errors and reasons, by the index their raiser passes
_TEXTS = (
    "%s is not a packet a client may send",  # 0
    "reserved flags 0x%x in %s",  # 1
    "second CONNECT",  # 2
    "first packet is %s, not CONNECT",  # 3
    "remaining length longer than 4 bytes",  # 4
    "%s of %d bytes is over the maximum packet size %d",  # 5
    "topic of %d bytes, %d levels: over max_topic_length %d or max_topic_levels %d",  # 6
    "PUBLISH with QoS 3",  # 7
    "QoS 0 PUBLISH with DUP set",  # 8
    "PUBLISH too short",  # 9
    "PUBLISH topic length beyond end of packet",  # 10
    "PUBLISH with an empty topic",  # 11
    "wildcard in PUBLISH topic '%s'",  # 12
    "PUBLISH QoS %d with packet id 0",  # 13
    "retained PUBLISH while retain_available is false",  # 14
    "%s remaining length %d, must be 2",  # 15
    "PUBACK for QoS 2 message %d",  # 16
    "PUBREC for QoS 1 message %d",  # 17
    "SUBSCRIBE with packet id 0",  # 18
    "SUBSCRIBE requested QoS byte 0x%02x",  # 19
    "SUBSCRIBE without a topic filter",  # 20
    "UNSUBSCRIBE with packet id 0",  # 21
    "UNSUBSCRIBE without a topic filter",  # 22
    "protocol name '%s' is not MQTT",  # 23
    "reserved CONNECT flag is set",  # 24
    "will QoS 3",  # 25
    "will QoS or retain set without a will",  # 26
    "password flag without user name flag",  # 27
    "%d bytes after the CONNECT payload",  # 28
    "PINGREQ with a body",  # 29
    "DISCONNECT with a body",  # 30
    "PUBCOMP for message %d, which is %s",  # 31
    "not released (no PUBREC yet)",  # 32
    "protocol level %d is not supported",  # 33: CONNECT refusals (refuse)
    "empty client id needs clean session",  # 34
    "keepalive %d is over max_keepalive %d",  # 35
    "not allowed to connect",  # 36
    "server is low on memory",  # 37
    "will message over message_size_limit",  # 38
    "CONNECT asks for what the broker does not offer",  # 39
    "Dropping too large outgoing PUBLISH for %s (%d bytes).",  # 40: as mosquitto logs it
    "U+%04X in a UTF-8 string",  # 41
)


def text(i, *a):
    """Text i of _TEXTS, formatted with the arguments a when there are any."""
    return _TEXTS[i] % a if a else _TEXTS[i]


def refuse(b, conn, rc, i, a):
    """CONNACK refusing conn with code rc for reason text(i, *a), then close (core/handle_connect.py)."""
    why = text(i, *a)
    if conn.v5 is None:
        b.log("notice", "Client %s refused: %s (CONNACK %d, %s)."
              % (conn.name(), why, rc, connack_text(rc)))
        b.write(conn, bytes((CONNACK, 2, 0, rc)))
    else:
        from core.connect import refuse
        refuse(b, conn, rc, why)  # logged, its CONNACK written (events get the 3.1.1 code)
    if b.events is not None:
        b.events.connect(conn, rc, why)
    b.close(conn, False, "connect refused")


def first_byte(b, conn, i, t, flags):
    """Close conn for a packet of type t with flags refused on its first byte: refusal i
    (1 to 4) of core/broker.py's framer is text i - 1. A v5 client gets DISCONNECT 0x81
    for reserved flags, 0x82 for the others (MQTT 5.0 4.13: SHOULD; mosquitto 2.0 sends
    none for a second CONNECT, a CONNACK, or a PUBREL's or DISCONNECT's flags)."""
    rc = RC_PROTOCOL_ERROR
    if i == 2:
        why = text(1, flags, packet_name(t))
        rc = RC_MALFORMED_PACKET
    elif i == 3:
        why = text(2)
    else:
        why = text(i - 1, packet_name(t))
    b.violation(conn, why, rc)


def denied(b, conn, f, why):
    """Log a refused subscription of conn to filter f: why is the listener's mount_point
    (str), the client's count of subscriptions (int, max_subscriptions_per_client) or None
    (acl_file)."""
    if why is None:
        b.log("notice", "Denied subscription of %s to '%s' (acl_file)." % (conn.name(), f))
    elif isinstance(why, int):
        b.log("notice", "Denied subscription of %s to '%s': it has %d subscriptions, the "
              "max_subscriptions_per_client." % (conn.name(), f, why))
    else:
        b.log("notice", "Denied subscription of %s to '%s': not a valid filter under "
              "mount_point '%s'." % (conn.name(), f, why))


def violation(b, conn, why, rc):
    """Log a protocol error of conn and close it, publishing its will (a v5 client gets
    DISCONNECT with reason code rc). why: a text, or a ProtocolError (its text and code)."""
    if not isinstance(why, str):
        a = why.args
        why = str(a[0]) if a else "malformed packet"
        if len(a) > 1:
            rc = a[1]
    b.log("notice", "Client %s disconnected: protocol error: %s" % (conn.name(), why))
    b.close(conn, True, "protocol error: " + why, rc)


def timeouts(b, late, packet_ms):
    """Close the connections of late: a packet trickled past packet_ms, keepalive, CONNECT."""
    from core.clock import diff
    for c in late:
        if c.inbuf and diff(b.now, c.partial_since) > packet_ms:
            b.violation(c, "a packet was not completed within %d s" % (packet_ms // 1000))
        elif c.connected:
            b.log("notice", "Client %s has exceeded timeout, disconnecting." % c.name())
            # DISCONNECT 0x8D for a v5 client (mosquitto 2.0 closes without one)
            b.close(c, True, "keepalive timeout", RC_KEEP_ALIVE_TIMEOUT)
        else:
            b.log("notice", "Client %s sent no CONNECT in time, disconnecting." % c.name())
            b.close(c, True, "connect timeout")


def expire(b, old):
    """Drop the sessions of old, unused for persistent_client_expiration."""
    for s in old:
        b.log("notice", "Expiring client %s, its session was unused for %d s."
              % (s.client_id, b.secs - s.gone_at))
        b.drop_session(s)
