"""ACL files in mosquitto's acl_file syntax: parse the text, answer access checks (sans-I/O).

    # comment
    topic read sensors/#          rules before the first `user` line: anonymous clients
    user alice                    the rules below apply to the client logged in as alice
    topic readwrite alice/#       access: read, write, readwrite (the default) or deny
    pattern write devices/%c/#    for every client: %c client id, %u username

A topic is allowed when a rule of the client (its user's rules or the anonymous ones, plus
every pattern) grants the access and no deny rule matches it; anything else is refused.
A pattern naming %u does not apply to a client without a username, and a pattern does not
apply when the substituted id or name holds '+', '#' or '/' (it could widen the rule).
"""

from core.errors import ProtocolError
from core.textfile import FileError, decode
from core.topic import check_filter, matches
from core.names import SUBSCRIBER_SESSION

READ = 1
WRITE = 2
DENY = 4
_ACCESS = {"read": READ, "write": WRITE, "readwrite": READ | WRITE, "deny": DENY}

_CACHE_MAX = 4096  # cached read decisions (per user, client id and topic)


class AclError(FileError):
    """A bad ACL file line: str(e) is "FILE:LINE: REASON"."""


def overlap(a, b):
    """True when some topic name matches both filters a and b."""
    al = a.split("/")
    bl = b.split("/")
    # a leading wildcard never matches a $ topic
    if (al[0][:1] == "$" and bl[0] in ("+", "#")) or (bl[0][:1] == "$" and al[0] in ("+", "#")):
        return False
    n = len(al) if len(al) < len(bl) else len(bl)
    for i in range(n):
        x, y = al[i], bl[i]
        if x == "#" or y == "#":
            return True
        if x != "+" and y != "+" and x != y:
            return False
    if len(al) == len(bl):
        return True
    longer = al if len(al) > len(bl) else bl
    return len(longer) == n + 1 and longer[n] == "#"  # "a/#" also matches "a"


def covers(a, b):
    """True when filter a matches every topic name that filter b matches."""
    al = a.split("/")
    bl = b.split("/")
    if al[0] in ("+", "#") and bl[0][:1] == "$":
        return False
    for i in range(len(bl)):
        if i >= len(al):
            return False
        x, y = al[i], bl[i]
        if x == "#":
            return True
        if y == "#":
            return False
        if x == "+":
            continue
        if y == "+" or x != y:
            return False
    return len(al) == len(bl) or (len(al) == len(bl) + 1 and al[-1] == "#")


class Acl:
    """Parsed ACL file: can_read / can_write / can_subscribe for a client."""

    def __init__(self):
        self.anon = []  # [(access, filter)] for clients without a username
        self.users = {}  # username -> [(access, filter)]
        self.patterns = []  # [(access, filter with %c / %u)]
        self._rules = {}  # (username, client id) -> rules after substitution
        self._read = {}  # (username, client id, topic) -> bool

    def rules(self, username, cid):
        """The (access, filter) rules that apply to a client."""
        key = (username, cid)
        r = self._rules.get(key)
        if r is not None:
            return r
        r = list(self.anon if username is None else self.users.get(username, ()))
        for access, f in self.patterns:
            if "%u" in f:
                if username is None or not _safe(username):
                    continue
                f = f.replace("%u", username)
            if "%c" in f:
                if not cid or not _safe(cid):
                    continue
                f = f.replace("%c", cid)
            r.append((access, f))
        if len(self._rules) >= _CACHE_MAX:
            self._rules.clear()
        self._rules[key] = r
        return r

    def _check(self, username, cid, topic, want):
        ok = False
        for access, f in self.rules(username, cid):
            if matches(f, topic):
                if access == DENY:
                    return False
                if access & want:
                    ok = True
        return ok

    def can_write(self, username, cid, topic):
        """May this client publish to topic (also checked for its will)?"""
        return self._check(username, cid, topic, WRITE)

    def can_read(self, username, cid, topic):
        """May this client receive a message published to topic?"""
        key = (username, cid, topic)
        r = self._read.get(key)
        if r is None:
            r = self._check(username, cid, topic, READ)
            if len(self._read) >= _CACHE_MAX:
                self._read.clear()
            self._read[key] = r
        return r

    def can_subscribe(self, username, cid, f):
        """Refuse a filter no topic of which the client could ever read.

        Granting is not a promise: each delivery is still checked with can_read. Of a
        shared subscription ($share/GROUP/FILTER) its topic filter is checked, as mosquitto.
        """
        if f[:7] == "$share/":
            f = f[f.find("/", 7) + 1:]
        ok = False
        for access, rf in self.rules(username, cid):
            if access == DENY:
                if covers(rf, f):
                    return False
            elif access & READ and not ok and overlap(rf, f):
                ok = True
        return ok

    def readers(self, subs, topic):
        """The (session, qos) pairs of subs whose client may read topic."""
        r = []
        for e in subs:
            s = e[SUBSCRIBER_SESSION]
            if self.can_read(s.username, s.client_id, topic):
                r.append(e)
        return r


def _safe(v):
    return "+" not in v and "#" not in v and "/" not in v


def parse_acl(text, filename="acl_file"):
    """Parse ACL file text (str or UTF-8 bytes) into an Acl; AclError names the bad line."""
    text = decode(text, filename, AclError)
    acl = Acl()
    cur = acl.anon
    lineno = 0
    for line in text.split("\n"):
        lineno += 1
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        i = line.find(" ")
        j = line.find("\t")
        if i < 0 or (0 <= j < i):
            i = j
        if i < 0:
            raise AclError(filename, lineno, "'%s' needs a value" % line)
        word, rest = line[:i], line[i + 1:].strip()
        if word == "user":
            cur = acl.users.get(rest)
            if cur is None:
                cur = []
                acl.users[rest] = cur
            continue
        if word not in ("topic", "pattern"):
            raise AclError(filename, lineno, "unknown keyword '%s': expected topic, pattern "
                           "or user" % word)
        access = READ | WRITE
        parts = rest.split(None, 1)
        if len(parts) == 2 and parts[0] in _ACCESS:
            access = _ACCESS[parts[0]]
            rest = parts[1].strip()
        elif len(parts) == 1 and parts[0] in _ACCESS:
            raise AclError(filename, lineno, "'%s %s' needs a topic" % (word, parts[0]))
        try:
            check_filter(rest)
        except ProtocolError as e:
            raise AclError(filename, lineno, "invalid topic '%s': %s" % (rest, e.args[0]))
        if word == "topic":
            cur.append((access, rest))
        else:
            acl.patterns.append((access, rest))
    return acl
