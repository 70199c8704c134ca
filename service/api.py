"""The moderation API: POST /v1/moderate, POST /v1/moderate/batch and GET /v1/model."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, jsonify

from moderation.explain import explain_verdict
from moderation.moderator import Article
from moderation.repeats import AtLeast, fingerprint
from moderation.store import now
from moderation.text import clear_memos, is_short
from service.articles import context_for, thread_row
from service.auth import require_key
from service.engine import get_moderator, get_store
from service.errors import ApiError
from service.observability import record_verdicts, remember_text
from service.review import flagged_row
from service.contract import MAX_ID_CHARS, parse
from service.request_models import BatchRequest, ModerateRequest
from service.validation import json_body, stored_comment_id
from service import waves as wave_states

bp = Blueprint("api", __name__, url_prefix="/v1")


def id_only_article(article_id: str) -> Article | None:
    """An article known by its id alone (stored by PUT /v1/articles or earlier comments), for the adapters whose
    requests carry no article text (Akismet's permalink, Coral's story); None for an id the store cannot hold
    (empty, or over MAX_ID_CHARS): the comment is then scored without article."""
    return Article(article_id, "", "") if 0 < len(article_id) <= MAX_ID_CHARS else None


def article_of(request) -> Article | None:
    """The moderation core's Article of a validated request's `article`, or None."""
    sent = request.article
    return None if sent is None else Article(sent.id, sent.title, sent.body)


def parse_comment(body: dict) -> tuple[str, Article | None]:
    """Validate a moderation request (request_models.ModerateRequest): (text, article)."""
    request = parse(ModerateRequest, body)
    return request.text, article_of(request)


def parent_of(parent_id: str | None, parent_text: str | None, batch: dict | None = None) -> str | None:
    """The text a reply answers: `parent_text`, else the comment sent under `parent_id` earlier in the same batch
    (`batch`: id -> text) or stored (thread or review log). An id the service has not seen is no parent: the
    comment is judged as a top-level one."""
    if parent_text is not None:
        return parent_text
    if parent_id is None:
        return None
    if batch and parent_id in batch:
        return batch[parent_id]
    return get_store().comment_text(parent_id)


def parse_batch(body: dict) -> tuple[list, list[str], list[Article | None], list[bool], list[tuple]]:
    """Validate a batch (request_models.BatchRequest: 1 to MAX_BATCH_COMMENTS comments, each a moderation request
    with an optional client `id`, echoed back). One bad comment rejects the whole batch, saying which one."""
    comments = parse(BatchRequest, body, {"max_comments": current_app.config["MAX_BATCH_COMMENTS"]}).comments
    return ([c.id for c in comments], [c.text for c in comments], [article_of(c) for c in comments],
            [c.explain for c in comments], [(c.parent_id or None, c.parent_text) for c in comments])


def record_writes(thread: list, flagged: list) -> None:
    """The request's writes (thread comments, flagged comments for review) in one transaction, before the answer:
    a store failure answers 503 store_unavailable (errors.py) with nothing recorded, so the CMS retries safely."""
    thread, flagged = [t for t in thread if t is not None], [f for f in flagged if f is not None]
    if thread or flagged:
        get_store().record_moderation(thread, flagged)


@bp.post("/moderate")
@require_key("api")
def moderate():
    """Decide on one comment: accept, flag or reject, with scores, reasons and the model version."""
    sent = parse(ModerateRequest, json_body())
    _, result = moderate_one(sent.text, article_of(sent), sent.comment_id, explain=sent.explain,
                             parent_id=sent.parent_id or None, parent_text=sent.parent_text)
    return jsonify(result)


def copies_before(policy, texts: list[str], comment_ids: list, waves: dict | None = None) -> tuple[list, list]:
    """(fingerprints, copies posted before) of a request's comments for the `repeat` rule (moderation/repeats.py):
    the copies the store recorded within the policy's window (counted up to store.REPEAT_COUNT_CAP) plus the
    earlier ones of the same batch; None for a comment too short to have a fingerprint, and for all when the rule
    is off (`repeat_action` accept). `waves`, when given, is filled with each fingerprint's wave (service/waves.py);
    a text whose wave has a moderator's decision in force is not counted (its copies get that decision)."""
    if policy.repeat_action == "accept":
        return [None] * len(texts), [None] * len(texts)
    keys = [fingerprint(text, policy.repeat_min_words) for text in texts]
    if waves is not None:
        waves.update(wave_states.look_up(keys))
    since = now() - timedelta(hours=policy.repeat_window_hours)
    stored: dict = {}
    seen: dict = {}
    counts = []
    for key, comment_id in zip(keys, comment_ids):
        if key is None or (waves is not None and wave_states.standing(waves, key)):
            counts.append(None)
            continue
        comment_id = stored_comment_id(comment_id)
        if (key, comment_id) not in stored:
            stored[key, comment_id] = get_store().count_copies_upto(key, since, comment_id)
        earlier = seen.setdefault(key, [])  # the batch's earlier copies: each comment id once, as the store counts
        count = stored[key, comment_id] + len({other for other in earlier if other != comment_id} - {None}) \
            + earlier.count(None)
        counts.append(AtLeast(count) if isinstance(stored[key, comment_id], AtLeast) else count)
        earlier.append(comment_id)
    return keys, counts


