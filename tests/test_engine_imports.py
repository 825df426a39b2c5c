"""The engine (core/*.py) never imports a subsystem (core/capture/, core/persist/, ...):
the ports wire subsystems in at start-up."""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = os.path.join(ROOT, "core")


def _imported(path):
    """Module names path imports anywhere (lazy imports inside functions included)."""
    with open(path, "rb") as f:
        tree = ast.parse(f.read(), path)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names.extend(node.module + "." + a.name for a in node.names)
    return names


def test_no_engine_module_imports_a_subsystem_package():
    subsystems = ["core." + d for d in os.listdir(CORE) if os.path.isdir(os.path.join(CORE, d))
                  and os.path.isfile(os.path.join(CORE, d, "__init__.py"))]
    assert "core.capture" in subsystems
    found = []
    for name in sorted(os.listdir(CORE)):
        if name.endswith(".py"):
            for m in _imported(os.path.join(CORE, name)):
                if [s for s in subsystems if m == s or m.startswith(s + ".")]:
                    found.append((name, m))
    assert not found, found
