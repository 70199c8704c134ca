"""Articles and their threads: `PUT /v1/articles/<id>`, `GET /v1/articles/<id>`, and the relevance context of a
comment posted under a known article.

The CMS sends an article once (or inline with a comment, with its id) and then only its id. The store keeps the
article's text and the comments the service accepted under it; every gunicorn worker reads the same store. Each
worker keeps the article's vectors and its thread's summed counts in a bounded cache and brings them up to date
with one indexed query per request (the article's `updated_at` joined with the thread comments newer than the
last one the worker saw, which are added to the cached counts); the article row is read again only when it
changed. So a comment accepted by another worker counts in the next decision
everywhere, and an article updated by a PUT is rebuilt.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import and_, bindparam, func, select
from werkzeug.routing import PathConverter

from moderation.moderator import Article, Verdict
from moderation.relevance import Context, ContextCache
from moderation.retries import without_comment
from moderation.store import articles, thread_comments, utc_iso
from service.auth import require_key
from service.engine import get_store
from service.errors import ApiError
from service.contract import MAX_ID_CHARS, parse, storable
from service.request_models import ArticleText
from service.validation import json_body, stored_comment_id

bp = Blueprint("articles", __name__, url_prefix="/v1")

MAX_THREAD = 2000  # a new cache entry reads at most the latest comments of a thread
# A cached context brought up to date in one query: the article's updated_at, with each thread comment newer than
# the last one the worker saw (id and text NULL when there is none); no row when the article is gone.
_NEWER = (select(articles.c.updated_at, thread_comments.c.id, thread_comments.c.text)
          .select_from(articles.outerjoin(thread_comments, and_(thread_comments.c.article_id == articles.c.id,
                                                               thread_comments.c.id > bindparam("last_id"))))
          .where(articles.c.id == bindparam("article_id")).order_by(thread_comments.c.id))
# The thread row of a comment sent before under its CMS id (at most one: the store's unique index).
_OWN_COPY = select(thread_comments.c.id, thread_comments.c.text).where(
    thread_comments.c.article_id == bindparam("article_id"), thread_comments.c.comment_id == bindparam("comment_id"))


class ArticleIdConverter(PathConverter):
    """Any article id in the path, line breaks included: the same ids as `article.id` in a comment (the path
    converter's "." stops at a line break, which made such an id an undocumented 404)."""

    regex = "[^/](?s:.)*?"


def _check_id(article_id: str) -> str:
    if not article_id or len(article_id) > MAX_ID_CHARS:
        raise ApiError(422, "invalid_request", f"An article id must be 1 to {MAX_ID_CHARS} characters.")
    return storable(article_id, "article id")


def _article_json(row: dict, comments: int) -> dict:
    return {"id": row["id"], "title": row["title"], "body": row["body"], "thread_comments": comments,
            "updated_at": utc_iso(row.get("updated_at"))}


def _thread_count(article_id: str) -> int:
    query = select(func.count()).select_from(thread_comments).where(thread_comments.c.article_id == article_id)
    with get_store().engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


@bp.put("/articles/<article_id:article_id>")
@require_key("api")
def put_article(article_id: str):
    """Create or replace an article's text; its thread (accepted comments) is kept."""
    _check_id(article_id)
    sent = parse(ArticleText, json_body())
    title, text = sent.title, sent.body
    store = get_store()
    created = store.get_article(article_id) is None
    store.put_article(article_id, title, text)
    contexts(current_app).forget(article_id)
    response = jsonify(_article_json(store.get_article(article_id), _thread_count(article_id)))
    response.status_code = 201 if created else 200
    return response


@bp.get("/articles/<article_id:article_id>")
@require_key("api")
def get_article(article_id: str):
    _check_id(article_id)
    row = get_store().get_article(article_id)
    if row is None:
        raise ApiError(404, "article_not_found", f"No article with id {article_id!r}; send it with PUT first.")
    return jsonify(_article_json(row, _thread_count(article_id)))


@bp.delete("/articles/<article_id:article_id>")
@require_key("api")
def delete_article(article_id: str):
    """Delete an article and its thread (the comments accepted under it); its flagged comments and moderator
    labels stay. Idempotent: 200 with the counts, zero when nothing was stored."""
    _check_id(article_id)
    erased = get_store().delete_article(article_id)
    contexts(current_app).forget(article_id)  # other workers: their next query finds no article row
    return jsonify({"id": article_id, "erased": erased})


def _check_comment_id(comment_id: str) -> str:
    if len(comment_id) > MAX_ID_CHARS:
        raise ApiError(422, "invalid_request", f"A comment id must be 1 to {MAX_ID_CHARS} characters.")
    return storable(comment_id, "comment id")


@bp.get("/comments/<article_id:comment_id>")
@require_key("api")
def comment_records(comment_id: str):
    """What the store holds under a comment id (a reader's access request): thread entries, flagged decisions
    and moderator labels. 404 when it holds nothing."""
    records = get_store().comment_records(_check_comment_id(comment_id))
    if not any(records.values()):
        raise ApiError(404, "comment_not_found", f"Nothing is stored under comment id {comment_id!r}.")
    return jsonify({"comment_id": comment_id, **records})


@bp.delete("/comments/<article_id:comment_id>")
@require_key("api")
def erase_comment(comment_id: str):
    """Erase a comment by the id the CMS sent with it (`comment_id`, or `id` in a batch): from its article's
    thread, the review log and the moderator labels. For a deleted comment or a reader's erasure request.
    Idempotent: 200 with the counts, zero when nothing was stored under that id."""
    return jsonify({"comment_id": comment_id, "erased": get_store().erase_comment(_check_comment_id(comment_id))})


class ArticleContexts:
    """Per-worker cache: article id -> (title, body, updated_at, last thread comment id, Context, first thread
    comment id in it (0: the whole thread))."""

    def __init__(self, size: int = 4096):
        self.cache = ContextCache(size)  # thread-safe

    def forget(self, article_id: str) -> None:
        self.cache.pop(article_id)

    def context(self, store, article: Article | None, comment_id=None) -> Context | None:
        """The relevance context of a comment's article: stored text and thread, brought up to date.

        An article sent inline with an id is stored (or updated) first, so later comments can send the id only.
        None when the article is unknown (no id, or an id never seen and no text). With the CMS's `comment_id`, a
        copy of that comment already in the thread (it was sent before: a retry, an edit) is left out of it
        (moderation/retries.py).
        """
        entry = self._entry(store, article)
        if entry is None:
            return None
        _, _, _, last_id, context, first_id = entry
        comment_id = stored_comment_id(comment_id)
        if comment_id is None:
            return context
        copy = store.rows(_OWN_COPY, {"article_id": article.id, "comment_id": comment_id})
        # Only when the copy is counted in this context: not when it is older than the latest MAX_THREAD comments
        # the context was built from, nor when another worker added it after this one's query.
        if copy and first_id <= copy[0][0] <= last_id:
            context = without_comment(context, copy[0][1])
        return context

    def _entry(self, store, article: Article | None) -> tuple | None:
        """The article's cache entry, brought up to date (and put back in the cache); None when it is unknown."""
        if article is None or article.id is None:
            return None
        article_id = article.id
        if len(article_id) > MAX_ID_CHARS:
            raise ApiError(422, "invalid_request", f"'article.id' must be at most {MAX_ID_CHARS} characters.")
        sent = (article.title, article.body) if (article.title.strip() or article.body.strip()) else None
        cached = self.cache.get(article_id)
        newer = []
        if cached is not None:
            newer = store.rows(_NEWER, {"article_id": article_id, "last_id": cached[3]})
        if cached is None or not newer or cached[2] != newer[0][0] or (sent is not None and sent != cached[:2]):
            # Not cached, changed by a PUT (here or in another worker), or sent inline with other text: read the
            # row, and store the inline text first if it differs.
            cached = None
            row = store.get_article(article_id)
            if sent is not None and (row is None or (row["title"], row["body"]) != sent):
                store.put_article(article_id, *sent)
                row = store.get_article(article_id)
            if row is None:
                return None
            title, body, updated_at = row["title"], row["body"], row["updated_at"]
        else:
            title, body, updated_at = cached[:3]
        if cached is None:
            query = (select(thread_comments.c.id, thread_comments.c.text)
                     .where(thread_comments.c.article_id == article_id)
                     .order_by(thread_comments.c.id.desc()).limit(MAX_THREAD))
            with store.engine.connect() as conn:
                rows = conn.execute(query).all()[::-1]
            context = Context.build(title, body, [r.text for r in rows])
            last_id = rows[-1].id if rows else 0
            first_id = rows[0].id if len(rows) == MAX_THREAD else 0
        else:
            _, _, _, last_id, context, first_id = cached
            for _, comment_id, text in newer:
                if comment_id is not None:
                    context, last_id = context.add_comment(text), comment_id
        entry = (title, body, updated_at, last_id, context, first_id)
        self.cache.put(article_id, entry)
        return entry


def contexts(app) -> ArticleContexts:
    return app.extensions.setdefault("article_contexts", ArticleContexts())


def context_for(article: Article | None, comment_id=None) -> Context | None:
    return contexts(current_app).context(get_store(), article, comment_id)


def thread_row(article: Article | None, text: str, verdict: Verdict, comment_id=None,
               fingerprint: str | None = None) -> tuple | None:
    """(article id, text, comment id or None, fingerprint or None) when the comment joins its stored article's
    thread (accepted), else None; written with the request's other writes, committed before the answer is sent.
    The CMS's comment id is kept so that `DELETE /v1/comments/<id>` can erase the comment, the fingerprint so that
    its copies are counted (moderation/repeats.py)."""
    if article is not None and article.id is not None and verdict.decision == "accept":
        return article.id, text, stored_comment_id(comment_id), fingerprint
    return None
