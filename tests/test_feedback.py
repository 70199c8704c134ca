"""Moderator labels (POST /v1/feedback), the decisions log and the review page through the test client."""

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import text as sql

from moderation.moderator import Article
from moderation.store import Store
from service import create_app

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def flag_all(tiny_registry, tmp_path):
    """An app that flags every non-empty comment (spam_flag 0), so the decisions log fills predictably."""
    return create_app({
        "TESTING": True, "MODELS_DIR": str(tiny_registry.root), "SPAM_FLAG": 0.0, "SPAM_REJECT": 1.0,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'moderation.db'}", "SECRET_KEY": "test",
    })


def label(client, **body):
    return client.post("/v1/feedback", json=body)


def test_feedback_is_stored_and_answers_201_with_its_id(client, app):
    response = label(client, text="Win a free phone at www.example.ru", label="spam", comment_id=42,
                     moderator="ana", article={"id": "a1", "title": "Budget vote", "body": "The council..."})
    assert response.status_code == 201, response.json
    stored = app.extensions["store"].list_feedback()
    assert [r["id"] for r in stored] == [response.json["id"]]
    row = stored[0]
    assert (row["text"], row["label"], row["comment_id"], row["moderator"]) == (
        "Win a free phone at www.example.ru", "spam", "42", "ana")
    assert (row["article_id"], row["article_title"]) == ("a1", "Budget vote")


@pytest.mark.parametrize("body, status, code", [
    ({"text": "hello"}, 422, "invalid_label"),
    ({"text": "hello", "label": "SPAM"}, 422, "invalid_label"),
    ({"label": "ham"}, 422, "invalid_request"),
    ({"text": "   ", "label": "ham"}, 422, "invalid_request"),
    ({"text": 5, "label": "ham"}, 422, "invalid_request"),
    ({"text": "hi", "label": "ham", "article": "x"}, 422, "invalid_request"),
    ({"text": "hi", "label": "ham", "comment_id": {"a": 1}}, 422, "invalid_request"),
    ({"text": "hi", "label": "ham", "moderator": "x" * 300}, 422, "invalid_request"),
    ({"text": "hi", "label": "ham", "decision_id": "7"}, 422, "invalid_request"),
    ({"text": "hi", "label": "ham", "decision_id": 999}, 404, "decision_not_found"),
    ({"text": "hi", "label": "ham", "decision_id": 2**63}, 422, "invalid_request"),  # was a 500 (SQLite overflow)
    ({"text": "hi", "label": "ham", "decision_id": -(2**63) - 1}, 422, "invalid_request"),
    ({"text": "hi", "label": "ham", "decision_id": 2**63 - 1}, 404, "decision_not_found"),
])
def test_bad_feedback_gets_a_clear_error_and_stores_nothing(client, app, body, status, code):
    response = label(client, **body)
    assert response.status_code == status and response.json["error"]["code"] == code
    assert app.extensions["store"].list_feedback() == []


