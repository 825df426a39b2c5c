"""The memory probe on the board itself (tools/memprobe.py's in-process figures): copied
next to the deployed broker, it prints every figure a board can take, within budget where
a board's heap allows. On the simulated board the broker runs from ROMFS (its 64-bit heap
cannot hold the broker's code, the probe's and a second config parse at once); on a real
board (--board) from whatever the board was flashed with."""

import os
import re

import pytest

from hiltarget import ROOT
from tools.mpyc import compile_mpy

FIG = re.compile(r"^FIG (\w+) (-?\d+)", re.M)


@pytest.fixture
def probe_board(request):
    b = request.getfixturevalue("board" if request.config.getoption("--board") is not None
                                else "romfs_board")
    if b.running():
        b.stop()
    else:
        r = b.target.deploy(*b.deploy_args())  # flashed, not started
        assert r.returncode == 0, r.stdout + r.stderr
    return b


def test_memprobe_on_the_board_prints_its_figures_within_budget(probe_board, tmp_path):
    t = probe_board.target
    mpy = str(tmp_path / "memprobe_figs.mpy")
    compile_mpy(os.path.join(ROOT, "tools", "memprobe_figs.py"), mpy, "memprobe_figs")
    r = t.mpremote("cp", mpy, ":/memprobe_figs.mpy")
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        r = t.mpremote("exec", "import memprobe_figs\nmemprobe_figs.board(4, 3000, 600)",
                       timeout=120)
    finally:
        t.mpremote("rm", ":/memprobe_figs.mpy")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    print(out)
    figs = {k: int(v) for k, v in FIG.findall(r.stdout)}
    assert "error in" not in out, out
    assert 0 < figs["import_used"] < figs["heap_total"], out
    assert figs["import_free"] > 0, out
    assert 0 < figs["client_bytes"] <= 2048, out
    assert figs["steady_qos0"] <= 1024 and figs["steady_qos1"] <= 1024, out
    # the broker it measured came from the deployed files, not the repo
    r = t.mpremote("exec", "import sys\nprint('FROM', sys.modules['core.broker'].__file__)")
    assert re.search(r"FROM /(rom/)?lib/core/broker\.mpy", r.stdout), r.stdout + r.stderr
