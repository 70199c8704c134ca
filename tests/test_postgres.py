"""The store and rescoring on a real PostgreSQL server, not only SQLite: what `MODERATION_DATABASE_URL` and
`rescore --input-sql` promise.

The throwaway cluster (`postgres_server`, `pg_url` in conftest.py) is started once for the session from the
machine's PostgreSQL binaries (Debian's `postgresql` package; `.ci/run` installs it). Without the binaries these
tests are skipped, saying why.
"""

from __future__ import annotations

import json

from sqlalchemy import create_engine, inspect, text as sql

from moderation.store import Store
from service import create_app
from training.rescore import RescoreOptions, rescore
from training.rescore_io import Source

ARTICLE = {"id": "mosul", "title": "ISIL fighters flee Mosul as Iraqi forces approach",
           "body": "Iraqi forces closed in on Mosul as ISIL fighters fled the city."}


def make_app(tiny_registry, url, decision: str, **config):
    spam = {"accept": (1.0, 1.0), "flag": (0.0, 1.0)}[decision]
    return create_app({"TESTING": True, "MODELS_DIR": str(tiny_registry.root), "SPAM_FLAG": spam[0],
                       "SPAM_REJECT": spam[1], "OFF_TOPIC_FLAG": 1.0, "SHORT_OFF_TOPIC_FLAG": 1.0,
                       **({"SHORT_OFF_TOPIC_ACTION": "accept"} if decision == "accept" else {}),
                       "DATABASE_URL": url, "SECRET_KEY": "test", **config})


def test_the_service_keeps_articles_threads_reviews_and_labels_in_postgresql(tiny_registry, pg_url):
    accepting = make_app(tiny_registry, pg_url, "accept")
    client = accepting.test_client()
    created = client.put("/v1/articles/mosul", json={"title": ARTICLE["title"], "body": ARTICLE["body"]})
    assert created.status_code == 201
    for n, text in enumerate(["Mosul will be free soon", "Good news for the people of Iraq", "ISIL is finished"]):
        answer = client.post("/v1/moderate", json={"text": text, "article": {"id": "mosul"}, "comment_id": n})
        assert answer.status_code == 200 and answer.json["decision"] == "accept", answer.json
        assert answer.json["scores"]["off_topic"] is not None  # the stored article was found by id
    batch = client.post("/v1/moderate/batch", json={"comments": [
        {"id": "b1", "text": "Pray for Mosul", "article": {"id": "mosul"}},
        {"id": "b2", "text": "Go Iraqi army!", "article": ARTICLE}]})
    assert batch.status_code == 200, batch.json
    assert client.get("/v1/articles/mosul").json["thread_comments"] == 5

    # A second app on the same database stands for another worker: it sees the thread, and a PUT rebuilds it.
    other = make_app(tiny_registry, pg_url, "accept").test_client()
    assert other.get("/v1/articles/mosul").json["thread_comments"] == 5
    assert other.put("/v1/articles/mosul", json={"title": "Mosul, updated"}).status_code == 200
    assert client.get("/v1/articles/mosul").json["title"] == "Mosul, updated"

    flagging = make_app(tiny_registry, pg_url, "flag")
    flagged = flagging.test_client().post("/v1/moderate", json={"text": "Win cash now", "article": {"id": "mosul"},
                                                                "comment_id": "spam-1", "explain": True})
    assert flagged.json["decision"] == "flag"
    store = flagging.extensions["store"]
    queue = store.review_queue()
    assert [(q["comment_id"], q["text"]) for q in queue] == [("spam-1", "Win cash now")]
    assert queue[0]["explanation"]["pushed_up"] is not None  # the JSON column round-trips
    label = flagging.test_client().post("/v1/feedback", json={"text": "Win cash now", "label": "spam",
                                                               "decision_id": queue[0]["id"], "comment_id": "spam-1"})
    assert label.status_code == 201, label.json
    again = flagging.test_client().post("/v1/feedback", json={"text": "Win cash now", "label": "ham",
                                                               "decision_id": queue[0]["id"]})
    assert again.status_code == 409  # reviewed once only
    assert store.review_queue() == [] and [f["label"] for f in store.list_feedback()] == ["spam"]

    assert client.delete("/v1/comments/1").json["erased"] == {"thread_comments": 1, "flagged": 0, "labels": 0, "reviews": 0}
    assert client.delete("/v1/comments/spam-1").json["erased"] == {"thread_comments": 0, "flagged": 1, "labels": 1, "reviews": 1}
    assert other.get("/v1/articles/mosul").json["thread_comments"] == 4
    assert client.delete("/v1/articles/mosul").json["erased"] == {"article": 1, "thread_comments": 4, "reviews": 0}


