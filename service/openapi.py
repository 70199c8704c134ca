"""The OpenAPI 3.0 description of the service, written by hand and served at GET /openapi.json.

It describes the endpoints as implemented; tests/test_openapi.py runs schemathesis against every operation listed
here (no 5xx, every response matching its documented status, content type and schema), so a new endpoint is
covered as soon as its path is added to PATHS. Keep it in step with the code: a field added to a response must be
added to its schema, or the schemathesis run fails.
"""

from __future__ import annotations

import copy

from flask import Blueprint, jsonify

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

INT64 = {"type": "integer", "format": "int64", "minimum": -(2**63), "maximum": 2**63 - 1}
NO_NUL = {"pattern": "^[^\\u0000]*$"}  # a string the store can keep: no NUL character (else 400 invalid_text)
PARENT = {
    "parent_id": {"oneOf": [{"type": "string", "maxLength": 255, **NO_NUL}, INT64], "nullable": True,
                  "description": "The comment this one answers, by the comment id the service has seen it "
                                 "under (`comment_id`, or an earlier comment's `id` in the same batch). A short "
                                 "reply's words are also supported by it (docs/short-comments.md). An id the "
                                 "service has not seen is no parent: the comment is judged as a top-level one."},
    "parent_text": {"type": "string", "nullable": True, **NO_NUL,
                    "description": "The text of the comment this one answers, inline (wins over `parent_id`)."},
}

SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }},
    },
    "Article": {
        "type": "object",
        "description": "The article the comment was posted under.",
        "properties": {
            "id": {"oneOf": [{"type": "string", "minLength": 1, "maxLength": 255, "nullable": True, **NO_NUL},
                             INT64]},
            "title": {"type": "string", "nullable": True, **NO_NUL},
            "body": {"type": "string", "nullable": True, **NO_NUL},
        },
    },
    "Comment": {
        "type": "object",
        "required": ["text"],
        "properties": {
            "text": {"type": "string", "description": "The comment as the reader wrote it.", **NO_NUL},
            "article": {"allOf": [ref("Article")], "nullable": True},
            "explain": {"type": "boolean", "default": False,
                        "description": "Add an `explanation` of the spam score to the answer."},
        },
    },
    "ModerateRequest": {"allOf": [ref("Comment"), {
        "type": "object",
        "properties": {**PARENT, "comment_id": {
            "oneOf": [{"type": "string", "minLength": 1, "maxLength": 255, **NO_NUL}, INT64], "nullable": True,
            "description": "Your id for the comment: stored with it (thread, review log) so that "
                           "`DELETE /v1/comments/{comment_id}` can erase it. In a batch, each comment's `id`."}},
    }]},
    "Reason": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "example": "spam",
                     "enum": ["empty", "too_long", "links", "banned_word", "suspect_word", "repeat", "spam",
                              "off_topic", "wave_decided", "toxic"],
                     "description": "Policy reasons, each with the site's configured action: `empty`, `too_long`, "
                                    "`links` (links outside the site's allowed domains, from MODERATION_LINKS_MIN), "
                                    "`banned_word` and `suspect_word` (an entry of the site's word lists, named "
                                    "in the message), `repeat` (the same text posted again within MODERATION_REPEAT_WINDOW_HOURS). "
                                    "Model reasons: `spam`, `off_topic`, `toxic` (from the model's toxic_flag, "
                                    "with MODERATION_TOXIC_ACTION). `wave_decided`: a moderator decided on "
                                    "copies of this text (a spam wave) within the repeat window; the decision is "
                                    "theirs (accept or reject), the message says which and until when."},
            "message": {"type": "string"},
        },
    },
    "Verdict": {
        "type": "object",
        "required": ["decision", "scores", "reasons", "model_version"],
        "properties": {
            "decision": {"type": "string", "enum": ["accept", "flag", "reject"]},
            "scores": {
                "type": "object",
                "required": ["spam", "off_topic"],
                "properties": {
                    "spam": {"type": "number", "minimum": 0, "maximum": 1, "nullable": True,
                             "description": "Calibrated spam probability; null for an empty comment."},
                    "off_topic": {"type": "number", "minimum": 0, "maximum": 1, "nullable": True},
                    "toxicity": {"type": "number", "minimum": 0, "maximum": 1, "nullable": True,
                                 "description": "Calibrated probability that raters would call the comment toxic; "
                                                "null for an empty comment or a model without a toxicity score."},
                },
            },
            "reasons": {"type": "array", "items": ref("Reason")},
            "model_version": {"type": "string"},
            "explanation": {
                "type": "object", "nullable": True,
                "description": "Only with `explain: true`: the word n-grams, character n-grams and signals that "
                               "pushed the spam score up or down, with their log-odds weights (null when empty).",
                "properties": {
                    "spam": {"type": "number"}, "bias": {"type": "number"}, "linear_score": {"type": "number"},
                    "method": {"type": "string"},
                    "pushed_up": {"type": "array", "items": {"type": "object"}},
                    "pushed_down": {"type": "array", "items": {"type": "object"}},
                },
            },
        },
    },
    "BatchComment": {
        "allOf": [ref("Comment"), {
            "type": "object",
            "properties": {**PARENT, "id": {
                "description": "Your id for the comment, echoed back in its result and stored with it "
                               "(`DELETE /v1/comments/{comment_id}` erases it).",
                "oneOf": [{"type": "string", "maxLength": 255, "nullable": True, **NO_NUL}, INT64],
            }},
        }],
    },
    "BatchRequest": {
        "type": "object",
        "required": ["comments"],
        "properties": {"comments": {"type": "array", "minItems": 1, "maxItems": 1000, "items": ref("BatchComment")}},
    },
    "BatchResult": {
        "allOf": [ref("Verdict"), {
            "type": "object",
            "properties": {"id": {"oneOf": [{"type": "string"}, {"type": "integer"}]}},
        }],
    },
    "BatchResponse": {
        "type": "object",
        "required": ["results", "model_version"],
        "properties": {
            "results": {"type": "array", "items": ref("BatchResult"),
                        "description": "One result per comment, in request order."},
            "model_version": {"type": "string"},
        },
    },
    "Model": {
        "type": "object",
        "required": ["version", "policy"],
        "description": "The live model's metadata (library versions, data hashes, metrics, thresholds) and policy.",
        "properties": {"version": {"type": "string"}, "policy": {
            "type": "object", "description": "Thresholds and actions in force; `site`, when the site has rules: the "
                                             "word lists by source, entry count and SHA-256, their actions, the "
                                             "links action, LINKS_MIN and the allowed domains."},
            "site_rules_error": {"type": "string", "description": "Only when an edited word list was refused (the "
                                                                  "previous one keeps applying): why."},
            "policy_settings_error": {"type": "string", "description": "Only when the policy settings set at run "
                                                                       "time do not make a policy with this model "
                                                                       "(the configured policy applies): why."}},
    },
}

