"""Liveness and readiness probes.

`/healthz` is liveness: the process answers HTTP. It touches neither the model nor the store, so an orchestrator
never restarts a healthy process because the database blinked.

`/readyz` is readiness: route traffic here or not. Ready means a verified model is loaded AND the store answers a
round trip now: `/v1/moderate` records flagged comments, thread comments and articles, and answers 503 without
the store, so an instance whose database is gone says it is not ready, naming the part that failed, and becomes
ready again by itself when the database is back.

The store check (`StoreCheck`) runs one statement through the store's own engine and pool (no engine per probe; the
connection goes back to the pool): `SELECT 1 FROM articles WHERE 1 = 0`, which reads no row but needs the
database file or server, a connection and the store's schema (a database recreated empty is not ready either). It
runs in a checker thread (`Readiness`) the probe waits for at most READY_TIMEOUT_SECONDS (0.5 s by default), so a
hung database (a server that accepts and never answers, a frozen backend, a pool waiting for a free connection)
makes the probe answer 503 within that budget instead of hanging it. Probes that arrive while a check is still
running wait for that check instead of starting another, so a hung database holds at most MAX_RUNNING threads
(each with its connection) per process, never one per probe. A PostgreSQL connection the check opens has a
connect timeout of CONNECT_TIMEOUT_SECONDS (libpq's smallest), so an unreachable host frees its thread in seconds,
not after TCP's minutes of retries; connections opened by requests are not changed.

A store whose database could not be reached when the app started (moderation/store.py, `defer_unreachable`)
has no schema yet: the check's connection sets it up first (as any request's connection would), so the probe
that first reaches the database makes the instance ready, without a restart.

The 503 body names the part (`model`, `store`) but never the database URL, host or password: the endpoint needs no
key. The driver's message, with any credentials removed, goes to the log: one warning per change of state in a
process (ready -> not ready, or a different failure), not one per probe, and one info line when it is ready again.
"""

from __future__ import annotations

import os
import queue
import threading
import time

from flask import Blueprint, current_app, jsonify
from sqlalchemy import event

from service.engine import get_moderator
from service.redact import clean as _clean

bp = Blueprint("health", __name__)

READY_TIMEOUT_SECONDS = 0.5  # default of MODERATION_READY_TIMEOUT_SECONDS: how long a probe waits for the store
# Its smallest: below a thread hand-off and a round trip (~0.1-1 ms), probes spaced apart each start a check and give
# up before it ends, so the instance is never ready (1e-9) or flaps (1e-4) with a working store.
MIN_READY_TIMEOUT_SECONDS = 0.01
CONNECT_TIMEOUT_SECONDS = 2  # libpq's connect_timeout for connections the check opens (libpq rounds below 2 up to 2)
# A check running longer than STALE_SECONDS no longer stops the next probe from starting a new one (up to
# MAX_RUNNING at once), so a connection stuck for TCP's minutes does not keep the instance out once new ones work.
STALE_SECONDS = 10.0
MAX_RUNNING = 3
STATEMENT = "SELECT 1 FROM articles WHERE 1 = 0"

_probing = threading.local()  # set in the check's thread: the connect listener shortens only its connections


@bp.record_once
def _check_settings(state) -> None:
    """A bad MODERATION_READY_TIMEOUT_SECONDS stops the start, rather than failing every probe; the app's
    `Readiness` is made here, once."""
    value = state.app.config.get("READY_TIMEOUT_SECONDS")
    try:  # from_prefixed_env parses JSON: "true" arrives as True, which float() takes for 1 s
        budget = None if isinstance(value, bool) else READY_TIMEOUT_SECONDS if value is None else float(value)
    except (TypeError, ValueError):
        budget = None
    if budget is None or not MIN_READY_TIMEOUT_SECONDS <= budget <= 60:
        raise ValueError(f"MODERATION_READY_TIMEOUT_SECONDS must be seconds in [{MIN_READY_TIMEOUT_SECONDS:g}, 60], "
                         f"not {value!r}")
    state.app.extensions["ready_timeout"] = budget
    state.app.extensions["readiness"] = Readiness()


@bp.get("/healthz")
def healthz():
    """Alive: the process answers HTTP."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Ready: a verified model is loaded and can score, and the store answers."""
    app = current_app._get_current_object()
    readiness = app.extensions["readiness"]
    moderator = get_moderator()
    store = app.extensions.get("store")
    failures = []
    if moderator is None:
        failures.append(("model", "no verified model is loaded", ""))
    budget = app.extensions["ready_timeout"]
    store_state, why, detail = readiness.store(store, budget) if store is not None else ("error", "no store", "")
    if store_state != "ok":
        failures.append(("store", why, detail))
    readiness.report(app.logger, failures)
    version = moderator.version if moderator is not None else None
    if failures:
        reason = "; ".join(f"{part}: {why}" for part, why, _ in failures)
        return jsonify({"status": "unavailable", "reason": reason, "model_version": version, "store": store_state}), 503
    return jsonify({"status": "ready", "model_version": version, "store": store_state})


