"""Spam waves: the held copies of one text are one review item, decided once for every copy, and later copies
get the decision at once (moderation/waves.py, service/waves.py, moderation/store.py)."""

from datetime import timedelta

from sqlalchemy import func, select, update

from moderation.repeats import fingerprint
from moderation.store import REPEAT_COUNT_CAP, decisions, now, thread_comments, waves
from service import create_app

CAMPAIGN = "Vote NO on Proposition 5, the council is lying to you about the costs!!!"
OTHER = "The new bus routes will help commuters on the east side a great deal this winter"
ADMIN = {"Authorization": "Bearer admin-key"}
CLIENT = {"Authorization": "Bearer client-key"}


def make_app(tiny_registry, tmp_path, decision="accept", **config):
    """decision "accept": the model accepts every comment (the `repeat` rule holds copies from the 3rd); "flag":
    it flags every comment."""
    spam = {"accept": (1.0, 1.0), "flag": (0.0, 1.0)}[decision]
    return create_app({
        "TESTING": True, "MODELS_DIR": str(tiny_registry.root), "SPAM_FLAG": spam[0], "SPAM_REJECT": spam[1],
        "OFF_TOPIC_FLAG": 1.0, "SHORT_OFF_TOPIC_FLAG": 1.0, "API_KEYS": "client-key", "ADMIN_KEYS": "admin-key",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'moderation.db'}" if tmp_path else None, **config,
    })


def post(client, text, article_id="a1", **extra):
    answer = client.post("/v1/moderate", headers=CLIENT, json={"text": text, "article": {
        "id": article_id, "title": f"Article {article_id}", "body": "The council voted on the budget."}, **extra})
    assert answer.status_code == 200, answer.json
    return answer.json


def put_articles(client, count):
    for n in range(count):
        assert client.put(f"/v1/articles/a{n}", headers=CLIENT, json={
            "title": f"Article {n}", "body": "The council voted on the budget."}).status_code in (200, 201)


def codes(answer) -> list[str]:
    return [r["code"] for r in answer["reasons"]]


def wave_of(client, copies, first=0):
    return [post(client, CAMPAIGN, f"a{n % 7}", comment_id=f"c{n}") for n in range(first, first + copies)]


def queue(client):
    answer = client.get("/v1/review-queue", headers=ADMIN)
    assert answer.status_code == 200, answer.json
    return answer.json


def spam_wave_decided(client, copies):
    """A wave of `copies` copies, held as one review item, which a moderator labels spam."""
    wave_of(client, copies)
    [item] = queue(client)["items"]
    answer = client.post("/v1/feedback", headers=ADMIN, json={"text": CAMPAIGN, "label": "spam",
                                                              "decision_id": item["decision_id"]})
    assert answer.status_code == 201, answer.json


def test_the_held_copies_of_a_text_are_one_review_item(tiny_registry, tmp_path):
    app = make_app(tiny_registry, tmp_path)
    client = app.test_client()
    answers = wave_of(client, 12)
    assert [a["decision"] for a in answers] == ["accept"] * 2 + ["flag"] * 10
    post(client, OTHER, "a3", comment_id="other")  # another comment, accepted: not in the queue
    found = queue(client)
    assert found["pending"] == 10 and found["pending_items"] == 1
    [item] = found["items"]
    wave = item["wave"]
    assert wave["count"] == 10 and item["comment_id"] == "c11"  # the newest copy stands for the wave
    assert wave["comment_ids"] == ["c11", "c10", "c9", "c8", "c7"]
    assert sorted(wave["articles"]) == [f"a{n}" for n in range(7)] and wave["article_count"] == 7
    assert wave["first_seen"] <= wave["last_seen"] and wave["first_seen"].endswith("+00:00")
    assert wave["scores"]["spam"][0] <= wave["scores"]["spam"][1]
    # the explanation was computed for the wave's first held copy only, and the item shows it
    store = app.extensions["store"]
    with store.engine.connect() as conn:
        explained = [found for (found,) in conn.execute(select(decisions.c.explanation)) if found is not None]
    assert len(explained) == 1 and item["explanation"] is not None
    # a comment held outside the wave is an item of its own, newest first
    post(client, OTHER + " Click http://spam.example now", "a1", comment_id="lone")
    page = client.get("/review", headers=ADMIN).get_data(as_text=True)
    assert "Wave: 10 copies" in page and "10 flagged comments awaiting review in 1 item" in page


