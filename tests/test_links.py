"""Link kinds: a link to a video is told from other links, batch == per text, and the pipeline carries the block."""

from moderation.features import SIGNAL_BLOCKS, build_spam_pipeline, feature_text, feature_text_links
from moderation.links import LINK_NAMES, is_video_link, link_signals, link_signals_per_text
from moderation.text import normalise, normalise_all

from tests.test_vectorised import EDGE


def test_video_links_are_told_from_other_links():
    assert is_video_link("http://youtu.be/CevxZvSJLk8")
    assert is_video_link("http://www.youtube.com/watch?v=KQ6zr6kCPj8&t=2m19s")
    assert is_video_link("https://m.youtube.com/shorts/abcdefgh")
    assert not is_video_link("https://www.youtube.com/user/somechannel")
    assert not is_video_link("http://www.bubblews.com/news/6401116-vps-solutions")
    assert not is_video_link("https://www.facebook.com/pages/Hiphop-Express/704682339621282")


def test_the_word_model_sees_a_video_placeholder():
    share = normalise("Katy Perry - Roar (Official): http://youtu.be/CevxZvSJLk8\ufeff")
    assert "zzvideo" in feature_text_links(share).split() and "zzlink" not in feature_text_links(share).split()
    assert "zzlink" in feature_text(share).split()  # the older models' view is unchanged
    shop = "Get yours today at maketheunitedstatesgreatagain.com, shipping free"
    assert "zzlink" in feature_text_links(shop).split() and "zzvideo" not in feature_text_links(shop)
    plain = "The council voted 5 to 2; call 555 123 4567 or mail a@b.org"
    assert feature_text_links(plain) == feature_text(plain)


def test_batch_signals_equal_the_per_text_definition(small_examples):
    texts = normalise_all([e.text for e in small_examples] + EDGE + [
        "YOUTU.BE/CevxZvSJLk8 and youtube.com/watch?v=KQ6zr6kCPj8", "/watch?v=ARkglzjQuP0 like", "v=1 x=2", ""])
    fast, slow = link_signals(texts), link_signals_per_text(texts)
    assert fast.shape == slow.shape == (len(texts), len(LINK_NAMES))
    assert abs(fast - slow.toarray()).max() == 0
    assert fast[len(texts) - 4, 0] > fast[len(texts) - 3, 0] > 0
    assert link_signals([]).shape == (0, len(LINK_NAMES))


def test_the_pipeline_has_the_block_and_explanations_know_its_names():
    pipeline = build_spam_pipeline()
    blocks = dict(pipeline.named_steps["features"].transformer_list)
    assert "links" in blocks and SIGNAL_BLOCKS["links"] == LINK_NAMES
    assert blocks["words"].preprocessor is feature_text_links
    older = dict(build_spam_pipeline(link_kinds=False).named_steps["features"].transformer_list)
    assert "links" not in older and older["words"].preprocessor is feature_text
