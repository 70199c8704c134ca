"""Short comments without support (moderation/short_support.py): the learned generic words and word associations,
the rule's verdicts against an article and its discussion, pages too short and replies left to the score, the
policy's reason, the same verdict on the single-comment and batch paths, and `parent_id` / `parent_text` on the
API, the adapters and rescore."""

from __future__ import annotations

import copy
import json

import pytest

from moderation.moderator import Article, Moderator
from moderation.policy import PolicyConfig, decide
from moderation.relevance import Context
from moderation.relevance_words import N_FEATURES, _column
from moderation.short_support import (GENERIC, MIN_PAGE_WORDS, REPLY, SUPPORTED, THIN, UNKNOWN, UNSUPPORTED,
                                      Support, short_support)
from training.generic_words import INTERJECTIONS, generic_stems, word_associations

TITLE = "ISIL fighters flee Mosul as Iraqi forces approach"
# A report long enough for the rule to judge a short comment against it (MIN_PAGE_WORDS distinct words).
BODY = ("Iraqi forces closed in on Mosul as ISIL leaders fled towards Syria. The army retook the Qayyara airbase "
        "south of the city, and tribal fighters say civilians are leaving the villages. Commanders expect the "
        "offensive to begin before winter, with Kurdish peshmerga units holding the eastern front and federal "
        "police moving along the Tigris river. Aid agencies warn that up to a million residents could be "
        "displaced, and the United Nations is building camps near Erbil and Dohuk. Officials in Baghdad said "
        "the government would rebuild bridges, schools and hospitals destroyed during two years of occupation, "
        "while coalition aircraft continued strikes on positions in Tal Afar and Hawija.")


@pytest.fixture(scope="module")
def model(tiny_registry):
    return tiny_registry.load().relevance


@pytest.fixture(scope="module")
def moderator(tiny_registry):
    return Moderator(tiny_registry.load())


def test_generic_words_are_those_of_several_corpora_and_interjections():
    corpora = {
        "news": ["Great point, thanks", "I agree, great read", "Mosul again", "The shoe store closed"] * 250,
        "talk": ["Thanks for the great edit", "I agree with the merge", "Sources please"] * 300,
        "chat": ["great, see you", "thanks!"] * 400,
    }
    stems = generic_stems(corpora, min_share=0.01, min_sources=2)
    assert {"great", "thank", "agre"} <= stems  # used in two or three of the corpora
    assert "mosul" not in stems and "shoe" not in stems and "merg" not in stems  # one corpus only
    assert "lord" in stems and "wow" in stems  # the interjections are listed, whatever their frequency
    assert len(INTERJECTIONS) == len(set(INTERJECTIONS))


def test_the_default_generic_words_are_learned_from_the_shared_corpora(model):
    generic = model.generic_words
    assert len(generic) > 500
    for word in ("great", "thank", "articl", "true", "interest", "read", "updat", "said"):
        assert word in generic, word
    for word in ("shoe", "mosul", "pizza", "isil"):
        assert word not in generic, word


def test_verdicts_against_the_article(model):
    context = Context.build(TITLE, BODY)
    assert short_support(model, "Shoe level lies.", context).verdict == UNSUPPORTED
    assert short_support(model, "Pray for Mosul", context).verdict == SUPPORTED
    assert short_support(model, "The airbase matters", context).verdict == SUPPORTED  # stems: "airbase"
    for text in ("Great article, thanks", "So true.", "Well said.", "Interesting read.", "Good lord!"):
        assert short_support(model, text, context).verdict == GENERIC, text
    assert short_support(model, "?", context) is None  # no word: not a short comment (the empty-text rules apply)
    assert short_support(model, "one two three four five six", context) is None  # not short
    assert short_support(model, "Shoe level lies.", None) is None  # no article to judge against


