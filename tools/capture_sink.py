#!/usr/bin/env python3
"""A Logstash-compatible json_lines TCP receiver for testing the broker's capture interface.

    python3 tools/capture_sink.py [--host H] [--port P] [--out FILE] [--quiet] [--count]
                                  [--slow BYTES_PER_S] [--blackhole] [--rcvbuf BYTES]
                                  [--tls-cert PEM --tls-key PEM]

Prints each valid record (or appends it to --out as JSON lines), counts invalid lines, and
per broker (observer.name) counts sequence gaps (lost records) and repeats. The first
stdout line is "listening on HOST PORT" (use --port 0 for a free port). On SIGINT/SIGTERM,
or when --summary FILE is given after every batch, it writes a JSON summary.

--count (a receiver cheap enough to keep up with a broker at full rate, for benchmarks):
reads every byte and does the same accounting (records, per-broker sequence gaps and
repeats, capture_dropped) from the ECS fields found with regular expressions over each
received chunk instead of parsing every record; records are not printed. A chunk whose
lines do not each hold one sequence and one observer name (hicap records, a broken line)
is checked line by line with the JSON parser as without --count.
"""

import argparse
import json
import re
import selectors
import signal
import socket
import ssl
import sys
import time


# --count: the ECS fields that carry the accounting. Quotes inside JSON strings are
# escaped, so these patterns match keys only, never text inside a topic or a client id.
_SEQ = re.compile(rb'"sequence":(\d+)')
_NAME = re.compile(rb'"observer":\{"name":("(?:[^"\\\n]|\\.)*")[,}]')
_DROPPED = re.compile(rb'"capture_dropped":(\d+)')


class Stats:
    """What arrived: records, invalid lines and, per broker, sequence accounting."""

    def __init__(self):
        self.records = 0
        self.invalid = 0
        self.connections = 0
        self.tls_failures = 0
        self.brokers = {}

    def record(self, obj):
        """Account one parsed record."""
        self.records += 1
        if not isinstance(obj, dict):
            return
        ev = obj.get("event")
        obs = obj.get("observer")
        if not isinstance(ev, dict) or not isinstance(obs, dict):
            return  # hicap records carry no sequence numbers
        seq = ev.get("sequence")
        name = obs.get("name")
        if not isinstance(seq, int):
            return
        b = self._broker(name)
        self._seq(b, seq)
        mq = obj.get("mqtt")
        if isinstance(mq, dict) and isinstance(mq.get("capture_dropped"), int):
            b["dropped_reported"] = max(b["dropped_reported"], mq["capture_dropped"])

    def counted(self, chunk):
        """Account the complete lines in chunk (bytes ending in a newline) without parsing
        them; False, with nothing counted, when some line lacks the fields or the chunk
        holds several brokers' records (the caller then parses each line)."""
        lines = chunk.count(b"\n")
        seqs = _SEQ.findall(chunk)
        m = _NAME.search(chunk)
        # every line holds one sequence number and the first line's observer name
        if len(seqs) != lines or m is None or chunk.count(m.group(0)) != lines:
            return False
        try:
            name = json.loads(m.group(1))
        except ValueError:
            return False
        seqs = list(map(int, seqs))
        b = self._broker(name)
        first = seqs[0]
        if first > b["last_seq"] and seqs == list(range(first, first + lines)):
            # the usual case, consecutive numbers: checked without a Python step per record
            b["records"] += lines
            b["gaps"] += first - b["last_seq"] - 1
            b["last_seq"] = first + lines - 1
        else:
            for seq in seqs:
                self._seq(b, seq)
        self.records += lines
        dropped = _DROPPED.findall(chunk) if b'"capture_dropped":' in chunk else None
        if dropped:
            b["dropped_reported"] = max(b["dropped_reported"], max(map(int, dropped)))
        return True

    def _broker(self, name):
        return self.brokers.setdefault(name, {"records": 0, "gaps": 0, "repeats": 0,
                                              "last_seq": 0, "dropped_reported": 0})

    def _seq(self, b, seq):
        """Account one record numbered seq of broker accounting b."""
        b["records"] += 1
        if seq > b["last_seq"] + 1:
            b["gaps"] += seq - b["last_seq"] - 1
        if seq <= b["last_seq"]:
            b["repeats"] += 1
        else:
            b["last_seq"] = seq

    def summary(self):
        """The summary as a dict."""
        return {"records": self.records, "invalid": self.invalid,
                "connections": self.connections, "tls_failures": self.tls_failures,
                "brokers": self.brokers}


