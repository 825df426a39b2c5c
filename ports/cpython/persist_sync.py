"""The CPython port's sync helper: a process that makes the journal durable for the broker
(ports/cpython/persist_files.py's Writer), so that waiting for the disk never needs the
broker's interpreter lock. `python3 -S persist_sync.py FD N`: FD a SOCK_SEQPACKET socket;
each request is (batch number u32, kind u8: 1 fsync, 0 fdatasync) with the journal's file
descriptor attached; N threads sync at once (a disk finishes several overlapping syncs
sooner than one after another); each answer is (batch number u32, errno u16, 0: synced).
Ends when the broker's end of the socket closes (also when the broker is killed)."""

import os
import queue
import signal
import socket
import struct
import sys
import threading


def _worker(jobs, sock, lock):
    while True:
        n, kind, fd = jobs.get()
        err = 0
        try:
            (os.fsync if kind else os.fdatasync)(fd)
        except OSError as e:
            err = e.errno or 5  # EIO when the error has no number
        finally:
            os.close(fd)
        try:
            with lock:
                sock.send(struct.pack(">IH", n, err))
        except OSError:
            os._exit(0)  # the broker is gone (killed)


def main():
    """Serve the broker's sync requests until its socket closes."""
    # a stop sent to the whole process group (Ctrl-C, systemd) is the broker's to handle:
    # it syncs what is left through us, then closes the socket, which ends us
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    sock = socket.socket(fileno=int(sys.argv[1]))
    jobs = queue.SimpleQueue()
    lock = threading.Lock()
    for _ in range(int(sys.argv[2])):
        threading.Thread(target=_worker, args=(jobs, sock, lock), daemon=True).start()
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 16, 1)
        except OSError:
            break
        if not msg or not fds:
            break
        n, kind = struct.unpack(">IB", msg)
        jobs.put((n, kind, fds[0]))
    os._exit(0)  # the broker is gone: syncs still running have no one to answer


if __name__ == "__main__":
    main()
