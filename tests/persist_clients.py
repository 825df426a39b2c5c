"""Raw-socket clients for the persistence tests of both ports: publishers that note what
was acknowledged and when, a persistent subscriber that drains its session, the check; a
paho MQTTv5 scenario of shared subscriptions with identifiers across a restart."""

import socket
import time

import mqttc


def connect(b, cid, clean=True):
    """(socket, session present) of an accepted CONNECT to broker b (.host, .port)."""
    s = socket.create_connection((b.host, b.port), timeout=10)
    s.sendall(mqttc.connect(cid, clean=clean))
    p = mqttc.read_packet(s)
    assert p is not None and p[0] == 0x20 and p[1][1] == 0, p
    return s, p[1][0]  # session present


def pid_of(body):
    """The packet id at the start of body."""
    return int.from_bytes(body[:2], "big")


def publisher(b, n, qos, acked, stop):
    """Publish n:0, n:1, ... on load/n at qos until the broker dies or stop is set;
    acked[n] gets (i, monotonic time) of each message acknowledged: PUBACK, or PUBCOMP (a
    QoS 2 message is delivered when its PUBREL comes, and the publisher's clean session
    ends with a kill, as in mosquitto)."""
    try:
        s, _ = connect(b, "pub%d" % n)
        i = 0
        while not stop.is_set():
            pid = 1 + i % 65000
            s.sendall(mqttc.publish("load/%d" % n, b"%d:%d" % (n, i), qos, pid=pid))
            p = mqttc.read_packet(s)
            if p is None or p[0] >> 4 not in (4, 5) or pid_of(p[1]) != pid:
                return
            if qos == 2:
                s.sendall(b"\x62\x02" + pid.to_bytes(2, "big"))
                if mqttc.read_packet(s) is None:
                    return
            acked[n].append((i, time.monotonic()))
            i += 1
    except OSError:
        return


def drain(b, cid):
    """Connect cid's persistent session and take every message until 1.5 s of quiet."""
    s, present = connect(b, cid, clean=False)
    assert present == 1
    s.settimeout(1.5)
    got = []
    try:
        while True:
            p = mqttc.read_packet(s)
            if p is None:
                break
            t, body = p
            if t >> 4 == 3:
                qos = (t >> 1) & 3
                tl = int.from_bytes(body[:2], "big")
                pid = pid_of(body[2 + tl:])
                got.append((body[2:2 + tl].decode(), body[4 + tl:], qos))
                s.sendall((b"\x40\x02" if qos == 1 else b"\x50\x02") + pid.to_bytes(2, "big"))
            elif t >> 4 == 6:  # PUBREL of a QoS 2 message sent before the kill
                s.sendall(b"\x70\x02" + body[:2])
    except socket.timeout:
        pass
    s.close()
    return got


def check_received(got, acked, before=None):
    """Every message of acked (per publisher, acknowledged before time `before` if given)
    is in got, and each publisher's messages came in order, each once."""
    for n in range(len(acked)):
        seq = [int(p.split(b":")[1]) for topic, p, q in got if topic == "load/%d" % n]
        assert seq == sorted(set(seq)), "publisher %d: out of order or repeated" % n
        want = set(i for i, t in acked[n] if before is None or t <= before)
        missing = want - set(seq)
        assert not missing, "publisher %d: %d acknowledged messages lost, e.g. %s" \
            % (n, len(missing), sorted(missing)[:5])
        # only what was sent: at most the one message in flight beyond the last ack
        assert not seq or seq[-1] <= (acked[n][-1][0] + 1 if acked[n] else 0)


def shared_handover_v5(start, stop):
    """paho MQTTv5 on the broker start() returns: two persistent members "a5", "b5" of
    $share/g/s5 with Subscription Identifiers 1 and 2, offline; the group gives each one
    message; stop(broker) (a kill -9 once it is on disk); on the restarted broker "b5"
    gets its message with identifier 2, then "a5" starts clean, which ends its session:
    its message goes to "b5" with identifier 2 alone (MQTT-3.3.4-5), as without a restart."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.properties import Properties
    from paho.mqtt.packettypes import PacketTypes
    from paho_support import WAIT, Paho

    def client(b, cid, keep=True):
        p = Properties(PacketTypes.CONNECT)
        p.SessionExpiryInterval = 3600
        return Paho(b.host, b.port, protocol=mqtt.MQTTv5, client_id=cid,
                    clean_start=not keep, properties=p if keep else None)

    b = start()
    for cid, sid in (("a5", 1), ("b5", 2)):
        c = client(b, cid)
        p = Properties(PacketTypes.SUBSCRIBE)
        p.SubscriptionIdentifier = sid
        assert c.subscribe("$share/g/s5", 1, properties=p) == [1]
        c.close()
    pub = client(b, "p5", keep=False)
    try:
        for i in range(2):  # a5's, then b5's
            p = Properties(PacketTypes.PUBLISH)
            p.ContentType = "x"
            info = pub.c.publish("s5", b"%d" % i, 1, properties=p)
            info.wait_for_publish(WAIT)
            assert info.is_published()
    finally:
        pub.close()
    stop(b)
    b2 = start()
    sub = client(b2, "b5")
    try:
        [m] = sub.received(1)
        assert (m.payload, m.properties.SubscriptionIdentifier) == (b"1", [2])
        client(b2, "a5", keep=False).close()  # a clean start: a5's session ends
        [m] = sub.received(1)
        assert (m.payload, m.properties.ContentType) == (b"0", "x")
        assert m.properties.SubscriptionIdentifier == [2]
        assert sub.received(1, timeout=0.5) == []
    finally:
        sub.close()
    return b2