def test_retention_and_the_schema_upgrade_on_postgresql(pg_url):
    engine = create_engine(pg_url)
    with engine.begin() as conn:  # the thread table as the first release created it: no comment_id
        conn.execute(sql("CREATE TABLE thread_comments (id SERIAL PRIMARY KEY, article_id VARCHAR(255) NOT NULL, "
                         "text TEXT NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL)"))
        conn.execute(sql("INSERT INTO thread_comments (article_id, text, created_at) "
                         "VALUES ('a', 'from long ago', now() - interval '100 days')"))
    engine.dispose()
    store = Store(pg_url)
    assert "comment_id" in {c["name"] for c in inspect(store.engine).get_columns("thread_comments")}
    store.put_article("a", "Budget vote", "The council votes.")
    store.record_moderation([("a", "today", "c1")], [])
    from datetime import timedelta

    from moderation.store import now

    assert store.prune(now() - timedelta(days=30), dry_run=True) == {"thread_comments": 1, "reviewed_flagged": 0, "review_events": 0, "waves": 0}
    assert store.thread("a") == ["from long ago", "today"]
    assert store.prune(now() - timedelta(days=30)) == {"thread_comments": 1, "reviewed_flagged": 0, "review_events": 0, "waves": 0}
    assert store.thread("a") == ["today"]
    Store(pg_url)  # opening it again changes nothing


def test_rescore_reads_a_postgresql_table_in_chunks(tiny_registry, pg_url, tmp_path):
    """`rescore --input-sql` streams the table with a server-side cursor; the result equals the same rows from a
    JSON lines file."""
    rows = [{"id": f"c{n}", "text": text, "article_id": "mosul", "article_title": ARTICLE["title"],
             "article_body": ARTICLE["body"], "decision": "accept"}
            for n, text in enumerate(["Mosul will be free soon", "FREE ringtones txt WIN to 80082 now!!!",
                                      "Good news for the people of Iraq", "", "Shoe level lies."] * 30)]
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sql("CREATE TABLE comments (id TEXT PRIMARY KEY, text TEXT, article_id TEXT, "
                         "article_title TEXT, article_body TEXT, decision TEXT)"))
        conn.execute(sql("INSERT INTO comments VALUES (:id, :text, :article_id, :article_title, :article_body, "
                         ":decision)"), rows)
    engine.dispose()
    ordered = sorted(rows, key=lambda r: r["id"])  # the table is read in primary-key order
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in ordered), encoding="utf-8")
    options = RescoreOptions(models_dir=tiny_registry.root, workers=1, progress=False, chunk_size=16)
    from_file = rescore(Source(jsonl), tmp_path / "a.jsonl", options)
    from_table = rescore(Source(sql_url=pg_url, table="comments"), tmp_path / "b.jsonl", options)
    assert (tmp_path / "b.jsonl").read_text() == (tmp_path / "a.jsonl").read_text()
    assert from_table.to_dict()["decisions"] == from_file.to_dict()["decisions"]
    assert from_table.errors == from_file.errors == 0
    out = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert len(out) == 150 and len({r["id"] for r in out}) == 150
    empty = [r for r in out if r["id"] in {row["id"] for row in rows if not row["text"]}]
    assert len(empty) == 30 and all(r["reasons"][0]["code"] == "empty" for r in empty)


def test_copies_of_a_text_are_counted_on_postgresql(tiny_registry, pg_url):
    """The `repeat` rule's query (moderation/repeats.py) on PostgreSQL: distinct comment ids, rows without one, the
    comment itself left out, the window."""
    from datetime import timedelta

    from moderation.repeats import fingerprint
    from moderation.store import now

    client = make_app(tiny_registry, pg_url, "accept").test_client()
    text = "Vote NO on Proposition 5, the council is lying to you about the costs"
    article = {"id": "vote", "title": "Proposition 5", "body": "The vote is on Tuesday."}
    decided = [client.post("/v1/moderate", json={"text": text, "article": article, **extra}).json["decision"]
               for extra in ({"comment_id": "p1"}, {"comment_id": "p1"}, {}, {"comment_id": "p2"})]
    assert decided == ["accept", "accept", "accept", "flag"]
    store = Store(pg_url)
    key = fingerprint(text)
    assert store.count_copies(key, now() - timedelta(hours=1)) == 3  # p1 once, the one without an id, p2
    assert store.count_copies(key, now() - timedelta(hours=1), "p1") == 2
    assert store.count_copies(key, now() + timedelta(hours=1)) == 0


