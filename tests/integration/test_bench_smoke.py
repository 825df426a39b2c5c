"""Smoke test of tools/bench.py: it drives both brokers and fills its table (no speed claims)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "tools" / "bench.py"
OUR_BROKER = ROOT / "ports" / "cpython" / "main.py"
MOSQUITTO = "/usr/sbin/mosquitto"
NUMBER = re.compile(r"^\d+(\.\d+)?$")


def table_rows(out):
    """Data rows of the first Markdown table in out, as lists of stripped cells."""
    rows = []
    for line in out.splitlines():
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break
    assert len(rows) >= 3, "no table in bench output:\n" + out
    return [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows[2:]]


def compare_rows(*args, log=None):
    """The table rows of bench.py with args, which must exit 0 within 150 s; log (a list)
    gets its stderr lines."""
    assert os.access(MOSQUITTO, os.X_OK), MOSQUITTO + " missing: run tools/test.sh"
    try:
        proc = subprocess.run([sys.executable, str(BENCH), "--duration", "0.3"] + list(args),
                              cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=150)
    except subprocess.TimeoutExpired as e:
        pytest.fail("bench.py did not finish in 150 s:\n%s\n%s" % (e.stdout, e.stderr))
    out = proc.stdout
    if log is not None:
        log.extend(proc.stderr.splitlines())
    assert proc.returncode == 0, "bench.py exit %d\nstdout:\n%s\nstderr:\n%s" % (
        proc.returncode, out, proc.stderr[-4000:])
    return out, table_rows(out)


@pytest.mark.timeout(180)
@pytest.mark.skipif(not OUR_BROKER.exists(), reason="ports/cpython/main.py does not exist yet")
def test_bench_compare_fills_every_row_with_positive_numbers():
    """--compare runs each selected scenario on this broker and mosquitto and reports numbers,
    with each broker's CPU time per message for the streams (from /proc)."""
    out, rows = compare_rows("--compare", "--scenarios", "fanin,qos1,latency")
    check_rows(out, rows, ("fanin:", "qos1:", "latency:", "broker peak RSS",
                           "fanin: broker CPU per message", "qos1: broker CPU per message"))


@pytest.mark.timeout(180)
def test_bench_bridge_measures_both_bridges_at_the_upstream():
    """--bridge runs the bridge scenarios through this broker's bridge and mosquitto's."""
    out, rows = compare_rows("--bridge")
    check_rows(out, rows, ("bridge0:", "bridge1:", "broker peak RSS"))


@pytest.mark.timeout(180)
def test_bench_v5_runs_each_scenario_with_5_0_clients_and_reads_their_stamps():
    """--v5 adds a 5.0 row to every 3.1.1 one, every other scenario run 5.0 first, and the
    latencies (stamps at the end of the payload, read without the properties) are those of
    a loopback, not of misread bytes."""
    log = []
    out, rows = compare_rows("--compare", "--v5", "--scenarios", "latency,q1fanin", log=log)
    ran = [l.split()[1] for l in log if l.startswith("bench: ") and l.endswith(" ...")]
    assert ran == ["latency", "latency@v5", "q1fanin@v5", "q1fanin"] * 2, log
    check_rows(out, rows, ("latency:", "latency v5:", "q1fanin:", "q1fanin v5:"))
    for r in rows:
        if "latency p" in r[0]:
            assert float(r[1]) < 10000 and float(r[2]) < 10000, (r, out)


def check_rows(out, rows, prefixes):
    """Every prefix starts a row; every row has three positive numbers."""
    labels = [r[0] for r in rows]
    for prefix in prefixes:
        assert any(label.startswith(prefix) for label in labels), (prefix, out)
    for r in rows:
        assert len(r) == 4, r
        for cell in r[1:4]:
            assert NUMBER.match(cell) and float(cell) > 0, (
                "row %r: %r is not a positive number:\n%s" % (r[0], cell, out))
