"""Batch paths taken by rescoring give exactly the matrices of the code they replace."""

from __future__ import annotations

import numpy as np


def test_cached_char_ngram_counts_are_the_hashers_matrix(tiny_registry, small_examples):
    from moderation.scorer import CharColumns
    from moderation.text import normalise_all
    from tests.test_vectorised import EDGE

    pipeline = tiny_registry.load().spam
    hasher = pipeline.named_steps["features"].transformer_list[1][1].steps[0][1]
    texts = [e.text for e in small_examples[:400]] + EDGE + ["", "\U0001F600 x", "é é 一丁 ab", "x" * 70, "İstanbul"]
    docs = normalise_all(texts)
    columns = CharColumns(hasher)
    columns.MAX_WORDS = 300  # the cache fills up and evicts during the test
    for batch in (docs, docs[::-1], docs[:1], [""], [], docs):  # cold, then partly cached
        got, want = columns.counts(batch), hasher.transform(batch)
        assert got.shape == want.shape and got.dtype == want.dtype
        assert np.array_equal(got.indptr, want.indptr) and np.array_equal(got.indices, want.indices)
        assert np.array_equal(got.data, want.data)
    assert len(columns.words) <= 300


def test_output_lines_are_json_dumps_byte_for_byte():
    import json

    from moderation.moderator import Verdict
    from moderation.policy import Reason
    from training.rescore_batch import changed_line, json_value, verdict_line

    reasons = (Reason("spam", "Spam score 0.97 is at or above 0.90.", "reject"),
               Reason("off_topic", "Off-topic \u00e9 \"quoted\" \\ score", "flag"))
    for rid in ("c1", 7, -3, 2 ** 70, "caf\u00e9 \u2028 \"x\"\n\t\\", "", "\U0001F600", 1.5):
        assert json_value(rid) == json.dumps(rid, ensure_ascii=False)
        for verdict in (Verdict("reject", 0.9731, 0.12, reasons, "v1"), Verdict("accept", None, None, (), "v\u00e9"),
                        Verdict("flag", 0.5, 1.0, reasons[1:], "v2")):
            rid_json = json_value(rid)
            line_json = verdict_line(rid_json, verdict, json_value(verdict.model_version))
            assert line_json == json.dumps({"id": rid, **verdict.to_dict()}, ensure_ascii=False)
            for line, old in ((1, "accept"), (123456, "fl\u00e9g \"x\"")):
                assert changed_line(line, rid_json, old, line_json) == json.dumps(
                    {"line": line, "id": rid, "old_decision": old, **verdict.to_dict()}, ensure_ascii=False)


def test_a_few_new_words_are_hashed_one_by_one_to_the_same_columns(tiny_registry, small_examples):
    """The serving path hashes a comment's few unseen words with scikit-learn's C MurmurHash3 instead of the
    numpy batch hasher: the same columns in the same order, for every word of the examples and the edge cases
    (words with astral characters, which the numpy hasher hashes its own way, take the batch path)."""
    from moderation.scorer import CharColumns, _hashed_alike
    from moderation.text import normalise_all
    from moderation.vectorised import _char_hashes
    from tests.test_vectorised import EDGE

    pipeline = tiny_registry.load().spam
    hasher = pipeline.named_steps["features"].transformer_list[1][1].steps[0][1]
    low, high = hasher.ngram_range
    docs = normalise_all([e.text for e in small_examples] + EDGE + ["\U0001F600 x \U0001F600\U0001F600ab", "é 一丁 İstanbul"])
    words = sorted({w for d in docs for w in d.lower().split(" ") if w})
    columns = CharColumns(hasher)
    one_by_one = [w for w in words if _hashed_alike(w)]
    assert len(one_by_one) > 3000 and len(one_by_one) < len(words)
    for word in one_by_one:
        assert np.array_equal(columns._word_columns(word), _char_hashes([word], low, high, hasher.n_features)[1]), word
    for doc in docs[:300]:  # a cold cache for each comment: its new words take the one-by-one path
        fresh = CharColumns(hasher)
        fresh.FEW_WORDS = 10 ** 6  # every comment's words one by one (unless one has an astral character)
        want = hasher.transform([doc])
        assert np.array_equal(np.sort(fresh(doc)), np.sort(np.repeat(want.indices, want.data.astype(int)))), doc
