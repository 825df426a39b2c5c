"""A connection's output buffer after the port has written it all out."""

from harness import Harness


def _burst(h, n):
    """A subscriber that has n retained messages of 40 bytes queued for it."""
    p = h.connected("p")
    for i in range(n):
        p.publish("b/%d" % i, b"x" * 40, retain=True)
    s = h.connected("s")
    s.send(b"\x82\x08\x00\x01\x00\x03b/#\x00")  # SUBSCRIBE b/# QoS 0
    return s


def test_emptied_large_output_buffer_is_replaced_so_its_capacity_is_freed():
    h = Harness()
    s = _burst(h, 20)  # about 1 KB queued at once
    before = s.conn.out
    assert len(before) > 256
    data = s.read()
    assert len(data) > 256 and s.conn.out is not before and len(s.conn.out) == 0


def test_emptied_small_output_buffer_is_kept():
    h = Harness()
    s = _burst(h, 1)
    before = s.conn.out
    assert 0 < len(before) <= 256
    s.read()
    assert s.conn.out is before and len(s.conn.out) == 0


def test_partly_written_buffer_keeps_the_rest_in_order():
    h = Harness()
    s = _burst(h, 20)
    whole = bytes(s.conn.out)
    s.conn.sent(100)
    rest = bytes(s.conn.out)
    s.conn.sent(len(rest))
    assert whole[100:] == rest and len(s.conn.out) == 0
