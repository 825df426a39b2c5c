"""The MicroPython port enforces password_file ($8$ format) and acl_file like the CPython one."""

import os
import subprocess
import sys

import paho.mqtt.client as mqtt

from mpbroker import ROOT


def _passwd_file(tmp_path):
    path = str(tmp_path / "passwd")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "passwd.py"), "--sha256",
                    "-I", "50", "-c", "-b", path, "alice", "s3cret"], check=True, timeout=30)
    return path


def _connack(port, user, password):
    """CONNACK return code paho receives for user/password (None: no answer)."""
    got = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sec-" + (user or "anon"),
                    protocol=mqtt.MQTTv311)
    if user is not None:
        c.username_pw_set(user, password)
    c.on_connect = lambda cl, ud, flags, rc, props: got.append(rc.value)
    c.connect("127.0.0.1", port, 10)
    for _ in range(50):
        c.loop(timeout=0.1)
        if got:
            break
    c.disconnect()
    return got[0] if got else None


def test_password_file_accepts_right_password_and_refuses_others(mp_broker_factory, tmp_path):
    pw = _passwd_file(tmp_path)
    b = mp_broker_factory("listener {port} 127.0.0.1\npassword_file %s\n" % pw)
    assert _connack(b.port, "alice", "s3cret") == 0
    # paho reports the 3.1.1 return code 5 as reason code 135, "Not authorized"
    assert _connack(b.port, "alice", "wrong") == 135
    assert _connack(b.port, None, None) == 135  # allow_anonymous is false with a listener
    assert "Traceback" not in b.log()


def test_bad_password_file_stops_the_port_with_file_and_line(mp_broker_factory, tmp_path):
    path = str(tmp_path / "passwd")
    with open(path, "w") as f:
        f.write("alice:$8$notbase64\n")
    b = mp_broker_factory("listener {port} 127.0.0.1\npassword_file %s\n" % path, wait=False)
    b.proc.wait(timeout=30)
    assert b.proc.returncode == 1
    assert path + ":1:" in b.log()


def test_missing_password_file_stops_the_port_with_the_reason(mp_broker_factory, tmp_path):
    path = str(tmp_path / "missing")
    b = mp_broker_factory("listener {port} 127.0.0.1\npassword_file %s\n" % path, wait=False)
    b.proc.wait(timeout=30)
    assert b.proc.returncode == 1
    # as the CPython port (strerror), not MicroPython's bare errno ("...: 2")
    assert "Unable to open password_file %s: No such file or directory" % path in b.log(), \
        b.log()
