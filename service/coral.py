"""A Coral Talk external-moderation endpoint: Coral (v6+) asks this service about each new or edited comment.

In Coral's admin (Configure -> Moderation -> External moderation phases) a phase has a URL, a timeout and signing
secrets. For every new comment, and every edit, Coral POSTs JSON to the URL:

    {"action": "NEW" | "EDIT",
     "comment": {"id": "...", "parentID": "..." | null, "body": "<p>HTML</p>"},
     "author": {"id": "...", "role": "COMMENTER", "createdAt": "..."},
     "story": {"id": "...", "url": "https://..."}, "site": {"id": "..."}, "tenantID": "...", "tenantDomain": "..."}

with `X-Coral-Signature: sha256=<hex>[,sha256=<hex>...]`, the HMAC-SHA256 of the raw body with each of the
phase's active signing secrets (several while a secret is being rotated). It applies the answer, all keys optional:
`{"status": "APPROVED" | "NONE" | "PREMOD" | "REJECTED" | "SYSTEM_WITHHELD", "actions": [{"actionType": "FLAG",
"reason": "COMMENT_DETECTED_..."}], "tags": []}`; a status ends Coral's pipeline for the comment, `{}` lets Coral's
own phases go on, and an error or a timeout counts as no opinion.

THE CONTRACT ABOVE IS WRITTEN FROM CORAL'S DOCUMENTATION AS REMEMBERED, NOT CHECKED AGAINST CORAL'S SOURCE OR A
RUNNING CORAL (neither was reachable when this was written). Everything Coral-specific is in this module's
constants (SIGNATURE_HEADER, FLAG_REASONS, the statuses) and its request model (service/request_models.py,
CoralRequest): fix it here if Coral differs.

The comment goes through the same path as `POST /v1/moderate` (`moderate_one`): same decision, reasons, metrics,
access log (no text unless MODERATION_LOG_TEXT), thread and review-queue writes. `comment.id` is the comment id (a
retry or an EDIT replaces the pending review item instead of adding one, and joins the thread once), `story.id`
the article id (MODERATION_CORAL_ARTICLE_ID=story.url to use the story's URL instead): send the article's text
with `PUT /v1/articles/<id>` and off_topic is scored; otherwise it is null, as for an id-only article in
/v1/moderate. The signature is the authentication (Coral sends no API key); the endpoint answers 404 unless
MODERATION_CORAL_SIGNING_SECRETS is set.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import re

from flask import Blueprint, Flask, current_app, jsonify, request

from moderation.moderator import Article
from service.akismet import moderation_headers
from service.api import id_only_article, moderate_one
from service.contract import parse
from service.request_models import CoralRequest
from service.validation import json_body, raw_body
from service.errors import ApiError

log = logging.getLogger(__name__)

bp = Blueprint("coral", __name__, url_prefix="/coral/v1")

SIGNATURE_HEADER = "X-Coral-Signature"
# The WWW-Authenticate of a 401 here: the signature, not a Bearer key, authenticates this route.
CHALLENGE = 'Coral-Signature realm="coral", header="X-Coral-Signature"'
MAX_SIGNATURES = 16  # values in one header: a rotation has two or three; more is not Coral
ACCEPT_STATUSES = ("APPROVED", "NONE")  # MODERATION_CORAL_ACCEPT_STATUS; unset: {} (Coral's own phases go on)
REJECT_STATUS = "REJECTED"
FLAG_STATUS = "SYSTEM_WITHHELD"  # held for Coral's moderators (its "pending" queue)
ARTICLE_ID_FIELDS = {"story.id": "id", "story.url": "url"}  # MODERATION_CORAL_ARTICLE_ID
# Our reason code -> Coral's flag reason. A reason missing here (off_topic: Coral has no such flag) adds no action.
FLAG_REASONS = {
    "spam": "COMMENT_DETECTED_SPAM",
    "toxic": "COMMENT_DETECTED_TOXIC",  # Coral's own flag for what its Perspective phase finds toxic
    "banned_word": "COMMENT_DETECTED_BANNED_WORD",
    "suspect_word": "COMMENT_DETECTED_SUSPECT_WORD",
    "links": "COMMENT_DETECTED_LINKS",
    "repeat": "COMMENT_DETECTED_REPEAT_POST",
    "too_long": "COMMENT_DETECTED_BODY_COUNT",  # the nearest Coral has: its flag for the body's length
    "empty": "COMMENT_DETECTED_BODY_COUNT",
}
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")


def signing_secrets() -> list[bytes]:
    """The configured secrets (MODERATION_CORAL_SIGNING_SECRETS, comma-separated; a list in a test config)."""
    value = current_app.config.get("CORAL_SIGNING_SECRETS") or []
    if not isinstance(value, (list, tuple)):
        value = str(value).split(",")  # from_prefixed_env parses JSON: a numeric secret arrives as a number
    return [str(s).strip().encode("utf-8") for s in value if s is not None and str(s).strip()]


def accept_status(config) -> str | None:
    """What an accepted comment answers: None ({}) by default, or APPROVED / NONE; ValueError for anything else."""
    value = config.get("CORAL_ACCEPT_STATUS")
    if value in (None, ""):
        return None
    status = str(value).strip().upper()
    if status not in ACCEPT_STATUSES:
        raise ValueError(f"MODERATION_CORAL_ACCEPT_STATUS must be unset, {' or '.join(ACCEPT_STATUSES)}, "
                         f"not {value!r}")
    return status


def article_id_field(config) -> str:
    value = config.get("CORAL_ARTICLE_ID") or "story.id"
    if value not in ARTICLE_ID_FIELDS:
        raise ValueError(f"MODERATION_CORAL_ARTICLE_ID must be one of {', '.join(ARTICLE_ID_FIELDS)}, not {value!r}")
    return ARTICLE_ID_FIELDS[value]


def verify_signature(raw: bytes, header: str | None, secrets: list[bytes]) -> bool:
    """Whether any `sha256=<hex>` of the header is the HMAC-SHA256 of the raw body with any secret. Every pair is
    compared in constant time, and all of them, so timing says nothing about which secret or value was close."""
    sent = _SIGNATURE.findall(header or "")[:MAX_SIGNATURES]
    expected = [hmac.new(secret, raw, hashlib.sha256).hexdigest() for secret in secrets]
    match = False
    for value in sent:
        for digest in expected:
            match |= hmac.compare_digest(value.lower(), digest)
    return match


# A tag: bounded, so scanning a hostile body stays linear (html.parser takes tens of seconds on 60 KB of "<a ").
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]{0,20})((?:\s[^<>]{0,1000})?)/?>")
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_OPEN_BREAKS = {"br": "\n", "p": "\n\n", "div": "\n", "li": "\n", "blockquote": "\n\n", "ul": "\n", "ol": "\n"}
_CLOSE_BREAKS = {tag: gap for tag, gap in _OPEN_BREAKS.items() if tag != "br"}
_HIDDEN = {"script", "style", "template"}
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")
_SPACES = re.compile(r"[ \t\r\f\v]+")


def html_to_text(body: str) -> str:
    """The comment's text from Coral's HTML body, as its reader sees it: tags out, entities decoded, line breaks
    kept, and a link's target kept beside its text (the model and the links rule must see where it points).
    Plain text passes through unchanged but for white space; a `<` that starts no tag stays."""
    if "<" not in body and "&" not in body:
        return body.strip()
    parts: list[str] = []
    links: list[tuple[str, int]] = []  # (href, index in parts where the link's text starts)
    hidden, at = 0, 0
    for tag in _TAG.finditer(body):
        if not hidden:
            parts.append(html.unescape(body[at:tag.start()]))
        at = tag.end()
        closing, name = tag.group(1) == "/", tag.group(2).lower()
        if name in _HIDDEN:
            hidden = max(0, hidden - 1) if closing else hidden + 1
        elif hidden:
            continue
        elif name in (_CLOSE_BREAKS if closing else _OPEN_BREAKS):
            parts.append(_OPEN_BREAKS[name])
        elif name == "a" and not closing:
            if len(links) < 20:  # links in links: a few levels kept, never thousands
                href = _HREF.search(tag.group(3))
                links.append((html.unescape(next(g for g in href.groups() if g is not None)).strip() if href
                              else "", len(parts)))
        elif name == "a" and links:
            href, start = links.pop()
            shown = "".join(parts[start:]).strip()
            if href and href not in shown:
                parts.append(f" ({href})" if shown else href)
    if not hidden:
        parts.append(html.unescape(body[at:]))
    while links:  # left open: a browser shows them as links to the end of the comment, so their targets count too
        href, start = links.pop()
        shown = "".join(parts[start:]).strip()
        if href and href not in shown:
            parts.append(f" ({href})" if shown else f" {href}")
    text = _SPACES.sub(" ", "".join(parts))
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def parse_request(body: dict) -> tuple[str, str | None, Article | None, str | None]:
    """(text, comment id, article, id of the comment it answers) of Coral's request (request_models.CoralRequest);
    a 4xx ApiError saying what is wrong otherwise."""
    sent = parse(CoralRequest, body)
    story = sent.story
    story_id = getattr(story, article_id_field(current_app.config)) if story is not None else None
    if isinstance(story_id, str):
        story_id = story_id.strip()
    article = None if story_id is None else id_only_article(str(story_id))
    return html_to_text(sent.comment.body), sent.comment.id, article, sent.comment.parentID or None


def coral_answer(verdict, accepted: str | None) -> dict:
    """Coral's answer to a verdict: REJECTED or SYSTEM_WITHHELD with a FLAG action per mapped reason that acted
    (each Coral reason once), or for an accepted comment {} / the configured status."""
    if verdict.decision == "accept":
        return {"status": accepted} if accepted else {}
    reasons = []
    for reason in verdict.reasons:
        coral = FLAG_REASONS.get(reason.code)
        if coral and getattr(reason, "action", verdict.decision) != "accept" and coral not in reasons:
            reasons.append(coral)
    return {"status": REJECT_STATUS if verdict.decision == "reject" else FLAG_STATUS,
            "actions": [{"actionType": "FLAG", "reason": r} for r in reasons]}


@bp.post("/moderate")
def moderate():
    """Coral's external moderation phase: a signed comment in, Coral's status and flags out."""
    secrets = signing_secrets()
    if not secrets:
        raise ApiError(404, "not_found", "The Coral endpoint is not enabled: set MODERATION_CORAL_SIGNING_SECRETS "
                                         "to the phase's signing secret.")
    raw = raw_body()  # 413 over the limit, before any work
    header = request.headers.get(SIGNATURE_HEADER)
    if not header:
        raise ApiError(401, "unauthorized", f"Send the body's signature in {SIGNATURE_HEADER}: sha256=<hex>.",
                       CHALLENGE)
    if not verify_signature(raw, header, secrets):
        log.warning("coral: the %s header matches no configured signing secret", SIGNATURE_HEADER)
        raise ApiError(401, "unauthorized", f"{SIGNATURE_HEADER} matches no configured signing secret.",
                       CHALLENGE)
    text, comment_id, article, parent_id = parse_request(json_body())
    verdict, _ = moderate_one(text, article, comment_id, parent_id=parent_id)
    response = jsonify(coral_answer(verdict, current_app.extensions["coral_accept_status"]))
    response.headers.update(moderation_headers(verdict))
    return response


def init_app(app: Flask) -> None:
    """Check the Coral settings (a bad one stops the start) and register the endpoint."""
    app.extensions["coral_accept_status"] = accept_status(app.config)
    article_id_field(app.config)
    app.register_blueprint(bp)