THRESHOLD = {"type": "number", "minimum": 0, "maximum": 1, "nullable": True}
ACTION = {"type": "string", "enum": ["accept", "flag", "reject"], "nullable": True}
REASON_CODE = {"type": "string", "enum": ["empty", "too_long", "repeat", "links", "banned_word", "suspect_word", "spam",
                                          "off_topic", "toxic"]}
SCHEMAS.update({
    "PolicySettings": {
        "type": "object", "additionalProperties": False,
        "description": "Set at run time on top of the configured policy; a field left out or null goes back to the "
                       "configured or the model's own value.",
        "properties": {
            **{name: THRESHOLD for name in ("spam_flag", "spam_reject", "off_topic_flag", "off_topic_reject",
                                            "short_off_topic_flag")},
            "short_off_topic_action": ACTION, "repeat_action": ACTION,
            "paused": {"type": "array", "items": REASON_CODE, "nullable": True,
                       "description": "Reasons whose holds are paused: a flag for one of them becomes an accept "
                                      "(the reason still listed); a reject stays a reject."},
        },
    },
    "PolicySettingsChange": {
        "type": "object", "required": ["settings", "note"], "additionalProperties": False,
        "properties": {"settings": ref("PolicySettings"),
                       "note": {"type": "string", "minLength": 1, "maxLength": 1000,
                                "pattern": "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$",
                                "description": "Why: kept in the history (not blank, no NUL character)."},
                       "moderator": {"type": "string", "maxLength": 255, **NO_NUL}},
    },
    "PolicySettingsRecord": {
        "type": "object", "required": ["id", "settings", "note", "changed_at"],
        "properties": {"id": {"type": "integer"}, "settings": {"type": "object"}, "note": {"type": "string"},
                       "moderator": {"type": "string", "nullable": True},
                       "changed_at": {"type": "string", "format": "date-time"}},
    },
    "PolicyState": {
        "type": "object", "required": ["settings", "in_force", "policy", "model_version", "history"],
        "properties": {
            "settings": {"type": "object", "description": "The settings in force ({} when none)."},
            "in_force": {"allOf": [ref("PolicySettingsRecord")], "nullable": True},
            "policy": {"type": "object", "description": "The policy they give with the live model."},
            "model_version": {"type": "string"},
            "history": {"type": "array", "items": ref("PolicySettingsRecord"), "description": "Newest first, 20."},
            "error": {"type": "string", "description": "Only when the settings do not make a policy with the live "
                                                       "model (the configured policy applies): why."},
        },
    },
})

