"""NTP on the MicroPython port: ports/micropython/ntp.py against a real SNTP server written
here (UDP on loopback, answering with a time that is clearly not now), and board.main (the
board start-up path) under the real `micropython`, setting the capture clock from it."""

import calendar
import socket
import struct
import subprocess
import time
from datetime import datetime, timezone

import pytest

from capture_support import broker_conf, exchange
from mpbroker import PORT_DIR, ROOT, UdpServer, free_port, micropython_exe
import mqttc

NTP_TIME = calendar.timegm((2031, 5, 5, 5, 5, 5))  # 2031-05-05T05:05:05Z, Unix seconds
UNIX_1900 = 2208988800


def ntp_stamp(unix_s, frac=0):
    """The 64-bit NTP timestamp of a Unix time (seconds wrap at 2^32: era 1 from 2036)."""
    return struct.pack("!II", (unix_s + UNIX_1900) & 0xFFFFFFFF, frac)


def answer(req, li=0, vn=4, mode=4, stratum=2, refid=b"TEST", origin=None, when=NTP_TIME,
           size=48):
    """An SNTP server answer to req (RFC 4330 section 4 layout); keywords spoil it."""
    b = bytearray(48)
    b[0] = li << 6 | vn << 3 | mode
    b[1] = stratum
    b[2] = 6  # poll
    b[3] = 0xEC  # precision, -20
    b[12:16] = refid
    b[16:24] = ntp_stamp(when - 60)  # reference
    b[24:32] = req[40:48] if origin is None else origin
    b[32:40] = ntp_stamp(when)  # receive
    b[40:48] = ntp_stamp(when, 1 << 31)  # transmit: when + 500 ms
    return bytes(b[:size])


class NtpServer(UdpServer):
    """An SNTP server on 127.0.0.1: .port, .requests; reply(req) -> bytes|None."""

    def __init__(self, reply=answer):
        self.reply = reply
        self.requests = []
        UdpServer.__init__(self)

    def handle(self, req):
        self.requests.append(req)
        return self.reply(req)


@pytest.fixture
def ntp_server():
    made = []

    def start(reply=answer):
        s = NtpServer(reply)
        made.append(s)
        return s
    yield start
    for s in made:
        s.stop()


