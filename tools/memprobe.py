"""Memory figures of the broker on MicroPython (unix port or a board).

    micropython -X heapsize=96k tools/memprobe.py [--model esp32|picow] [--heap 96k]
        [--work-heap 256k] [--clients 20] [--load-clients N]
        [--messages 100000] [--messages-qos1 20000] [--here]

--model picks a board model: esp32 (96 KB heap, 8 clients in the load run; the default)
or picow (128 KB heap, 4 clients: lwIP there allows 5 TCP connections). The import and
load runs' broker uses the board's shipped config (boards/esp32 or boards/rp2040w
mosquitto.conf, its listener moved to loopback). --heap and --load-clients override the
model's figures.

Prints a table and one `FIG name value` line per figure:
  import_free    heap free after importing the broker (.mpy), parsing a config and
                 starting the broker as the port does (loop.start: the Broker, the
                 connection tables sized for max_connections, the listener), on the
                 model's heap
  client_bytes   heap per connected idle client (CONNECT + 2 subscriptions) over real
                 loopback sockets, --clients of them, server side only
  ws_client_bytes  the same over a `protocol websockets` listener (upgrade and frames)
  steady_qos0/1  gc.mem_alloc() growth after collecting, before/after forwarding
                 --messages QoS 0 / --messages-qos1 QoS 1 messages through the core
  load_ok        1 when the broker, on the model's heap, served the load run without a
                 MemoryError: --load-clients clients with 4 subscriptions each, 32 retained
                 messages of 64 bytes, then rounds of QoS 1 traffic, every message and
                 acknowledgement accounted for (load_min_free: the lowest free heap seen)
  *_rom          the import and load runs again with the .mpy files in a ROMFS image
                 (mpremote romfs build) mounted at /rom, as on a board whose firmware has
                 ROMFS (MICROPY_VFS_ROM): bytecode and constants run in place from flash.
                 The image sits in the first block of a heap grown by its size and is
                 left out of every figure (see _ROM); in_rom_rom is 1 when the broker's
                 modules really came from /rom. Needs mpremote next to micropython or on
                 PATH; without it these figures are missing.
On the unix port each figure runs in a fresh `micropython` child (core and port compiled
with tools/mpyc.py into a temp dir) so this script's own code does not count; the load run's
clients are this process, the broker is the child. On a board the figures are taken in
this process by memprobe_figs.board() (no load run; free heap includes that module's own
code, so it errs low), e.g. next to a deployed broker:

    mpy-cross tools/memprobe_figs.py        # compiling it on the board would need more heap
    mpremote cp tools/memprobe_figs.mpy :/lib/memprobe_figs.mpy
    mpremote exec "import memprobe_figs; memprobe_figs.board()"

`--here` does the same on the unix port (tests/hil runs it on the simulated board).
"""

import gc
import os
import sys

# The budgets, checked for both ways a board holds the .mpy files: on its
# filesystem (stock firmware: bytecode and constants are copied into the heap at import)
# and in a ROMFS partition (_rom figures: they run in place from flash). On this 64-bit
# build objects are about twice a board's size: a stricter second model whose misses are
# reported; the gate is the 32-bit model, tools/memprobe32.mjs.
BUDGETS = {"import_free": (">=", 60 * 1024), "import_free_rom": (">=", 60 * 1024),
           "client_bytes": ("<=", 2048), "steady_qos0": ("<=", 1024),
           "steady_qos1": ("<=", 1024), "load_ok": (">=", 1), "load_ok_rom": (">=", 1)}
ORDER = ("heap_total", "import_used", "import_free", "load_clients", "load_min_free", "load_ok",
         "heap_total_rom", "import_used_rom", "import_free_rom", "in_rom_rom",
         "load_min_free_rom", "load_ok_rom", "client_bytes", "ws_client_bytes", "steady_qos0",
         "steady_qos1")
_LABELS = {"heap_total": "heap total (import run)", "import_used": "files: used by broker + listener",
           "import_free": "files: free after import + listener",
           "load_clients": "load run: clients (4 subs each)",
           "load_min_free": "files: load run lowest free heap",
           "load_ok": "files: load run without MemoryError",
           "heap_total_rom": "ROMFS: heap total (image left out)",
           "import_used_rom": "ROMFS: used by broker + listener",
           "import_free_rom": "ROMFS: free after import + listener",
           "in_rom_rom": "ROMFS: modules imported from /rom",
           "load_min_free_rom": "ROMFS: load run lowest free heap",
           "load_ok_rom": "ROMFS: load run without MemoryError",
           "client_bytes": "per idle client (2 subs)",
           "ws_client_bytes": "per idle WebSocket client (2 subs)",
           "steady_qos0": "steady-state growth, QoS 0", "steady_qos1": "steady-state growth, QoS 1"}