def test_review_events_become_visible_in_cursor_order_on_postgresql(pg_url):
    """A sequence hands out ids at insert and transactions commit in any order: without the table lock a review
    that took id 6 could commit before the one holding id 5, and a CMS reading in between would skip 5 for good."""
    from test_reviews import check_an_id_taken_first_and_committed_later_is_never_skipped

    check_an_id_taken_first_and_committed_later_is_never_skipped(pg_url)
    store = Store(pg_url)
    assert store.erase_comment("c1")["reviews"] == 1 and [e["comment_id"] for e in store.review_events()] == ["c2"]
    store.dispose()


def test_a_comment_sent_again_is_stored_once_on_postgresql(pg_url):
    """The ON CONFLICT statements on PostgreSQL's partial unique indexes (tests/test_retries.py on SQLite)."""
    store = Store(pg_url)
    store.put_article("r", "Retries", "A CMS sends a comment again after a timeout.")
    for _ in range(2):
        store.record_moderation([("r", "once", "k1")], [])
        store.add_thread_comment("r", "once", "k1")
    store.record_moderation([("r", "no id"), ("r", "no id")], [])
    assert store.thread("r") == ["once", "no id", "no id"]
    held = dict(decision="flag", spam=0.6, off_topic=None, reasons=[], model_version="v", article_id="r")
    store.record_moderation([], [{**held, "text": "first", "comment_id": "k2"}])
    store.record_moderation([], [{**held, "text": "edited", "comment_id": "k2"}])
    assert [(q["comment_id"], q["text"]) for q in store.review_queue() if q["article_id"] == "r"] == [("k2", "edited")]
    store.dispose()


def test_policy_settings_are_shared_by_workers_on_postgresql(tiny_registry, pg_url):
    """A pause recorded by one worker (service/policy_settings.py) reaches another through PostgreSQL."""
    one, two = make_app(tiny_registry, pg_url, "flag"), make_app(tiny_registry, pg_url, "flag")
    comment = {"text": "An ordinary comment about the council budget."}
    assert two.test_client().post("/v1/moderate", json=comment).json["decision"] == "flag"
    response = one.test_client().put("/v1/policy", json={"settings": {"paused": ["spam"]}, "note": "runaway"})
    assert response.status_code == 200, response.json
    assert two.extensions["policy_settings_watcher"].poll() is True
    assert two.test_client().post("/v1/moderate", json=comment).json["decision"] == "accept"
    assert Store(pg_url).latest_policy_settings()["settings"] == {"paused": ["spam"]}


def test_a_retry_is_scored_without_its_own_first_copy_on_postgresql(tiny_registry, pg_url, postgres_server):
    """tests/test_retries.py's check on PostgreSQL: the thread row of the comment's first copy is found there."""
    from test_retries import check_a_retry_is_scored_without_its_own_first_copy

    socket, run = postgres_server
    name = "f_" + pg_url.split("@/", 1)[1].split("?", 1)[0][2:]  # a second empty database for the fresh thread
    run("createdb", "-h", socket, "-U", "postgres", name)
    try:
        app = check_a_retry_is_scored_without_its_own_first_copy(
            lambda url: make_app(tiny_registry, url, "accept"), pg_url, pg_url.replace("@/t_", "@/" + name[:2], 1))
        app.extensions["store"].dispose()
    finally:
        run("dropdb", "-h", socket, "-U", "postgres", "--force", name)


def test_a_nul_character_is_a_400_not_a_503_on_postgresql(tiny_registry, pg_url):
    """PostgreSQL refuses NUL in text: before the check, each such request was a 503 to retry for ever."""
    from test_nul_text import check_a_nul_character_is_a_400_and_stores_nothing, make_app as nul_app

    app = nul_app(tiny_registry, pg_url)
    check_a_nul_character_is_a_400_and_stores_nothing(app)
    app.extensions["store"].dispose()


