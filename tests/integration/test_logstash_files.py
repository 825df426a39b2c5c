"""tools/logstash/ (pipeline.conf, index-template.json, README.md) checked against real capture
records: the real broker (CPython port, and the MicroPython port without a wall clock) sends
records of every event kind to tools/capture_sink.py, and every field of every record must be
mapped by the index template with a type its JSON value fits. Neither Logstash nor
Elasticsearch runs here, so the rules they apply are written out below (from their docs)."""

import base64
import datetime
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

import pytest

from brokerproc import ROOT, free_port, ipv6_loopback_available
from capture_support import broker_conf
from tls_support import make_ca, make_signed
import mqttc  # (tests/core/mqttc.py: independent packet builder/parser)

LOGSTASH = os.path.join(ROOT, "tools", "logstash")
TEMPLATE = os.path.join(LOGSTASH, "index-template.json")
PIPELINE = os.path.join(LOGSTASH, "pipeline.conf")
README = os.path.join(LOGSTASH, "README.md")
PASSWD_TOOL = os.path.join(ROOT, "tools", "passwd.py")
MP_MAIN = os.path.join(ROOT, "ports", "micropython", "main.py")
WAIT = 10

# Types of the ECS fields the broker writes (ECS field reference, 8.x): an ECS field with
# another type breaks dashboards and cross-index queries that expect ECS.
ECS_TYPES = {
    "@timestamp": "date",
    "event.kind": "keyword", "event.dataset": "keyword", "event.action": "keyword",
    "event.outcome": "keyword", "event.reason": "keyword", "event.sequence": "long",
    "event.duration": "long",
    "observer.name": "keyword", "observer.type": "keyword",
    "client.ip": "ip", "client.port": "long", "server.port": "long",
    "user.name": "keyword",
    "tls.version_protocol": "keyword", "tls.version": "keyword", "tls.cipher": "keyword",
    "tls.client.subject": "keyword", "tls.client.x509.serial_number": "keyword",
    "tls.client.x509.subject.common_name": "keyword",
    # Logstash's own: an unparsable line (a record cut off by a broken connection) becomes
    # an event with the raw text in message and tags ["_jsonparsefailure"]
    "message": "match_only_text", "tags": "keyword",
}
ECS_SETS = ("@timestamp", "event", "observer", "client", "server", "user", "tls", "message",
            "tags")

INT_RANGES = {"byte": (-2 ** 7, 2 ** 7 - 1), "short": (-2 ** 15, 2 ** 15 - 1),
              "integer": (-2 ** 31, 2 ** 31 - 1), "long": (-2 ** 63, 2 ** 63 - 1),
              "unsigned_long": (0, 2 ** 64 - 1)}
FLOATS = ("float", "double", "half_float", "scaled_float")
STRINGS = ("keyword", "text", "match_only_text", "constant_keyword", "wildcard")
OBJECTS = ("object", "nested", "flattened")
KNOWN_TYPES = set(INT_RANGES) | set(FLOATS) | set(STRINGS) | set(OBJECTS) | {
    "boolean", "date", "date_nanos", "ip", "binary"}
# date formats that accept "2024-05-01T12:34:56.789Z"
ISO_FORMATS = ("strict_date_optional_time", "date_optional_time",
               "strict_date_optional_time_nanos", "strict_date_time", "date_time")
ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# keys the _index_template API (composable) and the legacy _template API accept
COMPOSABLE_KEYS = {"index_patterns", "template", "composed_of", "priority", "version", "_meta",
                   "data_stream", "allow_auto_create", "deprecated",
                   "ignore_missing_component_templates"}
COMPOSABLE_TEMPLATE_KEYS = {"mappings", "settings", "aliases", "lifecycle"}
LEGACY_KEYS = {"index_patterns", "order", "version", "settings", "mappings", "aliases"}

# every event kind the broker records in the ecs format (event.action values)
ACTIONS = {"startup", "connect", "denied", "subscribe", "unsubscribe", "publish", "will",
           "deliver", "disconnect", "stats", "shutdown"}


# ---- the template ----

