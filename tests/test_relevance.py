"""Relevance: off_topic scores, the articles endpoint, threads, and the batch path."""

import numpy as np
import pytest

from moderation.moderator import Article, Moderator
from moderation.registry import ModelRegistry

GERMAN = Article("de-law", "German lawmakers approve 'no means no' rape law after Cologne assaults",
                 "German lawmakers passed a bill Thursday that will make it easier for victims of sex crimes to file "
                 "criminal complaints if they rejected their attacker's advances with a clear no.")
THREAD = [
    "Merkel let all of them in and now she wants a new law to fix it.",
    "Chancellor Merkel is finished, the voters will say no to her next year.",
    "Merkel should resign, her open borders policy caused Cologne.",
    "The new law is fine but the police in Cologne did nothing that night.",
]


@pytest.fixture(scope="module")
def moderator(tiny_registry):
    return Moderator(ModelRegistry(tiny_registry.root).load())


def off_topic(client, payload):
    response = client.post("/v1/moderate", json=payload)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["scores"]["off_topic"]


def test_tiny_model_has_a_relevance_model(tiny_registry):
    metadata = tiny_registry.metadata(tiny_registry.current_version())
    assert 0.5 <= metadata["thresholds"]["off_topic_flag"] < 1
    assert metadata["metrics"]["relevance"]["out_of_fold"]["auc_thread"] > 0.5


def test_off_topic_is_null_without_a_known_article(client):
    assert off_topic(client, {"text": "The vote was close."}) is None
    assert off_topic(client, {"text": "The vote was close.", "article": {"id": "never-seen"}}) is None
    assert off_topic(client, {"text": "The vote was close.", "article": {"title": "", "body": " "}}) is None


def test_off_topic_is_scored_against_an_inline_article(client, seed_article):
    article = {"title": seed_article["title"], "body": seed_article["body"]}
    score = off_topic(client, {"text": "Iraqi forces are closing in on Mosul.", "article": article})
    assert 0.0 <= score <= 1.0


def test_put_get_article_then_moderate_by_id(client, seed_article):
    response = client.put("/v1/articles/mosul-1", json={"title": seed_article["title"], "body": seed_article["body"]})
    assert response.status_code == 201
    assert response.get_json()["thread_comments"] == 0
    again = client.put("/v1/articles/mosul-1", json={"title": seed_article["title"], "body": seed_article["body"]})
    assert again.status_code == 200
    got = client.get("/v1/articles/mosul-1").get_json()
    assert got["title"] == seed_article["title"] and got["body"] == seed_article["body"]

    on_topic = "The Iraqi army retook the airbase south of Mosul; ISIL fighters are fleeing the city."
    body = client.post("/v1/moderate", json={"text": on_topic, "article": {"id": "mosul-1"}}).get_json()
    assert body["scores"]["off_topic"] is not None
    assert body["decision"] == "accept"
    # The accepted comment joined the article's thread; an empty one (rejected) did not.
    assert client.get("/v1/articles/mosul-1").get_json()["thread_comments"] == 1
    client.post("/v1/moderate", json={"text": "   ", "article": {"id": "mosul-1"}})
    assert client.get("/v1/articles/mosul-1").get_json()["thread_comments"] == 1


def test_inline_article_with_id_is_remembered(client):
    client.post("/v1/moderate", json={"text": "No means no.", "article": {"id": 77, "title": GERMAN.title}})
    assert client.get("/v1/articles/77").get_json()["title"] == GERMAN.title
    assert off_topic(client, {"text": "Merkel would never say NO", "article": {"id": 77}}) is not None


def test_thread_is_shared_through_the_store(app, tiny_registry, tmp_path):
    """A second app (another worker) on the same database sees the article and the comments the first accepted."""
    from service import create_app
    other = create_app({"TESTING": True, "MODELS_DIR": str(tiny_registry.root),
                        "DATABASE_URL": app.config["DATABASE_URL"]}).test_client()
    first = app.test_client()
    first.put("/v1/articles/de", json={"title": GERMAN.title, "body": GERMAN.body})
    response = other.post("/v1/moderate", json={"text": "Merkel would never say NO", "article": {"id": "de"}})
    before = response.get_json()["scores"]["off_topic"]
    accepted = sum(first.post("/v1/moderate", json={"text": text, "article": {"id": "de"}}).get_json()["decision"]
                   == "accept" for text in THREAD)
    accepted += response.get_json()["decision"] == "accept"  # (a short comment the tiny model may flag)
    assert accepted >= len(THREAD)
    assert other.get("/v1/articles/de").get_json()["thread_comments"] == accepted
    after = off_topic(other, {"text": "Merkel would never say NO", "article": {"id": "de"}})
    assert after != before  # the other worker's cached context took in the new thread comments