def test_word_associations_are_pairs_used_together_far_more_than_chance():
    texts = (["The gun and the rifle were seized"] * 4 + ["A new rifle law, says the gun lobby"] * 2
             + ["The shoe shop", "Shoe sizes", "The law passed", "The lobby met", "A new shop"] * 20
             + ["A tapir in the zoo"] * 2)
    pairs, known = word_associations(texts, min_comments=3, min_pmi=2.0)
    pairs = set(pairs.tolist())
    key = _column("gun") * N_FEATURES + _column("rifl")
    assert key in pairs and _column("rifl") * N_FEATURES + _column("gun") in pairs  # both orders
    assert _column("shoe") * N_FEATURES + _column("gun") not in pairs  # never together
    assert _column("law") * N_FEATURES + _column("gun") not in pairs  # together twice only
    assert {_column("gun"), _column("rifl"), _column("shoe")} <= set(known.tolist())
    # No pair towards a generic word: "rifle" does not go with a "gun" that is a word of any subject.
    towards = set(word_associations(texts, min_comments=3, min_pmi=2.0, generic=frozenset({"gun"}))[0].tolist())
    assert _column("rifl") * N_FEATURES + _column("gun") not in towards
    assert _column("gun") * N_FEATURES + _column("rifl") in towards
    assert _column("seiz") in known and _column("tapir") not in known  # used by 4 comments, by 2


GUN_LAW = ("Senators voted 54 to 46 after a long debate, and the governor is expected to sign it next week. "
           "Owners of magazines holding more than ten rounds will have a year to hand them in at a police station. "
           "Dealers must run background checks on every buyer, including private sales at shows, and keep their "
           "records for twenty years. Opponents said they would challenge the measure in federal court, arguing "
           "that hunters and sport shooters are punished for crimes they never committed. Supporters pointed to "
           "the shooting at a shopping mall last spring, when a teenager killed six people with a weapon bought "
           "online, and to surveys showing most voters in the state back stricter licensing.")


def test_a_word_that_goes_with_the_articles_is_supported(model):
    guns = Context.build("Senate passes new gun law", "The bill bans the sale of assault weapons. " + GUN_LAW)
    assert short_support(model, "Rifles everywhere", guns).verdict == SUPPORTED  # "rifle" goes with "weapon"
    # "shoe" goes with words like "wear", "pair" and "foot", none of the Mosul report's.
    assert short_support(model, "Shoe level lies.", Context.build(TITLE, BODY)).verdict == UNSUPPORTED


def test_a_comment_is_held_only_on_a_word_the_rule_knows(model):
    context = Context.build(TITLE, BODY)
    # Typos and coinages too rare in the corpora for their associations to be learned: nothing to judge them by.
    assert short_support(model, "Wellsaid Demrats", context).verdict == UNKNOWN
    # One known unsupported word is enough to hold.
    assert short_support(model, "Wellsaid shoes", context).verdict == UNSUPPORTED


def test_a_headline_and_a_summary_say_too_little_to_judge_a_short_comment(model):
    headline = Context.build(TITLE, "Iraqi forces closed in on Mosul as ISIL leaders fled towards Syria.")
    assert headline.article.nnz < MIN_PAGE_WORDS
    assert short_support(model, "Shoe level lies.", headline).verdict == THIN
    assert short_support(model, "So true.", headline).verdict == GENERIC
    # A discussion makes the page long enough; the comment's own words do not count in a leave-one-out thread.
    discussed = Context.build(TITLE, "Iraqi forces closed in on Mosul as ISIL leaders fled towards Syria.",
                              [BODY, "Sad day"])
    assert short_support(model, "Shoe level lies.", discussed).verdict == UNSUPPORTED
    title = Context.build(TITLE, "").article.nnz
    filler = " ".join(f"word{i}" for i in range(MIN_PAGE_WORDS - title - 1))
    own = Context.build(TITLE, "", ["Shoe level lies. " + filler])
    assert short_support(model, "Shoe level lies.", own).verdict != THIN
    assert short_support(model, "Shoe level lies.", own, leave_out=True).verdict == THIN


def test_the_discussion_supports_a_word_and_a_reply_is_left_to_the_score(model):
    context = Context.build(TITLE, BODY)
    threaded = Context.build(TITLE, BODY, ["My shoe came off running from the news", "Sad day"])
    assert short_support(model, "Shoe level lies.", threaded).verdict == SUPPORTED
    # A reply is not judged by the rule, whatever the comment it answers says; a generic one is still generic.
    assert short_support(model, "Shoe level lies.", context, parent="Which shoe do you mean?").verdict == REPLY
    assert short_support(model, "Shoe level lies.", context, parent="Sad day").verdict == REPLY
    assert short_support(model, "So true.", context, parent="Sad day").verdict == GENERIC
    # In a leave-one-out thread (batch rescoring) the comment's own words are not support for it ...
    own = Context.build(TITLE, BODY, ["Shoe level lies.", "Sad day"])
    assert short_support(model, "Shoe level lies.", own, leave_out=True).verdict == UNSUPPORTED
    # ... but another comment's use of the same word is.
    both = Context.build(TITLE, BODY, ["Shoe level lies.", "Nice shoe"])
    assert short_support(model, "Shoe level lies.", both, leave_out=True).verdict == SUPPORTED


