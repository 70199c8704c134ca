"""The OpenAPI 3.0 description of the service, served at GET /openapi.json.

The operations (paths, parameters, statuses and their meaning) are declared here; every schema of a request body
or a JSON answer is generated from the pydantic models the views validate with (service/request_models.py) and
that declare the answers (service/response_models.py), so the document cannot drift from the code.
tests/test_openapi.py runs schemathesis against every operation listed here (no 5xx, every response matching its
documented status, content type and schema), so a new endpoint is covered as soon as its path is added to PATHS.
"""

from __future__ import annotations

import copy

from flask import Blueprint, jsonify

from service import request_models as rq, response_models as rs
from service.contract import MAX_ID_CHARS, NO_NUL, component_schemas

bp = Blueprint("openapi", __name__)

JSON = "application/json"


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def error(description: str) -> dict:
    return {"description": description, "content": {JSON: {"schema": ref("Error")}}}


def json_body(schema_name: str, description: str) -> dict:
    return {"required": True, "description": description, "content": {JSON: {"schema": ref(schema_name)}}}


# Errors every key-protected JSON endpoint can answer.
STORE_DOWN = error("The store could not be reached (`store_unavailable`); retry after `Retry-After` seconds.")
# An id in the path holding a NUL character (%00): no store can keep it (service/api.py, storable).
NUL_IN_PATH = error("The id holds a NUL character, U+0000 (`invalid_text`).")

BAD_INPUT = {
    "400": error("Malformed body: not JSON (`invalid_json`), not UTF-8 (`invalid_encoding`), lone surrogates "
                 "or a NUL character (U+0000) in a string (`invalid_text`)."),
    "401": error("Missing or wrong API key (`unauthorized`)."),
    "413": error("The body is over the endpoint's size limit (`request_entity_too_large`)."),
    "415": error("The body is not sent as `application/json` (`unsupported_media_type`)."),
    "422": error("Well-formed JSON that is not a valid request: missing field, wrong type (`invalid_request`)."),
    "503": error("No model is loaded (`model_unavailable`), or the store could not record the request "
                 "(`store_unavailable`: nothing was recorded; retry after `Retry-After` seconds)."),
}

ID_IN_PATH = {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS, "pattern": NO_NUL}
ARTICLE_ID = [{"name": "article_id", "in": "path", "required": True,
               "schema": ID_IN_PATH}]

OPEN = []  # no security requirement


def paged(query: type, page: str, schema: str) -> dict:
    """The parameters (from the query's model: a cursor and `limit`) and responses of a paged GET."""
    cursor = next(name for name in query.model_fields if name != "limit")
    return {
        "parameters": query.parameters(),
        "responses": {"200": {"description": page, "content": {JSON: {"schema": ref(schema)}}},
                      "401": BAD_INPUT["401"],
                      "422": error(f"`{cursor}` or `limit` is not an integer in range, or another query parameter "
                                   "was sent (`invalid_request`)."),
                      "503": STORE_DOWN},
    }


FORM = "application/x-www-form-urlencoded"
MODERATION_HEADERS = {name: {"schema": {"type": "string"}, "description": text} for name, text in (
    ("X-Moderation-Decision", "accept, flag or reject"), ("X-Moderation-Reasons", "reason codes, comma-separated"),
    ("X-Moderation-Model-Version", "the model version"))}


def AKISMET_SUBMIT(label: str) -> dict:  # noqa: N802 - reads like the constant it is in PATHS
    return {
        "summary": f"Akismet-compatible correction: a `{label}` moderator label (admin key), stored durably.",
        "tags": ["akismet"],
        "requestBody": {"required": True, "content": {FORM: {"schema": ref("AkismetComment")}}},
        "responses": {"200": {"description": "Stored.", "content": {"text/plain": {"schema": {"type": "string"}}}},
                      **{k: v for k, v in BAD_INPUT.items() if k != "422"},
                      "422": error("No `comment_content`, or an empty one (`invalid_request`).")},
    }


