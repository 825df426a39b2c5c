"""Topic name and topic filter rules of MQTT (section 4.7)."""

from core.errors import ProtocolError


def check_name(t):
    """Raise ProtocolError unless t is a valid topic name for PUBLISH."""
    if not t:
        raise ProtocolError("empty topic name")
    if "+" in t or "#" in t:
        raise ProtocolError("wildcard in topic name '%s'" % t)


def check_filter(f):
    """Raise ProtocolError unless f is a valid topic filter."""
    if not f:
        raise ProtocolError("empty topic filter")
    if "+" not in f and "#" not in f:
        return
    levels = f.split("/")
    last = len(levels) - 1
    for i in range(len(levels)):
        lv = levels[i]
        if "#" in lv and (lv != "#" or i != last):
            raise ProtocolError("'#' not alone in the last level of filter '%s'" % f)
        if "+" in lv and lv != "+":
            raise ProtocolError("'+' not alone in a level of filter '%s'" % f)


def matches(f, t):
    """True if topic name t matches topic filter f (a leading wildcard skips $ topics)."""
    if t[:1] == "$" and f[:1] in ("+", "#"):
        return False
    fl = f.split("/")
    tl = t.split("/")
    n = len(tl)
    for i in range(len(fl)):
        lv = fl[i]
        if lv == "#":
            return True
        if i >= n:
            return False
        if lv != "+" and lv != tl[i]:
            return False
    return len(fl) == n