def test_a_model_without_generic_words_keeps_the_rule_off(model):
    older = copy.copy(model)
    del older.generic_words
    assert short_support(older, "Shoe level lies.", Context.build(TITLE, BODY)) is None


def test_the_policy_holds_an_unsupported_short_comment_with_its_words():
    support = Support(UNSUPPORTED, ("shoe", "level", "lies"), 3)
    decision = decide(16, 0.01, PolicyConfig(), off_topic=0.10, short=True, support=support)
    assert decision.decision == "flag"
    [reason] = decision.reasons
    assert reason.code == "off_topic" and reason.message == (
        "A short comment (3 words) whose words ('shoe', 'level', 'lies') appear nowhere in what the article is "
        "about or its discussion, nor go with its words.")
    # The site's short-comment action turns it up or down; a paused off_topic hold accepts with the reason listed.
    assert decide(16, 0.01, PolicyConfig(short_off_topic_action="reject"), 0.1, True,
                  support=support).decision == "reject"
    quiet = decide(16, 0.01, PolicyConfig(short_off_topic_action="accept"), 0.1, True, support=support)
    assert quiet.decision == "accept" and [r.code for r in quiet.reasons] == ["off_topic"]
    assert decide(16, 0.01, PolicyConfig(paused=("off_topic",)), 0.1, True, support=support).decision == "accept"


def test_a_generic_reaction_is_never_held_for_relevance_whatever_its_score():
    generic = Support(GENERIC, ("thanks", "update"), 4)
    assert decide(20, 0.01, PolicyConfig(short_off_topic_flag=0.5), 0.99, True, support=generic).reasons == ()
    # A supported short comment, a reply and one under a page too short to judge by are judged by their score.
    for verdict in (SUPPORTED, REPLY, THIN, UNKNOWN):
        supported = Support(verdict, ("pray", "mosul"), 3)
        assert decide(14, 0.01, PolicyConfig(short_off_topic_flag=0.5), 0.99, True,
                      support=supported).decision == "flag"
        assert decide(14, 0.01, PolicyConfig(short_off_topic_flag=0.5), 0.2, True,
                      support=supported).decision == "accept"


SHORT = ["Shoe level lies.", "Pray for Mosul", "Great article, thanks", "Nice shoes", "Thanks for the update.",
         "GLOCK", "Feel the bern", "Go Iraqi army!"]


def test_single_and_batch_paths_give_the_same_verdicts(moderator):
    article = Article("mosul", TITLE, BODY)
    thread = ["The airbase was the key", "I hope the civilians get out"]
    parents = [None, "Which shoe?", None, "Nice shoes indeed", None, "What gun would you take?", None, None]
    one = [moderator.moderate(t, article, thread, parent=p) for t, p in zip(SHORT, parents)]
    batch = moderator.moderate_batch(SHORT + ["A longer comment about the airbase and the army near Mosul."],
                                     [article] * (len(SHORT) + 1), [thread] * (len(SHORT) + 1),
                                     parents=parents + [None])
    assert [(v.decision, v.off_topic, v.reasons) for v in one] == \
        [(v.decision, v.off_topic, v.reasons) for v in batch[:len(SHORT)]]
    assert one[0].decision == "flag" and one[1].decision == "accept"
    assert one[2].decision == "accept" and one[4].decision == "accept"


def test_leave_one_out_rows_get_the_verdict_of_their_own_thread(moderator):
    """Batch rescoring gives every row of an article one context holding all of them (leave_out): a row's own
    words are not its support, the others' are, exactly as with its thread given without it."""
    article = Article("mosul", TITLE, BODY)
    rows = ["Shoe level lies.", "Nice shoes", "Pizza tastes good", "The army will win"]
    context = Context.build(TITLE, BODY, rows)
    shared = moderator.moderate_batch(rows, [None] * len(rows), contexts=[context] * len(rows),
                                      leave_out=[True] * len(rows))
    apart = [moderator.moderate(t, article, [r for r in rows if r != t]) for t in rows]
    assert [v.reasons for v in shared] == [v.reasons for v in apart]
    assert shared[0].decision == "accept"  # "shoe" is in another row ("Nice shoes")
    assert shared[2].decision == "flag"  # "pizza" and "tastes" in none


