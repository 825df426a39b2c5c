"""tests/SPEC_COVERAGE.md and the README's covered list stay true to the tests."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "tests", "SPEC_COVERAGE.md")
README = os.path.join(ROOT, "README.md")


def _test_names():
    names = set()
    for d, _, files in os.walk(os.path.join(ROOT, "tests")):
        for f in files:
            if f.endswith(".py"):
                with open(os.path.join(d, f), encoding="utf-8") as fh:
                    names.update(re.findall(r"^\s*def (test_\w+)\(", fh.read(), re.M))
    return names


def _rows():
    with open(DOC, encoding="utf-8") as f:
        return re.findall(r"^\| (MQTT-[\d.]+-\d+) \| [^|]+ \| (.+) \|$", f.read(), re.M)


def test_every_test_the_coverage_table_names_exists():
    names = _test_names()
    missing = []
    for sid, cell in _rows():
        for t in re.findall(r"`(test_\w+)`", cell):
            if t not in names:
                missing.append((sid, t))
    assert missing == []


def test_readme_covered_list_is_the_table_rows_that_name_tests():
    covered = set()
    prev = False
    for sid, cell in _rows():
        # "same as above": the row before's tests cover this statement too
        prev = ("`test_" in cell and not cell.startswith("not ")) or \
            (cell.startswith("same as above") and prev)
        if prev:
            covered.add(sid)
    with open(README, encoding="utf-8") as f:
        text = f.read()
    listed = re.search(r"^Covered: (.+)\.$", text, re.M).group(1).split(", ")
    assert sorted(listed) == sorted(covered)
    n = re.search(r"maps the (\d+) statements to tests \((\d+)\s+covered", text)
    assert (int(n.group(1)), int(n.group(2))) == (len(_rows()), len(covered))
