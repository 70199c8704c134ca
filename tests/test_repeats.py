"""The `repeat` rule: the same text posted again and again (moderation/repeats.py), counted in the store."""

from datetime import timedelta

import pytest
from sqlalchemy import create_engine, inspect, update
from sqlalchemy import text as sql

from moderation.policy import PolicyConfig, PolicyError, decide
from moderation.repeats import fingerprint
from moderation.store import Store, decisions, now, thread_comments
from service import create_app

CAMPAIGN = "Vote NO on Proposition 5, the council is lying to you about the costs!!!"


def make_app(tiny_registry, tmp_path, decision="accept", **config):
    """decision "accept": the model accepts every comment; "flag": it flags every comment."""
    spam = {"accept": (1.0, 1.0), "flag": (0.0, 1.0)}[decision]
    return create_app({
        "TESTING": True, "MODELS_DIR": str(tiny_registry.root), "SPAM_FLAG": spam[0], "SPAM_REJECT": spam[1],
        "OFF_TOPIC_FLAG": 1.0, "SHORT_OFF_TOPIC_FLAG": 1.0,
        **({"SHORT_OFF_TOPIC_ACTION": "accept"} if decision == "accept" else {}),  # the short-comment rule too
        "DATABASE_URL": f"sqlite:///{tmp_path / 'moderation.db'}", **config,
    })


def post(client, text, article_id="a1", **extra):
    answer = client.post("/v1/moderate", json={"text": text, "article": {
        "id": article_id, "title": f"Article {article_id}", "body": "The council voted on the budget."}, **extra})
    assert answer.status_code == 200, answer.json
    return answer.json


def codes(answer) -> list[str]:
    return [r["code"] for r in answer["reasons"]]


def test_copies_share_a_fingerprint_and_short_texts_have_none():
    same = fingerprint(CAMPAIGN)
    assert same is not None and len(same) == 32
    for copy in ["vote no on proposition 5 the council is lying to you about the costs",
                 "  VOTE NO ON PROPOSITION 5 -- the council is LYING to you about the costs ",
                 "Vote NO on Proposition 5, the council is lying to you about the costs&#33;",
                 "Vote <b>NO</b> on Proposition 5, the council is lying\u200b to you about the costs!",
                 "Ｖｏｔｅ NO on Proposition 5, the council is lying to you about the costs"]:  # full-width
        assert fingerprint(copy) == same, copy
    assert fingerprint("Vote YES on Proposition 5, the council is lying to you about the costs") != same
    assert fingerprint("Vote NO on Proposition 6, the council is lying to you about the costs") != same
    for short in ["Great article, thanks", "So true!!!", "", "   ", "I agree with you here"]:
        assert fingerprint(short) is None, short
    assert fingerprint("I agree with you here", min_words=5) is not None


def test_the_policy_acts_from_repeat_min_copies_with_its_action():
    policy = PolicyConfig(spam_flag=0.5, spam_reject=0.9)
    assert decide(40, 0.01, policy, repeats=None).decision == "accept"
    assert decide(40, 0.01, policy, repeats=1).decision == "accept"  # the second copy: not yet
    third = decide(40, 0.01, policy, repeats=2)
    assert third.decision == "flag" and [r.code for r in third.reasons] == ["repeat"]
    assert third.reasons[0].message == "The same text was posted 2 times before in the last 24 hours."
    assert decide(40, 0.01, PolicyConfig(repeat_action="reject"), repeats=5).decision == "reject"
    assert decide(40, 0.01, PolicyConfig(repeat_min=2), repeats=1).decision == "flag"
    # a policy reason of its own: a spam rejection stays a rejection, and both reasons are given
    both = decide(40, 0.95, policy, repeats=3)
    assert both.decision == "reject" and [r.code for r in both.reasons] == ["repeat", "spam"]
    for bad in [{"repeat_min": 1}, {"repeat_min": 2.5}, {"repeat_window_hours": 0}, {"repeat_min_words": 0},
                {"repeat_action": "hide"}, {"repeat_window_hours": True}]:
        with pytest.raises(PolicyError):
            PolicyConfig(**bad)


def test_a_text_posted_under_many_articles_is_flagged_from_the_third_copy(tiny_registry, tmp_path):
    client = make_app(tiny_registry, tmp_path).test_client()
    answers = [post(client, CAMPAIGN.replace("Vote", "vote") if n % 2 else CAMPAIGN, f"a{n}") for n in range(4)]
    assert [a["decision"] for a in answers] == ["accept", "accept", "flag", "flag"]
    assert codes(answers[2]) == ["repeat"]
    assert answers[3]["reasons"][0]["message"] == "The same text was posted 3 times before in the last 24 hours."
    assert answers[2]["scores"]["spam"] is not None  # the model still scored it
    # a generic short comment written by many readers is never a repeat
    assert {post(client, "Great article, thanks", f"a{n}")["decision"] for n in range(5)} == {"accept"}
    # another text is not a copy
    assert post(client, "The council is telling the truth about the costs of Proposition 5")["decision"] == "accept"


