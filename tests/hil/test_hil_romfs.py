"""tools/deploy.py --romfs: the modules in a ROMFS partition (a simulated board whose
firmware has MICROPY_VFS_ROM: tools/simboard.py --romfs), the broker running from them,
and boards the image must not reach (stock firmware) or must not be rewritten."""

import hashlib
import os
import re
import subprocess
import sys
import uuid

from hiltarget import DEPLOY, PahoClient


def _id(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:6])


def _file_state(path):
    """(mtime_ns, sha256) of a host file: any write to it changes one of them."""
    with open(path, "rb") as f:
        return os.stat(path).st_mtime_ns, hashlib.sha256(f.read()).hexdigest()


def _listing(target):
    """Every file on the board's filesystem with its size, as one string (via mpremote)."""
    code = ("import os\n"
            "def _w(d):\n"
            "    for n, t, *_ in os.ilistdir(d):\n"
            "        p = (d + '/' + n).replace('//', '/')\n"
            "        if p == '/rom':\n"
            "            continue\n"
            "        if t == 0x4000:\n"
            "            _w(p)\n"
            "        else:\n"
            "            print('FILE', p, os.stat(p)[6])\n"
            "_w('/')\n")
    r = target.mpremote("exec", code)
    assert r.returncode == 0, r.stdout + r.stderr
    return sorted(line for line in r.stdout.splitlines() if line.startswith("FILE "))


