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


# MQTT 5.0's numbered statements (its Appendix B, 251): each section with the first and
# last number of its statements
V5_STATEMENTS = """1.5.4-1..3 1.5.5-1 1.5.7-1 2.1.3-1 2.2.1-2..6 2.2.2-1 3.1.0-1..2 3.1.2-1..30
3.1.3-1..12 3.1.4-1..6 3.2.0-1..2 3.2.2-1..22 3.3.1-1..13 3.3.2-1..20 3.3.4-1..10 3.4.2-1..3
3.5.2-1..3 3.6.1-1 3.6.2-1..3 3.7.2-1..3 3.8.1-1 3.8.3-1..5 3.8.4-1..8 3.9.2-1..2 3.9.3-1..2
3.10.1-1 3.10.3-1..2 3.10.4-1..6 3.11.2-1..2 3.11.3-1..2 3.12.4-1 3.14.0-1 3.14.1-1
3.14.2-1..4 3.14.4-1..3 3.15.1-1 3.15.2-1..3 4.1.0-1..2 4.2.0-1 4.3.1-1 4.3.2-1..5
4.3.3-1..13 4.4.0-1..2 4.5.0-1..2 4.6.0-1..6 4.7.0-1 4.7.1-1..2 4.7.2-1 4.7.3-1..4 4.8.2-1..6
4.9.0-1..3 4.12.0-1..7 4.12.1-1..2 4.13.1-1 4.13.2-1 6.0.0-1..4"""


def _ids(spec):
    """The ids of V5_STATEMENTS-style text: "3.1.0-1..2" is MQTT-3.1.0-1 and MQTT-3.1.0-2."""
    out = []
    for item in spec.split():
        sec, _, nums = item.partition("-")
        first, _, last = nums.partition("..")
        out += ["MQTT-%s-%d" % (sec, n) for n in range(int(first), int(last or first) + 1)]
    return out


def test_every_5_0_statement_has_a_row_or_is_listed_client_only():
    spec = _ids(V5_STATEMENTS)
    assert len(spec) == 251
    rows = [sid for sid, _ in _rows(True)]
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    client = text.partition("\n## Client-only statements of MQTT 5.0")[2]
    listed = []
    for a, b in re.findall(r"^- (MQTT-[\d.]+-\d+)(?: to (MQTT-[\d.]+-\d+))?:", client, re.M):
        listed += [a] if not b else _ids("%s..%s" % (a[5:], b.rpartition("-")[2]))
    assert sorted(rows + listed, key=_key) == sorted(spec, key=_key)