SCHEMAS.update({
    "ArticleText": {
        "type": "object",
        "description": "An article's text; at least one of title and body must be a non-blank string.",
        "properties": {"title": {"type": "string", "nullable": True, **NO_NUL},
                       "body": {"type": "string", "nullable": True, **NO_NUL}},
        "additionalProperties": False,
        "anyOf": [
            {"required": ["title"], "properties": {"title": {"type": "string", "pattern": "\\S"}}},
            {"required": ["body"], "properties": {"body": {"type": "string", "pattern": "\\S"}}},
        ],
    },
    "StoredArticle": {
        "type": "object",
        "required": ["id", "title", "body", "thread_comments", "updated_at"],
        "properties": {
            "id": {"type": "string"}, "title": {"type": "string"}, "body": {"type": "string"},
            "thread_comments": {"type": "integer", "minimum": 0,
                                "description": "Comments the service accepted under the article so far."},
            "updated_at": {"type": "string", "format": "date-time", "nullable": True,
                           "description": "UTC, with its offset (+00:00)."},
        },
    },
    "FeedbackRequest": {
        "allOf": [ref("ModerateRequest"), {
            "type": "object",
            "required": ["label"],
            "properties": {
                "label": {"type": "string", "enum": ["spam", "ham", "off_topic"]},
                "comment_id": {"oneOf": [{"type": "string", "minLength": 1, "maxLength": 255, **NO_NUL}, INT64],
                               "nullable": True, "description": "As in `/v1/moderate`: kept as sent."},
                "moderator": {"oneOf": [{"type": "string", "maxLength": 255, **NO_NUL}, {"type": "integer"}],
                              "nullable": True},
                "decision_id": {**INT64, "nullable": True,
                                "description": "A flagged comment of the review queue this label settles (its "
                                               "outcome then appears in `GET /v1/reviews`)."},
            },
        }],
    },
    "FeedbackStored": {
        "type": "object",
        "required": ["id", "label"],
        "properties": {"id": {"type": "integer"}, "label": {"type": "string", "enum": ["spam", "ham", "off_topic"]},
                       "reviewed": {"type": "integer", "minimum": 1,
                                    "description": "With `decision_id`: the flagged comments reviewed (every "
                                                   "pending copy of a wave)."},
                       "wave_id": {"type": "integer", "description": "The wave decided, if the comment was in one."},
                       "decided_until": {"type": "string", "format": "date-time", "nullable": True,
                                         "description": "Later copies of the wave's text get this decision at "
                                                        "once until then (null: they do not)."}},
    },
    "ArticleErased": {
        "type": "object",
        "required": ["id", "erased"],
        "properties": {"id": {"type": "string"}, "erased": {
            "type": "object", "required": ["article", "thread_comments"],
            "properties": {"article": {"type": "integer", "minimum": 0, "maximum": 1},
                           "thread_comments": {"type": "integer", "minimum": 0},
                           "reviews": {"type": "integer", "minimum": 0,
                                       "description": "Review events of the article's comments."}},
        }},
    },
    "AkismetComment": {
        "type": "object",
        "required": ["comment_content"],
        "description": "Akismet's fields; those not listed are accepted and ignored (user_ip, user_agent, author "
                       "name, e-mail and URL are never stored).",
        "properties": {
            "api_key": {"type": "string", "description": "The key (or an `Authorization: Bearer` header)."},
            "blog": {"type": "string", **NO_NUL},
            "comment_content": {"type": "string", **NO_NUL},
            "permalink": {"type": "string", "description": "The article id (`PUT /v1/articles/{permalink}`).",
                          **NO_NUL},
            "comment_type": {"type": "string"},
            "is_test": {"type": "string", "description": "`1` / `true`: scored, nothing stored."},
            "recheck_reason": {"type": "string", "description": "A comment checked before: nothing stored."},
            "comment_parent": {"type": "string", "maxLength": 255, **NO_NUL,
                               "description": "The id of the comment it answers, as WordPress sends it (`0`: a "
                                              "top-level comment); found when that comment was sent with its id."},
        },
    },
    "CoralRequest": {
        "type": "object",
        "required": ["comment"],
        "description": "Coral's external-moderation request (service/coral.py). Fields not listed (author, site, "
                       "tenantID, tenantDomain) are accepted and ignored; nothing about the author is "
                       "stored.",
        "properties": {
            "action": {"type": "string", "enum": ["NEW", "EDIT"], "default": "NEW",
                       "description": "`EDIT`: the comment's new text, rescored under the same `comment.id`."},
            "comment": {"type": "object", "required": ["body"], "properties": {
                "id": {"oneOf": [{"type": "string", "minLength": 1, "maxLength": 255, **NO_NUL}, INT64],
                       "nullable": True,
                       "description": "Coral's comment id: the comment id of the thread and review-queue rows."},
                "body": {"type": "string", "description": "The comment as Coral's HTML; moderated as its text.",
                         **NO_NUL},
                "parentID": {"oneOf": [{"type": "string", "maxLength": 255, **NO_NUL}, INT64], "nullable": True,
                             "description": "The comment it answers (`parent_id` of `/v1/moderate`)."},
            }},
            "story": {"type": "object", "nullable": True, "properties": {
                "id": {"oneOf": [{"type": "string", **NO_NUL}, {"type": "integer"}], "nullable": True,
                       "description": "The article id (`PUT /v1/articles/{story.id}` with its text)."},
                "url": {"type": "string", "nullable": True, **NO_NUL,
                        "description": "The article id instead of `id` with MODERATION_CORAL_ARTICLE_ID=story.url."},
            }},
        },
    },
    "CoralAnswer": {
        "type": "object",
        "description": "`{}` for an accepted comment (Coral's own phases go on) unless MODERATION_CORAL_ACCEPT_STATUS "
                       "is set; REJECTED or SYSTEM_WITHHELD with a FLAG action per reason Coral has a flag for.",
        "properties": {
            "status": {"type": "string", "enum": ["APPROVED", "NONE", "REJECTED", "SYSTEM_WITHHELD"]},
            "actions": {"type": "array", "items": {
                "type": "object", "required": ["actionType", "reason"],
                "properties": {"actionType": {"type": "string", "enum": ["FLAG"]},
                               "reason": {"type": "string", "enum": [
                                   "COMMENT_DETECTED_SPAM", "COMMENT_DETECTED_BANNED_WORD",
                                   "COMMENT_DETECTED_SUSPECT_WORD", "COMMENT_DETECTED_LINKS",
                                   "COMMENT_DETECTED_REPEAT_POST", "COMMENT_DETECTED_BODY_COUNT",
                                   "COMMENT_DETECTED_TOXIC"]}},
            }},
        },
        "additionalProperties": False,
    },
    "CommentRecords": {
        "type": "object",
        "required": ["comment_id", "thread_comments", "flagged", "labels"],
        "properties": {
            "comment_id": {"type": "string"},
            "thread_comments": {"type": "array", "description": "Accepted under an article (relevance context).",
                                "items": {"type": "object", "required": ["article_id", "text", "created_at"]}},
            "flagged": {"type": "array", "description": "Held for review, with the decision and its review.",
                        "items": {"type": "object", "required": ["text", "decision", "scores", "reasons"]}},
            "labels": {"type": "array", "description": "Moderator labels (training data).",
                       "items": {"type": "object", "required": ["text", "label"]}},
            "reviews": {"type": "array", "description": "Moderators' decisions, as `GET /v1/reviews` gives them.",
                        "items": ref("ReviewEvent")},
        },
    },
    "CommentErased": {
        "type": "object",
        "required": ["comment_id", "erased"],
        "properties": {"comment_id": {"type": "string"}, "erased": {
            "type": "object", "required": ["thread_comments", "flagged", "labels", "reviews"],
            "description": "Rows deleted: in article threads, in the review log, among moderator labels, among "
                           "review events.",
            "properties": {k: {"type": "integer", "minimum": 0}
                           for k in ("thread_comments", "flagged", "labels", "reviews")},
        }},
    },
    "ReviewEvent": {
        "type": "object",
        "required": ["cursor", "comment_id", "article_id", "outcome", "label", "reviewed_at", "decision_id",
                     "model_version"],
        "properties": {
            "cursor": {"type": "integer", "minimum": 1,
                       "description": "Increases in the order the reviews were committed; pass the last one seen "
                                      "as `after`."},
            "comment_id": {"type": "string", "nullable": True,
                           "description": "Your id for the comment, as sent (null when none was sent)."},
            "article_id": {"type": "string", "nullable": True},
            "outcome": {"type": "string", "enum": ["accept", "reject"],
                        "description": "`accept`: publish the held comment; `reject`: delete it."},
            "label": {"type": "string", "enum": ["ham", "spam", "off_topic", "policy"],
                      "description": "The moderator's label (`policy`: rejected for a policy reason only)."},
            "reviewed_at": {"type": "string", "format": "date-time"},
            "decision_id": {"type": "integer", "description": "The flagged decision (review queue id)."},
            "model_version": {"type": "string", "nullable": True,
                              "description": "The model version of the verdict that held the comment."},
        },
    },
    "QueueItem": {
        "type": "object",
        "required": ["decision_id", "comment_id", "article_id", "text", "decision", "scores", "reasons",
                     "explanation", "model_version", "created_at"],
        "properties": {
            "decision_id": {"type": "integer", "description": "Send it with `POST /v1/feedback` to decide."},
            "comment_id": {"type": "string", "nullable": True},
            "article_id": {"type": "string", "nullable": True},
            "text": {"type": "string"},
            "decision": {"type": "string", "enum": ["flag"]},
            "scores": {"type": "object", "properties": {"spam": {"type": "number", "nullable": True},
                                                        "off_topic": {"type": "number", "nullable": True}}},
            "reasons": {"type": "array", "items": ref("Reason")},
            "explanation": {"type": "object", "nullable": True,
                            "description": "What pushed the spam score up or down (as `explain: true` gives it)."},
            "model_version": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "wave": {"type": "object", "nullable": True,
                     "description": "The copies of this text awaiting review, shown as one item (this is the newest "
                                    "copy); deciding on it decides them all. Null for a comment in no wave.",
                     "properties": {
                         "id": {"type": "integer"}, "count": {"type": "integer", "minimum": 1},
                         "first_seen": {"type": "string", "format": "date-time"},
                         "last_seen": {"type": "string", "format": "date-time"},
                         "articles": {"type": "array", "items": {"type": "string"}, "description": "Up to 20."},
                         "article_count": {"type": "integer", "minimum": 0},
                         "comment_ids": {"type": "array", "items": {"type": "string"},
                                         "description": "The newest 5."},
                         "scores": {"type": "object", "description": "[min, max] over the copies.",
                                    "properties": {"spam": {"type": "array"}, "off_topic": {"type": "array"}}},
                     }},
        },
    },
    "Wave": {
        "type": "object",
        "required": ["id", "label", "in_force"],
        "properties": {
            "id": {"type": "integer"},
            "label": {"type": "string", "nullable": True, "description": "The moderator's label; null while open."},
            "moderator": {"type": "string", "nullable": True},
            "decision_id": {"type": "integer", "nullable": True},
            "opened_at": {"type": "string", "format": "date-time", "nullable": True},
            "decided_at": {"type": "string", "format": "date-time", "nullable": True},
            "decided_until": {"type": "string", "format": "date-time", "nullable": True},
            "in_force": {"type": "boolean", "description": "Later copies get the decision at once now."},
            "pending": {"type": "integer", "minimum": 0, "description": "Copies awaiting review."},
        },
    },
    "QueuePage": {
        "type": "object",
        "required": ["items", "pending", "next_before"],
        "properties": {
            "items": {"type": "array", "items": ref("QueueItem"), "description": "Newest first."},
            "pending": {"type": "integer", "minimum": 0, "description": "Flagged comments awaiting review in all."},
            "pending_items": {"type": "integer", "minimum": 0,
                              "description": "Queue items awaiting review (a wave's copies are one item)."},
            "next_before": {"type": "integer", "nullable": True,
                            "description": "Send as `before` for the next (older) page; null on the last page."},
        },
    },
    "ReviewPage": {
        "type": "object",
        "required": ["reviews", "next", "has_more"],
        "properties": {
            "reviews": {"type": "array", "items": ref("ReviewEvent"), "description": "Oldest first."},
            "next": {"type": "integer", "minimum": 0,
                     "description": "The cursor to send as `after` next time (unchanged when the page is empty)."},
            "has_more": {"type": "boolean", "description": "More events are waiting: ask again at once."},
        },
    },
})
ARTICLE_ID = [{"name": "article_id", "in": "path", "required": True,
               "schema": {"type": "string", "minLength": 1, "maxLength": 255, **NO_NUL}}]