# model -> (heap of the import and load runs, clients in the load run, boards/ folder whose
# mosquitto.conf the broker runs with: the limits a board ships with)
MODELS = {"esp32": ("96k", 8, "esp32"), "picow": ("128k", 4, "rp2040w")}

# A board whose firmware has ROMFS (MICROPY_VFS_ROM) keeps the .mpy files in a memory-mapped
# flash partition and runs their bytecode and constants in place. The unix port has VfsRom
# but no partition: the image is read into the first block of a heap grown by its size,
# a pad trims the rest to the model's total, and both are left out of every figure.
_ROM = """import gc
import sys
import vfs
gc.collect()
_a = gc.mem_alloc()
_img = bytearray(%(size)d)
with open(%(img)r, "rb") as _f:
    _f.readinto(_img)
del _f
vfs.mount(vfs.VfsRom(_img), "/rom")
sys.path.insert(0, "/rom")  # where the firmware puts it: before the filesystem
gc.collect()
_b = gc.mem_alloc()
_n = gc.mem_free() + _b - (_b - _a) - %(total)d
_pad = bytearray(_n - 32) if _n > 64 else None  # 32: the bytearray object itself
gc.collect()
ROM_USED = gc.mem_alloc() - _a  # image and pad: flash on a board
"""

# Start-up order as on a board (ports/micropython/main.py, board.py): the receive buffer
# first, of main.py's size (recv: memprobe_figs.recv_size), then the config is parsed, its
# values kept (core.settings) and the parser and core.config dropped before the broker and
# the loop are imported. The probes are %-formatted: a literal % in them is %%.
_START = """_buf = bytearray(%(recv)d)
import gc
import sys
from core.config import parse_config
port = int(sys.argv[1])
with open(sys.argv[-1]) as f:  # the board's mosquitto.conf, listener on loopback
    cfg = parse_config(f.read().replace("@PORT@", str(port)), "probe.conf")
del parse_config
from core.settings import snapshot
cfg = snapshot(cfg)
del snapshot
from forget import forget  # the port's own, as board.py drops them
forget("core.config_parse", "core.config", "core.settings")
del forget
gc.collect()
import loop
"""

# The import run: as small as possible so that nearly all it measures is the broker, and
# the port's own start-up (loop.start: Broker, connection tables sized for the config's
# max_connections, listener), as a board runs it.
_IMPORT_PROBE = _START + """from log import Logger
log = Logger(())
srv = loop.start(cfg, log, loop.OUT_LIMIT, loop.MIN_FREE, _buf)
if isinstance(srv, int):
    sys.exit(srv)  # its reason is on stderr (a port taken: the driver tries another)
gc.collect()
try:
    rom = ROM_USED
    print("FIG in_rom", int(loop.__file__.startswith("/rom/")))
except NameError:
    rom = 0
print("FIG heap_total", gc.mem_free() + gc.mem_alloc() - rom)
print("FIG import_free", gc.mem_free())
"""

# The load run's broker: the import run, then serving until its clients have come and gone.
_LOAD_PROBE = _START + """want = int(sys.argv[2])
import clock
from core.clock import diff
errs = [0]
def log(level, msg):
    if "out of memory" in msg:  # the loop caught a MemoryError
        errs[0] += 1
        print("LOG", msg)
    elif level == "error":
        print(msg)  # a start-up failure (a port taken: the driver tries another)
srv = loop.start(cfg, log, loop.OUT_LIMIT, loop.MIN_FREE, _buf)
if isinstance(srv, int):
    sys.exit(srv)
b = srv.broker
gc.collect()
low = gc.mem_free()
with open(sys.argv[3], "w") as f:
    f.write("ready")
t0 = clock.now_ms()
most = 0
while diff(clock.now_ms(), t0) < 90000:
    try:
        srv.step(20)
    except MemoryError:  # as Server.run(): logged, counted, carried on
        errs[0] += 1
        gc.collect()
    n = len(b.conns)
    if n > most:
        most = n
    if most and not n:  # every client came and went (or the run failed)
        break
    if gc.mem_free() < low:
        gc.collect()
        if gc.mem_free() < low:
            low = gc.mem_free()
srv.shutdown()
print("FIG load_broker_clients", most)
print("FIG load_min_free", low)
print("FIG load_mem_errors", errs[0])
"""


