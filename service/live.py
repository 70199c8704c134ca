"""Live model switch: every worker follows `models/current` without a restart and without a failed request.

Each worker process runs one daemon thread that stats `models/current` every `MODEL_POLL_SECONDS` (2 s by
default; a stat is cheap). When the file changed and names another version, the thread loads that version
fully (checksum and library checks included) and only then swaps the app's Moderator reference, which is a
single atomic assignment: a request in flight keeps the Moderator it started with, the next one gets the new
one. A version that fails to load is refused: the current model keeps serving, the error is logged and shown
by `GET /v1/model` under `switch_error`, and the watcher retries only when `models/current` changes again.

A pinned `MODEL_VERSION` disables the watcher. The thread is (re)started lazily in each process, so it also
works when gunicorn forks workers from a preloaded app.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from flask import Flask

from moderation.registry import CURRENT, ModelLoadError, ModelRegistry
from service.watch import Watcher, poll_seconds

log = logging.getLogger(__name__)


class ModelWatcher(Watcher):
    name = "model-watcher"

    def __init__(self, app: Flask, interval: float):
        super().__init__(interval)
        self.app = app
        self.path = Path(app.config["MODELS_DIR"]) / CURRENT
        self._stamp = None  # the first poll compares the named version with the loaded one
        self.last_check = 0.0

    def _stat(self):
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def poll(self) -> str | None:
        """Check `models/current` once; switch if it names another loadable version. Returns the new version."""
        self.last_check = time.monotonic()
        stamp = self._stat()
        if stamp == self._stamp or stamp is None:
            return None
        from service.engine import load_moderator

        version = ModelRegistry(self.app.config["MODELS_DIR"]).current_version()
        current = self.app.extensions.get("moderator")
        if version is None or (current is not None and current.version == version):
            self._stamp = stamp
            return None
        try:
            moderator = load_moderator(self.app, version)
        except ModelLoadError as exc:
            self._stamp = stamp  # retry only when models/current changes again
            self.app.extensions["model_switch_error"] = {"version": version, "error": str(exc)}
            log.error("model switch to %s refused, %s keeps serving: %s",
                      version, current.version if current else None, exc)
            return None
        from service.engine import POLICY_LOCK, live_policy

        with POLICY_LOCK:  # the word lists or policy settings may have changed while the model loaded: take them
            moderator.policy = live_policy(self.app, moderator.model)
            self.app.extensions["moderator"] = moderator  # atomic swap
        self.app.extensions.pop("model_switch_error", None)
        self._stamp = stamp
        log.info("model switch: %s -> %s (pid %d)", current.version if current else None, version, os.getpid())
        return version


def init_app(app: Flask) -> None:
    if app.config.get("MODEL_VERSION"):
        return
    watcher = ModelWatcher(app, poll_seconds(app.config, "MODEL_POLL_SECONDS", 2.0))
    app.extensions["model_watcher"] = watcher
    if not app.config.get("TESTING"):
        watcher.ensure_running()
    app.before_request(lambda: None if app.config.get("TESTING") else watcher.ensure_running())