def answer(moderator, text: str, article: Article | None, verdict, comment_id, explain: bool, record: bool = True,
           key: str | None = None, explained: bool = False):
    """(the answer dict, the review-log row or None) of one decided comment. A flagged comment keeps its
    explanation for the review page, whether or not the CMS asked for it (when it is recorded; not when
    `explained`: a copy joining a wave awaiting review, whose first copy has it), and the fingerprint `key` its
    copies are counted by."""
    result = verdict.to_dict()
    flagged = record and verdict.decision == "flag"
    explanation = explain_verdict(moderator, text, result) if explain or (flagged and not explained) else None
    if explain:
        result["explanation"] = explanation
    if not flagged:
        return result, None
    return result, flagged_row(text, article, verdict, comment_id, explanation=explanation, fingerprint=key)


def moderate_one(text: str, article: Article | None, comment_id: str | None = None, explain: bool = False,
                 record: bool = True, parent_id: str | None = None, parent_text: str | None = None):
    """One comment through the live model: (verdict, answer dict). With `record`, an accepted comment joins its
    stored article's thread and a flagged one enters the review log (committed before this returns); without,
    nothing is written but an article sent inline with text. `parent_id` or `parent_text` is the comment it answers
    (`parent_of`). Shared by /v1/moderate and the Akismet and Coral adapters."""
    moderator = get_moderator()
    if moderator is None:
        raise ApiError(503, "model_unavailable", "No model is loaded.")
    clear_memos()  # a text is normalised and tokenised once within the request, never served from an earlier one
    context = context_for(article, comment_id)  # a stored article (and its thread without this comment), or None
    waves: dict = {}
    [key], [repeats] = copies_before(moderator.policy, [text], [comment_id], waves)
    parent = parent_of(parent_id, parent_text) if is_short(text) else None  # only a short comment reads it
    verdict = moderator.moderate(text, article, context=context, repeats=repeats, parent=parent)
    [verdict] = wave_states.settle_all([verdict], [key], waves)  # a wave's decision in force (service/waves.py)
    result, flagged = answer(moderator, text, article, verdict, comment_id, explain, record, key,
                             explained=wave_states.explained_before(waves, key))
    if record:
        record_writes([thread_row(article, text, verdict, comment_id, key) if context is not None else None],
                      [flagged])
    record_verdicts([verdict])
    remember_text([text])
    return verdict, result


@bp.post("/moderate/batch")
@require_key("api")
def moderate_batch():
    """Decide on up to MAX_BATCH_COMMENTS comments in one call, scored together; results in request order."""
    ids, texts, articles, explains, parents = parse_batch(json_body(current_app.config["MAX_BATCH_CONTENT_LENGTH"]))
    moderator = get_moderator()
    if moderator is None:
        raise ApiError(503, "model_unavailable", "No model is loaded.")
    clear_memos()

    contexts = [context_for(article, comment_id) for article, comment_id in zip(articles, ids)]
    waves: dict = {}
    keys, repeats = copies_before(moderator.policy, texts, ids, waves)
    sent = {str(i): t for i, t in zip(ids, texts) if i is not None}  # a reply may answer a comment of its batch
    verdicts = moderator.moderate_batch(texts, articles, contexts=contexts, repeats=repeats,
                                        parents=[parent_of(p, t, sent) if is_short(text) else None
                                                 for (p, t), text in zip(parents, texts)])
    verdicts = wave_states.settle_all(verdicts, keys, waves)  # a wave's decision in force (service/waves.py)
    thread = [thread_row(article, text, verdict, comment_id, key) if context is not None else None
              for comment_id, text, article, context, verdict, key
              in zip(ids, texts, articles, contexts, verdicts, keys)]
    results, flagged = [], []
    for comment_id, text, article, explain, verdict, key in zip(ids, texts, articles, explains, verdicts, keys):
        result, row = answer(moderator, text, article, verdict, comment_id, explain, key=key,
                             explained=wave_states.explained_before(waves, key))
        flagged.append(row)
        results.append(result if comment_id is None else {"id": comment_id, **result})
    record_writes(thread, flagged)
    record_verdicts(verdicts)
    remember_text(texts)
    return jsonify({"results": results, "model_version": moderator.version})


@bp.get("/model")
@require_key("api")
def model():
    """The live model's version, metadata and the policy it serves under."""
    moderator = get_moderator()
    if moderator is None:
        raise ApiError(503, "model_unavailable", "No model is loaded.")
    switch_error = current_app.extensions.get("model_switch_error")
    rules_error = current_app.extensions.get("site_rules_error")
    settings_error = current_app.extensions.get("policy_settings_error")
    return jsonify({**moderator.model.metadata, "version": moderator.version, "policy": moderator.policy.to_dict(),
                    **({"switch_error": switch_error} if switch_error else {}),
                    **({"site_rules_error": rules_error} if rules_error else {}),
                    **({"policy_settings_error": settings_error} if settings_error else {})})