def _dirname(p):
    i = p.rfind("/")
    return p[:i] if i > 0 else ("/" if i == 0 else ".")


def _abs(p):
    return p if p.startswith("/") else os.getcwd() + "/" + p


def _random_port():
    # below Linux's ephemeral range (32768-60999): no client socket of another test holds it
    r = os.urandom(2)
    return 20000 + ((r[0] << 8) | r[1]) % 12000


def _import_run(args, tmp, out_name, pypath):
    """_child for an import probe (args: a format with %d for the port), on another port
    when the one it drew was taken."""
    for _ in range(3):
        figs = _child(args % _random_port(), tmp, out_name, pypath)
        if "Address already in use" not in figs.get("error:" + out_name, ""):
            return figs
    return figs


# ---- driver ----

def run_load(tmp, pypath, heap, n, conf, probe, tag=""):
    """The load run: broker child on a heap-sized heap, n clients from this process."""
    import time
    with open(tmp + "/load_probe%s.py" % tag, "w") as f:
        f.write(probe)
    for attempt in range(3):
        port = _random_port()
        ready = "%s/load%s%d.ready" % (tmp, tag, attempt)
        out = "%s/load%s%d.out" % (tmp, tag, attempt)
        os.system("MICROPYPATH=%s %s -X heapsize=%s %s/load_probe%s.py %d %d %s %s > %s 2>&1 &"
                  % (pypath, sys.executable, heap, tmp, tag, port, n, ready, conf, out))
        text = ""
        t0 = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), t0) < 20000:
            time.sleep_ms(20)
            try:
                os.stat(ready)
                break
            except OSError:
                pass
            with open(out) as f:
                text = f.read()
            if "Error" in text:  # the child ended without listening (port taken?)
                break
        else:
            return {"error:load": "the load run's broker did not start"}
        try:
            os.stat(ready)
            break
        except OSError:
            if "EADDRINUSE" not in text and "Address already in use" not in text:
                return {"error:load": text.strip().split("\n")[-1] if text.strip()
                        else "the load run's broker did not start"}
    err = None
    try:
        import memprobe_figs
        memprobe_figs.load_clients(port, n)
    except (RuntimeError, OSError) as e:
        err = "%s: %s" % (type(e).__name__, e)
    figs = {}
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < 100000:  # the child gives up after 90 s
        with open(out) as f:
            text = f.read()
        if "FIG load_mem_errors" in text or "Traceback" in text:
            break
        time.sleep_ms(50)
    time.sleep_ms(100)
    with open(out) as f:
        text = f.read()
    for line in text.split("\n"):
        w = line.split()
        if len(w) == 3 and w[0] == "FIG":
            figs[w[1]] = int(w[2])
        elif w[:1] == ["LOG"] and err is None:
            err = "broker: " + line[4:]
    if "load_mem_errors" not in figs and err is None:
        err = "broker: " + (text.strip().split("\n")[-1] if text.strip() else "no output")
    figs["load_clients"] = n
    figs["load_ok"] = int(err is None and figs.get("load_mem_errors") == 0
                          and figs.get("load_broker_clients", 0) >= n)
    if err is not None:
        figs["error:load"] = err
    return figs



def _rm_tree(d):
    for name in os.listdir(d):
        p = d + "/" + name
        if os.stat(p)[0] & 0o170000 == 0o040000:
            _rm_tree(p)
        else:
            os.remove(p)
    os.rmdir(d)


