"""The review page: flagged comments, newest first, with Accept / Reject buttons for moderators.

POST /v1/moderate keeps every flagged comment (`flagged_row`) in the decisions log with its text,
article id, scores, reasons, explanation (when the verdict has one), model version and time. `GET /review` is a
server-rendered page over that log; Accept records the label `ham`, Reject records `spam` (or `off_topic` when
that was the only model reason), both through the same store call that takes the item off the queue. A comment
held for a policy reason only (`too_long` or `empty` configured to flag) says nothing about spam or relevance:
rejecting it takes it off the queue (review label `policy`) without storing a training label. Every review also
records, in the same transaction, the outcome the CMS reads at GET /v1/reviews (service/reviews.py).

When admin or client keys are configured, the page asks for an admin key once and keeps a signed session
cookie (HttpOnly, SameSite=Lax); every form carries a CSRF token. With no key configured the page is open, like
the rest of the service (which then binds to loopback only).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from flask import (
    Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, session, url_for,
)

from service.auth import auth_enabled, bearer_token, configured_keys, key_matches
from moderation.policy import REASON_CODES
from service.engine import get_moderator, get_store
from service.reviews import count_review
from service.sessions import CookieSessionOnDemand

bp = Blueprint("review", __name__, template_folder="templates")

PAGE_SIZE = 50


def flagged_row(text: str, article, verdict, comment_id=None, explanation: dict | None = None,
                fingerprint: str | None = None) -> dict | None:
    """The review-log row of a flagged comment (with its explanation), None for any other decision."""
    if verdict.decision != "flag":
        return None
    if explanation is None:  # callers may carry it on the verdict instead
        explanation = getattr(verdict, "explanation", None)
    if comment_id is not None and (isinstance(comment_id, bool) or not isinstance(comment_id, (str, int))):
        comment_id = None
    return dict(text=text, decision=verdict.decision, spam=verdict.spam, off_topic=verdict.off_topic,
                reasons=[r.to_dict() for r in verdict.reasons], model_version=verdict.model_version,
                article_id=article.id if article is not None else None,
                comment_id=None if comment_id is None else str(comment_id)[:255], explanation=explanation,
                fingerprint=fingerprint)


def _key_fingerprint(key: str) -> str:
    """What the session keeps of the admin key it was opened with: an HMAC under the app's secret key. The cookie
    is signed, not encrypted, so a plain hash of the key in it could be attacked offline by whoever read it."""
    secret = current_app.config["SECRET_KEY"]
    secret = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(secret, key.encode("utf-8"), hashlib.sha256).hexdigest()


def _signed_in() -> bool:
    """Open without keys; else a session from a still-valid admin key, or an admin Bearer key."""
    if not auth_enabled():
        return True
    token = bearer_token()
    if token is not None and key_matches(token, "admin"):
        return True
    fingerprint = session.get("admin_key")
    return bool(fingerprint) and any(
        hmac.compare_digest(fingerprint, _key_fingerprint(k)) for k in configured_keys("admin"))


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def _check_csrf() -> None:
    sent = request.form.get("csrf", "")
    # as bytes: compare_digest raises TypeError for a str with non-ASCII characters (a forged token was a 500)
    if not sent or not hmac.compare_digest(sent.encode("utf-8"), str(session.get("csrf", "")).encode("utf-8")):
        abort(400, description="The form has expired or did not come from this page (CSRF check failed): reload it.")


MODEL_REASONS = ("spam", "off_topic")
POLICY_LABEL = "policy"  # the review label of a rejection for policy reasons only (no training label)


def toxic_segments(text: str, explanation) -> list[tuple[str, bool]]:
    """The comment's text in pieces, each marked whether it is in a toxic span of its explanation (character
    offsets, moderation/toxicity.py), for the page to highlight; one unmarked piece without spans."""
    spans = explanation.get("toxic_spans") if isinstance(explanation, dict) else None
    pieces, at = [], 0
    for span in sorted(spans or [], key=lambda s: s.get("begin", 0)):
        begin, end = span.get("begin"), span.get("end")
        if not isinstance(begin, int) or not isinstance(end, int) or not at <= begin < end <= len(text):
            continue
        pieces += [(text[at:begin], False), (text[begin:end], True)]
        at = end
    pieces.append((text[at:], False))
    return [p for p in pieces if p[0]]


def reject_label(reasons: list) -> str:
    """The label a rejection records: `spam`, `off_topic` when that was the only model reason, or `policy` when
    neither a model reason nor `repeat` held the comment (length policy only). A text posted again and again that
    a moderator rejects is spam (a wave the model let through): one training label for the wave."""
    codes = {r.get("code") for r in reasons or []}
    if not codes & {*MODEL_REASONS, "repeat"}:
        return POLICY_LABEL
    return "off_topic" if "off_topic" in codes and "spam" not in codes else "spam"


@bp.get("/review")
def review():
    if not _signed_in():
        return render_template("login.html", csrf=csrf_token(), keys=True), 401
    store = get_store()
    items = store.review_queue(limit=PAGE_SIZE)
    paused = get_moderator().policy.paused
    for item in items:
        item["reject_label"] = reject_label(item["reasons"])
        # "Stop holding for <reason>" buttons (service/policy_settings.py): the item's reasons not paused yet
        item["pausable"] = [c for c in dict.fromkeys(r.get("code") for r in item["reasons"] or [])
                            if c in REASON_CODES and c not in paused]
        item["segments"] = toxic_segments(item["text"], item.get("explanation"))
    stats = store.wave_stats()
    decided = [wave for wave in store.list_waves(PAGE_SIZE) if wave["label"] is not None]
    return render_template("review.html", items=items, total=store.count_queue(), csrf=csrf_token(),
                           auth=auth_enabled(), moderator=session.get("moderator"), paused=paused,
                           item_total=stats["items"], decided=decided,
                           window="%g" % get_moderator().policy.repeat_window_hours)


@bp.post("/review/end-wave")
def end_wave():
    """The page's "End decision" button (DELETE /v1/waves/<id>): later copies of the text are moderated again."""
    if not _signed_in():
        abort(401, description="Sign in with an admin key first.")
    _check_csrf()
    wave_id = request.form.get("wave_id", "")
    row = get_store().end_wave_decision(int(wave_id)) \
        if wave_id.isascii() and wave_id.isdigit() and len(wave_id) < 19 else None
    if row is None:
        abort(404, description=f"No wave with id {wave_id[:40]}.")
    flash(f"Wave {wave_id}: its decision ended; later copies are moderated again.", "ok")
    return redirect(url_for("review.review"), 303)