# --- the API and the adapters -----------------------------------------------------------------------------------

ARTICLE = {"id": "mosul", "title": TITLE, "body": BODY}


def test_parent_id_and_parent_text_on_v1_moderate(client):
    alone = client.post("/v1/moderate", json={"text": "Shoe level lies.", "article": ARTICLE}).get_json()
    assert alone["decision"] == "flag" and alone["reasons"][0]["code"] == "off_topic"
    inline = client.post("/v1/moderate", json={"text": "Shoe level lies.", "article": ARTICLE,
                                               "parent_text": "My shoe fell off."}).get_json()
    assert inline["decision"] == "accept", inline
    # A comment the service has seen, by its id: accepted into the thread, then answered.
    first = client.post("/v1/moderate", json={"text": "I lost a shoe running from the checkpoint near the airbase "
                                                      "when the army came in.", "article": ARTICLE,
                                              "comment_id": "c-1"}).get_json()
    assert first["decision"] == "accept", first
    reply = client.post("/v1/moderate", json={"text": "Which shoe?", "article": {"id": "other"},
                                              "parent_id": "c-1"}).get_json()
    assert "off_topic" not in [r["code"] for r in reply["reasons"]]
    known = client.post("/v1/moderate", json={"text": "Shoe level lies.", "article": {"id": "x", "title": TITLE},
                                              "parent_id": "c-1"}).get_json()
    assert known["decision"] == "accept", known
    # An id the service has not seen is no parent: judged as a top-level comment (documented). (Another article:
    # the first comment, accepted, is now in the discussion of "mosul" and supports "shoe" there.)
    fresh = {**ARTICLE, "id": "fresh"}
    unknown = client.post("/v1/moderate", json={"text": "Shoe level lies.", "article": fresh,
                                                "parent_id": "never-seen"}).get_json()
    assert unknown["decision"] == "flag"
    numeric = client.post("/v1/moderate", json={"text": "Shoe level lies.", "article": fresh,
                                                "parent_id": 12345}).get_json()
    assert numeric["decision"] == "flag"


@pytest.mark.parametrize("field, value, message", [
    ("parent_id", ["c-1"], "'parent_id' must be a string or an integer."),
    ("parent_id", True, "'parent_id' must be a string or an integer."),
    ("parent_id", {"id": 1}, "'parent_id' must be a string or an integer."),
    ("parent_id", "x" * 256, "'parent_id' must be 0 to 255 characters."),
    ("parent_id", 2 ** 70, "'parent_id' as an integer must fit in 64 bits."),
    ("parent_text", 3, "'parent_text' must be a string."),
    ("parent_text", ["a"], "'parent_text' must be a string."),
])
def test_bad_parent_fields_are_422_and_change_nothing(client, field, value, message):
    response = client.post("/v1/moderate", json={"text": "Shoe level lies.", "article": ARTICLE, field: value,
                                                 "comment_id": "bad-1"})
    assert response.status_code == 422
    assert response.get_json() == {"error": {"code": "invalid_request", "message": message}}
    assert client.get("/v1/articles/mosul").status_code == 404  # nothing was stored


def test_parent_in_the_batch_endpoint(client):
    body = {"comments": [
        {"id": "p-1", "text": "Our shoe factory near Mosul closed when the fighters came.", "article": ARTICLE},
        {"id": "r-1", "text": "Shoe level lies.", "article": ARTICLE, "parent_id": "p-1"},
        {"id": "r-2", "text": "Shoe level lies.", "article": ARTICLE},
        {"id": "r-3", "text": "Shoe level lies.", "article": ARTICLE, "parent_text": "A shoe?"},
    ]}
    results = client.post("/v1/moderate/batch", json=body).get_json()["results"]
    assert [r["decision"] for r in results[1:]] == ["accept", "flag", "accept"], results
    bad = client.post("/v1/moderate/batch", json={"comments": [{"text": "ok", "parent_text": 1}]})
    assert bad.status_code == 422
    assert bad.get_json()["error"]["message"] == "comments[0]: 'parent_text' must be a string."


