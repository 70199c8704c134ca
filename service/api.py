"""The moderation API: POST /v1/moderate and GET /v1/model."""

from __future__ import annotations

import json

from flask import Blueprint, jsonify, request

from moderation.explain import explain_verdict
from moderation.moderator import Article
from service.auth import require_key
from service.engine import get_moderator
from service.errors import ApiError

bp = Blueprint("api", __name__, url_prefix="/v1")

ARTICLE_FIELDS = ("id", "title", "body")


def json_body() -> dict:
    """The request body as a JSON object, or an ApiError saying exactly what is wrong with it."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send the body as JSON with Content-Type: application/json.")
    raw = request.get_data(cache=True)
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_encoding", "The body is not valid UTF-8.") from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {exc.msg} at position {exc.pos}.") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "The body is nested too deeply.") from None
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_request", "The body must be a JSON object.")
    return body


def _string(value, name: str) -> str:
    if not isinstance(value, str):
        raise ApiError(422, "invalid_request", f"'{name}' must be a string.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "invalid_text", f"'{name}' contains a lone surrogate, which is not valid Unicode.") from None
    return value


def parse_comment(body: dict) -> tuple[str, Article | None]:
    """Validate a moderation request: `text` (string) and an optional `article` object."""
    if "text" not in body:
        raise ApiError(422, "invalid_request", "The field 'text' is required.")
    text = _string(body["text"], "text")
    article = body.get("article")
    if article is None:
        return text, None
    if not isinstance(article, dict):
        raise ApiError(422, "invalid_request", "'article' must be an object with 'id', 'title' and 'body'.")
    article_id = article.get("id")
    if article_id is not None and (isinstance(article_id, bool) or not isinstance(article_id, (str, int))):
        raise ApiError(422, "invalid_request", "'article.id' must be a string or an integer.")
    title = _string(article.get("title") or "", "article.title")
    content = _string(article.get("body") or "", "article.body")
    return text, Article(None if article_id is None else str(article_id), title, content)


@bp.post("/moderate")
@require_key("api")
def moderate():
    """Decide on one comment: accept, flag or reject, with scores, reasons and the model version."""
    body = json_body()
    text, article = parse_comment(body)
    explain = body.get("explain", False)
    if not isinstance(explain, bool):
        raise ApiError(422, "invalid_request", "'explain' must be true or false.")
    moderator = get_moderator()
    if moderator is None:
        raise ApiError(503, "model_unavailable", "No model is loaded.")
    verdict = moderator.moderate(text, article).to_dict()
    if explain:
        verdict["explanation"] = explain_verdict(moderator, text, verdict)
    return jsonify(verdict)


@bp.get("/model")
@require_key("api")
def model():
    """The live model's version, metadata and the policy it serves under."""
    moderator = get_moderator()
    if moderator is None:
        raise ApiError(503, "model_unavailable", "No model is loaded.")
    return jsonify({**moderator.model.metadata, "version": moderator.version, "policy": moderator.policy.to_dict()})
