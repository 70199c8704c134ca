"""`python -m training deliver-reviews`: the review events pushed to a site's URL, signed, in order, at least once,
retried with backoff, the cursor saved after each acknowledged batch, safe to kill and restart. Against a local
HTTP server standing for the site."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from moderation.store import Store
from training import deliver
from training.__main__ import cli

PROJECT = Path(__file__).resolve().parent.parent
SECRET = b"s3cret-shared-with-the-site-0123456789"
FLAGGED = dict(decision="flag", spam=0.6, off_topic=None, reasons=[{"code": "spam", "message": "Spam"}],
               model_version="v1", article_id="mosul")


class Site:
    """A receiver: records every request (verified signature, body), answers from a script of statuses (then
    200), and can hold the answer to the n-th request until released."""

    def __init__(self, statuses=(), hold_request: int | None = None):
        self.statuses, self.hold_request = list(statuses), hold_request
        self.requests: list[dict] = []
        self.held, self.release = threading.Event(), threading.Event()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                site.requests.append({
                    "valid": deliver.verify(SECRET, self.headers[deliver.TIMESTAMP_HEADER], body,
                                            self.headers[deliver.SIGNATURE_HEADER]),
                    "body": json.loads(body)})
                if len(site.requests) == site.hold_request:
                    site.held.set()
                    site.release.wait(30)
                status = site.statuses.pop(0) if site.statuses else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", site.url)
                if status in (429, 503):
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):  # noqa: N802 - what a followed redirect would become: a GET without the events
                site.requests.append({"valid": False, "body": {"reviews": []}, "method": "GET"})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/moderation"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def batches(self) -> list[list[int]]:
        return [[e["cursor"] for e in r["body"]["reviews"]] for r in self.requests]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def reviewed(tmp_path):
    """A store with five reviewed held comments: (url, store, their cursors in order)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = Store(url)
    store.record_moderation([], [{**FLAGGED, "text": f"held {n}", "comment_id": f"c{n}"} for n in range(5)])
    for item in sorted(store.review_queue(), key=lambda item: item["id"]):
        store.review_decision(item["id"], "ham" if item["id"] % 2 else "spam")
    return url, store, [e["id"] for e in store.review_events()]


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def test_batches_are_signed_in_order_retried_and_the_cursor_saved_after_each_ack(reviewed, tmp_path):
    url, store, cursors = reviewed
    site = Site(statuses=[500, 429, 302, 404])  # the first batch fails four times (a redirect, a 4xx too)
    waits = []
    state = deliver.State(tmp_path / "state.json", site.url)
    options = deliver.Options(batch_size=2, backoff=1.0, max_backoff=8.0, once=True)
    try:
        done = deliver.deliver(store, site.url, SECRET, state, options, sleep=waits.append)
        assert done == {"batches": 3, "events": 5, "failed_attempts": 4, "cursor": cursors[-1]}
        assert site.batches() == [cursors[:2]] * 5 + [cursors[2:4], cursors[4:]]
        assert all(r["valid"] for r in site.requests)
        assert [r["body"]["has_more"] for r in site.requests[4:]] == [True, True, False]
        first = site.requests[0]["body"]["reviews"][0]
        assert set(first) == {"cursor", "comment_id", "article_id", "outcome", "label", "reviewed_at",
                              "decision_id", "model_version"} and first["comment_id"] == "c0"
        # Backoff: 1, 2, 4, 8 s (halved at most by the jitter), but Retry-After 0 of the 429 does not shorten it.
        assert 0.5 <= waits[0] <= 1 and 1 <= waits[1] <= 2 and 2 <= waits[2] <= 4 and 4 <= waits[3] <= 8
        assert json.loads((tmp_path / "state.json").read_text())["cursor"] == cursors[-1]

        again = deliver.deliver(store, site.url, SECRET, state, options, sleep=waits.append)
        assert again["batches"] == 0 and len(site.requests) == 7  # nothing new, nothing sent
        store.record_moderation([], [{**FLAGGED, "text": "late", "comment_id": "late"}])
        store.review_decision(store.review_queue()[0]["id"], "spam")
        deliver.deliver(store, site.url, SECRET, state, options, sleep=waits.append)
        assert [e["comment_id"] for e in site.requests[-1]["body"]["reviews"]] == ["late"]
    finally:
        state.close()
        site.close()


