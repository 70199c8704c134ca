"""SQLite WAL checkpoints off the request path: a background thread in each serving process.

In WAL mode every commit appends pages to the -wal file, and SQLite's automatic checkpoint (after the commit that
takes the WAL past `wal_autocheckpoint` pages, 1000 by default) copies them back into the database file, with an
fdatasync of the WAL and of the database, inside the commit call of whichever request crossed the mark. Under
load that is worse than once every ~200 commits: a PASSIVE checkpoint cannot copy past the snapshot of a reader
that is still busy, and the two gunicorn workers keep four threads reading, so the WAL stays over the mark and
the next commit tries again. Under wrk (2 workers x 2 threads, 8 connections) the store-path floor
(bench/_serving_floor.py, the model replaced by a constant) made 0.05-0.09 fdatasync calls per request, one
checkpoint every ~20 requests instead of every ~200, each keeping a worker thread and its request waiting on the
disk. Moved here, they are 0.003-0.01 per request (this thread's own). What that buys depends on the disk: with
other jobs writing to it (load average 5-7) the floor went from 1,104-1,498 to 1,435-1,888 req/s in alternating
runs; on a quieter machine (load 2-3) it made no difference to throughput (2,405 against 2,351 req/s).

`WalCheckpointer` runs `PRAGMA wal_checkpoint(PASSIVE)` on its own connection every `every` seconds while the
process writes (a PASSIVE checkpoint never waits for a lock and never blocks a reader or writer); once the WAL is
past RESTART_FRAMES it asks for RESTART instead, which waits (at most RESTART_WAIT) for the writer and the readers
so that the next commit writes the WAL from its start again. The -wal file keeps the largest size it reached
(70-100 MB after a few minutes of the serving bench at ~2,000 commits/s; SQLite reuses it, it does not grow
further). The store's
connections keep an automatic checkpoint only as a backstop, at BACKSTOP_PAGES, so a stalled thread cannot let the
WAL grow without bound. Nothing about durability changes: a commit is in the WAL, synced as the store's
`synchronous` says, before it returns, whoever copies it into the database file later.

The thread is started by the first write of each process (`ensure_running`), never at import or in gunicorn's
master (a thread inside SQLite while the master forks could leave a worker a held mutex), and it stops after
IDLE_POLLS polls with nothing to copy; the next write starts it again.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading

log = logging.getLogger(__name__)

BACKSTOP_PAGES = 20_000  # ~80 MB of 4 KiB pages: the automatic checkpoint only if the thread falls far behind
RESTART_FRAMES = 4096  # a WAL longer than this (16 MiB of 4 KiB pages) is checkpointed with RESTART, not PASSIVE
RESTART_WAIT = 0.1  # seconds a RESTART checkpoint may wait for the writer lock and the readers
IDLE_POLLS = 120  # polls with nothing to copy before the thread exits (a minute at the default 0.5 s)


class WalCheckpointer:
    """Checkpoints one SQLite database file from a daemon thread of the current process."""

    def __init__(self, path: str, every: float = 0.5):
        if every <= 0:
            raise ValueError("every must be > 0 seconds")
        self.path = path
        self.every = every
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stop = threading.Event()
        self.checkpoints = 0  # checkpoints that copied pages, this process
        self.last: tuple | None = None  # (busy, WAL frames, frames checkpointed) of the last one

    def ensure_running(self) -> None:
        """Start the thread in this process unless it is running (cheap enough to call on every write)."""
        thread = self._thread
        if thread is not None and self._pid == os.getpid() and thread.is_alive():
            return
        with self._lock:
            thread = self._thread
            if thread is not None and self._pid == os.getpid() and thread.is_alive():
                return
            self._stop = threading.Event()
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, args=(self._stop,), name="wal-checkpoint", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread() and self._pid == os.getpid():
            thread.join(timeout)

    def checkpoint(self, conn: sqlite3.Connection, restart: bool = False) -> tuple:
        """One checkpoint: (busy, frames in the WAL, frames now in the database file). PASSIVE copies what no
        reader still needs and waits for nothing; RESTART also waits (up to RESTART_WAIT) for the writer and the
        readers, so that the next commit starts the WAL over from its beginning."""
        mode = "RESTART" if restart else "PASSIVE"
        self.last = tuple(conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone())
        return self.last

    def _run(self, stop: threading.Event) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=RESTART_WAIT, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            log.warning("WAL checkpoint thread could not open %s: %s", self.path, exc)
            return
        idle = 0
        done = None  # frames already copied when the WAL last had them all: no need to count that as work
        frames = 0
        try:
            while not stop.wait(self.every) and idle < IDLE_POLLS:
                try:
                    _, found, copied = self.checkpoint(conn, restart=frames > RESTART_FRAMES)
                except sqlite3.Error as exc:  # e.g. the file was removed: the next write starts a new thread
                    log.warning("WAL checkpoint of %s failed: %s", self.path, exc)
                    return
                if found < 0:  # another worker's thread is checkpointing right now: the WAL is as long as it was
                    idle += 1
                    continue
                frames = found
                if frames > 0 and (frames, copied) != done:
                    self.checkpoints += 1
                    idle = 0
                else:
                    idle += 1
                done = (frames, copied) if frames == copied else None
        finally:
            conn.close()
