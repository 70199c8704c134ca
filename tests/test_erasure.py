"""Erasure and retention: DELETE /v1/comments/<id>, DELETE /v1/articles/<id>, `python -m training prune`, and the
schema upgrade that gives an older store the comment ids they need."""

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, insert, inspect, select, update
from sqlalchemy import text as sql

from moderation.moderator import Article
from moderation.store import Store, decisions, now, thread_comments, waves
from service import create_app
from service.articles import contexts
from training.__main__ import cli

ARTICLE = {"id": "mosul", "title": "ISIL fighters flee Mosul as Iraqi forces approach",
           "body": "Iraqi forces closed in on Mosul as ISIL fighters fled the city."}


def make_app(tiny_registry, tmp_path, decision: str, **config):
    """decision "accept": every comment accepted (joins the thread); "flag": every comment flagged."""
    spam = {"accept": (1.0, 1.0), "flag": (0.0, 1.0)}[decision]
    return create_app({
        "TESTING": True, "MODELS_DIR": str(tiny_registry.root), "SPAM_FLAG": spam[0], "SPAM_REJECT": spam[1],
        "OFF_TOPIC_FLAG": 1.0, "SHORT_OFF_TOPIC_FLAG": 1.0, **({"SHORT_OFF_TOPIC_ACTION": "accept"}
                                                              if decision == "accept" else {}),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'moderation.db'}", **config,
    })


@pytest.fixture()
def accepting(tiny_registry, tmp_path):
    return make_app(tiny_registry, tmp_path, "accept")


def thread_ids(app, article_id="mosul"):
    with app.extensions["store"].engine.connect() as conn:
        query = select(thread_comments.c.comment_id).where(thread_comments.c.article_id == article_id)
        return [r[0] for r in conn.execute(query.order_by(thread_comments.c.id))]


def test_an_accepted_comment_is_stored_with_its_id_and_erased_everywhere(accepting):
    client = accepting.test_client()
    for n, text in enumerate(["Mosul will be free soon", "Good news for the people of Iraq"]):
        answer = client.post("/v1/moderate", json={"text": text, "article": ARTICLE, "comment_id": f"c{n}"})
        assert answer.status_code == 200 and answer.json["decision"] == "accept", answer.json
    batch = client.post("/v1/moderate/batch", json={"comments": [
        {"id": 7, "text": "ISIL is finished", "article": {"id": "mosul"}},
        {"text": "Pray for Mosul", "article": {"id": "mosul"}},  # no id: kept, but cannot be erased by id
    ]})
    assert batch.status_code == 200, batch.json
    assert thread_ids(accepting) == ["c0", "c1", "7", None]
    assert client.get("/v1/articles/mosul").json["thread_comments"] == 4

    stored = client.get("/v1/comments/c1").json["thread_comments"]
    assert [(r["article_id"], r["text"]) for r in stored] == [("mosul", "Good news for the people of Iraq")]
    erased = client.delete("/v1/comments/c1")
    assert erased.status_code == 200
    assert erased.json == {"comment_id": "c1", "erased": {"thread_comments": 1, "flagged": 0, "labels": 0, "reviews": 0}}
    assert thread_ids(accepting) == ["c0", "7", None]
    assert client.get("/v1/articles/mosul").json["thread_comments"] == 3
    # Idempotent: erasing again (a retried call) finds nothing and says so.
    again = client.delete("/v1/comments/c1")
    assert again.status_code == 200 and again.json["erased"] == {"thread_comments": 0, "flagged": 0, "labels": 0, "reviews": 0}


