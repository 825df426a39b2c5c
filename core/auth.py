"""Login checks against a password file, with failed-login logging and a per-address brake.

install(broker, passwords, acl) sets broker.auth and broker.acl; a port calls it at start
and again after re-reading the files (SIGHUP): connections stay, new rules apply at once.
"""

from core import clock
from core.const import const
from core.names import ACCEPTED, NOT_AUTHORIZED

# CONNACK code for a wrong username or password. mosquitto 2.0.11 sends 5 (not 4, "bad user
# name or password") for MQTT 3.1.1 clients; we answer as it does.
BAD_LOGIN = NOT_AUTHORIZED

FAIL_LIMIT = 5  # this many failed logins from one address ...
FAIL_WINDOW_MS = 60000  # ... within this time ...
BLOCK_MS = 30000  # ... refuse that address (CONNACK 5, password not checked) this long
MAX_TRACKED = 4096  # addresses remembered; beyond it stale ones are forgotten

# an address's failures (Auth.fails): [first failure ms, failures, blocked since ms or None]
_FAIL_FIRST = const(0)
_FAIL_COUNT = const(1)
_FAIL_BLOCKED = const(2)


class Auth:
    """broker.auth: (conn, username, password) -> CONNACK return code."""

    def __init__(self, broker, passwords):
        self.b = broker
        self.passwords = passwords
        self.fails = {}  # ip -> an address's failures (_FAIL_*)

    def __call__(self, conn, username, password):
        b = self.b
        ip = conn.ip
        st = self.fails.get(ip)
        if st is not None and st[_FAIL_BLOCKED] is not None:
            if clock.diff(b.now, st[_FAIL_BLOCKED]) < BLOCK_MS:
                b.log("notice", "Refused login of client '%s' from %s: too many failed "
                      "logins from this address." % (conn.client_id, ip))
                _denied(b, conn, "too many failed logins from this address")
                return NOT_AUTHORIZED
            del self.fails[ip]
            st = None
        if username is None:
            if b.cfg.allow_anonymous:
                return ACCEPTED
            _denied(b, conn, "anonymous clients are not allowed")
            return NOT_AUTHORIZED
        if self.passwords.check(username, password):
            return ACCEPTED  # failures are not forgiven: a valid account must not reset them
        why = "unknown user" if username not in self.passwords.users else \
            ("no password" if password is None else "wrong password")
        b.log("notice", "Failed login of client '%s' from %s as user '%s': %s."
              % (conn.client_id, ip, username, why))
        _denied(b, conn, why)
        self._failed(ip, st)
        return BAD_LOGIN

    def _failed(self, ip, st):
        now = self.b.now
        if st is None or clock.diff(now, st[_FAIL_FIRST]) > FAIL_WINDOW_MS:
            if st is None and len(self.fails) >= MAX_TRACKED:
                self._prune(now)
            st = [now, 0, None]
            self.fails[ip] = st
        st[_FAIL_COUNT] += 1
        if st[_FAIL_COUNT] >= FAIL_LIMIT:
            st[_FAIL_BLOCKED] = now
            self.b.log("warning", "Address %s had %d failed logins within %d s: refusing it "
                       "for %d s." % (ip, st[_FAIL_COUNT], FAIL_WINDOW_MS // 1000,
                                      BLOCK_MS // 1000))

    def _prune(self, now):
        for ip in list(self.fails):
            st = self.fails[ip]
            if st[_FAIL_BLOCKED] is None and clock.diff(now, st[_FAIL_FIRST]) > FAIL_WINDOW_MS:
                del self.fails[ip]
            elif st[_FAIL_BLOCKED] is not None and \
                    clock.diff(now, st[_FAIL_BLOCKED]) >= BLOCK_MS:
                del self.fails[ip]
        if len(self.fails) >= MAX_TRACKED:
            self.fails.clear()  # a flood of addresses: start over rather than grow


def _denied(b, conn, why):
    """Tell the event observer (capture) that a login failed."""
    if b.events is not None:
        b.events.denied(conn, "login", None, why)


def install(broker, passwords=None, acl=None):
    """Use passwords (core.passwd.Passwords or None) and acl (core.acl.Acl or None)."""
    if passwords is None:
        broker.auth = None
    elif isinstance(broker.auth, Auth):
        broker.auth.passwords = passwords  # keep the failure counts across a reload
    else:
        broker.auth = Auth(broker, passwords)
    broker.acl = acl


class SecurityError(Exception):
    """A password or ACL file cannot be read or parsed (the message names file and line)."""


def load(cfg, read):
    """(Passwords or None, Acl or None) from the files cfg names; read(path) gives bytes.

    Raises SecurityError for an unreadable or bad file.
    """
    from core.acl import AclError, parse_acl
    from core.passwd import PasswdError, parse_passwd
    passwords = acl = None
    path = cfg.password_file
    try:
        if path is not None:
            passwords = parse_passwd(_read(read, path, "password_file"), path)
        path = cfg.acl_file
        if path is not None:
            acl = parse_acl(_read(read, path, "acl_file"), path)
    except (PasswdError, AclError) as e:
        raise SecurityError(str(e))
    return passwords, acl


def _read(read, path, what):
    try:
        return read(path)
    except OSError as e:
        raise SecurityError("Unable to open %s %s: %s" % (what, path, e.args[-1] if e.args else e))