OPEN = []  # no security requirement


def paged(cursor: str, bounds: dict, about: str, page: str, schema: str) -> dict:
    """The parameters and responses of a paged GET: a cursor parameter and `limit` (1 to 1,000, 100 by default)."""
    return {
        "parameters": [
            {"name": cursor, "in": "query", "required": False,
             "schema": {"type": "integer", "maximum": 2**63 - 1, **bounds}, "description": about},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
        ],
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
        "responses": {"200": {"description": "Alive.", "content": {JSON: {"schema": {
            "type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok"]}},
        }}}}},
    }},
    "/readyz": {"get": {
        "summary": "Readiness: a verified model is loaded and the store answers a round trip within "
                   "MODERATION_READY_TIMEOUT_SECONDS (0.5 s); 503 names the part that failed.",
        "security": OPEN, "tags": ["probes"],
        "responses": {
            "200": {"description": "Ready.", "content": {JSON: {"schema": {
                "type": "object", "required": ["status", "model_version", "store"],
                "properties": {"status": {"type": "string", "enum": ["ready"]}, "model_version": {"type": "string"},
                               "store": {"type": "string", "enum": ["ok"]}},
            }}}},
            "503": {"description": "Not ready: no model loaded, or the store failed (`error`) or did not answer in "
                                   "time (`timeout`). The reason never holds the database URL; the log has the "
                                   "driver's message.", "content": {JSON: {"schema": {
                "type": "object", "required": ["status", "reason", "model_version", "store"],
                "properties": {"status": {"type": "string", "enum": ["unavailable"]},
                               "reason": {"type": "string", "description": "`model: ...` and/or `store: ...`"},
                               "model_version": {"type": "string", "nullable": True},
                               "store": {"type": "string", "enum": ["ok", "error", "timeout"]}},
            }}}},
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
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255, **NO_NUL}}],
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
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255, **NO_NUL}}],
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
        **paged("after", {"minimum": 0, "default": 0},
                "The cursor after which to read (the previous answer's `next`).", "A page of events.", "ReviewPage"),
    }},
    "/v1/review-queue": {"get": {
        "summary": "The flagged comments awaiting a moderator, newest first (admin key).",
        "tags": ["moderators"],
        "description": "For a moderation tool of the site's own instead of the review page: decide on an item with "
                       "`POST /v1/feedback` and its `decision_id` (ham: accept, spam / off_topic: reject). "
                       "Reading changes nothing.",
        **paged("before", {"minimum": 1}, "The previous page's `next_before`: items older than it.",
                "A page of the queue.", "QueuePage"),
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
        "parameters": [{"name": "limit", "in": "query", "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}],
        "responses": {"200": {"description": "The waves.", "content": {JSON: {"schema": {
            "type": "object", "required": ["waves"],
            "properties": {"waves": {"type": "array", "items": ref("Wave")}}}}}},
            "401": BAD_INPUT["401"],
            "422": error("`limit` is not an integer from 1 to 1000, or another query parameter was sent."),
            "503": STORE_DOWN},
    }},
    "/v1/waves/{wave_id}": {"delete": {
        "summary": "End a wave's decision now (admin key): later copies of its text are moderated again.",
        "tags": ["moderators"],
        "parameters": [{"name": "wave_id", "in": "path", "required": True,
                        "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}}],
        "responses": {"200": {"description": "Ended (or already over).", "content": {JSON: {"schema": {
            "type": "object", "required": ["wave"], "properties": {"wave": ref("Wave")}}}}},
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
        "requestBody": {"required": True, "content": {FORM: {"schema": {
            "type": "object", "properties": {"key": {"type": "string"}, "blog": {"type": "string"}}}}}},
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
        "schemas": SCHEMAS,
    },
}


def spec() -> dict:
    """A copy of the document (callers may adjust it, e.g. tests)."""
    return copy.deepcopy(SPEC)


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(SPEC)
