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
        **({"SHORT_OFF_TOPIC_ACTION": "accept"} if decision == "accept" else {}),  # the short-comment rule too
    })


def test_an_accepted_comment_sent_again_joins_the_thread_once(tiny_registry, tmp_path):
    app = make_app(tiny_registry, tmp_path, "accept")
    client = app.test_client()
    body = {"text": "Mosul will be free soon", "article": ARTICLE, "comment_id": "c1"}
    answers = [client.post("/v1/moderate", json=body).json for _ in range(3)]
    # the same answer: a retry is scored without its own first copy in the thread (the test below)
    assert answers[0]["decision"] == "accept" and answers[0] == answers[1] == answers[2]
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
    """A store written before retries were stored once (no unique indexes): a retried accepted comment twice in the
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


THREAD = ["Iraqi forces will take Mosul back from ISIL", "The fighters fled before the army came",
          "Mosul has suffered enough under ISIL"]


def check_a_retry_is_scored_without_its_own_first_copy(make, url_a, url_b):
    """A comment sent again under its id (a retry, or an edit) is scored against its article's thread without the
    copy of itself the first answer put there: the same scores as the first answer (a retry), as the edited text
    scored fresh (an edit), single and in a batch. `make(url)` makes an app accepting everything on a store."""
    app = make(url_a)
    client = app.test_client()
    for i, text in enumerate(THREAD):
        client.post("/v1/moderate", json={"text": text, "article": ARTICLE, "comment_id": f"t{i}"})
    # off topic, so that its own words in the thread would make it look less so
    body = {"text": "My new shoes from the mall are comfortable and cheap", "article": {"id": "mosul"},
            "comment_id": "c1"}
    first = client.post("/v1/moderate", json=body).json
    assert first["decision"] == "accept" and first["scores"]["off_topic"] is not None
    assert app.extensions["store"].thread("mosul")[-1] == body["text"]  # its first copy is in the thread now
    assert client.post("/v1/moderate", json=body).json == first
    # in a batch (two rows: the batch path, not the single comment's)
    batch = client.post("/v1/moderate/batch", json={"comments": [
        {"id": "c1", "text": body["text"], "article": {"id": "mosul"}}] * 2}).json["results"]
    assert [{k: v for k, v in r.items() if k != "id"} for r in batch] == [first, first]
    short = {"text": "Shoe level lies.", "article": {"id": "mosul"}, "comment_id": "c2"}  # the short comments' path
    first_short = client.post("/v1/moderate", json=short).json
    assert client.post("/v1/moderate", json=short).json == first_short
    # an edit: its first version is left out, so it is scored as the edited text would be under the thread alone
    edited = {**body, "text": "My new shoes from the mall are comfortable and very cheap"}
    answer = client.post("/v1/moderate", json=edited).json
    fresh_app = make(url_b)
    fresh = fresh_app.test_client()
    for i, text in enumerate(THREAD + ["Shoe level lies."]):
        fresh.post("/v1/moderate", json={"text": text, "article": ARTICLE, "comment_id": f"t{i}"})
    assert fresh.post("/v1/moderate", json={**edited, "comment_id": "other"}).json == answer
    fresh_app.extensions["store"].dispose()  # its database may be dropped next (PostgreSQL)
    # the worker's cached context is not changed: other comments are still compared with c1's first copy
    from service.articles import contexts
    assert contexts(app).cache.get("mosul")[4].thread_comments == len(app.extensions["store"].thread("mosul")) == 5
    return app


def test_a_retry_is_scored_without_its_own_first_copy(tiny_registry, tmp_path):
    app = check_a_retry_is_scored_without_its_own_first_copy(
        lambda url: create_app({"TESTING": True, "MODELS_DIR": str(tiny_registry.root), "SPAM_FLAG": 1.0,
                                "SPAM_REJECT": 1.0, "OFF_TOPIC_FLAG": 1.0, "SHORT_OFF_TOPIC_FLAG": 1.0,
                                "SHORT_OFF_TOPIC_ACTION": "accept", "DATABASE_URL": url}),
        f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}")
    assert app.extensions["store"].thread("mosul")[:3] == THREAD


def test_a_first_copy_outside_the_cached_thread_is_not_taken_out(tiny_registry, tmp_path, monkeypatch):
    """A context is built from the latest MAX_THREAD comments: a first copy older than those is not in it, so
    nothing is taken out; one inside is, once, and the cached context keeps it."""
    import service.articles as articles_module
    from moderation.moderator import Article
    from service.articles import contexts

    monkeypatch.setattr(articles_module, "MAX_THREAD", 2)
    app = make_app(tiny_registry, tmp_path, "accept")
    client, store = app.test_client(), app.extensions["store"]
    for i, text in enumerate(["Old words about shoes", "Mosul is free", "ISIL fled the city"]):
        client.post("/v1/moderate", json={"text": text, "article": ARTICLE, "comment_id": f"k{i}"})
    cold = contexts(make_app(tiny_registry, tmp_path, "accept"))  # another worker: builds from the latest two
    with app.app_context():
        assert cold.context(store, Article("mosul")).thread_comments == 2
        assert cold.context(store, Article("mosul"), "k0").thread_comments == 2  # not in its context
        assert cold.context(store, Article("mosul"), "k2").thread_comments == 1
        assert cold.context(store, Article("mosul"), "k9").thread_comments == 2  # never sent
        assert cold.context(store, Article("mosul"), "k2").thread_comments == 1  # the cache was not changed
        store.add_thread_comment("mosul", "Late words", "k3")  # another worker's: brought in, then taken out
        assert cold.context(store, Article("mosul"), "k3").thread_comments == 2
        assert cold.cache.get("mosul")[4].thread_comments == 3


def test_without_comment_is_add_comment_undone_and_never_goes_below_the_thread():
    from moderation.relevance import Context
    from moderation.retries import without_comment

    base = Context.build(ARTICLE["title"], ARTICLE["body"], ["Mosul is free", "The army came"])
    plus = base.add_comment("My new shoes are cheap, shoes!")
    back = without_comment(plus, "My new shoes are cheap, shoes!")
    assert back.thread_comments == base.thread_comments == 2 and plus.thread_comments == 3
    assert (back.thread != base.thread).nnz == 0 and back.thread.has_canonical_format
    assert back.thread.nnz == base.thread.nnz  # no explicit zeros left for the words it alone had
    # words the thread does not hold (a copy it never counted: e.g. committed out of order) leave it as it was
    assert without_comment(base, "Shoes shoes shoes") is base
    assert without_comment(Context.build("t", "b"), "anything") is not None
