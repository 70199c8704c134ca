"""GET /v1/reviews: the moderators' decisions for the CMS, once each, in commit order, whatever happens in between
(restarts, several workers reviewing at once, a transaction that took its id before another and commits after it),
and the review events' place in erasure, retention, access requests and the schema upgrade."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import event, func, select, update
from sqlalchemy import text as sql

from moderation.store import Store, decisions, now, review_events
from service import create_app
from training.__main__ import cli

PROJECT = Path(__file__).resolve().parent.parent
ARTICLE = {"id": "mosul", "title": "ISIL fighters flee Mosul as Iraqi forces approach",
           "body": "Iraqi forces closed in on Mosul as ISIL fighters fled the city."}
CMS, ADMIN = ({"Authorization": f"Bearer {key}"} for key in ("cms", "admin"))
FLAGGED = dict(decision="flag", spam=0.6, off_topic=None, reasons=[{"code": "spam", "message": "Spam 0.60"}],
               model_version="v1", article_id="mosul")


@pytest.fixture()
def flagging(tiny_registry, tmp_path):
    """Every non-empty comment flagged; keys configured (cms: client, admin: moderators)."""
    return create_app({
        "TESTING": True, "MODELS_DIR": str(tiny_registry.root), "SPAM_FLAG": 0.0, "SPAM_REJECT": 1.0,
        "OFF_TOPIC_FLAG": 1.0, "SHORT_OFF_TOPIC_FLAG": 1.0, "API_KEYS": "cms", "ADMIN_KEYS": "admin",
        "SECRET_KEY": "test", "DATABASE_URL": f"sqlite:///{tmp_path / 'moderation.db'}",
    })


def _csrf(page: str) -> str:
    marker = 'name="csrf" value="'
    start = page.index(marker) + len(marker)
    return page[start:page.index('"', start)]


def _metric(client, name: str) -> float:
    lines = [line for line in client.get("/metrics").get_data(as_text=True).splitlines() if line.startswith(name)]
    return float(lines[0].split()[-1]) if lines else 0.0


def read_all(client, after: int = 0, limit: int = 100) -> tuple[list[dict], int]:
    """Every event after `after`, page by page, as a CMS reads them: (events, last cursor)."""
    events = []
    while True:
        page = client.get(f"/v1/reviews?after={after}&limit={limit}", headers=CMS)
        assert page.status_code == 200, page.json
        events += page.json["reviews"]
        assert page.json["next"] == (page.json["reviews"][-1]["cursor"] if page.json["reviews"] else after)
        after = page.json["next"]
        if not page.json["has_more"]:
            return events, after


def test_the_cms_reads_each_moderator_decision_once_in_the_order_made(flagging, tiny_registry, tmp_path):
    client = flagging.test_client()
    assert client.get("/v1/reviews").status_code == 401  # a client key is needed, like /v1/moderate
    assert client.get("/v1/reviews", headers=CMS).json == {"reviews": [], "next": 0, "has_more": False}
    verdicts = {}
    for cid in ("c1", "c2", "c3"):
        answer = client.post("/v1/moderate", headers=CMS, json={"text": f"Win cash now {cid}", "article": ARTICLE,
                                                                "comment_id": cid})
        assert answer.json["decision"] == "flag"
        verdicts[cid] = answer.json
    assert client.get("/v1/reviews", headers=CMS).json["reviews"] == []  # held is not decided
    queue = {item["comment_id"]: item["id"] for item in flagging.extensions["store"].review_queue()}
    accepted_before = _metric(client, 'moderation_reviews_total{outcome="accept"}')
    rejected_before = _metric(client, 'moderation_reviews_total{outcome="reject"}')

    # A moderator accepts c2 on the review page, then another rejects c1 through the API.
    login = client.get("/review")
    client.post("/review/login", data={"key": "admin", "moderator": "ana", "csrf": _csrf(login.get_data(True))})
    page = client.get("/review").get_data(as_text=True)
    assert client.post(f"/review/{queue['c2']}", data={"action": "accept", "csrf": _csrf(page)}).status_code == 303
    labelled = client.post("/v1/feedback", headers=ADMIN, json={"text": "Win cash now c1", "label": "spam",
                                                               "decision_id": queue["c1"], "comment_id": "c1"})
    assert labelled.status_code == 201
    # A second click on the same item records nothing, so no second outcome.
    client.post(f"/review/{queue['c2']}", data={"action": "reject", "csrf": _csrf(page)})
    assert client.post("/v1/feedback", headers=ADMIN, json={"text": "x", "label": "ham",
                                                           "decision_id": queue["c1"]}).status_code == 409

    first = client.get("/v1/reviews?after=0", headers=CMS).json
    events = first["reviews"]
    assert [(e["comment_id"], e["outcome"], e["label"]) for e in events] == [("c2", "accept", "ham"),
                                                                             ("c1", "reject", "spam")]
    assert events[0]["cursor"] < events[1]["cursor"] and first["next"] == events[1]["cursor"]
    assert not first["has_more"]
    for e in events:
        assert e["article_id"] == "mosul" and e["decision_id"] == queue[e["comment_id"]]
        assert e["model_version"] == verdicts[e["comment_id"]]["model_version"]
        assert now() - timedelta(minutes=5) < datetime_of(e["reviewed_at"]) <= now()
    # Reading changes nothing: the same page again, and nothing after the last cursor.
    assert client.get("/v1/reviews?after=0", headers=CMS).json == first
    assert client.get(f"/v1/reviews?after={first['next']}", headers=CMS).json == {
        "reviews": [], "next": first["next"], "has_more": False}
    one = client.get("/v1/reviews?limit=1", headers=CMS).json
    assert one["reviews"] == events[:1] and one["has_more"] and one["next"] == events[0]["cursor"]
    assert client.get(f"/v1/reviews?after={one['next']}&limit=1", headers=CMS).json["reviews"] == events[1:]
    assert _metric(client, 'moderation_reviews_total{outcome="accept"}') == accepted_before + 1
    assert _metric(client, 'moderation_reviews_total{outcome="reject"}') == rejected_before + 1

    # A restarted service (a new app on the same store) answers the same, and the next decision follows.
    restarted = create_app({**flagging.config, "TESTING": True})
    again = restarted.test_client()
    assert read_all(again) == (events, events[1]["cursor"])
    assert restarted.extensions["store"].review_decision(queue["c3"], "off_topic", "bo") is not None
    later, _ = read_all(again, after=first["next"])
    assert [(e["comment_id"], e["outcome"], e["label"]) for e in later] == [("c3", "reject", "off_topic")]
    # What a reader's access request shows includes the outcome.
    assert [r["outcome"] for r in client.get("/v1/comments/c2", headers=CMS).json["reviews"]] == ["accept"]


def datetime_of(stamp: str):
    from datetime import datetime

    value = datetime.fromisoformat(stamp)
    assert value.utcoffset() is not None and value.utcoffset().total_seconds() == 0, stamp  # UTC, said so
    return value


def test_bad_cursors_are_a_json_422(flagging):
    client = flagging.test_client()
    for query in ("after=-1", "after=abc", "after=1.5", "after=%EF%BC%91", f"after={2**63}", "limit=0",
                  "limit=1001", "limit=x", "after=", "limit=", "after=1&after=2", "cursor=5",
                  "after=1&since=2"):
        answer = client.get(f"/v1/reviews?{query}", headers=CMS)
        assert answer.status_code == 422 and answer.json["error"]["code"] == "invalid_request", (query, answer.json)
    assert client.get(f"/v1/reviews?after={2**63 - 1}&limit=1000", headers=CMS).json["reviews"] == []


def test_a_rejection_for_policy_only_is_an_outcome_without_a_training_label(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.record_moderation([], [{**FLAGGED, "text": "a very long comment", "comment_id": "long",
                                  "reasons": [{"code": "too_long", "message": "Too long"}]}])
    decision_id = store.review_queue()[0]["id"]
    assert store.mark_reviewed(decision_id, "policy") and not store.mark_reviewed(decision_id, "policy")
    assert [(e["comment_id"], e["outcome"], e["label"]) for e in store.review_events()] == [
        ("long", "reject", "policy")]
    assert store.list_feedback() == []


def _hold_after_event_insert(store: Store, inserted: threading.Event, release: threading.Event) -> None:
    """Make `store`'s transactions stop right after they insert a review event, before their commit."""
    @event.listens_for(store.engine, "after_cursor_execute")
    def hold(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO REVIEW_EVENTS"):
            inserted.set()
            assert release.wait(30)


def check_an_id_taken_first_and_committed_later_is_never_skipped(url: str) -> None:
    """Worker A has inserted its event (its id is taken) and not committed; worker B reviews another comment.
    B must not make an event visible before A's: a CMS reading between the two commits would move its cursor past
    A's id and never see it. So B waits for A (SQLite: one writer at a time; PostgreSQL: the table lock), a reader
    sees neither meanwhile, and then both, A's first."""
    setup, reader = Store(url), Store(url)
    setup.record_moderation([], [{**FLAGGED, "text": f"held {n}", "comment_id": f"c{n}"} for n in (1, 2)])
    first, second = sorted(item["id"] for item in setup.review_queue())
    worker_a, worker_b = Store(url), Store(url)
    inserted, release = threading.Event(), threading.Event()
    _hold_after_event_insert(worker_a, inserted, release)
    done = {}
    a = threading.Thread(target=lambda: done.setdefault("a", worker_a.review_decision(first, "ham", "ana")))
    b = threading.Thread(target=lambda: done.setdefault("b", worker_b.review_decision(second, "spam", "bo")))
    a.start()
    assert inserted.wait(30)
    b.start()
    time.sleep(0.5)
    try:
        assert "b" not in done  # B waits for A's commit
        assert reader.review_events() == []  # A's event is not visible before its commit
    finally:
        release.set()
        a.join(30)
        b.join(30)
    assert done["a"] and done["b"]
    seen = reader.review_events()
    assert [(e["decision_id"], e["label"]) for e in seen] == [(first, "ham"), (second, "spam")]
    assert seen[0]["id"] < seen[1]["id"]
    for store in (setup, reader, worker_a, worker_b):
        store.dispose()


def test_on_sqlite_an_event_id_taken_first_is_committed_first(tmp_path):
    check_an_id_taken_first_and_committed_later_is_never_skipped(f"sqlite:///{tmp_path / 'db.sqlite'}")


REVIEWER = """
import random, sys
from moderation.store import Store
store = Store(sys.argv[1])
ids = [int(i) for i in sys.argv[3].split(",")]
random.Random(int(sys.argv[2])).shuffle(ids)
for decision_id in ids:
    store.review_decision(decision_id, random.choice(["ham", "spam", "off_topic"]), f"worker {sys.argv[2]}")
"""


def test_a_polling_cms_misses_nothing_while_several_workers_review_at_once(tmp_path):
    """Three processes race to review the same 60 held comments (each one reviewed once, by whichever gets it
    first) while a CMS polls with its cursor, a few events at a time: it reads every outcome exactly once, in
    cursor order, and the same as the whole feed read afterwards."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = Store(url)
    store.record_moderation([], [{**FLAGGED, "text": f"held {n}", "comment_id": f"c{n}"} for n in range(60)])
    ids = ",".join(str(item["id"]) for item in store.review_queue(limit=100))
    workers = [subprocess.Popen([sys.executable, "-c", REVIEWER, url, str(seed), ids], cwd=PROJECT,
                                stderr=subprocess.PIPE, text=True) for seed in range(3)]
    polled, cursor, polls = [], 0, 0
    while True:
        running = any(w.poll() is None for w in workers)
        page = store.review_events(cursor, limit=4)
        polls += 1
        polled += page
        cursor = page[-1]["id"] if page else cursor
        if not running and not page:
            break
        time.sleep(random.uniform(0, 0.01))
    for w in workers:
        assert w.returncode == 0, w.stderr.read()
    whole = store.review_events(0, limit=1000)
    assert polled == whole and polls > 5
    assert sorted(e["decision_id"] for e in whole) == sorted(int(i) for i in ids.split(","))  # once each
    assert store.count_queue() == 0


KILLED = """
import os, signal, sys
from moderation.store import Store
store = Store(sys.argv[1])
print(store.review_decision(int(sys.argv[2]), "ham", "ana"), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_an_acknowledged_review_and_its_event_survive_the_process_being_killed(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = Store(url)  # NORMAL for the moderation path; a review is committed FULL all the same
    store.record_moderation([], [{**FLAGGED, "text": "held", "comment_id": "k1"}])
    decision_id = store.review_queue()[0]["id"]
    done = subprocess.run([sys.executable, "-c", KILLED, url, str(decision_id)], cwd=PROJECT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == -9, done.stderr
    assert int(done.stdout.split()[0]) > 0  # the label's id: the review was acknowledged
    assert [(e["comment_id"], e["outcome"]) for e in Store(url).review_events()] == [("k1", "accept")]


def test_erasure_and_retention_cover_review_events_and_cursors_never_go_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = Store(url)
    store.put_article("mosul", ARTICLE["title"], ARTICLE["body"])
    store.record_moderation([], [{**FLAGGED, "text": f"held {cid}", "comment_id": cid,
                                  "article_id": "other" if cid == "o1" else "mosul"}
                                 for cid in ("c1", "c2", "c3", "o1", "c4")])
    queue = {item["comment_id"]: item["id"] for item in store.review_queue()}
    for cid in ("c1", "c2", "c3", "o1"):
        store.review_decision(queue[cid], "ham" if cid == "c1" else "spam")
    cursors = {e["comment_id"]: e["id"] for e in store.review_events()}

    # The newest event is erased with its comment; the next one must still come after every cursor handed out
    # (without AUTOINCREMENT, SQLite would reuse the erased id and a CMS at that cursor would skip the new event).
    erased = store.erase_comment("o1")
    assert erased == {"thread_comments": 0, "flagged": 1, "labels": 1, "reviews": 1}
    assert store.comment_records("o1")["reviews"] == []
    store.review_decision(queue["c4"], "ham")
    assert store.review_events(cursors["o1"])[0]["comment_id"] == "c4"

    # Retention: events of reviews older than the window go with the reviewed comments, the rest stay.
    with store.engine.begin() as conn:
        for table in (review_events, decisions):
            column = table.c.reviewed_at
            conn.execute(update(table).where(table.c.comment_id == "c1").values(**{column.key: now() -
                                                                                       timedelta(days=90)}))
    run = lambda *args: CliRunner().invoke(cli, ["prune", "--database", url, *args], catch_exceptions=False)
    assert '"review_events": 1' in run("--older-than", "30", "--dry-run").output
    assert [e["comment_id"] for e in store.review_events()] == ["c1", "c2", "c3", "c4"]
    assert '"deleted": {"thread_comments": 0, "reviewed_flagged": 1, "review_events": 1, "waves": 0}' in \
        run("--older-than", "30").output
    assert [e["comment_id"] for e in store.review_events()] == ["c2", "c3", "c4"]

    # Deleting an article deletes its comments' events (nothing is left on the site to publish or delete).
    # (c1 and c4, accepted by a moderator, had joined its thread)
    assert store.delete_article("mosul") == {"article": 1, "thread_comments": 2, "reviews": 3}
    assert store.review_events() == []


def _main_schema_store(url: str) -> Store:
    """A store as the current main makes it: every table but review_events (this branch adds only that table)."""
    store = Store(url)
    with store.engine.begin() as conn:
        conn.execute(sql("DROP TABLE review_events"))
        conn.execute(sql("DELETE FROM sqlite_sequence WHERE name = 'review_events'"))
    return store


def test_a_store_made_before_review_events_gets_the_table_and_its_past_reviews(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = _main_schema_store(url)
    old.record_moderation([], [{**FLAGGED, "text": f"held {cid}", "comment_id": cid} for cid in ("a", "b", "c")])
    queue = {item["comment_id"]: item["id"] for item in old.review_queue()}
    with old.engine.begin() as conn:  # reviewed by the old version: labels on the decisions, no events
        for cid, label, hours in (("b", "ham", 2), ("a", "spam", 1)):
            conn.execute(update(decisions).where(decisions.c.id == queue[cid])
                         .values(reviewed_at=now() - timedelta(hours=hours), review_label=label))
    old.dispose()

    store = Store(url)  # the upgrade: the table, and one event per past review, in review order
    assert [(e["comment_id"], e["outcome"], e["label"]) for e in store.review_events()] == [
        ("b", "accept", "ham"), ("a", "reject", "spam")]
    store.review_decision(queue["c"], "spam")
    Store(url)  # opening it again adds nothing
    assert [e["comment_id"] for e in store.review_events()] == ["b", "a", "c"]
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(review_events)).scalar_one() == 3


def test_a_comment_a_moderator_accepts_joins_its_articles_discussion(flagging):
    """Accepted on the review page, the CMS publishes it: it counts in the thread (and in every worker's cached
    context) as a comment the model had accepted; a rejected one does not."""
    from service.articles import contexts

    client = flagging.test_client()
    for cid in ("c1", "c2"):
        held = client.post("/v1/moderate", headers=CMS, json={
            "text": f"Mosul will be free soon, the Iraqi army is winning {cid}", "article": ARTICLE, "comment_id": cid})
        assert held.json["decision"] == "flag"
    assert client.get("/v1/articles/mosul", headers=CMS).json["thread_comments"] == 0
    cached = contexts(flagging).cache.get("mosul")[4]
    assert cached.thread_comments == 0
    queue = {item["comment_id"]: item["id"] for item in flagging.extensions["store"].review_queue()}
    store = flagging.extensions["store"]
    assert store.review_decision(queue["c1"], "ham", "ana") is not None
    assert store.review_decision(queue["c2"], "spam", "ana") is not None
    assert store.thread("mosul") == ["Mosul will be free soon, the Iraqi army is winning c1"]
    assert client.get("/v1/comments/c1", headers=CMS).json["thread_comments"][0]["article_id"] == "mosul"
    client.post("/v1/moderate", headers=CMS, json={"text": "Pray for Mosul", "article": {"id": "mosul"}})
    assert contexts(flagging).cache.get("mosul")[4].thread_comments == 1  # the worker added it to its cache
    assert client.delete("/v1/comments/c1", headers=CMS).json["erased"]["thread_comments"] == 1


def test_moderators_can_read_the_queue_as_json_and_decide_through_the_api(flagging):
    """GET /v1/review-queue (admin key): the items the review page shows, newest first, in pages, each with the
    decision_id that POST /v1/feedback takes; a decided item leaves the queue and its outcome reaches the CMS."""
    client = flagging.test_client()
    for n in range(5):
        client.post("/v1/moderate", headers=CMS, json={"text": f"Win cash now number {n}", "article": ARTICLE,
                                                      "comment_id": f"q{n}", "explain": False})
    assert client.get("/v1/review-queue", headers=CMS).status_code == 401  # a client key is not enough
    first = client.get("/v1/review-queue?limit=2", headers=ADMIN).json
    assert [i["comment_id"] for i in first["items"]] == ["q4", "q3"] and first["pending"] == 5
    item = first["items"][0]
    assert item["text"] == "Win cash now number 4" and item["article_id"] == "mosul" and item["decision"] == "flag"
    assert item["reasons"][0]["code"] == "spam" and item["explanation"]["pushed_up"] is not None
    assert item["scores"]["spam"] is not None and datetime_of(item["created_at"])
    second = client.get(f"/v1/review-queue?limit=2&before={first['next_before']}", headers=ADMIN).json
    last = client.get(f"/v1/review-queue?limit=2&before={second['next_before']}", headers=ADMIN).json
    assert [i["comment_id"] for i in second["items"] + last["items"]] == ["q2", "q1", "q0"]
    assert last["next_before"] is None
    decided = client.post("/v1/feedback", headers=ADMIN, json={"text": item["text"], "label": "spam",
                                                              "decision_id": item["decision_id"]})
    assert decided.status_code == 201
    after = client.get("/v1/review-queue", headers=ADMIN).json
    assert [i["comment_id"] for i in after["items"]] == ["q3", "q2", "q1", "q0"] and after["pending"] == 4
    assert [(e["comment_id"], e["outcome"]) for e in read_all(client)[0]] == [("q4", "reject")]
    for bad in ("limit=0", "limit=1001", "before=0", "before=x", "cursor=3", "limit=1&limit=2"):
        answer = client.get(f"/v1/review-queue?{bad}", headers=ADMIN)
        assert answer.status_code == 422 and answer.json["error"]["code"] == "invalid_request", bad


def test_the_session_cookie_holds_no_plain_hash_of_the_admin_key(flagging):
    """The session cookie is signed, not encrypted: anyone who reads it reads what it holds. It held the admin
    key's plain SHA-256 (attackable offline); now an HMAC under the app's secret key, which still signs in."""
    import hashlib

    client = flagging.test_client()
    login = client.get("/review")
    client.post("/review/login", data={"key": "admin", "moderator": "ana", "csrf": _csrf(login.get_data(True))})
    assert "Sign in" not in client.get("/review").get_data(as_text=True)
    cookie = client.get_cookie("session").value
    held = flagging.session_interface.get_signing_serializer(flagging).loads(cookie)
    assert held["admin_key"] != hashlib.sha256(b"admin").hexdigest()
    assert hashlib.sha256(b"admin").hexdigest() not in str(held)
    assert client.get("/review").status_code == 200