def _compile_tree(root, tmp):
    """core/ and the port as .mpy under tmp (a board's layout), compiled as tools/deploy.py
    compiles them (tools/mpyc.py, run by the Python next to this micropython or python3);
    False when that fails (no mpy-cross)."""
    py = _dirname(getattr(sys, "executable", "") or "") + "/python3"
    try:
        os.stat(py)
    except OSError:
        py = "python3"
    mpyc = "%s %s/tools/mpyc.py " % (py, root)
    if os.system(mpyc + "%s/tools/memprobe_figs.py %s/memprobe_figs.mpy memprobe_figs"
                 % (root, tmp)) != 0:
        return False
    subs = ["core", "ports/micropython"]
    for name in os.listdir(root + "/core"):  # subsystem packages (core/capture, core/persist)
        try:
            os.stat("%s/core/%s/__init__.py" % (root, name))
            subs.append("core/" + name)
        except OSError:
            pass
    for sub in subs:
        if sub == "ports/micropython":
            os.mkdir(tmp + "/ports")
        os.mkdir(tmp + "/" + sub)
        jobs = []  # one process per folder: this heap holds one folder's command line
        for name in os.listdir(root + "/" + sub):
            # core/names.py is compiled into its importers; main.py is the boot entry
            if name.endswith(".py") and name != "main.py" and (sub, name) != ("core", "names.py"):
                # the source name is the module's dotted name (tools/mpyc.py, module_name)
                pkg = "" if sub.startswith("ports") else sub.replace("/", ".")
                mod = pkg if name == "__init__.py" else (pkg + "." if pkg else "") + name[:-3]
                jobs.append("%s/%s/%s %s/%s/%smpy %s"
                            % (root, sub, name, tmp, sub, name[:-2], mod))
        if os.system(mpyc + " ".join(jobs)) != 0:
            return False
    return True


def _bytes(size):
    """A -X heapsize value ("96k", "1m", "98304") in bytes."""
    mul = {"k": 1024, "m": 1024 * 1024}.get(size[-1:].lower(), 1)
    return int(size[:-1] if mul > 1 else size) * mul


def _romfs_image(tmp):
    """A ROMFS image of the compiled tree (mpremote romfs build); its size, 0 if no mpremote."""
    tool = _dirname(getattr(sys, "executable", "") or "") + "/mpremote"
    try:
        os.stat(tool)
    except OSError:
        tool = "mpremote"
    rom = tmp + "/rom"
    os.mkdir(rom)
    if os.system("cp -r %s/core %s/ && cp %s/ports/micropython/*.mpy %s/"
                 % (tmp, rom, tmp, rom)) != 0:
        return 0
    if os.system("%s romfs --no-mpy -o %s/rom.img build %s > %s/romfs.out 2>&1"
                 % (tool, tmp, rom, tmp)) != 0:
        return 0
    return os.stat(tmp + "/rom.img")[6]


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


