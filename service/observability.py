"""Observability: request ids, one JSON log line per request, and Prometheus metrics at /metrics.

Under gunicorn every worker is its own process, so metrics use prometheus-client's multiprocess mode: the
gunicorn config sets PROMETHEUS_MULTIPROC_DIR (inside the project's var/) before this module is imported, each
worker writes its values to files there, and /metrics (served by whichever worker gets the scrape) adds them up.
Without that variable (tests, `flask run`) the process-local default registry is used.

Comment text never reaches the logs unless MODERATION_LOG_TEXT is set: logs are kept longer and read by more
people than the comments themselves.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from datetime import datetime, timezone

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess,
)

log = logging.getLogger("service.access")

bp = Blueprint("observability", __name__)

REQUEST_ID_HEADER = "X-Request-ID"
# A client's request id is echoed only if it is short and plain; anything else is replaced by a fresh one.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")

REQUESTS = Counter("moderation_http_requests_total", "HTTP requests answered, by endpoint and status.",
                   ["method", "endpoint", "status"])
LATENCY = Histogram("moderation_http_request_duration_seconds", "Time to answer a request, by endpoint.",
                    ["method", "endpoint"],
                    buckets=(0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
DECISIONS = Counter("moderation_decisions_total",
                    "Moderation decisions, by decision and reason (reason 'none' for a plain accept).",
                    ["decision", "reason"])
BATCH_SIZE = Histogram("moderation_batch_comments", "Comments per accepted batch request.",
                       buckets=(1, 10, 50, 100, 250, 500, 1000))
# 1 for every model version a live worker serves (two during a switch), by version.
MODEL_INFO = Gauge("moderation_model_info", "Model version served by live workers.", ["version"],
                   multiprocess_mode="livemax")

_served_version: dict[int, str] = {}
# (method, endpoint, status) -> the request counter's and latency histogram's children: labels() validates and
# looks them up on every call; the children are the same objects (their values follow a fork, as labels()'s do).
_children: dict[tuple, tuple] = {}
_decision_children: dict[tuple, object] = {}


class _Plain:
    code = "none"


_NO_REASON = (_Plain(),)  # a plain accept counts under reason "none"


def note_model_version(version: str) -> None:
    """Mark `version` as the one this process serves (cheap when unchanged; called per scoring request)."""
    pid = os.getpid()
    previous = _served_version.get(pid)
    if previous == version:
        return
    if previous is not None:
        MODEL_INFO.labels(version=previous).set(0)
    MODEL_INFO.labels(version=version).set(1)
    _served_version[pid] = version


def record_verdicts(verdicts) -> None:
    """Count decisions by type and reason; keep the first one's decision for the access log line."""
    for verdict in verdicts:
        for reason in (verdict.reasons or _NO_REASON):
            child = _decision_children.get((verdict.decision, reason.code))
            if child is None:  # decisions and reason codes are the policy's: a few dozen pairs
                child = _decision_children[(verdict.decision, reason.code)] = DECISIONS.labels(
                    decision=verdict.decision, reason=reason.code)
            child.inc()
    if verdicts:
        note_model_version(verdicts[0].model_version)
        g.decisions = [v.decision for v in verdicts]


def request_id() -> str | None:
    return getattr(g, "request_id", None)