@pytest.mark.parametrize("kwargs,status,code", [
    ({"json": {"title": 5}}, 422, "invalid_request"),
    ({"json": {"title": "", "body": "  "}}, 422, "invalid_request"),
    ({"json": {}}, 422, "invalid_request"),
    ({"json": {"title": "x", "text": "y"}}, 422, "invalid_request"),
    ({"json": {"id": "other", "title": "x"}}, 422, "invalid_request"),
    ({"json": ["title"]}, 422, "invalid_request"),
    ({"data": "{broken", "content_type": "application/json"}, 400, "invalid_json"),
    ({"data": "title=x"}, 415, "unsupported_media_type"),
])
def test_bad_article_input_gets_a_json_4xx_and_changes_nothing(client, kwargs, status, code):
    response = client.put("/v1/articles/a1", **kwargs)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code and response.get_json()["error"]["message"]
    assert client.get("/v1/articles/a1").status_code == 404


def test_unknown_article_and_overlong_id(client):
    response = client.get("/v1/articles/nope")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "article_not_found"
    response = client.put("/v1/articles/" + "x" * 300, json={"title": "t"})
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_request"


def test_articles_need_a_key_once_configured(tiny_registry, tmp_path):
    from service import create_app
    app = create_app({"MODELS_DIR": str(tiny_registry.root), "DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}",
                      "API_KEYS": "cms"})
    client = app.test_client()
    assert client.put("/v1/articles/a", json={"title": "t"}).status_code == 401
    ok = client.put("/v1/articles/a", json={"title": "t"}, headers={"Authorization": "Bearer cms"})
    assert ok.status_code == 201


def test_thread_is_used(moderator):
    """The same comment and article with and without a discussion get different scores."""
    alone = moderator.moderate("Merkel would never say NO", GERMAN).off_topic
    with_thread = moderator.moderate("Merkel would never say NO", GERMAN, THREAD).off_topic
    assert alone is not None and with_thread is not None and alone != with_thread


def test_batch_leave_one_out_matches_one_by_one(moderator):
    """Rescoring passes each row the other rows of its article; the shared fast path must give the same scores."""
    texts = THREAD + ["Merkel would never say NO", "Great article, thanks"]
    other = Article("x", "Navy names ship after gay rights activist Harvey Milk", "The Navy will name a ship.")
    articles = [GERMAN] * len(texts) + [other, other]
    threads = [texts[:i] + texts[i + 1:] for i in range(len(texts))] + [["The Navy is a joke."], []]
    all_texts = texts + ["Milk was a politician", "Whatever"]
    batch = moderator.moderate_batch(all_texts, articles, threads)
    single = [moderator.moderate(t, a, th) for t, a, th in zip(all_texts, articles, threads)]
    assert [v.off_topic for v in batch] == pytest.approx([v.off_topic for v in single], abs=1e-3)
    assert all(v.off_topic is not None for v in batch)


def test_off_topic_alone_only_flags_by_default(moderator):
    from moderation.policy import decide
    assert moderator.policy.off_topic_reject is None
    assert decide(20, 0.0, moderator.policy, off_topic=1.0).decision == "flag"
    strict = moderator.policy.with_overrides(off_topic_reject=0.9)
    assert decide(20, 0.0, strict, off_topic=0.95).decision == "reject"


def test_short_comments_have_their_own_threshold_and_action(moderator):
    from moderation.policy import decide
    from moderation.relevance import is_short
    assert is_short("Shoe level lies.") and is_short("Mosul will be free soon") and not is_short("one two three four five six")
    policy = moderator.policy.with_overrides(short_off_topic_flag=0.6, off_topic_flag=0.9)
    assert decide(16, 0.0, policy, off_topic=0.65, short=True).decision == "flag"
    assert decide(16, 0.0, policy, off_topic=0.65, short=False).decision == "accept"  # the long-comment threshold
    assert decide(16, 0.0, policy, off_topic=0.55, short=True).decision == "accept"
    strict = policy.with_overrides(short_off_topic_action="reject")
    shoe = decide(16, 0.0, strict, off_topic=0.65, short=True)
    assert shoe.decision == "reject" and [r.code for r in shoe.reasons] == ["off_topic"]