def test_coral_parent_id(tiny_registry, tmp_path):
    from tests.test_coral import make_app, post, request_body

    app = make_app(tiny_registry, tmp_path)
    client = app.test_client()
    for story in ("story-1", "story-2"):
        client.put(f"/v1/articles/{story}", json={"title": TITLE, "body": BODY},
                   headers={"Authorization": "Bearer cms"})
    parent = request_body("<p>I lost my shoe when the army came into the village near Mosul.</p>", "c-parent")
    assert post(client, parent).status_code == 200  # accepted into story-1's discussion
    # Under story-2 (whose discussion has no "shoe"), the reply is supported by the comment it answers only.
    top = request_body("<p>Shoe level lies.</p>", "c-top", story_id="story-2")
    assert post(client, top).get_json()["status"] == "SYSTEM_WITHHELD"
    reply = request_body("<p>Shoe level lies.</p>", "c-reply", story_id="story-2")
    reply["comment"]["parentID"] = "c-parent"
    assert post(client, reply).get_json() in ({}, {"status": "APPROVED"})
    bad = request_body("<p>Shoe level lies.</p>", "c-bad")
    bad["comment"]["parentID"] = ["c-parent"]
    answer = post(client, bad)
    assert answer.status_code == 422 and "comment.parentID" in answer.get_json()["error"]["message"]


def test_akismet_comment_parent(tiny_registry, tmp_path):
    from tests.test_akismet import check, make_app

    client = make_app(tiny_registry, tmp_path).test_client()
    article = {"title": TITLE, "body": BODY}
    assert client.put("/v1/articles/mosul", json=article, headers={"Authorization": "Bearer cms"}).status_code == 201
    # The comment answered, under another article (so that only the parent can support the reply's words).
    moderated = client.post("/v1/moderate", json={"text": "My shoe got stuck in the mud near Qayyara.",
                                                  "article": {"id": "other", **article}, "comment_id": "7"},
                            headers={"Authorization": "Bearer cms"}).get_json()
    assert moderated["decision"] == "accept", moderated
    assert check(client, comment_content="Shoe level lies.", permalink="mosul").get_data(as_text=True) == "true"
    top = check(client, comment_content="Shoe level lies.", permalink="mosul", comment_parent="0")
    assert top.get_data(as_text=True) == "true"
    answer = check(client, comment_content="Shoe level lies.", permalink="mosul", comment_parent="7")
    assert answer.get_data(as_text=True) == "false", answer.headers
    assert check(client, comment_content="Shoe level lies.", permalink="mosul",
                 comment_parent="9" * 300).status_code == 422


def test_rescore_reads_parent_id_and_parent_text(tiny_registry, tmp_path):
    from training.rescore import RescoreOptions, rescore
    from training.rescore_io import Source

    rows = [
        {"id": 1, "text": "Our shoe shop near Mosul closed when the army came.", "article_id": "a",
         "article_title": TITLE, "article_body": BODY},
        {"id": 2, "text": "Shoe level lies.", "article_id": "b", "article_title": TITLE, "article_body": BODY,
         "parent_id": 1},
        {"id": 3, "text": "Shoe level lies.", "article_id": "c", "article_title": TITLE, "article_body": BODY},
        {"id": 4, "text": "Shoe level lies.", "article_id": "d", "article_title": TITLE, "article_body": BODY,
         "parent_text": "Is that shoe level?"},
        {"id": 5, "text": "Shoe level lies.", "article_id": "e", "article_title": TITLE, "article_body": BODY,
         "parent_id": "no-such-row"},
        {"id": 6, "text": "Shoe level lies.", "parent_id": [1]},
        {"id": 7, "text": "Shoe level lies.", "parent_text": 5},
    ]
    source_path = tmp_path / "in.jsonl"
    source_path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    output = tmp_path / "out.jsonl"
    summary = rescore(Source(source_path), output, RescoreOptions(models_dir=str(tiny_registry.root), workers=1,
                                                                  progress=False))
    decided = {r["id"]: r["decision"] for r in map(json.loads, output.read_text().splitlines())}
    assert decided == {1: "accept", 2: "accept", 3: "flag", 4: "accept", 5: "flag"}, decided
    errors = [json.loads(line) for line in (tmp_path / "out.jsonl.errors.jsonl").read_text().splitlines()]
    assert sorted(e["error"] for e in errors) == ["parent_id must be a string or an integer",
                                                  "parent_text must be a string"]
    assert summary.scored == 5