def board_conf(root, board, tmp):
    """boards/BOARD/mosquitto.conf with its listener on loopback at @PORT@; returns the path."""
    with open("%s/boards/%s/mosquitto.conf" % (root, board)) as f:
        lines = f.read().split("\n")
    for i in range(len(lines)):
        w = lines[i].split()
        if w[:1] == ["listener"]:
            lines[i] = "listener @PORT@ 127.0.0.1"
    path = tmp + "/" + board + ".conf"
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def run_unix(root, heap, work_heap, clients, messages, messages1, load_n, board):
    """Every figure from fresh child processes on a .mpy build."""
    tmp = "/tmp/memprobe-%d" % _random_port()
    os.mkdir(tmp)
    try:
        src_paths = root + ":" + root + "/ports/micropython:" + root + "/tools"
        if _compile_tree(root, tmp):
            pypath = tmp + ":" + tmp + "/ports/micropython"
            kind = ".mpy"
        else:
            pypath = src_paths
            kind = ".py (mpy-cross not found)"
        sys.path.insert(0, pypath.split(":")[0] if kind == ".mpy" else root + "/tools")
        import memprobe_figs
        recv = {"recv": memprobe_figs.recv_size(root + "/ports/micropython/main.py")}
        with open(tmp + "/import_probe.py", "w") as f:
            f.write(_IMPORT_PROBE % recv)
        conf = board_conf(root, board, tmp)
        figs = {}
        figs.update(_import_run("-X heapsize=%s %s/import_probe.py %%d %s" % (heap, tmp, conf),
                                tmp, "import.out", pypath))
        for ph in ("clients", "wsclients", "steady"):
            figs.update(_child("-X heapsize=%s -c \"import memprobe_figs; memprobe_figs.phase("
                               "'%s', %d, %d, %d, %d)\"" % (work_heap, ph, clients, messages,
                                                             messages1, recv["recv"]),
                               tmp, ph + ".out", pypath))
        if load_n:
            figs.update(run_load(tmp, pypath, heap, load_n, conf, _LOAD_PROBE % recv))
        size = _romfs_image(tmp) if kind == ".mpy" else 0
        if size and "heap_total" in figs:
            # the same runs with the code in a ROMFS partition: heap grown by the image,
            # trimmed back to the import run's total (see _ROM)
            rom = _ROM % {"size": size, "img": tmp + "/rom.img", "total": figs["heap_total"]}
            rheap = "%dk" % ((_bytes(heap) + size) // 1024 + 8)
            os.mkdir(tmp + "/romrun")  # no code on its path: imports must come from /rom
            with open(tmp + "/romrun/import_probe.py", "w") as f:
                f.write(rom + _IMPORT_PROBE % recv)
            r = _import_run("-X heapsize=%s %s/romrun/import_probe.py %%d %s"
                            % (rheap, tmp, conf), tmp, "import_rom.out", tmp + "/romrun")
            if load_n:
                r.update(run_load(tmp, tmp + "/romrun", rheap, load_n, conf,
                                  rom + _LOAD_PROBE % recv, "_rom"))
            for k in r:  # "error:import_rom.out" stays; load's become "error:load_rom"
                figs[k if k.endswith("_rom.out") else k + "_rom"] = r[k]
        return figs, kind
    finally:
        _rm_tree(tmp)


def report(figs, heap, note):
    """Print the table and the FIG lines; returns the number of budgets missed."""
    for t in ("", "_rom"):
        if "heap_total" + t in figs and "import_free" + t in figs:
            figs["import_used" + t] = figs["heap_total" + t] - figs["import_free" + t]
    print("memprobe: MicroPython %s on %s, import run on a %s heap, code from %s"
          % (".".join([str(x) for x in sys.implementation.version[:3]]), sys.platform, heap, note))
    print("%-38s %10s  %s" % ("figure", "bytes", "budget"))
    missed = 0
    for k in ORDER:
        v = figs.get(k)
        budget = BUDGETS.get(k)
        mark = ""
        if budget is not None:
            ok = v is not None and (v >= budget[1] if budget[0] == ">=" else v <= budget[1])
            mark = "%s %d %s" % (budget[0], budget[1], "ok" if ok else "MISSED")
            missed += not ok
        print("%-38s %10s  %s" % (_LABELS[k], "-" if v is None else str(v), mark))
    for k in figs:
        if k.startswith("error:"):
            print("error in %s: %s" % (k[6:], figs[k]))
    for k in ORDER:
        if k in figs:
            print("FIG %s %d" % (k, figs[k]))
    return missed


def _opts(argv):
    o = {"--model": "esp32", "--heap": None, "--work-heap": "256k", "--clients": "20",
         "--load-clients": None, "--messages": "100000", "--messages-qos1": "20000"}
    i = 0
    while i < len(argv):
        if argv[i] == "--here":
            o["--here"] = True
            i += 1
            continue
        if argv[i] not in o or i + 1 >= len(argv):
            raise SystemExit("usage: memprobe.py [--model esp32|picow] [--heap 96k] "
                             "[--work-heap 256k] [--clients N] [--load-clients N] "
                             "[--messages N] [--messages-qos1 N] [--here]")
        o[argv[i]] = argv[i + 1]
        i += 2
    if o["--model"] not in MODELS:
        raise SystemExit("memprobe.py: unknown --model '%s' (esp32 or picow)" % o["--model"])
    return o


def main(argv):
    o = _opts(argv)
    model = MODELS[o["--model"]]
    heap = o["--heap"] or model[0]
    load_n = int(o["--load-clients"] or model[1])
    clients = int(o["--clients"])
    messages = int(o["--messages"])
    messages1 = int(o["--messages-qos1"])
    if sys.platform in ("linux", "darwin") and hasattr(os, "system") and "--here" not in o:
        root = _dirname(_dirname(_abs(sys.argv[0])))
        figs, note = run_unix(root, heap, o["--work-heap"], clients, messages, messages1, load_n,
                              model[2])
        heap = "%s (%s model, boards/%s/mosquitto.conf)" % (heap, o["--model"], model[2])
    else:  # a board (or --here): this process, with whatever heap it has
        import memprobe_figs
        main_py = "/main.py"  # a board's (tools/deploy.py puts it there)
        if "--here" in o:
            main_py = _dirname(_dirname(_abs(sys.argv[0]))) + "/ports/micropython/main.py"
        memprobe_figs.board(clients, messages, messages1, main_py)
        return 0
    missed = report(figs, heap, note)
    print("memprobe: %d budget(s) missed" % missed)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
