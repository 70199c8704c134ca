"""Word lists reloaded when their files change, without a restart (like `service/live.py` follows the model).

Each worker process runs one daemon thread that stats the word list files (MODERATION_BANNED_WORDS,
MODERATION_SUSPECT_WORDS) every SITE_RULES_POLL_SECONDS (5 s by default). When one changed, the thread reads and
checks both lists again and only then swaps the live moderator's policy (one attribute assignment: a request in
flight keeps the policy it started with). A list that no longer reads or holds a bad entry is refused: the rules
in force keep applying, the error is logged and shown by `GET /v1/model` under `site_rules_error`, and the
watcher tries again at the file's next change. Write a list by renaming a finished file over it (or expect one
refused half-written read, followed by the good one).
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace

from flask import Flask

from moderation.site_rules import SiteRulesError
from service.watch import Watcher, poll_seconds

log = logging.getLogger(__name__)

FILE_KEYS = ("BANNED_WORDS", "SUSPECT_WORDS")


class SiteRulesWatcher(Watcher):
    name = "site-rules-watcher"

    def __init__(self, app: Flask, interval: float):
        super().__init__(interval)
        self.app = app
        self.paths = [str(app.config[k]) for k in FILE_KEYS if app.config.get(k) not in (None, "")]
        self._stamp = self._stat()

    def _stat(self):
        stamps = []
        for path in self.paths:
            try:
                st = os.stat(path)
                stamps.append((st.st_ino, st.st_mtime_ns, st.st_size))
            except OSError:
                stamps.append(None)
        return tuple(stamps)

    def poll(self) -> bool:
        """Check the list files once; reload them if one changed. True when new rules now apply."""
        from service.engine import POLICY_LOCK, site_rules

        stamp = self._stat()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            rules = site_rules(self.app.config)
        except SiteRulesError as exc:
            self.app.extensions["site_rules_error"] = str(exc)
            log.error("word lists changed but were refused, the previous ones keep applying: %s", exc)
            return False
        with POLICY_LOCK:  # the policy settings watcher swaps the policy too (service/policy_settings.py)
            self.app.extensions["site_rules"] = rules
            self.app.extensions.pop("site_rules_error", None)
            moderator = self.app.extensions.get("moderator")
            if moderator is not None:
                moderator.policy = replace(moderator.policy, site=rules)  # atomic swap
        log.info("word lists reloaded: %s", {k: (v or {}).get("entries") for k, v in rules.to_dict().items()
                                             if k.endswith("_words")})
        return True


def init_app(app: Flask) -> None:
    watcher = SiteRulesWatcher(app, poll_seconds(app.config, "SITE_RULES_POLL_SECONDS", 5.0))
    if not watcher.paths:
        return
    app.extensions["site_rules_watcher"] = watcher
    if not app.config.get("TESTING"):
        watcher.ensure_running()
    app.before_request(lambda: None if app.config.get("TESTING") else watcher.ensure_running())
