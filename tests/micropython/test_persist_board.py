"""A board's persistence path under MicroPython (tests/micropython/persist_board.py):
the changes noted by persist.py and written by persist_files.flush restore the same
state as the Store writing them at once, the writing code is dropped after each write, and a
write that finds no heap keeps its changes for the next one."""

from mpbroker import run_script


def _run():
    return run_script("persist_board.py", "4m")


def test_board_writes_restore_what_the_store_writes_after_every_step_and_drop_the_code():
    out, lines = _run()
    assert lines["DONE"] == "0", out
    steps, gen = lines["SAME"].split()
    assert int(steps) == 14 and int(gen) > 1, out  # every step compared; compactions ran


def test_board_write_takes_16_changes_or_half_and_a_snapshot_takes_all_that_wait():
    out, lines = _run()
    # 3 for the subscriber (session, subscription, end) and 40 queued messages
    assert lines["HALVES"] == "43 22 6 0 0 2552<3000 gen 2", out
    assert lines["QUEUED80"] == "80", out  # each queued message once, none lost


def test_board_notes_no_change_of_a_clean_session_and_notes_a_retained_message():
    out, lines = _run()
    assert lines["DROPPED"] == "0" and lines["RETAINED"] == "1", out


def test_board_write_without_heap_keeps_its_changes_logs_once_and_writes_them_later():
    out, lines = _run()
    want, kept, failed, warned, left = (int(x) for x in lines["OOM"].split())
    assert want > 5 and kept == want, out  # nothing written, nothing lost
    assert failed == 2 and warned == 1 and left == 0, out
    assert lines["QUEUED"] == "5", out  # the retry wrote the offline session's queue
