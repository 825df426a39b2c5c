"""tools/persist_dump.py prints a persistence file written by the store, and says where a
damaged one stops."""

import os
import subprocess
import sys

from persist_support import NAME, remove, scratch, write_journal, write_props_journal

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "tools", "persist_dump.py")


def _dump(path, *flags):
    return subprocess.run([sys.executable, TOOL] + list(flags) + [path], capture_output=True,
                          text=True, timeout=30)


def test_dump_lists_every_record_of_a_journal_and_its_fields():
    d = scratch()
    try:
        write_journal(d)
        r = _dump(os.path.join(d, NAME + ".journal"))
        assert r.returncode == 0, r.stderr
        out = r.stdout.splitlines()
        assert out[0].split() == ["5", "header", "journal", "1", "1000"]
        assert "start     'alpha' 1 seq=1 state=0 retain=0 qos=1" in r.stdout
        assert "queue     'beta' 6 'a/x' <300 bytes>" in r.stdout
        assert "sent      'beta' 7 seq=1 state=0 retain=0 qos=2 'a/x' <2 bytes>" in r.stdout
        assert "q2msg     'alpha' 5 1 'q/5' <4 bytes>" in r.stdout
        assert out[-1].startswith("25 records, ")
        p = _dump(os.path.join(d, NAME + ".journal"), "--payloads")
        assert "retain    'r/1' 1 b'one'" in p.stdout
        snap = _dump(os.path.join(d, NAME))
        assert snap.returncode == 0 and "header    snapshot" in snap.stdout
    finally:
        remove(d)


def test_dump_prints_a_messages_mqtt5_properties_and_when_its_expiry_ends():
    d = scratch()
    try:
        write_props_journal(d)
        r = _dump(os.path.join(d, NAME + ".journal"))
        assert r.returncode == 0, r.stderr
        props = ("payload-format=1 content-type='text/plain' response-topic='reply' "
                 "correlation-data=b'\\x00\\xffz' user='k':'v1' user='k':'v2'")
        assert "queue     'sub5' 1 'm/a' <1 bytes> %s expires-at=1030" % props in r.stdout
        assert "queue     'sub5' 1 'm/b' <1 bytes> %s\n" % props in r.stdout
        assert "queue     'sub5' 2 'm/c' <1 bytes> props=none expires-at=1005" in r.stdout
        assert "sent      'sub5' 9 seq=1 state=0 retain=0 qos=1 'm/d' <1 bytes> %s " \
            "expires-at=1060" % props in r.stdout
        assert "retain    'r/1' 1 <4 bytes> %s expires-at=4600" % props in r.stdout
        assert "queue     'sub5' 1 'm/e' <1 bytes>\n" in r.stdout
    finally:
        remove(d)


def test_dump_of_a_cut_journal_ends_with_the_damage_and_exit_1():
    d = scratch()
    try:
        write_journal(d)
        p = os.path.join(d, NAME + ".journal")
        with open(p, "rb") as f:
            data = f.read()
        with open(p, "wb") as f:
            f.write(data[:100])
        r = _dump(p)
        assert r.returncode == 1
        assert r.stdout.splitlines()[-1] == \
            "offset 88: damaged: record of 14 bytes cut short at 4 (12 bytes not shown)"
    finally:
        remove(d)
