"""A power cut on a board's flash: the persistence store on LittleFS (MicroPython's
VfsLfs2 over a RAM block device), the power cut after each block write of a broker's
start, client traffic, commits and a compaction (tests/micropython/persist_powercut.py)."""

from mpbroker import run_script


def test_a_power_cut_after_any_block_write_restarts_on_a_committed_state():
    out, lines = run_script("persist_powercut.py", "16m")
    assert int(lines["CUTS"]) > 50, out  # every block write of the run was a cut point
    assert lines["DONE"] == "0", out  # no load raised, no state that no commit left
    hits, n = lines["HITS"].split(" OF ")
    hits = [int(x) for x in hits.split()]
    # more writes never bring back less: the flash holds a growing prefix of the commits
    assert hits == sorted(hits), hits
    assert hits[0] == 0 and hits[-1] >= int(n) - 2, (hits, n)
