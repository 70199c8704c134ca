"""The service starts when its database cannot be reached, and becomes ready by itself when it can.

A store that cannot be reached at start-up (PostgreSQL down, a SQLite folder that cannot be made) no longer stops
create_app (every gunicorn worker dying at boot): the app answers /healthz 200, /readyz 503 and 503
store_unavailable where it needs the store, and sets the store's schema up on the first connection that works
(moderation/store.py, `defer_unreachable`). A configuration that can never work still stops the start, and the CLI
still fails at once."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from moderation.store import Store, metadata
from service import create_app
from test_readiness import Collected as ReadinessLog

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = {"title": "Iraqi forces approach Mosul", "body": "Iraqi forces closed in on Mosul."}
TABLES = set(metadata.tables)


class Collected(ReadinessLog):
    """The readiness tests' log collector, read by logger name."""

    def lines(self, logger: str, level: int) -> list[str]:
        return [r.getMessage() for r in self.records if r.name == logger and r.levelno == level]


@pytest.fixture()
def startup_log():
    """What the store and the app's engine module log (the app's JSON logging replaces the root's handlers)."""
    handler = Collected()
    loggers = [logging.getLogger(name) for name in ("moderation.store", "service.engine", "service.policy_settings")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    yield handler
    for logger, level in zip(loggers, levels):
        logger.removeHandler(handler)
        logger.setLevel(level)


def make_app(tiny_registry, url: str, **config):
    """Comments are accepted (nothing flagged to record) unless the config says otherwise."""
    return create_app({"TESTING": True, "MODELS_DIR": str(tiny_registry.root), "DATABASE_URL": url,
                       "SPAM_FLAG": 1.0, "SPAM_REJECT": 1.0, "OFF_TOPIC_FLAG": 1.0, "SHORT_OFF_TOPIC_FLAG": 1.0,
                       "DATABASE_CHECKPOINT_SECONDS": 0, "ACCESS_LOG": False, "SECRET_KEY": "test", **config})


@contextmanager
def silent_postgresql(pg_url: str, database: str = "x"):
    """The URL of a PostgreSQL "host" that accepts the TCP connection and never answers (a frozen host, a firewall
    black hole): a listening socket nobody reads, with pg_url's user."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        base, _, _ = pg_url.partition("@/")
        yield f"{base}@127.0.0.1:{silent.getsockname()[1]}/{database}"
    finally:
        silent.close()


def gives_up_on_a_silent_host(args: list, error: str, margin: float) -> None:
    """`python -m training *args` ends with exit status 2 and one `error` line, within COMMAND_CONNECT_SECONDS +
    `margin` seconds, instead of hanging."""
    from moderation.store import COMMAND_CONNECT_SECONDS

    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "training", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=COMMAND_CONNECT_SECONDS + 50)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(error) and "Traceback" not in done.stderr
    assert time.monotonic() - started < COMMAND_CONNECT_SECONDS + margin


def assert_store_unavailable(answer) -> None:
    assert answer.status_code == 503, answer.get_data(as_text=True)
    assert answer.get_json()["error"]["code"] == "store_unavailable"


def assert_serves_not_ready(client) -> None:
    """Alive, not ready, and every request that needs the store answers 503 store_unavailable; a comment that
    needs no store (no article, too short to be counted as a repeat, accepted) is moderated as when the store
    fails mid-run."""
    assert client.get("/healthz").status_code == 200
    started = time.monotonic()
    ready = client.get("/readyz")
    assert time.monotonic() - started < 3
    assert ready.status_code == 503 and ready.get_json()["store"] in ("error", "timeout")
    assert ready.get_json()["reason"].startswith("store: ")
    assert_store_unavailable(client.put("/v1/articles/mosul", json=ARTICLE))
    assert_store_unavailable(client.post("/v1/feedback", json={"text": "Buy cheap pills now", "label": "spam"}))
    assert_store_unavailable(client.post("/v1/moderate", json={"text": "Mosul will be free soon",
                                                               "article": {"id": "mosul", **ARTICLE}}))
    alone = client.post("/v1/moderate", json={"text": "Good news"})
    assert alone.status_code == 200 and alone.get_json()["decision"] == "accept"


def wait_ready(client, probes: int = 20) -> int:
    """How many probes it took to be ready (fails after `probes`, 0.1 s apart)."""
    for probe in range(1, probes + 1):
        answer = client.get("/readyz")
        if answer.status_code == 200:
            assert answer.get_json()["store"] == "ok"
            return probe
        time.sleep(0.1)
    pytest.fail(f"not ready after {probes} probes: {answer.get_json()}")


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


# PostgreSQL: the URL names a socket folder where no server listens yet; "starting the server" there is a link to
# the session's server socket (libpq connects through it), so the test needs no second cluster.

def down_url(pg_url: str, folder: Path) -> str:
    base, _, _ = pg_url.partition("?host=")
    return f"{base}?host={folder}"


def bring_up(postgres_server, folder: Path) -> None:
    socket_folder, _ = postgres_server
    (folder / ".s.PGSQL.5432").symlink_to(Path(socket_folder) / ".s.PGSQL.5432")


def test_postgresql_down_at_start_serves_not_ready_then_ready_without_a_restart(
        tiny_registry, pg_url, postgres_server, tmp_path, startup_log):
    folder = tmp_path / "pg-not-yet"
    folder.mkdir()
    url = down_url(pg_url, folder).replace("postgres@", "postgres:s3cret-pw@")
    app = make_app(tiny_registry, url)  # raised OperationalError before: create_app died with the database
    client = app.test_client()
    assert_serves_not_ready(client)
    body = client.get("/readyz").get_data(as_text=True)
    assert "s3cret-pw" not in body and str(folder) not in body
    warnings = startup_log.lines("service.engine", logging.WARNING)
    assert len(warnings) == 1 and "NOT READY" in warnings[0] and "s3cret-pw" not in warnings[0]
    # The policy settings that could not be read say so without a second warning or a traceback.
    assert [r for r in startup_log.records if r.levelno >= logging.WARNING] == \
        [r for r in startup_log.records if r.name == "service.engine" and r.levelno == logging.WARNING]
    assert len(startup_log.lines("service.policy_settings", logging.INFO)) == 1
    assert tables(pg_url) == set()

    bring_up(postgres_server, folder)
    assert wait_ready(client) <= 10  # the first probe that reaches it, unless setting the schema up outlasts its 0.5 s
    assert tables(pg_url) >= TABLES
    assert client.put("/v1/articles/mosul", json=ARTICLE).status_code == 201
    answer = client.post("/v1/moderate", json={"text": "Mosul will be free soon", "article": {"id": "mosul"}})
    assert answer.status_code == 200 and answer.get_json()["scores"]["off_topic"] is not None
    assert client.post("/v1/feedback", json={"text": "Buy cheap pills now", "label": "spam"}).status_code == 201
    assert len(startup_log.lines("moderation.store", logging.INFO)) == 1  # set up once, said once
    assert len(startup_log.lines("service.engine", logging.WARNING)) == 1


def test_postgresql_back_sets_the_schema_up_on_the_first_request_too(tiny_registry, pg_url, postgres_server,
                                                                      tmp_path):
    """No probe needed: the first request that reaches the database sets the schema up before its own query."""
    folder = tmp_path / "pg-not-yet"
    folder.mkdir()
    app = make_app(tiny_registry, down_url(pg_url, folder))
    client = app.test_client()
    assert_store_unavailable(client.put("/v1/articles/mosul", json=ARTICLE))
    bring_up(postgres_server, folder)
    assert client.put("/v1/articles/mosul", json=ARTICLE).status_code == 201
    assert app.extensions["store"].schema_ready and tables(pg_url) >= TABLES
    assert client.get("/readyz").status_code == 200


def test_the_cli_still_fails_at_once_against_an_unreachable_postgresql(pg_url, tmp_path):
    """Deferral is the service's: a command fails with one line and status 2, not a wait."""
    url = down_url(pg_url, tmp_path)
    with pytest.raises(Exception) as raised:
        Store(url)
    assert type(raised.value).__name__ == "OperationalError"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "training", "export-feedback", "--database", url,
                           "--output", str(tmp_path / "labels.csv")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: the database could not be used") and "Traceback" not in done.stderr
    assert time.monotonic() - started < 30


def test_the_cli_gives_up_on_a_postgresql_host_that_never_answers(pg_url, tmp_path):
    """A host that accepts the TCP connection and never answers: libpq waits without a limit, and the command
    hung; it now gives up after COMMAND_CONNECT_SECONDS with one error line."""
    with silent_postgresql(pg_url) as url:
        gives_up_on_a_silent_host(["export-feedback", "--database", url, "--output", tmp_path / "labels.csv"],
                                  "error: the database could not be used", margin=20)


# SQLite: the database's folder cannot be made at start (a file is in the way, as a volume not mounted yet)

def test_sqlite_folder_blocked_at_start_serves_not_ready_then_ready(tiny_registry, tmp_path, startup_log):
    blocker = tmp_path / "volume"
    blocker.write_text("not a folder yet")
    path = blocker / "store" / "moderation.db"
    app = make_app(tiny_registry, f"sqlite:///{path}")
    client = app.test_client()
    assert_serves_not_ready(client)
    assert "unable to open database file" in client.get("/readyz").get_json()["reason"] or \
        "OperationalError" in client.get("/readyz").get_json()["reason"]
    assert len(startup_log.lines("service.engine", logging.WARNING)) == 1

    blocker.unlink()  # the volume is mounted: its folder may be made now (by the store, on its next connection)
    assert wait_ready(client) <= 10  # the first probe that reaches it, unless setting the schema up outlasts its 0.5 s
    assert tables(f"sqlite:///{path}") >= TABLES
    assert client.put("/v1/articles/mosul", json=ARTICLE).status_code == 201
    assert len(startup_log.lines("moderation.store", logging.INFO)) == 1


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes in a read-only folder")
def test_sqlite_read_only_folder_at_start_serves_not_ready_then_ready(tiny_registry, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        app = make_app(tiny_registry, f"sqlite:///{folder / 'moderation.db'}")
        client = app.test_client()
        assert_serves_not_ready(client)
        folder.chmod(0o755)
        assert wait_ready(client) <= 10
        assert tables(f"sqlite:///{folder / 'moderation.db'}") >= TABLES
    finally:
        folder.chmod(0o755)


# What must still stop the start

@pytest.mark.parametrize("config, says", [
    ({"DATABASE_URL": "moderation database on db.internal"}, "MODERATION_DATABASE_URL is not a database URL"),
    ({"DATABASE_URL": "nosuchdb://moderator:s3cret-pw@db.internal/moderation"},
     "MODERATION_DATABASE_URL nosuchdb://moderator:***@db.internal/moderation"),
    ({"DATABASE_URL": "postgresql+nosuchdriver://moderator:s3cret-pw@db.internal/moderation"},
     "MODERATION_DATABASE_URL postgresql+nosuchdriver://moderator:***@db.internal/moderation"),
    ({"DATABASE_SYNCHRONOUS": "SOMETIMES"}, "MODERATION_DATABASE_SYNCHRONOUS: synchronous must be one of"),
])
def test_a_configuration_that_can_never_work_still_stops_the_start(tiny_registry, tmp_path, config, says):
    config = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", **config}
    with pytest.raises(ValueError) as raised:
        make_app(tiny_registry, **{"url": config.pop("DATABASE_URL")}, **config)
    assert str(raised.value).startswith(says), raised.value
    assert "s3cret-pw" not in str(raised.value)


# Set up once, and safely when several processes do it at once

def test_the_schema_is_set_up_once_however_many_threads_use_the_store(tmp_path, startup_log):
    blocker = tmp_path / "volume"
    blocker.write_text("")
    store = Store(f"sqlite:///{blocker / 'm.db'}", defer_unreachable=True)
    assert not store.schema_ready and store.unreachable.startswith(("NotADirectoryError", "FileExistsError"))
    blocker.unlink()
    errors: list = []

    def use():
        try:
            for n in range(20):
                store.put_article(f"a{threading.get_ident()}-{n}", "t", "b")
                store.count_feedback()
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    workers = [threading.Thread(target=use) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == [] and store.schema_ready
    assert len(startup_log.lines("moderation.store", logging.INFO)) == 1
    assert store.set_up_schema() is False


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_workers_setting_the_schema_up_at_once_all_succeed(backend, tmp_path, request):
    """Each Store has its own engine and connections, as each gunicorn worker (or instance) does; all set the
    schema of an empty database up at the same moment, three rounds."""
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else f"sqlite:///{tmp_path / 'race.db'}"
    racers = [Store(url) for _ in range(4)]
    for _ in range(3):
        with racers[0].engine.begin() as conn:  # an empty database again, and stores that have not set it up
            for table in reversed(metadata.sorted_tables):
                conn.exec_driver_sql(f"DROP TABLE {table.name}")
        for store in racers:
            store.schema_ready, store._backfill = False, None
        barrier, errors = threading.Barrier(len(racers)), []

        def race(store):
            barrier.wait()
            try:
                store.set_up_schema()
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=race, args=(store,)) for store in racers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [], errors
        assert all(store.schema_ready for store in racers)
        engine = create_engine(url)
        found = inspect(engine)
        assert set(found.get_table_names()) >= TABLES
        indexes = {i["name"] for t in metadata.sorted_tables for i in found.get_indexes(t.name)}
        engine.dispose()
        assert indexes >= {i.name for t in metadata.sorted_tables for i in t.indexes}
    racers[0].put_article("a", "t", "b")
    for store in racers:
        store.dispose()


# gunicorn: the app is built in the master (preload_app) and forked

def test_the_gunicorn_master_starts_no_thread_while_it_builds_the_app(tiny_registry, tmp_path, monkeypatch):
    """service/gunicorn.conf.py marks its process; the polling threads (live model, policy settings, word lists)
    then start in each worker, never in the master that forks them."""
    monkeypatch.setenv("_MODERATION_GUNICORN_MASTER", str(os.getpid()))
    before = set(threading.enumerate())
    app = create_app({"MODELS_DIR": str(tiny_registry.root), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
                      "DATABASE_CHECKPOINT_SECONDS": 0, "ACCESS_LOG": False})
    assert app.test_client().get("/healthz").status_code == 200
    assert [t.name for t in set(threading.enumerate()) - before] == []


@pytest.mark.skipif(sys.platform != "linux", reason="gunicorn run on Linux")
def test_gunicorn_starts_with_the_store_unreachable_and_each_worker_sets_it_up_at_most_once(tiny_registry, tmp_path):
    blocker = tmp_path / "volume"
    blocker.write_text("")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("MODERATION_", "PROMETHEUS_"))},
           "PORT": str(port), "WEB_CONCURRENCY": "2", "MODERATION_MODELS_DIR": str(tiny_registry.root),
           "MODERATION_DATABASE_URL": f"sqlite:///{blocker / 'store' / 'moderation.db'}",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"), "GUNICORN_CONTROL_SOCKET": str(tmp_path / "ctl")}
    log_path = tmp_path / "gunicorn.log"
    base = f"http://127.0.0.1:{port}"

    def get(path: str) -> int:
        try:
            return urllib.request.urlopen(base + path, timeout=5).status
        except urllib.error.HTTPError as exc:
            return exc.code

    with open(log_path, "w") as output:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "service/gunicorn.conf.py",
                                 "service:create_app()"], cwd=ROOT, env=env, stdout=output, stderr=output)
    try:
        deadline = time.monotonic() + 60
        while True:  # the master did not die at boot: it serves
            try:
                if get("/healthz") == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.1)
        assert {get("/readyz") for _ in range(10)} == {503}
        blocker.unlink()
        statuses = [get("/readyz") for _ in range(40)]
        assert statuses[-10:] == [200] * 10, statuses
        request = urllib.request.Request(f"{base}/v1/articles/mosul", data=json.dumps(ARTICLE).encode(),
                                         method="PUT", headers={"Content-Type": "application/json"})
        assert urllib.request.urlopen(request, timeout=5).status == 201
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    lines = [json.loads(x) for x in log_path.read_text().splitlines() if x.startswith("{")]
    unreachable = [x for x in lines if x["logger"] == "service.engine" and x["level"] == "WARNING"]
    set_up = [x for x in lines if x["logger"] == "moderation.store" and x["message"].startswith("store schema set up")]
    assert len(unreachable) == 1  # the master built the app once
    assert 1 <= len(set_up) <= 2  # two workers, each at most once, however many probes and requests


