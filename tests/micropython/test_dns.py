"""DNS on the MicroPython port: ports/micropython/dns.py (a non-blocking A lookup, RFC 1035)
under the real `micropython`, its parser fed answers built here, and the broker (board.main
and the unix command line) sending capture records to a capture_address that is a host name,
looked up with a real DNS server written here (UDP on loopback, in a thread)."""

import socket
import struct
import subprocess
import time

import pytest

from dns_support import PTR_Q, QID, a_rr, header, question, rr, wire
from mpbroker import (CAPTURE_HEAP as HEAP, PORT_DIR, ROOT, free_port, micropython_exe,
                      raw_connect)
import mqttc


def mp_run(code, timeout=20):
    """Run code under micropython with the port and the repo root on sys.path; its stdout."""
    prog = "import sys\nsys.path.insert(0, %r)\nsys.path.append(%r)\n%s" % (PORT_DIR, ROOT, code)
    r = subprocess.run([micropython_exe(), "-c", prog], capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.strip()


def mp_parse(msg, name="www.test", qid=QID):
    """dns.parse() of msg under micropython: 'OK [addresses]' or 'ERR <type>: <reason>'."""
    return mp_run("import dns\ntry:\n print('OK', dns.parse(bytes.fromhex(%r), %d, "
                  "dns.encode(%r)))\nexcept ValueError as e:\n print('ERR %%s: %%s' %% "
                  "(type(e).__name__, e))\n" % (msg.hex(), qid, name))


# ---- dns.parse: the answer, checked strictly ----

def test_parse_returns_the_a_record_whose_owner_is_a_compression_pointer():
    msg = header(an=1) + question("www.test") + a_rr(PTR_Q, "10.1.2.3")
    assert mp_parse(msg) == "OK ['10.1.2.3']"


def test_parse_returns_every_a_record_and_skips_other_types():
    msg = (header(an=3) + question("www.test") + rr(PTR_Q, 28, bytes(16))
           + a_rr(PTR_Q, "10.0.0.1") + a_rr(wire("www.test"), "10.0.0.2"))
    assert mp_parse(msg) == "OK ['10.0.0.1', '10.0.0.2']"


def test_parse_follows_a_cname_chain_written_with_compressed_names():
    # www.test -> edge.test (the label "edge" then a pointer to "test" in the question)
    # -> 10.9.8.7, its owner a pointer to the CNAME's data
    q = header(an=2) + question("www.test")
    cname = rr(PTR_Q, 5, b"\x04edge\xc0\x10")
    target_at = len(q) + 12  # the CNAME's data starts after its owner (2) and fixed part
    msg = q + cname + a_rr(struct.pack("!H", 0xC000 | target_at), "10.9.8.7")
    assert mp_parse(msg) == "OK ['10.9.8.7']"


def test_parse_compares_names_without_regard_to_case():
    msg = header(an=1) + question("WWW.Test") + a_rr(wire("www.TEST"), "10.1.1.1")
    assert mp_parse(msg, name="Www.tesT.") == "OK ['10.1.1.1']"


@pytest.mark.parametrize("msg, reason", [
    (header(qid=QID + 1, an=1) + question("www.test") + a_rr(PTR_Q, "10.1.2.3"),
     "ERR Mismatch: answer id %d is not the query's %d" % (QID + 1, QID)),
    (header(flags=0x0100, an=1) + question("www.test") + a_rr(PTR_Q, "10.1.2.3"),
     "ERR Mismatch: a query, not an answer (QR bit clear)"),
    (header(an=1) + question("other.test") + a_rr(PTR_Q, "10.1.2.3"),
     "ERR Mismatch: answer to another question (other.test)"),
    (header(an=1) + question("www.test", qtype=28) + a_rr(PTR_Q, "10.1.2.3"),
     "ERR Mismatch: answer to another question (www.test)"),
    (header(qd=0), "ERR Mismatch: answer holds 0 questions, not 1"),
])
def test_parse_marks_an_answer_to_another_query_as_a_mismatch(msg, reason):
    assert mp_parse(msg) == reason


@pytest.mark.parametrize("rcode, text", [
    (1, "format error"), (2, "server failure"), (3, "no such name (NXDOMAIN)"),
    (4, "not implemented"), (5, "refused"), (9, "error")])
def test_parse_refuses_an_error_rcode_naming_it(rcode, text):
    msg = header(flags=0x8180 | rcode) + question("www.test")
    assert mp_parse(msg) == "ERR ValueError: RCODE %d: %s" % (rcode, text)


@pytest.mark.parametrize("msg, reason", [
    (header()[:5], "answer of 5 bytes, shorter than a DNS header (12)"),
    (header(flags=0x8380, an=1) + question("www.test"),
     "answer truncated (TC bit): too long for UDP (no TCP fallback here)"),
    (header(flags=0x8980) + question("www.test"), "answer with opcode 1, not 0 (query)"),
    (header(an=1) + question("www.test") + a_rr(PTR_Q, "10.1.2.3")[:-2],
     "record data of 4 bytes at offset 38 runs past the end of the 40-byte answer"),
    (header(an=1) + question("www.test") + PTR_Q + b"\x00\x01",
     "record at offset 28 cut short"),
    (header(an=1) + question("www.test")[:-3], "question cut short at offset 22"),
    (header() + b"\x03www\x04te", "label at offset 16 runs past the end of the 19-byte answer"),
    (header() + b"\x03www", "name runs past the end of the 16-byte answer"),
    (header(an=1) + question("www.test") + b"\xc0\x1a" + bytes(10),
     "compression pointer at offset 26 to 26: not backwards, or a loop"),
    (header(an=1) + question("www.test") + b"\xc0\x30" + bytes(10),
     "compression pointer at offset 26 to 48: not backwards, or a loop"),
    (header(an=1) + question("www.test") + b"\x41" + bytes(10),
     "label type 0x40 at offset 26 is not supported"),
    (header(an=1) + question("www.test") + rr(PTR_Q, 1, bytes(16)), "A record of 16 bytes, not 4"),
    (header(an=1) + question("www.test") + rr(PTR_Q, 5, wire("edge.test") + b"x"),
     "CNAME data at offset 38 does not fill its 12 bytes"),
    (header() + question("www.test"), "no A record for www.test in the answer"),
    (header(an=1) + question("www.test") + rr(PTR_Q, 5, wire("edge.test")),
     "no A record for edge.test (alias of www.test) in the answer"),
    (header(an=2) + question("www.test") + rr(PTR_Q, 5, wire("edge.test"))
     + rr(wire("edge.test"), 5, wire("www.test")),
     "CNAME chain of www.test longer than 8 (a loop?)"),
])
def test_parse_refuses_a_short_malformed_or_empty_answer_with_the_reason(msg, reason):
    assert mp_parse(msg) == "ERR ValueError: " + reason


def test_a_pointer_chain_that_loops_through_labels_is_refused():
    # a name at 26: label "ab", then a pointer back to 26 itself (each pointer backwards
    # from where it sits, but the name never ends)
    msg = header(an=1) + question("www.test") + b"\x02ab\xc0\x1a" + bytes(10)
    out = mp_parse(msg)
    assert out.startswith("ERR ValueError: ") and ("loop" in out or "255" in out), out


# ---- names, servers, the query message ----

def test_encode_writes_lower_case_labels_and_refuses_bad_names():
    out = mp_run("import dns\nprint(dns.encode('Sink.Example.').hex())\n"
                 "for n in ('a..b', '', 'x' * 64 + '.test', ('abcdefg.' * 32) + 'com', "
                 "'sp ace.test'):\n try:\n  dns.encode(n)\n  print('accepted', n)\n"
                 " except ValueError as e:\n  print('ERR', e)\n")
    lines = out.splitlines()
    assert lines[0] == wire("sink.example").hex()
    assert len(lines) == 6 and all(l.startswith("ERR ") for l in lines[1:]), out
    assert "labels of 1-63 printable ASCII bytes" in lines[1]
    assert "longer than 255 bytes" in lines[4]


def test_query_message_is_one_recursive_a_question_with_the_id():
    out = mp_run("import dns\nprint(dns.query(0xBEEF, dns.encode('sink.test')).hex())\n")
    assert bytes.fromhex(out) == header(0xBEEF, 0x0100, 1, 0) + question("sink.test")


@pytest.mark.parametrize("setting, result", [
    ("192.168.1.1", "('192.168.1.1', 53)"),
    ("127.0.0.1:5353", "('127.0.0.1', 5353)"),
    ("[::1]:5353", "('::1', 5353)"),
    ("::1", "('::1', 53)"),
    ("dns.example", "ERR DNS server 'dns.example' must be a numeric IPv4 or IPv6 address"),
    ("1.2.3.4:0", "ERR DNS server '1.2.3.4:0': port must be 1-65535"),
    ("1.2.3.4:x", "ERR DNS server '1.2.3.4:x': port must be 1-65535"),
    ("[::1", "ERR DNS server '[::1': expected [IPV6]:PORT"),
    ("0.0.0.0", "ERR DNS server '0.0.0.0' is unset (the network gave none)"),
    ("1.2.3.256", "ERR DNS server '1.2.3.256' must be a numeric IPv4 or IPv6 address"),
])
def test_server_setting_is_a_numeric_address_with_an_optional_port(setting, result):
    out = mp_run("import dns\ntry:\n print(dns.server(%r))\nexcept ValueError as e:\n"
                 " print('ERR', e)\n" % setting)
    assert out == result


def test_without_a_setting_the_server_is_the_first_nameserver_of_resolv_conf(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("# generated\nsearch lan\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n")
    out = mp_run("import dns\ndns.RESOLV_CONF = %r\nprint(dns.server(None))\n"
                 "dns.RESOLV_CONF = %r\ntry:\n dns.server(None)\nexcept ValueError as e:\n"
                 " print('ERR', e)\n" % (str(conf), str(tmp_path / "missing")))
    assert out.splitlines() == [
        "('192.0.2.53', 53)",
        "ERR no DNS server known (no \"dns\" setting, no nameserver in %s)"
        % (tmp_path / "missing")]


# ---- dns.Query against a real server: never blocks ----

_POLL = ("import dns, clock, time\nq = dns.Query(%r, ('127.0.0.1', %d), clock.now_ms())\n"
         "t0 = time.ticks_ms()\nr = None\ntry:\n"
         " while r is None and time.ticks_diff(time.ticks_ms(), t0) < 8000:\n"
         "  r = q.poll(clock.now_ms())\n  time.sleep_ms(5)\n print('OK', r, q.tries)\n"
         "except (OSError, ValueError) as e:\n print('ERR', e)\nq.close()\n")


def test_query_polls_until_the_answer_following_the_cname_chain(dns_server):
    srv = dns_server({"www.test": ("CNAME", "edge.test"), "edge.test": "127.0.0.7"})
    assert mp_run(_POLL % ("WWW.test", srv.port)) == "OK 127.0.0.7 1"
    assert [r[1:] for r in srv.requests] == [("www.test", 1)]


def test_query_returns_at_once_and_resends_when_no_answer_came(dns_server):
    srv = dns_server({"www.test": "127.0.0.9"}, drop=1)  # answers only the resend
    code = ("import dns, clock, time\nq = dns.Query('www.test', ('127.0.0.1', %d), "
            "clock.now_ms())\nprint('first', q.poll(clock.now_ms()))\n" % srv.port)
    code += _POLL.split("\n", 2)[2].replace("8000", "4000")
    assert mp_run(code).splitlines() == ["first None", "OK 127.0.0.9 2"]
    assert len(srv.requests) == 2 and srv.requests[0] == srv.requests[1]  # the same id


def test_query_to_a_port_without_a_server_fails_with_the_refusal():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert mp_run(_POLL % ("www.test", port)) == \
        "ERR DNS server 127.0.0.1 port %d: ECONNREFUSED" % port


def test_query_reports_nxdomain_naming_the_server(dns_server):
    srv = dns_server({})
    assert mp_run(_POLL % ("nosuch.test", srv.port)) == \
        "ERR DNS server 127.0.0.1 port %d answered: RCODE 3: no such name (NXDOMAIN)" % srv.port


# ---- the broker: capture to a host name ----

def conf(host, sink_port):
    return ("listener {port} 127.0.0.1\nallow_anonymous true\nlog_type all\n"
            "capture_address %s:%d\n" % (host, sink_port))


def session(port, cid):
    """One client: connect, publish, disconnect."""
    s, rc = raw_connect(port, cid)
    try:
        assert rc == 0
        s.sendall(mqttc.publish("t/1", b"x") + b"\xe0\x00")
        s.settimeout(5)
        assert s.recv(10) == b""  # the broker closes after DISCONNECT
    finally:
        s.close()


def qos0_round_trip(port):
    """Subscribe and publish to it on one connection; seconds until the message came back."""
    t0 = time.monotonic()
    s, rc = raw_connect(port, "rt")
    try:
        assert rc == 0
        s.settimeout(5)
        s.sendall(mqttc.subscribe(1, [("rt/t", 0)]))
        assert mqttc.read_packet(s)[0] == 0x90  # SUBACK
        s.sendall(mqttc.publish("rt/t", b"ping"))
        h, body = mqttc.read_packet(s)
        assert h == 0x30 and body.endswith(b"ping")
    finally:
        s.close()
    return time.monotonic() - t0


def _acts(recs):
    return [r["event"]["action"] for r in recs]


def test_capture_to_a_host_name_reaches_the_sink_through_the_boards_dns_server(
        boards, dns_server, sinks):
    srv = dns_server({"sink.test": "127.0.0.1"})
    sp = free_port()
    sink = sinks(sp)
    b = boards(conf("sink.test", sp), {"dns": "127.0.0.1:%d" % srv.port})
    assert b.wait_for_log("Capture: sending ecs records to sink.test port %d, looked up with "
                          "DNS server 127.0.0.1 port %d" % (sp, srv.port)), b.log()
    session(b.port, "c1")
    recs = sink.wait_for(lambda r: len(r) >= 4)
    assert _acts(recs)[:4] == ["startup", "connect", "publish", "disconnect"], recs
    assert b.wait_for_log("Capture: sink.test is 127.0.0.1."), b.log()
    assert srv.requests[0][1:] == ("sink.test", 1) and len(srv.ids()) == 1
    assert "Warning" not in b.log()
    assert b.stop() == 0, b.log()
    assert "dns imported: True" in b.log()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_numeric_capture_address_asks_no_dns_and_never_imports_dns_py(
        boards, dns_server, sinks, host):
    srv = dns_server({})
    sp = free_port()
    sink = sinks(sp)
    b = boards(conf(host, sp), {"dns": "127.0.0.1:%d" % srv.port})
    session(b.port, "c1")
    assert _acts(sink.wait_for(lambda r: len(r) >= 2))[:2] == ["startup", "connect"]
    assert b.stop() == 0, b.log()
    assert "dns imported: False" in b.log()
    assert srv.requests == []


def test_mqtt_is_served_while_the_dns_server_never_answers_and_the_lookup_is_retried(
        boards, dns_server, sinks):
    srv = dns_server({"sink.test": "127.0.0.1"}, silent=True)
    sp = free_port()
    sink = sinks(sp)
    b = boards(conf("sink.test", sp), {"dns": "127.0.0.1:%d" % srv.port})
    deadline = time.monotonic() + 5
    while not srv.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    assert srv.requests, b.log()
    # the lookup is pending (its timeout is 4 s): clients are served meanwhile; a loop
    # stalled by the lookup would hold this round trip for seconds
    assert qos0_round_trip(b.port) < 2.0
    assert "cannot resolve" not in b.log()
    first = srv.ids()[0]
    warning = ("Warning: capture receiver sink.test port %d unreachable (cannot resolve "
               "sink.test: no answer from DNS server 127.0.0.1 port %d after 3 tries in "
               "4000 ms); records are queued and retried." % (sp, srv.port))
    assert b.wait_for_log(warning, timeout=10), b.log()
    assert [r[0] for r in srv.requests].count(first) == 3  # the query and two resends
    srv.silent = False
    # after the backoff a new lookup (a new id) is answered and the records queued so far
    # reach the sink
    recs = sink.wait_for(lambda r: "publish" in _acts(r))
    assert _acts(recs)[:4] == ["startup", "connect", "subscribe", "publish"], (recs, b.log())
    assert len(srv.ids()) >= 2 and srv.ids()[-1] != first
    assert b.wait_for_log("Capture: connected to sink.test port %d again." % sp), b.log()


def test_nxdomain_for_the_capture_host_is_a_clear_warning(boards, dns_server, sinks):
    srv = dns_server({})
    sp = free_port()
    sinks(sp)
    b = boards(conf("nosuch.test", sp), {"dns": "127.0.0.1:%d" % srv.port})
    assert b.wait_for_log(
        "Warning: capture receiver nosuch.test port %d unreachable (cannot resolve "
        "nosuch.test: DNS server 127.0.0.1 port %d answered: RCODE 3: no such name "
        "(NXDOMAIN)); records are queued and retried." % (sp, srv.port)), b.log()
    assert qos0_round_trip(b.port) < 2.0  # still serving
    # retried after the backoff (0.25-0.5 s, then 0.5-1 s)
    deadline = time.monotonic() + 5
    while len(srv.ids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(srv.ids()) >= 2


@pytest.mark.parametrize("network, message", [
    ({"dns": 5}, '"dns" must be a DNS server address such as "192.168.1.1"'),
    ({"dns": "dns.example"}, "Error: capture: capture_address sink.test is a host name: "
                             "DNS server 'dns.example' must be a numeric IPv4 or IPv6 address"),
])
def test_board_refuses_an_unusable_dns_setting_with_a_clear_error(boards, network, message):
    b = boards(conf("sink.test", 9), network, wait=False)
    b.proc.wait(20)
    assert message in b.log()
    assert "board.main returned 1" in b.log()


def test_unix_port_uses_the_dns_server_of_mqtt_edge_dns_and_follows_a_cname(
        mp_broker_factory, dns_server, sinks, monkeypatch):
    srv = dns_server({"capture.test": ("CNAME", "sink.test"), "sink.test": "127.0.0.1"})
    sp = free_port()
    sink = sinks(sp)
    monkeypatch.setenv("MQTT_EDGE_DNS", "127.0.0.1:%d" % srv.port)
    b = mp_broker_factory(conf("capture.test", sp), heap=HEAP)
    session(b.port, "u1")
    recs = sink.wait_for(lambda r: len(r) >= 4)
    assert _acts(recs)[:4] == ["startup", "connect", "publish", "disconnect"], b.log()
    assert b.wait_for_log("Capture: capture.test is 127.0.0.1."), b.log()
    assert [r[1:] for r in srv.requests] == [("capture.test", 1)]