def test_an_unreachable_site_moves_no_cursor_and_a_second_deliverer_is_refused(reviewed, tmp_path):
    url, store, cursors = reviewed
    site = Site()
    dead = site.url
    site.close()  # nothing listens there any more
    state = deliver.State(tmp_path / "state.json", dead)
    with pytest.raises(deliver.DeliveryError, match="another deliver-reviews process"):
        deliver.State(tmp_path / "state.json", dead)
    stop = deliver.Stop()
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        if len(waits) == 6:
            stop()

    done = deliver.deliver(store, dead, SECRET, state, deliver.Options(backoff=1, max_backoff=5), sleep=sleep,
                           stop=stop)
    assert done["failed_attempts"] == 6 and done["batches"] == 0 and state.cursor == 0
    assert not (tmp_path / "state.json").exists()
    assert max(waits) <= 5  # capped
    state.close()
    saved = deliver.State(tmp_path / "state.json", dead)
    saved.save(3)
    saved.close()
    with pytest.raises(deliver.DeliveryError, match="give each destination its own"):
        deliver.State(tmp_path / "state.json", "http://127.0.0.1:9/elsewhere")
    deliver.State(tmp_path / "state.json", dead).close()  # a refused start left no lock behind


def test_signatures_fail_for_another_body_secret_or_an_old_timestamp():
    body, stamp = b'{"reviews":[]}', str(int(time.time()))
    header = deliver.signature(SECRET, stamp, body)
    assert deliver.verify(SECRET, stamp, body, header)
    assert not deliver.verify(SECRET, stamp, body + b" ", header)
    assert not deliver.verify(b"another secret of some length", stamp, body, header)
    old = str(int(time.time()) - 3600)
    assert not deliver.verify(SECRET, old, body, deliver.signature(SECRET, old, body))
    assert not deliver.verify(SECRET, "soon", body, header)