class Sink:
    """Accepts connections and splits their bytes into JSON lines."""

    def __init__(self, args):
        self.args = args
        self.sel = selectors.DefaultSelector()
        self.stats = Stats()
        self.stop = False
        self.out = open(args.out, "a", encoding="utf-8") if args.out else None
        fam = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        self.lsock = socket.socket(fam, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((args.host, args.port))
        self.lsock.listen(16)
        self.lsock.setblocking(False)
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        self.budget = float(args.slow or 0)
        self.last = time.monotonic()
        self.held = []  # black-holed sockets, kept open and never read
        self.tls = None
        if args.tls_cert:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(args.tls_cert, args.tls_key)

    def port(self):
        """The listening port."""
        return self.lsock.getsockname()[1]

    def accept(self):
        try:
            s, _ = self.lsock.accept()
        except OSError:
            return
        self.stats.connections += 1
        if self.args.rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.args.rcvbuf)
        if self.tls is not None:
            # a test tool: the handshake may block this loop for up to 5 s
            s.settimeout(5)
            try:
                s = self.tls.wrap_socket(s, server_side=True)
            except (OSError, ssl.SSLError) as e:
                self.stats.tls_failures += 1
                sys.stderr.write("TLS handshake failed: %s\n" % e)
                s.close()
                return
        if self.args.blackhole:
            self.held.append(s)
            return
        s.setblocking(False)
        self.sel.register(s, selectors.EVENT_READ, [b""])

    def read(self, key):
        s = key.fileobj
        n = 65536
        if self.args.slow:
            now = time.monotonic()
            self.budget = min(self.args.slow, self.budget + (now - self.last) * self.args.slow)
            self.last = now
            n = int(self.budget)
            if n <= 0:
                return
        try:
            data = s.recv(n)
            while self.tls is not None and not self.args.slow and s.pending():
                data += s.recv(s.pending())  # TLS may hold decrypted bytes select cannot see
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError:
            data = b""
        if self.args.slow:
            self.budget -= len(data)
        if not data:
            self.sel.unregister(s)
            s.close()
            if key.data[0]:
                self.stats.invalid += 1  # a record cut off by the connection's end
            return
        buf = key.data[0] + data
        end = buf.rfind(b"\n") + 1
        key.data[0] = buf[end:]  # the start of a record still arriving
        if not end or (self.args.count and self.stats.counted(buf[:end])):
            return
        lines = buf[:end].split(b"\n")
        lines.pop()
        for line in lines:
            self.line(line)

    def line(self, line):
        try:
            obj = json.loads(line.decode("utf-8"))
        except ValueError:
            self.stats.invalid += 1
            sys.stderr.write("invalid line: %r\n" % line[:200])
            return
        self.stats.record(obj)
        if self.args.count:
            return
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
        if self.out is not None:
            self.out.write(text + "\n")
        elif not self.args.quiet:
            sys.stdout.write(text + "\n")

    def write_summary(self):
        if self.args.summary:
            tmp = self.args.summary + ".tmp"
            with open(tmp, "w") as f:
                json.dump(self.stats.summary(), f)
            import os
            os.replace(tmp, self.args.summary)

    def run(self):
        while not self.stop:
            timeout = 0.1 if self.args.slow else 0.5
            for key, _ in self.sel.select(timeout):
                if key.data is None:
                    self.accept()
                else:
                    self.read(key)
            if self.out is not None:
                self.out.flush()
            sys.stdout.flush()
            self.write_summary()
        if self.out is not None:
            self.out.close()
        self.write_summary()
        sys.stderr.write(json.dumps(self.stats.summary()) + "\n")


def main(argv=None):
    """Run the sink until SIGINT or SIGTERM."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5555)
    p.add_argument("--out", help="append records to this JSON lines file instead of stdout")
    p.add_argument("--summary", help="keep a JSON summary (counts, gaps) in this file")
    p.add_argument("--quiet", action="store_true", help="do not print records")
    p.add_argument("--count", action="store_true",
                   help="account records from their sequence and observer fields without "
                        "parsing each one and print none (a cheap receiver for benchmarks)")
    p.add_argument("--slow", type=int, metavar="BYTES_PER_S", help="read at most this fast")
    p.add_argument("--blackhole", action="store_true", help="accept but never read")
    p.add_argument("--rcvbuf", type=int, help="SO_RCVBUF for accepted sockets")
    p.add_argument("--tls-cert", metavar="PEM", help="serve TLS with this certificate (chain)")
    p.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert")
    args = p.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if args.slow is not None and args.slow <= 0:
        p.error("--slow must be a positive number of bytes per second")
    sink = Sink(args)

    def on_signal(signum, frame):
        sink.stop = True
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    sys.stdout.write("listening on %s %d\n" % (args.host, sink.port()))
    sys.stdout.flush()
    sink.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