@bp.post("/review/login")
def login():
    _check_csrf()
    key = request.form.get("key", "")
    if not auth_enabled():
        return redirect(url_for("review.review"), 303)
    if not key or not key_matches(key, "admin"):
        flash("That is not a valid admin key.", "error")
        return render_template("login.html", csrf=csrf_token(), keys=True), 401
    session.clear()
    session["admin_key"] = _key_fingerprint(key)
    # no NUL: the name is stored with each review, and PostgreSQL refuses one (service/api.py, storable)
    session["moderator"] = (request.form.get("moderator") or "").replace("\x00", "").strip()[:255] or None
    session["csrf"] = secrets.token_urlsafe(32)  # a new token after sign-in
    return redirect(url_for("review.review"), 303)


@bp.post("/review/logout")
def logout():
    _check_csrf()
    session.clear()
    return redirect(url_for("review.review"), 303)


@bp.post("/review/<int:decision_id>")
def act(decision_id: int):
    if not _signed_in():
        abort(401, description="Sign in with an admin key first.")
    _check_csrf()
    action = request.form.get("action")
    if action not in ("accept", "reject"):
        abort(400, description="The action must be accept or reject.")
    store = get_store()
    item = store.get_decision(decision_id) if decision_id < 2**63 else None  # past 64 bits the database errs
    if item is None:
        abort(404, description=f"No flagged comment with id {decision_id}.")
    label = "ham" if action == "accept" else reject_label(item["reasons"])
    moderator = session.get("moderator") or "review page"
    hours = get_moderator().policy.repeat_window_hours if get_moderator() is not None else None
    done = store.review(decision_id, label, moderator, train=label != POLICY_LABEL, wave_hours=hours)
    if done is None:
        flash(f"Comment {decision_id} was reviewed already.", "error")
    else:
        count_review(label, done["copies"])
        verb = "accepted" if action == "accept" else "rejected"
        if done["copies"] > 1 or done["decided_until"] is not None:
            until = f"; later copies until {done['decided_until']:%Y-%m-%d %H:%M} UTC are {verb} at once" \
                if done["decided_until"] is not None else ""
            flash(f"Wave of comment {decision_id}: {done['copies']} copies {verb} (label {label}){until}.", "ok")
        else:
            flash(f"Comment {decision_id}: {verb} (label {label}).", "ok")
    return redirect(url_for("review.review"), 303)


def _secret_key(app: Flask) -> str:
    """One key shared by every worker: from the config, else created once in var/session.key (mode 0600)."""
    if app.config.get("SECRET_KEY"):
        return app.config["SECRET_KEY"]
    path = Path(app.root_path).parent / "var" / "session.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another worker may be writing it right now
            key = path.read_text(encoding="utf-8").strip()
            if key:
                return key
            import time
            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty: delete it and restart") from None
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key


def init_app(app: Flask) -> None:
    app.config["SECRET_KEY"] = _secret_key(app)
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.session_interface = CookieSessionOnDemand()  # no serializer set up for requests without the cookie
    app.register_blueprint(bp)
    app.add_template_filter(lambda value: "-" if value is None else f"{value:.2f}", "score")
