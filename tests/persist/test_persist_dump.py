"""tools/persist_dump.py prints a persistence file written by the store, and says where a
damaged one stops."""

import os
import subprocess
import sys

import mqttc
from harness import Harness
from mqttc import props
from core.persist.records import LAYOUT
from persist_support import (NAME, Wall, attach, remove, scratch, write_journal,
                             write_props_journal)

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
        assert "queue     'beta' retain=1 qos=2 'a/x' <300 bytes>" in r.stdout
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
        q = "queue     'sub5' retain=0 qos="
        assert q + "1 'm/a' <1 bytes> %s expires-at=1030" % props in r.stdout
        assert q + "1 'm/b' <1 bytes> %s\n" % props in r.stdout
        assert q + "2 'm/c' <1 bytes> props=none expires-at=1005" in r.stdout
        assert "sent      'sub5' 9 seq=1 state=0 retain=0 qos=1 'm/d' <1 bytes> %s " \
            "expires-at=1060" % props in r.stdout
        assert "retain    'r/1' 1 <4 bytes> %s expires-at=4600" % props in r.stdout
        assert "queue     'sub5' retain=0 qos=1 'm/e' <1 bytes>\n" in r.stdout
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


def _v5_journal(d):
    """The journal the engine writes for a v5 client's persistent session: a shared and a
    plain subscription with options and identifiers, its Session Expiry Interval and the
    one its DISCONNECT sets, and the two copies of a message queued for it (one per
    subscription, each with its identifier)."""
    h = Harness()
    st = attach(h, d, Wall(1000))
    c = h.connected5("v5", clean=False, properties=props([(0x11, 100)]))
    assert c.subscribe5([("$share/g/t", 1)], properties=props([(0x0B, 3)])) == [1]
    assert c.subscribe5([("t/#", 2 | 0x04 | 0x08)], pid=2, properties=props([(0x0B, 7)])) == [2]
    c.disconnect5(0, props([(0x11, 40)]))
    h.connected5("p").send(mqttc.publish5("t", b"x", qos=1, pid=1,
                                          properties=props([(0x03, "c")])))
    st.close()
    return os.path.join(d, NAME + ".journal")


def test_dump_prints_subscription_options_identifiers_shared_filters_and_session_expiry():
    d = scratch()
    try:
        r = _dump(_v5_journal(d))
        assert r.returncode == 0, r.stderr
        for line in ("sub5      'v5' '$share/g/t' 1 no-local=0 retain-as-published=0 "
                     "subscription-id=3",
                     "sub5      'v5' 't/#' 2 no-local=1 retain-as-published=1 subscription-id=7",
                     "expiry    'v5' 100", "expiry    'v5' 40",
                     "queue     'v5' retain=0 qos=1 't' <1 bytes> content-type='c' "
                     "subscription-id=3",
                     "queue     'v5' retain=0 qos=1 't' <1 bytes> content-type='c' "
                     "subscription-id=7"):
            assert line in r.stdout, (line, r.stdout)
    finally:
        remove(d)


def test_dump_prints_every_record_kind():
    """Every record type of core/persist/records.py's LAYOUT is in the dumps of the test
    journals and their snapshot by its name (a PROPS record as the properties of the
    record inside it)."""
    seen = set()
    out = ""
    for write in (write_journal, write_props_journal, _v5_journal):
        d = scratch()
        try:
            write(d)
            for name in (NAME, NAME + ".journal"):
                r = _dump(os.path.join(d, name))
                assert r.returncode == 0, r.stderr
                out += r.stdout
                seen.update(line.split()[1] for line in r.stdout.splitlines()[:-1])
        finally:
            remove(d)
    kinds = set(x[0] for x in LAYOUT if x is not None)
    assert seen == kinds - {"props"}, (seen, kinds)
    assert "content-type=" in out and "expires-at=" in out