def test_a_retry_of_the_same_comment_is_not_a_repeat(tiny_registry, tmp_path):
    client = make_app(tiny_registry, tmp_path).test_client()
    for _ in range(4):  # the CMS sends comment c1 again after a timeout
        assert post(client, CAMPAIGN, comment_id="c1")["decision"] == "accept"
    assert post(client, CAMPAIGN, comment_id="c2")["decision"] == "accept"  # 1 copy before under another id
    assert codes(post(client, CAMPAIGN, comment_id="c3")) == ["repeat"]
    assert codes(post(client, CAMPAIGN)) == ["repeat"]


def test_copies_in_one_batch_and_across_workers_count(tiny_registry, tmp_path):
    first, second = (make_app(tiny_registry, tmp_path).test_client() for _ in range(2))
    batch = first.post("/v1/moderate/batch", json={"comments": [
        {"id": n, "text": CAMPAIGN, "article": {"id": f"a{n}", "title": "Budget"}} for n in range(3)]})
    assert batch.status_code == 200, batch.json
    assert [r["decision"] for r in batch.json["results"]] == ["accept", "accept", "flag"]
    # the other worker (another app on the same store) sees the copies the first one recorded
    assert post(second, CAMPAIGN, "a9")["reasons"][0]["message"].startswith("The same text was posted 3 times")


def test_flagged_copies_count_and_old_or_erased_ones_do_not(tiny_registry, tmp_path):
    app = make_app(tiny_registry, tmp_path, decision="flag")
    client = app.test_client()
    assert codes(post(client, CAMPAIGN, comment_id="x1")) == ["spam"]  # flagged by the model, kept for review
    assert codes(post(client, CAMPAIGN, comment_id="x2")) == ["spam"]
    assert codes(post(client, CAMPAIGN, comment_id="x3")) == ["repeat", "spam"]
    store = app.extensions["store"]
    with store.engine.begin() as conn:  # the first two copies were posted two days ago: out of the window
        conn.execute(update(decisions).where(decisions.c.comment_id.in_(["x1", "x2"]))
                     .values(created_at=now() - timedelta(days=2)))
    assert codes(post(client, CAMPAIGN, comment_id="x4")) == ["spam"]  # one copy (x3) within 24 hours
    assert client.delete("/v1/comments/x3").status_code == 200
    assert client.delete("/v1/comments/x4").status_code == 200
    assert store.count_copies(fingerprint(CAMPAIGN), now() - timedelta(days=3)) == 2


def test_the_rule_is_configurable_and_can_be_turned_off(tiny_registry, tmp_path):
    off = make_app(tiny_registry, tmp_path / "off", REPEAT_ACTION="accept").test_client()
    assert {post(off, CAMPAIGN, f"a{n}")["decision"] for n in range(4)} == {"accept"}
    strict = make_app(tiny_registry, tmp_path / "strict", REPEAT_ACTION="reject", REPEAT_MIN=2,
                      REPEAT_MIN_WORDS=3, REPEAT_WINDOW_HOURS=0.5).test_client()
    assert post(strict, "Vote NO now", "a1")["decision"] == "accept"
    second = post(strict, "vote no now!", "a2")
    assert second["decision"] == "reject" and codes(second) == ["repeat"]
    assert second["reasons"][0]["message"] == "The same text was posted 1 time before in the last 0.5 hours."
    policy = strict.get("/v1/model").json["policy"]
    assert (policy["repeat_action"], policy["repeat_min"], policy["repeat_min_words"]) == ("reject", 2, 3)


def test_a_bad_repeat_setting_stops_the_start(tiny_registry, tmp_path):
    with pytest.raises(PolicyError, match="repeat_min"):
        make_app(tiny_registry, tmp_path, REPEAT_MIN=1)


def test_an_older_store_gets_the_fingerprint_columns(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:  # the thread table as the comment-id release made it
        conn.execute(sql("CREATE TABLE thread_comments (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                         "article_id VARCHAR(255) NOT NULL, text TEXT NOT NULL, created_at DATETIME NOT NULL, "
                         "comment_id VARCHAR(255))"))
        conn.execute(sql("INSERT INTO thread_comments (article_id, text, created_at) "
                         "VALUES ('a', 'kept from before', '2026-01-01 00:00:00.000000')"))
    engine.dispose()
    store = Store(url)
    for table in ("thread_comments", "decisions"):
        assert "fingerprint" in {c["name"] for c in inspect(store.engine).get_columns(table)}
    assert "ix_thread_comments_fingerprint" in {i["name"] for i in inspect(store.engine).get_indexes(
        thread_comments.name)}
    key = fingerprint(CAMPAIGN)
    store.record_moderation([("a", CAMPAIGN, "c1", key), ("b", CAMPAIGN, None, key)], [])
    assert store.count_copies(key, now() - timedelta(hours=1)) == 2
    assert store.count_copies(key, now() - timedelta(hours=1), "c1") == 1
    assert store.thread("a") == ["kept from before", CAMPAIGN]
