"""The request bodies of the API as pydantic models (service/contract.py): the views validate with them
(`parse(Model, body)`) and the OpenAPI document's request schemas are generated from them. Fields are validated
in the order they are declared, so the first refusal is the one the API has always answered; a field's message
names it (`'article.id' must be 1 to 255 characters.`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, PlainValidator, ValidationInfo, model_validator

from moderation.actions import ACTIONS
from moderation.policy import REASON_CODES
from service.contract import (
    INT64_MAX, MAX_ID_CHARS, NOT_BLANK, Flag, IntegerOrNone, QueryModel, Required, RequestModel, StoredString, Text,
    TextOrEmpty, TextOrNone, identifier, one_of, query_integer, refuse, refuse_as_is, text_value,
)

MAX_BATCH_COMMENTS = 1000  # the default of MODERATION_MAX_BATCH_COMMENTS, documented as the batch's maxItems
LABELS = ("spam", "ham", "off_topic")
MAX_NOTE_CHARS = 1000
THRESHOLDS = ("spam_flag", "spam_reject", "off_topic_flag", "off_topic_reject", "short_off_topic_flag")
ACTION_FIELDS = ("short_off_topic_action", "repeat_action")
SETTINGS = THRESHOLDS + ACTION_FIELDS + ("paused",)
PARENT_ID = ("The comment this one answers, by the comment id the service has seen it under (`comment_id`, or an "
             "earlier comment's `id` in the same batch). A short reply's words are also supported by it "
             "(docs/short-comments.md). An id the service has not seen is no parent: the comment is judged as a "
             "top-level one.")
PARENT_TEXT = "The text of the comment this one answers, inline (wins over `parent_id`)."


def object_or_null(message: str):
    """A nested object field: null is none, anything but an object is refused with `message`."""
    def check(value):
        if value is not None and not isinstance(value, dict):
            raise refuse_as_is(message)
        return value
    return BeforeValidator(check)


def _object(message: str, data):
    if not isinstance(data, dict):
        raise refuse_as_is(message)
    return data


def _known(data: dict, known, message) -> None:
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise refuse_as_is(message(unknown))


class Article(RequestModel):
    """The article the comment was posted under."""

    id: identifier(min_chars=1, as_text=True) = None
    title: TextOrEmpty = ""
    body: TextOrEmpty = ""


ArticleField = Annotated[Article | None, object_or_null("'article' must be an object with 'id', 'title' and 'body'.")]


class Comment(RequestModel):
    text: Text = Field(description="The comment as the reader wrote it.")
    article: ArticleField = None
    explain: Flag = Field(False, description="Add an `explanation` of the spam score to the answer.")


class Reply(RequestModel):
    parent_id: identifier(as_text=True) = Field(None, description=PARENT_ID)
    parent_text: TextOrNone = Field(None, description=PARENT_TEXT)


class CommentId(RequestModel):
    comment_id: identifier(min_chars=1, as_text=True) = Field(
        None, description="Your id for the comment: stored with it (thread, review log) so that "
                          "`DELETE /v1/comments/{comment_id}` can erase it. In a batch, each comment's `id`.")


# Fields are validated base by base in reverse order of the bases (pydantic collects them so): the comment, then
# its id, then the comment it answers, as the API always checked them.
class ModerateRequest(Reply, CommentId, Comment):
    """POST /v1/moderate: a comment, optionally with its article, your id for it and the comment it answers."""


class Identified(RequestModel):
    id: identifier() = Field(None, description="Your id for the comment, echoed back in its result and stored with "
                                               "it (`DELETE /v1/comments/{comment_id}` erases it).")


class BatchComment(Reply, Comment, Identified):
    """A comment of a batch: a /v1/moderate request whose id is `id`."""

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data):
        return _object("each comment must be a JSON object.", data)


def _batch(comments, info: ValidationInfo):
    limit = (info.context or {}).get("max_comments", MAX_BATCH_COMMENTS)
    if not isinstance(comments, list):
        raise refuse_as_is(COMMENTS_REQUIRED)
    if not comments:
        raise refuse_as_is(f"'comments' is empty; send 1 to {limit} comments.")
    if len(comments) > limit:
        raise refuse_as_is(f"A batch holds at most {limit} comments; this one has {len(comments)}.", "batch_too_large")
    return comments


COMMENTS_REQUIRED = "The field 'comments' is required: a list of comment objects."


class BatchRequest(RequestModel):
    """POST /v1/moderate/batch. More comments than MODERATION_MAX_BATCH_COMMENTS (1,000) is 422 `batch_too_large`."""

    comments: Annotated[list[BatchComment], Required(COMMENTS_REQUIRED), BeforeValidator(_batch)] = Field(
        json_schema_extra={"minItems": 1, "maxItems": MAX_BATCH_COMMENTS})


def _label_text(value) -> str:
    text = text_value(value)
    if not text.strip():
        raise refuse_as_is("'text' must not be empty: a label needs the comment it is about.")
    return text


def _moderator(value) -> str | None:
    """A moderator's name or id, stripped: 1 to MAX_ID_CHARS characters."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise refuse("'{field}' must be a string or an integer.")
    value = text_value(str(value)).strip()
    if not value or len(value) > MAX_ID_CHARS:
        raise refuse(f"'{{field}}' must be 1 to {MAX_ID_CHARS} characters long.")
    return value


