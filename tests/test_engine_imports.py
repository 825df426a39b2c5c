"""The engine (core/*.py) never imports a subsystem (core/capture/, core/persist/, ...):
the ports wire subsystems in at start-up."""

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = os.path.join(ROOT, "core")


def _deploy():
    """tools/deploy.py, whose import scan decides what a board gets."""
    spec = importlib.util.spec_from_file_location("deploy", os.path.join(ROOT, "tools", "deploy.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_no_engine_module_imports_a_subsystem_package():
    subsystems = ["core." + d for d in os.listdir(CORE) if os.path.isdir(os.path.join(CORE, d))
                  and os.path.isfile(os.path.join(CORE, d, "__init__.py"))]
    assert "core.capture" in subsystems
    found = []
    imports = _deploy().module_imports
    for name in sorted(os.listdir(CORE)):
        if name.endswith(".py"):
            for m in imports(os.path.join(CORE, name)):
                if [s for s in subsystems if m == s or m.startswith(s + ".")]:
                    found.append((name, m))
    assert not found, found