def test_one_decision_reviews_every_copy_and_later_copies_get_it(tiny_registry, tmp_path):
    app = make_app(tiny_registry, tmp_path)
    client = app.test_client()
    put_articles(client, 7)
    wave_of(client, 9)
    [item] = queue(client)["items"]
    decided = client.post("/v1/feedback", headers=ADMIN, json={
        "text": item["text"], "label": "spam", "decision_id": item["decision_id"], "moderator": "ana"})
    assert decided.status_code == 201, decided.json
    assert decided.json["reviewed"] == 7 and decided.json["wave_id"] == item["wave"]["id"]
    assert queue(client)["items"] == [] and queue(client)["pending"] == 0
    # the CMS learns the outcome of every held copy: one event per comment id, in one go
    events = client.get("/v1/reviews?after=0", headers=CLIENT).json["reviews"]
    assert sorted(e["comment_id"] for e in events) == sorted(f"c{n}" for n in range(2, 9))
    assert {e["outcome"] for e in events} == {"reject"} and {e["label"] for e in events} == {"spam"}
    # one training label for the wave, not one per copy
    store = app.extensions["store"]
    assert store.count_feedback() == 1
    # the next copies are rejected at once, saying why, and are neither held nor stored
    later = post(client, CAMPAIGN.upper(), "a5", comment_id="late")
    assert later["decision"] == "reject" and codes(later)[0] == "wave_decided"
    assert "rejected" in later["reasons"][0]["message"] and "until" in later["reasons"][0]["message"]
    assert queue(client)["pending"] == 0
    assert client.get("/v1/comments/late", headers=ADMIN).status_code == 404
    # a second decision on a copy already decided is refused
    again = client.post("/v1/feedback", headers=ADMIN, json={
        "text": item["text"], "label": "ham", "decision_id": item["decision_id"]})
    assert again.status_code == 409
    # the decision is listed, and ending it (DELETE) moderates later copies again: held, in a new wave item
    listed = client.get("/v1/waves", headers=ADMIN).json["waves"]
    assert [(w["id"], w["label"], w["in_force"]) for w in listed] == [(item["wave"]["id"], "spam", True)]
    assert client.delete(f"/v1/waves/{item['wave']['id']}", headers=CLIENT).status_code == 401  # an admin key is needed
    ended = client.delete(f"/v1/waves/{item['wave']['id']}", headers=ADMIN)
    assert ended.status_code == 200 and ended.json["wave"]["in_force"] is False
    assert client.delete("/v1/waves/999", headers=ADMIN).status_code == 404
    resumed = post(client, CAMPAIGN, "a2", comment_id="after")
    assert resumed["decision"] == "flag" and codes(resumed) == ["repeat"]
    [new_item] = queue(client)["items"]
    assert new_item["wave"]["id"] == item["wave"]["id"] and new_item["wave"]["count"] == 1
    assert client.delete(f"/v1/waves/{item['wave']['id']}", headers=ADMIN).status_code == 409  # awaiting review


def test_a_wave_accepted_by_a_moderator_publishes_every_copy_and_accepts_the_next(tiny_registry, tmp_path):
    app = make_app(tiny_registry, tmp_path)
    client = app.test_client()
    put_articles(client, 7)
    wave_of(client, 6)
    [item] = queue(client)["items"]
    page = client.get("/review")  # the page's Accept decides the wave (no keys in the form: a Bearer admin key)
    assert page.status_code == 401
    assert client.post("/v1/feedback", headers=ADMIN, json={
        "text": CAMPAIGN, "label": "ham", "decision_id": item["decision_id"]}).json["reviewed"] == 4
    events = client.get("/v1/reviews?after=0", headers=CLIENT).json["reviews"]
    assert [e["outcome"] for e in events] == ["accept"] * 4
    store = app.extensions["store"]
    with store.engine.connect() as conn:  # the accepted copies joined their articles' threads, each once
        held = conn.execute(select(func.count()).select_from(thread_comments)
                            .where(thread_comments.c.comment_id.in_([f"c{n}" for n in range(2, 6)]))).scalar_one()
    assert held == 4
    later = post(client, CAMPAIGN, "a1", comment_id="late")
    assert later["decision"] == "accept" and codes(later) == ["wave_decided"]
    assert "accepted" in later["reasons"][0]["message"]
    assert store.count_queue() == 0


def test_a_decision_runs_out_after_the_repeat_window(tiny_registry, tmp_path):
    app = make_app(tiny_registry, tmp_path)
    client = app.test_client()
    spam_wave_decided(client, 4)
    store = app.extensions["store"]
    with store.engine.begin() as conn:  # a day later: the decision and the copies are out of the window
        conn.execute(update(waves).values(decided_until=now() - timedelta(seconds=1)))
        conn.execute(update(thread_comments).values(created_at=now() - timedelta(days=2)))
        conn.execute(update(decisions).values(created_at=now() - timedelta(days=2)))
    assert post(client, CAMPAIGN, "a1", comment_id="next-day")["decision"] == "accept"


