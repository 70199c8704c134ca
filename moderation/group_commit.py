"""Writes of concurrent requests committed together, and SQLite's one writer at a time without its busy sleeps.

`WriteGate`: SQLite has one writer at a time. A second writer that finds the database locked polls it, sleeping
between tries (1, 2, 5, 10 ms ... up to busy_timeout), and under a stream of writes from two gunicorn workers most
of a write's time went to those sleeps (a wave of held comments: p99 in the hundreds of ms). The gate is an
exclusive `flock` on a file beside the database, taken around each write transaction of the service: a waiting
writer sleeps in the kernel and is woken the moment the lock is free. Within a process a lock makes the threads
take turns (a flock is held per open file, not per thread). Writers that do not take it (the CLI) still meet
SQLite's own locking, as before. Other databases need no gate.

`GroupCommit`: the writes of concurrent requests of a process in one transaction. A request's write waits in a
queue; the first thread to reach the leader's lock takes everything queued and commits it in one transaction
(`run(items)`), then every request in it returns. Each returns only after the commit that holds its write
(nothing is acknowledged before it is durable as the store promises), and each gets its own error: when a
combined transaction fails, its writes are run again one by one, so one bad write fails only its request.
"""

from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager
from pathlib import Path


class WriteGate:
    """An exclusive lock, across processes and threads, on `path` (made if missing). Re-entrant in a thread. When
    the file cannot be made, the threads of the process still take turns and the write goes on to meet the
    database's own error or locking."""

    def __init__(self, path: Path | None):
        self.path = path
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._threads = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @contextmanager
    def held(self):
        if self.path is None:
            yield
            return
        if self._pid != os.getpid():  # a forked worker: its own file description and lock
            self._reset()
        with self._threads:
            self._depth += 1
            try:
                locked = False
                if self._depth == 1:
                    if self._fd is None:
                        try:
                            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                        except OSError:  # no folder yet (a volume not mounted): SQLite says what is wrong
                            self._fd = None
                    if self._fd is not None:
                        fcntl.flock(self._fd, fcntl.LOCK_EX)
                        locked = True
                try:
                    yield
                finally:
                    if locked:
                        fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                self._depth -= 1


class _Entry:
    __slots__ = ("item", "done", "error")

    def __init__(self, item):
        self.item, self.done, self.error = item, False, None


class GroupCommit:
    """`submit(item)` returns once `run([... item ...])` has committed it, or raises what its run raised."""

    def __init__(self, run):
        self.run = run
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._queue: list[_Entry] = []
        self._mutex = threading.Lock()
        self._leader = threading.Lock()

    def submit(self, item) -> None:
        if self._pid != os.getpid():
            self._reset()
        entry = _Entry(item)
        with self._mutex:
            self._queue.append(entry)
        with self._leader:
            if not entry.done:
                with self._mutex:
                    batch, self._queue = self._queue, []
                self._commit(batch)
        if entry.error is not None:
            raise entry.error

    def _commit(self, batch: list[_Entry]) -> None:
        try:
            self.run([e.item for e in batch])
        except Exception as exc:  # noqa: BLE001 - each request gets its own outcome below
            if len(batch) == 1:
                batch[0].error = exc
            else:
                for e in batch:  # again one by one: only the failing write's request fails
                    try:
                        self.run([e.item])
                    except Exception as one:  # noqa: BLE001
                        e.error = one
        except BaseException as exc:  # the worker is being stopped: nothing of the batch is acknowledged
            for e in batch:
                e.error = exc
            raise
        finally:
            for e in batch:
                e.done = True
