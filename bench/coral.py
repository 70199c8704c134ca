"""What the Coral endpoint costs next to /v1/moderate (`make bench BENCH=coral`), in process.

Coral waits for an external moderation phase only as long as the phase's timeout (a few hundred ms, set in its
admin) and goes on without an answer after it, so the figure that matters is the time of one request. The app is
the production one (create_app with an API key and a Coral signing secret, JSON access log on, written to
var/bench/) driven by Flask's test client; the articles are stored first (`PUT /v1/articles/<id>`, as a CMS does
for Coral's story ids). The same comments as bench.serving, each made unique by a made-up word, under 100 story
ids, alternate between the two endpoints: `/v1/moderate` with `comment_id` and the article id, and
`/coral/v1/moderate` with Coral's whole request (HTML body, author, story, site), signed. Reported: CPU
microseconds per request (`time.process_time`) and wall-clock p50 / p99 per request, best of CORAL_ROUNDS
(default 3) rounds of CORAL_REQUESTS (default 1000) requests each.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import tempfile
import time

from bench.serving import ARTICLE, ARTICLES, COMMENTS, KEY, ROOT, VAR, spell
from bench._figures import records

REQUESTS = int(os.environ.get("CORAL_REQUESTS", "1000"))
ROUNDS = int(os.environ.get("CORAL_ROUNDS", "3"))
SECRET = b"ssc_bench-signing-secret"


def bodies(n: int) -> tuple[list[bytes], list[tuple[bytes, str]]]:
    """n requests of each endpoint: the same comment, comment id and article id in both."""
    plain, coral = [], []
    for i in range(n):
        text, story = f"{COMMENTS[i % len(COMMENTS)]} {spell(i)}", f"{ARTICLE['id']}-{i % ARTICLES}"
        plain.append(json.dumps({"text": text, "article": {"id": story}, "comment_id": f"v1-{i}"}).encode())
        raw = json.dumps({"action": "NEW", "comment": {"id": f"coral-{i}", "parentID": None, "body": f"<p>{text}</p>"},
                          "author": {"id": "u-1", "role": "COMMENTER", "createdAt": "2026-11-26T04:00:00.000Z"},
                          "story": {"id": story, "url": f"https://news.example/{story}"}, "site": {"id": "site-1"},
                          "tenantID": "tenant-1", "tenantDomain": "news.example"}).encode()
        coral.append((raw, "sha256=" + hmac.new(SECRET, raw, hashlib.sha256).hexdigest()))
    return plain, coral


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@records("coral")
def main() -> None:
    from service import create_app

    VAR.mkdir(parents=True, exist_ok=True)
    log_path = VAR / "coral-access.log"
    warm, checked = REQUESTS // 10, 200
    plain, coral = bodies(warm + ROUNDS * REQUESTS + checked)
    auth = {"Authorization": f"Bearer {KEY}"}
    with tempfile.TemporaryDirectory(dir=VAR) as tmp, open(log_path, "w") as log_file:
        app = create_app({"API_KEYS": KEY, "CORAL_SIGNING_SECRETS": SECRET.decode(), "MODEL_POLL_SECONDS": 3600,
                          "DATABASE_URL": f"sqlite:///{os.path.join(tmp, 'coral.db')}"})
        client = app.test_client()
        for handler in logging.getLogger().handlers:  # the access log to a file, as gunicorn's stderr would
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(log_file)
        for a in range(ARTICLES):
            client.put(f"/v1/articles/{ARTICLE['id']}-{a}", json={"title": ARTICLE["title"], "body": ARTICLE["body"]},
                       headers=auth)

        def v1(i):
            response = client.post("/v1/moderate", data=plain[i], headers=auth, content_type="application/json")
            assert response.status_code == 200, response.get_data(as_text=True)
            return response.json["decision"]

        def coral_call(i):
            raw, signature = coral[i]
            response = client.post("/coral/v1/moderate", data=raw, content_type="application/json",
                                   headers={"X-Coral-Signature": signature})
            assert response.status_code == 200, response.get_data(as_text=True)
            return response.headers["X-Moderation-Decision"]

        for i in range(warm):
            v1(i), coral_call(i)
        results: dict = {"/v1/moderate": [], "/coral/v1/moderate": []}
        for r in range(ROUNDS):
            for name, call in (("/v1/moderate", v1), ("/coral/v1/moderate", coral_call)):
                start_cpu, walls = time.process_time(), []
                for i in range(warm + r * REQUESTS, warm + (r + 1) * REQUESTS):
                    start = time.perf_counter()
                    call(i)
                    walls.append(time.perf_counter() - start)
                cpu = (time.process_time() - start_cpu) / REQUESTS
                results[name].append((cpu, percentile(walls, 0.5), percentile(walls, 0.99), max(walls)))
        first = warm + ROUNDS * REQUESTS
        agree = sum(coral_call(i) == v1(i) for i in range(first, first + checked))
        print(f"in process, test client, {ROUNDS} rounds x {REQUESTS} requests per endpoint, alternated "
              f"(best round by CPU):")
        for name, rows in results.items():
            cpu, p50, p99, worst = min(rows)
            print(f"  {name:20s} CPU {cpu * 1e6:6.0f} us/request   wall p50 {p50 * 1e3:5.2f} ms   "
                  f"p99 {p99 * 1e3:5.2f} ms   max {worst * 1e3:6.2f} ms")
        print(f"  the same decision from both endpoints (Coral's first): {agree} of {checked} comments")
    print(f"access log: {log_path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