PATHS = {
    "/healthz": {"get": {
        "summary": "Liveness: the process answers HTTP.", "security": OPEN, "tags": ["probes"],
        "responses": {"200": {"description": "Alive.", "content": {JSON: {"schema": ref("Liveness")}}}},
    }},
    "/readyz": {"get": {
        "summary": "Readiness: a verified model is loaded and the store answers a round trip within "
                   "MODERATION_READY_TIMEOUT_SECONDS (0.5 s); 503 names the part that failed.",
        "security": OPEN, "tags": ["probes"],
        "responses": {
            "200": {"description": "Ready.", "content": {JSON: {"schema": ref("Readiness")}}},
            "503": {"description": "Not ready: no model loaded, or the store failed (`error`) or did not answer in "
                                   "time (`timeout`). The reason never holds the database URL; the log has the "
                                   "driver's message.", "content": {JSON: {"schema": ref("NotReady")}}},
        },
    }},
    "/metrics": {"get": {
        "summary": "Prometheus metrics of all workers.", "security": OPEN, "tags": ["operations"],
        "responses": {"200": {"description": "Prometheus text exposition format.",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}},
    }},
    "/openapi.json": {"get": {
        "summary": "This document.", "security": OPEN, "tags": ["operations"],
        "responses": {"200": {"description": "OpenAPI 3.0 document.", "content": {JSON: {"schema": {"type": "object"}}}}},
    }},
    "/v1/moderate": {"post": {
        "summary": "Decide on one comment: accept, flag or reject.", "tags": ["moderation"],
        "requestBody": json_body("ModerateRequest", "The comment and, optionally, its article."),
        "responses": {"200": {"description": "The decision.", "content": {JSON: {"schema": ref("Verdict")}}},
                      **BAD_INPUT},
    }},
    "/v1/moderate/batch": {"post": {
        "summary": "Decide on up to 1,000 comments in one call (scored together).", "tags": ["moderation"],
        "description": "One invalid comment rejects the whole batch; the error message names it (`comments[i]`). "
                       "More than the limit of comments is 422 `batch_too_large`.",
        "requestBody": json_body("BatchRequest", "The comments, each with an optional id and article."),
        "responses": {"200": {"description": "One result per comment, in order.",
                              "content": {JSON: {"schema": ref("BatchResponse")}}},
                      **BAD_INPUT},
    }},
    "/v1/articles/{article_id}": {
        "put": {
            "summary": "Send an article once; comments may then give only its id.", "tags": ["articles"],
            "parameters": ARTICLE_ID,
            "requestBody": json_body("ArticleText", "The article's title and body."),
            "responses": {"200": {"description": "Replaced (its thread is kept).",
                                  "content": {JSON: {"schema": ref("StoredArticle")}}},
                          "201": {"description": "Created.", "content": {JSON: {"schema": ref("StoredArticle")}}},
                          **BAD_INPUT},
        },
        "get": {
            "summary": "A stored article and the size of its thread.", "tags": ["articles"],
            "parameters": ARTICLE_ID,
            "responses": {"200": {"description": "The article.", "content": {JSON: {"schema": ref("StoredArticle")}}},
                          "400": NUL_IN_PATH,
                          "401": BAD_INPUT["401"], "404": error("No such article (`article_not_found`)."),
                          "422": BAD_INPUT["422"], "503": STORE_DOWN},
        },
        "delete": {
            "summary": "Delete an article and its thread (the comments accepted under it).",
            "tags": ["articles"],
            "description": "Its flagged comments and moderator labels stay: erase those by comment id. Idempotent: "
                           "200 with zero counts when nothing was stored.",
            "parameters": ARTICLE_ID,
            "responses": {"200": {"description": "Deleted.", "content": {JSON: {"schema": ref("ArticleErased")}}},
                          "400": NUL_IN_PATH,
                          "401": BAD_INPUT["401"], "422": BAD_INPUT["422"], "503": BAD_INPUT["503"]},
        },
    },
    "/v1/comments/{comment_id}": {"get": {
        "summary": "What the service holds under your comment id (for a reader's access request).",
        "tags": ["articles"],
        "parameters": [{"name": "comment_id", "in": "path", "required": True,
                        "schema": ID_IN_PATH}],
        "responses": {"200": {"description": "The records.", "content": {JSON: {"schema": ref("CommentRecords")}}},
                      "400": NUL_IN_PATH,
                      "401": BAD_INPUT["401"], "404": error("Nothing stored under that id (`comment_not_found`)."),
                      "422": BAD_INPUT["422"], "503": STORE_DOWN},
    }, "delete": {
        "summary": "Erase a comment by your id: from its article's thread, the review log and moderator labels.",
        "tags": ["articles"],
        "description": "For a comment deleted on the site or a reader's erasure request. Models trained before keep "
                       "what they learnt from a label; retrain to drop it. Idempotent: 200 with zero counts when "
                       "nothing was stored under that id.",
        "parameters": [{"name": "comment_id", "in": "path", "required": True,
                        "schema": ID_IN_PATH}],
        "responses": {"200": {"description": "Erased.", "content": {JSON: {"schema": ref("CommentErased")}}},
                      "400": NUL_IN_PATH,
                      "401": BAD_INPUT["401"], "422": BAD_INPUT["422"], "503": BAD_INPUT["503"]},
    }},
    "/v1/reviews": {"get": {
        "summary": "The moderators' decisions on held (flagged) comments, in the order they were made.",
        "tags": ["moderation"],
        "description": "Poll with the last `next` you got (start with `after=0`): each outcome comes once, in commit "
                       "order, with nothing missed across restarts and workers; an empty page when nothing is new. "
                       "Reading changes nothing. Events are kept as long as reviewed comments (`training prune`).",
        **paged(rq.ReviewsQuery, "A page of events.", "ReviewPage"),
    }},
    "/v1/review-queue": {"get": {
        "summary": "The flagged comments awaiting a moderator, newest first (admin key).",
        "tags": ["moderators"],
        "description": "For a moderation tool of the site's own instead of the review page: decide on an item with "
                       "`POST /v1/feedback` and its `decision_id` (ham: accept, spam / off_topic: reject). "
                       "Reading changes nothing.",
        **paged(rq.QueueQuery, "A page of the queue.", "QueuePage"),
    }},
    "/v1/feedback": {"post": {
        "summary": "A moderator's label for a comment (admin key); stored durably before the 201.",
        "tags": ["moderators"],
        "requestBody": json_body("FeedbackRequest", "The comment, its label and optional article and ids."),
        "responses": {"201": {"description": "Stored.", "content": {JSON: {"schema": ref("FeedbackStored")}}},
                      "404": error("`decision_id` names no flagged comment (`decision_not_found`)."),
                      "409": error("That flagged comment was reviewed already (`already_reviewed`)."),
                      **BAD_INPUT},
    }},
    "/v1/waves": {"get": {
        "summary": "Spam waves awaiting review or whose decision later copies get now, newest first (admin key).",
        "tags": ["moderators"],
        "parameters": rq.WavesQuery.parameters(),
        "responses": {"200": {"description": "The waves.", "content": {JSON: {"schema": ref("WaveList")}}},
            "401": BAD_INPUT["401"],
            "422": error("`limit` is not an integer from 1 to 1000, or another query parameter was sent."),
            "503": STORE_DOWN},
    }},
    "/v1/waves/{wave_id}": {"delete": {
        "summary": "End a wave's decision now (admin key): later copies of its text are moderated again.",
        "tags": ["moderators"],
        "parameters": [{"name": "wave_id", "in": "path", "required": True,
                        "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}}],
        "responses": {"200": {"description": "Ended (or already over).", "content": {JSON: {"schema": ref("WaveEnded")}}},
            "401": BAD_INPUT["401"],
            "404": error("No such wave (`wave_not_found`)."),
            "409": error("The wave awaits review: decide it with `POST /v1/feedback` (`wave_not_decided`)."),
            "503": STORE_DOWN},
    }},
    "/1.1/comment-check": {"post": {
        "summary": "Akismet-compatible check: `true` (spam: flag or reject) or `false` (accept), in plain text.",
        "tags": ["akismet"],
        "description": "For a CMS or plugin that speaks Akismet's API (service/akismet.py). Reject adds "
                       "`X-akismet-pro-tip: discard`; the decision, reasons and scores are in `X-Moderation-*` "
                       "headers. Errors are JSON with `X-akismet-debug-help`.",
        "requestBody": {"required": True, "content": {FORM: {"schema": ref("AkismetComment")}}},
        "responses": {"200": {"description": "`true` or `false`.", "headers": MODERATION_HEADERS,
                              "content": {"text/plain": {"schema": {"type": "string", "enum": ["true", "false"]}}}},
                      **{k: v for k, v in BAD_INPUT.items() if k != "422"},
                      "422": error("No `comment_content` (`invalid_request`).")},
    }},
    "/1.1/submit-spam": {"post": AKISMET_SUBMIT("spam")},
    "/1.1/submit-ham": {"post": AKISMET_SUBMIT("ham")},
    "/1.1/verify-key": {"post": {
        "summary": "Akismet-compatible key check: `valid` or `invalid` (a client key).", "tags": ["akismet"],
        "security": OPEN,
        "requestBody": {"required": True, "content": {FORM: {"schema": ref("AkismetKey")}}},
        "responses": {"200": {"description": "`valid` or `invalid`.", "content": {"text/plain": {"schema": {
                          "type": "string", "enum": ["valid", "invalid"]}}}},
                      "400": BAD_INPUT["400"], "413": BAD_INPUT["413"], "415": BAD_INPUT["415"]},
    }},
    "/v1/policy": {
        "get": {
            "summary": "The policy settings moderators set at run time, the policy in force and its history (admin key).",
            "tags": ["moderators"],
            "responses": {"200": {"description": "The settings.", "content": {JSON: {"schema": ref("PolicyState")}}},
                          "401": BAD_INPUT["401"], "503": BAD_INPUT["503"]},
        },
        "put": {
            "summary": "Replace the run-time policy settings (admin key): pause the holds of a reason, move a "
                       "threshold. Every worker applies them within MODERATION_POLICY_POLL_SECONDS.",
            "tags": ["moderators"],
            "requestBody": json_body("PolicySettingsChange", "The new settings and why."),
            "responses": {"200": {"description": "Recorded and in force.",
                                  "content": {JSON: {"schema": ref("PolicyState")}}},
                          "409": error("Settings that do not make a policy with the live model's own thresholds, "
                                       "e.g. a spam flag threshold above its reject one, an off-topic reject "
                                       "threshold below its flag one (`conflicts_with_model`). "
                                       "Nothing is recorded."),
                          **{k: v for k, v in BAD_INPUT.items() if k != "422"},
                          "422": error("A setting that is not one, or a spam or off-topic reject threshold below "
                                       "the flag one (`invalid_request`). Nothing is recorded.")},
        },
    },
    "/coral/v1/moderate": {"post": {
        "summary": "Coral Talk external moderation phase: Coral's signed comment in, its status and flags out.",
        "tags": ["coral"],
        "description": "Enabled by MODERATION_CORAL_SIGNING_SECRETS (404 otherwise). Authenticated by "
                       "`X-Coral-Signature: sha256=<hex>` (HMAC-SHA256 of the raw body with a signing secret; "
                       "several comma-separated values during a rotation), no API key. The decision, reasons and "
                       "scores are also in `X-Moderation-*` headers.",
        "security": [{"coralSignature": []}],
        "requestBody": json_body("CoralRequest", "Coral's request, as Coral sends it."),
        "responses": {"200": {"description": "Coral's answer.", "headers": MODERATION_HEADERS,
                              "content": {JSON: {"schema": ref("CoralAnswer")}}},
                      **BAD_INPUT,
                      "401": error("No `X-Coral-Signature`, or none of its values matches a configured signing "
                                   "secret (`unauthorized`)."),
                      "404": error("The endpoint is not enabled: no signing secret is configured (`not_found`).")},
    }},
    "/v1/model": {"get": {
        "summary": "The live model's version, metadata and policy.", "tags": ["moderation"],
        "responses": {"200": {"description": "The model.", "content": {JSON: {"schema": ref("Model")}}},
                      "401": BAD_INPUT["401"], "503": BAD_INPUT["503"]},
    }},
}

# The models whose schemas the document carries (and those they refer to).
REQUESTS = [rq.ModerateRequest, rq.BatchRequest, rq.ArticleText, rq.FeedbackRequest, rq.PolicySettingsChange,
            rq.CoralRequest, rq.AkismetComment, rq.AkismetKey]
RESPONSES = [rs.Error, rs.Verdict, rs.BatchResponse, rs.Model, rs.StoredArticle, rs.ArticleErased, rs.CommentRecords,
             rs.CommentErased, rs.FeedbackStored, rs.PolicyState, rs.ReviewPage, rs.QueuePage, rs.WaveList,
             rs.WaveEnded, rs.CoralAnswer, rs.Liveness, rs.Readiness, rs.NotReady]

SPEC = {
    "openapi": "3.0.3",
    "info": {
        "title": "Comment moderation service",
        "version": "1",
        "description": "Send each reader comment with its article; get accept / flag / reject, calibrated scores, "
                       "reasons and the model version. Errors are always `{\"error\": {\"code\", \"message\"}}`. "
                       "Keys: `Authorization: Bearer <key>` (MODERATION_API_KEYS; admin keys are accepted too).",
    },
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}],
    "paths": PATHS,
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                            "coralSignature": {"type": "apiKey", "in": "header", "name": "X-Coral-Signature",
                                               "description": "sha256=<hex>: HMAC-SHA256 of the raw body with a "
                                                              "Coral signing secret."}},
        "schemas": component_schemas(REQUESTS, RESPONSES),
    },
}


def spec() -> dict:
    """A copy of the document (callers may adjust it, e.g. tests)."""
    return copy.deepcopy(SPEC)


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(SPEC)
