"""MQTT 3.1.1 section 4.7 (Topic Names and Topic Filters) and 1.5.3 in topics."""

import mqttc
from harness import Harness, violation


def _matches(flt, topic):
    """Whether a PUBLISH to topic reaches a subscriber to flt, through the broker."""
    h = Harness()
    s = h.connected("s")
    codes = s.subscribe([(flt, 0)])
    assert codes == [0], (flt, codes)
    p = h.connected("p")
    p.publish(topic, b"m")
    got = s.publishes()
    assert len(got) <= 1, got
    if got:
        assert got[0].topic == mqttc._b(topic)
    return len(got) == 1


def test_MQTT_4_7_1_1_wildcards_not_allowed_in_topic_names():
    for bad in ("+", "#", "a/+/b", "a/#"):
        violation(mqttc.publish(bad, b"x", qos=1, pid=1))


def test_MQTT_4_7_1_2_multi_level_wildcard_matching():
    f = "sport/tennis/player1/#"
    assert _matches(f, "sport/tennis/player1")
    assert _matches(f, "sport/tennis/player1/ranking")
    assert _matches(f, "sport/tennis/player1/score/wimbledon")
    assert not _matches(f, "sport/tennis/player2")
    assert _matches("sport/#", "sport")
    assert _matches("#", "a/b/c")
    assert _matches("#", "/")
    assert _matches("/#", "/x")


def test_MQTT_4_7_1_2_multi_level_wildcard_must_be_last_and_alone():
    for bad in ("sport/tennis#", "sport/tennis/#/ranking", "#/", "a/##", "a#/b"):
        violation(mqttc.subscribe(1, [(bad, 0)]))


def test_MQTT_4_7_1_3_single_level_wildcard_matching():
    assert _matches("sport/tennis/+", "sport/tennis/player1")
    assert _matches("sport/tennis/+", "sport/tennis/player2")
    assert not _matches("sport/tennis/+", "sport/tennis/player1/ranking")
    assert not _matches("sport/+", "sport")
    assert _matches("sport/+", "sport/")
    assert _matches("+/+", "/finance")
    assert _matches("/+", "/finance")
    assert not _matches("+", "/finance")
    assert _matches("+/tennis/#", "sport/tennis/x/y")
    assert _matches("a/+/+/d", "a//c/d")


def test_MQTT_4_7_1_3_single_level_wildcard_must_occupy_whole_level():
    for bad in ("sport+", "sport/+tennis", "+a", "a/b+/c"):
        violation(mqttc.subscribe(1, [(bad, 0)]))


def test_MQTT_4_7_1_3_valid_wildcard_filters_are_granted():
    h = Harness()
    s = h.connected("s")
    flts = ["+", "+/+", "/+", "a/+/b", "#", "/#", "+/#", "a/+/#"]
    assert s.subscribe([(f, 1) for f in flts]) == [1] * len(flts)


def test_MQTT_4_7_2_1_wildcard_first_filters_do_not_match_dollar_topics():
    # $SYS/broker/... is published by the broker itself every sys_interval seconds.
    h = Harness()
    hash_ = h.subscriber("hash", "#", 0)
    plus = h.subscriber("plus", "+/broker/#", 0)
    plus2 = h.subscriber("plus2", "+/+/+", 0)
    dollar = h.subscriber("dollar", "$SYS/#", 0)
    dplus = h.subscriber("dplus", "$SYS/broker/+", 0)
    exact = h.subscriber("exact", "$SYS/broker/version", 0)
    h.advance(25000, step=1000)
    for s in (hash_, plus, plus2):
        got = [p.topic for p in s.publishes()]
        assert got == [], got
    assert len(dollar.publishes()) > 1
    assert b"$SYS/broker/version" in [p.topic for p in dplus.publishes()]
    assert [p.topic for p in exact.publishes()] == [b"$SYS/broker/version"]


def test_MQTT_4_7_2_1_retained_dollar_topics_not_sent_to_wildcard_subscriptions():
    h = Harness()
    h.advance(25000, step=1000)  # $SYS values are now retained
    hash_ = h.subscriber("hash", "#", 0)
    assert [p.topic for p in hash_.extra if p.type == mqttc.PUBLISH] == []
    plus = h.subscriber("plus", "+/broker/version", 0)
    assert [p.topic for p in plus.extra if p.type == mqttc.PUBLISH] == []
    sys = h.subscriber("sys", "$SYS/broker/version", 0)
    got = [(p.topic, p.retain) for p in sys.extra if p.type == mqttc.PUBLISH]
    assert got == [(b"$SYS/broker/version", 1)]


