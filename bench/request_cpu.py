"""CPU per request, in process (`make bench BENCH=request_cpu`): what one /v1/moderate costs a worker, next to
/healthz, without wrk, sockets or gunicorn - so the figure is steady on a shared machine, where wall-clock
throughput is not.

The app is the production one (create_app with an API key, JSON access log on, written to var/bench/) driven
by Flask's test client with the bodies of `bench.serving` (article inline with id, title and body; eight
comments in turn, each made unique by a made-up word, under 100 article ids, so accepted ones join their thread as
in the wrk run). CPU time is `time.process_time` over
REQUESTS requests of each endpoint after a warm-up; then a cProfile of the /v1/moderate requests prints the
functions with the most cumulative time. REQUEST_CPU_REQUESTS and REQUEST_CPU_TOP change the counts (TOP 0: no
profile). It also times the off-topic score of one comment by the batch path and by the single-comment path the
service takes (moderation/relevance_one.py), checking that both give the same scores.
"""

from __future__ import annotations

import cProfile
import io
import logging
import os
import pstats
import tempfile
import time

from bench.serving import ARTICLE, ARTICLES, COMMENTS, KEY, ROOT, VAR, spell, unique_bodies
from bench._figures import records

REQUESTS = int(os.environ.get("REQUEST_CPU_REQUESTS", "2000"))
TOP = int(os.environ.get("REQUEST_CPU_TOP", "30"))


def make_client(db_path: str):
    from service import create_app

    app = create_app({"API_KEYS": KEY, "DATABASE_URL": f"sqlite:///{db_path}", "MODEL_POLL_SECONDS": 3600})
    return app.test_client()


def cpu_us(call, n: int) -> float:
    """Mean CPU microseconds of `call()` over n calls (after n // 10 warm-up calls)."""
    for _ in range(max(n // 10, 1)):
        call()
    start = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - start) / n * 1e6


def relevance_paths(app) -> None:
    """The off-topic score of one comment against its article's cached context, by the batch path
    (RelevanceModel.scores) and by the single-comment path the service takes (moderation/relevance_one.py),
    alternating, on the bench's comments: the same numbers, the CPU of each."""
    import numpy as np

    from moderation.relevance_one import score_one
    from service.articles import contexts

    model = app.extensions["moderator"].model.relevance
    cached = contexts(app).cache.get(f"{ARTICLE['id']}-0")
    if model is None or cached is None:
        return
    context, zero = cached[4], np.zeros(1, np.int64)
    batch = [model.scores([t], [context], zero)[0] for t in COMMENTS]
    single = [score_one(model, t, context) for t in COMMENTS]
    assert batch == single, (batch, single)
    times: dict = {"batch": [], "single": []}
    n = max(REQUESTS // len(COMMENTS), 1)
    for _ in range(3):
        for name, call in (("batch", lambda t: model.scores([t], [context], zero)),
                           ("single", lambda t: score_one(model, t, context))):
            times[name].append(cpu_us(lambda: [call(t) for t in COMMENTS], n) / len(COMMENTS))
    print(f"  relevance of one comment (thread of {context.thread_comments}), 3 alternating runs, same scores: "
          f"batch path {min(times['batch']):.0f}-{max(times['batch']):.0f} us, "
          f"single path {min(times['single']):.0f}-{max(times['single']):.0f} us")


@records("request_cpu")
def main() -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    log_path = VAR / "request_cpu-access.log"
    # As in the wrk bench: every comment different (a made-up word), under one of ARTICLES article ids.
    templates = unique_bodies(COMMENTS)
    bodies = [templates[n % len(templates)].replace("__N__", spell(n)).replace("__A__", str(n % ARTICLES)).encode()
              for n in range(3 * REQUESTS + REQUESTS // 5)]
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    with tempfile.TemporaryDirectory(dir=VAR) as tmp, open(log_path, "w") as log_file:
        client = make_client(os.path.join(tmp, "request_cpu.db"))
        root = logging.getLogger()
        for handler in root.handlers:  # the JSON access log goes to a file, as gunicorn's stderr would
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(log_file)
        counter = iter(range(10**9))

        def moderate():
            response = client.post("/v1/moderate", data=bodies[next(counter)], headers=headers)
            assert response.status_code == 200, response.get_data(as_text=True)

        def healthz():
            assert client.get("/healthz").status_code == 200

        health = cpu_us(healthz, REQUESTS)
        moderated = cpu_us(moderate, REQUESTS)
        print(f"CPU per request over {REQUESTS} requests (process_time, in process, test client):")
        print(f"  /healthz       {health:8.0f} us")
        print(f"  /v1/moderate   {moderated:8.0f} us")
        print(f"  healthz / moderate CPU ratio {health / moderated:.2f} (an upper bound of the wrk req/s ratio)")
        relevance_paths(client.application)
        if TOP <= 0:
            return
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(REQUESTS):
            moderate()
        profile.disable()
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.sort_stats("cumulative").print_stats(TOP)
        print(f"cProfile of {REQUESTS} /v1/moderate requests (cumulative; profiling inflates the times):")
        print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))
    print(f"access log: {log_path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
