"""Hypothesis strategies for MQTT 5.0 properties and packets (tests/core/mqttc.py builds
the bytes), shared by the property tests of the codec and of the core (CPython only)."""

from hypothesis import strategies as st

import mqttc



def chars(blacklist=""):
    """Characters MQTT allows in strings and the broker takes, as mosquitto 2.0 does: no
    surrogates (section 1.5.4), no control characters (Cc: U+0000-001F, U+007F-009F), no
    noncharacters (U+FDD0-FDEF, U+nFFFE, U+nFFFF); nor those of blacklist."""
    return st.characters(blacklist_characters=blacklist, blacklist_categories=("Cs", "Cc")) \
        .filter(lambda ch: not (0xFDD0 <= ord(ch) <= 0xFDEF or ord(ch) & 0xFFFE == 0xFFFE))


TEXT = st.text(alphabet=chars(), max_size=20)
# topic names a client may publish to, or name as a Response Topic: no wildcards, no $
TOPIC = st.text(alphabet=chars("+#$"), min_size=1, max_size=30)

# by the types of mqttc.PROP_TYPES
_VALUES = {
    1: st.integers(0, 255), 2: st.integers(0, 65535), 4: st.integers(0, 0xFFFFFFFF),
    "v": st.integers(0, 268435455), "s": TEXT, "b": st.binary(max_size=20),
    "p": st.tuples(TEXT, TEXT),
}


def any_property(idents=tuple(mqttc.PROP_TYPES)):
    """(ident, value) of any of idents, its value of the right type, not necessarily valid
    where it is put."""
    return st.sampled_from(idents).flatmap(
        lambda i: st.tuples(st.just(i), _VALUES[mqttc.PROP_TYPES[i]]))


def any_properties(idents=tuple(mqttc.PROP_TYPES)):
    """A property section of up to 6 properties of idents (repeats and all)."""
    return st.lists(any_property(idents), max_size=6).map(mqttc.props)


@st.composite
def publish_properties(draw, alias_max=0):
    """[(ident, value)] that a client may send in a PUBLISH, in a random order: each of
    Payload Format Indicator 0 (1 wants a UTF-8 payload), Message Expiry Interval, Content
    Type, Response Topic, Correlation Data at most once, a Topic Alias in 1..alias_max when
    alias_max, and any number of User Properties."""
    out = []
    if draw(st.booleans()):
        out.append((0x01, 0))
    if draw(st.booleans()):
        out.append((0x02, draw(st.integers(1, 0xFFFFFFFF))))
    for ident, value in ((0x03, TEXT), (0x08, TOPIC), (0x09, st.binary(max_size=16))):
        if draw(st.booleans()):
            out.append((ident, draw(value)))
    if alias_max and draw(st.booleans()):
        out.append((0x23, draw(st.integers(1, alias_max))))
    out += [(0x26, p) for p in draw(st.lists(st.tuples(TEXT, TEXT), max_size=4))]
    return draw(st.permutations(out))


def _ack_packet(first, pid, rc, properties, form):
    # form 0: the packet id alone; 1: and a reason code; 2: and properties
    body = mqttc.u16(pid) + (bytes([rc]) if form else b"") + (properties if form == 2 else b"")
    return mqttc.packet(first, body)


def _ack(first):
    """A 5.0 acknowledgement with first byte first: packet id, reason code, properties
    (the latter two may be left out, as the spec allows)."""
    return st.tuples(st.integers(0, 65535), st.integers(0, 255), any_properties(),
                     st.integers(0, 2)).map(lambda t: _ack_packet(first, *t))


# Any 5.0 packet a client may send after CONNECT (and a second CONNECT), some of them
# not valid: properties of the wrong packet type, repeats, bad reason codes, options
PACKETS = st.one_of(
    st.tuples(TOPIC, st.binary(max_size=32), st.integers(0, 2), st.booleans(),
              st.integers(1, 65535), any_properties()).map(
        lambda t: mqttc.publish5(t[0], t[1], t[2], t[3], False, t[4] if t[2] else None, t[5])),
    st.tuples(TOPIC, st.binary(max_size=32), st.integers(0, 2), st.integers(1, 65535),
              publish_properties(10)).map(
        lambda t: mqttc.publish5(t[0], t[1], t[2], False, False, t[3] if t[2] else None,
                                 mqttc.props(t[4]))),
    st.tuples(st.integers(1, 65535), any_properties((0x0B, 0x26)),
              st.lists(st.tuples(st.sampled_from(["a/#", "+/b", "$share/g/a", "#", "a/b"]),
                                 st.integers(0, 255)), min_size=1, max_size=3)).map(
        lambda t: mqttc.packet(0x82, mqttc.u16(t[0]) + t[1] + b"".join(
            mqttc.mstr(f) + bytes([o]) for f, o in t[2]))),
    st.tuples(st.integers(1, 65535), any_properties((0x26,)),
              st.lists(st.sampled_from(["a/#", "a/b", "$share/g/a"]), min_size=1,
                       max_size=2)).map(
        lambda t: mqttc.packet(0xA2, mqttc.u16(t[0]) + t[1] + b"".join(map(mqttc.mstr, t[2])))),
    _ack(0x40), _ack(0x50), _ack(0x62), _ack(0x70),
    st.tuples(st.integers(0, 255), any_properties((0x11, 0x1F, 0x26, 0x1C)),
              st.booleans()).map(
        lambda t: mqttc.packet(0xE0, bytes([t[0]]) + t[1] if t[2] else b"")),
    st.tuples(st.integers(0, 255), any_properties((0x15, 0x16, 0x1F, 0x26))).map(
        lambda t: mqttc.packet(0xF0, bytes([t[0]]) + t[1])),
    st.just(mqttc.pingreq()),
)

CONNECTS = st.tuples(st.sampled_from(["fz5", ""]), st.booleans(), st.integers(0, 120),
                     any_properties(), st.one_of(st.none(), st.tuples(
                         TOPIC, st.binary(max_size=8), st.integers(0, 2), st.booleans())),
                     any_properties()).map(
    lambda t: mqttc.connect5(t[0], t[1], t[2], t[3], t[4], t[5]))
