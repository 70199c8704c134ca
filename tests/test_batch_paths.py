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
