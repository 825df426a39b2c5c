"""Password files in mosquitto_passwd format: parse the text, verify passwords (sans-I/O).

Each line is `username:HASH`; blank lines and lines starting with '#' are skipped.
HASH formats (salt and hash in standard base64):

  $7$ITER$SALT$HASH   PBKDF2-HMAC-SHA512, 64-byte hash (mosquitto 2.0 default)
  $6$SALT$HASH        SHA-512 of password + salt, one round (mosquitto 1.6 and earlier)
  $8$ITER$SALT$HASH   PBKDF2-HMAC-SHA256, 32-byte hash: this broker's own format, which
                      MicroPython (hashlib.sha256 only) can verify. mosquitto uses $6$, $7$
                      and $argon2id$, never $8$, and refuses such a line.

$6$ and $7$ need hashlib.sha512: where it is missing (MicroPython) such lines are a load
error naming the line, so a board never starts with users it cannot check.
"""

import hashlib

from core.textfile import FileError, decode

try:
    import binascii
except ImportError:  # pragma: no cover - every supported interpreter has it
    binascii = None

SHA512 = "6"
SHA512_PBKDF2 = "7"
SHA256_PBKDF2 = "8"
FORMATS = (SHA512, SHA512_PBKDF2, SHA256_PBKDF2)
DEFAULT_ITERATIONS = {SHA512_PBKDF2: 101, SHA256_PBKDF2: 1000}  # 101: mosquitto's choice
SALT_BYTES = 12  # as mosquitto_passwd
MAX_ITERATIONS = 10000000  # a bigger count in a file is a typo or an attack on start-up time

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

# Feature probes, not interpreter checks.
HAVE_SHA512 = hasattr(hashlib, "sha512")
_pbkdf2 = getattr(hashlib, "pbkdf2_hmac", None)


class PasswdError(FileError):
    """A bad password file line: str(e) is "FILE:LINE: REASON"."""


def _bytes(s):
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


def b64decode(s):
    """Strict standard base64 (with = padding) to bytes; ValueError otherwise."""
    if not s or len(s) % 4:
        raise ValueError("bad base64 length")
    body = s.rstrip("=")
    if len(s) - len(body) > 2:
        raise ValueError("bad base64 padding")
    for c in body:
        if c not in _B64:
            raise ValueError("bad base64 character %r" % c)
    return binascii.a2b_base64(s)


def b64encode(b):
    """Standard base64 text of b, without a newline."""
    return binascii.b2a_base64(b).decode().strip()


def consttime_eq(a, b):
    """Compare two byte strings in time that does not depend on where they differ."""
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= a[i] ^ b[i]
    return r == 0


def _pads(hfunc, block, key):
    """HMAC's (RFC 2104) inner and outer padded keys for key."""
    key = _bytes(key)
    if len(key) > block:
        key = hfunc(key).digest()
    key = key + b"\x00" * (block - len(key))
    return bytes([c ^ 0x36 for c in key]), bytes([c ^ 0x5C for c in key])


def hmac_digest(hfunc, block, key, msg):
    """HMAC (RFC 2104) with hash constructor hfunc of the given block size."""
    ipad, opad = _pads(hfunc, block, key)
    return hfunc(opad + hfunc(ipad + _bytes(msg)).digest()).digest()


def _pbkdf2_hand(hfunc, block, password, salt, iterations, dklen):
    """PBKDF2 (RFC 8018) with HMAC of hfunc, for platforms without hashlib.pbkdf2_hmac."""
    ipad, opad = _pads(hfunc, block, password)
    out = b""
    i = 1
    while len(out) < dklen:
        u = hfunc(opad + hfunc(ipad + salt + i.to_bytes(4, "big")).digest()).digest()
        n = len(u)
        acc = int.from_bytes(u, "big")  # XOR as one big integer: far faster than per byte
        for _ in range(iterations - 1):
            u = hfunc(opad + hfunc(ipad + u).digest()).digest()
            acc ^= int.from_bytes(u, "big")
        out += acc.to_bytes(n, "big")
        i += 1
    return out[:dklen]


def pbkdf2(name, password, salt, iterations, dklen):
    """PBKDF2-HMAC with hash "sha256" or "sha512"; hashlib's when present, else ours."""
    if _pbkdf2 is not None:
        return _pbkdf2(name, _bytes(password), bytes(salt), iterations, dklen)
    hfunc = getattr(hashlib, name, None)
    if hfunc is None:
        raise ValueError("hashlib has no %s on this platform" % name)
    return _pbkdf2_hand(hfunc, 128 if name == "sha512" else 64, password, bytes(salt),
                        iterations, dklen)


def supported(fmt):
    """True when this platform can verify (and make) hashes of format fmt."""
    if fmt == SHA256_PBKDF2:
        return True
    if fmt in (SHA512, SHA512_PBKDF2):
        return HAVE_SHA512
    return False


