"""Back-pressure load for both ports' tests over real sockets: a publisher that sends as
fast as its socket takes, a subscriber that reads slowly (or not at all), idle clients."""

import socket
import threading
import time

import mqttc

WAIT = 30.0


def subscriber(host, port, client_id, flt, qos, rcvbuf=None):
    """A connected socket subscribed to flt (SUBACK read)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(WAIT)
    s.connect((host, port))
    s.sendall(mqttc.connect(client_id))
    assert _exact(s, 4) == b"\x20\x02\x00\x00"
    s.sendall(mqttc.subscribe(1, [(flt, qos)]))
    assert _exact(s, 5)[0] == 0x90
    return s


def idle_clients(host, port, n, n_filters):
    """n connected clients of n_filters subscriptions each that publish nothing."""
    out = []
    for i in range(n):
        s = subscriber(host, port, "idle-%d" % i, "idle/%d/0/#" % i, 1)
        for k in range(1, n_filters):
            s.sendall(mqttc.subscribe(k + 1, [("idle/%d/%d/#" % (i, k), 1)]))
            assert _exact(s, 5)[0] == 0x90
        out.append(s)
    return out


def still_open(s):
    """True when the broker has not closed s (nothing to read, no EOF)."""
    s.setblocking(False)
    try:
        return s.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.setblocking(True)


def _exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        assert chunk, "closed by the broker"
        data += chunk
    return data


class Publisher(threading.Thread):
    """Sends count messages numbered in their payload as fast as the socket takes them;
    QoS 1 with at most window unacknowledged (PUBACKs read on the same socket)."""

    def __init__(self, host, port, client_id, topic, count, qos=0, size=64, window=64):
        threading.Thread.__init__(self, daemon=True)
        self.sock, rc = mqttc.raw_connect(host, port, client_id, timeout=WAIT)
        assert rc == 0, rc
        self.topic, self.count, self.qos, self.size, self.window = \
            topic, count, qos, size, window
        self.acked = 0
        self.error = None

    def _payload(self, i):
        return b"%08d" % i + b"p" * (self.size - 8)

    def run(self):
        try:
            if not self.qos:
                batch = 64
                for i in range(0, self.count, batch):
                    self.sock.sendall(b"".join(mqttc.publish(self.topic, self._payload(k))
                                               for k in range(i, min(i + batch, self.count))))
                return
            sent = 0
            buf = b""
            while self.acked < self.count:
                while sent < self.count and sent - self.acked < self.window:
                    self.sock.sendall(mqttc.publish(self.topic, self._payload(sent), 1,
                                                    pid=sent % 65535 + 1))
                    sent += 1
                data = self.sock.recv(65536)
                if not data:
                    raise AssertionError("publisher closed by the broker")
                buf += data
                while len(buf) >= 4:
                    assert buf[0] == 0x40, buf[:4]
                    buf = buf[4:]
                    self.acked += 1
        except Exception as e:  # reported to the test by finish()
            self.error = e

    def finish(self, timeout=WAIT):
        """Wait for the end; raises what went wrong."""
        self.join(timeout)
        assert not self.is_alive(), "publisher still running after %.0f s (acked %d)" % (
            timeout, self.acked)
        if self.error is not None:
            raise self.error


def slow_readers_get_everything(host, port, n, size, rcvbuf, chunk):
    """A QoS 0 and a QoS 1 publisher send n numbered messages each as fast as they can to a
    subscriber each that reads chunk bytes at a time through an rcvbuf-byte socket buffer
    (the QoS 1 one pausing between reads): asserts every message arrived in order, every
    QoS 1 one was acknowledged and no client was disconnected."""
    s0 = subscriber(host, port, "slow0", "t/0", 0, rcvbuf=rcvbuf)
    s1 = subscriber(host, port, "slow1", "t/1", 1, rcvbuf=rcvbuf)
    p0 = Publisher(host, port, "fast0", "t/0", n, 0, size=size)
    p1 = Publisher(host, port, "fast1", "t/1", n, 1, size=size)
    p0.start()
    p1.start()
    got1 = read_numbered(s1, n, chunk=chunk, pause=0.001, deadline_s=60)
    got0 = read_numbered(s0, n, chunk=chunk, deadline_s=60)
    p0.finish()
    p1.finish()
    assert got0 == list(range(n)), (len(got0), got0[-3:])
    assert got1 == list(range(n)), (len(got1), got1[-3:])
    assert p1.acked == n
    assert all(still_open(x) for x in (s0, s1, p0.sock, p1.sock))
    for x in (s0, s1, p0.sock, p1.sock):
        x.close()


def read_numbered(s, count, chunk=65536, pause=0.0, deadline_s=WAIT):
    """Read PUBLISHes (PUBACKing QoS 1) until count arrived: their numbers, in order."""
    got = []
    buf = bytearray()
    deadline = time.monotonic() + deadline_s
    while len(got) < count and time.monotonic() < deadline:
        if pause:
            time.sleep(pause)
        data = s.recv(chunk)
        assert data, "subscriber closed by the broker after %d messages" % len(got)
        buf += data
        acks = bytearray()
        i = 0
        while i + 2 <= len(buf):
            rl, j, shift = 0, i + 1, 0
            while j < len(buf):
                rl |= (buf[j] & 0x7F) << shift
                j += 1
                if buf[j - 1] < 0x80:
                    break
                shift += 7
            else:
                break
            if j + rl > len(buf):
                break
            h = buf[i]
            if h & 0xF0 == 0x30:
                p = j + 2 + ((buf[j] << 8) | buf[j + 1])
                if h & 6:
                    acks += b"\x40\x02" + buf[p:p + 2]
                    p += 2
                got.append(int(buf[p:p + 8]))
            i = j + rl
        del buf[:i]
        if acks:
            s.sendall(acks)
    return got
