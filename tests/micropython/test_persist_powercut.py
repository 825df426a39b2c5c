"""A power cut on a board's flash: the persistence store on LittleFS (MicroPython's
VfsLfs2 over a RAM block device), the power cut after each block write of a broker's
start, client traffic, commits and a compaction (tests/micropython/persist_powercut.py)."""

import os
import subprocess

from mpbroker import ROOT, micropython_exe

SCRIPT = os.path.join(ROOT, "tests", "micropython", "persist_powercut.py")


def test_a_power_cut_after_any_block_write_restarts_on_a_committed_state():
    r = subprocess.run([micropython_exe(), "-X", "heapsize=16m", SCRIPT, ROOT],
                       capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    lines = dict(l.split(" ", 1) for l in r.stdout.splitlines() if " " in l)
    assert int(lines["CUTS"]) > 50, out  # every block write of the run was a cut point
    assert lines["DONE"] == "0", out  # no load raised, no state that no commit left
    hits, n = lines["HITS"].split(" OF ")
    hits = [int(x) for x in hits.split()]
    # more writes never bring back less: the flash holds a growing prefix of the commits
    assert hits == sorted(hits), hits
    assert hits[0] == 0 and hits[-1] >= int(n) - 2, (hits, n)
