"""The single-comment relevance path (moderation/relevance_one.py) gives the batch path's numbers, bit for
bit, over real comments, their articles and growing threads, short comments, edge cases and empty contexts."""

import copy
import random

import numpy as np
import pytest

from moderation.relevance import Context, count_vectors, fill_text_features
from moderation.relevance_one import comment_words, features_one, row_sum, score_one
from moderation.semantic import raw_words
from training.datasets import load_fox, load_sms, load_youtube

from tests.test_vectorised import EDGE

SHORT = ["Shoe level lies.", "Thanks for sharing", "Great article, thanks", "ok", "?", "Horse tooth jungle!!",
         "Iraq Iraq Iraq Iraq", "the and of", "http://x.com/a?b=c", "LOL", "7.62 x 39 mm"]


@pytest.fixture(scope="module")
def texts_and_articles(data_dir):
    fox = load_fox(data_dir / "fox-news-comments" / "fox-news-comments.json")
    rng = random.Random(11)
    others = rng.sample(load_youtube(data_dir / "youtube-spam-collection"), 40) \
        + rng.sample(load_sms(data_dir / "sms-spam-collection" / "SMSSpamCollection"), 40)
    return fox, [e.text for e in others]


def _batch(model, text, context):
    zero = np.zeros(1, np.int64)
    x = model.features(count_vectors([text]), [context], zero)
    fill_text_features(x, [text])
    model.fill_semantic(x, [text], [context], zero)
    return x, model.scores([text], [context], zero)[0]


def _check(model, text, context) -> None:
    x_batch, score_batch = _batch(model, text, context)
    x_one = features_one(model, text, context)
    assert x_one.shape == x_batch.shape and x_one.dtype == x_batch.dtype
    assert np.array_equal(x_one, x_batch), (text, np.flatnonzero(x_one != x_batch))
    assert score_one(model, text, context) == score_batch, text


def test_row_sum_is_numpys_reduction_order():
    rng = np.random.default_rng(3)
    for n in list(range(0, 300)) + [511, 1024, 1500]:
        values = rng.standard_normal(n) * 10.0 ** rng.uniform(-4, 4, n)
        expected = np.add.reduceat(values, np.zeros(1, np.intp))[0] if n else 0.0
        assert row_sum(values.tolist()) == expected, n  # exact, not approximately
    # The order matters: a plain left-to-right sum differs from numpy's somewhere in these.
    sums = [(row_sum(v.tolist()), sum(v.tolist())) for v in (rng.standard_normal(40) * 1e6 for _ in range(50))]
    assert any(a != b for a, b in sums)


def test_one_tokenisation_gives_the_count_vector_and_the_raw_words(texts_and_articles):
    from moderation.relevance import _STOP

    fox, others = texts_and_articles
    for text in [e.text for e in fox[:300]] + others + EDGE + SHORT:
        columns, counts, raw = comment_words(text)
        vector = count_vectors([text])
        assert columns == vector.indices.tolist() and counts == vector.data.tolist()
        assert raw == raw_words(text, _STOP)


def test_features_and_score_equal_the_batch_path(tiny_registry, texts_and_articles, seed_article):
    model = tiny_registry.load().relevance
    assert model.vectors is not None and getattr(model, "word_baseline", None) is not None
    fox, others = texts_and_articles
    by_article: dict = {}
    for e in fox:
        by_article.setdefault(e.article_title, []).append(e)
    checked = 0
    seed = Context.build(seed_article["title"], seed_article["body"])
    assert model.article_support(seed) is not None  # a long article: only its most specific words support
    for title, comments in by_article.items():
        body = comments[0].article_body
        # A long article too (the summary followed by 40 comments): its words do not all support a comment's.
        long_body = "\n".join([body, *(c.text for c in comments[-40:])])
        fixed = [Context.build(title, body), Context.build("", body), Context.build(title, ""),
                 Context.build(title, body, [c.text for c in comments[:25]]), Context.build("", "", ["A thread only"]),
                 Context.build(title, long_body, [c.text for c in comments[:5]]), seed]
        growing = Context.build(title, body)
        for k, comment in enumerate(comments[:30]):
            texts = [comment.text] + (SHORT + EDGE + others[:10] if k == 0 else [])
            for context in fixed + [growing]:
                for text in texts:
                    _check(model, text, context)
                    checked += 1
            growing = growing.add_comment(comment.text)  # as the service's cache grows a thread
    assert checked > 2000
    _check(model, "anything at all", Context.build("", ""))  # an empty context (the service never scores one)