def _no_duplicate_keys(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise ValueError("key %r appears twice in one JSON object" % k)
        seen[k] = v
    return seen


def load_template():
    """index-template.json parsed; a key repeated in one object is an error (JSON parsers
    keep the last one silently, so a field mapped twice would lose a mapping)."""
    with open(TEMPLATE, encoding="utf-8") as f:
        return json.load(f, object_pairs_hook=_no_duplicate_keys)


def template_form(tpl):
    """'composable' (PUT _index_template) or 'legacy' (PUT _template)."""
    return "composable" if "template" in tpl else "legacy"


def template_mappings(tpl):
    """The mappings object of either form."""
    if template_form(tpl) == "composable":
        return tpl["template"]["mappings"]
    return tpl["mappings"]


def field_table(mappings):
    """(fields, problems): fields maps each dotted path to (mapping, effective dynamic of the
    object holding it); dotted names in the template are expanded as Elasticsearch does."""
    fields = {}
    problems = []
    root_dyn = mappings.get("dynamic", True)

    def add(path, m, dyn):
        typ = m.get("type", "object" if "properties" in m else None)
        if typ is None:
            problems.append("%s: no type and no properties" % path)
            return
        if typ not in KNOWN_TYPES:
            problems.append("%s: unknown type %r" % (path, typ))
        old = fields.get(path)
        if old is not None:
            otyp = old[0].get("type", "object" if "properties" in old[0] else None)
            if otyp != typ or (typ not in OBJECTS and old[0] != m):
                problems.append("%s mapped twice: %r and %r" % (path, old[0], m))
        fields[path] = (m, dyn)
        if typ in ("object", "nested"):
            sub_dyn = m.get("dynamic", dyn)
            if sub_dyn not in (True, False, "true", "false", "strict", "runtime"):
                problems.append("%s: invalid dynamic %r" % (path, sub_dyn))
            walk(m.get("properties", {}), path + ".", sub_dyn)
        elif "properties" in m:
            problems.append("%s: type %s cannot have properties" % (path, typ))

    def walk(props, prefix, dyn):
        for name, m in props.items():
            parts = name.split(".")
            # "a.b": {...} is {"a": {"properties": {"b": {...}}}}
            for i in range(len(parts) - 1):
                p = prefix + ".".join(parts[:i + 1])
                if p not in fields:
                    fields[p] = ({"type": "object"}, dyn)
            add(prefix + name, m, dyn)

    if root_dyn not in (True, False, "true", "false", "strict", "runtime"):
        problems.append("mappings: invalid dynamic %r" % (root_dyn,))
    fields[""] = ({"type": "object", "dynamic": root_dyn}, root_dyn)  # the document root
    walk(mappings.get("properties", {}), "", root_dyn)
    # a leaf cannot also hold sub-fields as an object (Elasticsearch refuses the mapping)
    for path, (m, _) in fields.items():
        if path and m.get("type", "object") not in ("object", "nested"):
            for other in fields:
                if other.startswith(path + "."):
                    problems.append("%s is a %s and also the object of %s"
                                    % (path, m["type"], other))
    return fields, problems


def type_of(m):
    """A mapping's type ("object" for a properties-only mapping)."""
    return m.get("type", "object" if "properties" in m or not m else None)


def value_problem(m, value):
    """Why value cannot be indexed into a field with mapping m (None: it can)."""
    typ = type_of(m)
    if value is None:
        return None  # null: Elasticsearch indexes no value, whatever the type
    if typ in STRINGS:
        if not isinstance(value, str):
            return "%s wants a string, got %r" % (typ, value)
        lim = m.get("ignore_above")
        if lim is not None and len(value) > lim:
            return "%d characters > ignore_above %d: not indexed" % (len(value), lim)
        return None
    if typ in INT_RANGES:
        if not isinstance(value, int) or isinstance(value, bool):
            return "%s wants an integer, got %r" % (typ, value)
        lo, hi = INT_RANGES[typ]
        if not lo <= value <= hi:
            return "%d is out of the %s range [%d, %d]" % (value, typ, lo, hi)
        return None
    if typ in FLOATS:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return "%s wants a number, got %r" % (typ, value)
        return None
    if typ == "boolean":
        return None if isinstance(value, bool) else "boolean wants true/false, got %r" % value
    if typ in ("date", "date_nanos"):
        if not isinstance(value, str) or not ISO_MS_Z.match(value):
            return "date wants ISO 8601 with milliseconds and Z, got %r" % (value,)
        try:
            datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")
        except ValueError as e:
            return "not a real date %r: %s" % (value, e)
        fmt = m.get("format")
        if fmt is not None and not any(f in ISO_FORMATS for f in fmt.split("||")):
            return "date format %r does not accept ISO 8601" % fmt
        return None
    if typ == "ip":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return "ip wants an IPv4/IPv6 address, got %r" % (value,)
        return None
    if typ == "binary":
        try:
            base64.b64decode(value, validate=True)
        except (TypeError, ValueError):
            return "binary wants base64 text, got %r" % (value,)
        return None
    if typ in OBJECTS:
        return None if isinstance(value, dict) else "%s wants a JSON object, got %r" % (typ, value)
    return "type %r is not checked by this test" % typ


def record_fields(obj, prefix=""):
    """(path, value) for every object and leaf of a record; array elements share the path."""
    for k, v in obj.items():
        p = prefix + k
        items = v if isinstance(v, list) else [v]
        for e in items:
            yield p, e
            if isinstance(e, dict):
                for x in record_fields(e, p + "."):
                    yield x


def unmapped_effect(dyn):
    """What Elasticsearch does with a field the template does not map."""
    if dyn in ("strict",):
        return "dynamic strict: Elasticsearch rejects the whole record"
    if dyn in (False, "false"):
        return "dynamic false: the field is kept in _source but not indexed (not searchable)"
    if dyn == "runtime":
        return "dynamic runtime: only a runtime field, guessed from the value"
    return "dynamic true: Elasticsearch guesses the type from the first value it sees"


def as_indexed(rec):
    """The document Logstash sends to Elasticsearch for a record: it adds "@version"."""
    doc = dict(rec)
    doc.setdefault("@version", "1")
    return doc


def mapping_problems(records, fields):
    """Every way a record's field is unmapped or does not fit its mapping (one line each)."""
    problems = {}
    for r in records:
        action = r.get("event", {}).get("action", "?")
        for path, value in record_fields(r):
            entry = fields.get(path)
            if entry is None:
                if isinstance(value, dict):
                    continue  # its leaves are reported
                parent = path.rpartition(".")[0]
                holder = fields.get(parent, fields[""])
                dyn = holder[0].get("dynamic", holder[1])
                problems.setdefault(path, "%s (in a %s record): not mapped; %s"
                                    % (path, action, unmapped_effect(dyn)))
                continue
            m, _ = entry
            if type_of(m) == "object" and m.get("enabled") is False:
                problems.setdefault(path, "%s: object with enabled false" % path)
                continue
            if isinstance(value, dict) and type_of(m) not in OBJECTS:
                problems.setdefault(path, "%s (in a %s record) is an object, mapped as %s"
                                    % (path, action, type_of(m)))
                continue
            why = value_problem(m, value)
            if why:
                problems.setdefault(path, "%s (in a %s record): %s" % (path, action, why))
    return sorted(problems.values())


# ---- the pipeline ----

_TOKEN = re.compile(r'\s+|#[^\n]*|"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|=>|[{}\[\],]'
                    r'|[A-Za-z0-9_@.\-+:/%]+')


def _tokens(text):
    pos = 0
    out = []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError("pipeline.conf: cannot parse at %r" % text[pos:pos + 30])
        t = m.group()
        pos = m.end()
        if not t.strip() or t.startswith("#"):
            continue
        out.append(t)
    return out


def parse_pipeline(text):
    """Logstash config (sections of plugins with settings; no conditionals) as
    {"input": [(name, {setting: value})], "filter": [...], "output": [...]}."""
    toks = _tokens(text)
    i = 0

    def expect(t):
        nonlocal i
        if i >= len(toks) or toks[i] != t:
            raise ValueError("pipeline.conf: expected %r at token %d, got %r"
                             % (t, i, toks[i] if i < len(toks) else "end"))
        i += 1

    def value():
        nonlocal i
        t = toks[i]
        i += 1
        if t == "[":
            items = []
            while toks[i] != "]":
                items.append(value())
                if toks[i] == ",":
                    i += 1
            i += 1
            return items
        if t == "{":
            i -= 1
            return settings()
        if t[0] in "\"'":
            return t[1:-1]
        if re.match(r"^-?\d+$", t):
            return int(t)
        if i < len(toks) and toks[i] == "{":  # codec => json_lines { ... }
            return (t, settings())
        return t

    def settings():
        nonlocal i
        expect("{")
        out = {}
        while toks[i] != "}":
            k = toks[i]
            if k[0] in "\"'":
                k = k[1:-1]
            i += 1
            expect("=>")
            out[k] = value()
        i += 1
        return out

    sections = {}
    while i < len(toks):
        sec = toks[i]
        if sec not in ("input", "filter", "output"):
            raise ValueError("pipeline.conf: unknown section %r" % sec)
        i += 1
        expect("{")
        plugins = []
        while toks[i] != "}":
            name = toks[i]
            if name in ("if", "else"):
                raise ValueError("pipeline.conf: conditionals are not checked by this test")
            i += 1
            plugins.append((name, settings()))
        i += 1
        sections.setdefault(sec, []).extend(plugins)
    return sections


def load_pipeline():
    with open(PIPELINE, encoding="utf-8") as f:
        return parse_pipeline(f.read())


_JODA = (("YYYY", "%Y"), ("yyyy", "%Y"), ("xxxx", "%G"), ("MM", "%m"), ("dd", "%d"),
         ("HH", "%H"), ("ww", "%V"))


def render_index(index, when):
    """The index name Logstash makes from the output's index setting for an event at `when`
    (UTC; only %{+DATE} references: a %{field} reference would depend on the record)."""
    def date(m):
        fmt = m.group(1)
        for joda, strf in _JODA:
            fmt = fmt.replace(joda, strf)
        if re.search(r"[A-Za-z]", re.sub(r"%[YGmdHV]", "", fmt)):
            raise ValueError("index date format %r is not understood" % m.group(1))
        return when.strftime(fmt)
    out = re.sub(r"%\{\+([^}]+)\}", date, index)
    if "%{" in out:
        raise ValueError("index %r depends on a record field" % index)
    return out


def es_pattern_matches(pattern, name):
    """Elasticsearch index pattern match: only '*' is a wildcard."""
    rx = "^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$"
    return re.match(rx, name) is not None


# ---- raw MQTT 3.1.1 packets ----

def connect_pkt(cid, user=None, pw=None, will=None, keepalive=60, level=4, clean=True):
    """CONNECT; will: (topic, payload, qos, retain)."""
    return mqttc.connect(cid, clean=clean, keepalive=keepalive, will=will, username=user,
                         password=pw, proto=b"MQIsdp" if level == 3 else b"MQTT", level=level)


def publish_pkt(topic, payload, qos=0, retain=False, pid=1):
    return mqttc.publish(topic, payload, qos, retain, pid=pid if qos else None)


def subscribe_pkt(pid, *filters):
    return mqttc.subscribe(pid, list(filters))


def unsubscribe_pkt(pid, *filters):
    return mqttc.unsubscribe(pid, list(filters))


DISCONNECT = b"\xe0\x00"


class Client:
    """A raw MQTT connection on loopback (or a TLS socket) with a read timeout."""

    def __init__(self, port, host="127.0.0.1", ctx=None):
        s = socket.create_connection((host, port), timeout=WAIT)
        self.s = ctx.wrap_socket(s, server_hostname=host) if ctx else s
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def read(self, n):
        """Exactly n bytes (fails the test on EOF or timeout)."""
        while len(self.buf) < n:
            d = self.s.recv(65536)
            assert d, "broker closed the connection"
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def packet(self):
        """(first byte, body) of the next packet."""
        b0 = self.read(1)[0]
        n = shift = 0
        while True:
            d = self.read(1)[0]
            n |= (d & 0x7F) << shift
            shift += 7
            if not d & 0x80:
                break
        return b0, self.read(n)

    def connack(self, pkt):
        """Send CONNECT, return the CONNACK return code."""
        self.send(pkt)
        b0, body = self.packet()
        assert b0 == 0x20, hex(b0)
        return body[1]

    def closed(self):
        """True when the broker closes the connection within WAIT seconds."""
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    return True
        except (socket.timeout, ConnectionResetError):
            return False
        except OSError:
            return True

    def close(self):
        self.s.close()


# ---- producing records ----

def _make_certs(d, host):
    """An EC test CA, a server certificate for host and a client certificate (CN device1)."""
    make_ca(d, "ca", "/CN=capture test ca")
    make_signed(d, "ca", "server", "/O=edge/CN=localhost", "subjectAltName=IP:%s\n" % host)
    make_signed(d, "ca", "client", "/O=edge/CN=device1")
    return {k: os.path.join(d, k) for k in ("ca", "server", "client")}


def _passwd_file(path):
    r = subprocess.run([sys.executable, PASSWD_TOOL, "-c", "-b", path, "alice", "secret"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def _actions(recs):
    return [r["event"]["action"] for r in recs]


def _full_broker_records(tmp_path, broker_factory, sinks):
    """Run the CPython broker through every event kind it records; returns the records."""
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is missing (Debian package openssl)")
    tls_host = "::1" if ipv6_loopback_available() else "127.0.0.1"  # an IPv6 client.ip when possible
    certs = _make_certs(str(tmp_path), tls_host)
    pw = str(tmp_path / "passwd")
    _passwd_file(pw)
    acl = tmp_path / "acl"
    acl.write_text("user alice\ntopic readwrite ok/#\ntopic read ro/#\n")
    sp = free_port()
    sink = sinks(sp)
    conf = broker_conf(sp, (
        "capture_stats_interval 1\ncapture_payload base64\ncapture_payload_limit 4\n"
        "capture_deliveries true\npassword_file %s\nacl_file %s\n"
        "listener {port2} %s\ncertfile %s.crt\nkeyfile %s.key\ncafile %s.crt\n"
        "require_certificate true\n"
        % (pw, acl, tls_host, certs["server"], certs["server"], certs["ca"])))
    conf = conf.replace("allow_anonymous true", "allow_anonymous false")
    b = broker_factory(conf)
    login = {"user": "alice", "pw": "secret"}

    # keepalive 1 s: the broker drops this client after 1.5 s without packets
    idle = Client(b.port)
    assert idle.connack(connect_pkt("idle", keepalive=1, **login)) == 0

    sub = Client(b.port)  # stays connected until the broker stops: "server shutdown"
    assert sub.connack(connect_pkt("sub", **login)) == 0
    sub.send(subscribe_pkt(1, ("ok/#", 1), ("secret/#", 0)))  # the second: ACL refusal
    assert sub.packet() == (0x90, b"\x00\x01\x01\x80")
    sub.send(subscribe_pkt(2, ("ok/tmp", 0)) + unsubscribe_pkt(3, "ok/tmp"))
    assert sub.packet()[0] == 0x90 and sub.packet() == (0xB0, b"\x00\x03")

    pub = Client(b.port)
    assert pub.connack(connect_pkt("pub", **login)) == 0
    pub.send(publish_pkt("ok/a", b"hello world")  # payload_truncated (limit 4)
             + publish_pkt("ok/r", b"kept", qos=1, retain=True, pid=7)
             + publish_pkt("ro/x", b"no")  # ACL: read only
             + publish_pkt("$SYS/x", b"no"))  # clients may not publish to $SYS
    assert pub.packet() == (0x40, b"\x00\x07")
    pub.send(DISCONNECT)  # "client disconnect"
    assert pub.closed()
    pub.close()

    late = Client(b.port)  # gets the retained message: a deliver record with retain true
    assert late.connack(connect_pkt("late", **login)) == 0
    late.send(subscribe_pkt(1, ("ok/r", 0)))
    assert late.packet()[0] == 0x90
    assert late.packet()[0] & 0xF1 == 0x31
    late.close()  # no DISCONNECT: "socket closed"

    w = Client(b.port)
    assert w.connack(connect_pkt("willer", will=("ok/will", b"gone", 1, True), **login)) == 0
    w.send(b"\xff\x00")  # reserved packet type: protocol error, the will is published
    assert w.closed()
    w.close()

    t1 = Client(b.port)
    assert t1.connack(connect_pkt("twin", **login)) == 0
    t2 = Client(b.port)
    assert t2.connack(connect_pkt("twin", **login)) == 0  # "session takeover" of t1
    assert t1.closed()
    t2.send(DISCONNECT)
    t1.close()
    t2.close()

    # refused connects: protocol level (client id not read yet), identifier rejected
    for pkt, rc in ((connect_pkt("v9", level=9, **login), 1),
                    (connect_pkt("", clean=False, **login), 2)):
        c = Client(b.port)
        assert c.connack(pkt) == rc
        c.close()

    # over TLS with a client certificate (from an IPv6 address when the host has one)
    ctx = ssl.create_default_context(cafile=certs["ca"] + ".crt")
    ctx.load_cert_chain(certs["client"] + ".crt", certs["client"] + ".key")
    t = Client(b.port2, host=tls_host, ctx=ctx)
    assert t.connack(connect_pkt("tls-dev", **login)) == 0
    t.send(DISCONNECT)
    t.close()

    # failed logins last: five failures block 127.0.0.1 for 30 s
    for kw, rc in (({"user": "alice", "pw": "wrong"}, 5), ({"user": "bob", "pw": "x"}, 5),
                   ({"user": "alice"}, 5), ({}, 5), ({"user": "alice", "pw": "wrong"}, 5),
                   ({"user": "alice", "pw": "wrong"}, 5), (login, 5)):
        c = Client(b.port)
        assert c.connack(connect_pkt("login", **kw)) == rc
        c.close()

    assert idle.closed()  # keepalive timeout
    idle.close()
    sink.wait_for(lambda r: "stats" in _actions(r))
    b.stop()
    sub.close()
    recs = sink.wait_for(lambda r: r and r[-1]["event"]["action"] == "shutdown")
    assert recs and recs[-1]["event"]["action"] == "shutdown", _actions(recs)
    if tls_host == "::1":  # an IPv6 client.ip is among the checked values
        assert [r for r in recs if r.get("client", {}).get("ip") == "::1"]
    return recs


def _sha256_broker_records(broker_factory, sinks):
    """A broker with capture_payload sha256: a publish record carries payload_sha256."""
    sp = free_port()
    sink = sinks(sp)
    b = broker_factory(broker_conf(sp, "capture_payload sha256\ncapture_stats_interval 0\n"))
    c = Client(b.port)
    assert c.connack(connect_pkt("hasher")) == 0
    c.send(publish_pkt("h/1", b"abc") + DISCONNECT)
    assert c.closed()
    c.close()
    b.stop()
    return sink.wait_for(lambda r: r and r[-1]["event"]["action"] == "shutdown")


def _event_reasons(recs, action):
    return {r["event"].get("reason") for r in recs if r["event"]["action"] == action}


def test_ecs_records_of_every_event_kind_are_mapped_by_the_index_template_with_fitting_types(
        tmp_path, broker_factory, sinks):
    recs = _full_broker_records(tmp_path, broker_factory, sinks)
    recs += _sha256_broker_records(broker_factory, sinks)
    # the scenario really produced what this test claims to cover
    assert set(_actions(recs)) == ACTIONS, sorted(set(_actions(recs)))
    assert {"client disconnect", "socket closed", "keepalive timeout", "session takeover",
            "server shutdown"} <= _event_reasons(recs, "disconnect")
    assert any(x.startswith("protocol error") for x in _event_reasons(recs, "disconnect"))
    assert {"wrong password", "unknown user", "no password", "anonymous clients are not allowed",
            "too many failed logins from this address"} <= _event_reasons(recs, "denied")
    denied = {r["mqtt"]["denied"] for r in recs if r["event"]["action"] == "denied"}
    assert denied >= {"login", "publish", "subscribe"}, denied
    connects = [r for r in recs if r["event"]["action"] == "connect"]
    assert {r["mqtt"]["connack_code"] for r in connects} >= {0, 1, 2, 5}
    assert 0x80 in [r["mqtt"].get("granted_qos") for r in recs]
    pubs = [r["mqtt"] for r in recs if r["event"]["action"] == "publish"]
    assert [p for p in pubs if p.get("payload_truncated")] and [p for p in pubs if p["retain"]]
    assert [p for p in pubs if "payload_sha256" in p] and [p for p in pubs if "packet_id" in p]
    assert [r for r in recs if r["event"]["action"] == "deliver" and r["mqtt"]["retain"]]

    fields, problems = field_table(template_mappings(load_template()))
    assert problems == [], problems
    bad = mapping_problems([as_indexed(r) for r in recs], fields)
    assert bad == [], "\n".join(bad)


def test_records_of_a_board_without_a_wall_clock_are_mapped_by_the_index_template(
        tmp_path, sinks):
    mp = os.path.join(ROOT, ".venv", "bin", "micropython")
    if not os.access(mp, os.X_OK):
        mp = shutil.which("micropython")
    if mp is None:
        pytest.fail("micropython not found (.venv/bin or PATH): run tools/test.sh")
    sp = free_port()
    sink = sinks(sp)
    port = free_port()
    conf = tmp_path / "mp.conf"
    conf.write_text(broker_conf(sp, "capture_stats_interval 1\n").replace("{port}", str(port)))
    log = open(str(tmp_path / "mp.log"), "wb")
    proc = subprocess.Popen([mp, "-X", "heapsize=512k", MP_MAIN, "-c", str(conf),
                             "--wall-clock", "0"], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=str(tmp_path))
    try:
        deadline = time.monotonic() + 15
        c = None
        while c is None:
            try:
                c = Client(port)
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, \
                    open(str(tmp_path / "mp.log"), errors="replace").read()
                time.sleep(0.05)
        assert c.connack(connect_pkt("board")) == 0
        c.send(publish_pkt("b/1", b"x") + DISCONNECT)
        assert c.closed()
        c.close()
        sink.wait_for(lambda r: "stats" in _actions(r))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
    recs = sink.wait_for(lambda r: r and r[-1]["event"]["action"] == "shutdown")
    assert {"startup", "connect", "publish", "disconnect", "stats", "shutdown"} \
        <= set(_actions(recs)), _actions(recs)
    assert all("@timestamp" not in r and r["mqtt"]["clock_synced"] is False for r in recs)
    fields, problems = field_table(template_mappings(load_template()))
    assert problems == [], problems
    bad = mapping_problems([as_indexed(r) for r in recs], fields)
    assert bad == [], "\n".join(bad)


def test_tls_connect_records_carry_ecs_tls_fields(tmp_path, broker_factory, sinks):
    """tools/logstash/README.md promises tls.* on connect records of a TLS listener."""
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is missing (Debian package openssl)")
    certs = _make_certs(str(tmp_path), "127.0.0.1")
    sp = free_port()
    sink = sinks(sp)
    b = broker_factory(broker_conf(sp, "listener {port2} 127.0.0.1\ncertfile %s.crt\n"
                                   "keyfile %s.key\ncafile %s.crt\nrequire_certificate true\n"
                                   % (certs["server"], certs["server"], certs["ca"])))
    ctx = ssl.create_default_context(cafile=certs["ca"] + ".crt")
    ctx.load_cert_chain(certs["client"] + ".crt", certs["client"] + ".key")
    t = Client(b.port2, ctx=ctx)
    assert t.connack(connect_pkt("tls-dev")) == 0
    t.send(DISCONNECT)
    t.close()
    recs = sink.wait_for(lambda r: "disconnect" in _actions(r))
    conn = [r for r in recs if r["event"]["action"] == "connect"]
    assert conn, _actions(recs)
    tls = conn[0].get("tls")
    assert tls is not None, "connect record over TLS has no tls object: %r" % conn[0]
    assert tls["client"]["x509"]["subject"]["common_name"] == "device1"
    assert tls["version"] in ("1.2", "1.3")
    fields, _ = field_table(template_mappings(load_template()))
    assert mapping_problems(conn, fields) == []


# ---- the files themselves ----

def test_index_template_is_valid_json_of_the_form_the_readme_installs_it_as():
    tpl = load_template()  # raises on invalid JSON or a key repeated in one object
    with open(README, encoding="utf-8") as f:
        readme = f.read()
    form = template_form(tpl)
    if form == "composable":
        assert set(tpl) <= COMPOSABLE_KEYS, set(tpl) - COMPOSABLE_KEYS
        assert set(tpl["template"]) <= COMPOSABLE_TEMPLATE_KEYS
        assert "/_index_template/" in readme, "README must install it with PUT _index_template"
    else:
        assert set(tpl) <= LEGACY_KEYS, set(tpl) - LEGACY_KEYS
        assert "/_template/" in readme, "README must install it with PUT _template"
    assert "@tools/logstash/index-template.json" in readme
    pats = tpl["index_patterns"]
    assert isinstance(pats, list) and pats and all(isinstance(p, str) and p for p in pats)
    m = template_mappings(tpl)
    assert isinstance(m, dict) and isinstance(m.get("properties"), dict) and m["properties"]


def test_index_template_maps_no_field_twice_and_every_mapping_has_a_known_type():
    fields, problems = field_table(template_mappings(load_template()))
    assert problems == [], problems
    assert len(fields) > 20


def test_index_template_gives_ecs_fields_their_ecs_types():
    fields, _ = field_table(template_mappings(load_template()))
    wrong = {}
    for path, (m, _) in fields.items():
        typ = type_of(m)
        if path.split(".")[0] not in ECS_SETS or typ in ("object", "nested"):
            continue
        want = ECS_TYPES.get(path)
        if want != typ:
            wrong[path] = (typ, want or "not an ECS field: move it under mqtt.*")
    assert wrong == {}, wrong
    missing = [p for p in ECS_TYPES if p not in fields]
    assert missing == [], missing


def test_pipeline_tcp_input_reads_json_lines_on_the_port_the_readme_and_broker_default_name():
    from core.capture.conf import DEFAULT_PORT
    inputs = load_pipeline()["input"]
    tcp = [s for name, s in inputs if name == "tcp"]
    assert len(tcp) == 1 and len(inputs) == 1, inputs
    tcp = tcp[0]
    codec = tcp.get("codec")
    codec = codec[0] if isinstance(codec, tuple) else codec
    assert codec in ("json_lines", "json"), "records are JSON lines; codec is %r" % codec
    assert tcp.get("mode", "server") == "server"  # the broker connects out
    port = tcp.get("port")
    assert isinstance(port, int) and 0 < port < 65536, port
    with open(README, encoding="utf-8") as f:
        readme = f.read()
    documented = re.findall(r"tcp input on port (\d+)", readme)
    assert documented and {int(p) for p in documented} == {port}, documented
    # the README's capture_address example and the broker's default port reach the input
    addr = re.search(r"capture_address\s+\S+:(\d+)", readme)
    assert addr and int(addr.group(1)) == port
    assert DEFAULT_PORT == port


def test_pipeline_elasticsearch_index_falls_under_the_templates_index_patterns():
    outputs = load_pipeline()["output"]
    es = [s for name, s in outputs if name == "elasticsearch"]
    assert len(es) == 1, outputs
    index = es[0].get("index")
    assert isinstance(index, str), "set index so that the template applies: %r" % es[0]
    assert es[0].get("data_stream") in (None, False, "false"), \
        "a data stream ignores index and the template's patterns"
    pats = load_template()["index_patterns"]
    for when in (datetime.datetime(2024, 1, 1), datetime.datetime(2031, 12, 31, 23, 59)):
        name = render_index(index, when)
        assert name == name.lower() and not re.search(r'[\\/*?"<>| ,#:]', name), name
        assert any(es_pattern_matches(p, name) for p in pats), (name, pats)


def test_logstash_event_for_a_cut_off_record_line_is_mapped():
    """README: after a broken connection the receiver sees one invalid partial line; the
    json_lines codec turns it into message + tags ["_jsonparsefailure"], not a lost event."""
    fields, _ = field_table(template_mappings(load_template()))
    event = {"@timestamp": "2024-05-01T12:00:00.000Z", "@version": "1",
             "message": '{"@timestamp":"2024-05-01T11:59:59.998Z","event":{"kind":"ev',
             "tags": ["_jsonparsefailure"]}
    assert mapping_problems([event], fields) == []


def test_checks_catch_unmapped_fields_wrong_types_and_out_of_range_values():
    """The checker itself: each kind of gap it exists to find is reported."""
    mappings = {"dynamic": "strict", "properties": {
        "a": {"type": "byte"}, "ip": {"type": "ip"}, "t": {"type": "date"},
        "o": {"properties": {"k": {"type": "keyword"}}}, "b": {"type": "boolean"}}}
    fields, problems = field_table(mappings)
    assert problems == []
    rec = {"event": {"action": "x"}, "a": 128, "ip": "1.2.3", "t": "2024-01-01T00:00:00Z",
           "o": {"k": 5, "new": "y"}, "b": "true"}
    bad = "\n".join(mapping_problems([rec], fields))
    for frag in ("event.action", "128 is out of the byte range", "ip wants", "date wants",
                 "o.k (in a x record): keyword wants a string", "o.new", "rejects",
                 "boolean wants"):
        assert frag in bad, (frag, bad)
    good = {"a": 127, "ip": "::1", "t": "2024-01-01T00:00:00.000Z", "o": {"k": "v"}, "b": True}
    assert mapping_problems([good], fields) == []
    _, problems = field_table({"properties": {"x.y": {"type": "long"},
                                              "x": {"properties": {"y": {"type": "keyword"}}}}})
    assert [p for p in problems if "mapped twice" in p], problems
    with pytest.raises(ValueError):
        _no_duplicate_keys([("a", 1), ("a", 2)])
    assert render_index("mqtt-capture-%{+YYYY.MM.dd}", datetime.datetime(2024, 3, 9)) \
        == "mqtt-capture-2024.03.09"
    assert not es_pattern_matches("mqtt-capture-*", "logstash-2024.03.09")
