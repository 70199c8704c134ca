"""Push delivery of the moderators' decisions: `python -m training deliver-reviews --url URL --secret-file PATH`.

For a site that prefers being called to polling `GET /v1/reviews`: a separate process reads the review events
from the store and POSTs them to the site's URL in batches, with the same JSON as a page of `GET /v1/reviews`
(`{"reviews": [...], "next": cursor, "has_more": bool}`).

- Signed: `X-Moderation-Timestamp` (Unix seconds) and `X-Moderation-Signature: v1=<hex>`, the HMAC-SHA256, keyed
  with the secret file's content, of `<timestamp>.<body bytes>`. The receiver recomputes it over the raw body,
  compares in constant time and refuses a timestamp more than a few minutes old (a replayed request).
- At least once: a batch counts as delivered when the site answers 2xx; only then is the cursor saved (written to
  a temporary file, synced, renamed over the state file, the folder synced). Killed at any point, the process
  starts again from the last saved cursor, so the site may see a batch twice (the events' `cursor` tells it),
  never miss one. Batches go out in cursor order, one at a time.
- Anything else than a 2xx (a connection error, a timeout, a 5xx, a 4xx: a misconfigured receiver, a redirect:
  point --url at the final address) is retried with
  exponential backoff and jitter, capped (`Retry-After` is honoured on 429 and 503), and logged; the cursor does
  not move past an undelivered event. With `--once` (cron) a batch still failing `--max-wait` seconds after its
  first attempt is given up: the command exits 1 saying which events are undelivered, the cursor before them.
- One deliverer per state file: a second one started by mistake exits at once (an exclusive lock on it).
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import random
import signal
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from moderation.store import Store, review_event_json

log = logging.getLogger("training.deliver")

SIGNATURE_HEADER = "X-Moderation-Signature"
TIMESTAMP_HEADER = "X-Moderation-Timestamp"
USER_AGENT = "moderation-deliver-reviews/1"


class DeliveryError(Exception):
    """A setup problem the operator must fix (secret file, state file, another deliverer running)."""


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header's value for a body sent at `timestamp`."""
    return "v1=" + hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, header: str, tolerance: float = 300,
           now: float | None = None) -> bool:
    """What a receiver checks (here for its authors and the tests): the signature, and a recent timestamp."""
    try:
        sent = float(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header or "")


def read_secret(path: Path) -> bytes:
    try:
        secret = Path(path).read_bytes().strip()
    except OSError as exc:
        raise DeliveryError(f"cannot read the secret file {path}: {exc.strerror}") from None
    if len(secret) < 16:
        raise DeliveryError(f"the secret in {path} is {len(secret)} bytes long: use at least 16 random bytes")
    return secret


def url_problem(url: str) -> str | None:
    """What is wrong with a destination URL (None when nothing is): urllib would raise at the first batch, or
    retry a URL no site can answer at as if the site were down."""
    import urllib.parse

    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "it contains a space or a control character (percent-encode it)"
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        return str(exc)
    if not parts.hostname:
        return "no host"
    return None


def default_state_path(project_root: Path, url: str) -> Path:
    """One state file per destination URL, under the project's var/."""
    return project_root / "var" / f"deliver-reviews-{hashlib.sha256(url.encode('utf-8')).hexdigest()[:16]}.json"


