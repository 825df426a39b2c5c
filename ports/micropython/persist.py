"""A board's persistence while the broker serves: this module is broker.store and the loop's
batch. The core's state changes are noted as they come, not encoded, and written at most
every autosave_interval. The code that encodes and writes them (persist_files.flush,
core/persist/) is imported for each write and dropped again: only this stays in the heap
(a module, not an instance of a class: a board's heap). persist_files.start sets:"""

import time

from core.names import SESSION_ENDING

store = None  # the Store's attributes between writes (a dict), its log among them
location = "."  # the files' folder
pending = None  # a list of (hook, wall-clock seconds, its arguments) not yet written
window = 5000  # ms: autosave_interval
every = 0  # autosave_on_changes: write after this many changes instead
since = None  # ms when the oldest unwritten change was noted (about); None: none waits
failed = 0  # writes put off for want of heap (retried at the next turns)
what = None  # the name of the hook being called


def __getattr__(name):
    # the core calls a hook of core/persist/store.py's Store (session, queue, start, ...)
    # at once after getting it, with arguments that do not call the store: one function
    # for all of them, told which by name (a closure would leave more garbage at each
    # delivery; core/README.md, Persistence)
    global what
    what = name
    return apply


def apply(s, a=None, b=None, c=None, d=None):
    """Keep the call of hook what for the write, as the Store's hooks do: not a clean
    session's changes, and no acknowledgement held (hold() returns None). Fixed parameters:
    a call allocates nothing for a clean session (a hook's arguments are never None:
    persist_files.flush drops the trailing ones)."""
    k = getattr(s, "clean", 0)
    if what != "hold" and (not k or k == SESSION_ENDING):  # its end is recorded (drop)
        pending.append((what, time.time(), s, a, b, c, d))


def turn(now, diff):
    """Called once per loop turn with the port's ms clock and its wrap-safe diff."""
    global since
    n = len(pending)
    if not n:
        since = None
        return
    if since is None:
        since = now
    if n >= 16 or (n >= every if every else diff(now, since) >= window):  # 16: whatever
        write(False)  # the window, a write (persist_files: the most one takes)
        if not pending:  # else the rest waits no longer than the window said
            since = None


def write(close):
    """Write the pending changes, the oldest first (persist_files.flush: how many; close:
    all, and close the journal, at the server's shutdown); without the heap for the code
    they wait (counted, logged once) and are retried at the next turn."""
    global failed
    try:
        import persist_files  # which drops itself and core/persist/ again
        persist_files.flush(close)
    except MemoryError:
        from forget import forget
        forget("persist_files")  # if its import was cut short
        failed += 1
        if failed == 1:
            store["log"]("warning", "Warning: persistence: no heap to write changes: retried")
