"""The capture ring (drop-oldest, exact counts) and the sans-I/O sender state machine."""

from core.broker import Broker
from core.config import parse_config, ConfigError
from core.capture.conf import parse_address
from core.capture.ring import Ring
from core.capture.sender import Prng, IDLE, CONNECTING, UP, CONNECT, TIMED_OUT, WRITE
from capturing import attach, drain, take


def _rec(i, size=10):
    body = b"r%d" % i
    return body + b"x" * (size - len(body) - 1) + b"\n"


def test_ring_drops_oldest_whole_records_and_counts_them_exactly():
    r = Ring(100)
    for i in range(25):
        r.push(_rec(i), 10)
    assert r.records == 10 and r.dropped == 15
    assert drain(r) == b"".join(_rec(i) for i in range(15, 25))


def test_ring_keeps_records_whole_across_the_wrap():
    r = Ring(64)
    sizes = [13, 7, 21, 9, 30, 5, 17, 11, 25]
    for i in range(len(sizes)):
        r.push(_rec(i, sizes[i]), sizes[i])
    got = drain(r).split(b"\n")[:-1]
    kept = len(got)
    assert kept + r.dropped == len(sizes)
    assert [g + b"\n" for g in got] == [_rec(i, sizes[i]) for i in range(len(sizes) - kept,
                                                                          len(sizes))]


def test_ring_record_bigger_than_ring_is_dropped_and_counted():
    r = Ring(32)
    r.push(_rec(1), 10)
    assert r.push(b"y" * 40 + b"\n", 41) == 1
    assert r.dropped == 1 and r.records == 1


def test_ring_written_forgets_whole_records_and_moves_the_cut_one_to_out():
    r = Ring(100)
    for i in range(5):
        r.push(_rec(i), 10)
    out = bytearray()
    assert r.written(15, out) == 1  # one record written whole, the next cut after 5 bytes
    assert bytes(out) == _rec(1) and r.records == 3 and r.used == 30


def _cap(extra=""):
    cfg = parse_config("listener 1883\ncapture_address 127.0.0.1:6000\n" + extra)
    b = Broker(cfg)
    cap = attach(cfg, b, "h", wall=lambda: 0, seed=12345)
    return b, cap


def test_sender_connects_at_once_then_backs_off_exponentially_with_jitter():
    b, cap = _cap()
    assert cap.want_connect(0) is True and cap.state == CONNECTING
    assert cap.want_connect(0) is False  # already connecting
    now = 0
    expected = [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]
    for full in expected:
        cap.failed(now, "connection refused")
        delay = (cap.retry_at - now) % (1 << 30)
        assert full // 2 <= delay <= full, (full, delay)
        assert cap.want_connect(now + delay - 1) is False
        assert cap.wait_ms(now + delay - 1) == 1
        assert cap.want_connect(now + delay) is True
        now += delay
    cap.connected(now)
    cap.failed(now, "connection refused")
    assert (cap.retry_at - now) % (1 << 30) <= 500  # a good connection resets the backoff


def test_sender_connect_timeout_is_reported():
    b, cap = _cap()
    cap.want_connect(100)
    assert not cap.connect_overdue(100 + 9999)
    assert cap.connect_overdue(100 + 10000)


def test_step_tells_the_port_to_connect_time_out_wait_and_write():
    b, cap = _cap()
    assert cap.step(0, False) == CONNECT and cap.state == CONNECTING
    assert cap.step(5000, True) is None  # connect in progress on the port's socket
    assert cap.step(10000, True) == TIMED_OUT
    cap.failed(10000, "connection refused")
    assert cap.step(10001, False) is None  # backing off
    t = cap.retry_at
    assert cap.step(t, False) == CONNECT
    cap.connected(t)
    assert cap.step(t + 1, True) == WRITE


def test_prng_is_deterministic_per_seed_and_varies():
    a, b = Prng(7), Prng(7)
    xs = [a.next() for _ in range(20)]
    assert xs == [b.next() for _ in range(20)]
    assert len(set(xs)) == 20


def test_flush_writes_records_in_order_and_resends_a_cut_record_whole_after_failure():
    b, cap = _cap()
    for i in range(3):
        cap.startup([(None, 1000 + i)])
    got = bytearray()

    def send_some(buf):
        n = min(len(buf), 50)
        got.extend(bytes(buf[:n]))
        return n
    assert cap.flush(send_some) == 0  # not connected: nothing is written
    cap.want_connect(0)
    cap.connected(0)
    first = bytearray()

    def send_partial(buf):
        if first:
            return 0
        first.extend(bytes(buf[:30]))
        return 30
    cap.flush(send_partial)
    assert cap.partial == 30
    cap.failed(0, "connection lost")
    cap.want_connect(1000)
    cap.connected(1000)
    cap.flush(send_some)
    lines = bytes(got).split(b"\n")
    assert lines[-1] == b"" and len(lines) == 4
    assert [l.count(b'"sequence":%d' % (i + 1)) for i, l in enumerate(lines[:3])] == [1, 1, 1]
    assert cap.sent_records == 3 and not cap.has_output()