def closed_udp_port():
    """A loopback UDP port nothing listens on (a request there is refused at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mp_sync(port, timeout_ms=2000):
    """ntp.sync('127.0.0.1', port) under micropython: 'OK <ms>' or 'ERR <type>: <reason>'."""
    code = ("import sys\nsys.path.insert(0, %r)\nimport ntp\ntry:\n"
            " print('OK', ntp.sync('127.0.0.1', %d, %d))\n"
            "except (OSError, ValueError) as e:\n print('ERR %%s: %%s' %% (type(e).__name__, e))\n"
            % (PORT_DIR, port, timeout_ms))
    r = subprocess.run([micropython_exe(), "-c", code], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


# ---- ntp.py ----

def test_sync_sends_one_sntp_v4_client_request_and_returns_the_servers_time(ntp_server):
    srv = ntp_server()
    out = mp_sync(srv.port)
    assert out.startswith("OK "), out
    ms = int(out.split()[1])
    # the transmit timestamp (when + 500 ms) plus half a loopback round trip
    assert NTP_TIME * 1000 + 500 <= ms < NTP_TIME * 1000 + 1500
    assert len(srv.requests) == 1
    req = srv.requests[0]
    assert len(req) == 48
    assert req[0] & 7 == 3 and (req[0] >> 3) & 7 == 4 and req[0] >> 6 == 0  # client, v4
    assert req[40:48] != bytes(8)  # the nonce the answer must echo


def test_sync_reads_timestamps_of_ntp_era_1_after_2036(ntp_server):
    when = calendar.timegm((2040, 1, 2, 3, 4, 5))
    srv = ntp_server(lambda req: answer(req, when=when))
    out = mp_sync(srv.port)
    assert out.startswith("OK "), out
    assert when * 1000 + 500 <= int(out.split()[1]) < when * 1000 + 1500


@pytest.mark.parametrize("spoil, reason", [
    (dict(stratum=0, refid=b"RATE"), "ERR ValueError: kiss-o'-death RATE from the server"),
    (dict(stratum=0, refid=b"DENY"), "ERR ValueError: kiss-o'-death DENY from the server"),
    (dict(origin=b"12345678"), "ERR ValueError: answer does not echo our request"),
    (dict(mode=3), "ERR ValueError: answer in mode 3, not 4 (server)"),
    (dict(size=40), "ERR ValueError: answer of 40 bytes, not 48 or more"),
    (dict(li=3), "ERR ValueError: server clock not synchronized (leap indicator 3"),
    (dict(stratum=16), "ERR ValueError: server clock not synchronized (leap indicator 0, "
                       "stratum 16)"),
    (dict(vn=0), "ERR ValueError: answer with version 0"),
])
def test_sync_refuses_a_malformed_or_kiss_of_death_answer_with_the_reason(
        ntp_server, spoil, reason):
    srv = ntp_server(lambda req: answer(req, **spoil))
    out = mp_sync(srv.port)
    assert out.startswith(reason), out


def test_sync_refuses_an_answer_without_a_transmit_timestamp(ntp_server):
    srv = ntp_server(lambda req: answer(req)[:40] + bytes(8))
    assert mp_sync(srv.port) == "ERR ValueError: answer without a transmit timestamp"


def test_sync_without_an_answer_times_out_with_oserror(ntp_server):
    srv = ntp_server(lambda req: None)  # receives, never answers
    t0 = time.monotonic()
    out = mp_sync(srv.port, timeout_ms=300)
    assert out == "ERR OSError: no answer from 127.0.0.1 port %d within 300 ms" % srv.port
    assert len(srv.requests) == 1
    assert time.monotonic() - t0 < 15  # it stopped by itself


def test_sync_to_a_closed_port_is_an_oserror_naming_the_refusal():
    port = closed_udp_port()
    out = mp_sync(port)
    assert out in ("ERR OSError: 127.0.0.1 port %d: ECONNREFUSED" % port,
                   "ERR OSError: no answer from 127.0.0.1 port %d within 2000 ms" % port)


def test_sync_to_an_unresolvable_host_is_an_oserror():
    code = ("import sys\nsys.path.insert(0, %r)\nimport ntp\ntry:\n"
            " ntp.sync('no-such-host.invalid', 123, 500)\n"
            "except OSError as e:\n print('ERR', e)\n" % PORT_DIR)
    r = subprocess.run([micropython_exe(), "-c", code], capture_output=True, text=True,
                       timeout=20)
    assert r.stdout.startswith("ERR cannot resolve no-such-host.invalid"), r.stdout + r.stderr


# ---- capture_io.set_wall / wall_ms ----

def test_wall_clock_set_by_ntp_runs_on_across_a_wrap_of_the_port_clock():
    # The port clock masks ticks to 2^30 ms (as on a 32-bit board); shift it to wrap
    # 200 ms from now: the wall clock must keep counting forward through the wrap.
    code = ("import sys, time\nsys.path.insert(0, %r)\nsys.path.append(%r)\n"
            "import clock, capture_io\nclock.wrap_in(200)\nt0 = clock.now_ms()\n"
            "capture_io.set_wall(%d)\ntime.sleep_ms(400)\n"
            "print(clock.now_ms() < t0, capture_io.wall_ms() - %d)\n"
            % (PORT_DIR, ROOT, NTP_TIME * 1000, NTP_TIME * 1000))
    r = subprocess.run([micropython_exe(), "-c", code], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 0, r.stderr
    wrapped, elapsed = r.stdout.split()
    assert wrapped == "True"  # the port clock did wrap
    assert 400 <= int(elapsed) < 5000


# ---- board.main: the start-up path of a board ----

def _epoch_s(rec):
    ts = datetime.strptime(rec["@timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return ts.replace(tzinfo=timezone.utc).timestamp()


def _records_of_a_session(b, sink):
    exchange(b.port, mqttc.connect("n1") + mqttc.publish("t/1", b"x") + b"\xe0\x00")
    recs = sink.wait_for(lambda r: len(r) >= 4)
    assert [r["event"]["action"] for r in recs[:4]] == [
        "startup", "connect", "publish", "disconnect"], recs
    return recs


def test_board_start_sets_the_capture_clock_by_ntp(boards, ntp_server, sinks):
    srv = ntp_server()
    sp = free_port()
    sink = sinks(sp)
    t0 = time.monotonic()
    # the port clock (2^30 ms, as on a board) wraps 1.5 s after start: the startup record
    # comes before the wrap, the session's after it
    b = boards(broker_conf(sp), {"ntp_host": "127.0.0.1", "ntp_port": srv.port},
               wrap_in=1500)
    assert b.wait_for_log("Clock set by NTP from 127.0.0.1."), b.log()
    time.sleep(max(0, t0 + 2 - time.monotonic()))
    recs = _records_of_a_session(b, sink)
    stamps = [_epoch_s(r) for r in recs]
    assert stamps == sorted(stamps)
    assert stamps[1] - stamps[0] >= 0.5  # the session came well after the start-up
    for r, t in zip(recs, stamps):
        # the server's time, not the host's, and synced: no clock_synced false / uptime
        assert NTP_TIME <= t < NTP_TIME + 30, r["@timestamp"]
        assert "clock_synced" not in r["mqtt"] and "uptime_ms" not in r["mqtt"]
    assert len(srv.requests) == 1
    assert "Warning" not in b.log()
    assert b.stop() == 0, b.log()
    assert "board.main returned 0" in b.log()
    assert "ntp.py still imported: False" in b.log()  # forgotten after start-up
    # so are the config's code and the parser: only the values (core.settings) live on
    assert "start-up modules still imported: []" in b.log()


def test_board_start_without_an_ntp_answer_warns_and_records_fall_back(boards, sinks):
    port = closed_udp_port()
    sp = free_port()
    sink = sinks(sp)
    b = boards(broker_conf(sp), {"ntp_host": "127.0.0.1", "ntp_port": port})
    warning = "Warning: clock not set by NTP from 127.0.0.1 (127.0.0.1 port %d: " % port
    assert b.wait_for_log(warning), b.log()
    # the unix port's clock is the host's, which is set: records carry it
    assert "capture records carry the board's own clock." in b.log()
    recs = _records_of_a_session(b, sink)
    for r in recs:
        assert abs(_epoch_s(r) - time.time()) < 60, r["@timestamp"]
        assert "clock_synced" not in r["mqtt"]


def test_board_start_with_an_unusable_ntp_answer_logs_the_reason(boards, ntp_server, sinks):
    srv = ntp_server(lambda req: answer(req, stratum=0, refid=b"RATE"))
    sp = free_port()
    sinks(sp)
    b = boards(broker_conf(sp), {"ntp_host": "127.0.0.1", "ntp_port": srv.port})
    assert b.wait_for_log("Warning: clock not set by NTP from 127.0.0.1 (kiss-o'-death RATE "
                          "from the server"), b.log()


def test_board_start_with_ntp_host_empty_asks_no_server(boards, ntp_server, sinks):
    srv = ntp_server()
    sp = free_port()
    sinks(sp)
    b = boards(broker_conf(sp), {"ntp_host": "", "ntp_port": srv.port})
    assert b.wait_for_log('NTP is off ("ntp_host": "" in '), b.log()
    assert srv.requests == []


@pytest.mark.parametrize("network", [{"ntp_port": 0}, {"ntp_port": "123"},
                                     {"ntp_host": 5}, {"ntp_port": 70000}])
def test_board_refuses_bad_ntp_settings_with_a_clear_error(boards, network, tmp_path):
    b = boards("listener {port} 127.0.0.1\n", network, wait=False)
    b.proc.wait(20)
    assert ('"ntp_host" must be a string ("" turns NTP off) and "ntp_port" a port number '
            '(1-65535)') in b.log()
    assert "board.main returned 1" in b.log()
