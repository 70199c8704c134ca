"""The batch-vectorised features equal their per-text definitions."""

import pickle

import numpy as np
from sklearn.base import clone
from sklearn.feature_extraction.text import HashingVectorizer

from moderation.features import signal_features, signal_features_per_text
from moderation.text import normalise_all
from moderation.vectorised import CharNgramHasher

EDGE = ["", "a", "ab cd", "x" * 3000, "\x00 ab", "a\x00\n12345", "İstanbul ÉÉ ５５５ ǅ", "aaaa!!!!", "call 555 1234",
        "", "567 8901 www.x.com", "f r e e c4sh @handle me@x.org $5 10k", "check out my channel", "日本語 です"]


def test_signals_equal_the_per_text_definition(small_examples):
    texts = normalise_all([e.text for e in small_examples] + EDGE)
    fast, slow = signal_features(texts), signal_features_per_text(texts)
    assert fast.shape == slow.shape
    assert abs(fast - slow).max() == 0
    assert signal_features([]).shape == (0, slow.shape[1])


def test_char_ngrams_equal_scikit_learns_char_wb_hashing(small_examples):
    texts = normalise_all([e.text for e in small_examples] + EDGE + ["\U0001F600 x", "\u00e9\u00e9 \u4e00\u4e01 ab"])
    hasher = CharNgramHasher(ngram_range=(2, 4), n_features=2 ** 20).fit(texts)
    ours = hasher.transform(texts)
    reference = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 4), n_features=2 ** 20,
                                  alternate_sign=False, norm=None, dtype=np.float32).transform(texts)
    assert ours.shape == reference.shape and abs(ours - reference).max() == 0
    # a text's row does not depend on the batch it is in
    one = hasher.transform([texts[3]])
    assert abs(one - ours[3]).max() == 0
    # explanations regenerate the columns of each word
    words = texts[3].split()
    columns = np.concatenate([hasher.word_columns(w) for w in words])
    assert set(columns) == set(ours[3].indices)


def test_char_hasher_pickles_and_clones():
    hasher = CharNgramHasher(ngram_range=(2, 3), n_features=2 ** 10)
    copy = pickle.loads(pickle.dumps(hasher.fit(["ab"])))
    assert clone(hasher).get_params() == hasher.get_params()
    assert abs(copy.transform(["hello world"]) - hasher.transform(["hello world"])).max() == 0


def test_is_blank_is_not_normalise(small_examples):
    from moderation.text import is_blank, normalise

    texts = [e.text for e in small_examples] + EDGE + [" ", "\u200b\ufeff", "<b></b>", "&nbsp;", "<p>&amp;</p>",
                                                         "_", "\u00ad x", "&lt;b&gt;", "\u3000"]
    assert [is_blank(t) for t in texts] == [not normalise(t) for t in texts]


def test_lean_scorer_gives_the_pipelines_scores(tiny_registry, small_examples):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from moderation.features import spam_scores
    from moderation.scorer import compile_scorer

    pipeline = tiny_registry.load().spam
    scorer = compile_scorer(pipeline)
    assert scorer is not None
    texts = [e.text for e in small_examples[:400]] + ["", "x" * 10_000, "\u200b\ufeff", "<b>&amp;</b>"] + EDGE
    assert np.max(np.abs(scorer(texts) - spam_scores(pipeline, texts))) < 1e-6
    for text in texts[:50]:  # one comment at a time, as the service scores them
        assert abs(scorer([text])[0] - spam_scores(pipeline, [text])[0]) < 1e-6
    assert compile_scorer(Pipeline([("clf", LogisticRegression())])) is None


def test_served_answers_match_the_pipeline(client, tiny_registry, small_examples):
    from moderation.moderator import Moderator

    served = client.application.extensions["moderator"]
    plain = Moderator(tiny_registry.load(), spam_scorer=lambda texts: spam_scores_of(tiny_registry, texts))
    assert served.spam_scorer is not None
    texts = [e.text for e in small_examples[:200]]
    assert [v.to_dict() for v in served.moderate_batch(texts)] == [v.to_dict() for v in plain.moderate_batch(texts)]


def spam_scores_of(registry, texts):
    from moderation.features import spam_scores

    return spam_scores(registry.load().spam, texts)


def test_scan_patterns_find_the_same_matches():
    """match_counts scans with a look-ahead on the first characters where a pattern allows it (PROMO): the same
    matches at the same places, for every signal pattern, upper case, Unicode and edge cases included."""
    import re

    from moderation import features
    from moderation.vectorised import scan_pattern

    assert scan_pattern(features.PROMO) is not features.PROMO
    assert scan_pattern(features.HANDLE) is features.HANDLE  # a look-behind first: scanned as it is
    assert scan_pattern(re.compile("(?i:ab)|c")) is not None
    assert scan_pattern(re.compile("(?i:ab)|c")).pattern == "(?i:ab)|c"  # inline flags: left alone
    texts = ["CHECK IT OUT and Subscribe!!", "subscriber visits: Free WINNER prize", "my channel, my Video",
             "xsubscribe freebie checkout", "Ｆｒｅｅ cash ſubscribe", "join\u00a0now, text to 80082", "", "txt"]
    for name in ("URL", "EMAIL", "HANDLE", "PHONE", "MONEY", "PROMO", "SPACED_OUT", "LEET", "REPEAT"):
        pattern = getattr(features, name)
        fast = scan_pattern(pattern)
        for text in texts:
            assert [m.span() for m in fast.finditer(text)] == [m.span() for m in pattern.finditer(text)], (name, text)


def test_promotion_phrases_per_words_equal_the_per_text_definition(small_examples):
    from moderation.features import SIGNAL_NAMES, signal_features_per_words, signal_rows_per_words

    argument = "The budget office says the program costs more each year than the state takes in from its taxes. "
    long_news = (argument * 3 + "Free food, cash and money for some, " + argument * 3).strip()  # 3 matches, 115 words
    texts = normalise_all([e.text for e in small_examples] + EDGE + [long_news, "win free cash now"])
    fast, slow = signal_features_per_words(texts), signal_rows_per_words(texts)
    assert fast.shape == slow.shape and abs(fast.toarray() - slow).max() == 0
    plain = signal_features(texts).toarray()
    promo = SIGNAL_NAMES.index("promo_phrases")
    # only the promotion-phrase column of comments longer than 20 words changes, and it falls
    same = np.ones(plain.shape[1], dtype=bool)
    same[promo] = False
    assert abs(fast.toarray()[:, same] - plain[:, same]).max() == 0
    words = np.array([t.count(" ") + 1 for t in texts])
    assert np.array_equal(fast.toarray()[words <= 20, promo], plain[words <= 20, promo])
    assert abs(fast[-2, promo] - np.tanh(3 / (115 / 20))) < 1e-12 and abs(plain[-2, promo] - np.tanh(3)) < 1e-12
    assert fast[-1, promo] == plain[-1, promo] > 0.9
    assert signal_features_per_words([]).shape == (0, plain.shape[1])