def test_flush_stops_when_socket_would_block():
    b, cap = _cap()
    cap.startup([(None, 1)])
    cap.want_connect(0)
    cap.connected(0)
    assert cap.flush(lambda buf: 0) == 0
    assert cap.has_output() and cap.state == UP


def test_config_rejects_bad_capture_values_with_line_and_reason():
    bad = (
        ("capture_address host:99999", "invalid value for option 'capture_address': invalid "
         "port '99999' in 'host:99999': expected 1-65535"),
        ("capture_format xml", "invalid value 'xml' for option 'capture_format': expected ecs "
         "or hicap"),
        ("capture_payload gzip", "invalid value 'gzip' for option 'capture_payload': expected "
         "none, base64 or sha256"),
        ("capture_events publish,bogus", "invalid value 'bogus' for option 'capture_events': "
         "expected a comma list of connect, disconnect, publish, will, subscribe, unsubscribe, "
         "startup, shutdown, stats, denied, bridge, or all"),
        ("capture_topic a/#/b", "invalid value 'a/#/b' for option 'capture_topic': '#' not "
         "alone in the last level of filter 'a/#/b'"),
        ("capture_queue_size 10", "invalid value '10' for option 'capture_queue_size': must be "
         "at least 1024"),
        ("capture_tls maybe", "invalid value 'maybe' for option 'capture_tls': expected true "
         "or false"),
        ("capture_deliveries 2", "invalid value '2' for option 'capture_deliveries': expected "
         "true or false"),
        ("capture_address [::1", "invalid value for option 'capture_address': missing ']' in "
         "'[::1'"),
        ("capture_address", "missing value for option 'capture_address'"),
        ("capture_bogus 1", "unknown option 'capture_bogus'"),
    )
    for line, why in bad:
        try:
            parse_config("listener 1883\n" + line + "\n", "x.conf")
        except ConfigError as e:
            assert str(e) == "x.conf:2: " + why, (line, str(e))
        else:
            assert False, "accepted: " + line


def test_address_parsing():
    assert parse_address("logs.example") == ("logs.example", 5555)
    assert parse_address("10.1.2.3:12345") == ("10.1.2.3", 12345)
    assert parse_address("[::1]:9") == ("::1", 9)
    assert parse_address("::1") == ("::1", 5555)


def test_record_that_pushes_older_ones_out_counts_them_in_its_own_capture_dropped():
    b, cap = _cap("capture_queue_size 1024\n")
    for i in range(40):
        cap.stats()
    lines = drain(cap.ring).decode().split("\n")[:-1]
    import json
    recs = [json.loads(l) for l in lines]
    last = recs[-1]
    # gaps before the newest record == the count it carries (nothing is lost uncounted)
    assert last["event"]["sequence"] - len(recs) == last["mqtt"]["capture_dropped"] > 0
    assert cap.ring.dropped == last["mqtt"]["capture_dropped"]


def test_ring_reserve_drops_oldest_until_room_and_counts_them():
    r = Ring(100)
    for i in range(10):
        r.push(_rec(i), 10)
    r.reserve(35)
    assert r.records == 6 and r.dropped == 4 and r.size - r.used >= 35
    r.reserve(1000)  # bigger than the ring: nothing dropped (push will drop the record itself)
    assert r.records == 6 and r.dropped == 4


def test_ring_random_pushes_pops_and_reserves_keep_the_newest_records_whole_and_counted():
    rand = Prng(777)
    for size in (64, 333, 4096, 20000):
        r = Ring(size)
        pushed = []  # every record, in order
        popped = bytearray()
        for step in range(3000):
            x = rand.next()
            if x % 7 == 0:
                popped += take(r, 1 + (x >> 8) % 700)
            elif x % 13 == 0:
                r.reserve((x >> 8) % (size + 50))
            else:
                rec = _rec(len(pushed), 9 + (x >> 8) % 90)
                pushed.append(rec)
                lost = r.push(rec, len(rec))
                # a push that drops frees no more than it needs (or a 32nd of the ring) plus
                # the rest of one record: the ring stays nearly full
                if lost and len(rec) <= size:
                    assert r.size - r.used < (size >> 5) + 99, (size, r.used)
            assert 0 <= r.used <= size and r.records >= 0
        popped += drain(r)
        assert r.records == 0 and r.used == 0
        got = bytes(popped).split(b"\n")[:-1]
        assert len(got) + r.dropped == len(pushed), (size, len(got), r.dropped)
        # what arrives is whole records, in order, none repeated
        ids = [int(g[1:g.index(b"x")] if b"x" in g else g[1:]) for g in got]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert [g + b"\n" for g in got] == [pushed[i] for i in ids]


def test_full_big_ring_drops_a_32nd_at_once_small_ring_drops_record_by_record():
    big = Ring(32000)
    for i in range(400):
        big.push(_rec(i, 100), 100)
    assert big.dropped == 80 and big.records == 320  # 1000 bytes (10 records) per drop
    big.push(_rec(400, 100), 100)
    assert big.dropped == 90 and big.records == 311 and big.size - big.used == 900
    small = Ring(1000)
    for i in range(15):
        small.push(_rec(i, 100), 100)
    assert small.dropped == 5 and small.records == 10 and small.size - small.used == 0