def test_an_erased_comment_leaves_the_cached_context_of_every_worker(tiny_registry, tmp_path):
    """Two apps on one store stand for two gunicorn workers: the one that did not erase the comment must not keep
    its words in its cached thread counts."""
    worker, other = (make_app(tiny_registry, tmp_path, "accept") for _ in range(2))
    unusual = "Zanzibar marmalade quokka"
    for app, (cid, text) in zip((worker, worker), (("c1", unusual), ("c2", "Mosul will be free soon"))):
        assert app.test_client().post("/v1/moderate", json={"text": text, "article": ARTICLE,
                                                            "comment_id": cid}).status_code == 200
    article = Article("mosul", "", "")
    before = contexts(other).context(other.extensions["store"], article)  # the other worker caches the thread
    assert before.thread_comments == 2
    assert worker.test_client().delete("/v1/comments/c1").json["erased"]["thread_comments"] == 1
    after = contexts(other).context(other.extensions["store"], article)
    assert after.thread_comments == 1
    rebuilt = type(after).build(ARTICLE["title"], ARTICLE["body"], ["Mosul will be free soon"])
    assert (after.thread != rebuilt.thread).nnz == 0


def test_a_flagged_comment_and_its_label_are_erased(tiny_registry, tmp_path):
    app = make_app(tiny_registry, tmp_path, "flag", ADMIN_KEYS="admin", API_KEYS="cms")
    client = app.test_client()
    cms, admin = ({"Authorization": f"Bearer {key}"} for key in ("cms", "admin"))
    answer = client.post("/v1/moderate", headers=cms,
                         json={"text": "Win cash now", "article": ARTICLE, "comment_id": 991})
    assert answer.json["decision"] == "flag"
    store = app.extensions["store"]
    queued = store.review_queue()
    assert [item["comment_id"] for item in queued] == ["991"]
    labelled = client.post("/v1/feedback", headers=admin,
                           json={"text": "Win cash now", "label": "spam", "decision_id": queued[0]["id"],
                                 "comment_id": 991})
    assert labelled.status_code == 201, labelled.json
    assert client.delete("/v1/comments/991").status_code == 401  # a key is needed
    assert client.get("/v1/comments/991").status_code == 401
    held = client.get("/v1/comments/991", headers=cms).json  # what a reader's access request would be answered
    assert held["thread_comments"] == []
    flagged = [(f["text"], f["decision"], f["review_label"]) for f in held["flagged"]]
    assert flagged == [("Win cash now", "flag", "spam")]
    assert [(item["text"], item["label"]) for item in held["labels"]] == [("Win cash now", "spam")]
    erased = client.delete("/v1/comments/991", headers=cms)
    assert erased.json["erased"] == {"thread_comments": 0, "flagged": 1, "labels": 1, "reviews": 1}
    assert store.review_queue() == [] and store.list_feedback() == []
    gone = client.get("/v1/comments/991", headers=cms)
    assert gone.status_code == 404 and gone.json["error"]["code"] == "comment_not_found"


def test_a_wrong_comment_id_is_a_json_4xx_and_changes_nothing(accepting):
    client = accepting.test_client()
    for bad in ([1], {"a": 1}, True, "", "x" * 256, 2**70):
        answer = client.post("/v1/moderate", json={"text": "Mosul will be free soon", "article": ARTICLE,
                                                   "comment_id": bad})
        assert answer.status_code == 422 and answer.json["error"]["code"] == "invalid_request", (bad, answer.json)
    assert thread_ids(accepting) == []
    long_id = client.delete("/v1/comments/" + "x" * 256)
    assert long_id.status_code == 422 and "error" in long_id.json


def test_deleting_an_article_drops_its_thread_and_keeps_the_review_log(tiny_registry, tmp_path):
    flagging = make_app(tiny_registry, tmp_path, "flag")
    flagging.test_client().post("/v1/moderate", json={"text": "Win cash now", "article": ARTICLE, "comment_id": "f"})
    accepting = make_app(tiny_registry, tmp_path, "accept")
    client = accepting.test_client()
    client.post("/v1/moderate", json={"text": "Mosul will be free soon", "article": {"id": "mosul"}})
    deleted = client.delete("/v1/articles/mosul")
    assert deleted.status_code == 200
    assert deleted.json == {"id": "mosul", "erased": {"article": 1, "thread_comments": 1, "reviews": 0}}
    assert client.get("/v1/articles/mosul").status_code == 404
    assert [item["comment_id"] for item in accepting.extensions["store"].review_queue()] == ["f"]
    # A comment sending only the deleted article's id is scored without an article now.
    answer = client.post("/v1/moderate", json={"text": "Mosul will be free soon", "article": {"id": "mosul"}})
    assert answer.json["scores"]["off_topic"] is None
    assert client.delete("/v1/articles/mosul").json["erased"] == {"article": 0, "thread_comments": 0, "reviews": 0}


