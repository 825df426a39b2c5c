"""Test certificates made with the openssl command line (tests/ is on sys.path through
tests/conftest.py). Names are paths in a folder without the .crt / .key ending."""

import os
import shutil
import subprocess

OPENSSL = shutil.which("openssl")
SERVER_EXT = "subjectAltName=IP:127.0.0.1,DNS:localhost\n"  # the broker on loopback


def openssl(d, *args):
    """Run the openssl command in folder d (asserts success)."""
    r = subprocess.run([OPENSSL or "openssl"] + list(args), cwd=d, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def _newkey(rsa):
    return ["-newkey", "rsa:2048"] if rsa else \
        ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]


def make_ca(d, name, subject=None):
    """A self-signed EC P-256 CA name.crt / name.key in d (subject: /CN=name by default)."""
    openssl(d, "req", "-x509", *_newkey(False), "-nodes", "-keyout", name + ".key",
            "-out", name + ".crt", "-days", "2", "-subj", subject or "/CN=%s" % name)


def make_signed(d, ca, name, subject, ext=None, rsa=False):
    """name.crt / name.key in d signed by the CA ca; ext: x509 extensions text (SERVER_EXT
    for a server), rsa: an RSA 2048 key instead of EC P-256."""
    openssl(d, "req", *_newkey(rsa), "-nodes", "-keyout", name + ".key", "-out",
            name + ".csr", "-subj", subject)
    args = ["x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
            "-CAcreateserial", "-out", name + ".crt", "-days", "2"]
    if ext:
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext)
        args += ["-extfile", name + ".ext"]
    openssl(d, *args)


def make_device_certs(d):
    """In d: CA "ca", a server certificate for 127.0.0.1 / localhost, client certificates
    CN device1 and device2, and "rogue" (CN device1) from "rogue_ca", a CA the broker does
    not trust; returns their paths by name."""
    make_ca(d, "ca")
    make_ca(d, "rogue_ca")
    make_signed(d, "ca", "server", "/CN=localhost", SERVER_EXT)
    make_signed(d, "ca", "device1", "/CN=device1")
    make_signed(d, "ca", "device2", "/CN=device2")
    make_signed(d, "rogue_ca", "rogue", "/CN=device1")
    return {k: os.path.join(d, k)
            for k in ("ca", "rogue_ca", "server", "device1", "device2", "rogue")}