class State:
    """The cursor of the last acknowledged batch, in a JSON file replaced atomically; held under an exclusive lock
    (a `.lock` file beside it) while the process runs."""

    def __init__(self, path: Path, url: str):
        self.path, self.url = Path(path), url
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = open(self.path.with_name(self.path.name + ".lock"), "a")
        except OSError as exc:
            raise DeliveryError(f"cannot keep the state file {self.path}: {exc.strerror} ({exc.filename})") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise DeliveryError(f"another deliver-reviews process uses {self.path}") from None
        try:
            self.cursor = self._load()
        except DeliveryError:
            self.close()
            raise

    def _load(self) -> int:
        if not self.path.exists():
            return 0
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
            cursor = int(saved["cursor"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DeliveryError(f"{self.path} is not a deliver-reviews state file ({exc}); move it away "
                                "to start from the first event") from None
        if saved.get("url") not in (None, self.url):
            raise DeliveryError(f"{self.path} holds the cursor of {saved.get('url')}, not {self.url}: "
                                "give each destination its own --state")
        return cursor

    def save(self, cursor: int) -> None:
        """Durably: after it returns, a kill or a power loss leaves this cursor (or a later one) in the file."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump({"url": self.url, "cursor": cursor, "saved_at": time.time()}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        self.cursor = cursor

    def close(self) -> None:
        self._lock.close()


@dataclass
class Options:
    batch_size: int = 100
    interval: float = 2.0  # seconds between polls of the store when nothing is new
    timeout: float = 10.0  # per HTTP request
    backoff: float = 1.0  # first retry delay, doubled each time
    max_backoff: float = 60.0
    once: bool = False  # deliver what is there now, then return
    max_wait: float | None = None  # with `once`: give up on a batch still failing this long after its first attempt


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a failed delivery: urllib would follow a 301 / 302 / 303 as a GET without the body, and its 2xx
    would count as an acknowledgement of events the site never received."""

    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects())


def post(url: str, secret: bytes, body: bytes, timeout: float) -> tuple[int | None, str, float | None]:
    """POST one signed batch: (HTTP status or None when no answer came, what happened, Retry-After seconds)."""
    timestamp = str(int(time.time()))
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": USER_AGENT, TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body)})
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            answer.read()
            return answer.status, f"HTTP {answer.status}", None
    except urllib.error.HTTPError as exc:
        retry_after = exc.headers.get("Retry-After") if exc.headers else None
        try:
            wait = float(retry_after) if retry_after is not None else None
        except ValueError:
            wait = None
        return exc.code, f"HTTP {exc.code}", wait
    except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out, DNS
        return None, f"no answer ({getattr(exc, 'reason', exc)})", None


class Stop:
    """Set by SIGTERM / SIGINT: finish the current step, save nothing unacknowledged, return."""

    def __init__(self):
        self.requested = False

    def __call__(self, *_):
        self.requested = True


def deliver(store: Store, url: str, secret: bytes, state: State, options: Options,
            sleep: Callable[[float], None] = time.sleep, stop: Stop | None = None,
            clock: Callable[[], float] = time.monotonic) -> dict:
    """Deliver review events after the saved cursor until stopped (or, with `once`, until none is left).
    Returns what was done: batches and events acknowledged, failed attempts, the cursor; and `undelivered` (the
    batch's cursors, attempts, last error, seconds waited) when `once` gave up on a batch after `max_wait`."""
    stop = stop or Stop()
    done = {"batches": 0, "events": 0, "failed_attempts": 0, "cursor": state.cursor}
    while not stop.requested:
        rows = store.review_events(state.cursor, options.batch_size + 1)
        if not rows:
            if options.once:
                break
            sleep(options.interval)
            continue
        events = [review_event_json(row) for row in rows[:options.batch_size]]
        last = events[-1]["cursor"]
        body = json.dumps({"reviews": events, "next": last, "has_more": len(rows) > options.batch_size},
                          separators=(",", ":")).encode("utf-8")
        attempt, first_try = 0, clock()
        while not stop.requested:
            status, what, retry_after = post(url, secret, body, options.timeout)
            if status is not None and 200 <= status < 300:
                state.save(last)
                done["batches"] += 1
                done["events"] += len(events)
                done["cursor"] = last
                log.info("delivered %d review(s), cursor %d", len(events), last)
                break
            attempt += 1
            done["failed_attempts"] += 1
            delay = min(options.max_backoff, options.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            if retry_after is not None and status in (429, 503):
                delay = min(max(delay, retry_after), options.max_backoff)
            waited = clock() - first_try
            if options.once and options.max_wait is not None and waited + delay > options.max_wait:
                log.error("delivery of cursors %d-%d failed (%s, attempt %d); giving up after %.1f s",
                          events[0]["cursor"], last, what, attempt, waited)
                done["undelivered"] = {"cursors": [events[0]["cursor"], last], "attempts": attempt,
                                       "last_error": what, "waited_s": round(waited, 3)}
                return done
            log.warning("delivery of cursors %d-%d failed (%s, attempt %d); retrying in %.1f s",
                        events[0]["cursor"], last, what, attempt, delay)
            sleep(delay)
    return done


def run(store: Store, url: str, secret_file: Path, state_path: Path, options: Options) -> dict:
    """The CLI command, on the store it opened: set up, deliver until SIGTERM / SIGINT (or `once`), clean up (the
    store is disposed of in every case)."""
    try:
        secret = read_secret(secret_file)
        state = State(state_path, url)
    except DeliveryError:
        store.dispose()
        raise
    stop = Stop()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        log.info("delivering reviews after cursor %d to %s", state.cursor, url)
        return deliver(store, url, secret, state, options, stop=stop, sleep=_sleeper(stop))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        store.dispose()
        state.close()


def _sleeper(stop: Stop) -> Callable[[float], None]:
    """time.sleep that returns early (within 0.1 s) once a stop is requested."""
    def sleep(seconds: float) -> None:
        end = time.monotonic() + seconds
        while not stop.requested and time.monotonic() < end:
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))
    return sleep
