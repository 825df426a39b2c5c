"""Print a persistence file (snapshot or journal) as text, like mosquitto_db_dump.

Usage: persist_dump.py [--payloads] FILE
One line per record: its offset, type and fields; payloads as their length unless
--payloads (then as Python bytes literals); a message's MQTT 5.0 properties (a PROPS
record around its record) after its fields, its expiry as the wall-clock second it ends;
a message's outgoing flags as its retain flag and QoS (in flight: its sequence number and
state, 1 once PUBREC came), a subscription's MQTT 5.0 options word (sub5) as its options and
Subscription Identifier.
A damaged record ends the dump with a line saying where and why, and exit status 1.
"""

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from core.persist import records as R  # noqa: E402
from core.names import REC_HEADER, REC_SENT, REC_START, REC_QUEUE, REC_SUB5  # noqa: E402
from core.names import OUT_QOS, OUT_RETAIN_SHIFT, OUT_RELEASED, OUT_SEQ_SHIFT  # noqa: E402
from core.names import SUB_NO_LOCAL, SUB_RETAIN_AS_PUBLISHED, SUB_ID_SHIFT  # noqa: E402
from core.persist.load import Damaged, scan  # noqa: E402


def lines(data, payloads=False):
    """Yield the dump's lines for the bytes of a persistence file; the last names any damage."""
    m = len(R.MAGIC)
    if data[:m] != R.MAGIC:
        yield "offset 0: damaged: not an mqtt-edge persistence file of format %d" % R.MAGIC[4]
        return
    n = 0
    try:
        for at, t, vals in scan(data, m):
            name, fields = R.LAYOUT[t]
            shown = []
            for f, v in zip(fields, vals):
                if f == "b" and not payloads:
                    shown.append("<%d bytes>" % len(v))
                else:
                    shown.append(repr(v))
            if len(vals) > len(fields):  # in a PROPS record: (properties, expiry)
                shown.append(_props(vals[-1][0]))
                if vals[-1][1]:
                    shown.append("expires-at=%d" % vals[-1][1])
            if t == REC_START or t == REC_SENT:
                shown[2] = "seq=%d state=%d %s" % (vals[2] >> OUT_SEQ_SHIFT,
                                                   vals[2] & OUT_RELEASED and 1, _out(vals[2]))
            elif t == REC_QUEUE:
                shown[1] = _out(vals[1])
            elif t == REC_SUB5:  # the options word (core/subs.py)
                shown[3] = "no-local=%d retain-as-published=%d subscription-id=%d" % (
                    vals[3] & SUB_NO_LOCAL and 1, vals[3] & SUB_RETAIN_AS_PUBLISHED and 1,
                    vals[3] >> SUB_ID_SHIFT)
            elif t == REC_HEADER:
                shown[0] = ("snapshot", "journal")[vals[0]] if vals[0] < 2 else repr(vals[0])
            yield "%8d %-9s %s" % (at, name, " ".join(shown))
            n += 1
    except Damaged as e:
        yield "offset %d: damaged: %s (%d bytes not shown)" % (e.args[0], e.args[1],
                                                                len(data) - e.args[0])
        return
    yield "%d records, %d bytes" % (n, len(data))


def _out(flags):
    """The retain flag and QoS of outgoing flags (a queue's or an in-flight message's)."""
    return "retain=%d qos=%d" % (flags >> OUT_RETAIN_SHIFT & 1, flags & OUT_QOS)


# the PUBLISH properties a message keeps (core/pub5.py): name, value type
_PROPS = {0x01: ("payload-format", "B"), 0x03: ("content-type", "s"),
          0x08: ("response-topic", "s"), 0x09: ("correlation-data", "b"),
          0x0B: ("subscription-id", "v"), 0x26: ("user", "p")}


def _props(data):
    """The properties of bytes data (identifier, value, ...) as name=value words."""
    out = []
    i = 0
    while i < len(data):
        name, typ = _PROPS.get(data[i], (None, None))
        if name is None:
            out.append("0x%02x:%r" % (data[i], bytes(data[i + 1:])))  # not one a message keeps
            break
        i += 1
        vals = []
        for f in ("ss" if typ == "p" else typ):
            if f == "B":
                v = data[i]
                i += 1
            elif f == "v":
                v = shift = 0
                while True:
                    v |= (data[i] & 0x7F) << shift
                    shift += 7
                    i += 1
                    if not data[i - 1] & 0x80:
                        break
            else:
                n = data[i] << 8 | data[i + 1]
                v = bytes(data[i + 2:i + 2 + n])
                i += 2 + n
                if f == "s":
                    v = v.decode("utf-8", "replace")
            vals.append(v)
        out.append("%s=%s" % (name, ":".join(repr(v) if not isinstance(v, int) else str(v)
                                             for v in vals)))
    return " ".join(out) if out else "props=none"


def main(argv):
    """Dump the file named in argv; the exit status."""
    payloads = "--payloads" in argv
    args = [a for a in argv if a != "--payloads"]
    if len(args) != 1 or args[0].startswith("-"):
        sys.stderr.write(__doc__)
        return 2
    try:
        with open(args[0], "rb") as f:
            data = f.read()
    except OSError as e:
        sys.stderr.write("Error: %s: %s\n" % (args[0], e.strerror or e))
        return 1
    status = 0
    for line in lines(data, payloads):
        if " damaged: " in line:
            status = 1
        print(line)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
