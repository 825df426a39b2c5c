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


V5 = "# MQTT 5.0 Server-side conformance coverage"  # the heading of the 5.0 part


def _rows(v5=False):
    """(id, tests cell) of the 3.1.1 tables, or of the MQTT 5.0 table when v5."""
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    v311, _, v50 = text.partition("\n" + V5 + "\n")
    return re.findall(r"^\| (MQTT-[\d.]+-\d+) \| [^|]+ \| (.+) \|$", v50 if v5 else v311,
                      re.M)


def test_every_test_the_coverage_table_names_exists():
    names = _test_names()
    missing = []
    for sid, cell in _rows() + _rows(True):
        for t in re.findall(r"`(test_\w+)`", cell):
            if t not in names:
                missing.append((sid, t))
    assert missing == []


def _covered(rows):
    """The ids of rows whose tests cover them."""
    covered = set()
    prev = False
    for sid, cell in rows:
        # "same as above": the row before's tests cover this statement too
        prev = ("`test_" in cell and not cell.startswith("not ")) or \
            (cell.startswith("same as above") and prev)
        if prev:
            covered.add(sid)
    return covered


def test_readme_covered_list_is_the_table_rows_that_name_tests():
    covered = _covered(_rows())
    with open(README, encoding="utf-8") as f:
        text = f.read()
    listed = re.search(r"^Covered: (.+)\.$", text, re.M).group(1).split(", ")
    assert sorted(listed) == sorted(covered)
    n = re.search(r"maps the (\d+) statements to tests \((\d+)\s+covered", text)
    assert (int(n.group(1)), int(n.group(2))) == (len(_rows()), len(covered))


def _key(sid):
    """Sort key of an id: MQTT-3.10.4-2 -> (3, 10, 4, 2)."""
    return tuple(int(x) for x in re.split(r"[.-]", sid[5:]))


def test_readme_mqtt5_covered_list_is_the_5_0_table_rows_that_name_tests():
    rows = _rows(True)
    covered = _covered(rows)
    with open(README, encoding="utf-8") as f:
        text = f.read()
    listed = re.search(r"^Covered \(MQTT 5\.0\): (.+)\.$", text, re.M).group(1).split(", ")
    assert sorted(listed) == sorted(covered)
    n = re.search(r"lists (\d+) MQTT 5\.0 statements with their tests \((\d+)\s+covered", text)
    assert (int(n.group(1)), int(n.group(2))) == (len(rows), len(covered))


def test_the_5_0_table_is_sorted_by_id_without_repeats():
    ids = [sid for sid, _ in _rows(True)]
    assert ids, "no MQTT 5.0 rows"
    keys = [_key(i) for i in ids]
    assert keys == sorted(set(keys))
