"""An Akismet-compatible adapter: a CMS or plugin that speaks Akismet's REST API switches by changing its host.

Akismet (https://akismet.com/developers/) takes form-encoded comments at `/1.1/comment-check` and answers `true`
(spam) or `false` in plain text, with `X-akismet-pro-tip: discard` for blatant spam; moderators' corrections go to
`/1.1/submit-spam` and `/1.1/submit-ham`; `/1.1/verify-key` checks a key. The same paths here run the service's
own moderation:

- `comment_content` is the comment. The key comes as `api_key` (or `key`) in the form, or as a Bearer header:
  MODERATION_API_KEYS for comment-check, MODERATION_ADMIN_KEYS for the submit calls (they become moderator labels,
  training data). `user_ip`, `user_agent`, author name, e-mail and URL are not needed and never stored.
- `permalink` is the article id: send the article's text once with `PUT /v1/articles/<permalink>` and comments
  are scored for relevance against it and its discussion, as with `/v1/moderate`.
- The three-way decision becomes Akismet's two answers: accept -> `false`; flag -> `true` (Akismet's spam queue is
  the only place a plugin holds a comment for review); reject -> `true` with `X-akismet-pro-tip: discard`. The
  decision, reasons, scores and model version are in `X-Moderation-*` headers.
- `is_test` or `recheck_reason` (a second look at a comment already checked): scored, nothing stored.
- Bad requests are this service's JSON 4xx errors (Akismet answers `invalid` with a 200), with Akismet's
  `X-akismet-debug-help` header carrying the message: a plugin sees an error, not a verdict, and retries later.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from flask import Blueprint, Response, request

from moderation.moderator import Article
from service.api import id_only_article, moderate_one
from service.contract import MAX_ID_CHARS, parse
from service.request_models import AkismetComment
from service.validation import raw_body
from service.auth import auth_enabled, bearer_token, key_matches
from service.engine import get_store
from service.errors import ApiError

bp = Blueprint("akismet", __name__, url_prefix="/1.1")

FORM = "application/x-www-form-urlencoded"
THANKS = "Thanks for making the web a better place."  # Akismet's answer to submit-spam and submit-ham
TRUE_VALUES = {"1", "true", "yes", "on"}


def form() -> dict[str, str]:
    """The form fields (first value of each), strictly UTF-8; JSON errors for anything else."""
    if request.mimetype != FORM:
        raise ApiError(415, "unsupported_media_type", f"Send the fields form-encoded, Content-Type: {FORM}.")
    raw = raw_body()
    try:  # percent-encoded UTF-8, or UTF-8 sent as it is: both strict
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_encoding", "The form is not valid UTF-8 (percent-encoded UTF-8 expected).") \
            from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


def check_key(fields: dict, kind: str) -> None:
    if not auth_enabled():
        return
    key = fields.get("api_key") or fields.get("key") or bearer_token()
    if not key:
        raise ApiError(401, "unauthorized", "Send a key as the 'api_key' field (or 'Authorization: Bearer <key>').")
    if not key_matches(key, kind):
        raise ApiError(401, "unauthorized", "The key is not valid for this endpoint.")


def comment(fields: dict) -> tuple[str, Article | None, AkismetComment]:
    """(text, article, the whole request) of a form (request_models.AkismetComment), or a 4xx ApiError."""
    sent = parse(AkismetComment, fields)
    return sent.comment_content, id_only_article(sent.permalink), sent


def moderation_headers(verdict) -> dict:
    """The verdict in `X-Moderation-*` headers, for adapters whose answer has no room for it (Akismet, Coral)."""
    headers = {
        "X-Moderation-Decision": verdict.decision,
        "X-Moderation-Reasons": ",".join(r.code for r in verdict.reasons),
        "X-Moderation-Model-Version": verdict.model_version,
    }
    for name, score in (("Spam", verdict.spam), ("Off-Topic", verdict.off_topic),
                        ("Toxicity", getattr(verdict, "toxicity", None))):
        if score is not None:
            headers[f"X-Moderation-{name}"] = f"{score:.4f}"
    return headers


def plain(body: str, headers: dict | None = None) -> Response:
    return Response(body, status=200, mimetype="text/plain", headers=headers or {})


@bp.post("/comment-check")
def comment_check():
    fields = form()
    check_key(fields, "api")
    text, article, sent = comment(fields)
    record = sent.is_test.strip().lower() not in TRUE_VALUES and not sent.recheck_reason
    verdict, _ = moderate_one(text, article, record=record, parent_id=sent.comment_parent)
    headers = moderation_headers(verdict)
    if verdict.decision == "reject":
        headers["X-akismet-pro-tip"] = "discard"
    return plain("false" if verdict.decision == "accept" else "true", headers)


def _submit(label: str) -> Response:
    fields = form()
    check_key(fields, "admin")
    text, article, sent = comment(fields)
    if not text.strip():
        raise ApiError(422, "invalid_request", "'comment_content' is empty: there is nothing to label.")
    site = sent.blog.strip()[:MAX_ID_CHARS - len("akismet:")]
    store = get_store()
    stored = store.get_article(article.id) if article is not None else None  # its text, for relevance training
    store.add_feedback(text, label, article_id=article.id if article else None,
                       article_title=stored["title"] if stored else None,
                       article_body=stored["body"] if stored else None,
                       moderator=f"akismet:{site}" if site else "akismet")
    return plain(THANKS)


@bp.post("/submit-spam")
def submit_spam():
    """A moderator marked the comment as spam: a `spam` label, stored durably before the answer."""
    return _submit("spam")


@bp.post("/submit-ham")
def submit_ham():
    """A moderator marked the comment as not spam: a `ham` label, stored durably before the answer."""
    return _submit("ham")


@bp.post("/verify-key")
def verify_key():
    """`valid` or `invalid` for the form's `key` (Akismet's answer; a wrong key is an answer here, not an error)."""
    fields = form()
    key = fields.get("key") or fields.get("api_key") or bearer_token() or ""
    valid = not auth_enabled() or (bool(key) and key_matches(key, "api"))
    return plain("valid" if valid else "invalid")


@bp.after_request
def debug_help(response):
    """Akismet clients log `X-akismet-debug-help` when a call fails: give them this service's message."""
    if response.status_code >= 400 and response.is_json:
        error = (response.get_json(silent=True) or {}).get("error") or {}
        message = str(error.get("message", ""))[:300]
        response.headers["X-akismet-debug-help"] = message.encode("ascii", "replace").decode()
    return response
