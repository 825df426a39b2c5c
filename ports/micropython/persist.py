"""A board's persistence while the broker serves (broker.store and the loop's batch): the
core's state changes are noted as they come, not encoded, and written at most every
autosave_interval. The code that encodes and writes them (persist_files.flush,
core/persist/) is imported for each write and dropped again: only this stays in the heap."""

import time

from core.const import const

_PENDING = const(16)  # changes that make a write, whatever the window


class Batch:
    """The changes not yet written, and what the Store that writes them keeps in between.
    persist_files.start sets the attributes (no __init__ and no class attributes: a board's
    heap): store (the Store's attributes between writes, its log among them), dir (the
    files' folder), pending (a list of (hook, wall-clock seconds, its arguments)), window (ms:
    autosave_interval), every (autosave_on_changes: write after this many changes instead;
    else 0), since (ms when the oldest unwritten change was noted, about; None when none
    waits) and failed (writes put off for want of heap: retried at the next turns)."""

    def __getattr__(self, name):
        # the core calls a hook of core/persist/store.py's Store (session, queue, start, ...)
        # at once after getting it, with arguments that do not call the store: one method
        # for all of them, told which by name (a closure would leave more garbage at each
        # delivery; core/README.md, Persistence)
        self.name = name
        return self.apply

    def apply(self, s, a=None, b=None, c=None, d=None):
        """Keep the call of hook self.name for the write, as the Store's hooks do: not a
        clean session's changes, and no acknowledgement held (hold() returns None). Fixed
        parameters: a call allocates nothing for a clean session (a hook's arguments are
        never None: persist_files.flush drops the trailing ones)."""
        if self.name != "hold" and not getattr(s, "clean", 0):
            self.pending.append((self.name, int(time.time()), s, a, b, c, d))

    def turn(self, now, diff):
        """Called once per loop turn with the port's ms clock and its wrap-safe diff."""
        n = len(self.pending)
        if not n:
            self.since = None
            return
        if self.since is None:
            self.since = now
        if n >= _PENDING or (n >= self.every if self.every
                             else diff(now, self.since) >= self.window):
            self.write(False)
            if not self.pending:  # else the rest waits no longer than the window said
                self.since = None

    def write(self, close):
        """Write the pending changes, the oldest first (persist_files.flush: how many; close:
        all, and close the journal, at the server's shutdown); without the heap for the
        code they wait (counted, logged once) and are retried at the next turn."""
        try:
            import persist_files  # which drops itself and core/persist/ again
            persist_files.flush(self, close)
        except MemoryError:
            from forget import forget
            forget("persist_files")  # if its import was cut short
            self.failed += 1
            if self.failed == 1:
                self.store["log"]("warning", "Warning: persistence: no heap to write "
                                  "changes: retried")