def test_bad_short_policy_is_refused():
    from moderation.policy import PolicyConfig, PolicyError
    with pytest.raises(PolicyError):
        PolicyConfig(short_off_topic_action="delete")
    with pytest.raises(PolicyError):
        PolicyConfig(short_off_topic_flag=1.5)


def test_generic_words_are_learned_from_their_spread_over_articles():
    from moderation.relevance import RelevanceModel, count_vectors
    by_article = [["Great article, thanks", "Shoes on sale"], ["Great point, thanks"], ["great job thanks"]]
    model = RelevanceModel.from_corpus([t for a in by_article for t in a], by_article)
    generic = {w: float(model.generic[count_vectors([w]).indices[0]]) for w in ("great", "thanks", "shoes")}
    assert generic["great"] == generic["thanks"] == 1.0 and generic["shoes"] == 0.0


def test_sampled_threads_share_one_context_and_score_as_each_row_alone(tiny_registry, small_examples):
    """Batch rescoring passes each row the other rows of its article's sample; the rows inside the sample (whose
    thread is the sample minus themselves) share the article's one context with the rows outside it."""
    from moderation.moderator import Article, Moderator
    from moderation.relevance import batch_contexts

    fox = [e for e in small_examples if e.source == "fox"]
    article = Article(fox[0].article_id, fox[0].article_title, fox[0].article_body)
    rows = [e.text for e in fox if e.article_id == fox[0].article_id][:12]
    sample = rows[:5]
    threads = [[t for t in sample if t is not text] if text in sample else list(sample) for text in rows]
    contexts, _, leave_out, _, _ = batch_contexts(rows, [article] * len(rows), threads)
    assert len(contexts) == 1 and list(leave_out) == [True] * 5 + [False] * (len(rows) - 5)
    moderator = Moderator(tiny_registry.load())
    together = moderator.moderate_batch(rows, [article] * len(rows), threads)
    for text, thread, verdict in zip(rows, threads, together):
        alone = Moderator(tiny_registry.load()).moderate_batch([text], [article], [thread])[0]
        assert verdict.off_topic is not None and verdict.off_topic == pytest.approx(alone.off_topic, abs=1e-4)


def test_an_article_supports_only_the_words_it_is_about(tiny_registry, seed_article):
    """A long article supports a comment's word only when the word is among its SUPPORT_WORDS most specific words:
    "level", once in the Mosul report's 579 words, does not tie "Shoe level lies." to it; "Mosul" does."""
    from moderation.relevance import (FEATURE_NAMES, SUPPORT_WORDS, Context, count_vectors, content_words)
    from moderation.relevance_one import _column

    model = tiny_registry.load().relevance
    assert model.support_words == SUPPORT_WORDS and model.mu_article == 1000.0
    seed = Context.build(seed_article["title"], seed_article["body"])
    support = model.article_support(seed)
    assert len(support) == SUPPORT_WORDS < seed.article.nnz
    assert _column("mosul") in support and _column("level") not in support
    assert seed.article[0, _column("level")] == 1  # the article does use it
    for word in content_words(seed_article["title"]):  # the headline counts three times: all its words support
        assert _column(word) in support

    def features(text):
        return dict(zip(FEATURE_NAMES, model.features(count_vectors([text]), [seed], np.zeros(1, np.int64))[0]))

    shoe, mosul = features("Shoe level lies."), features("Mosul level lies.")
    assert shoe["share_in_article"] > 0  # found in the text...
    assert shoe["unsupported_specificity_share"] == 1.0  # ...but nothing supports it
    assert 0 < mosul["unsupported_specificity_share"] < 1
    # A headline and summary have fewer distinct words than SUPPORT_WORDS: every word of it counts.
    short = Context.build("German lawmakers approve rape law", "Lawmakers passed a bill on Thursday.")
    assert model.article_support(short) is None