def test_killed_mid_delivery_it_restarts_from_the_last_acknowledged_batch(reviewed, tmp_path):
    """The process is SIGKILLed while the site holds its answer to the second batch: the saved cursor is the first
    batch's end; restarted, it sends the second batch again (at least once) and the rest, nothing skipped."""
    url, store, cursors = reviewed
    site = Site(hold_request=2)
    secret_file, state_file = tmp_path / "secret", tmp_path / "state.json"
    secret_file.write_bytes(SECRET + b"\n")
    args = ["deliver-reviews", "--database", url, "--url", site.url, "--secret-file", str(secret_file),
            "--state", str(state_file), "--batch-size", "2", "--interval", "0.05"]
    try:
        process = subprocess.Popen([sys.executable, "-m", "training", *args], cwd=PROJECT,
                                   stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, "no_proxy": "127.0.0.1,localhost"})
        try:
            assert site.held.wait(60), process.stderr.read() if process.poll() is not None else "no request"
            process.send_signal(signal.SIGKILL)
            assert process.wait(30) == -signal.SIGKILL
        finally:
            if process.poll() is None:
                process.kill()
        assert json.loads(state_file.read_text())["cursor"] == cursors[1]
        site.release.set()

        result = CliRunner().invoke(cli, [*args, "--once"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert json.loads(result.output.splitlines()[-1]) == {"batches": 2, "events": 3, "failed_attempts": 0,
                                                              "cursor": cursors[-1]}
        assert site.batches() == [cursors[:2], cursors[2:4], cursors[2:4], cursors[4:]]
        assert all(r["valid"] for r in site.requests)
    finally:
        site.close()


def test_the_command_refuses_a_bad_setup_with_a_message(tmp_path, reviewed):
    url, _, _ = reviewed
    short = tmp_path / "short"
    short.write_text("abc\n")
    run = lambda *args: CliRunner().invoke(cli, ["deliver-reviews", "--database", url, *args])
    missing = run("--url", "http://127.0.0.1:9/", "--secret-file", str(tmp_path / "none"), "--once")
    assert missing.exit_code == 2 and "cannot read the secret file" in missing.output
    weak = run("--url", "http://127.0.0.1:9/", "--secret-file", str(short), "--once")
    assert weak.exit_code == 2 and "at least 16" in weak.output
    scheme = run("--url", "ftp://example/", "--secret-file", str(short), "--once")
    assert scheme.exit_code == 2 and "http://" in scheme.output


def test_once_gives_up_on_a_failing_batch_after_max_wait_keeping_its_cursor(reviewed, tmp_path):
    """`--once` (cron) must end: a batch still failing `max_wait` seconds after its first attempt is given up,
    the batches before it stay delivered, the cursor does not pass it, and the result says what is undelivered."""
    url, store, cursors = reviewed
    site = Site(statuses=[200] + [503] * 100)  # the first batch goes through, then the site is down
    clock = [0.0]

    def sleep(seconds):
        clock[0] += seconds

    state = deliver.State(tmp_path / "state.json", site.url)
    options = deliver.Options(batch_size=2, backoff=1.0, max_backoff=8.0, once=True, max_wait=30.0)
    try:
        done = deliver.deliver(store, site.url, SECRET, state, options, sleep=sleep, clock=lambda: clock[0])
    finally:
        state.close()
        site.close()
    assert done["batches"] == 1 and done["cursor"] == cursors[1] == state.cursor
    assert json.loads((tmp_path / "state.json").read_text())["cursor"] == cursors[1]
    gave_up = done["undelivered"]
    assert gave_up["cursors"] == [cursors[2], cursors[3]] and gave_up["last_error"] == "HTTP 503"
    assert gave_up["attempts"] == done["failed_attempts"] == len(site.requests) - 1 >= 4
    assert clock[0] <= 30.0 and gave_up["waited_s"] == round(clock[0], 3)  # never sleeps past the budget


def test_the_once_command_exits_non_zero_when_the_site_stays_down(reviewed, tmp_path):
    url, _, cursors = reviewed
    site = Site()
    dead = site.url
    site.close()
    secret_file, state_file = tmp_path / "secret", tmp_path / "state.json"
    secret_file.write_bytes(SECRET)
    args = ["deliver-reviews", "--database", url, "--url", dead, "--secret-file", str(secret_file),
            "--state", str(state_file)]
    started = time.monotonic()
    result = CliRunner().invoke(cli, [*args, "--once", "--max-wait", "1.5"])
    assert result.exit_code == 1, result.output
    assert time.monotonic() - started < 10
    assert f"gave up on review events {cursors[0]}-" in result.output and "no answer" in result.output
    assert "cursor stays at 0" in result.output and not state_file.exists()
    assert json.loads(result.stdout.splitlines()[-1])["batches"] == 0
    refused = CliRunner().invoke(cli, [*args, "--max-wait", "5"])  # without --once it runs until stopped
    assert refused.exit_code == 2 and "--max-wait" in refused.output


@pytest.mark.parametrize("bad", ["http://exa mple.com/hook", "http://[::1/hook", "http://", "https://:443/hook",
                                 "http://example.com:99999/hook"])
def test_a_malformed_url_is_refused_before_anything_is_sent(reviewed, tmp_path, bad):
    """(A space or a broken IPv6 host was an InvalidURL / ValueError traceback at the first batch; no host or an
    impossible port was retried as an unreachable site, forever without --once.)"""
    url, _, _ = reviewed
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    result = CliRunner().invoke(cli, ["deliver-reviews", "--database", url, "--url", bad, "--secret-file",
                                      str(secret), "--state", str(tmp_path / "state.json"), "--once"])
    assert result.exit_code == 2, (result.exception, result.output)
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: --url ")
    assert "not a valid URL" in result.stderr or "URL with a host" in result.stderr
    assert not (tmp_path / "state.json").exists()


def test_an_unusable_store_or_state_folder_is_one_error_line(reviewed, tmp_path):
    """(Both were tracebacks: SQLAlchemy's for the store, FileExistsError for the state file's folder.)"""
    url, _, _ = reviewed
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    (tmp_path / "file").write_text("a file, not a folder")
    for database, state in (("nonsense", tmp_path / "state.json"),
                            ("postgresql://reader:s3cret-pw@127.0.0.1:1/cms", tmp_path / "state.json"),
                            (url, tmp_path / "file" / "state.json")):
        result = CliRunner().invoke(cli, ["deliver-reviews", "--database", database, "--url", "http://127.0.0.1:9/",
                                          "--secret-file", str(secret), "--state", str(state), "--once"])
        assert result.exit_code == 2, (database, state, result.exception, result.output)
        assert result.stderr.strip().splitlines() == [result.stderr.strip()]
        assert result.stderr.startswith("error: ") and "s3cret-pw" not in result.stderr
    # the lock of a refused run is released: a good run goes on
    site_down = CliRunner().invoke(cli, ["deliver-reviews", "--database", url, "--url", "http://127.0.0.1:9/",
                                         "--secret-file", str(secret), "--state", str(tmp_path / "state.json"),
                                         "--once", "--max-wait", "0"])
    assert site_down.exit_code == 1 and "gave up" in site_down.stderr


@pytest.mark.parametrize("option", ["--timeout", "--interval", "--max-backoff", "--max-wait"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_time_option_that_is_not_a_finite_number_is_a_usage_error(reviewed, tmp_path, option, value):
    """(--timeout nan was a ValueError traceback; --max-wait nan made --once retry a site down for ever.)"""
    url, _, _ = reviewed
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    result = CliRunner().invoke(cli, ["deliver-reviews", "--database", url, "--url", "http://127.0.0.1:9/",
                                      "--secret-file", str(secret), "--state", str(tmp_path / "state.json"),
                                      "--once", option, value])
    assert result.exit_code == 2 and f"'{option}'" in result.output, (result.exception, result.output)
