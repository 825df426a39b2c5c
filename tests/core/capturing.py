"""Capture wired into a core Broker as a port wires it, and its queue read as a port sends it."""

from core.capture.sender import create


def attach(cfg, broker, broker_id, **kw):
    """The capture_format's encoder for cfg (core.capture.sender.create), as broker.events."""
    cap = create(cfg, broker, broker_id, **kw)
    broker.events = cap
    return cap


def take(ring, limit=1 << 30):
    """Up to limit bytes written from the ring's head as a port's send does (Ring.written),
    then the rest of a record that write cut: whole records, oldest first."""
    h = ring.head
    n = min(ring.used, ring.size - h, limit)
    if n <= 0:
        return b""
    sent = bytes(ring.view[h:h + n])
    cut = bytearray()
    ring.written(n, cut)
    if cut:  # the cut record, whole: its first bytes are the end of sent
        return sent[:sent.rfind(b"\n") + 1] + bytes(cut)
    return sent


def drain(ring):
    """Every record the ring holds, taken out of it (bytes of JSON lines)."""
    out = bytearray()
    while ring.used:
        out += take(ring)
    return bytes(out)