def test_two_workers_storing_a_new_article_at_once_both_succeed_on_postgresql(pg_url):
    """The first comments of a new article often come together, each with the article inline, to two workers:
    both store it. Worker a finds no row to update; before its insert, worker b stores the article; a's insert
    must not then fail on the primary key (a 503 to the CMS). Made deterministic with a hook on a's insert."""
    import threading

    from sqlalchemy import event

    a, b = Store(pg_url), Store(pg_url)
    done = []

    def before(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("INSERT INTO ARTICLES") and not done:
            done.append(True)
            other = threading.Thread(target=b.put_article, args=("new", "Title by b", "Body by b"))
            other.start()
            other.join(30)
            assert not other.is_alive()

    event.listen(a.engine, "before_cursor_execute", before)
    a.put_article("new", "Title by a", "Body by a")
    assert done and a.get_article("new")["title"] == "Title by a"  # the last writer's text
    a.dispose()
    b.dispose()


def test_ids_past_32_bits_are_answered_not_a_503_on_postgresql(tiny_registry, pg_url):
    """The ids are PostgreSQL `integer` columns (32 bits); cursors and decision ids the API takes go up to 2**63 - 1.
    Compared as 32-bit parameters, anything above 2**31 - 1 was an 'integer out of range' error: a 503."""
    app = make_app(tiny_registry, pg_url, "flag", API_KEYS="k", ADMIN_KEYS="k")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer k"
    for huge in (2**31, 2**63 - 2):
        reviews = client.get(f"/v1/reviews?after={huge}")
        assert reviews.status_code == 200 and reviews.json == {"reviews": [], "next": huge, "has_more": False}
        queue = client.get(f"/v1/review-queue?before={huge}")
        assert queue.status_code == 200 and queue.json["items"] == []
        label = client.post("/v1/feedback", json={"text": "x", "label": "spam", "decision_id": huge})
        assert label.status_code == 404 and label.json["error"]["code"] == "decision_not_found"
    app.extensions["store"].dispose()


def test_a_thread_comment_committed_after_a_later_id_still_reaches_every_cache_on_postgresql(tiny_registry, pg_url):
    """A worker brings its cached thread up to date with the comments whose id is above the last it saw. On
    PostgreSQL a sequence id is taken at insert and committed later: worker a holds id n uncommitted while worker b
    commits n + 1 and worker c reads up to n + 1; a's comment then committed was never counted by c. Made
    deterministic with a hook after a's insert. Comments under one article must commit in id order."""
    import threading

    from sqlalchemy import event

    from moderation.moderator import Article
    from service.articles import ArticleContexts

    a, b, c = Store(pg_url), Store(pg_url), Store(pg_url)
    a.put_article("t", "Budget vote", "The council approved the budget.")
    cache = ArticleContexts()
    assert cache.context(c, Article("t")).thread_comments == 0
    hooked = []

    def after(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("INSERT INTO THREAD_COMMENTS") and not hooked:
            hooked.append(True)
            other = threading.Thread(target=b.add_thread_comment, args=("t", "Second comment", "k2"))
            other.start()
            other.join(2)  # with comments committed in id order, b waits for a's commit: give up waiting
            hooked.append(other)
            cache.context(c, Article("t"))  # worker c catches up meanwhile

    event.listen(a.engine, "after_cursor_execute", after)
    a.add_thread_comment("t", "First comment", "k1")
    hooked[1].join(30)
    assert sorted(c.thread("t")) == ["First comment", "Second comment"]
    assert cache.context(c, Article("t")).thread_comments == 2
    for store in (a, b, c):
        store.dispose()


def test_changes_of_the_settings_in_force_made_at_once_all_count_on_postgresql(pg_url):
    from tests.test_policy_settings_changes import count_changes_at_once

    assert count_changes_at_once(pg_url) == 40


def test_a_forked_worker_leaves_the_master_s_connections_open_on_postgresql(tiny_registry, pg_url):
    """gunicorn forks workers from the master that built the app (preload). A worker used to close the pooled
    connections it inherited, which on PostgreSQL ended the master's sessions over the sockets they share."""
    import os

    from service.lifecycle import after_fork

    app = make_app(tiny_registry, pg_url, "accept")
    store = app.extensions["store"]
    with store.engine.connect() as conn:  # the master holds a pooled connection
        backend = conn.execute(sql("SELECT pg_backend_pid()")).scalar_one()
    pid = os.fork()
    if pid == 0:  # the worker: what gunicorn's post_fork does, then it exits
        try:
            after_fork(app)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    with store.engine.connect() as conn:  # the same pooled session, still alive
        assert conn.execute(sql("SELECT pg_backend_pid()")).scalar_one() == backend
    store.dispose()
