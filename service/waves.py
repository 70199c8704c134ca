"""Spam waves in the service: the wave state of each comment's text, the decision later copies get, the wave
endpoints and metrics (moderation/waves.py says what a wave is; moderation/store.py keeps them).

- `GET /v1/waves?limit=<n>` (admin key): waves awaiting review (with `pending` copies) and waves whose decision is
  in force, newest first.
- `DELETE /v1/waves/<id>` (admin key): end a wave's decision now. Later copies are moderated as any comment again
  (the `repeat` rule holds them, and they group into a new review item). Reviews already made stand.
- `moderation_wave_copies_total{outcome}`: copies of a wave's text, by what happened to them: `held` (joined a
  wave awaiting review), `accept` / `reject` (given a moderator's decision at once); `moderation_waves_open` (in
  /metrics, read from the store at each scrape): waves with two or more copies awaiting review.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from prometheus_client import Counter

from moderation.store import as_utc, now, utc_iso
from moderation.waves import in_force, is_open, settle
from service.auth import require_key
from service.engine import get_store
from service.errors import ApiError
from service.contract import parse_query
from service.request_models import WavesQuery

bp = Blueprint("waves", __name__, url_prefix="/v1")

WAVE_COPIES = Counter("moderation_wave_copies_total",
                      "Copies of a wave's text: held (joined a wave awaiting review), accept or reject (given a "
                      "moderator's decision on the wave at once).", ["outcome"])
for _outcome in ("held", "accept", "reject"):
    WAVE_COPIES.labels(outcome=_outcome)


def look_up(keys) -> dict:
    """{fingerprint: wave row or None} for a request's fingerprints (one indexed read each, distinct ones once)."""
    store = get_store()
    return {key: store.wave_state(key) for key in dict.fromkeys(keys) if key is not None}


def standing(waves: dict, key) -> bool:
    """Whether the text `key` has a moderator's decision in force (its copies are not counted or held)."""
    return key is not None and in_force(waves.get(key), now())


def settle_all(verdicts: list, keys: list, waves: dict) -> list:
    """The verdicts with the decisions in force applied (moderation/waves.py `settle`), counted."""
    if not waves:
        return verdicts
    at = now()
    out = []
    for verdict, key in zip(verdicts, keys):
        wave = waves.get(key) if key is not None else None
        settled = settle(verdict, wave, at)
        if settled is not verdict:
            WAVE_COPIES.labels(outcome=settled.decision).inc()
        elif verdict.decision == "flag" and is_open(wave):
            WAVE_COPIES.labels(outcome="held").inc()
        out.append(settled)
    return out


def explained_before(waves: dict, key) -> bool:
    """A held copy of a text whose wave awaits review: its explanation is the wave's (computed for its first copy),
    so it is not computed again for each copy."""
    return key is not None and is_open(waves.get(key))


def wave_json(row: dict) -> dict:
    at = now()
    return {"id": int(row["id"]), "label": row["label"], "moderator": row["moderator"],
            "decision_id": row["decision_id"], "opened_at": utc_iso(row["opened_at"]),
            "decided_at": utc_iso(row["decided_at"]), "decided_until": utc_iso(row["decided_until"]),
            "in_force": in_force({"label": row["label"], "decided_until": as_utc(row["decided_until"])}, at),
            **({"pending": int(row["pending"])} if "pending" in row else {})}


def queue_wave_json(wave: dict | None) -> dict | None:
    """The `wave` of a review-queue item (GET /v1/review-queue): None for a comment outside any wave."""
    if wave is None:
        return None
    return {"id": wave["id"], "count": wave["count"], "first_seen": utc_iso(wave["first_seen"]),
            "last_seen": utc_iso(wave["last_seen"]), "articles": wave["articles"],
            "article_count": wave["article_count"], "comment_ids": wave["comment_ids"],
            "scores": {"spam": wave["spam"], "off_topic": wave["off_topic"]}}


@bp.get("/waves")
@require_key("admin")
def list_waves():
    """Waves awaiting review or with a decision in force, newest first, at most `limit` (100, up to 1000)."""
    limit = parse_query(WavesQuery, request.args).limit
    return jsonify({"waves": [wave_json(row) for row in get_store().list_waves(limit)]})


@bp.delete("/waves/<wave_id>")
@require_key("admin")
def end_wave(wave_id: str):
    """End a wave's decision now: its later copies are moderated as any comment again. 404 for no such wave, 409
    for a wave awaiting review (decide it with POST /v1/feedback and a copy's decision_id)."""
    store = get_store()
    # the id as a string in the route, so that the key is checked before anything else (401 for any path)
    found = store.get_wave(int(wave_id)) if wave_id.isascii() and wave_id.isdigit() and len(wave_id) < 19 \
        else None
    if found is None:
        raise ApiError(404, "wave_not_found", f"No wave with id {wave_id}.")
    if found["label"] is None:
        raise ApiError(409, "wave_not_decided",
                       f"Wave {wave_id} awaits review: decide it with POST /v1/feedback and one of its decision ids.")
    row = store.end_wave_decision(int(wave_id))
    return jsonify({"wave": wave_json(row)})


def init_app(app) -> None:
    app.register_blueprint(bp)
