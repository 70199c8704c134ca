"""A Perspective-compatible endpoint: `POST /v1alpha1/comments:analyze` answers TOXICITY as Perspective does.

A site or a CMS (Coral's "Perspective" settings, a plugin, a script using Google's API client) keeps its
Perspective client and changes only the endpoint: the key travels as `?key=` (as Perspective clients send it)
or as `Authorization: Bearer`, checked against the service's API keys (service/auth.py). Errors come in
Google's shape, `{"error": {"code": 400, "message", "status": "INVALID_ARGUMENT"}}`, because Perspective
clients read that shape. Nothing sent here is stored (`doNotStore` is honoured by construction).

`comments:suggestscore` (a moderator's verdict, which Coral sends back) is accepted and answered like
Perspective, and not recorded: the service's labels are spam, ham and off-topic (POST /v1/feedback), not
toxicity. `GET /$discovery/rest?version=v1alpha1` serves the API's discovery document, for Google's API client.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, jsonify, request

from moderation.moderator import SCORED_CHARS
from moderation.text import clear_memos, is_blank
from service.validation import raw_body
from service.auth import auth_enabled, bearer_token, key_matches
from service.engine import get_moderator

bp = Blueprint("perspective", __name__)

ATTRIBUTE = "TOXICITY"
LANGUAGES = ("en",)
DISCOVERY = Path(__file__).with_name("perspective_discovery.json")
STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          503: "UNAVAILABLE"}


class PerspectiveError(Exception):
    """An error answered in Google's JSON error shape."""

    def __init__(self, code: int, message: str, details: list | None = None):
        super().__init__(message)
        self.code, self.message, self.details = code, message, details


@bp.errorhandler(PerspectiveError)
def perspective_error(exc: PerspectiveError):
    body = {"code": exc.code, "message": exc.message, "status": STATUS.get(exc.code, "INVALID_ARGUMENT")}
    if exc.details:
        body["details"] = exc.details
    response = jsonify({"error": body})
    response.status_code = exc.code
    return response


def _check_key() -> None:
    if not auth_enabled():
        return
    key = request.args.get("key") or bearer_token()
    if not key:
        raise PerspectiveError(403, "The request is missing a valid API key.")
    if not key_matches(key, "api"):
        raise PerspectiveError(400, "API key not valid. Please pass a valid API key.")


def _body() -> dict:
    raw = raw_body()
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise PerspectiveError(400, "Invalid JSON payload received.") from None
    if not isinstance(body, dict):
        raise PerspectiveError(400, "Invalid JSON payload received. Expected an object.")
    return body


def _comment_text(body: dict) -> str:
    comment = body.get("comment")
    if not isinstance(comment, dict) or not isinstance(comment.get("text"), str):
        raise PerspectiveError(400, "Comment must be specified.")
    text = comment["text"]
    if comment.get("type", "PLAIN_TEXT") != "PLAIN_TEXT":
        raise PerspectiveError(400, f"Comment type {comment.get('type')} is not supported; send PLAIN_TEXT.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise PerspectiveError(400, "Comment text is not valid Unicode.") from None
    if is_blank(text):
        raise PerspectiveError(400, "Comment text was too short to analyze.")
    return text


def _languages(body: dict) -> list[str]:
    languages = body.get("languages")
    if languages is None or languages == []:
        return []
    if not isinstance(languages, list) or not all(isinstance(code, str) for code in languages):
        raise PerspectiveError(400, "languages must be a list of language codes.")
    return [code.lower() for code in languages]


def _unsupported(attribute: str, languages: list[str]) -> PerspectiveError:
    shown = ",".join(languages) or "en"
    return PerspectiveError(400, f"Attribute {attribute} does not support request languages: {shown}", [{
        "@type": "type.googleapis.com/google.commentanalyzer.v1alpha1.Error",
        "errorType": "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
        "languageNotSupportedByAttributeError": {"detectedLanguages": languages or ["en"], "attribute": attribute},
    }])


def _moderator():
    moderator = get_moderator()
    if moderator is None or moderator.toxicity is None:
        raise PerspectiveError(503, "The toxicity model is not loaded.")
    return moderator


@bp.post("/v1alpha1/comments:analyze")
def analyze():
    """Score a comment's TOXICITY the way Perspective's comments:analyze answers it."""
    _check_key()
    body = _body()
    text = _comment_text(body)
    languages = _languages(body)
    requested = body.get("requestedAttributes")
    if not isinstance(requested, dict) or not requested:
        raise PerspectiveError(400, "At least one requested attribute must be specified.")
    for attribute, options in requested.items():
        if attribute != ATTRIBUTE:
            raise _unsupported(attribute, languages)
        if options is not None and not isinstance(options, dict):
            raise PerspectiveError(400, f"requestedAttributes.{attribute} must be an object.")
        if (options or {}).get("scoreType", "PROBABILITY") != "PROBABILITY":
            raise PerspectiveError(400, f"Score type {options['scoreType']} is not supported; use PROBABILITY.")
    if any(code.split("-")[0] not in LANGUAGES for code in languages):  # "en", "en-US"...
        raise _unsupported(ATTRIBUTE, languages)
    spans_wanted = body.get("spanAnnotations", False)
    if not isinstance(spans_wanted, bool):
        raise PerspectiveError(400, "spanAnnotations must be true or false.")
    moderator = _moderator()
    clear_memos()
    scored = text[:SCORED_CHARS]
    value = round(float(moderator.toxicity.scores([scored])[0]), 4)
    threshold = (requested[ATTRIBUTE] or {}).get("scoreThreshold")
    if threshold is not None and not isinstance(threshold, (int, float)):
        raise PerspectiveError(400, "scoreThreshold must be a number.")
    if spans_wanted:  # the words that made it toxic, each with its own weight
        spans = [{"begin": s["begin"], "end": s["end"], "score": {"value": s["score"], "type": "PROBABILITY"}}
                 for s in moderator.toxicity.spans(scored, value)]
    else:  # Perspective's default: one span, the whole comment
        spans = [{"begin": 0, "end": len(text), "score": {"value": value, "type": "PROBABILITY"}}]
    answer = {"attributeScores": {}, "languages": languages or ["en"], "detectedLanguages": ["en"]}
    if threshold is None or value >= threshold:  # Perspective leaves out an attribute under its threshold
        answer["attributeScores"][ATTRIBUTE] = {"spanScores": spans,
                                                "summaryScore": {"value": value, "type": "PROBABILITY"}}
    if isinstance(body.get("clientToken"), str):
        answer["clientToken"] = body["clientToken"]
    return jsonify(answer)


@bp.post("/v1alpha1/comments:suggestscore")
def suggest_score():
    """Accept a suggested score (a moderator's verdict) as Perspective does; it is not recorded."""
    _check_key()
    body = _body()
    _comment_text(body)
    scores = body.get("attributeScores")
    if not isinstance(scores, dict) or not scores:
        raise PerspectiveError(400, "At least one attribute score must be specified.")
    answer = {"detectedLanguages": ["en"]}
    if isinstance(body.get("clientToken"), str):
        answer["clientToken"] = body["clientToken"]
    return jsonify(answer)


@bp.get("/$discovery/rest")
def discovery():
    """The API's discovery document (Google's API client builds its calls from it), rooted at this service."""
    if request.args.get("version", "v1alpha1") != "v1alpha1":
        raise PerspectiveError(404, "Discovery document not found for this version.")
    document = json.loads(DISCOVERY.read_text(encoding="utf-8"))
    document["rootUrl"] = document["baseUrl"] = request.host_url
    return jsonify(document)
