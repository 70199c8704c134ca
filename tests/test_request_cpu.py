"""The single-comment fast paths (CPU per request) give exactly what the batch and reference code give."""

import re

import numpy as np

from moderation.promotion import PROMOTION_NAMES, promotion_rows, promotion_signals, promotion_signals_per_text
from moderation.text import normalise_all

from tests.test_vectorised import EDGE

PROMOTION_CASES = ["\U0001F600\U0001F600\U0001F525 sub 4 sub", "Check me out! Sucscribe 100 subscribers please help me reach",
                   "like 4 like, f4f, thumbs up if", "watch?v=x&t=2m19s", "SUBSCRIBE TO MY CHANNEL"]


def test_one_text_promotion_row_is_the_reference_and_the_batch(small_examples):
    texts = normalise_all([e.text for e in small_examples] + EDGE + PROMOTION_CASES)
    reference, batch = promotion_signals_per_text(texts).toarray(), promotion_signals(texts).toarray()
    one_by_one = np.vstack([promotion_rows([t]) for t in texts])
    assert one_by_one.shape == (len(texts), len(PROMOTION_NAMES))
    assert np.array_equal(one_by_one, reference) and np.array_equal(one_by_one, batch)
    assert one_by_one[-5:].sum(axis=1).min() > 0  # the cases fire something: the equality is not all zeros
    assert promotion_rows([]).shape == (0, len(PROMOTION_NAMES))


def test_a_comment_added_to_a_context_keeps_its_article_representation(tiny_registry):
    from moderation.relevance import Context
    from moderation.semantic import _cached_representation

    relevance = tiny_registry.load().relevance
    assert relevance.vectors is not None
    title, body = "Bus routes", "The council adds bus routes and cuts library hours in the city."
    context = Context.build(title, body, ["More buses please"])
    _cached_representation(relevance, relevance.vectors, context)  # as the first request under it does
    grown = context.add_comment("Library hours matter to students")
    assert grown._semantic is context._semantic  # not rebuilt per accepted comment
    fresh = Context.build(title, body, ["More buses please", "Library hours matter to students"])
    for text in ("bus routes are late", "shoes on sale", "library"):
        x_grown = relevance.scores([text], [grown], np.zeros(1, np.int64))
        x_fresh = relevance.scores([text], [fresh], np.zeros(1, np.int64))
        assert np.array_equal(x_grown, x_fresh)


def test_prepared_statements_read_and_write_what_sqlalchemy_does(tmp_path, monkeypatch):
    from sqlalchemy import event, select

    from moderation import prepared
    from moderation.store import Store, thread_comments
    from service.articles import _NEWER

    store = Store(f"sqlite:///{tmp_path / 'p.db'}")
    store.put_article("a-1", "Bus routes", "The council adds bus routes.")
    writes = []
    monkeypatch.setattr(prepared.Prepared, "write", lambda self, params, w=prepared.Prepared.write:
                        (writes.append(self.sql), w(self, params))[1])
    store.add_thread_comment("a-1", "first, prepared")
    assert len(writes) == 1  # the fast path was taken
    # With cursor events listened to (tracing, tests), SQLAlchemy executes: the listener sees every statement.
    seen = []
    spy = lambda conn, cursor, statement, *_: seen.append(statement)  # noqa: E731
    event.listen(store.engine, "before_cursor_execute", spy)
    store.add_thread_comment("a-1", "second, through SQLAlchemy")
    sqlalchemy_rows = store.rows(_NEWER, {"article_id": "a-1", "last_id": 0})
    event.remove(store.engine, "before_cursor_execute", spy)
    assert len(writes) == 1 and len(seen) == 2
    prepared_rows = store.rows(_NEWER, {"article_id": "a-1", "last_id": 0})
    assert [tuple(r) for r in sqlalchemy_rows] == prepared_rows
    updated_at, first_id, first_text = prepared_rows[0]
    assert first_text == "first, prepared" and updated_at == store.get_article("a-1")["updated_at"]
    assert store.rows(_NEWER, {"article_id": "a-1", "last_id": prepared_rows[-1][1]}) == [(updated_at, None, None)]
    assert store.rows(_NEWER, {"article_id": "nope", "last_id": 0}) == []
    # The written timestamps read back through SQLAlchemy as the same kind of value.
    with store.engine.connect() as conn:
        stamps = conn.execute(select(thread_comments.c.created_at).order_by(thread_comments.c.id)).scalars().all()
    assert [type(s) for s in stamps] == [type(stamps[1])] * 2 and stamps[0] <= stamps[1]
    with store.engine.connect() as conn:  # stored alike: SQLAlchemy's SQLite text form of a datetime
        stored = conn.exec_driver_sql("SELECT created_at FROM thread_comments ORDER BY id").scalars().all()
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", s) for s in stored), stored
    # Another database takes SQLAlchemy's path.
    assert Store("sqlite:///:memory:")._prepare(_NEWER) is not None
    postgres = Store.__new__(Store)
    postgres.sqlite = False
    assert postgres._prepare(_NEWER) is None


