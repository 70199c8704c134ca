"""Policy settings changed at run time by moderators: stop a runaway false positive with one click.

A model or a site rule can start holding good comments by the hundred (a new word in the news, the site's own new
domain in links). Retraining takes labels and time, and environment settings take a restart. Here an admin pauses
the holds of one reason (`paused`: a flag for that reason becomes an accept, the reason still listed in the answer
with a note; a reject stays a reject) or moves a threshold, and every worker applies it within
MODERATION_POLICY_POLL_SECONDS (2 s by default; the worker that took the change at once):

- `GET /v1/policy` (admin key): the settings in force, the policy they give with the live model, and the history.
- `PUT /v1/policy` (admin key) `{"settings": {...}, "note": "why"}`: replaces the settings (fields left out or null
  go back to the configured or the model's own value). Refused with 422 when a value makes no sense, with 409 when
  the policy it gives with the live model does not (a spam flag above the model's reject threshold); nothing is
  recorded then.
- The review page's buttons: "Stop holding for <reason>" on a held comment, "Resume" on the banner.

Settings live in the store (`policy_settings`, one row per change: who, when, why), so they survive restarts and
are shared by every worker, and the newest row wins. They sit on top of the environment's MODERATION_* policy
settings, which sit on top of the model's thresholds; they stay in force across model versions until changed.
Rescoring (`training rescore`) uses the configured policy, not these: a pause is a switch for live traffic.
"""

from __future__ import annotations

import logging
import os

from flask import Blueprint, Flask, abort, current_app, flash, jsonify, redirect, request, session, url_for

from moderation.policy import REASON_CODES, PolicyError
from service.contract import parse
from service.request_models import SETTINGS, PolicySettingsChange
from service.validation import json_body
from service.auth import require_key
from service.engine import POLICY_LOCK, get_store, resolve_policy
from service.errors import ApiError
from service.watch import Watcher, poll_seconds

log = logging.getLogger(__name__)

bp = Blueprint("policy_settings", __name__)

FIELDS = SETTINGS  # the settings a change may hold (request_models.PolicySettings)
HISTORY = 20


def apply(app: Flask, row: dict | None) -> bool:
    """Make `row` (the newest settings change, or None for none) this worker's policy. False when the settings
    do not make a policy with the live model (kept out, the error shown by GET /v1/model and GET /v1/policy)."""
    settings = (row or {}).get("settings") or {}
    with POLICY_LOCK:
        applied = app.extensions.get("policy_settings")
        if applied is not None and (row is None or row["id"] < applied["id"]):
            return True  # read before a newer change this worker applied since (a poll racing a click): keep it
        moderator = app.extensions.get("moderator")
        try:
            unknown = sorted(set(settings) - set(FIELDS))
            if unknown:  # stored by another version of the service (a rollback of the deploy)
                raise PolicyError(f"unknown setting {unknown[0]!r}, written by another version of the service")
            policy = resolve_policy(app, moderator.model, settings) if moderator is not None else None
        except (PolicyError, TypeError) as exc:  # TypeError: a stored value of the wrong type
            app.extensions["policy_settings_error"] = f"settings #{row['id']}: {exc}"
            log.error("policy settings #%s refused, the policy in force keeps applying: %s", row["id"], exc)
            return False
        app.extensions["policy_settings"] = row
        app.extensions.pop("policy_settings_error", None)
        if moderator is not None:
            moderator.policy = policy  # one assignment: a request in flight keeps the policy it started with
    return True


class PolicySettingsWatcher(Watcher):
    """Polls the newest settings row (one indexed query) and applies it when it, or the live model, changed."""

    name = "policy-settings-watcher"

    def __init__(self, app: Flask, interval: float):
        super().__init__(interval)
        self.app = app
        self._seen = (object(), None)  # (moderator, settings id) last applied

    def ensure_running(self) -> None:
        """As Watcher's, and a worker's first request (a new process: a forked worker has no polling thread yet)
        first catches up with the store, so it never serves an interval with settings changed after it forked."""
        new_process = self._pid != os.getpid()
        super().ensure_running()
        if new_process:
            try:
                self.poll()
            except Exception as exc:  # noqa: BLE001 - the thread polls again; a request never fails for this
                self.polled(exc)

    def poll(self) -> bool:
        row = self.app.extensions["store"].latest_policy_settings()
        state = (self.app.extensions.get("moderator"), row["id"] if row else None)
        if state[0] is self._seen[0] and state[1] == self._seen[1]:
            return False
        self._seen = state
        return apply(self.app, row)