def test_prune_deletes_old_thread_comments_and_old_reviews_only(tmp_path):
    url = f"sqlite:///{tmp_path / 'moderation.db'}"
    store = Store(url)
    store.put_article("a", "Budget vote", "The council votes on the budget.")
    flagged = dict(text="t", decision="flag", spam=0.6, off_topic=None, reasons=[], model_version="v1")
    store.record_moderation([("a", "old comment", "c-old"), ("a", "new comment", "c-new")],
                            [{**flagged, "text": "old reviewed"}, {**flagged, "text": "old queued"},
                             {**flagged, "text": "new reviewed"}])
    store.add_feedback("an old label", "spam")
    long_ago = now() - timedelta(days=100)
    with store.engine.begin() as conn:
        conn.execute(update(thread_comments).where(thread_comments.c.comment_id == "c-old").values(created_at=long_ago))
        conn.execute(update(decisions).where(decisions.c.text == "old reviewed").values(reviewed_at=long_ago))
        conn.execute(update(decisions).where(decisions.c.text == "new reviewed").values(reviewed_at=now()))
        conn.execute(update(decisions).values(created_at=long_ago))
    run = lambda *args: CliRunner().invoke(cli, ["prune", "--database", url, *args], catch_exceptions=False)

    dry = run("--older-than", "30", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert '"deleted": {"thread_comments": 1, "reviewed_flagged": 1, "review_events": 0, "waves": 0}' in dry.output
    assert store.thread("a") == ["old comment", "new comment"]

    done = run("--older-than", "30")
    assert '"deleted": {"thread_comments": 1, "reviewed_flagged": 1, "review_events": 0, "waves": 0}' in done.output
    assert store.thread("a") == ["new comment"]
    with store.engine.connect() as conn:
        left = sorted(r[0] for r in conn.execute(select(decisions.c.text)))
    assert left == ["new reviewed", "old queued"]  # the queue is never pruned, however old
    assert [row["text"] for row in store.list_feedback()] == ["an old label"]  # nor are labels
    assert run("--older-than", "0").exit_code == 2  # a usage error, nothing deleted
    assert store.thread("a") == ["new comment"]


def test_prune_deletes_the_waves_whose_decision_ran_out_with_their_last_copy(tmp_path):
    """A decided wave is kept while its decision is in force or any copy of it stays (the queue, a recent review);
    once its decision ran out before the cut-off and its copies are pruned, its row goes too."""
    store = Store(f"sqlite:///{tmp_path / 'moderation.db'}")
    long_ago = now() - timedelta(days=100)
    flagged = dict(decision="flag", spam=0.9, off_topic=None, reasons=[], model_version="v1")
    with store.engine.begin() as conn:
        def wave(name, label, decided_until):
            return conn.execute(insert(waves).values(
                fingerprint=name, opened_at=long_ago, label=label, decided_at=long_ago if label else None,
                decided_until=decided_until)).inserted_primary_key[0]

        ran_out = wave("ran-out", "spam", long_ago + timedelta(days=1))
        queued = wave("copy-queued", "spam", long_ago + timedelta(days=1))
        in_force = wave("in-force", "spam", now() + timedelta(days=1))
        still_open = wave("open", None, None)
        for wave_id, reviewed in ((ran_out, long_ago), (queued, long_ago), (queued, None), (in_force, long_ago),
                                  (still_open, None)):
            conn.execute(insert(decisions).values(text="buy now", created_at=long_ago, reviewed_at=reviewed,
                                                  wave_id=wave_id, reasons=[], **{k: v for k, v in flagged.items()
                                                                                   if k != "reasons"}))
    before = now() - timedelta(days=30)
    assert store.prune(before, dry_run=True)["waves"] == 1
    assert store.prune(before) == {"thread_comments": 0, "reviewed_flagged": 3, "review_events": 0, "waves": 1}
    with store.engine.connect() as conn:
        assert sorted(r[0] for r in conn.execute(select(waves.c.fingerprint))) == ["copy-queued", "in-force", "open"]


def test_a_store_made_by_an_older_version_is_upgraded_in_place(tmp_path):
    """Before comment ids, thread_comments had no comment_id column: opening such a store adds it, keeps the rows,
    and the service writes and erases by id."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(sql("CREATE TABLE thread_comments (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                         "article_id VARCHAR(255) NOT NULL, text TEXT NOT NULL, created_at DATETIME NOT NULL)"))
        conn.execute(sql("INSERT INTO thread_comments (article_id, text, created_at) "
                         "VALUES ('a', 'kept from before', '2026-01-01 00:00:00.000000')"))
    engine.dispose()
    store = Store(url)
    columns = {c["name"] for c in inspect(store.engine).get_columns("thread_comments")}
    assert "comment_id" in columns
    assert "ix_thread_comments_comment" in {i["name"] for i in inspect(store.engine).get_indexes("thread_comments")}
    store.record_moderation([("a", "new one", "c9")], [])
    assert store.thread("a") == ["kept from before", "new one"]
    assert store.erase_comment("c9")["thread_comments"] == 1
    Store(url)  # opening it again changes nothing
    assert store.thread("a") == ["kept from before"]


def test_every_stamp_the_cms_reads_is_utc_with_its_offset(tiny_registry, tmp_path):
    """GET /v1/comments/<id> and GET /v1/articles/<id> give their times as review events and queue items do: ISO
    8601 in UTC with an explicit +00:00 (SQLite keeps no zone; a stamp without one is ambiguous to a client)."""
    from datetime import datetime

    app = make_app(tiny_registry, tmp_path, "flag")
    client, store = app.test_client(), app.extensions["store"]
    client.post("/v1/moderate", json={"text": "Win cash now", "article": ARTICLE, "comment_id": "z1"})
    store.review_decision(store.review_queue()[0]["id"], "ham", "ana")  # accepted: joins the thread, a label
    held = client.get("/v1/comments/z1").json
    stamps = [held["thread_comments"][0]["created_at"], held["flagged"][0]["created_at"],
              held["flagged"][0]["reviewed_at"], held["labels"][0]["created_at"], held["reviews"][0]["reviewed_at"],
              client.get("/v1/articles/mosul").json["updated_at"]]
    for stamp in stamps:
        parsed = datetime.fromisoformat(stamp)
        assert stamp.endswith("+00:00") and abs((parsed - now()).total_seconds()) < 60, stamp


def test_a_label_is_kept_under_the_same_comment_id_as_the_comment_and_erased_with_it(tiny_registry, tmp_path):
    """POST /v1/feedback stored its `comment_id` stripped of white space where /v1/moderate keeps it as sent: the
    erasure of " c9 " then missed the label (a reader's data left behind)."""
    app = make_app(tiny_registry, tmp_path, "accept")
    client = app.test_client()
    assert client.post("/v1/moderate", json={"text": "Mosul will be free", "article": ARTICLE,
                                             "comment_id": " c9 "}).status_code == 200
    assert client.post("/v1/feedback", json={"text": "Mosul will be free", "label": "ham",
                                             "comment_id": " c9 "}).status_code == 201
    assert client.post("/v1/feedback", json={"text": "x", "label": "ham", "comment_id": " "}).status_code == 201
    erased = client.delete("/v1/comments/%20c9%20").json["erased"]
    assert erased == {"thread_comments": 1, "flagged": 0, "labels": 1, "reviews": 0}
