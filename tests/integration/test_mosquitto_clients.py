"""The real mosquitto_pub / mosquitto_sub command-line clients against the real broker."""

import os
import queue
import shutil
import subprocess
import threading
import uuid

import pytest

WAIT = 15  # seconds any client command may take
# mosquitto_sub prints each message as: MSG <topic> <qos> <retain> <length> <payload>
FORMAT = "MSG %t %q %r %l %p"
# with v5 properties: payload format, content type, response topic, correlation data,
# message expiry and user properties (name:value ...) before it
FORMAT5 = "PROPS %F|%C|%R|%D|%E|%P|" + FORMAT


class Sub:
    """A running mosquitto_sub -C count, with its output lines collected by a thread."""

    def __init__(self, bindir, broker, topics, count, qos=0, version=None, props=False):
        # stdbuf: mosquitto_sub's stdio would hold the SUBACK line back in a pipe buffer.
        cmd = [shutil.which("stdbuf"), "-oL", os.path.join(bindir, "mosquitto_sub"),
               "-h", broker.host,
               "-p", str(broker.port), "-q", str(qos), "-C", str(count),
               "-W", str(WAIT), "-d", "-F", FORMAT5 if props else FORMAT]
        if version:
            cmd += ["-V", version]
        for t in topics:
            cmd += ["-t", t]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.lines = queue.Queue()
        self.seen = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip(b"\n"))
        self.lines.put(None)

    def wait_subscribed(self):
        """Block until mosquitto_sub has its SUBACK (its -d output says so)."""
        while True:
            try:
                line = self.lines.get(timeout=WAIT)
            except queue.Empty:
                pytest.fail("mosquitto_sub got no SUBACK; output: %r" % self.seen)
            if line is None:
                pytest.fail("mosquitto_sub exited before SUBACK: %r" % self.seen)
            self.seen.append(line)
            if b"received SUBACK" in line:
                return

    def messages(self):
        """Wait for mosquitto_sub to exit; returns [(topic, qos, retain, payload)], each with
        the properties as printed ([F, C, R, D, E, P]) appended when started with props."""
        try:
            rc = self.proc.wait(WAIT + 5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            pytest.fail("mosquitto_sub did not finish; output: %r" % self.seen)
        self.reader.join(5)
        while True:
            line = self.lines.get_nowait() if not self.lines.empty() else None
            if line is None:
                break
            self.seen.append(line)
        assert rc == 0, "mosquitto_sub exit %d; output: %r" % (rc, self.seen)
        out = []
        for line in self.seen:
            props = None
            if line.startswith(b"PROPS "):
                *props, line = line[6:].split(b"|", 6)
            if line.startswith(b"MSG "):
                _, topic, qos, retain, length, *rest = line.split(b" ", 5)
                payload = rest[0] if rest else b""
                assert int(length) == len(payload)
                out.append((topic.decode(), int(qos), retain == b"1", payload)
                           + ((props,) if props is not None else ()))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc.stdout.close()


@pytest.fixture
def subs(mosquitto_bin, broker):
    """start(topics, count, qos=0, version=None) -> subscribed Sub; all killed at teardown."""
    if shutil.which("stdbuf") is None:
        pytest.skip("stdbuf (coreutils) is needed to read mosquitto_sub output live")
    made = []

    def start(topics, count, qos=0, version=None, target=None, props=False):
        s = Sub(mosquitto_bin, target or broker, topics, count, qos, version, props)
        made.append(s)
        s.wait_subscribed()
        return s

    yield start
    for s in made:
        s.stop()


def pub(bindir, broker, topic, *args, stdin=None):
    """Run mosquitto_pub to completion; returns its CompletedProcess (checked exit 0)."""
    cmd = [os.path.join(bindir, "mosquitto_pub"), "-h", broker.host, "-p", str(broker.port),
           "-t", topic, *args]
    r = subprocess.run(cmd, input=stdin, capture_output=True, timeout=WAIT)
    assert r.returncode == 0, "mosquitto_pub failed: %r %r" % (r.stdout, r.stderr)
    return r


def unique(prefix):
    return "%s/%s" % (prefix, uuid.uuid4().hex[:8])


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mosquitto_sub_receives_from_mosquitto_pub_at_each_qos(mosquitto_bin, broker, subs, qos):
    topic = unique("cli")
    s = subs([topic], 2, qos=qos)
    pub(mosquitto_bin, broker, topic, "-q", str(qos), "-m", "first message")
    pub(mosquitto_bin, broker, topic, "-q", str(qos), "-m", "second")
    assert s.messages() == [(topic, qos, False, b"first message"), (topic, qos, False, b"second")]


@pytest.mark.parametrize("version", ["mqttv311", "mqttv31", "mqttv5"])
def test_protocol_versions_work_end_to_end(mosquitto_bin, broker, subs, version):
    topic = unique("ver")
    s = subs([topic], 1, qos=1, version=version)
    pub(mosquitto_bin, broker, topic, "-V", version, "-q", "1", "-m", version)
    assert s.messages() == [(topic, 1, False, version.encode())]


@pytest.mark.parametrize("sub_version,pub_version", [("mqttv5", "mqttv311"),
                                                     ("mqttv311", "mqttv5")])
def test_mqtt_5_and_3_1_1_mosquitto_clients_exchange_messages(mosquitto_bin, broker, subs,
                                                              sub_version, pub_version):
    topic = unique("mix")
    s = subs([topic], 2, qos=2, version=sub_version)
    pub(mosquitto_bin, broker, topic, "-V", pub_version, "-q", "2", "-m", "two")
    pub(mosquitto_bin, broker, topic, "-V", pub_version, "-q", "0", "-m", "zero")
    # mosquitto delivers QoS 2 on PUBREL: the order across QoS levels is not fixed
    assert sorted(s.messages()) == [(topic, 0, False, b"zero"), (topic, 2, False, b"two")]


def test_mosquitto_pub_v5_is_told_no_matching_subscribers(mosquitto_bin, broker):
    r = pub(mosquitto_bin, broker, unique("nobody"), "-V", "mqttv5", "-q", "1", "-m", "x",
            "-d")
    assert b"received PUBACK (Mid: 1, RC:16)" in r.stdout, r.stdout


def test_mosquitto_sub_v5_session_expiry_keeps_messages_while_away(mosquitto_bin, broker):
    topic = unique("away")
    cid = topic.replace("/", "-")
    sub = [os.path.join(mosquitto_bin, "mosquitto_sub"), "-h", broker.host, "-p",
           str(broker.port), "-V", "mqttv5", "-i", cid, "-c", "-x", "60", "-q", "1",
           "-t", topic, "-W", "3", "-F", FORMAT]
    subprocess.run(sub + ["-E"], capture_output=True, timeout=WAIT)  # subscribe, leave
    pub(mosquitto_bin, broker, topic, "-q", "1", "-m", "kept")
    r = subprocess.run(sub + ["-C", "1"], capture_output=True, timeout=WAIT)
    assert r.stdout == b"MSG %s 1 0 4 kept\n" % topic.encode(), r


def test_retained_message_reaches_later_mosquitto_sub_with_retain_flag(
        mosquitto_bin, broker, subs):
    topic = unique("keep")
    pub(mosquitto_bin, broker, topic, "-r", "-q", "1", "-m", "retained value")
    s = subs([topic], 1, qos=1)
    assert s.messages() == [(topic, 1, True, b"retained value")]


def test_wildcard_subscription_with_mosquitto_sub(mosquitto_bin, broker, subs):
    base = unique("wc")
    s = subs([base + "/+/state"], 2)
    pub(mosquitto_bin, broker, base + "/lamp/state", "-m", "on")
    pub(mosquitto_bin, broker, base + "/lamp/x/state", "-m", "no match")
    pub(mosquitto_bin, broker, base + "/door/state", "-m", "open")
    got = [(t, p) for t, _, _, p in s.messages()]
    assert got == [(base + "/lamp/state", b"on"), (base + "/door/state", b"open")]


def test_mosquitto_pub_line_mode_sends_each_line(mosquitto_bin, broker, subs):
    topic = unique("lines")
    s = subs([topic], 3, qos=1)
    pub(mosquitto_bin, broker, topic, "-q", "1", "-l", stdin=b"alpha\nbeta gamma\ndelta\n")
    assert [p for _, _, _, p in s.messages()] == [b"alpha", b"beta gamma", b"delta"]


LIMIT = 100000


def test_payload_at_message_size_limit_is_delivered_and_one_byte_more_is_dropped(
        mosquitto_bin, broker_factory, subs):
    b = broker_factory("listener {port} 127.0.0.1\nallow_anonymous true\n"
                       "message_size_limit %d\n" % LIMIT)
    topic = unique("big")
    s = subs([topic], 2, qos=1, target=b)
    at_limit = b"a" * LIMIT
    over = b"b" * (LIMIT + 1)
    pub(mosquitto_bin, b, topic, "-q", "1", "-s", stdin=at_limit)
    # MQTT 3.1.1 has no way to refuse one message: mosquitto acknowledges and drops it.
    pub(mosquitto_bin, b, topic, "-q", "1", "-s", stdin=over)
    pub(mosquitto_bin, b, topic, "-q", "1", "-m", "after")
    got = s.messages()
    assert [p for _, _, _, p in got] == [at_limit, b"after"]


def test_mosquitto_pub_v5_properties_reach_mosquitto_sub_v5_unchanged_and_v311_without(
        mosquitto_bin, broker, subs):
    topic = unique("v5props")
    s5 = subs([topic], 2, qos=1, version="5", props=True)
    s4 = subs([topic], 2, qos=1, version="mqttv311")
    pub(mosquitto_bin, broker, topic, "-V", "5", "-q", "1", "-m", "h\u00e9llo",
        "-D", "publish", "payload-format-indicator", "1",
        "-D", "publish", "content-type", "text/plain",
        "-D", "publish", "response-topic", topic + "/reply",
        "-D", "publish", "correlation-data", "c0rr",
        "-D", "publish", "message-expiry-interval", "60",
        "-D", "publish", "user-property", "k1", "v1",
        "-D", "publish", "user-property", "k0", "v2",
        "-D", "publish", "user-property", "k1", "v3")
    pub(mosquitto_bin, broker, topic, "-V", "5", "-q", "1", "-m", "plain")
    got = s5.messages()
    payload = "h\u00e9llo".encode()
    f, c, r, d, e, p = got[0][4]
    assert got[0][:4] == (topic, 1, False, payload)
    assert (f, c, r, d, p) == (b"1", b"text/plain", (topic + "/reply").encode(), b"c0rr",
                               b"k1:v1 k0:v2 k1:v3")
    assert int(e) in (59, 60)  # what is left of the interval
    assert got[1] == (topic, 1, False, b"plain", [b""] * 6)
    assert s4.messages() == [(topic, 1, False, payload), (topic, 1, False, b"plain")]


def test_mosquitto_sub_shared_subscription_members_share_the_messages(mosquitto_bin, broker, subs):
    topic = unique("share")
    members = [subs(["$share/grp/" + topic], 2, qos=1) for i in range(2)]
    for i in range(4):
        pub(mosquitto_bin, broker, topic, "-q", "1", "-m", "m%d" % i)
    got = [[p for _, _, _, p in m.messages()] for m in members]
    assert got == [[b"m0", b"m2"], [b"m1", b"m3"]]  # one each, round robin


def test_mosquitto_sub_v5_shared_subscription_members_share_the_messages(
        mosquitto_bin, broker, subs):
    topic = unique("share5")
    members = [subs(["$share/grp5/" + topic], 2, qos=1, version="mqttv5") for i in range(2)]
    for i in range(4):
        pub(mosquitto_bin, broker, topic, "-V", "mqttv5", "-q", "1", "-m", "m%d" % i)
    got = [[p for _, _, _, p in m.messages()] for m in members]
    assert got == [[b"m0", b"m2"], [b"m1", b"m3"]]