def test_repeat_counts_stop_at_a_cap_and_say_so(tiny_registry, tmp_path):
    app = make_app(tiny_registry, tmp_path)
    client = app.test_client()
    answers = wave_of(client, REPEAT_COUNT_CAP + 3)
    messages = [a["reasons"][0]["message"] for a in answers[2:]]
    assert messages[0] == "The same text was posted 2 times before in the last 24 hours."
    assert messages[REPEAT_COUNT_CAP - 3] == "The same text was posted 9 times before in the last 24 hours."
    assert messages[-1] == f"The same text was posted {REPEAT_COUNT_CAP} or more times before in the last 24 hours."
    store = app.extensions["store"]
    since = now() - timedelta(hours=1)
    assert store.count_copies(fingerprint(CAMPAIGN), since) == REPEAT_COUNT_CAP + 3
    assert store.count_copies_upto(fingerprint(CAMPAIGN), since) == REPEAT_COUNT_CAP
    assert store.count_copies_upto(fingerprint(CAMPAIGN), since, "c0") == REPEAT_COUNT_CAP
    assert store.count_copies_upto(fingerprint(OTHER), since) == 0


def test_a_single_held_comment_decided_does_not_decide_its_later_copies(tiny_registry, tmp_path):
    """A decision on one held comment (not a wave: held once, not as a repeat) is about that comment: an
    off-topic verdict under one article says nothing of the same words under another."""
    app = make_app(tiny_registry, tmp_path, decision="flag")
    client = app.test_client()
    first = post(client, OTHER, "a1", comment_id="one")
    assert first["decision"] == "flag" and codes(first) == ["spam"]
    [item] = queue(client)["items"]
    assert client.post("/v1/feedback", headers=ADMIN, json={
        "text": OTHER, "label": "spam", "decision_id": item["decision_id"]}).json.get("decided_until") is None
    assert codes(post(client, OTHER, "a2", comment_id="two")) == ["spam"]  # held again, not rejected at once


def test_a_batch_gets_a_wave_decision_too(tiny_registry, tmp_path):
    app = make_app(tiny_registry, tmp_path)
    client = app.test_client()
    spam_wave_decided(client, 5)
    batch = client.post("/v1/moderate/batch", headers=CLIENT, json={"comments": [
        {"id": "b1", "text": CAMPAIGN, "article": {"id": "a1"}}, {"id": "b2", "text": OTHER, "article": {"id": "a1"}}]})
    assert [r["decision"] for r in batch.json["results"]] == ["reject", "accept"]
    assert codes(batch.json["results"][0])[0] == "wave_decided"


def test_wave_metrics(tiny_registry, tmp_path):
    app = make_app(tiny_registry, tmp_path)
    client = app.test_client()
    wave_of(client, 6)
    text = client.get("/metrics").get_data(as_text=True)
    assert "moderation_waves_open 1.0" in text
    assert 'moderation_wave_copies_total{outcome="held"}' in text


def test_waves_on_postgresql(tiny_registry, pg_url):
    app = make_app(tiny_registry, None, DATABASE_URL=pg_url)
    client = app.test_client()
    put_articles(client, 7)
    answers = wave_of(client, 8)
    assert [a["decision"] for a in answers] == ["accept"] * 2 + ["flag"] * 6
    found = queue(client)
    assert found["pending"] == 6 and found["pending_items"] == 1 and found["items"][0]["wave"]["count"] == 6
    decided = client.post("/v1/feedback", headers=ADMIN, json={
        "text": CAMPAIGN, "label": "spam", "decision_id": found["items"][0]["decision_id"]})
    assert decided.status_code == 201 and decided.json["reviewed"] == 6
    events = client.get("/v1/reviews?after=0", headers=CLIENT).json["reviews"]
    assert [e["comment_id"] for e in events] == [f"c{n}" for n in range(2, 8)]  # in the order they were held
    assert codes(post(client, CAMPAIGN, "a1", comment_id="late"))[0] == "wave_decided"
    assert app.extensions["store"].count_feedback() == 1


def test_the_review_page_decides_a_wave_and_ends_its_decision(tiny_registry, tmp_path):
    import re

    app = make_app(tiny_registry, tmp_path)
    client = app.test_client()
    wave_of(client, 6)
    page = client.get("/review", headers=ADMIN).get_data(as_text=True)
    assert "Wave: 4 copies" in page and "4 flagged comments awaiting review in 1 item" in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    item = re.search(r'data-id="(\d+)"', page).group(1)
    done = client.post(f"/review/{item}", headers=ADMIN, data={"csrf": csrf, "action": "reject"})
    assert done.status_code == 303
    page = client.get("/review", headers=ADMIN).get_data(as_text=True)
    assert f"Wave of comment {item}: 4 copies rejected (label spam)" in page  # held for repeat only: spam
    assert app.extensions["store"].count_feedback() == 1  # one training label for the wave
    assert "Decided waves" in page and "End decision" in page and "Nothing to review" in page
    later = post(client, CAMPAIGN, "a1", comment_id="late")
    assert codes(later)[0] == "wave_decided" and later["decision"] == "reject"
    wave_id = re.search(r'name="wave_id" value="(\d+)"', page).group(1)
    assert client.post("/review/end-wave", headers=ADMIN, data={"csrf": csrf, "wave_id": wave_id}).status_code == 303
    assert post(client, CAMPAIGN, "a2", comment_id="after")["decision"] == "flag"
    assert client.post("/review/end-wave", headers=ADMIN, data={"csrf": csrf, "wave_id": "x"}).status_code == 404
