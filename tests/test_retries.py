"""A comment sent again under its CMS id (a retry after a timeout, an edit) is stored once: once in its article's
thread, one item in the review queue (the latest version), and an older store's duplicates are cleaned up when it
is upgraded."""

from sqlalchemy import create_engine, inspect, select
from sqlalchemy import text as sql

from moderation.store import Store, decisions, thread_comments
from service import create_app

ARTICLE = {"id": "mosul", "title": "ISIL fighters flee Mosul as Iraqi forces approach",
           "body": "Iraqi forces closed in on Mosul as ISIL fighters fled the city."}


def make_app(tiny_registry, tmp_path, decision: str):
    spam = {"accept": (1.0, 1.0), "flag": (0.0, 1.0)}[decision]
    return create_app({
        "TESTING": True, "MODELS_DIR": str(tiny_registry.root), "SPAM_FLAG": spam[0], "SPAM_REJECT": spam[1],
        "OFF_TOPIC_FLAG": 1.0, "SHORT_OFF_TOPIC_FLAG": 1.0, "DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}",
    })


def test_an_accepted_comment_sent_again_joins_the_thread_once(tiny_registry, tmp_path):
    app = make_app(tiny_registry, tmp_path, "accept")
    client = app.test_client()
    body = {"text": "Mosul will be free soon", "article": ARTICLE, "comment_id": "c1"}
    answers = [client.post("/v1/moderate", json=body).json for _ in range(3)]
    # the same decision; the retry is scored against a thread that holds its first copy (off_topic may be lower)
    assert [a["decision"] for a in answers] == ["accept"] * 3
    assert answers[1]["scores"]["spam"] == answers[0]["scores"]["spam"] and answers[1] == answers[2]
    batch = client.post("/v1/moderate/batch", json={"comments": [
        {"id": "c2", "text": "Pray for Mosul", "article": {"id": "mosul"}},
        {"id": "c2", "text": "Pray for Mosul", "article": {"id": "mosul"}},
        {"text": "ISIL is finished", "article": {"id": "mosul"}},  # no id: nothing to tell a retry by
        {"text": "ISIL is finished", "article": {"id": "mosul"}}]})
    assert batch.status_code == 200
    assert app.extensions["store"].thread("mosul") == ["Mosul will be free soon", "Pray for Mosul",
                                                       "ISIL is finished", "ISIL is finished"]
    assert client.get("/v1/articles/mosul").json["thread_comments"] == 4
    # the same id under another article is another comment of the CMS's (ids are per site, not per article)
    client.post("/v1/moderate", json={**body, "article": {**ARTICLE, "id": "other"}})
    assert app.extensions["store"].thread("other") == ["Mosul will be free soon"]


def test_a_held_comment_sent_again_is_one_queue_item_with_its_latest_text(tiny_registry, tmp_path):
    app = make_app(tiny_registry, tmp_path, "flag")
    client, store = app.test_client(), app.extensions["store"]
    for text in ("Win cash now", "Win cash now", "Win cash now, edited"):
        assert client.post("/v1/moderate", json={"text": text, "article": ARTICLE, "comment_id": "h1"}).json[
            "decision"] == "flag"
    client.post("/v1/moderate", json={"text": "Other", "article": ARTICLE, "comment_id": "h2"})
    queue = store.review_queue()
    assert sorted((q["comment_id"], q["text"]) for q in queue) == [("h1", "Win cash now, edited"), ("h2", "Other")]
    # reviewed, it leaves the queue; sent again after that (edited once more), it is a new item to review
    item = next(q for q in queue if q["comment_id"] == "h1")
    assert store.review_decision(item["id"], "spam", "ana") is not None
    client.post("/v1/moderate", json={"text": "Win cash now, edited again", "article": ARTICLE, "comment_id": "h1"})
    assert sorted((q["comment_id"], q["text"]) for q in store.review_queue()) == [
        ("h1", "Win cash now, edited again"), ("h2", "Other")]
    assert [r["review_label"] for r in client.get("/v1/comments/h1").json["flagged"]] == ["spam", None]


def test_an_older_stores_duplicates_are_cleaned_up_when_it_is_upgraded(tmp_path):
    """A store the fourth session's code wrote (no unique indexes): a retried accepted comment twice in the
    thread, a retried held comment twice in the queue. Opening it keeps the first thread row and the latest
    pending item (the other leaves the queue as `superseded`), then adds the unique indexes."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(sql("CREATE TABLE thread_comments (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                         "article_id VARCHAR(255) NOT NULL, text TEXT NOT NULL, created_at DATETIME NOT NULL, "
                         "comment_id VARCHAR(255))"))
        conn.execute(sql("CREATE TABLE decisions (id INTEGER PRIMARY KEY AUTOINCREMENT, comment_id VARCHAR(255), "
                         "text TEXT NOT NULL, article_id VARCHAR(255), decision VARCHAR(16) NOT NULL, spam FLOAT, "
                         "off_topic FLOAT, reasons JSON NOT NULL, explanation JSON, model_version VARCHAR(64) NOT NULL, "
                         "created_at DATETIME NOT NULL, reviewed_at DATETIME, review_label VARCHAR(16))"))
        for text, cid in [("first", "c1"), ("retry", "c1"), ("no id", None), ("no id", None), ("other", "c2")]:
            conn.execute(sql("INSERT INTO thread_comments (article_id, text, created_at, comment_id) "
                             "VALUES ('a', :t, '2026-11-01 00:00:00.000000', :c)"), {"t": text, "c": cid})
        for text, cid, reviewed in [("held", "h1", None), ("held again", "h1", None), ("done", "h2", "2026-11-02"),
                                    ("done again", "h2", "2026-11-03"), ("pending", "h2", None)]:
            conn.execute(sql("INSERT INTO decisions (comment_id, text, decision, reasons, model_version, created_at, "
                             "reviewed_at, review_label) VALUES (:c, :t, 'flag', '[]', 'v', '2026-11-01 00:00:00', "
                             ":r, CASE WHEN :r IS NULL THEN NULL ELSE 'spam' END)"),
                         {"t": text, "c": cid, "r": reviewed})
    engine.dispose()
    store = Store(url)
    assert store.thread("a") == ["first", "no id", "no id", "other"]
    with store.engine.connect() as conn:
        rows = conn.execute(select(decisions.c.text, decisions.c.review_label).order_by(decisions.c.id)).all()
    assert [tuple(r) for r in rows] == [("held", "superseded"), ("held again", None), ("done", "spam"),
                                        ("done again", "spam"), ("pending", None)]
    names = {i["name"] for table in ("thread_comments", "decisions") for i in inspect(store.engine).get_indexes(table)}
    assert {"ux_thread_comments_article_comment", "ux_decisions_pending_comment"} <= names
    store.record_moderation([("a", "retry", "c1")], [])
    assert store.thread("a") == ["first", "no id", "no id", "other"]
    with store.engine.connect() as conn:
        assert conn.execute(select(thread_comments.c.id)).all()  # the table is usable
    Store(url)  # opening it again changes nothing
    assert store.thread("a") == ["first", "no id", "no id", "other"]
