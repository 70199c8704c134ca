"""/readyz tells the truth about the store (service/health.py): ready only when the model is loaded and the store
answers, 503 naming the part that failed (never the URL or password), bounded in time when the database hangs,
ready again by itself when it is back; /healthz stays a pure liveness probe.

SQLite here; PostgreSQL on the throwaway cluster of tests/test_postgres.py (its fixtures, imported)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time

import pytest
from sqlalchemy import create_engine, event, text as sql

from service import create_app, health
from tests.test_postgres import make_app

ARTICLE = {"id": "mosul", "title": "Iraqi forces approach Mosul", "body": "Iraqi forces closed in on Mosul."}


def flagging_app(tiny_registry, url: str, **config):
    """Every comment is flagged, so /v1/moderate must record it in the store (503 without it)."""
    return create_app({"TESTING": True, "MODELS_DIR": str(tiny_registry.root), "DATABASE_URL": url,
                       "SPAM_FLAG": 0.0, "SPAM_REJECT": 1.0, "DATABASE_CHECKPOINT_SECONDS": 0, "ACCESS_LOG": False,
                       **config})


def moderate(client):
    return client.post("/v1/moderate", json={"text": "Mosul will be free soon", "article": ARTICLE})


class Collected(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def messages(self, level: int) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno == level and r.name == "service"]


@pytest.fixture()
def service_log():
    """What the app's logger ("service") says, collected on the logger itself: the app's JSON logging set up at its
    first create_app replaces the root handlers (caplog's among them)."""
    logger, handler = logging.getLogger("service"), Collected()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def warnings_and_infos(log: Collected) -> tuple[list[str], list[str]]:
    return log.messages(logging.WARNING), log.messages(logging.INFO)


def test_ready_with_a_working_sqlite_store_and_no_connection_kept_per_probe(tiny_registry, tmp_path):
    # A working store answers; the first probe opens the pool's connection, which a loaded test machine (the
    # session's other apps' threads) can stretch past the 0.5 s production budget, so this test allows 5 s.
    app = flagging_app(tiny_registry, f"sqlite:///{tmp_path / 'db.sqlite'}", READY_TIMEOUT_SECONDS=5)
    client = app.test_client()
    for _ in range(50):
        answer = client.get("/readyz")
        assert answer.status_code == 200
    assert answer.get_json() == {"status": "ready", "model_version": tiny_registry.current_version(), "store": "ok"}
    pool = app.extensions["store"].engine.pool
    assert pool.checkedout() == 0 and pool.checkedin() <= 1  # probes reuse one pooled connection
    readiness = app.extensions["readiness"]
    assert readiness.checkers == 1 and readiness.busy == 0  # one checker thread serves them all


def test_a_store_that_cannot_be_opened_is_not_ready_says_so_once_and_comes_back(tiny_registry, tmp_path, service_log):
    folder = tmp_path / "secret-store-folder"
    app = flagging_app(tiny_registry, f"sqlite:///{folder / 'db.sqlite'}")
    client = app.test_client()
    assert client.get("/readyz").status_code == 200 and moderate(client).status_code == 200
    service_log.records.clear()

    # The volume goes away. Pooled connections keep their open file (and requests through them still work:
    # ready is the truth then); the pool is dropped as after a fork or a reconnect, so a connection must be opened.
    folder.rename(tmp_path / "moved")
    app.extensions["store"].dispose()
    answers = [client.get("/readyz") for _ in range(5)]
    assert {a.status_code for a in answers} == {503}
    body = answers[0].get_json()
    assert body["status"] == "unavailable" and body["store"] == "error"
    assert body["reason"].startswith("store: ") and "OperationalError" in body["reason"]
    assert body["model_version"] == tiny_registry.current_version()
    assert "secret-store-folder" not in answers[0].get_data(as_text=True) and "sqlite" not in body["reason"]
    assert moderate(client).status_code == 503  # what readiness predicts: the CMS's requests fail too
    assert client.get("/healthz").status_code == 200  # liveness ignores the store: no restart for a DB blink
    warnings, infos = warnings_and_infos(service_log)
    assert len(warnings) == 1, warnings  # once per change of state, not per probe
    assert "store:" in warnings[0] and "unable to open database file" in warnings[0]

    (tmp_path / "moved").rename(folder)
    answer = client.get("/readyz")
    assert answer.status_code == 200 and answer.get_json()["store"] == "ok"
    assert moderate(client).status_code == 200
    warnings, infos = warnings_and_infos(service_log)
    assert len(warnings) == 1 and len([m for m in infos if m.startswith("ready again")]) == 1


def test_a_store_without_its_schema_is_not_ready(tiny_registry, tmp_path):
    """A database recreated empty answers SELECT 1, but every write would fail: the check reads the store's table."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    app = flagging_app(tiny_registry, url)
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE articles")
    engine.dispose()
    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.get_json()["store"] == "error"
    assert moderate(client).status_code >= 500  # and indeed the service cannot work on it


def test_no_model_is_not_ready_and_named(tiny_registry, tmp_path):
    app = flagging_app(tiny_registry, f"sqlite:///{tmp_path / 'db.sqlite'}")
    app.extensions["moderator"] = None
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json() == {"status": "unavailable", "reason": "model: no verified model is loaded",
                                 "model_version": None, "store": "ok"}


def test_the_logged_detail_never_carries_the_url_or_password():
    class Store:
        url = "postgresql+psycopg://moderator:s3cret-pw@db.internal:5432/moderation"
        engine = create_engine(url)

    message = (f"could not connect with {Store.url}: password authentication failed; "
               "dsn 'host=db.internal password=s3cret-pw user=moderator', via postgresql://moderator:s3cret-pw@db")
    cleaned = health._clean(message, Store)
    assert "s3cret-pw" not in cleaned and Store.url not in cleaned
    assert "password authentication failed" in cleaned  # what the operator needs stays


# PostgreSQL


def redirect_connections(store, **where):
    """From now on the store's engine connects elsewhere (the database moved, stopped or hangs); returns the
    undo. Its pooled connections are dropped, as when the server restarts."""
    def connect(_dialect, _record, _cargs, cparams):
        cparams.update(where)

    event.listen(store.engine, "do_connect", connect)
    store.dispose()

    def undo():
        event.remove(store.engine, "do_connect", connect)
    return undo


def backends(url: str) -> list[int]:
    """The pids of the server processes serving the app's database (the caller's own connection excluded)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        pids = conn.execute(sql("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                "AND pid <> pg_backend_pid()")).scalars().all()
    engine.dispose()
    return pids


def test_postgresql_stopped_is_not_ready_at_once_and_ready_again_by_itself(tiny_registry, pg_url, service_log):
    url = pg_url.replace("postgres@", "postgres:s3cret-pw@")  # trust authentication: a password is not asked for
    app = make_app(tiny_registry, url, "flag", DATABASE_CHECKPOINT_SECONDS=0, ACCESS_LOG=False)
    client = app.test_client()
    for _ in range(30):
        assert client.get("/readyz").status_code == 200
    assert client.get("/readyz").get_json()["store"] == "ok"
    assert len(backends(pg_url)) == 1  # 30 probes, one pooled connection
    service_log.records.clear()

    undo = redirect_connections(app.extensions["store"], host="/nonexistent-socket-folder")  # no server there
    started = time.monotonic()
    answer = client.get("/readyz")
    assert time.monotonic() - started < 1.0
    assert answer.status_code == 503 and answer.get_json()["store"] == "error"
    assert moderate(client).status_code == 503
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    warnings, _ = warnings_and_infos(service_log)
    assert len(warnings) == 1 and "nonexistent-socket-folder" in warnings[0]  # where it looked, for the operator
    assert "s3cret-pw" not in answer.get_data(as_text=True) + "".join(r.getMessage() for r in service_log.records)
    assert "postgresql" not in answer.get_json()["reason"]

    undo()
    assert client.get("/readyz").status_code == 200
    assert moderate(client).status_code == 200
    assert app.extensions["store"].engine.pool.checkedout() == 0


def test_postgresql_that_hangs_answers_503_within_the_budget(tiny_registry, pg_url):
    """A server that accepts the connection and never answers (a listening socket nobody serves): the probe waits
    its budget, not libpq's default of forever; the check's connection gives up after the short connect timeout."""
    app = make_app(tiny_registry, pg_url, "flag", DATABASE_CHECKPOINT_SECONDS=0, ACCESS_LOG=False,
                   READY_TIMEOUT_SECONDS=0.3)
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        undo = redirect_connections(app.extensions["store"], host="127.0.0.1", port=silent.getsockname()[1])
        for _ in range(3):
            started = time.monotonic()
            answer = client.get("/readyz")
            assert time.monotonic() - started < 1.0
            assert answer.status_code == 503 and answer.get_json()["store"] == "timeout"
            assert "did not answer within 0.3 s" in answer.get_json()["reason"]
        readiness = app.extensions["readiness"]
        assert readiness.checkers == 1  # the probes waited for the one check in flight, none piled up
        deadline = time.monotonic() + 3 * health.CONNECT_TIMEOUT_SECONDS
        while readiness.busy and time.monotonic() < deadline:
            time.sleep(0.1)
        assert readiness.busy == 0  # the connect timeout freed the check's thread
        undo()
    assert client.get("/readyz").status_code == 200


@pytest.mark.skipif(os.name != "posix", reason="stops a server process with SIGSTOP")
def test_a_frozen_postgresql_connection_does_not_hang_the_probe_nor_pile_up_threads(
        tiny_registry, pg_url, monkeypatch):
    """The backend of the pooled connection is frozen (SIGSTOP): the check's round trip on it never returns.
    Probes answer 503 within their budget; once that check is stale a new one (on a new connection) finds the
    database answering; the threads stay bounded and the frozen one is freed when the backend resumes."""
    monkeypatch.setattr(health, "STALE_SECONDS", 0.3)
    app = make_app(tiny_registry, pg_url, "flag", DATABASE_CHECKPOINT_SECONDS=0, ACCESS_LOG=False,
                   READY_TIMEOUT_SECONDS=0.2)
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    [frozen] = backends(pg_url)
    os.kill(frozen, signal.SIGSTOP)
    try:
        started = time.monotonic()
        first = client.get("/readyz")
        assert time.monotonic() - started < 1.0
        assert first.status_code == 503 and first.get_json()["store"] == "timeout"
        time.sleep(0.4)  # the check is stale now
        codes = [client.get("/readyz").status_code for _ in range(10)]
        assert codes[-1] == 200  # a new connection answers: the database is up, one connection was stuck
        readiness = app.extensions["readiness"]
        assert readiness.checkers <= health.MAX_RUNNING and readiness.busy == 1  # only the frozen check
    finally:
        os.kill(frozen, signal.SIGCONT)
    deadline = time.monotonic() + 10
    while readiness.busy and time.monotonic() < deadline:
        time.sleep(0.05)
    assert readiness.busy == 0 and readiness.checkers == 1  # the freed thread ended: one is enough
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("value", ["soon", 0, -1, 3600])
def test_a_bad_probe_budget_stops_the_start(tiny_registry, tmp_path, value):
    with pytest.raises(ValueError, match="MODERATION_READY_TIMEOUT_SECONDS"):
        flagging_app(tiny_registry, f"sqlite:///{tmp_path / 'db.sqlite'}", READY_TIMEOUT_SECONDS=value)


class _Failing:
    """A store whose every connection attempt raises `error` (its URL carries a password)."""

    def __init__(self, error: BaseException):
        self.url = "postgresql+psycopg://moderator:s3cret-pw@db.internal:5432/moderation"
        self.engine = create_engine(self.url)
        self.error = error
        event.listen(self.engine, "do_connect", self._raise)

    def _raise(self, *_args):
        raise self.error


def test_a_check_ended_by_a_base_exception_is_an_error_and_keeps_its_thread():
    class Cancelled(BaseException):  # as gevent's Timeout, asyncio's CancelledError, SystemExit in a thread
        pass

    readiness, store = health.Readiness(), _Failing(Cancelled("the check was cancelled"))
    for _ in range(5):
        state, why, detail = readiness.store(store, 2.0)
        assert state == "error" and "Cancelled" in why and detail == "Cancelled: the check was cancelled"
    for _ in range(100):
        if readiness.busy == 0:
            break
        time.sleep(0.01)
    assert readiness.busy == 0 and readiness.checkers == 1  # its thread lives on, none counted as running
    assert sum(t.name == "readyz-store-check" and t.is_alive() for t in threading.enumerate()) >= 1


@pytest.mark.parametrize("before", range(255, 300, 3))
def test_a_long_driver_message_is_cut_after_its_credentials_are_removed(before):
    store = _Failing(RuntimeError("x" * before + " connection to postgresql://moderator:s3cret-pw@db.internal failed"))
    state, _why, detail = health.Readiness().store(store, 2.0)
    assert state == "error" and len(detail) <= len("RuntimeError: ") + 300
    assert "moderator:s" not in detail and "s3" not in detail  # cut first, "...moderator:s3cr" was kept


@pytest.mark.parametrize("message", [
    "invalid dsn: host=other password='an0ther pw' user=u",  # libpq quotes a value with spaces
    'connection info: host=other password = "an0ther pw"',
    "mysql://u:an0ther@pw@other/db refused",  # an unescaped @ in someone's password
    "Driver={ODBC};Server=other;UID=u;PWD=an0ther;Encrypt=yes",
    "tried https://other/db?user=u&password=an0ther%20pw&ssl=1",
])
def test_credentials_of_other_drivers_are_removed(message):
    store = _Failing(RuntimeError(message))  # not the store's own password: only their shape says they are secret
    cleaned = health._clean(message, store)
    assert "an0ther" not in cleaned and " pw" not in cleaned and "@pw" not in cleaned, cleaned


@pytest.mark.parametrize("env, accepted", [("0.5", 0.5), ('"0.25"', 0.25), ("true", None), ("1e-9", None),
                                           ("nan", None)])
def test_the_probe_budget_from_the_environment(tiny_registry, tmp_path, monkeypatch, env, accepted):
    """As an operator writes it: from_prefixed_env parses JSON ("true" is True, which float() took for 1 s); a budget
    too small for any round trip made every probe spaced apart answer 503 with a working store."""
    for name, value in {"READY_TIMEOUT_SECONDS": env, "MODELS_DIR": str(tiny_registry.root), "ACCESS_LOG": "false",
                        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", "TESTING": "true"}.items():
        monkeypatch.setenv(f"MODERATION_{name}", value)
    if accepted is None:
        with pytest.raises(ValueError, match="MODERATION_READY_TIMEOUT_SECONDS"):
            create_app()
        return
    app = create_app()
    assert app.extensions["ready_timeout"] == accepted
    assert app.test_client().get("/readyz").status_code == 200
