"""tools/memprobe.py under MicroPython on board-sized heaps: it completes, prints every
figure, and the figures it can meet on this 64-bit build meet the issue's budgets (budgets,
not timings). The 64-bit build is a stricter second model: the esp32 figures it misses are
reported in README; the gate is the 32-bit model (test_memprobe32.py).

Two board models: esp32 (96 KB heap, 8 clients in the load run) and picow (128 KB heap,
4 clients). The steady-state figures forward the issue's 100,000 QoS 0 and 20,000 QoS 1
messages (a few seconds on the unix port).
"""

import os
import re
import subprocess

import pytest

from mpbroker import ROOT, micropython_exe

FIG = re.compile(r"^FIG (\w+) (-?\d+)$", re.M)
FIGURES = ("heap_total", "import_used", "import_free", "client_bytes", "steady_qos0",
           "steady_qos1", "load_clients", "load_min_free", "load_ok", "heap_total_rom",
           "import_used_rom", "import_free_rom", "in_rom_rom", "load_min_free_rom",
           "load_ok_rom")
MODEL_HEAP = {"esp32": 96 * 1024, "picow": 128 * 1024}
MODEL_CLIENTS = {"esp32": 8, "picow": 4}


def _memprobe(*args):
    """tools/memprobe.py with args; the driver itself runs on a 96 KB heap too (it must
    compile and run on a board)."""
    env = dict(os.environ)
    env["PATH"] = os.path.join(ROOT, ".venv", "bin") + os.pathsep + env.get("PATH", "")
    return subprocess.run([micropython_exe(), "-X", "heapsize=96k",
                           os.path.join(ROOT, "tools", "memprobe.py")] + list(args),
                          cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=240)


def _run_memprobe(model):
    r = _memprobe("--model", model, "--clients", "20", "--messages", "100000",
                  "--messages-qos1", "20000")
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout, {k: int(v) for k, v in FIG.findall(r.stdout)}


_cache = {}


def figures(model):
    if model not in _cache:
        _cache[model] = _run_memprobe(model)
    return _cache[model]


@pytest.mark.parametrize("model", ["esp32", "picow"])
def test_memprobe_completes_and_prints_every_figure(model):
    out, figs = figures(model)
    assert "code from .mpy" in out, out
    assert "(%s model, boards/" % model in out, out
    missing = [k for k in FIGURES if k not in figs]
    assert not missing, "missing figures %s:\n%s" % (missing, out)
    heap = MODEL_HEAP[model]
    assert heap - 8192 <= figs["heap_total"] <= heap + 4096, out  # the model's heap was used
    assert figs["client_bytes"] > 0, out  # a client costs something: the probe measured
    assert figs["load_clients"] == MODEL_CLIENTS[model], out
    assert 0 < figs["load_min_free"] < figs["import_free"], out  # the load run used memory
    # the ROMFS runs: same model heap (the image left out), code really from /rom, and
    # running code in place leaves more heap than copying it in
    assert heap - 8192 <= figs["heap_total_rom"] <= figs["heap_total"], out
    assert figs["in_rom_rom"] == 1, out
    assert figs["import_free_rom"] > figs["import_free"], out
    assert 0 < figs["load_min_free_rom"] < figs["import_free_rom"], out
    # the only error line allowed is the esp32 load run's from files: on 64 bit it runs out
    # of memory (a reported figure; the budgets' gate is the 32-bit test_memprobe32.py)
    errors = [l for l in out.splitlines() if l.startswith("error in ") and
              not (model == "esp32" and l.startswith("error in load:"))]
    assert not errors, out


def test_budget_esp32_8_clients_retained_and_qos1_without_memory_error_code_in_romfs():
    out, figs = figures("esp32")
    assert figs["load_ok_rom"] == 1, out
    assert "error in load_rom" not in out and "error in import_rom.out" not in out, out


def test_8_client_load_run_completes_on_a_120k_heap():
    """The esp32 load run (8 clients x 4 subscriptions, 32 retained, QoS 1 rounds) with the
    heap it misses by: no MemoryError, every message and acknowledgement accounted for."""
    r = _memprobe("--model", "esp32", "--heap", "120k", "--messages", "1000",
                  "--messages-qos1", "100")
    figs = {k: int(v) for k, v in FIG.findall(r.stdout)}
    assert figs.get("load_clients") == 8, r.stdout + r.stderr
    assert figs.get("load_ok") == 1 and "error in" not in r.stdout, r.stdout + r.stderr


def test_budget_picow_4_clients_retained_and_qos1_without_memory_error():
    out, figs = figures("picow")
    assert figs["load_ok"] == 1 and figs["load_ok_rom"] == 1, out
    assert "error in" not in out, out


@pytest.mark.parametrize("model", ["esp32", "picow"])
def test_budget_idle_client_at_most_2k(model):
    out, figs = figures(model)
    assert figs["client_bytes"] <= 2048, out


@pytest.mark.parametrize("model", ["esp32", "picow"])
def test_budget_steady_state_growth_at_most_1k(model):
    out, figs = figures(model)
    assert figs["steady_qos0"] <= 1024, out
    assert figs["steady_qos1"] <= 1024, out