def record(settings, note: str, moderator: str | None) -> dict:
    """Check `settings` against the live model, store them and apply them in this worker; raises ApiError.
    `settings` is the new set (PUT), or a function from the set in force to the new one (the review page's
    buttons): the store reads and writes in one locked step, so two clicks at once on two workers both count."""
    app = current_app._get_current_object()
    live = app.extensions.get("moderator")

    def check(new: dict) -> dict:
        try:
            policy = resolve_policy(app, live.model, new)
            if {"off_topic_flag", "off_topic_reject"} & set(new) and policy.off_topic_reject is not None \
                    and policy.off_topic_reject < policy.off_topic_flag:  # the flag threshold would never apply
                raise PolicyError(f"off_topic_reject {policy.off_topic_reject:g} is below off_topic_flag "
                                  f"{policy.off_topic_flag:g}")
        except PolicyError as exc:  # e.g. a spam flag threshold above the live model's own reject threshold
            raise ApiError(409, "conflicts_with_model", f"These settings do not make a policy with model "
                                                        f"{live.version}: {exc}.") from None
        return new
    store = get_store()
    row = store.change_policy_settings(lambda current: check(settings(current)), note, moderator) \
        if callable(settings) else store.set_policy_settings(check(settings), note, moderator)
    apply(app, row)
    log.warning("policy settings #%d by %s: %s (%s)", row["id"], moderator or "an admin", row["settings"], note)
    return row


def _row_json(row: dict) -> dict:
    from moderation.store import utc_iso

    return {"id": row["id"], "settings": row["settings"], "note": row["note"], "moderator": row["moderator"],
            "changed_at": utc_iso(row["changed_at"])}


def state_json() -> dict:
    app = current_app._get_current_object()
    history = get_store().policy_settings_history(HISTORY)  # newest first: the one in force leads
    row = history[0] if history else None
    live = app.extensions["moderator"]
    out = {"settings": row["settings"] if row else {}, "in_force": _row_json(row) if row else None,
           "policy": live.policy.to_dict(), "model_version": live.version,
           "history": [_row_json(r) for r in history]}
    if app.extensions.get("policy_settings_error"):
        out["error"] = app.extensions["policy_settings_error"]
    return out


@bp.get("/v1/policy")
@require_key("admin")
def get_policy():
    return jsonify(state_json())


@bp.put("/v1/policy")
@require_key("admin")
def put_policy():
    change = parse(PolicySettingsChange, json_body())
    record(change.settings.settings(), change.note, change.moderator)
    return jsonify(state_json())


# The review page's buttons (session and CSRF as for Accept / Reject)
def _page_change(change, note) -> None:
    """A button: `change(paused, reason)` edits the paused set of the settings in force, `note(reason)` says why."""
    from service.review import _check_csrf, _signed_in

    if not _signed_in():
        abort(401, description="Sign in with an admin key first.")
    _check_csrf()
    reason = request.form.get("reason", "")
    if reason not in REASON_CODES:
        abort(400, description=f"The reason must be one of {', '.join(REASON_CODES)}.")

    def new_settings(current: dict) -> dict:
        # a setting this version does not know (stored by another version) cannot apply here: left out
        settings = {name: value for name, value in current.items() if name in FIELDS}
        paused = set(settings.get("paused") or [])
        change(paused, reason)
        if paused:
            settings["paused"] = sorted(paused)
        else:
            settings.pop("paused", None)
        return settings
    try:
        record(new_settings, note(reason), session.get("moderator") or "review page")
    except ApiError as exc:
        flash(exc.message, "error")
        return
    flash(note(reason), "ok")


@bp.post("/review/pause")
def pause_from_page():
    item = request.form.get("decision_id", "")

    def note(reason):
        return f"Holding for {reason} paused from the review page" + (f" (comment #{item})" if item.isdigit() else "") \
            + ": comments it would hold are accepted, with the reason listed, until it is resumed."
    _page_change(lambda paused, reason: paused.add(reason), note)
    return redirect(url_for("review.review"), 303)


@bp.post("/review/resume")
def resume_from_page():
    _page_change(lambda paused, reason: paused.discard(reason),
                 lambda reason: f"Holding for {reason} resumed from the review page.")
    return redirect(url_for("review.review"), 303)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    store = app.extensions["store"]
    try:
        row = store.latest_policy_settings()
    except Exception as exc:  # noqa: BLE001 - a store that cannot be read at start is reported by /readyz
        if getattr(store, "unreachable", None) is not None:  # already said once (service.engine), no traceback
            log.info("policy settings not read at start (the store cannot be reached): the configured policy "
                     "applies until they can be")
        else:
            log.error("policy settings could not be read at start; the configured policy applies until they can",
                      exc_info=(type(exc), exc, exc.__traceback__))
        row = None
    apply(app, row)
    watcher = PolicySettingsWatcher(app, poll_seconds(app.config, "POLICY_POLL_SECONDS", 2.0))
    watcher._seen = (app.extensions.get("moderator"), row["id"] if row else None)
    app.extensions["policy_settings_watcher"] = watcher
    if not app.config.get("TESTING"):
        watcher.ensure_running()
    app.before_request(lambda: None if app.config.get("TESTING") else watcher.ensure_running())