def test_a_model_trained_before_the_support_setting_reads_its_features_as_it_was_trained(tiny_registry,
                                                                                        seed_article):
    """Models pickled before mu_article and support_words existed take the values they were trained with (50,
    every word of the article counts), so their combiners read the features they learned from."""
    import copy
    import pickle

    from moderation.relevance import FEATURE_NAMES, Context, count_vectors

    model = tiny_registry.load().relevance
    old = copy.copy(model)
    del old.mu_article, old.support_words  # what an artifact written before them holds
    old = pickle.loads(pickle.dumps(old))
    assert old.mu_article == 50.0 and old.support_words is None
    seed = Context.build(seed_article["title"], seed_article["body"])
    assert old.article_support(seed) is None
    zero = np.zeros(1, np.int64)
    x_old = dict(zip(FEATURE_NAMES, old.features(count_vectors(["Shoe level lies."]), [seed], zero)[0]))
    x_new = dict(zip(FEATURE_NAMES, model.features(count_vectors(["Shoe level lies."]), [seed], zero)[0]))
    assert x_old["unsupported_specificity_share"] < 1.0 == x_new["unsupported_specificity_share"]
    # Smoothed with 1,000 words instead of 50, the article's language model stays nearer the background.
    assert abs(x_new["llr_article"]) < abs(x_old["llr_article"])
    for name in ("cos_article", "share_in_article", "share_in_thread", "content_words"):
        assert x_old[name] == x_new[name]


def _html(article: dict) -> str:
    """The seed article's body as a CMS may send it: paragraphs with attributes, links, a script, a style, a
    comment, a tag with long attributes."""
    paragraphs = article["body"].split("\n")
    wide = '<div data-tracking="' + "x" * 700 + '">'
    return (f'<style>.shoe {{ color: red }}</style><!-- shoe sale banner -->{wide}' + "".join(
        f'<p class="article-paragraph" style="margin:0 0 1em"><a href="https://www.diyaruna.com/en_GB/articles/'
        f'cnmi_di/features/2016/08/01/feature-0{i}">{p}</a></p>\n' for i, p in enumerate(paragraphs))
        + '</div><script type="text/javascript">var shoe = "level lies";</script>')


def test_an_html_article_is_read_as_its_text(moderator, seed_article):
    """A CMS often sends the body as HTML. Its markup, link targets and scripts are not the article's words: with
    them "https"/"www"/"com" supported every link in a comment, "articles" in the URLs supported "Great article",
    and a tag with over 500 characters of attributes was read as words."""
    from moderation.relevance import Context, article_parts, article_words

    plain = Context.build(seed_article["title"], seed_article["body"])
    html = Context.build(f"<h1>{seed_article['title']}</h1>", _html(seed_article))
    for part in ("article", "title"):
        a, b = getattr(plain, part), getattr(html, part)
        assert np.array_equal(a.indices, b.indices) and np.array_equal(a.data, b.data)
    assert plain.words == html.words == article_words(*article_parts(seed_article["title"], _html(seed_article)))
    comments = ["Shoe level lies.", "Great article, thanks", "Nice link, check my page https://spam.example/x",
                "Good news. I hope the Iraqi army retakes Mosul before the end of the year."]
    as_text = Article(None, seed_article["title"], seed_article["body"])
    as_html = Article(None, f"<h1>{seed_article['title']}</h1>", _html(seed_article))
    for text in comments:
        assert moderator.moderate(text, as_html).off_topic == moderator.moderate(text, as_text).off_topic, text


def test_article_text_removes_markup_and_links_only():
    from moderation.text import article_text

    plain = "Iraqi forces approach Mosul. Officials say 3 < 5 and 7 > 2."
    assert article_text(plain) == plain  # no markup: left as it is (normalised later, like any text)
    assert article_text("Read more at www.news.example/mosul or https://x.example/a?b=c today").split() == \
        ["Read", "more", "at", "or", "today"]
    cleaned = article_text(_html({"body": "Mosul\nlevel"}))
    assert cleaned.split() == ["Mosul", "level"]
    assert article_text(cleaned) == cleaned
    assert article_text("Mosul <script>var shoe = 1; /* never closed").split() == ["Mosul"]  # runs to the end
    assert article_text("&lt;p class=&quot;lead&quot;&gt;Mosul&lt;/p&gt;").split() == ["Mosul"]  # escaped markup
    # Many unclosed openings: each block's end is one search, not a scan to the end per opening (quadratic).
    assert article_text("Mosul " + "<script" * 20_000).split() == ["Mosul"]
    assert article_text("Mosul " + "<!--" * 20_000).split() == ["Mosul"]
