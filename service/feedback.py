"""Moderator labels: POST /v1/feedback stores one label durably and answers 201 with its id.

The label is committed (SQLite WAL with synchronous=FULL, or the configured database) before the response is
sent, so a label the service acknowledged survives a worker killed right after. Labels feed
`python -m training train --with-feedback` and the held-out slice of the promotion gate's evaluation set.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from service.api import article_of
from service.contract import parse
from service.request_models import FeedbackRequest
from service.validation import json_body
from service.auth import require_key
from moderation.store import utc_iso
from service.engine import get_moderator, get_store
from service.errors import ApiError
from service.reviews import count_review

bp = Blueprint("feedback", __name__, url_prefix="/v1")


def parse_feedback(body: dict) -> dict:
    """The label's row (request_models.FeedbackRequest: `text`, `label` and optional `article`, `comment_id`,
    `moderator`, `decision_id`)."""
    sent = parse(FeedbackRequest, body)
    article = article_of(sent)
    return {
        "text": sent.text, "label": sent.label,
        "article_id": article.id if article else None,
        "article_title": (article.title or None) if article else None,
        "article_body": (article.body or None) if article else None,
        # as /v1/moderate stores it (not stripped), so that erasing the comment's id erases its labels too
        "comment_id": sent.comment_id,
        "moderator": sent.moderator,
        "decision_id": sent.decision_id,
    }


@bp.post("/feedback")
@require_key("admin")
def post_feedback():
    """Store a moderator's label; 201 with its id once it is committed."""
    row = parse_feedback(json_body())
    store = get_store()
    if row["decision_id"] is not None:
        # A label about a flagged comment in the review queue also takes it off the queue.
        if store.get_decision(row["decision_id"]) is None:
            raise ApiError(404, "decision_not_found", f"No flagged comment with id {row['decision_id']}.")
        # A copy in a wave decides every pending copy of it (moderation/store.py, Store.review)
        done = store.review(row["decision_id"], row["label"], row["moderator"], wave_hours=wave_hours())
        if done is None:
            raise ApiError(409, "already_reviewed", f"Flagged comment {row['decision_id']} was reviewed already.")
        count_review(row["label"], done["copies"])
        extra = {"reviewed": done["copies"]}
        if done["wave_id"] is not None:
            extra["wave_id"] = done["wave_id"]
            extra["decided_until"] = utc_iso(done["decided_until"])
        return jsonify({"id": done["feedback_id"], "label": row["label"], **extra}), 201
    feedback_id = store.add_feedback(**row)
    return jsonify({"id": feedback_id, "label": row["label"]}), 201


def wave_hours() -> float | None:
    """How long a wave's decision holds for its later copies: the repeat window of the policy in force."""
    moderator = get_moderator()
    return moderator.policy.repeat_window_hours if moderator is not None else None
