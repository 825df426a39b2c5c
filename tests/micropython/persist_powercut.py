"""Run by test_persist_powercut.py under MicroPython: the persistence store on LittleFS
(VfsLfs2, as on a board) over a RAM block device, with the power cut after each block
write in turn. Prints "CUTS n", "FAIL ..." lines, "HITS ..." and "DONE n"."""

import os
import sys

ROOT = sys.argv[1]
sys.path.insert(0, ROOT)
sys.path.insert(0, ROOT + "/tests/core")

from harness import Harness  # noqa: E402
from persist_support import Wall, attach, broker_with_store, client_steps, describe  # noqa: E402

_BLOCKS = 128
_BS = 512
MNT = "/flash"


class Flash:
    """A RAM block device whose contents are kept as they were after the cut-th write
    (or erase): the flash at the moment the power went."""

    def __init__(self, data=None, cut=0):
        self.data = bytearray(data) if data is not None else bytearray(_BLOCKS * _BS)
        self.writes = 0
        self.cut = cut
        self.frozen = None

    def readblocks(self, b, buf, off=0):
        a = b * _BS + off
        buf[:] = self.data[a:a + len(buf)]

    def writeblocks(self, b, buf, off=None):
        a = b * _BS + (off or 0)
        self.data[a:a + len(buf)] = buf
        self._count()

    def _count(self):
        self.writes += 1
        if self.writes == self.cut:
            self.frozen = bytearray(self.data)

    def ioctl(self, op, arg):
        if op == 4:
            return _BLOCKS
        if op == 5:
            return _BS
        if op == 6:  # erase
            a = arg * _BS
            self.data[a:a + _BS] = b"\xff" * _BS
            self._count()
        return 0


def mount(dev):
    try:
        os.umount(MNT)
    except OSError:
        pass
    os.mount(os.VfsLfs2(dev), MNT)


def work(mark):
    """A broker with a store on MNT serving clients, each step committed, then mark()."""
    h = Harness()
    st = attach(h, MNT, Wall(1000))
    mark()
    steps = client_steps(h)
    steps.insert(7, lambda: st.compact())
    for step in steps:
        step()
        st.commit()
        mark()
    st.close()


def state_of(image):
    """The state a broker restores from the flash image (it must not raise)."""
    mount(Flash(image))
    b, st, logs = broker_with_store(MNT, Wall(2000))
    st.load()
    st.close()
    return describe(b)


def main():
    base = Flash()
    os.VfsLfs2.mkfs(base)
    blank = bytearray(base.data)
    # the states a complete commit leaves, from nothing to the last change
    dev = Flash(blank)
    mount(dev)
    images = [bytearray(blank)]
    work(lambda: images.append(bytearray(dev.data)))
    total = dev.writes
    refs = [state_of(img) for img in images]
    print("CUTS", total)
    bad = 0
    hits = []
    for cut in range(1, total + 1):
        dev = Flash(blank, cut)
        mount(dev)
        work(lambda: None)
        try:
            got = state_of(dev.frozen)
        except Exception as e:  # noqa: BLE001 - any exception is the failure reported
            print("FAIL cut %d: %s: %s" % (cut, type(e).__name__, e))
            bad += 1
            continue
        hits.append(refs.index(got) if got in refs else -1)
        if got not in refs:
            print("FAIL cut %d: state is not one a commit left: %r" % (cut, got))
            bad += 1
    # which committed state each cut left (the first of equal ones), and how many there are
    print("HITS", " ".join(str(x) for x in hits), "OF", len(refs))
    print("DONE", bad)


main()
