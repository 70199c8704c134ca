"""A daemon thread per worker process that polls something now and then: the live model (`service/live.py`) and
the site's word lists (`service/site_rules.py`).

The thread is (re)started lazily by `ensure_running` in each process, never at import, so it also runs in
workers that gunicorn forks from a preloaded app (a fork keeps only the thread that forked). It never dies: an
error is logged and the next poll comes as usual. A poll that keeps failing the same way (the store down for a
while) is logged once, with its traceback, and its recovery once: not a traceback every interval per worker.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time

log = logging.getLogger(__name__)


def poll_seconds(config, key: str, default: float) -> float:
    """The poll interval `key` of the app config (MODERATION_<key>): `default` when unset (or 0, as always); a
    ValueError that stops the start for anything but a finite number of seconds above 0 (a negative one killed the
    polling thread at its first sleep, again at every request)."""
    value = config.get(key)
    if value in (None, "", 0):
        return default
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"MODERATION_{key} must be a number of seconds above 0, not {value!r}")
    return seconds


def in_gunicorn_master() -> bool:
    """True in the process that read service/gunicorn.conf.py (gunicorn's master, which forks the workers)."""
    return os.environ.get("_MODERATION_GUNICORN_MASTER") == str(os.getpid())


class Watcher:
    """Subclasses set `name` and implement `poll()`; `interval` is the seconds between polls."""

    name = "watcher"

    def __init__(self, interval: float):
        self.interval = interval
        self._lock = threading.Lock()
        self._pid = None
        self._thread = None
        self._failing: str | None = None  # what the last poll failed with, until one succeeds

    def polled(self, error: BaseException | None) -> None:
        """Log a poll's failure when it is new (another error than the last one), and the first success after
        failures."""
        if error is None:
            if self._failing is not None:
                log.info("%s: polling works again (it failed with %s)", self.name, self._failing)
                self._failing = None
            return
        failing = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"[:300]
        if failing != self._failing:
            log.error("%s: poll failed; what is in force keeps applying, and it polls again every %g s (logged "
                      "again when it fails otherwise or works)", self.name, self.interval,
                      exc_info=(type(error), error, error.__traceback__))
            self._failing = failing

    def ensure_running(self) -> None:
        """Start the polling thread in this process if it is not running (cheap; called before each request).
        Never in gunicorn's master (preload_app builds the app there): a thread there would hold the store's
        pool or the model while the master forks; each worker starts its own at its first request."""
        if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
            return
        if in_gunicorn_master():
            return
        with self._lock:
            if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            try:
                self.poll()
            except Exception as exc:  # noqa: BLE001 - the watcher must never die; what is in force keeps applying
                self.polled(exc)
            else:
                self.polled(None)

    def poll(self) -> bool:
        raise NotImplementedError