class FeedbackRequest(RequestModel):
    """POST /v1/feedback: a moderator's label for a comment."""

    text: Annotated[str, PlainValidator(_label_text, json_schema_input_type=Annotated[
        str, Field(pattern=NOT_BLANK)])] = Field(description="The comment labelled (not blank).")
    article: ArticleField = None
    label: Annotated[one_of(LABELS, "invalid_label"), Required(f"'label' must be one of {', '.join(LABELS)}.",
                                                               "invalid_label")]
    decision_id: IntegerOrNone = Field(None, description="A flagged comment of the review queue this label settles "
                                                         "(its outcome then appears in `GET /v1/reviews`).")
    comment_id: identifier(min_chars=1, as_text=True) = Field(None, description="As in `/v1/moderate`: kept as sent.")
    moderator: Annotated[str | None, PlainValidator(_moderator, json_schema_input_type=Annotated[
        StoredString, Field(max_length=MAX_ID_CHARS)] | int | None)] = None


class ArticleText(RequestModel):
    """An article's text; at least one of title and body must be a non-blank string."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"required": ["title"], "properties": {"title": {"type": "string", "pattern": "\\S"}}},
        {"required": ["body"], "properties": {"body": {"type": "string", "pattern": "\\S"}}},
    ]})

    title: TextOrEmpty = ""
    body: TextOrEmpty = ""

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data):
        _known(data, ("title", "body"), lambda unknown: f"Unknown field(s): {', '.join(unknown)}; send 'title' and "
                                                        "'body'.")
        return data

    @model_validator(mode="after")
    def _not_blank(self):
        if not (self.title.strip() or self.body.strip()):
            raise refuse_as_is("Send at least one of 'title' and 'body' (non-empty strings).")
        return self


def _threshold(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise refuse("'{field}' must be a number within [0, 1].")
    return float(value)


def _paused(value) -> list | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
        raise refuse("'paused' must be a list of reason codes.")
    unknown = sorted(set(value) - set(REASON_CODES))
    if unknown:
        raise refuse_as_is(f"'paused': unknown reason code {unknown[0][:64]!r}; reason codes are "
                           f"{', '.join(REASON_CODES)}.")
    return sorted(set(value)) or None


Threshold = Annotated[float | None, PlainValidator(_threshold, json_schema_input_type=Annotated[
    float, Field(ge=0, le=1)] | None)]
Action = one_of(ACTIONS, nullable=True)


class PolicySettings(RequestModel):
    """Set at run time on top of the configured policy; a field left out or null goes back to the configured or
    the model's own value."""

    model_config = ConfigDict(extra="forbid")

    spam_flag: Threshold = None
    spam_reject: Threshold = None
    off_topic_flag: Threshold = None
    off_topic_reject: Threshold = None
    short_off_topic_flag: Threshold = None
    short_off_topic_action: Action = None
    repeat_action: Action = None
    paused: Annotated[list | None, PlainValidator(
        _paused, json_schema_input_type=list[Literal[REASON_CODES]] | None)] = Field(
        None, description="Reasons whose holds are paused: a flag for one of them becomes an accept (the reason still "
                          "listed); a reject stays a reject.")

    @model_validator(mode="before")
    @classmethod
    def _known_settings(cls, data):
        _object("'settings' must be a JSON object.", data)
        _known(data, SETTINGS, lambda unknown: f"Unknown setting {unknown[0]!r}; settings are {', '.join(SETTINGS)}.")
        return data

    @model_validator(mode="after")
    def _in_order(self):
        for low, high in (("spam_flag", "spam_reject"), ("off_topic_flag", "off_topic_reject")):
            if (getattr(self, high) if getattr(self, high) is not None else 1.0) < (getattr(self, low) or 0.0):
                raise refuse_as_is(f"'{high}' must not be below '{low}'.")
        return self

    def settings(self) -> dict:
        """The settings sent, nulls (and an empty `paused`) left out."""
        return self.model_dump(exclude_none=True)


NOTE_REFUSED = f"'note' must say why, in 1 to {MAX_NOTE_CHARS} characters."


def _note(value) -> str:
    if not isinstance(value, str) or not text_value(value).strip() or len(value) > MAX_NOTE_CHARS:
        raise refuse_as_is(NOTE_REFUSED)
    return value.strip()


def _policy_moderator(value) -> str | None:
    if value is not None and (not isinstance(value, str) or len(text_value(value)) > MAX_ID_CHARS):
        raise refuse(f"'moderator' must be a string of at most {MAX_ID_CHARS} characters.")
    return value