def test_publish_to_sys_topic_from_client_is_not_delivered():
    h = Harness()
    s = h.subscriber("s", "$SYS/fake", 0)
    p = h.connected("p")
    p.publish("$SYS/fake", b"spoof", qos=1, pid=1)  # still acknowledged
    assert s.publishes() == [] and not p.closing


def test_MQTT_4_7_3_1_topic_name_and_filter_at_least_one_character():
    violation(mqttc.publish("", b"x"))
    violation(mqttc.subscribe(1, [("", 0)]))
    violation(mqttc.unsubscribe(1, [""]))


def test_MQTT_4_7_3_2_null_character_closes():
    violation(mqttc.publish(b"a\x00b", b"x"))
    violation(mqttc.subscribe(1, [(b"a/\x00", 0)]))
    violation(mqttc.unsubscribe(1, [b"\x00"]))


def test_MQTT_4_7_3_3_topic_of_65535_bytes_is_accepted():
    h = Harness()
    s = h.subscriber("s", "#", 0)
    p = h.connected("p")
    topic = "t/" + "x" * 65533
    p.publish(topic, b"long")
    got = s.publishes()
    assert len(got) == 1 and len(got[0].topic) == 65535 and got[0].payload == b"long"
    assert not p.closing


def test_MQTT_4_7_3_4_no_normalisation_in_matching():
    assert not _matches("a/b", "a//b")
    assert not _matches("a/b", "A/b")
    assert not _matches("a/b", "a/b/")
    assert not _matches("a/b", "/a/b")
    assert not _matches("a b", "a  b")
    assert _matches("caf\u00e9", "caf\u00e9")
    # e + combining acute is a different string from precomposed e-acute.
    assert not _matches("caf\u00e9", "cafe\u0301")


def test_MQTT_1_5_3_3_bom_is_kept_in_topics_and_matching():
    bom = b"\xef\xbb\xbf"
    h = Harness()
    s = h.subscriber("s", bom + b"t", 0)
    plain = h.subscriber("plain", "t", 0)
    p = h.connected("p")
    p.publish(bom + b"t", b"m")
    got = s.publishes()
    assert [x.topic for x in got] == [bom + b"t"]
    assert plain.publishes() == []


def test_MQTT_1_5_3_1_ill_formed_utf8_in_topics_closes():
    for bad in (b"\xc0\x80", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80",
                b"\xf8\x88\x80\x80\x80", b"\x80", b"\xe0\x80\xaf", b"a\xc3"):
        violation(mqttc.publish(b"t/" + bad, b"x"))
        violation(mqttc.subscribe(1, [(b"t/" + bad, 0)]))


def test_control_characters_and_noncharacters_close_as_in_mosquitto():
    # section 1.5.3: a receiver MAY close for them; mosquitto 2.0 does, in every string
    for ch in ("\x01", "\x1f", "\x7f", "\x80", "\x9f", "\ufdd0", "\ufdef", "\ufffe",
               "\uffff", "\U0001fffe", "\U0010ffff"):
        violation(mqttc.publish("t/a" + ch, b"x"))
        violation(mqttc.subscribe(1, [(ch + "/#", 0)]))
        violation(mqttc.unsubscribe(1, ["t" + ch]))
    h = Harness()
    for i, kw in enumerate((dict(client_id="c\x01"), dict(username="\ufdd0"),
                            dict(will=("w\x7f", "m", 0, False)))):
        kw.setdefault("client_id", "c%d" % i)
        c = h.client()
        c.send(mqttc.connect(**kw))
        assert c.packets() == [] and c.closing, kw


def test_MQTT_1_5_3_1_well_formed_multibyte_utf8_accepted():
    for topic in ("\u00e9", "\u20ac/x", "\U0001f600", "\ud7ff", "\ue000", "\U0010fffd",
                  "\u00a0", "\ufdcf", "\ufdf0", "\ufffd"):
        h = Harness()
        s = h.subscriber("s", topic, 0)
        p = h.connected("p")
        p.publish(topic, b"m")
        assert [x.topic for x in s.publishes()] == [topic.encode("utf-8")], topic