class _Check:
    """One round trip to the store; `result` is set before `done`."""

    def __init__(self, store):
        self.store = store
        self.started = time.monotonic()
        self.done = threading.Event()
        self.result: tuple[str, str, str] = ("timeout", "", "")

    def run(self) -> None:
        try:
            with self.store.engine.connect() as conn:
                conn.exec_driver_sql(STATEMENT).close()
            self.result = ("ok", "", "")
        except BaseException as exc:  # noqa: BLE001 - any failure of the round trip is "not ready", said and logged;
            # BaseException too (a driver's or green thread's cancellation): escaping, it would end the checker thread
            # with its check counted as running, and the probe would say "timeout" at once with no reason
            name = type(exc).__name__
            self.result = ("error", f"the database check failed ({name}; the service log says why)",
                           f"{name}: {_clean(_message(exc), self.store)[:300]}")
        finally:
            self.done.set()


class Readiness:
    """A process's store checks and the state it last logged (one per app: app.extensions["readiness"]).

    Checks run in checker threads fed by a queue: one thread, started on the first probe, serves them all (a
    hand-off costs ~40 us, starting a thread per probe ~120 us of CPU). A check still running after STALE_SECONDS
    gets a second thread, up to MAX_RUNNING; a thread that finds another one idle when it finishes ends."""

    def __init__(self):
        self.lock = threading.Lock()
        self._reset()
        self.failing: tuple | None = None  # the (part, why) pairs logged last; None: ready
        self.since = time.monotonic()

    def _reset(self) -> None:
        self.pid = os.getpid()
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.checkers = 0  # threads alive
        self.busy = 0  # of which running a check or about to take a queued one
        self.latest: _Check | None = None

    def store(self, store, budget: float) -> tuple[str, str, str]:
        """(state, why, detail): "ok", "error" or "timeout", a reason for the body, a clean detail for the log."""
        _shorten_connects(store)
        with self.lock:
            if self.pid != os.getpid():  # forked: the parent's checker threads do not exist here
                self._reset()
            check = self.latest
            if check is None or check.done.is_set() or check.store is not store or (
                    time.monotonic() - check.started > STALE_SECONDS and self.checkers < MAX_RUNNING):
                check = self.latest = _Check(store)
                if self.busy == self.checkers:  # none idle
                    self.checkers += 1
                    threading.Thread(target=self._serve, args=(self.jobs,), name="readyz-store-check",
                                     daemon=True).start()
                self.busy += 1
                self.jobs.put(check)
        if check.done.wait(budget):
            return check.result
        return ("timeout", f"the database did not answer within {budget:g} s",
                f"no answer to the check started {time.monotonic() - check.started:.1f} s ago, "
                f"{self.busy} check(s) running")

    def _serve(self, jobs: queue.SimpleQueue) -> None:
        _probing.active = True
        while True:
            check = jobs.get()
            check.run()
            with self.lock:
                if jobs is not self.jobs:
                    return
                self.busy -= 1
                if self.checkers - self.busy > 1:  # another thread is idle: one is enough
                    self.checkers -= 1
                    return

    def report(self, logger, failures: list) -> None:
        """Log a change of state: a warning when this process stops being ready (or fails differently), an info
        line when it is ready again. Nothing while the state stays the same."""
        state = tuple((part, why) for part, why, _ in failures) or None
        with self.lock:
            if state == self.failing:
                return
            previous, self.failing = self.failing, state
            lasted, self.since = time.monotonic() - self.since, time.monotonic()
        if state is None:
            logger.info("ready again after %.1f s not ready (%s)", lasted, "; ".join(f"{p}: {w}" for p, w in previous))
        else:
            logger.warning("not ready: %s", "; ".join(f"{part}: {why}" + (f" ({detail})" if detail else "")
                                                      for part, why, detail in failures))


def _message(exc: BaseException) -> str:
    """The driver's own message (SQLAlchemy's wrapper adds the statement and a link), first line. The caller bounds
    it after `_clean`: cut before, a password split by the cut would no longer be recognised."""
    inner = getattr(exc, "orig", None) or exc
    lines = str(inner).strip().splitlines()
    return lines[0] if lines else ""


def _on_connect(_dialect, _record, _cargs, cparams) -> None:
    if getattr(_probing, "active", False):
        cparams["connect_timeout"] = min(int(cparams.get("connect_timeout") or CONNECT_TIMEOUT_SECONDS),
                                         CONNECT_TIMEOUT_SECONDS)


def _shorten_connects(store) -> None:
    """Once per engine: connections the check opens to PostgreSQL (psycopg, psycopg2) give up within seconds."""
    engine = store.engine
    if engine.dialect.name == "postgresql" and engine.dialect.driver in ("psycopg", "psycopg2") \
            and not event.contains(engine, "do_connect", _on_connect):
        event.listen(engine, "do_connect", _on_connect)