def test_without_word_vectors_or_baselines(tiny_registry, texts_and_articles):
    fox, _ = texts_and_articles
    base = tiny_registry.load().relevance
    no_baseline = copy.copy(base)
    no_baseline.word_baseline = None
    no_vectors = copy.copy(base)
    no_vectors.vectors = None
    context = Context.build(fox[0].article_title, fox[0].article_body, [e.text for e in fox[1:6]])
    for model in (no_baseline, no_vectors):
        for text in [e.text for e in fox[:40]] + SHORT:
            _check(model, text, context)


def test_the_moderator_takes_the_single_path_with_the_same_verdicts(tiny_registry, texts_and_articles, monkeypatch):
    from moderation import moderator as moderator_module
    from moderation.moderator import Article, Moderator

    fox, _ = texts_and_articles
    moderator = Moderator(tiny_registry.load())
    context = Context.build(fox[0].article_title, fox[0].article_body, [e.text for e in fox[1:10]])
    calls = []
    monkeypatch.setattr(moderator_module, "score_one", lambda *a: (calls.append(1), score_one(*a))[1])
    texts = [e.text for e in fox[10:60]] + SHORT
    one_by_one = [moderator.moderate(t, context=context) for t in texts]
    assert len(calls) == len(texts)
    # The batch path: the same context given for every row of a batch.
    batch = moderator.moderate_batch(texts, contexts=[context] * len(texts))
    assert len(calls) == len(texts) and one_by_one == batch
    assert moderator.moderate("", context=context).off_topic is None
    assert moderator.moderate("Hello there", context=Context.build("", "")).off_topic is None
    assert moderator.moderate("Hello there", Article("x", fox[0].article_title, "")).off_topic is not None


def test_a_comment_added_to_a_thread_is_scipys_sum(texts_and_articles):
    import scipy.sparse as sp

    from moderation.relevance_one import thread_plus

    fox, others = texts_and_articles
    thread = Context.build(fox[0].article_title, fox[0].article_body).thread  # empty
    for text in [e.text for e in fox[:200]] + others + EDGE + SHORT:
        expected = sp.csr_matrix(thread + count_vectors([text]))
        added = thread_plus(thread, text)
        assert added.has_canonical_format and added.shape == expected.shape
        assert added.indices.dtype == expected.indices.dtype and added.data.dtype == expected.data.dtype
        assert np.array_equal(added.indices, expected.indices) and np.array_equal(added.data, expected.data)
        assert np.array_equal(added.indptr, expected.indptr)
        thread = added
    assert thread.nnz > 500
    fresh = Context.build(fox[0].article_title, fox[0].article_body,
                          [t for t in [e.text for e in fox[:200]] + others + EDGE + SHORT if t]).thread
    assert np.array_equal(thread.indices, fresh.indices) and np.array_equal(thread.data, fresh.data)


def test_an_inline_article_without_id_takes_the_single_path_too(tiny_registry, texts_and_articles, monkeypatch):
    from moderation import moderator as moderator_module
    from moderation.moderator import Article, Moderator

    fox, _ = texts_and_articles
    moderator = Moderator(tiny_registry.load())
    article = Article(None, fox[0].article_title, fox[0].article_body)
    thread = [e.text for e in fox[1:8]]
    calls = []
    monkeypatch.setattr(moderator_module, "score_one", lambda *a: (calls.append(1), score_one(*a))[1])
    texts = [e.text for e in fox[10:40]] + SHORT
    one_by_one = [moderator.moderate(t, article, thread) for t in texts]
    assert len(calls) == len(texts)
    batch = moderator.moderate_batch(texts, [article] * len(texts), [thread] * len(texts))
    assert len(calls) == len(texts) and one_by_one == batch
    assert all(v.off_topic is not None for v in one_by_one if v.spam is not None)


def test_the_column_statistics_cache_is_bounded_and_stays_exact(tiny_registry, texts_and_articles, monkeypatch):
    from moderation import relevance_one

    fox, _ = texts_and_articles
    model = tiny_registry.load().relevance
    monkeypatch.setattr(relevance_one._ModelValues, "MAX_COLUMNS", 50)
    context = Context.build(fox[0].article_title, fox[0].article_body, [e.text for e in fox[1:6]])
    for text in [e.text for e in fox[:60]]:
        _check(model, text, context)
        columns, _, raw = comment_words(text)  # emptied when over the bound, before a text's new columns are added
        assert len(relevance_one._model_values(model).columns) <= 50 + len(columns) + len(set(raw))