# json.dumps(entry, ensure_ascii=False, default=str) builds an encoder per call; one encoder writes the same line.
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request id and any `extra` fields."""

    BASE = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in self.BASE and not k.startswith("_")})
        if "request_id" not in entry:
            try:
                rid = request_id()
            except RuntimeError:  # outside a request
                rid = None
            if rid:
                entry["request_id"] = rid
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _ENCODER.encode(entry)


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the whole process (gunicorn's own logger is set up alike in its config)."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.handlers = [handler]
    root.setLevel(level)


def _endpoint_label() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else "unmatched"


def _before() -> None:
    g.started = time.perf_counter()
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def _after(response: Response) -> Response:
    elapsed = time.perf_counter() - g.get("started", time.perf_counter())
    endpoint = _endpoint_label()
    children = _children.get((request.method, endpoint, response.status_code))
    if children is None:
        if len(_children) > 10_000:  # endpoints are the app's routes and "unmatched": bounded anyway
            _children.clear()
        children = _children[(request.method, endpoint, response.status_code)] = (
            REQUESTS.labels(method=request.method, endpoint=endpoint, status=str(response.status_code)),
            LATENCY.labels(method=request.method, endpoint=endpoint))
    children[0].inc()
    children[1].observe(elapsed)
    response.headers[REQUEST_ID_HEADER] = g.get("request_id") or uuid.uuid4().hex
    if current_app.config.get("ACCESS_LOG", True):
        fields = {"request_id": g.get("request_id"), "method": request.method, "path": request.path,
                  "status": response.status_code, "duration_ms": round(elapsed * 1000, 2),
                  "remote": request.remote_addr}
        if "decisions" in g:
            fields["decisions"] = g.decisions if len(g.decisions) > 1 else g.decisions[0]
        if current_app.config.get("LOG_TEXT") and "logged_text" in g:
            fields["text"] = g.logged_text
        log.info("request", extra=fields)
    return response


def remember_text(texts: list[str]) -> None:
    """Keep the comment text for the access log line, only when LOG_TEXT is configured."""
    if current_app.config.get("LOG_TEXT"):
        g.logged_text = texts if len(texts) > 1 else texts[0]


@bp.get("/metrics")
def metrics():
    """Prometheus text format: all workers' values under gunicorn, this process's otherwise."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY as registry
    store = CollectorRegistry()
    store.register(StoreCollector(current_app.extensions.get("store")))
    return Response(generate_latest(registry) + generate_latest(store), mimetype=None,
                    content_type=CONTENT_TYPE_LATEST)


class StoreCollector:
    """Read from the store at each scrape (one process answers, so no multiprocess files): whether it answers, the
    review queue - how many flagged comments wait for a moderator and how long the oldest has waited - and which
    reasons' holds are paused (service/policy_settings.py), so a forgotten pause can raise an alert."""

    def __init__(self, store):
        self.store = store

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily("moderation_store_up", "1 if the store answered this scrape's queries, else 0.")
        try:
            pending, oldest = self.store.queue_stats() if self.store is not None else (None, None)
        except Exception:  # noqa: BLE001 - a down store is what this metric reports, never a failed scrape
            logging.getLogger(__name__).warning("metrics: the store did not answer", exc_info=True)
            pending = oldest = None
        up.add_metric([], 0 if pending is None else 1)
        yield up
        if pending is None:
            return
        yield GaugeMetricFamily("moderation_review_queue_pending", "Flagged comments not reviewed yet.",
                                value=pending)
        age = 0.0 if oldest is None else max(0.0, time.time() - oldest.replace(
            tzinfo=oldest.tzinfo or timezone.utc).timestamp())
        yield GaugeMetricFamily("moderation_review_queue_oldest_seconds",
                                "How long the oldest flagged comment not reviewed yet has waited (0 when none).",
                                value=age)
        try:  # spam waves (service/waves.py)
            waves = self.store.wave_stats()
        except Exception:  # noqa: BLE001 - reported by moderation_store_up at the next scrape
            waves = None
        if waves is not None:
            yield GaugeMetricFamily("moderation_waves_open", "Waves (copies of one text held for review as one "
                                    "item) with two or more copies awaiting a moderator.", value=waves["open_waves"])
            yield GaugeMetricFamily("moderation_waves_decided", "Waves whose moderator's decision later copies get "
                                    "at once now.", value=waves["standing"])
            yield GaugeMetricFamily("moderation_review_queue_items", "Review-queue items awaiting a moderator (a "
                                    "wave's copies are one item).", value=waves["items"])
        try:
            settings = self.store.latest_policy_settings()
        except Exception:  # noqa: BLE001 - reported by moderation_store_up at the next scrape
            return
        from moderation.policy import REASON_CODES

        paused = set((settings or {}).get("settings", {}).get("paused") or [])
        family = GaugeMetricFamily("moderation_policy_paused", "1 while moderators have paused the holds of a reason "
                                   "(PUT /v1/policy, the review page's pause buttons).", labels=["reason"])
        for code in REASON_CODES:
            family.add_metric([code], 1 if code in paused else 0)
        yield family
        if settings is not None:
            changed = settings["changed_at"]
            yield GaugeMetricFamily("moderation_policy_settings_changed_timestamp_seconds",
                                    "When the policy settings in force were set (Unix time).",
                                    value=changed.replace(tzinfo=changed.tzinfo or timezone.utc).timestamp())


def init_app(app: Flask) -> None:
    app.before_request(_before)
    app.after_request(_after)
    app.register_blueprint(bp)