def test_a_postgresql_host_that_never_answers_does_not_hold_the_start(tiny_registry, pg_url, tmp_path):
    """A server that accepts the TCP connection and never answers (a frozen host, a firewall black hole): libpq
    alone would wait for ever; until its schema is set up, the store's connections give up after 2 s."""
    with silent_postgresql(pg_url) as url:
        started = time.monotonic()
        app = make_app(tiny_registry, url)
        assert time.monotonic() - started < 15  # two connects at start (the schema, the policy settings): 2 s each
        assert app.extensions["store"].unreachable.startswith("OperationalError")
        client = app.test_client()
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 503


def test_a_poll_that_keeps_failing_is_logged_once_and_its_recovery_once(caplog):
    """While the store is down, each worker's watchers (policy settings, every 2 s) logged a traceback at every
    poll; now the first failure is logged with its traceback, a different failure again, and the recovery once."""
    import logging

    from service.watch import Watcher

    class Flaky(Watcher):
        name = "flaky-watcher"

        def __init__(self, outcomes):
            super().__init__(0.0)
            self.outcomes = list(outcomes)

        def poll(self):
            outcome = self.outcomes.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

    down, other = ConnectionError("store down"), RuntimeError("something else")
    watcher = Flaky([down, down, down, other, other, True, True, down, True])
    with caplog.at_level(logging.INFO, logger="service.watch"):
        for _ in range(9):
            try:
                watcher.poll()
            except Exception as exc:  # noqa: BLE001 - what Watcher._run does
                watcher.polled(exc)
            else:
                watcher.polled(None)
    records = [(r.levelname, r.getMessage().split(";")[0].split(" (")[0], r.exc_info is not None)
               for r in caplog.records if r.name == "service.watch"]
    assert records == [("ERROR", "flaky-watcher: poll failed", True), ("ERROR", "flaky-watcher: poll failed", True),
                       ("INFO", "flaky-watcher: polling works again", False),
                       ("ERROR", "flaky-watcher: poll failed", True),
                       ("INFO", "flaky-watcher: polling works again", False)]


def test_rescore_from_a_postgresql_host_that_never_answers_is_an_error_not_a_hang(tiny_registry, pg_url, tmp_path):
    """`rescore --input-sql` against a CMS database that accepts the connection and never answers hung too."""
    from moderation.store import COMMAND_CONNECT_SECONDS, bounded_connect

    assert bounded_connect("sqlite:///x.db") == "sqlite:///x.db"
    assert bounded_connect("postgresql://u:p@h/db?connect_timeout=3") == "postgresql://u:p@h/db?connect_timeout=3"
    assert bounded_connect("postgresql://u:p@h/db") == f"postgresql://u:p@h/db?connect_timeout={COMMAND_CONNECT_SECONDS}"
    with silent_postgresql(pg_url, "cms") as url:
        gives_up_on_a_silent_host(["rescore", "--models", tiny_registry.root, "--input-sql", url, "--table",
                                   "comments", "--output", tmp_path / "out.jsonl", "--workers", 1, "--no-progress"],
                                  "error:", margin=25)  # and the worker's start
