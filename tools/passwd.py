"""Manage broker password files, like mosquitto_passwd.

Usage: passwd.py [-H sha512-pbkdf2|sha512 | --sha256] [-I ITERATIONS] [-c | -D] FILE USER
       passwd.py [-H ... | --sha256] [-I ITERATIONS] [-c] -b FILE USER PASSWORD
       passwd.py [-H ... | --sha256] -U FILE

 -b : batch mode, the password is given on the command line.
 -c : create a new file (overwrites an existing one); FILE '-' writes to stdout.
 -D : delete USER.
 -U : hash the plain-text passwords of FILE in place (lines already hashed are kept).
 -H : sha512-pbkdf2 ($7$, the default, as mosquitto 2.0) or sha512 ($6$, mosquitto 1.6).
 --sha256 : PBKDF2-HMAC-SHA256 ($8$), the format the MicroPython port can verify.
 -I : PBKDF2 iterations (default 101 for $7$ as mosquitto, 1000 for $8$).
"""

import getpass
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from core import passwd  # noqa: E402

_HASHES = {"sha512-pbkdf2": passwd.SHA512_PBKDF2, "sha512": passwd.SHA512}


class Usage(Exception):
    """Bad command line: the message is printed before the usage text."""


def parse_args(argv):
    """Options dict from argv; Usage on error."""
    o = {"fmt": passwd.SHA512_PBKDF2, "iterations": None, "create": False, "delete": False,
         "batch": False, "upgrade": False, "args": []}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-H":
            i += 1
            if i >= len(argv) or argv[i] not in _HASHES:
                raise Usage("Error: -H needs sha512-pbkdf2 or sha512.")
            o["fmt"] = _HASHES[argv[i]]
        elif a == "--sha256":
            o["fmt"] = passwd.SHA256_PBKDF2
        elif a == "-I":
            i += 1
            try:
                o["iterations"] = int(argv[i])
            except (IndexError, ValueError):
                o["iterations"] = 0
            if not 1 <= o["iterations"] <= passwd.MAX_ITERATIONS:
                raise Usage("Error: -I needs an iteration count between 1 and %d."
                            % passwd.MAX_ITERATIONS)
        elif a == "-c":
            o["create"] = True
        elif a == "-D":
            o["delete"] = True
        elif a == "-b":
            o["batch"] = True
        elif a == "-U":
            o["upgrade"] = True
        elif a in ("-h", "--help"):
            raise Usage("")
        elif a.startswith("-") and a != "-":
            raise Usage("Error: unknown option '%s'." % a)
        else:
            o["args"].append(a)
        i += 1
    n = len(o["args"])
    if o["create"] and o["delete"]:
        raise Usage("Error: -c and -D cannot be used together.")
    if o["upgrade"]:
        if o["create"] or o["delete"] or o["batch"] or n != 1:
            raise Usage("Error: -U takes only a password file.")
    elif o["delete"]:
        if o["batch"] or n != 2:
            raise Usage("Error: -D needs a password file and a username.")
    elif n != (3 if o["batch"] else 2):
        raise Usage("Error: expected a password file, a username%s."
                    % (" and a password" if o["batch"] else ""))
    if o["iterations"] is not None and o["fmt"] == passwd.SHA512:
        raise Usage("Error: -I does not apply to -H sha512 (one round).")
    if n >= 2 and (":" in o["args"][1] or not o["args"][1]):
        raise Usage("Error: a username must not be empty or contain ':'.")
    return o


def hash_password(pw, o):
    """The stored form of pw with a fresh random salt."""
    return passwd.make_hash(pw, o["fmt"], os.urandom(passwd.SALT_BYTES), o["iterations"])


def read_lines(path):
    """Lines of the password file (without line ends)."""
    with open(path, "r", encoding="utf-8") as f:
        return f.read().splitlines()


def write_lines(path, lines):
    """Replace the file atomically; '-' writes to stdout."""
    text = "".join(l + "\n" for l in lines)
    if path == "-":
        sys.stdout.write(text)
        return
    tmp = "%s.tmp%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        if os.path.exists(path):
            os.chmod(tmp, os.stat(path).st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _user_of(line):
    if not line.strip() or line.startswith("#") or ":" not in line:
        return None
    return line.split(":", 1)[0]


def ask_password():
    """Read a password twice from the terminal; ValueError when they differ."""
    a = getpass.getpass("Password: ")
    b = getpass.getpass("Reenter password: ")
    if a != b:
        raise ValueError("Passwords do not match.")
    return a


def run(o):
    """Carry out the command; returns the exit code."""
    path = o["args"][0]
    if o["upgrade"]:
        lines = read_lines(path)
        done = 0
        for i, line in enumerate(lines):
            user = _user_of(line)
            if user is None:
                continue
            stored = line.split(":", 1)[1].strip()
            try:
                passwd.parse_hash(stored)
                continue  # already hashed: hashing it again would lock the user out
            except ValueError:
                if stored.startswith("$") and stored.split("$")[1] in passwd.FORMATS:
                    raise ValueError("%s:%d: user '%s' has a damaged hash; not upgrading"
                                     % (path, i + 1, user))
            lines[i] = "%s:%s" % (user, hash_password(stored, o))
            done += 1
        write_lines(path, lines)
        sys.stderr.write("%d password(s) hashed.\n" % done)
        return 0
    user = o["args"][1]
    if o["delete"]:
        lines = read_lines(path)
        kept = [l for l in lines if _user_of(l) != user]
        if len(kept) == len(lines):
            sys.stderr.write("Warning: user %s not found in %s.\n" % (user, path))
            return 1
        write_lines(path, kept)
        return 0
    pw = o["args"][2] if o["batch"] else ask_password()
    entry = "%s:%s" % (user, hash_password(pw, o))
    if o["create"]:
        lines = [entry]
    else:
        lines = read_lines(path)
        found = False
        for i, l in enumerate(lines):
            if _user_of(l) == user:
                lines[i] = entry
                found = True
        if not found:
            lines.append(entry)
    write_lines(path, lines)
    return 0


def main(argv=None):
    """Entry point; returns the exit code."""
    try:
        o = parse_args(sys.argv[1:] if argv is None else argv)
    except Usage as e:
        if str(e):
            sys.stderr.write("%s\n\n" % e)
        sys.stderr.write(__doc__)
        return 1
    try:
        return run(o)
    except OSError as e:
        sys.stderr.write("Error: %s: %s\n" % (getattr(e, "filename", None) or "",
                                             e.strerror or e))
        return 1
    except ValueError as e:
        sys.stderr.write("Error: %s\n" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
