"""tools/deploy.py against the target board: what it copies, skips, removes and refuses."""

import json
import os
import re
import subprocess
import sys

from hiltarget import DEPLOY, ROOT, PahoClient


def _deploy_host_only(*args):
    """deploy.py where no board must be touched (dry runs, refused inputs)."""
    return subprocess.run([sys.executable, DEPLOY] + list(args), capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def _counts(out):
    m = re.search(r"(\d+) of (\d+) files to copy", out)
    assert m, out
    return int(m.group(1)), int(m.group(2))


def _copied(out):
    return re.findall(r"(?m)^  \[\d+/\d+\] (/\S+)", out)


def test_dry_run_lists_the_modules_the_board_imports_without_a_device():
    r = _deploy_host_only("--board", "esp32", "--dry-run")
    assert r.returncode == 0, r.stderr
    dests = re.findall(r"(?m)^  (/\S+)", r.stdout)
    for must in ("/main.py", "/lib/board.mpy", "/lib/loop.mpy", "/lib/net.mpy",
                 "/lib/core/__init__.mpy", "/lib/core/broker.mpy", "/lib/core/settings.mpy",
                 "/lib/core/config_parse.mpy", "/lib/core/auth.mpy", "/lib/core/passwd.mpy",
                 "/lib/core/acl.mpy", "/lib/core/capture/sender.mpy",
                 "/lib/core/capture/ecs.mpy", "/lib/core/capture/hicap.mpy", "/broker.conf",
                 "/network.json"):
        assert must in dests, must
    # the command line (unix port's and core's) is not needed on a board
    assert "/lib/cli.mpy" not in dests and "/lib/core/cli.mpy" not in dests
    assert not any(d.endswith(".py") and d != "/main.py" for d in dests)
    # the template still holds placeholders: the board would refuse it, say so
    assert "YOUR_WIFI_SSID" in r.stdout


def test_placeholder_network_json_is_refused_before_touching_the_board():
    # the port is unreachable on purpose: the error must come first
    r = _deploy_host_only("--board", "rp2040w", "--port", "socket://127.0.0.1:9")
    assert r.returncode == 1
    assert "placeholder YOUR_WIFI_SSID" in r.stderr and "--network" in r.stderr


def test_config_without_listener_is_refused(tmp_path):
    conf = tmp_path / "broker.conf"
    conf.write_text("allow_anonymous true\n")
    r = _deploy_host_only("--board", "esp32", "--dry-run", "--config", str(conf))
    assert r.returncode == 1
    assert "defines no listener" in r.stderr


def test_bad_config_line_is_refused_with_file_and_line(tmp_path):
    conf = tmp_path / "broker.conf"
    conf.write_text("listener 1883\nmax_connections lots\n")
    r = _deploy_host_only("--board", "esp32", "--dry-run", "--config", str(conf))
    assert r.returncode == 1
    assert "%s:2:" % conf in r.stderr


def test_readme_simulated_board_commands_make_files_deploy_accepts(tmp_path):
    # README's simulated-board block makes its /tmp/sim.conf and /tmp/sim-network.json with
    # these lines: run them as written (in tmp_path) and check what deploy.py says
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        lines = re.findall(r"(?m)^    (sed .* > /tmp/sim[-\w.]*)$", f.read())
    assert len(lines) == 2, lines
    script = "\n".join(l.replace("/tmp/", str(tmp_path) + "/") for l in lines)
    subprocess.run(["bash", "-e", "-c", script], cwd=ROOT, check=True, timeout=30)
    conf, net = tmp_path / "sim.conf", tmp_path / "sim-network.json"
    assert "\nlistener 1884 127.0.0.1\n" in "\n" + conf.read_text()
    r = _deploy_host_only("--board", "esp32", "--dry-run", "--config", str(conf),
                          "--network", str(net))
    assert r.returncode == 0, r.stderr
    assert "would refuse" not in r.stdout and "warning" not in r.stdout, r.stdout


def test_port_is_required_without_dry_run():
    r = _deploy_host_only("--board", "esp32")
    assert r.returncode == 2
    assert "--port" in r.stderr


def test_redeploy_copies_nothing_when_nothing_changed(idle_board):
    t = idle_board.target
    r = t.deploy(*idle_board.deploy_args())
    assert r.returncode == 0, r.stdout + r.stderr
    r = t.deploy(*idle_board.deploy_args())
    assert r.returncode == 0, r.stdout + r.stderr
    todo, total = _counts(r.stdout)
    assert todo == 0 and total > 30
    assert "%d unchanged" % total in r.stdout


def test_deploy_copies_only_the_changed_file_and_verifies_it(idle_board, tmp_path):
    t = idle_board.target
    with open(idle_board.network_path, encoding="utf-8") as f:
        settings = json.load(f)
    settings["timeout_s"] = settings.get("timeout_s", 20) + 1
    changed = tmp_path / "network.json"
    changed.write_text(json.dumps(settings))
    args = ["--config", idle_board.config_path, "--network", str(changed)]
    r = t.deploy(*idle_board.deploy_args())  # in step with the tree first
    assert r.returncode == 0, r.stdout + r.stderr
    r = t.deploy(*args)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _copied(r.stdout) == ["/network.json"]
    assert "files verified on the board" in r.stdout
    shown = t.mpremote("exec", "print(open('/network.json').read())")
    assert json.loads(shown.stdout) == settings
    # and back: the broker fixture's own files
    r = t.deploy(*idle_board.deploy_args())
    assert r.returncode == 0 and "/network.json" in _copied(r.stdout), r.stdout + r.stderr


def test_deploy_removes_source_copies_that_would_shadow_modules(idle_board, tmp_path):
    t = idle_board.target
    stale = tmp_path / "stale.py"
    stale.write_text("raise ImportError('stale copy')\n")
    # /lib/loop.py beats /lib/loop.mpy; /core (even empty) is found before /lib/core
    r = t.mpremote("cp", str(stale), ":/lib/loop.py", "+", "mkdir", ":/core", "+",
                   "cp", str(stale), ":/core/broker.py")
    assert r.returncode == 0, r.stdout + r.stderr
    r = t.deploy(*idle_board.deploy_args())
    assert r.returncode == 0, r.stdout + r.stderr
    assert "removed /lib/loop.py" in r.stdout and "removed /core/broker.py" in r.stdout
    r = t.mpremote("exec", "import os\nprint(sorted(os.listdir('/lib')), sorted(os.listdir('/')))")
    assert "'loop.mpy'" in r.stdout and "'loop.py'" not in r.stdout
    assert "'core'" not in r.stdout.split("] [")[1]


def test_deploy_refuses_a_core_folder_it_cannot_clear(idle_board, tmp_path):
    t = idle_board.target
    other = tmp_path / "other.txt"
    other.write_text("not ours\n")
    r = t.mpremote("mkdir", ":/core", "+", "cp", str(other), ":/core/other.txt")
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        r = t.deploy(*idle_board.deploy_args())
        assert r.returncode == 1
        assert "/core on the board would be imported instead of /lib/core" in r.stderr
    finally:
        t.mpremote("rm", ":/core/other.txt", "+", "rmdir", ":/core")


def test_extra_file_goes_where_asked(idle_board, tmp_path):
    t = idle_board.target
    extra = tmp_path / "note.txt"
    extra.write_text("hello board\n")
    r = t.deploy(*idle_board.deploy_args(), "--file", "%s:/note.txt" % extra)
    assert r.returncode == 0, r.stdout + r.stderr
    r = t.mpremote("exec", "print(open('/note.txt').read(), end='')")
    assert r.stdout == "hello board\n"
    t.mpremote("rm", ":/note.txt")


def test_deploy_run_again_while_the_broker_runs_restarts_it_and_it_serves(broker):
    # detached, the broker keeps serving; a second deploy --run soft-resets the board
    # first (the running broker's heap left the file check a MemoryError) and starts it
    broker.detach()
    assert "deploy: detached from %s" % broker.target.device in broker.log()
    c = PahoClient(broker, "still-up")
    c.close()
    first = broker.runs
    broker.start()
    log = broker.log()
    assert broker.runs == first + 1 and "MemoryError" not in log, log
    todo, total = _counts(log)
    assert todo == 0 and total > 30
    sub = PahoClient(broker, "sub-again")
    pub = PahoClient(broker, "pub-again")
    try:
        assert sub.subscribe("hil/again", 1) == 1
        pub.publish("hil/again", b"served", 1)
        assert sub.message().payload == b"served"
    finally:
        sub.close()
        pub.close()


def test_flashed_broker_starts_again_after_the_deploy_tests(broker):
    # the files the deploy tests left behind still make a working board
    assert "Opening ipv4 listen socket on port %d." % broker.port in broker.log()
