"""The single-request path made cheap: store durability per kind of write, the per-worker article
context kept current with one query, and relevance features that cost no O(N_FEATURES) work per call."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sqlalchemy import event
from sqlalchemy import text as sql

from moderation.moderator import Article
from moderation.relevance import Context, count_vectors
from moderation.store import Store
from service import create_app

PROJECT = Path(__file__).resolve().parent.parent


def synchronous_per_insert(store: Store, write) -> dict:
    """{table: the connection's PRAGMA synchronous while it inserted into it} during `write()`."""
    seen = {}

    def spy(conn, cursor, statement, *_):
        if statement.startswith("INSERT INTO"):
            raw = conn.connection.dbapi_connection
            seen[statement.split()[2]] = raw.execute("PRAGMA synchronous").fetchone()[0]

    event.listen(store.engine, "before_cursor_execute", spy)
    try:
        write()
    finally:
        event.remove(store.engine, "before_cursor_execute", spy)
    return seen


def test_labels_are_synced_fully_the_moderation_path_as_configured(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'normal.db'}")
    seen = synchronous_per_insert(store, lambda: (
        store.add_thread_comment("a-1", "a reply"), store.add_feedback("Buy pills", "spam"),
        store.record_moderation([], [dict(text="x", decision="flag", spam=0.5, off_topic=None, reasons=[],
                                          model_version="v1")]),
        store.add_thread_comment("a-1", "another")))
    assert seen == {"thread_comments": 1, "feedback": 2, "decisions": 1}  # NORMAL = 1, FULL = 2
    with store.engine.connect() as conn:  # the label's FULL does not leak into the pooled connection
        assert conn.execute(sql("PRAGMA synchronous")).scalar() == 1
        assert conn.execute(sql("PRAGMA journal_mode")).scalar() == "wal"
    full = Store(f"sqlite:///{tmp_path / 'full.db'}", synchronous="full")
    assert synchronous_per_insert(full, lambda: (full.add_thread_comment("a", "t"), full.add_feedback("t", "ham"))) \
        == {"thread_comments": 2, "feedback": 2}
    with pytest.raises(ValueError, match="synchronous"):
        Store(f"sqlite:///{tmp_path / 'off.db'}", synchronous="OFF")


def test_the_app_reads_the_synchronous_setting(tiny_registry, tmp_path):
    app = create_app({"TESTING": True, "MODELS_DIR": str(tiny_registry.root), "DATABASE_SYNCHRONOUS": "FULL",
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"})
    assert app.extensions["store"].synchronous == "FULL"


def test_an_accepted_comment_survives_the_worker_being_killed(tiny_registry, tmp_path):
    """synchronous=NORMAL: the process answers, is SIGKILLed at once, and the thread comment is in the database."""
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    script = f"""
import os, signal
from service import create_app
app = create_app({{"TESTING": True, "MODELS_DIR": {str(tiny_registry.root)!r}, "DATABASE_URL": {url!r},
                  "SPAM_FLAG": 1.0, "SPAM_REJECT": 1.0, "OFF_TOPIC_FLAG": 1.0, "SHORT_OFF_TOPIC_FLAG": 1.0}})
article = {{"id": "k-1", "title": "Bus routes", "body": "The council adds bus routes."}}
r = app.test_client().post("/v1/moderate", json={{"text": "More buses on route 42, finally.", "article": article}})
print(r.json["decision"], flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr
    assert done.stdout.split() == ["accept"]
    assert Store(url).thread("k-1") == ["More buses on route 42, finally."]


@pytest.fixture()
def two_workers(tiny_registry, tmp_path):
    """Two apps on one database: what two gunicorn workers are."""
    config = {"TESTING": True, "MODELS_DIR": str(tiny_registry.root), "SPAM_FLAG": 1.0, "SPAM_REJECT": 1.0,
              "OFF_TOPIC_FLAG": 1.0, "SHORT_OFF_TOPIC_FLAG": 1.0,
              "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}"}
    return create_app(config), create_app(config)


def cached_context(app, article_id):
    return app.extensions["article_contexts"].cache.get(article_id)


def test_cached_context_follows_other_workers_and_puts(two_workers):
    a, b = (app.test_client() for app in two_workers)
    article = {"id": "t-1", "title": "City budget", "body": "The council approved the budget for bus routes."}
    texts = ["Bus routes matter more than the library.", "The budget vote was close.", "Route 42 is always late."]
    assert a.post("/v1/moderate", json={"text": texts[0], "article": article}).json["decision"] == "accept"
    assert b.post("/v1/moderate", json={"text": texts[1], "article": {"id": "t-1"}}).json["decision"] == "accept"
    assert a.post("/v1/moderate", json={"text": texts[2], "article": {"id": "t-1"}}).json["decision"] == "accept"
    a.post("/v1/moderate", json={"text": "one more", "article": {"id": "t-1"}})
    # Worker a's cached context has every comment accepted so far, by either worker, but the one it scored last
    # (that one joins at a's next request): the same counts as a context built from the store.
    _, _, _, last_id, context = cached_context(two_workers[0], "t-1")[:5]
    fresh = Context.build(article["title"], article["body"], texts)
    assert context.thread_comments == 3
    assert (context.thread != fresh.thread).nnz == 0 and (context.article != fresh.article).nnz == 0
    # A PUT through the other worker replaces the article text; a's next request rebuilds from the store.
    assert b.put("/v1/articles/t-1", json={"title": "Shoes", "body": "A new running shoe."}).status_code == 200
    a.post("/v1/moderate", json={"text": "Nice shoe.", "article": {"id": "t-1"}})
    title, body, _, _, context = cached_context(two_workers[0], "t-1")[:5]
    assert (title, body) == ("Shoes", "A new running shoe.")
    assert (context.article != Context.build("Shoes", "A new running shoe.").article).nnz == 0
    assert context.thread_comments == 4  # the thread is kept across a PUT
    # Inline text that differs from the stored one is stored first, as before.
    a.post("/v1/moderate", json={"text": "ok then", "article": {**article, "id": "t-1"}})
    assert two_workers[1].extensions["store"].get_article("t-1")["title"] == "City budget"


def test_scores_are_the_same_with_a_warm_cache_and_a_cold_one(two_workers, seed_article):
    """Per-request caching must not change an answer: each request, answered by a worker that has seen the article
    before, gets the scores of a context built afresh from the store just before it."""
    warm = two_workers[0].test_client()
    other = two_workers[1].test_client()
    store, moderator = two_workers[1].extensions["store"], two_workers[1].extensions["moderator"]
    article = {"id": "seed", "title": seed_article["title"], "body": seed_article["body"]}
    texts = ["Iraqi forces should protect the civilians leaving Mosul.", "Shoe level lies.", "Great article",
             "The fighters fled before the army arrived.", "Win a free iPhone at bit.ly/x", "Mosul again?"]
    accepted = 0
    for i, text in enumerate(texts):
        body = {"text": text, "article": article if i == 0 else {"id": "seed"}}
        fresh = Context.build(article["title"], article["body"], store.thread("seed"))
        expected = moderator.moderate(text, Article("seed", article["title"], article["body"]), context=fresh)
        got = warm.post("/v1/moderate", json=body).json
        assert got["scores"] == {"spam": expected.spam, "off_topic": expected.off_topic,
                                 "toxicity": expected.toxicity}, text
        assert (got["decision"], got["reasons"]) == (expected.decision, [r.to_dict() for r in expected.reasons])
        seen = other.post("/v1/moderate", json={"text": f"{text} (seen by the other worker)",
                                                "article": {"id": "seed"}}).json
        accepted += (got["decision"] == "accept") + (seen["decision"] == "accept")
    assert len(store.thread("seed")) == accepted > len(texts)  # every accepted comment joined the thread


def test_relevance_features_match_dense_norms(tiny_registry):
    """The context norms, computed from the stored entries only, equal the dense TF-IDF definition."""
    relevance = tiny_registry.load().relevance
    contexts = [Context.build("Bus routes", "The council adds bus routes and cuts library hours.",
                              ["More buses!", "Library hours matter", "bus bus bus"]),
                Context.build("", "", []), Context.build("Shoes", "", ["running shoes"])]
    comments = count_vectors(["bus routes please", "library", "", "shoes for running", "nothing in common"])
    of = np.array([0, 0, 1, 2, 2])
    x = relevance.features(comments, contexts, of)
    idf = relevance.idf.astype(np.float64)

    def dense_cosine(c, m):
        u, v = c.toarray().ravel() * idf, m.toarray().ravel() * idf
        norm = np.linalg.norm(u) * np.linalg.norm(v)
        return float(u @ v / norm) if norm > 0 else 0.0

    for i, j in enumerate(of):
        for column, part in ((0, "article"), (1, "title"), (2, "thread")):
            assert x[i, column] == pytest.approx(dense_cosine(comments[i], getattr(contexts[j], part)), abs=1e-12)
    # One comment against one context (the service's case) gives the batch's row.
    single = relevance.features(comments[3], [contexts[2]], np.zeros(1, np.int64))
    np.testing.assert_allclose(single[0], x[3], rtol=0, atol=1e-12)
    # A context with duplicate entries (not canonical) is summed, and the shared matrix is left as it was.
    raw = sp.csr_matrix((np.array([1.0, 2.0]), np.array([5, 5]), np.array([0, 2])), shape=(1, 2 ** 18))
    odd = Context(raw, raw, raw, 1)
    relevance.features(comments[:1], [odd], np.zeros(1, np.int64))
    assert raw.nnz == 2


def test_one_comment_scores_as_in_a_batch(tiny_registry, small_examples):
    """The scorer's single-comment path (dict word n-grams, cached word char n-grams, per-text signals) gives
    the batch path's counts exactly and predict_proba's scores."""
    from moderation.features import spam_scores
    from moderation.scorer import CharColumns, WordColumns, compile_scorer
    from moderation.text import normalise_all
    from tests.test_vectorised import EDGE

    pipeline = tiny_registry.load().spam
    scorer = compile_scorer(pipeline)
    assert scorer is not None
    texts = [e.text for e in small_examples[:300]] + EDGE + ["\U0001F600 x", "é é 一丁 ab", "a  b", " lead", "x" * 70]
    docs = normalise_all(texts)
    words = next(b for _, b in pipeline.named_steps["features"].transformer_list if hasattr(b, "_counts"))
    hasher = pipeline.named_steps["features"].transformer_list[1][1].steps[0][1]
    word_columns, char_columns = WordColumns(words), CharColumns(hasher)
    for doc in docs * 2:  # the second round reads every word's char n-grams from the cache
        for single, batch in ((word_columns, words._counts([doc])), (char_columns, hasher.transform([doc]))):
            columns, counts = np.unique(single(doc), return_counts=True)
            row = batch.tocsr()
            row.sum_duplicates()
            assert columns.tolist() == row.indices.tolist() and counts.tolist() == row.data.astype(int).tolist()
    one_by_one = np.array([scorer([t])[0] for t in texts])
    assert np.max(np.abs(one_by_one - spam_scores(pipeline, texts))) < 1e-6
    assert np.max(np.abs(one_by_one - scorer(texts))) < 1e-9


def test_one_text_count_vector_is_the_hashers(small_examples):
    from moderation.relevance import _HASHER

    texts = [e.text for e in small_examples[:500]] + ["", "the and of", "Mosul Mosul mosul", "İstanbul ǅ 日本語 です",
                                                      "x" * 60 + " " + "y" * 30, "don't won't isn't"]
    for text in texts + texts:  # the second round reads the stem columns from the cache
        ours, reference = count_vectors([text]), _HASHER.transform([text])
        reference.sort_indices()
        assert ours.shape == reference.shape and ours.dtype == reference.dtype
        assert ours.indices.tolist() == reference.indices.tolist() and ours.data.tolist() == reference.data.tolist()