def make_hash(password, fmt, salt, iterations=None):
    """The HASH field for password in format fmt with the given salt bytes."""
    if not supported(fmt):
        raise ValueError("hash format $%s$ cannot be made on this platform" % fmt)
    pw = _bytes(password)
    salt = bytes(salt)
    if fmt == SHA512:
        return "$6$%s$%s" % (b64encode(salt), b64encode(hashlib.sha512(pw + salt).digest()))
    if iterations is None:
        iterations = DEFAULT_ITERATIONS[fmt]
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise ValueError("iterations must be between 1 and %d" % MAX_ITERATIONS)
    name, n = ("sha512", 64) if fmt == SHA512_PBKDF2 else ("sha256", 32)
    return "$%s$%d$%s$%s" % (fmt, iterations, b64encode(salt),
                             b64encode(pbkdf2(name, pw, salt, iterations, n)))


class Entry:
    """One user's stored hash, decoded."""

    def __init__(self, fmt, iterations, salt, digest):
        self.fmt = fmt
        self.iterations = iterations
        self.salt = salt
        self.digest = digest

    def check(self, password):
        """True when password (bytes or str) hashes to the stored digest."""
        pw = _bytes(password)
        if self.fmt == SHA512:
            got = hashlib.sha512(pw + self.salt).digest()
        elif self.fmt == SHA512_PBKDF2:
            got = pbkdf2("sha512", pw, self.salt, self.iterations, len(self.digest))
        else:
            got = pbkdf2("sha256", pw, self.salt, self.iterations, len(self.digest))
        return consttime_eq(got, self.digest)


def parse_hash(h):
    """Decode a HASH field into an Entry; ValueError says what is wrong."""
    if not h.startswith("$"):
        raise ValueError("password is not hashed (plain text?): hash the file with "
                         "tools/passwd.py -U")
    parts = h.split("$")
    fmt = parts[1]
    if fmt not in FORMATS:
        if fmt.startswith("argon2"):
            raise ValueError("hash format $%s$ is not supported: use $7$ (or $8$ for "
                             "MicroPython)" % fmt)
        raise ValueError("unknown hash format $%s$" % fmt)
    if not supported(fmt):
        raise ValueError("hash format $%s$ needs SHA-512, which this platform lacks: "
                         "make the file with tools/passwd.py --sha256" % fmt)
    if fmt == SHA512:
        if len(parts) != 4:
            raise ValueError("$6$ hash must be $6$SALT$HASH")
        iterations = 1
        salt_s, hash_s = parts[2], parts[3]
        size = 64
    else:
        if len(parts) != 5:
            raise ValueError("$%s$ hash must be $%s$ITERATIONS$SALT$HASH" % (fmt, fmt))
        it = parts[2]
        if not it or [c for c in it if c not in "0123456789"]:
            raise ValueError("iteration count '%s' is not a number" % it)
        iterations = int(it)
        if not 1 <= iterations <= MAX_ITERATIONS:
            raise ValueError("iteration count %d is not between 1 and %d"
                             % (iterations, MAX_ITERATIONS))
        salt_s, hash_s = parts[3], parts[4]
        size = 64 if fmt == SHA512_PBKDF2 else 32
    try:
        salt = b64decode(salt_s)
    except ValueError:
        raise ValueError("salt '%s' is not valid base64" % salt_s)
    try:
        digest = b64decode(hash_s)
    except ValueError:
        raise ValueError("hash is not valid base64")
    if len(digest) != size:
        raise ValueError("hash is %d bytes, $%s$ needs %d" % (len(digest), fmt, size))
    return Entry(fmt, iterations, salt, digest)


class Passwords:
    """The users of a password file: check(username, password) -> bool."""

    def __init__(self):
        self.users = {}  # username -> Entry

    def __len__(self):
        return len(self.users)

    def check(self, username, password):
        """True when username is in the file and password (bytes or None) matches."""
        e = self.users.get(username)
        if e is None or password is None:
            return False
        return e.check(password)


def parse_passwd(text, filename="password_file"):
    """Parse password file text (str or UTF-8 bytes) into Passwords; PasswdError if bad."""
    text = decode(text, filename, PasswdError)
    p = Passwords()
    first = {}
    lineno = 0
    for line in text.split("\n"):
        lineno += 1
        line = line.rstrip("\r")
        if not line.strip() or line.startswith("#"):
            continue
        i = line.find(":")
        if i < 0:
            raise PasswdError(filename, lineno, "expected username:hash, there is no ':'")
        user, h = line[:i], line[i + 1:].strip()
        if not user:
            raise PasswdError(filename, lineno, "empty username")
        if user in first:
            raise PasswdError(filename, lineno, "user '%s' is already defined at line %d"
                              % (user, first[user]))
        try:
            p.users[user] = parse_hash(h)
        except ValueError as e:
            raise PasswdError(filename, lineno, "user '%s': %s" % (user, e.args[0]))
        first[user] = lineno
    return p
