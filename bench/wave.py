"""A spam wave against a real gunicorn (`make bench BENCH=wave`): one text posted again and again under many
articles, each copy with a new comment id, beside normal traffic and /healthz, all in one run:

1. /healthz, normal traffic (each request a new on-topic comment under one of 200 stored articles, with its own
   comment id: accepted comments join their article's thread, so every comment is written) and a wave (one text,
   flagged from its 3rd copy by the `repeat` rule), in alternating 8-s phases: req/s, p99;
2. the review queue after the wave: items, and the wave's count;
3. one moderator's decision (`POST /v1/feedback` with the wave item's decision_id): every held copy reviewed, one
   review event per comment id in GET /v1/reviews, the next copy rejected at once (`wave_decided`);
4. the wave paced at half of normal traffic's maximum rate: p99;
5. a new wave with one worker SIGKILLed 3 s into 8 s of load, while a checker sends copies of its own and a
   moderator decides the wave: failed requests, and whether every acknowledged answer (held copy, decision) is in
   the store afterwards.

The server is the production configuration (service/gunicorn.conf.py, keys set, a fresh SQLite store in
var/bench/wave.db), on a free loopback port; wrk drives the load (bench/serving.py's script). The table is also
written to docs/figures/wave.md. The CPU is shared: the load average is printed with the figures.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import serving
from bench.serving import ROOT, VAR, combine, ensure_wrk, free_port, request, stop_server, workers

KEY, ADMIN = "bench-wave-key", "bench-wave-admin"
THREADS, CONNECTIONS = 2, 8
PHASE_SECONDS, ROUNDS, KILL_SECONDS, KILL_AT = 8, 2, 8, 3.0
ARTICLES = 200
GOALS = {"wave_vs_normal": 0.5, "normal_vs_health": 0.45, "p99_ms": 50.0, "queue_items": 3, "failed_pct": 0.1}
FIGURES = ROOT / "docs" / "figures" / "wave.md"

# Article a-N is about TOPICS[N % 4] and the comment of request n (bodies[n % 8] under article a-(n % 200)) is about
# TOPICS[n % 4] too: 200 is a multiple of 4, so every comment is posted under an article of its own topic.
TOPICS = [("City council approves new budget after long debate",
           "The council voted 7-4 on Tuesday to approve the budget, which adds bus routes and cuts library hours. "
           "The mayor said the vote was closer than expected."),
          ("Storm floods the river district, hundreds evacuated",
           "Heavy rain overnight pushed the river over its banks. Firefighters evacuated hundreds of homes and the "
           "city opened two shelters in school gyms."),
          ("School board delays the new start times by a year",
           "After complaints from parents about bus schedules, the school board voted to delay later start times "
           "for high schools until next autumn."),
          ("Local team wins the regional football final in extra time",
           "The home side came back from two goals down and won 3-2 in extra time. The coach praised the young "
           "goalkeeper, who saved a penalty in the last minute.")]
ON_TOPIC = [
    "The council should have kept the library hours; the bus routes could wait a year.",
    "Our street flooded too, the shelters at the school gyms were well run by the firefighters.",
    "Later start times would help teenagers sleep, but the bus schedules really are a mess for parents.",
    "What a comeback in extra time, that young goalkeeper saved the final with the penalty.",
    "7-4 is hardly close. The budget vote shows the council listened to the bus riders.",
    "The river floods every few years and the city still has not fixed the levee near the district.",
    "Delaying the start times a year is sensible if the school board fixes the bus routes first.",
    "Two goals down and still winning 3-2, the coach deserves credit for the changes at half time.",
]
WAVE_TEXT = "Earn $400 a day working from home, no experience needed, message me on the chat app today!!!"
KILL_TEXT = "Vote NO on Proposition 5, the council is lying to you about what the new stadium will cost"


def start(port: int, log_path: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS_")}
    env.update(HOST="127.0.0.1", PORT=str(port), MODERATION_API_KEYS=KEY, MODERATION_ADMIN_KEYS=ADMIN,
               MODERATION_DATABASE_URL=f"sqlite:///{VAR / 'wave.db'}")
    log = open(log_path, "w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "service/gunicorn.conf.py",
                             "service:create_app()"], cwd=ROOT, env=env, stdout=log, stderr=log,
                            start_new_session=True)
    return serving.wait_ready(proc, port, log_path)


def call(port: int, method: str, path: str, body=None, admin: bool = False) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {ADMIN if admin else KEY}", "Content-Type": "application/json"}
    status, content, _ = request(port, method, path, json.dumps(body).encode() if body is not None else None,
                                 headers)
    try:
        return status, json.loads(content or b"{}")
    except ValueError:
        return status, {}


def wrk(binary: str, port: int, path: str, seconds: float, bodies=(), method: str = "GET",
        connections: int = CONNECTIONS, pause_ms: int = 0) -> dict:
    """One wrk run with bench/serving.py's script, this bench's key and articles."""
    return serving.wrk(binary, port, path, seconds, connections, bodies, method, pause_ms, key=KEY, articles=ARTICLES)


def normal_bodies() -> list[str]:
    return [json.dumps({"text": f"{text} __N__", "article": {"id": "a-__A__"}, "comment_id": "n-__N__"})
            for text in ON_TOPIC]


def wave_bodies(text: str, tag: str) -> list[str]:
    return [json.dumps({"text": text, "article": {"id": "a-__A__"}, "comment_id": f"{tag}-__N__"})]


def wave_item(port: int) -> tuple[int, dict | None, dict]:
    """(queue items, the biggest wave item, the queue answer)."""
    status, queue = call(port, "GET", "/v1/review-queue?limit=100", admin=True)
    assert status == 200, queue
    waves = [i for i in queue["items"] if i.get("wave")]
    return queue["pending_items"], max(waves, key=lambda i: i["wave"]["count"], default=None), queue


def events_after(port: int, cursor: int) -> tuple[list[dict], int]:
    found = []
    while True:
        status, page = call(port, "GET", f"/v1/reviews?after={cursor}&limit=1000")
        assert status == 200, page
        found += page["reviews"]
        cursor = page["next"]
        if not page["has_more"]:
            return found, cursor


def checker(port: int, stop: threading.Event, log: dict) -> None:
    """Copies of the kill-phase wave with known comment ids, one at a time, and the answers acknowledged."""
    n = 0
    while not stop.is_set():
        n += 1
        comment_id = f"check-{n}"
        try:
            status, answer = call(port, "POST", "/v1/moderate", {"text": KILL_TEXT, "article": {"id": f"a-{n % 7}"},
                                                                  "comment_id": comment_id})
        except OSError:
            status, answer = 0, {}
        log.setdefault("sent", []).append(comment_id)
        if status == 200:
            log.setdefault("acknowledged", {})[comment_id] = answer["decision"]
        time.sleep(0.01)


def main() -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        (VAR / f"wave.db{suffix}").unlink(missing_ok=True)
    binary = ensure_wrk()
    port = int(os.environ.get("BENCH_PORT") or free_port())
    load_before = os.getloadavg()
    server = start(port, VAR / "wave-gunicorn.log")
    try:
        for n in range(ARTICLES):
            title, body = TOPICS[n % len(TOPICS)]
            status, _ = call(port, "PUT", f"/v1/articles/a-{n}", {"title": title, "body": body})
            assert status in (200, 201), status
        print(f"gunicorn pid {server.pid} on 127.0.0.1:{port}, workers {workers(server.pid)}; wrk -t{THREADS} "
              f"-c{CONNECTIONS}, {PHASE_SECONDS}-s phases; {ARTICLES} articles; load average before "
              f"{load_before[0]:.2f}", flush=True)
        wrk(binary, port, "/v1/moderate", 2, normal_bodies(), "POST")  # warm-up
        health, normal, wave = [], [], []
        for round_ in range(ROUNDS):  # alternated, so a burst of other load on the machine hits all three alike
            health.append(wrk(binary, port, "/healthz", PHASE_SECONDS / ROUNDS))
            normal.append(wrk(binary, port, "/v1/moderate", PHASE_SECONDS / ROUNDS, normal_bodies(), "POST"))
            wave.append(wrk(binary, port, "/v1/moderate", PHASE_SECONDS / ROUNDS, wave_bodies(WAVE_TEXT, "w"),
                            "POST"))
            print(f"round {round_ + 1}: /healthz {health[-1]['rps']:.0f}, normal {normal[-1]['rps']:.0f}, "
                  f"wave {wave[-1]['rps']:.0f} req/s", flush=True)
        health, normal, wave = combine(health), combine(normal), combine(wave)

        items, item, _ = wave_item(port)
        held = item["wave"]["count"] if item else 0
        cursor_before = events_after(port, 0)[1]
        status, decided = call(port, "POST", "/v1/feedback", {"text": WAVE_TEXT, "label": "spam",
                                                               "decision_id": item["decision_id"],
                                                               "moderator": "bench"}, admin=True)
        assert status == 201, decided
        events, _ = events_after(port, cursor_before)
        ids = {e["comment_id"] for e in events}
        items_after, _, _ = wave_item(port)
        status, later = call(port, "POST", "/v1/moderate", {"text": WAVE_TEXT, "article": {"id": "a-1"},
                                                             "comment_id": "after-decision"})
        later_ok = status == 200 and later["decision"] == "reject" and later["reasons"][0]["code"] == "wave_decided"
        # copies answered as held up to the decision, some after the queue was read: all reviewed, one event each
        cleared = decided["reviewed"] >= held and len(events) == decided["reviewed"] == len(ids) \
            and items_after < items

        # the decided wave at half of normal traffic's maximum rate: every copy rejected at once
        target = max(normal["rps"] * 0.5, 1.0)
        steady_connections = 4
        pause = max(int(steady_connections * 1000 / target), 1)
        steady = wrk(binary, port, "/v1/moderate", PHASE_SECONDS, wave_bodies(WAVE_TEXT, "s"), "POST",
                     connections=steady_connections, pause_ms=pause)
        # and a new wave (held copies, the writing path) at the same rate
        steady_held = wrk(binary, port, "/v1/moderate", PHASE_SECONDS, wave_bodies(KILL_TEXT + " today", "h"),
                          "POST", connections=steady_connections, pause_ms=pause)

        # a new wave; one worker SIGKILLed during it; a checker's copies and a moderator's decision acknowledged
        stop, log = threading.Event(), {}
        check = threading.Thread(target=checker, args=(port, stop, log))
        victim: list = []
        decision: dict = {}

        def kill_and_decide():
            time.sleep(KILL_AT - 1)
            _, found, _ = wave_item(port)
            time.sleep(1)
            pids = workers(server.pid)
            if pids:
                victim.append(pids[0])
                os.kill(pids[0], signal.SIGKILL)
            if found is not None:  # decided while the killed worker is being replaced
                decision["status"], decision["answer"] = call(port, "POST", "/v1/feedback", {
                    "text": KILL_TEXT, "label": "spam", "decision_id": found["decision_id"]}, admin=True)
                decision["copy"] = found["comment_id"]

        killer = threading.Thread(target=kill_and_decide)
        check.start()
        killer.start()
        kill_run = wrk(binary, port, "/v1/moderate", KILL_SECONDS, wave_bodies(KILL_TEXT, "k"), "POST")
        stop.set()
        killer.join()
        check.join()
        failed = kill_run["socket_errors"] + kill_run["status"]
        attempted = kill_run["requests"] + kill_run["socket_errors"]
        failed_pct = 100.0 * failed / max(attempted, 1)
        # every acknowledged held copy is in the store (its review-log row; reviewed with the wave or pending)
        lost = []
        for comment_id, answer in log.get("acknowledged", {}).items():
            if answer == "flag":
                status, records = call(port, "GET", f"/v1/comments/{comment_id}", admin=True)
                if status != 200 or not records.get("flagged"):
                    lost.append(comment_id)
        decision_kept = None
        if decision.get("status") == 201:
            status, records = call(port, "GET", f"/v1/comments/{decision['copy']}", admin=True)
            decision_kept = status == 200 and any(r["label"] == "spam" for r in records.get("reviews", []))
        alive = request(port, "GET", "/readyz")[0] == 200
    finally:
        stop_server(server)
    load_after = os.getloadavg()

    def mark(ok: bool) -> str:
        return "met" if ok else "NOT met"

    held_acks = sum(1 for a in log.get("acknowledged", {}).values() if a == "flag")
    rows = [
        ("/healthz req/s", "", f"{health['rps']:.0f} (p99 {health['p99_us'] / 1000:.1f} ms)", ""),
        ("normal traffic req/s (new on-topic comment under one of 200 articles, each recorded)", "",
         f"{normal['rps']:.0f} (p99 {normal['p99_us'] / 1000:.1f} ms)", ""),
        ("wave req/s (one text, a new comment id each)", "", f"{wave['rps']:.0f} (p99 {wave['p99_us'] / 1000:.1f} ms)",
         ""),
        ("wave / normal", f">= {GOALS['wave_vs_normal']}", f"{wave['rps'] / normal['rps']:.2f}",
         mark(wave["rps"] / normal["rps"] >= GOALS["wave_vs_normal"])),
        ("normal / /healthz", f">= {GOALS['normal_vs_health']}", f"{normal['rps'] / health['rps']:.2f}",
         mark(normal["rps"] / health["rps"] >= GOALS["normal_vs_health"])),
        (f"review-queue items after the wave ({held} copies held)", f"<= {GOALS['queue_items']}", str(items),
         mark(items <= GOALS["queue_items"])),
        ("one decision clears the wave: copies reviewed / review events (distinct comment ids)", f">= {held}, all equal",
         f"{decided['reviewed']} / {len(events)} ({len(ids)})", mark(cleared)),
        ("the next copy after the decision", "reject, wave_decided",
         f"{later.get('decision')}, {(later.get('reasons') or [{}])[0].get('code')}", mark(later_ok)),
        (f"p99, decided wave paced at {steady['rps']:.0f} req/s (half of normal's max)", f"<= {GOALS['p99_ms']:.0f} ms",
         f"{steady['p99_us'] / 1000:.1f} ms", mark(steady["p99_us"] / 1000 <= GOALS["p99_ms"])),
        (f"p99, new wave (copies held) paced at {steady_held['rps']:.0f} req/s", f"<= {GOALS['p99_ms']:.0f} ms",
         f"{steady_held['p99_us'] / 1000:.1f} ms", mark(steady_held["p99_us"] / 1000 <= GOALS["p99_ms"])),
        (f"failed requests, worker SIGKILLed {KILL_AT:.0f} s into {KILL_SECONDS} s of a wave",
         f"< {GOALS['failed_pct']}%", f"{failed} of {attempted} = {failed_pct:.3f}%",
         mark(failed_pct < GOALS["failed_pct"])),
        ("acknowledged held copies missing after the kill (checker)", "0",
         f"{len(lost)} of {held_acks}", mark(not lost and held_acks > 0)),
        ("moderator's decision during the kill: acknowledged and its events stored", "yes",
         f"{decision.get('status')}, {decision_kept}", mark(bool(decision_kept))),
    ]
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    header = (f"`make bench BENCH=wave`, {stamp}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} "
              f"after (2 cores shared with other jobs: compare the rows of one run, not runs). wrk -t{THREADS} "
              f"-c{CONNECTIONS}, {PHASE_SECONDS}-s phases in {ROUNDS} alternating rounds; killed worker "
              f"{victim[0] if victim else None}; server ready after it all: {alive}.")
    table = ["| figure | goal | measured | |", "|---|---|---|---|"] + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    print("\n" + header + "\n\n" + "\n".join(table))
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text("# Spam wave bench\n\n" + header + "\n\n" + "\n".join(table) + "\n", encoding="utf-8")
    print(f"\nwritten to {FIGURES.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
