"""tools/memprobe32.mjs on MicroPython's webassembly port, a 32-bit VM like a board's: it
completes for both board models and both ways of holding the code, and the started broker
with its code in ROMFS leaves the issue's 60 KB free on the ESP32's 96 KB heap."""

import os
import re
import shutil
import subprocess

import pytest

from mpbroker import ROOT

FIG = re.compile(r"^FIG (\w+) (-?\d+)$", re.M)
MODEL_HEAP = {"esp32": 96 * 1024, "picow": 128 * 1024}
_cache = {}


def figures(model):
    if model not in _cache:
        node = shutil.which("node")
        assert node, "node not found: tools/test.sh installs it"
        env = dict(os.environ)
        env["PATH"] = os.path.join(ROOT, ".venv", "bin") + os.pathsep + env.get("PATH", "")
        r = subprocess.run([node, os.path.join(ROOT, "tools", "memprobe32.mjs"), "--model", model],
                           cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        _cache[model] = (r.stdout, {k: int(v) for k, v in FIG.findall(r.stdout)})
    return _cache[model]


@pytest.mark.parametrize("model", ["esp32", "picow"])
def test_memprobe32_measures_code_in_files_and_in_romfs_on_the_model_heap(model):
    out, figs = figures(model)
    for t in ("", "_rom"):
        # the model's heap was used and never had to grow (this port can add heap areas)
        assert MODEL_HEAP[model] - 4096 <= figs["heap_total32" + t] <= MODEL_HEAP[model], out
        assert figs["heap_grown32" + t] == 0, out
        assert figs["used32" + t] + figs["free32" + t] == figs["heap_total32" + t], out
    # each run imported the broker from where it says
    assert "core.broker from /lib/core/broker.mpy (files)" in out, out
    assert "core.broker from /rom/core/broker.mpy (rom)" in out, out
    # bytecode run in place from ROMFS is not copied into the heap
    assert 0 < figs["used32_rom"] < figs["used32"], out


@pytest.mark.parametrize("model", ["esp32", "picow"])
def test_budget_60k_free_after_start_on_32_bit_with_code_in_romfs(model):
    out, figs = figures(model)
    assert figs["free32_rom"] >= 60 * 1024, out
