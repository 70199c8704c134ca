"""The JSON answers of the API as pydantic models (service/contract.py): the OpenAPI document's response schemas
are generated from them, and tests/test_contract.py checks real answers against them. The views build the
answers as dicts (the hot path pays nothing for these models); a field added to an answer is declared here, or
the schemathesis run and the contract test fail. A field that may be null says so (`X | None`); a field left
out of some answers has a default (`= Field(None, ...)`), which the document does not show."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from moderation.actions import ACTIONS
from service.contract import ResponseModel
from service.request_models import LABELS

Decision = Literal[ACTIONS]
Probability = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=0)]
# A time in UTC with its offset (+00:00), as moderation/store.py `utc_iso` writes it.
Time = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
REASON_CODES = ("empty", "too_long", "links", "banned_word", "suspect_word", "repeat", "spam", "off_topic",
                "wave_decided", "toxic")


class ErrorDetail(ResponseModel):
    code: str
    message: str


class Error(ResponseModel):
    """Every error: `{"error": {"code", "message"}}`."""

    error: ErrorDetail


class Reason(ResponseModel):
    code: Literal[REASON_CODES] = Field(
        json_schema_extra={"example": "spam"},
        description="Policy reasons, each with the site's configured action: `empty`, `too_long`, `links` (links "
                    "outside the site's allowed domains, from MODERATION_LINKS_MIN), `banned_word` and "
                    "`suspect_word` (an entry of the site's word lists, named in the message), `repeat` (the same "
                    "text posted again within MODERATION_REPEAT_WINDOW_HOURS). Model reasons: `spam`, `off_topic`, "
                    "`toxic` (from the model's toxic_flag, with MODERATION_TOXIC_ACTION). `wave_decided`: a "
                    "moderator decided on copies of this text (a spam wave) within the repeat window; the decision "
                    "is theirs (accept or reject), the message says which and until when.")
    message: str


class Scores(ResponseModel):
    spam: Probability | None = Field(description="Calibrated spam probability; null for an empty comment.")
    off_topic: Probability | None
    toxicity: Probability | None = Field(description="Calibrated probability that raters would call the comment "
                                                     "toxic; null for an empty comment or a model without a "
                                                     "toxicity score.")


class Contribution(ResponseModel):
    feature: str
    kind: str
    weight: float


class Explanation(ResponseModel):
    """Only with `explain: true`: the word n-grams, character n-grams and signals that pushed the spam score up or
    down, with their log-odds weights (null when empty)."""

    spam: float
    bias: float
    linear_score: float
    method: str
    pushed_up: list[Contribution]
    pushed_down: list[Contribution]
    toxicity: float = Field(None, description="With a toxicity model: the toxicity score explained.")
    toxic_spans: list[dict[str, Any]] = Field(None, description="The words that made it toxic: character "
                                                                      "offsets into the text as sent, with scores.")


class Verdict(ResponseModel):
    """The decision on a comment."""

    decision: Decision
    scores: Scores
    reasons: list[Reason]
    model_version: str
    explanation: Explanation | None = Field(None, description="Only with `explain: true` (null for an empty "
                                                              "comment).")


class BatchResult(Verdict):
    """A comment's verdict in a batch, with its `id` when one was sent."""

    id: str | int = Field(None, description="The comment's `id`, as sent (left out when none was).")


class BatchResponse(ResponseModel):
    results: list[BatchResult] = Field(description="One result per comment, in request order.")
    model_version: str


class Model(ResponseModel):
    """The live model's metadata (library versions, data hashes, metrics, thresholds) and policy."""

    model_config = ConfigDict(extra="allow")

    version: str
    policy: dict[str, Any] = Field(description="Thresholds and actions in force; `site`, when the site has rules: "
                                               "the word lists by source, entry count and SHA-256, their actions, "
                                               "the links action, LINKS_MIN and the allowed domains.")
    switch_error: str = Field(None, description="Only when the newest model could not be loaded (the live "
                                                       "one keeps serving): why.")
    site_rules_error: str = Field(None, description="Only when an edited word list was refused (the "
                                                           "previous one keeps applying): why.")
    policy_settings_error: str = Field(None, description="Only when the policy settings set at run time do "
                                                                "not make a policy with this model (the configured "
                                                                "policy applies): why.")


class PolicySettingsRecord(ResponseModel):
    id: int
    settings: dict[str, Any]
    note: str
    moderator: str | None
    changed_at: Time


class PolicyState(ResponseModel):
    settings: dict[str, Any] = Field(description="The settings in force ({} when none).")
    in_force: PolicySettingsRecord | None
    policy: dict[str, Any] = Field(description="The policy they give with the live model.")
    model_version: str
    history: list[PolicySettingsRecord] = Field(description="Newest first, 20.")
    error: str = Field(None, description="Only when the settings do not make a policy with the live model "
                                                "(the configured policy applies): why.")


class StoredArticle(ResponseModel):
    id: str
    title: str
    body: str
    thread_comments: Count = Field(description="Comments the service accepted under the article so far.")
    updated_at: Time | None = Field(description="UTC, with its offset (+00:00).")


class FeedbackStored(ResponseModel):
    id: int
    label: Literal[LABELS]
    reviewed: Annotated[int, Field(ge=1)] = Field(
        None, description="With `decision_id`: the flagged comments reviewed (every pending copy of a wave).")
    wave_id: int = Field(None, description="The wave decided, if the comment was in one.")
    decided_until: Time | None = Field(None, description="Later copies of the wave's text get this decision at once "
                                                         "until then (null: they do not).")


class ArticleErasedCounts(ResponseModel):
    article: Annotated[int, Field(ge=0, le=1)]
    thread_comments: Count
    reviews: Count = Field(description="Review events of the article's comments.")


