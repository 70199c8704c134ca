"""The moderators' decisions for the CMS: `GET /v1/reviews?after=<cursor>&limit=<n>`; and the queue they decide
on, for moderation tools of the site's own: `GET /v1/review-queue?before=<id>&limit=<n>` (admin key).

A comment the service flags is held by the CMS for a moderator. When a moderator decides (the review page's
Accept / Reject, or `POST /v1/feedback` with a `decision_id`), the store writes a review event in the same
transaction as the review (moderation/store.py, `review_events`): the CMS's `comment_id`, the `article_id`, the
`outcome` (`accept`: publish the comment, `reject`: delete it), the moderator's `label`, `reviewed_at`, and the
`decision_id` and `model_version` of the verdict that held it. Each event has a `cursor`, increasing in commit
order. The CMS polls with the last `next` it got and never misses or sees twice an outcome, across restarts and
whichever worker recorded the review. Reading changes nothing.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from prometheus_client import Counter

from moderation.store import review_event_json, review_outcome, utc_iso
from service.auth import require_key
from service.engine import get_store
from service.contract import parse_query
from service.request_models import QueueQuery, ReviewsQuery
from service.waves import queue_wave_json

bp = Blueprint("reviews", __name__, url_prefix="/v1")

REVIEWS = Counter("moderation_reviews_total", "Flagged comments reviewed by a moderator, by outcome for the CMS.",
                  ["outcome"])
for _outcome in ("accept", "reject"):  # both series exist (at 0) before the first review
    REVIEWS.labels(outcome=_outcome)


def count_review(label: str, comments: int = 1) -> None:
    """Count a recorded review of `comments` flagged comments (a wave's copies; call it once it is committed)."""
    REVIEWS.labels(outcome=review_outcome(label)).inc(comments)


@bp.get("/reviews")
@require_key("api")
def list_reviews():
    """The review events after the cursor `after` (0 or absent: from the first), oldest first, at most `limit`."""
    query = parse_query(ReviewsQuery, request.args)
    after, limit = query.after, query.limit
    rows = get_store().review_events(after, limit + 1)
    more = len(rows) > limit
    events = [review_event_json(row) for row in rows[:limit]]
    return jsonify({"reviews": events, "next": events[-1]["cursor"] if events else after, "has_more": more})


def queue_item_json(row: dict) -> dict:
    """A flagged comment awaiting review, as `GET /v1/review-queue` lists it."""
    return {"decision_id": int(row["id"]), "comment_id": row["comment_id"], "article_id": row["article_id"],
            "text": row["text"], "decision": row["decision"],
            "scores": {"spam": row["spam"], "off_topic": row["off_topic"]}, "reasons": row["reasons"],
            "explanation": row["explanation"], "model_version": row["model_version"],
            "created_at": utc_iso(row["created_at"]), "wave": queue_wave_json(row.get("wave"))}


@bp.get("/review-queue")
@require_key("admin")
def review_queue():
    """The flagged comments awaiting a moderator, newest first, at most `limit`; `before` (the previous page's
    `next_before`) pages back. Decide on one with `POST /v1/feedback` and its `decision_id`: the review page's
    Accept / Reject, for moderation tools of the site's own. Reading changes nothing."""
    query = parse_query(QueueQuery, request.args)
    before, limit = query.before, query.limit
    store = get_store()
    rows = store.review_queue(limit + 1, before=before)
    items = [queue_item_json(row) for row in rows[:limit]]
    pending, _ = store.queue_stats()
    return jsonify({"items": items, "pending": pending, "pending_items": store.wave_stats()["items"],
                    "next_before": items[-1]["decision_id"] if len(rows) > limit else None})
