"""The spam features' shortcuts (patterns skipped when they cannot match, one URL scan shared by the word model's
placeholders and the links signal) give exactly what running every pattern on every text gives: compared over
every training text, raw and normalised, and hostile cases."""

from __future__ import annotations

import numpy as np
import pytest

from moderation import features
from moderation.features import (
    EMAIL, NUMBER, PHONE, URL, _link_placeholder, _signal_rows_reference, _signal_values, feature_text,
    feature_text_links, signal_rows, signal_rows_per_words,
)
from moderation.text import clear_memos, normalise_all

HOSTILE = [
    "", ".", ":", "@", "@@", "a@b", "@ab", "x@y.co", "me@x.org and www.x.com", "http://", "https://a",
    "www.", "www.x", "a.com", "a.com/", "ab.com/x?y=1&v=abcdefg", "youtu.be/abcdefg", "WWW.EXAMPLE.COM/PATH",
    "http://youtube.com/watch?v=abcdefgh then http://bit.ly/x", "mail me@youtu.be/abcdefg now",
    "zz@zz.com zzlink", "1", "12", "123456", "1234567", "+1 555 0100", "555.0100 12", "555-0100-1",
    "\u0665\u0665\u0665\u0665\u0665\u0665\u0665", "²³¹⁴⁵⁶⁷", "Ⅻ ⅻ", "５５５ ５５５ ５", "€5", "5 €", "$ 5", "5usd",
    "10 grand", "10k", "fr33", "w1n", "c4sh", "ſ1ſ", "K1K", "abc\u0663def", "aaaa", "aaa", "!!!!", "\u00e9\u00e9\u00e9\u00e9",
    "s.u.b.s.c.r.i.b.e", "f r e e", "F-R-E-E", "free", "FREE", "ſubscribe", "checkout", "check it out", "txt",
    "x" * 3000, "a." * 500, "@" * 300, "1" * 400, "http://" + "a" * 2000, "\x00 ab", "a\x00\n12345",
    "İstanbul ÉÉ ５５５ ǅ", "日本語のコメント です: www.例え.jp", "\ufeff", "a\u200bb.com", "::::", "a:b",
    "<a href='http://spam.example/x'>click</a>", "&amp;#39; &lt;b&gt; 5 cash",
]


def _placeholders_reference(text: str, link) -> str:
    """features._placeholders before the shortcuts: every pattern on every text, URL.sub itself."""
    text = EMAIL.sub(" zzemail ", text)
    text = URL.sub(link, text)
    text = PHONE.sub(" zzphone ", text)
    return NUMBER.sub(" zznum ", text.lower())


def _video_match(match) -> str:
    return _link_placeholder(match.group(0))


@pytest.fixture(scope="module")
def all_texts(data_dir):
    from training.train import load_default_examples

    raw = [e.text for e in load_default_examples(data_dir)] + HOSTILE
    return raw + normalise_all(raw)


def test_placeholders_equal_the_reference_on_every_training_text(all_texts):
    clear_memos()
    for text in all_texts:
        assert feature_text(text) == _placeholders_reference(text, " zzlink "), text
        assert feature_text_links(text) == _placeholders_reference(text, _video_match), text
    clear_memos()
    assert [feature_text_links(t) for t in HOSTILE] == [_placeholders_reference(t, _video_match) for t in HOSTILE]


def test_signal_rows_equal_the_reference_on_every_training_text(all_texts):
    clear_memos()
    slow = _signal_rows_reference(all_texts)
    cold = features._signal_rows(all_texts)  # the URL memo empty
    for text in all_texts:
        feature_text_links(text)
    warm = features._signal_rows(all_texts)  # the URL spans from the placeholders' scans
    assert np.array_equal(cold, slow) and np.array_equal(warm, slow)
    batch = np.vstack([_signal_values(all_texts[i:i + 700]) for i in range(0, len(all_texts), 700)])
    assert np.array_equal(batch, slow)
    assert np.array_equal(signal_rows(all_texts), np.tanh(slow))
    assert np.array_equal(signal_rows_per_words(HOSTILE), np.tanh(features._promo_per_words(_signal_rows_reference(HOSTILE))))
    # the skips are real: the rows count what is there
    rows = dict(zip(HOSTILE, features._signal_rows(HOSTILE)))
    assert rows["me@x.org and www.x.com"][:3].tolist() == [1, 1, 0]  # links, e-mails, handles
    assert rows["+1 555 0100"][3] == 1 and rows["123456"][3] == 0 and rows["fr33"][7] == 1
    assert rows["aaaa"][8] == 1 and rows["aaa"][8] == 0


def _old_paths(monkeypatch) -> None:
    """The features as they were before the shortcuts: every signal pattern per text, URL.sub, no shared scan."""
    monkeypatch.setattr(features, "_signal_rows", _signal_rows_reference)
    monkeypatch.setattr(features, "url_spans", features._url_spans)
    monkeypatch.setattr(features, "_replace_links", lambda text, link: URL.sub(
        link if link.__class__ is str else (lambda m: link(m.group(0))), text))


def test_the_lean_scorer_gives_the_same_bits_as_before(all_texts, tiny_registry, monkeypatch):
    from moderation.scorer import compile_scorer

    pipeline = tiny_registry.load().spam
    scorer = compile_scorer(pipeline)
    assert scorer is not None
    texts = all_texts[::5] + HOSTILE
    clear_memos()
    batch = np.concatenate([scorer(texts[i:i + 500]) for i in range(0, len(texts), 500)])
    one = np.array([scorer([t])[0] for t in texts])
    slow = pipeline.predict_proba(texts)[:, 1]
    with monkeypatch.context() as patched:
        _old_paths(patched)
        clear_memos()
        old_batch = np.concatenate([scorer(texts[i:i + 500]) for i in range(0, len(texts), 500)])
        old_one = np.array([scorer([t])[0] for t in texts])
        old_slow = pipeline.predict_proba(texts)[:, 1]
    clear_memos()
    assert np.array_equal(batch, old_batch) and np.array_equal(one, old_one) and np.array_equal(slow, old_slow)
    assert abs(batch - slow).max() < 1e-6 and abs(one - slow).max() < 1e-6  # compile_scorer's tolerance


def test_unique_counts_equal_numpys():
    from moderation.scorer import _unique_counts

    rng = np.random.default_rng(3)
    cases = [np.array([5]), np.array([2, 2, 2]), np.array([3, 1, 2, 1, 3, 3]), np.arange(50)[::-1].copy(),
             rng.integers(0, 2 ** 20, 2000), rng.integers(0, 7, 300), np.array([2 ** 40, -1, 0, 2 ** 40])]
    for columns in cases:
        values, counts = _unique_counts(columns)
        expected_values, expected_counts = np.unique(columns, return_counts=True)
        assert np.array_equal(values, expected_values) and values.dtype == expected_values.dtype
        assert np.array_equal(counts, expected_counts) and counts.dtype == expected_counts.dtype


def test_ascii_character_counts_equal_pythons():
    from moderation.features import _char_counts

    every_ascii = "".join(map(chr, range(128)))
    for text in [every_ascii, every_ascii * 3, "", "abcXYZ019", "\x00\x7f", "Ÿ", "aé1", "İ", "５"] + HOSTILE:
        assert _char_counts(text) == (sum(map(str.isalpha, text)), sum(map(str.isdigit, text)),
                                      sum(map(str.isupper, text))), text