class ArticleErased(ResponseModel):
    id: str
    erased: ArticleErasedCounts


class CoralAction(ResponseModel):
    actionType: Literal["FLAG"]  # noqa: N815 - Coral's names
    reason: Literal["COMMENT_DETECTED_SPAM", "COMMENT_DETECTED_BANNED_WORD", "COMMENT_DETECTED_SUSPECT_WORD",
                    "COMMENT_DETECTED_LINKS", "COMMENT_DETECTED_REPEAT_POST", "COMMENT_DETECTED_BODY_COUNT",
                    "COMMENT_DETECTED_TOXIC"]


class CoralAnswer(ResponseModel):
    """`{}` for an accepted comment (Coral's own phases go on) unless MODERATION_CORAL_ACCEPT_STATUS is set;
    REJECTED or SYSTEM_WITHHELD with a FLAG action per reason Coral has a flag for."""

    status: Literal["APPROVED", "NONE", "REJECTED", "SYSTEM_WITHHELD"] = None
    actions: list[CoralAction] = None


class ThreadEntry(ResponseModel):
    article_id: str
    text: str
    created_at: Time


class FlaggedRecord(ResponseModel):
    article_id: str | None
    text: str
    decision: Decision
    scores: dict[str, float | None]
    reasons: list[Reason]
    model_version: str | None
    created_at: Time
    reviewed_at: Time | None
    review_label: str | None


class LabelRecord(ResponseModel):
    text: str
    label: str
    article_id: str | None
    moderator: str | None
    created_at: Time


class ReviewEvent(ResponseModel):
    cursor: Annotated[int, Field(ge=1)] = Field(description="Increases in the order the reviews were committed; "
                                                            "pass the last one seen as `after`.")
    comment_id: str | None = Field(description="Your id for the comment, as sent (null when none was sent).")
    article_id: str | None
    outcome: Literal["accept", "reject"] = Field(description="`accept`: publish the held comment; `reject`: delete "
                                                             "it.")
    label: Literal["ham", "spam", "off_topic", "policy"] = Field(
        description="The moderator's label (`policy`: rejected for a policy reason only).")
    reviewed_at: Time
    decision_id: int = Field(description="The flagged decision (review queue id).")
    model_version: str | None = Field(description="The model version of the verdict that held the comment.")


class CommentRecords(ResponseModel):
    comment_id: str
    thread_comments: list[ThreadEntry] = Field(description="Accepted under an article (relevance context).")
    flagged: list[FlaggedRecord] = Field(description="Held for review, with the decision and its review.")
    labels: list[LabelRecord] = Field(description="Moderator labels (training data).")
    reviews: list[ReviewEvent] = Field(description="Moderators' decisions, as `GET /v1/reviews` gives them.")


class CommentErasedCounts(ResponseModel):
    """Rows deleted: in article threads, in the review log, among moderator labels, among review events."""

    thread_comments: Count
    flagged: Count
    labels: Count
    reviews: Count


class CommentErased(ResponseModel):
    comment_id: str
    erased: CommentErasedCounts


class QueueWave(ResponseModel):
    """The copies of this text awaiting review, shown as one item (this is the newest copy); deciding on it decides
    them all. Null for a comment in no wave."""

    id: int
    count: Annotated[int, Field(ge=1)]
    first_seen: Time
    last_seen: Time
    articles: list[str] = Field(description="Up to 20.")
    article_count: Count
    comment_ids: list[str] = Field(description="The newest 5.")
    scores: dict[str, list[float | None]] = Field(description="[min, max] over the copies, of `spam` and "
                                                              "`off_topic`.")


class QueueItem(ResponseModel):
    decision_id: int = Field(description="Send it with `POST /v1/feedback` to decide.")
    comment_id: str | None
    article_id: str | None
    text: str
    decision: Literal["flag"]
    scores: dict[str, float | None]
    reasons: list[Reason]
    explanation: dict[str, Any] | None = Field(description="What pushed the spam score up or down (as `explain: "
                                                           "true` gives it).")
    model_version: str
    created_at: Time
    wave: QueueWave | None


class Wave(ResponseModel):
    id: int
    label: str | None = Field(description="The moderator's label; null while open.")
    moderator: str | None
    decision_id: int | None
    opened_at: Time | None
    decided_at: Time | None
    decided_until: Time | None
    in_force: bool = Field(description="Later copies get the decision at once now.")
    pending: Count = Field(None, description="Copies awaiting review.")


class WaveList(ResponseModel):
    waves: list[Wave]


class WaveEnded(ResponseModel):
    wave: Wave


class QueuePage(ResponseModel):
    items: list[QueueItem] = Field(description="Newest first.")
    pending: Count = Field(description="Flagged comments awaiting review in all.")
    pending_items: Count = Field(description="Queue items awaiting review (a wave's copies are one "
                                                          "item).")
    next_before: int | None = Field(description="Send as `before` for the next (older) page; null on the last page.")


class ReviewPage(ResponseModel):
    reviews: list[ReviewEvent] = Field(description="Oldest first.")
    next: Count = Field(description="The cursor to send as `after` next time (unchanged when the page is empty).")
    has_more: bool = Field(description="More events are waiting: ask again at once.")


class Liveness(ResponseModel):
    status: Literal["ok"]


class Readiness(ResponseModel):
    status: Literal["ready"]
    model_version: str
    store: Literal["ok"]


class NotReady(ResponseModel):
    status: Literal["unavailable"]
    reason: str = Field(description="`model: ...` and/or `store: ...`")
    model_version: str | None
    store: Literal["ok", "error", "timeout"]