class PolicySettingsChange(RequestModel):
    """PUT /v1/policy: the new settings and why."""

    model_config = ConfigDict(extra="forbid")

    settings: Annotated[PolicySettings, Required("'settings' is required (an object; {} goes back to the configured "
                                                 "policy).")]
    note: Annotated[str, Required(NOTE_REFUSED), PlainValidator(_note, json_schema_input_type=Annotated[
        str, Field(min_length=1, max_length=MAX_NOTE_CHARS, pattern=NOT_BLANK)])] = Field(
        description="Why: kept in the history (not blank, no NUL character).")
    moderator: Annotated[str | None, PlainValidator(_policy_moderator, json_schema_input_type=Annotated[
        StoredString, Field(max_length=MAX_ID_CHARS)] | None)] = None

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data):
        _known(data, ("settings", "note", "moderator"),
               lambda unknown: f"Unknown field {unknown[0][:64]!r}; send settings, note, moderator.")
        return data


# The adapters' requests (service/coral.py, service/akismet.py)

CORAL_ACTIONS = ("NEW", "EDIT")


class CoralComment(RequestModel):
    body: Text = Field(description="The comment as Coral's HTML; moderated as its text.")
    id: identifier(min_chars=1, as_text=True) = Field(
        None, description="Coral's comment id: the comment id of the thread and review-queue rows.")
    parentID: identifier(as_text=True) = Field(  # noqa: N815 - Coral's name
        None, description="The comment it answers (`parent_id` of `/v1/moderate`).")

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data):
        return _object("'comment' must be an object with the comment's 'body'.", data)


def _story_id(value):
    if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))):
        raise refuse("'{field}' must be a string or an integer.")
    return text_value(value) if isinstance(value, str) else value


class CoralStory(RequestModel):
    id: Annotated[Any, PlainValidator(_story_id, json_schema_input_type=StoredString | int | None)] = Field(
        None, description="The article id (`PUT /v1/articles/{story.id}` with its text).")
    url: TextOrNone = Field(None, description="The article id instead of `id` with "
                                              "MODERATION_CORAL_ARTICLE_ID=story.url.")


class CoralRequest(RequestModel):
    """Coral's external-moderation request (service/coral.py). Fields not listed (author, site, tenantID,
    tenantDomain) are accepted and ignored; nothing about the author is stored."""

    action: one_of(CORAL_ACTIONS) = Field("NEW", description="`EDIT`: the comment's new text, rescored under the "
                                                             "same `comment.id`.")
    comment: Annotated[CoralComment, Required("'comment' must be an object with the comment's 'body'.")]
    story: Annotated[CoralStory | None, object_or_null("'story' must be an object with the story's 'id' and "
                                                       "'url'.")] = None


def _comment_parent(value) -> str | None:
    value = text_value(value).strip()
    if value in ("", "0"):
        return None
    if len(value) > MAX_ID_CHARS:
        raise refuse(f"'{{field}}' must be at most {MAX_ID_CHARS} characters.")
    return value


class AkismetComment(RequestModel):
    """Akismet's fields; those not listed are accepted and ignored (user_ip, user_agent, author name, e-mail and
    URL are never stored)."""

    comment_content: Text
    blog: Text = ""
    permalink: Annotated[str, PlainValidator(lambda v: text_value(v).strip(), json_schema_input_type=StoredString)] \
        = Field("", description="The article id (`PUT /v1/articles/{permalink}`).")
    comment_parent: Annotated[str | None, PlainValidator(_comment_parent, json_schema_input_type=Annotated[
        StoredString, Field(max_length=MAX_ID_CHARS)])] = Field(
        None, description="The id of the comment it answers, as WordPress sends it (`0`: a top-level comment); "
                          "found when that comment was sent with its id.")
    api_key: str = Field("", description="The key (or an `Authorization: Bearer` header).")
    comment_type: str = ""
    is_test: str = Field("", description="`1` / `true`: scored, nothing stored.")
    recheck_reason: str = Field("", description="A comment checked before: nothing stored.")


class AkismetKey(RequestModel):
    """POST /1.1/verify-key."""

    key: str = ""
    blog: str = ""


# Query parameters (service/reviews.py, service/waves.py)

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
Limit = query_integer(1, MAX_LIMIT)


class ReviewsQuery(QueryModel):
    """GET /v1/reviews."""

    after: query_integer(0, INT64_MAX) = Field(0, description="The cursor after which to read (the previous answer's "
                                                              "`next`).")
    limit: Limit = DEFAULT_LIMIT


class QueueQuery(QueryModel):
    """GET /v1/review-queue."""

    before: query_integer(1, INT64_MAX) = Field(None, description="The previous page's `next_before`: items older "
                                                                  "than it.")
    limit: Limit = DEFAULT_LIMIT


class WavesQuery(QueryModel):
    """GET /v1/waves."""

    limit: Limit = DEFAULT_LIMIT
