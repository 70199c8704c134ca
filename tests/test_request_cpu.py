"""The single-comment fast paths (issue 7, CPU per request) give exactly what the batch and reference code give."""

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
