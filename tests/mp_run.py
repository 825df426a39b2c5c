"""Run plain-assert core tests under MicroPython (or CPython) without pytest.

Usage: micropython -X heapsize=4m tests/mp_run.py tests/core/test_x.py [more files or dirs]
Prints PASS/FAIL per test and ends with "N passed, N failed"; exits 1 if any failed.
"""

import sys
import os

try:
    import traceback  # CPython only
except ImportError:
    traceback = None


def _dirname(path):
    """Directory part of a '/'-separated path ('.' when there is none)."""
    i = path.rfind("/")
    if i < 0:
        return "."
    if i == 0:
        return "/"
    return path[:i]


def _absolute(path):
    """Absolute, normalised form of path (no os.path on MicroPython)."""
    if not path.startswith("/"):
        path = os.getcwd() + "/" + path
    parts = []
    for p in path.split("/"):
        if p == "" or p == ".":
            continue
        if p == "..":
            if parts:
                parts.pop()
        else:
            parts.append(p)
    return "/" + "/".join(parts)


def _is_dir(path):
    """True when path names a directory."""
    try:
        return (os.stat(path)[0] & 0o170000) == 0o040000
    except OSError:
        return False


def _runner_path():
    """This file's path: __file__ may be missing on MicroPython, argv[0] is not."""
    try:
        return __file__
    except NameError:
        return sys.argv[0]


TESTS_DIR = _dirname(_absolute(_runner_path()))
ROOT = _dirname(TESTS_DIR)
CORE_TESTS = TESTS_DIR + "/core"


def _setup_path():
    """Repo root first (so `import core` is the engine, not tests/core), then tests/core."""
    # The script's own directory (tests/) would shadow `core` with tests/core on MicroPython.
    for p in (TESTS_DIR, ROOT, CORE_TESTS):
        while p in sys.path:
            sys.path.remove(p)
    sys.path.insert(0, CORE_TESTS)
    sys.path.insert(0, ROOT)


def _test_files(args):
    """Expand the arguments into test file paths (a directory gives its test_*.py)."""
    files = []
    for a in args:
        if _is_dir(a):
            names = [n for n in os.listdir(a) if n.startswith("test_") and n.endswith(".py")]
            names.sort()
            for n in names:
                files.append(a.rstrip("/") + "/" + n)
        else:
            files.append(a)
    return files


def _print_exc(e):
    """Print a traceback to stdout on either interpreter."""
    if traceback is not None:
        traceback.print_exception(type(e), e, e.__traceback__, file=sys.stdout)
    else:
        sys.print_exception(e, sys.stdout)


def _fail_line(label, e):
    """The FAIL line for test label and exception e."""
    msg = str(e)
    print("FAIL %s: %s: %s" % (label, type(e).__name__, msg))
    _print_exc(e)


def _import(path):
    """Import the test module at path and return it."""
    path = _absolute(path)
    d = _dirname(path)
    name = path[len(d) + 1:]
    if not name.endswith(".py"):
        raise ValueError("not a .py file: " + path)
    name = name[:-3]
    if d not in sys.path:
        sys.path.append(d)
    if name in sys.modules:
        del sys.modules[name]
    return name, __import__(name)


def run_file(path, counts):
    """Run every test_* function of the module at path; update counts [passed, failed]."""
    try:
        name, mod = _import(path)
    except Exception as e:  # an import error fails the whole module
        counts[1] += 1
        _fail_line(path + ":<import>", e)
        return
    names = [n for n in dir(mod) if n.startswith("test_")]
    names.sort()
    for n in names:
        fn = getattr(mod, n)
        if not callable(fn) or isinstance(fn, type):
            continue
        label = name + "." + n
        try:
            fn()
        except Exception as e:
            counts[1] += 1
            _fail_line(label, e)
        else:
            counts[0] += 1
            print("PASS " + label)
        try:
            import gc
            gc.collect()
        except ImportError:
            pass


def main(args):
    """Run the tests named by args and return the exit status."""
    if not args:
        print("usage: mp_run.py tests/core/test_x.py [more files or dirs]")
        return 2
    _setup_path()
    counts = [0, 0]
    for f in _test_files(args):
        run_file(f, counts)
    print("%d passed, %d failed" % (counts[0], counts[1]))
    return 1 if counts[1] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