def test_the_session_is_opened_only_for_requests_with_its_cookie(app, monkeypatch):
    from flask.sessions import SecureCookieSessionInterface

    built = []
    original = SecureCookieSessionInterface.get_signing_serializer
    monkeypatch.setattr(SecureCookieSessionInterface, "get_signing_serializer",
                        lambda self, a: (built.append(1), original(self, a))[1])
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.post("/v1/moderate", json={"text": "Fine reporting."}).status_code == 200
    assert built == []
    with client.session_transaction() as session:  # a signed-in moderator's cookie
        session["moderator"] = "ann"
    built.clear()
    assert client.get("/healthz").status_code == 200
    assert built  # a request with the cookie opens it as before
    with client.session_transaction() as session:
        assert session["moderator"] == "ann"


def test_a_statement_that_cannot_be_prepared_is_run_by_sqlalchemy(tmp_path, monkeypatch):
    from moderation import store as store_module
    from moderation.store import Store
    from service.articles import _NEWER

    def refuse(*args, **kwargs):  # as Prepared does for a SQLite driver with another parameter style
        raise ValueError("Prepared statements are for SQLite (qmark parameters) only")

    monkeypatch.setattr(store_module, "Prepared", refuse)
    store = Store(f"sqlite:///{tmp_path / 'other.db'}")
    store.put_article("a-1", "Bus routes", "The council adds bus routes.")
    store.add_thread_comment("a-1", "a comment")
    assert [r[2] for r in store.rows(_NEWER, {"article_id": "a-1", "last_id": 0})] == ["a comment"]
    assert len(store._prepared) == 2 and all(prepared is None for _, prepared in store._prepared.values())


def test_a_prepared_statement_that_fails_raises_as_sqlalchemy_does(tmp_path):
    """A failing prepared read or write raises SQLAlchemy's DBAPIError, which the service answers with 503
    store_unavailable (a raw sqlite3 error would have been a 500)."""
    import pytest
    from sqlalchemy import text as sql
    from sqlalchemy.exc import DBAPIError

    from moderation.store import Store
    from service.articles import _NEWER

    store = Store(f"sqlite:///{tmp_path / 'p.db'}")
    store.put_article("a-1", "Bus routes", "The council adds bus routes.")
    store.add_thread_comment("a-1", "first")
    with store.engine.begin() as conn:
        conn.execute(sql("DROP TABLE thread_comments"))
    with pytest.raises(DBAPIError):
        store.add_thread_comment("a-1", "second")
    with pytest.raises(DBAPIError):
        store.rows(_NEWER, {"article_id": "a-1", "last_id": 0})
    with pytest.raises(DBAPIError):  # the request's writes: one accepted comment takes the prepared insert
        store.record_moderation([("a-1", "third")], [])
