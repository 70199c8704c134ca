"""Self-promotion and engagement-bait signals: what they catch, what they leave alone, batch == per text."""

import numpy as np

from moderation.features import SIGNAL_BLOCKS, build_spam_pipeline
from moderation.promotion import PROMOTION_NAMES, promotion_signals, promotion_signals_per_text
from moderation.text import normalise_all

from tests.test_vectorised import EDGE


def _fired(text: str) -> set[str]:
    row = promotion_signals(normalise_all([text])).toarray()[0]
    return {name for name, value in zip(PROMOTION_NAMES, row) if value > 0}


def test_batch_signals_equal_the_per_text_definition(small_examples):
    texts = normalise_all([e.text for e in small_examples] + EDGE + ["\U0001F600\U0001F600\U0001F525 sub 4 sub"])
    fast, slow = promotion_signals(texts), promotion_signals_per_text(texts)
    assert fast.shape == slow.shape == (len(texts), len(PROMOTION_NAMES))
    assert abs(fast - slow).max() == 0
    assert promotion_signals([]).shape == (0, len(PROMOTION_NAMES))
    assert 0 <= fast.min() and fast.max() < 1


def test_spam_asks_are_recognised_in_their_variants():
    assert "self_promotion" in _fired("Check me out! I'm kyle. I rap so yeah")
    assert "self_promotion" in _fired("everyone please come check our newest song")
    assert "self_promotion" in _fired("My videos are half way decent")
    assert "subscribe" in _fired("I am so awesome and smart!!! Sucscribe to me!")
    assert "subscribe" in _fired("los invito a subscribirse a mi canal")
    assert "subscribe" in _fired("sub me if you dont like the song")
    assert "engagement_bait" in _fired("Thumbs up if you're watching in 2015")
    assert "engagement_bait" in _fired("Like this comment for no reason")
    assert "engagement_bait" in _fired("Follow 4 Follow @someone Like 4 Like")
    assert "audience_count" in _fired("If I get 100 subscribers I will do a cover")
    assert "begging" in _fired("it would mean a lot, please help me reach 1k")
    assert "begging" in _fired("please check out my new song")
    assert "video_timestamp" in _fired("http://www.youtube.com/watch?v=KQ6zr6kCPj8&t=2m19s best part")


def test_news_comments_fire_nothing():
    for text in ("The council should check the budget before the vote, not after.",
                 "My family paid into social security for 40 years and we expect it to be there.",
                 "He described the subscription model of the paper as a tax on readers.",
                 "Please follow up on this story, and please help me understand the budget numbers.",
                 "Thumbs down to the mayor's plan; the data says otherwise."):
        assert _fired(text) == set(), text


def test_the_pipeline_has_the_block_and_explanations_know_its_names():
    blocks = dict(build_spam_pipeline().named_steps["features"].transformer_list)
    assert "promotion" in blocks and SIGNAL_BLOCKS["promotion"] == PROMOTION_NAMES
    assert "promotion" not in dict(build_spam_pipeline(promotion=False).named_steps["features"].transformer_list)
