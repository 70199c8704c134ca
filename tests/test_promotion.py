"""Self-promotion and engagement-bait signals: what they catch, what they leave alone, batch == per text."""

import pytest

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


@pytest.mark.parametrize("signal, text", [
    ("self_promotion", "Check me out! I'm kyle. I rap so yeah"),
    ("self_promotion", "everyone please come check our newest song"),
    ("self_promotion", "My videos are half way decent"),
    ("subscribe", "I am so awesome and smart!!! Sucscribe to me!"),
    ("subscribe", "los invito a subscribirse a mi canal"),
    ("subscribe", "sub me if you dont like the song"),
    ("engagement_bait", "Thumbs up if you're watching in 2015"),
    ("engagement_bait", "Like this comment for no reason"),
    ("engagement_bait", "Follow 4 Follow @someone Like 4 Like"),
    ("audience_count", "If I get 100 subscribers I will do a cover"),
    ("begging", "it would mean a lot, please help me reach 1k"),
    ("begging", "please check out my new song"),
    ("video_timestamp", "http://www.youtube.com/watch?v=KQ6zr6kCPj8&t=2m19s best part"),
])
def test_spam_asks_are_recognised_in_their_variants(signal, text):
    assert signal in _fired(text)


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