def test_dry_run_romfs_lists_the_image_and_the_filesystem_files_without_a_device():
    r = subprocess.run([sys.executable, DEPLOY, "--board", "esp32", "--dry-run", "--romfs"],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    m = re.search(r"would write a ROMFS image of (\d+) bytes \((\d+) modules", r.stdout)
    assert m, r.stdout
    image, rom_part = r.stdout.split("would copy", 1)
    in_image = re.findall(r"(?m)^  (/\S+)", image)
    on_fs = re.findall(r"(?m)^  (/\S+)", rom_part)
    assert len(in_image) == int(m.group(2))
    for must in ("/rom/lib/board.mpy", "/rom/lib/loop.mpy", "/rom/lib/core/__init__.mpy",
                 "/rom/lib/core/broker.mpy", "/rom/lib/core/config_parse.mpy"):
        assert must in in_image, must
    assert all(d.startswith("/rom/lib/") and d.endswith(".mpy") for d in in_image)
    assert on_fs == ["/main.py", "/broker.conf", "/network.json"]
    # the image holds what the .mpy files hold, plus a little filing
    sizes = [int(n) for n in re.findall(r"(?m)^  /rom/\S+\s+(\d+) bytes", image)]
    assert sum(sizes) < int(m.group(1)) < sum(sizes) + 4096


def test_romfs_deploy_serves_mqtt_with_modules_imported_from_rom(romfs_board):
    b = romfs_board
    if not b.running():
        b.start()  # deploy.py --romfs --run: image, soft reset, files, board.main
    log = b.log()
    assert "Opening ipv4 listen socket on port %d." % b.port in log
    topic = "hil/%s" % _id("romfs")
    pub = PahoClient(b, _id("pub"))
    pub.publish(topic + "/kept", b"retained in rom run", 1, retain=True)
    sub = PahoClient(b, _id("sub"))
    try:
        assert sub.subscribe(topic + "/#", 1) == 1
        m = sub.message()  # MQTT-3.3.1-6: the retained message first
        assert (m.topic, m.payload, m.retain) == (topic + "/kept", b"retained in rom run", True)
        pub.publish(topic + "/live", b"qos 1", 1)
        m = sub.message()
        assert (m.topic, m.payload, m.qos, m.retain) == (topic + "/live", b"qos 1", 1, False)
    finally:
        sub.close()
        pub.close()
    free, _ = b.stop()
    print("romfs board: %d bytes of heap free at start, %d after stopping"
          % (b.heap_at_start(), free))
    # the modules the broker ran were imported from the ROMFS, none is left in /lib
    r = b.target.mpremote("exec", "import sys\nfor m in ('board', 'loop', 'core.broker'):\n"
                                  "    print('FROM', m, sys.modules[m].__file__)\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.findall(r"FROM (\S+) (\S+)", r.stdout) == [
        ("board", "/rom/lib/board.mpy"), ("loop", "/rom/lib/loop.mpy"),
        ("core.broker", "/rom/lib/core/broker.mpy")]
    files = _listing(b.target)
    assert not [f for f in files if f.split()[1].endswith(".mpy")], files
    assert [f.split()[1] for f in files] == ["/broker.conf", "/main.py", "/network.json"]


def test_romfs_redeploy_with_nothing_changed_writes_nothing_to_the_partition(romfs_board):
    b = romfs_board
    if b.running():
        b.stop()
    t = b.target
    r = t.deploy(*b.deploy_args())  # in step with the tree first
    assert r.returncode == 0, r.stdout + r.stderr
    before = _file_state(t.rom_file)
    r = t.deploy(*b.deploy_args())
    assert r.returncode == 0, r.stdout + r.stderr
    assert "already holds this image" in r.stdout and "not written" in r.stdout
    assert "writing the ROMFS image" not in r.stdout
    assert "0 of 3 files to copy" in r.stdout
    assert _file_state(t.rom_file) == before  # no erase, no write reached the flash


def test_romfs_deploy_replaces_another_image_and_removes_filesystem_copies(romfs_board,
                                                                          tmp_path):
    b = romfs_board
    if b.running():
        b.stop()
    t = b.target
    # another image: one module of a different program, written the way a user would
    other = tmp_path / "other"
    (other / "lib").mkdir(parents=True)
    (other / "lib" / "board.py").write_text("raise ImportError('not the broker')\n")
    r = t.mpremote("romfs", "--no-mpy", "deploy", str(other), "+", "soft-reset", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    # and copies of our modules on the filesystem, as a file deploy leaves them
    r = t.mpremote("exec", "import os\nfor d in ('/lib', '/lib/core'):\n"
                           "    try:\n        os.mkdir(d)\n    except OSError:\n        pass\n"
                           "for p in ('/lib/loop.mpy', '/lib/core/broker.mpy', '/loop.py'):\n"
                           "    open(p, 'w').write('raise ImportError(1)')\n")
    assert r.returncode == 0, r.stdout + r.stderr
    r = t.deploy(*b.deploy_args())
    assert r.returncode == 0, r.stdout + r.stderr
    assert "writing the ROMFS image" in r.stdout
    assert "ROMFS image verified on the board" in r.stdout
    assert "removed /lib/loop.mpy (the ROMFS copy" in r.stdout
    assert "removed /lib/core/broker.mpy (the ROMFS copy" in r.stdout
    assert "removed /loop.py (it would be imported instead" in r.stdout
    assert [f.split()[1] for f in _listing(t)] == ["/broker.conf", "/main.py", "/network.json"]
    r = t.mpremote("exec", "import os, board, loop\nprint('FROM', board.__file__, "
                           "loop.__file__, hasattr(board, 'main'), 'lib' in os.listdir('/'))")
    assert "FROM /rom/lib/board.mpy /rom/lib/loop.mpy True True" in r.stdout, r.stdout + r.stderr


def test_file_deploy_is_refused_while_the_romfs_holds_the_modules(romfs_board):
    b = romfs_board
    if b.running():
        b.stop()
    t = b.target
    r = t.deploy(*b.deploy_args())
    assert r.returncode == 0, r.stdout + r.stderr
    before = _listing(t)
    args = [a for a in b.deploy_args() if a != "--romfs"]
    r = t.deploy(*args)
    assert r.returncode == 1
    assert "ROMFS partition holds /rom/lib/" in r.stderr and "--romfs" in r.stderr
    assert _listing(t) == before  # no /lib copies that would never be imported


def test_romfs_deploy_to_stock_firmware_is_refused_and_the_board_keeps_working(idle_board):
    t = idle_board.target
    r = t.deploy(*idle_board.deploy_args())  # the stock board flashed the usual way
    assert r.returncode == 0, r.stdout + r.stderr
    before = _listing(t)
    r = t.deploy(*idle_board.deploy_args(), "--romfs")
    assert r.returncode == 1
    assert "has no ROMFS support" in r.stderr and "MICROPY_VFS_ROM" in r.stderr
    assert "deploy without --romfs" in r.stderr
    assert "Nothing was changed on the board" in r.stderr
    assert _listing(t) == before
    # and the broker still starts from the files that were there
    idle_board.start()
    c = PahoClient(idle_board, _id("still"))
    c.close()


def test_romfs_image_bigger_than_the_partition_is_refused_before_writing(request, romfs_board,
                                                                         tmp_path):
    """A firmware whose ROMFS partition is too small for the image: refused with both sizes,
    the partition and the filesystem untouched."""
    from hiltarget import start_simboard
    t = start_simboard(request.config.getoption("--board-type"), str(tmp_path), romfs="32k")
    try:
        before_rom = _file_state(t.rom_file)
        before = _listing(t)
        r = t.deploy(*romfs_board.deploy_args())  # the same config files, --romfs
        assert r.returncode == 1, r.stdout + r.stderr
        m = re.search(r"the ROMFS image is (\d+) bytes but the board's ROMFS partition holds "
                      r"only (\d+)", r.stderr)
        assert m and int(m.group(2)) == 32 * 1024 < int(m.group(1)), r.stderr
        assert "Nothing was changed on the board" in r.stderr
        assert _file_state(t.rom_file) == before_rom
        assert _listing(t) == before
    finally:
        t.close()