def test_feedback_needs_json(client):
    response = client.post("/v1/feedback", data="text=hi", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415 and "error" in response.json


def test_feedback_needs_an_admin_key_when_keys_are_configured(tiny_registry, tmp_path):
    app = create_app({"TESTING": True, "MODELS_DIR": str(tiny_registry.root), "API_KEYS": "client",
                      "ADMIN_KEYS": "boss", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"})
    client = app.test_client()
    body = {"text": "nice article", "label": "ham"}
    assert client.post("/v1/feedback", json=body).status_code == 401
    assert client.post("/v1/feedback", json=body, headers={"Authorization": "Bearer client"}).status_code == 401
    assert client.post("/v1/feedback", json=body, headers={"Authorization": "Bearer boss"}).status_code == 201
    assert len(app.extensions["store"].list_feedback()) == 1


def test_store_commits_with_wal(app):
    # How each kind of write is synced (labels FULL, the rest configurable): tests/test_serving_path.py.
    with app.extensions["store"].engine.connect() as conn:
        assert conn.execute(sql("PRAGMA journal_mode")).scalar() == "wal"



def test_a_request_s_writes_are_all_or_nothing(app):
    """Thread comments and flagged comments of one request commit together: when one write fails, none is kept."""
    store = app.extensions["store"]
    store.put_article("a1", "Council budget", "The council approved the budget.")
    flagged = dict(text="visit my site", decision="flag", spam=0.6, off_topic=None, reasons=[], model_version="v1",
                   article_id="a1", comment_id=None, explanation=None)
    with pytest.raises(Exception):
        store.record_moderation([("a1", "Library hours matter.")], [{**flagged, "text": None}])  # text is NOT NULL
    assert store.thread("a1") == [] and store.review_queue() == []
    store.record_moderation([("a1", "Library hours matter.")], [flagged])
    assert store.thread("a1") == ["Library hours matter."] and len(store.review_queue()) == 1


def test_a_store_failure_is_a_503_to_retry_with_nothing_recorded(flag_all):
    """The database is gone (dropped tables stand in for a locked, full or unreachable one): the CMS gets a JSON
    503 store_unavailable with Retry-After, never a flag that no moderator will ever see."""
    client = flag_all.test_client()
    store = flag_all.extensions["store"]
    with store.engine.begin() as conn:
        conn.execute(sql("DROP TABLE decisions"))
    response = client.post("/v1/moderate", json={"text": "I think the mayor is right"})
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert response.json["error"]["code"] == "store_unavailable"
    batch = client.post("/v1/moderate/batch", json={"comments": [{"text": "one"}, {"text": "two"}]})
    assert batch.status_code == 503 and batch.json["error"]["code"] == "store_unavailable"
    with store.engine.begin() as conn:
        conn.execute(sql("DROP TABLE articles"))
    read = client.post("/v1/moderate", json={"text": "hello", "article": {"id": "a1"}})
    assert read.status_code == 503 and read.json["error"]["code"] == "store_unavailable"

def test_an_acknowledged_label_survives_the_worker_being_killed(tiny_registry, tmp_path):
    """A process posts a label, gets 201 and is SIGKILLed at once: the label is in the database."""
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    script = f"""
import os, signal, sys
from service import create_app
app = create_app({{"TESTING": True, "MODELS_DIR": {str(tiny_registry.root)!r}, "DATABASE_URL": {url!r}}})
r = app.test_client().post("/v1/feedback", json={{"text": "Buy cheap pills online", "label": "spam"}})
print(r.status_code, r.json["id"], flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr
    status, feedback_id = done.stdout.split()
    assert status == "201"
    rows = Store(url).list_feedback()
    assert [(r["id"], r["label"]) for r in rows] == [(int(feedback_id), "spam")]


def test_flagged_comments_are_logged_and_others_are_not(flag_all, tiny_registry, tmp_path):
    client = flag_all.test_client()
    verdict = client.post("/v1/moderate", json={"text": "I think the mayor is right", "comment_id": "c-1",
                                                "article": {"id": 7, "title": "Mayor", "body": "..."}}).json
    assert verdict["decision"] == "flag"
    assert client.post("/v1/moderate", json={"text": " "}).json["decision"] == "reject"
    queue = flag_all.extensions["store"].review_queue()
    assert len(queue) == 1
    item = queue[0]
    assert (item["text"], item["article_id"], item["comment_id"]) == ("I think the mayor is right", "7", "c-1")
    assert item["spam"] == verdict["scores"]["spam"] and item["model_version"] == verdict["model_version"]
    assert item["reasons"] == verdict["reasons"] and item["created_at"] is not None


def test_an_explanation_is_stored_and_shown(flag_all):
    from service.review import flagged_row

    verdict = SimpleNamespace(decision="flag", spam=0.61, off_topic=None, model_version="v1",
                              reasons=[SimpleNamespace(to_dict=lambda: {"code": "spam", "message": "Spam 0.61"})])
    explanation = {"spam": 0.61, "method": "linear", "pushed_up": [{"feature": "<link>", "kind": "words", "weight": 1.5}],
                   "pushed_down": [{"feature": "length", "kind": "signal", "weight": -0.25}]}
    flag_all.extensions["store"].record_moderation(
        [], [flagged_row("visit my site", Article("a"), verdict, explanation=explanation)])
    item = flag_all.extensions["store"].review_queue()[0]
    assert item["explanation"] == explanation
    page = flag_all.test_client().get("/review").get_data(as_text=True)
    assert "<code>&lt;link&gt;</code> (+1.50)" in page and "<code>length</code> (-0.25)" in page
    assert "Spam 0.61" in page


def test_flagged_comments_keep_the_explanation_of_their_score(flag_all):
    client = flag_all.test_client()
    verdict = client.post("/v1/moderate", json={"text": "I think the mayor is right about the budget"}).json
    assert verdict["decision"] == "flag" and "explanation" not in verdict  # the CMS did not ask for it
    item = flag_all.extensions["store"].review_queue()[0]
    assert item["explanation"]["spam"] == verdict["scores"]["spam"]
    assert item["explanation"]["pushed_up"] or item["explanation"]["pushed_down"]


def _csrf(page: str) -> str:
    marker = 'name="csrf" value="'
    start = page.index(marker) + len(marker)
    return page[start:page.index('"', start)]


def test_review_page_lists_newest_first_and_buttons_record_labels(flag_all):
    client = flag_all.test_client()
    for text in ("first <b>comment</b>", "second comment", "third comment"):
        assert client.post("/v1/moderate", json={"text": text}).json["decision"] == "flag"
    page = client.get("/review").get_data(as_text=True)
    assert page.index("third comment") < page.index("second comment") < page.index("first &lt;b&gt;comment")
    assert "3 flagged comments awaiting review" in page
    ids = [r["id"] for r in flag_all.extensions["store"].review_queue()]
    token = _csrf(page)
    assert client.post(f"/review/{ids[0]}", data={"action": "accept"}).status_code == 400  # no CSRF token
    assert client.post(f"/review/{ids[0]}", data={"action": "accept", "csrf": "forged"}).status_code == 400
    response = client.post(f"/review/{ids[0]}", data={"action": "accept", "csrf": token})
    assert response.status_code == 303
    client.post(f"/review/{ids[1]}", data={"action": "reject", "csrf": token})
    again = client.post(f"/review/{ids[1]}", data={"action": "reject", "csrf": token}, follow_redirects=True)
    assert "reviewed already" in again.get_data(as_text=True)
    page = client.get("/review").get_data(as_text=True)
    assert "third comment" not in page and "second comment" not in page and "1 flagged comment awaiting" in page
    labels = [(r["text"], r["label"], r["decision_id"]) for r in flag_all.extensions["store"].list_feedback()]
    assert labels == [("third comment", "ham", ids[0]), ("second comment", "spam", ids[1])]



def test_rejecting_a_comment_held_for_length_only_stores_no_training_label(tiny_registry, tmp_path):
    """A comment held only because it is too long (too_long_action flag) says nothing about spam: rejecting it
    takes it off the queue but must not teach the next model that its text is spam."""
    app = create_app({"TESTING": True, "MODELS_DIR": str(tiny_registry.root), "SPAM_FLAG": 0.999,
                      "SPAM_REJECT": 1.0, "MAX_COMMENT_CHARS": 20, "TOO_LONG_ACTION": "flag",
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'moderation.db'}", "SECRET_KEY": "test"})
    client = app.test_client()
    verdict = client.post("/v1/moderate", json={"text": "A long but perfectly reasonable comment."}).json
    assert verdict["decision"] == "flag" and [r["code"] for r in verdict["reasons"]] == ["too_long"]
    store = app.extensions["store"]
    item = store.review_queue()[0]
    page = client.get("/review").get_data(as_text=True)
    assert "Reject (policy)" in page
    response = client.post(f"/review/{item['id']}", data={"action": "reject", "csrf": _csrf(page)},
                           follow_redirects=True)
    assert "rejected (label policy)" in response.get_data(as_text=True)
    assert store.review_queue() == [] and store.list_feedback() == []

def test_feedback_with_a_decision_id_takes_it_off_the_queue(flag_all):
    client = flag_all.test_client()
    client.post("/v1/moderate", json={"text": "some comment"})
    decision_id = flag_all.extensions["store"].review_queue()[0]["id"]
    body = {"text": "some comment", "label": "ham", "decision_id": decision_id}
    assert label(client, **body).status_code == 201
    assert flag_all.extensions["store"].review_queue() == []
    assert label(client, **body).json["error"]["code"] == "already_reviewed"


def test_review_page_needs_an_admin_key_when_keys_are_configured(tiny_registry, tmp_path):
    app = create_app({"TESTING": True, "MODELS_DIR": str(tiny_registry.root), "API_KEYS": "client",
                      "ADMIN_KEYS": "boss", "SECRET_KEY": "s", "DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}"})
    client = app.test_client()
    login = client.get("/review")
    assert login.status_code == 401 and "Admin key" in login.get_data(as_text=True)
    token = _csrf(login.get_data(as_text=True))
    assert client.post("/review/login", data={"key": "client", "csrf": token}).status_code == 401
    assert client.post("/review/login", data={"key": "boss"}).status_code == 400  # no CSRF token
    assert client.post("/review/1", data={"action": "accept", "csrf": token}).status_code == 401
    signed_in = client.post("/review/login", data={"key": "boss", "moderator": "ana", "csrf": token})
    assert signed_in.status_code == 303
    page = client.get("/review")
    assert page.status_code == 200 and "Nothing to review" in page.get_data(as_text=True)
    assert app.test_client().get("/review", headers={"Authorization": "Bearer boss"}).status_code == 200
    app.config["ADMIN_KEYS"] = "rotated"  # a revoked key ends its sessions
    assert client.get("/review").status_code == 401


def test_a_review_page_action_on_an_id_past_64_bits_is_a_404_not_a_500(flag_all):
    client = flag_all.test_client()
    client.post("/v1/moderate", json={"text": "held"})
    token = _csrf(client.get("/review").get_data(as_text=True))
    for decision_id in (2**63, 10**30):
        response = client.post(f"/review/{decision_id}", data={"action": "accept", "csrf": token})
        assert response.status_code == 404, response.status_code
