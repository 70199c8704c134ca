"""Serving under load, with wrk, against a real gunicorn this bench starts on a loopback port (`make bench
BENCH=serving`). All figures come from one run:

1. /v1/moderate req/s divided by /healthz req/s, same server, same wrk threads and connections;
2. p99 latency of /v1/moderate at a steady moderate load (wrk paced to about half the measured capacity);
3. failed requests while one worker is SIGKILLed 4 s into 12 s of load on /v1/moderate;
4. bad-input cases (malformed bodies, encodings, sizes, keys, raw HTTP) answered with a 5xx;
5. floors: the same ratio with the model replaced by a constant verdict, then also without the article store
   (bench/_serving_floor.py), to show what the rest of a request costs.

Each /v1/moderate request's comment is one of COMMENTS with a made-up word appended that no other request of the
run sends, under one of ARTICLES article ids (see LUA).

wrk comes from Debian: installed with apt-get when missing (as root), otherwise the bench says how. The server is
the production configuration (service/gunicorn.conf.py, an API key set, JSON access log on) with its log written
to var/bench/serving-gunicorn.log. Only 127.0.0.1 is ever targeted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from bench._figures import records

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench"
KEY = "bench-serving-key"
THREADS, CONNECTIONS = 2, 8
THROUGHPUT_SECONDS, ROUNDS, STEADY_SECONDS, KILL_SECONDS, KILL_AT = 12, 4, 10, 12, 4.0
GOALS = {"ratio": 0.7, "p99_ms": 25.0, "failed_pct": 0.1, "bad_5xx": 0}

ARTICLE = {"id": "bench-1", "title": "City council approves new budget after long debate",
           "body": "The council voted 7-4 on Tuesday to approve the budget, which adds bus routes and cuts "
                   "library hours. The mayor said the vote was closer than expected."}
COMMENTS = [
    "The council should have kept the library hours; the bus routes could wait a year.",
    "Win a FREE iPhone now!!! Click http://bit.ly/free-prize and subscribe to my channel",
    "7-4 is hardly close. Turnout in the last election was the real story here.",
    "check out my channel for music videos, thumbs up if you agree",
    "I ride the 42 every day and it is always late, so new routes are welcome news.",
    "Who pays for this? Property taxes went up twice already since 2019.",
    "Earn $500 a day from home, text JOBS to 555 0100 now",
    "Good reporting. Would like to see the full breakdown of the library cuts though.",
]

# Each request's comment is made unique: "__N__" becomes a made-up word no other request of the bench sends (the
# run, the wrk thread and the request number spelt in syllables: digits would look like a phone number to the spam
# model), "__A__" one of ARTICLES article ids. A news site's comments are (nearly) all different, and the service
# flags the same long text posted again and again (the `repeat` rule, moderation/repeats.py).
ARTICLES = 100
LUA = r"""
local bodies = {%(bodies)s}
local n = 0
local pause = %(pause)s
local started = 0
local C, V = "bcdfghjklmnprstvwxyz", "aeiou"
local function spell(x)
  local s = ""
  repeat
    local d = x %% 100
    local c, v = math.floor(d / 5) + 1, d %% 5 + 1
    s = s .. C:sub(c, c) .. V:sub(v, v)
    x = math.floor(x / 100)
  until x == 0
  return s
end
setup = function(thread)
  started = started + 1
  thread:set("wrk_thread", started)
end
wrk.method = "%(method)s"
wrk.headers["Authorization"] = "Bearer %(key)s"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  if #bodies == 0 then return wrk.format(nil, "%(path)s") end
  local body = bodies[(n %% #bodies) + 1]
  body = body:gsub("__N__", spell(%(run)s * 10 + (wrk_thread or 0)) .. "q" .. spell(n))
  body = body:gsub("__A__", tostring(n %% %(articles)d))
  return wrk.format(nil, "%(path)s", nil, body)
end
if pause > 0 then delay = function() return pause end end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, "write": %%d, "status": %%d, ' ..
    '"timeout": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "p999_us": %%d, "max_us": %%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max))
end
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("wrk is not installed: run `sudo apt-get install -y wrk` (Debian/Ubuntu) and rerun the bench")
    print("installing wrk with apt-get ...", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env={**os.environ,
                                                                               "DEBIAN_FRONTEND": "noninteractive"})
    return shutil.which("wrk") or sys.exit("apt-get did not install wrk")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, log_path: Path, app: str = "service:create_app()") -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS_")}
    env.update(HOST="127.0.0.1", PORT=str(port), MODERATION_API_KEYS=KEY,
               MODERATION_DATABASE_URL=f"sqlite:///{VAR / 'serving.db'}")
    gunicorn = Path(sys.executable).parent / "gunicorn"
    log = open(log_path, "w")
    proc = subprocess.Popen([str(gunicorn), "-c", "service/gunicorn.conf.py", app], cwd=ROOT,
                            env=env, stdout=log, stderr=log, start_new_session=True)
    return wait_ready(proc, port, log_path)


def wait_ready(proc, port: int, log_path) -> subprocess.Popen:
    """`proc` (a gunicorn master) once /readyz answers 200 and two workers run; exit naming `log_path` if it
    dies or is not ready within 180 s."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"gunicorn exited with {proc.returncode}; see {log_path}")
        try:
            if request(port, "GET", "/readyz")[0] == 200 and len(workers(proc.pid)) >= 2:
                return proc
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    sys.exit(f"gunicorn did not become ready in 180 s; see {log_path}")


def workers(master: int) -> list[int]:
    try:
        text = Path(f"/proc/{master}/task/{master}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
            chunked: bool = False) -> tuple[int, bytes, str]:
    """One HTTP/1.1 request on its own connection; (status, body, content type), 0 if nothing came back.

    Written on a raw socket because the server may answer (413) and close before the whole body is sent, which
    http.client reports as a broken pipe instead of the answer.
    """
    body = body or b""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        payload = (f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n") if body else b"0\r\n\r\n"
    else:
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        try:
            s.sendall("\r\n".join(lines).encode() + b"\r\n\r\n" + payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered early; read what it said
        try:
            while chunk := s.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    head, _, content = data.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0, b"", ""
    ctype = ""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-type":
            ctype = value.strip()
        if name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
            content = _unchunk(content)
    return status, content, ctype


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2:]
    return out


def raw_http(port: int, payload: bytes) -> tuple[int, bytes, str]:
    """Send bytes as they are; (status, body, content type) of whatever comes back (0 if the server just closed)."""
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        try:
            s.sendall(payload)
            while chunk := s.recv(65536):
                data += chunk
        except (BrokenPipeError, ConnectionResetError):
            pass
    head, _, content = data.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0, b"", ""
    ctype = next((line.split(b":", 1)[1].strip().decode("latin-1") for line in head.split(b"\r\n")[1:]
                  if line.lower().startswith(b"content-type:")), "")
    return status, content, ctype


# Malformed HTTP, refused by gunicorn before the app.
RAW_CASES = [
    ("bad Content-Length (raw HTTP)", b"POST /v1/moderate HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
    ("request line too long (raw HTTP)", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("header too large (raw HTTP)", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n"),
    ("unknown Transfer-Encoding (raw HTTP)",
     b"POST /v1/moderate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: bogus\r\n\r\n"),
    ("not HTTP at all (raw)", b"HELLO\r\n\r\n"),
]


_RUNS = 0  # wrk runs of this bench so far: part of every comment's number


def spell(x: int) -> str:
    """A number as a made-up word of syllables, as the wrk script spells it."""
    out = ""
    while True:
        out += "bcdfghjklmnprstvwxyz"[x % 100 // 5] + "aeiou"[x % 5]
        x //= 100
        if not x:
            return out


def unique_bodies(comments: list[str]) -> list[str]:
    """The request bodies, with the placeholders the wrk script makes unique per request (see LUA)."""
    return [json.dumps({"text": f"{c} __N__", "article": {**ARTICLE, "id": f"{ARTICLE['id']}-__A__"}})
            for c in comments]


def wrk(binary: str, port: int, path: str, seconds: float, connections: int = CONNECTIONS, bodies=(),
        method: str = "GET", pause_ms: int = 0, key: str = KEY, articles: int = ARTICLES) -> dict:
    """One wrk run with the LUA script: __N__ in a body becomes a word no other request sends, __A__ an article
    number below `articles`; `key` is the API key it sends."""
    global _RUNS
    _RUNS += 1
    lua = LUA % {"bodies": ", ".join(json.dumps(b) for b in bodies), "method": method, "key": key, "path": path,
                 "pause": pause_ms, "run": f"{os.getpid() % 10000}{_RUNS:03d}", "articles": articles}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", dir=VAR, delete=False) as f:
        f.write(lua)
    try:
        out = subprocess.run([binary, "-t", str(THREADS), "-c", str(connections), "-d", f"{int(round(seconds))}s",
                              "--timeout", "5s", "-s", f.name, f"http://127.0.0.1:{port}{path}"],
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    result = json.loads(line[len("WRKJSON "):])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["socket_errors"] = sum(result[k] for k in ("connect", "read", "write", "timeout"))
    return result


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def balanced(pids: list[int], run) -> dict:
    """`run()` (one wrk round), with each worker's CPU during it, in cores, as "workers" ("0.92/0.91")."""
    before, start = [_cpu_seconds(p) for p in pids], time.monotonic()
    result = run()
    elapsed = time.monotonic() - start
    result["cpu"] = [(_cpu_seconds(p) - b) / elapsed for p, b in zip(pids, before)]
    result["workers"] = "/".join(f"{c:.2f}" for c in result["cpu"])
    result["both"] = min(result["cpu"]) >= 0.5 * max(result["cpu"]) > 0  # no worker idle while the other served
    return result


def combine(runs: list[dict]) -> dict:
    """Several wrk runs as one: summed counts, total req/s; latency percentiles are the worst run's."""
    out = {k: sum(r[k] for r in runs) for k in ("requests", "duration_us", "connect", "read", "write", "status",
                                                "timeout", "socket_errors")}
    out.update({k: max(r[k] for r in runs) for k in ("p50_us", "p90_us", "p99_us", "p999_us", "max_us")})
    out["rps"] = out["requests"] / (out["duration_us"] / 1e6)
    return out


def bad_inputs(port: int) -> list[tuple[str, int, bool]]:
    """(case, status, answered with the JSON error shape)."""
    auth = {"Authorization": f"Bearer {KEY}"}
    as_json = {**auth, "Content-Type": "application/json"}
    cases = [
        ("no key", "/v1/moderate", b'{"text": "x"}', {"Content-Type": "application/json"}),
        ("wrong key", "/v1/moderate", b'{"text": "x"}', {"Authorization": "Bearer nope",
                                                         "Content-Type": "application/json"}),
        ("not JSON", "/v1/moderate", b'{"text": ', as_json),
        ("empty body", "/v1/moderate", b"", as_json),
        ("invalid UTF-8", "/v1/moderate", b'{"text": "caf\xe9"}', as_json),
        ("lone surrogate", "/v1/moderate", b'{"text": "\\ud800"}', as_json),
        ("BOM", "/v1/moderate", b'\xef\xbb\xbf{"text": "x"}', as_json),
        ("text is a number", "/v1/moderate", b'{"text": 5}', as_json),
        ("text missing", "/v1/moderate", b'{"article": {}}', as_json),
        ("body is a list", "/v1/moderate", b'["text"]', as_json),
        ("article.body is an object", "/v1/moderate", b'{"text": "x", "article": {"body": {}}}', as_json),
        ("article.id too big", "/v1/moderate", b'{"text": "x", "article": {"id": 1' + b"0" * 30 + b"}}", as_json),
        ("5,000-digit integer", "/v1/moderate", b'{"text": 1' + b"0" * 5000 + b"}", as_json),
        ("nested 10,000 deep", "/v1/moderate", b"[" * 10000 + b"]" * 10000, as_json),
        ("over the single limit", "/v1/moderate", json.dumps({"text": "x" * 70_000}).encode(), as_json),
        ("form content type", "/v1/moderate", b"text=hello", {**auth,
                                                               "Content-Type": "application/x-www-form-urlencoded"}),
        ("no content type", "/v1/moderate", b'{"text": "x"}', auth),
        ("batch of 1,001", "/v1/moderate/batch", json.dumps({"comments": [{"text": "x"}] * 1001}).encode(), as_json),
        ("batch, empty", "/v1/moderate/batch", b'{"comments": []}', as_json),
        ("batch, one bad item", "/v1/moderate/batch", b'{"comments": [{"text": "x"}, {"text": null}]}', as_json),
        ("batch over 8 MiB", "/v1/moderate/batch",
         json.dumps({"comments": [{"text": "y" * 9000}] * 1000}).encode(), as_json),
    ]
    results = []
    for name, path, body, headers in cases:
        status, content, ctype = request(port, "POST", path, body, headers)
        results.append((name, status, _is_error_json(content, ctype)))
    status, content, ctype = request(port, "POST", "/v1/moderate", json.dumps({"text": "x" * 70_000}).encode(),
                                     as_json, chunked=True)
    results.append(("over the limit, chunked", status, _is_error_json(content, ctype)))
    status, content, ctype = request(port, "GET", "/v1/moderate", None, auth)
    results.append(("GET on a POST route", status, _is_error_json(content, ctype)))
    # Malformed HTTP is refused by gunicorn itself, before the app, in the same JSON shape (service/http_errors.py).
    for name, payload in RAW_CASES:
        status, content, ctype = raw_http(port, payload)
        results.append((name, status, _is_error_json(content, ctype)))
    return results


def _is_error_json(content: bytes, ctype: str) -> bool:
    try:
        body = json.loads(content)
    except ValueError:
        return False
    return ctype.startswith("application/json") and set(body) == {"error"} and set(body["error"]) == {
        "code", "message"}


FLOORS = (("model replaced by a constant", "bench._serving_floor:constant_model_app()"),
          ("model replaced by a constant, no article store", "bench._serving_floor:constant_model_no_store_app()"))
FLOOR_SECONDS = 6


def floor_runs(binary: str, bodies: list[str]) -> list[tuple[str, dict, dict]]:
    """The same ratio with parts of the work taken away (bench/_serving_floor.py): what the rest costs."""
    out = []
    for name, app in FLOORS:
        port = free_port()
        server = start_server(port, VAR / "serving-floor-gunicorn.log", app)
        try:
            wrk(binary, port, "/v1/moderate", 1, bodies=bodies, method="POST")  # warm-up
            rounds_h, rounds_m = [], []
            for _ in range(2):
                rounds_h.append(wrk(binary, port, "/healthz", FLOOR_SECONDS / 2))
                rounds_m.append(wrk(binary, port, "/v1/moderate", FLOOR_SECONDS / 2, bodies=bodies, method="POST"))
            out.append((name, combine(rounds_h), combine(rounds_m)))
        finally:
            stop_server(server)
    return out


def stop_server(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=40)
    except subprocess.TimeoutExpired:
        server.kill()


@records("serving")
def main() -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):  # a new store each run: threads and WAL do not carry over from earlier runs
        (VAR / f"serving.db{suffix}").unlink(missing_ok=True)
    binary = ensure_wrk()
    port = free_port()
    log_path = VAR / "serving-gunicorn.log"
    load_before = os.getloadavg()
    server = start_server(port, log_path)
    bodies = unique_bodies(COMMENTS)
    try:
        started_workers = workers(server.pid)
        print(f"gunicorn pid {server.pid} on 127.0.0.1:{port}, workers {started_workers}; "
              f"wrk -t{THREADS} -c{CONNECTIONS}; load average before {load_before[0]:.2f}", flush=True)
        wrk(binary, port, "/v1/moderate", 2, bodies=bodies, method="POST")  # warm-up
        # Alternate short runs so a burst of other load on the machine hits both endpoints alike.
        rounds_h, rounds_m = [], []
        for _ in range(ROUNDS):
            rounds_h.append(balanced(started_workers, lambda: wrk(binary, port, "/healthz",
                                                                  THROUGHPUT_SECONDS / ROUNDS)))
            rounds_m.append(balanced(started_workers, lambda: wrk(binary, port, "/v1/moderate",
                                                                  THROUGHPUT_SECONDS / ROUNDS, bodies=bodies,
                                                                  method="POST")))
        health, moderate = combine(rounds_h), combine(rounds_m)
        ratio = moderate["rps"] / health["rps"]
        print("per round, moderate/healthz: " + ", ".join(
            f"{m['rps']:.0f}/{h['rps']:.0f}" for h, m in zip(rounds_h, rounds_m)), flush=True)
        # gunicorn's gthread worker takes every connection it can: when one worker holds all of wrk's keep-alive
        # connections for a round, the other idles and that round measures one core (docs/benchmarks.md,
        # "Serving"). Each worker's CPU in each round says whether it happened.
        print("per round, each worker's CPU (cores), moderate | healthz: " + ", ".join(
            f"{m['workers']} | {h['workers']}" for h, m in zip(rounds_h, rounds_m)), flush=True)
        both_h, both_m = [r for r in rounds_h if r["both"]], [r for r in rounds_m if r["both"]]
        if both_h and both_m:
            balanced_ratio = combine(both_m)["rps"] / combine(both_h)["rps"]
            print(f"ratio over the rounds both workers served ({len(both_m)} moderate, {len(both_h)} healthz of "
                  f"{ROUNDS}): {combine(both_m)['rps']:.0f} / {combine(both_h)['rps']:.0f} = {balanced_ratio:.2f}",
                  flush=True)

        target = max(moderate["rps"] * 0.5, 1.0)
        steady_connections = 4
        pause = max(int(steady_connections * 1000 / target), 1)
        steady = wrk(binary, port, "/v1/moderate", STEADY_SECONDS, connections=steady_connections, bodies=bodies,
                     method="POST", pause_ms=pause)

        killer = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({KILL_AT})"])
        kill_run: dict = {}
        victim = None

        def do_kill():
            nonlocal victim
            killer.wait()
            pids = workers(server.pid)
            if pids:
                victim = pids[0]
                os.kill(victim, signal.SIGKILL)

        import threading
        t = threading.Thread(target=do_kill)
        t.start()
        kill_run = wrk(binary, port, "/v1/moderate", KILL_SECONDS, bodies=bodies, method="POST")
        t.join()
        after = workers(server.pid)
        failed = kill_run["socket_errors"] + kill_run["status"]
        attempted = kill_run["requests"] + kill_run["socket_errors"]
        failed_pct = 100.0 * failed / max(attempted, 1)

        bad = bad_inputs(port)
        bad_5xx = sum(1 for _, status, _ in bad if status >= 500 or status == 0)
        non_json = [name for name, status, is_json in bad if not is_json]
        alive = request(port, "GET", "/readyz")[0] == 200
    finally:
        stop_server(server)
    floors = floor_runs(binary, bodies)
    load_after = os.getloadavg()

    def mark(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print(f"\n(p50/p99 below: worst of the {ROUNDS} rounds)")
    print(f"/healthz   {health['rps']:8.0f} req/s  p50 {health['p50_us'] / 1000:.2f} ms  "
          f"p99 {health['p99_us'] / 1000:.2f} ms  errors {health['socket_errors'] + health['status']}")
    print(f"/v1/moderate {moderate['rps']:6.0f} req/s  p50 {moderate['p50_us'] / 1000:.2f} ms  "
          f"p99 {moderate['p99_us'] / 1000:.2f} ms  errors {moderate['socket_errors'] + moderate['status']}")
    print(f"steady load: {steady['rps']:.0f} req/s paced (target {target:.0f}, {steady_connections} connections, "
          f"{pause} ms pause), p50 {steady['p50_us'] / 1000:.2f} ms, p90 {steady['p90_us'] / 1000:.2f} ms, "
          f"p99 {steady['p99_us'] / 1000:.2f} ms, p99.9 {steady['p999_us'] / 1000:.2f} ms")
    print(f"worker kill: SIGKILL pid {victim} at {KILL_AT:.0f} s of {KILL_SECONDS} s; workers after {after}; "
          f"{kill_run['requests']} answered, socket errors {kill_run['socket_errors']} "
          f"(connect {kill_run['connect']}, read {kill_run['read']}, write {kill_run['write']}, "
          f"timeout {kill_run['timeout']}), non-2xx {kill_run['status']}")
    print(f"bad input: {len(bad)} cases; " + "; ".join(f"{name} {status}" for name, status, _ in bad))
    if non_json:
        print(f"bad input answered without the JSON error shape: {', '.join(non_json)}")
    for name, h, m in floors:
        print(f"floor, {name}: /v1/moderate {m['rps']:.0f} req/s / /healthz {h['rps']:.0f} req/s = "
              f"{m['rps'] / h['rps']:.2f}")
    print(f"server still ready after all of it: {alive}; load average before {load_before[0]:.2f}, "
          f"after {load_after[0]:.2f} (2 cores; other jobs on the machine count)")
    print("\n| figure | goal | measured | |")
    print("|---|---|---|---|")
    print(f"| /v1/moderate req/s / /healthz req/s (wrk -t{THREADS} -c{CONNECTIONS}) | >= {GOALS['ratio']} | "
          f"{moderate['rps']:.0f} / {health['rps']:.0f} = {ratio:.2f} | {mark(ratio >= GOALS['ratio'])} |")
    print(f"| p99 latency of /v1/moderate at a steady {steady['rps']:.0f} req/s | <= {GOALS['p99_ms']:.0f} ms | "
          f"{steady['p99_us'] / 1000:.1f} ms | {mark(steady['p99_us'] / 1000 <= GOALS['p99_ms'])} |")
    print(f"| failed requests, one worker SIGKILLed during {KILL_SECONDS} s of load | < {GOALS['failed_pct']}% | "
          f"{failed} of {attempted} = {failed_pct:.3f}% | {mark(failed_pct < GOALS['failed_pct'])} |")
    print(f"| bad-input cases answered 5xx | {GOALS['bad_5xx']} | {bad_5xx} of {len(bad)} | "
          f"{mark(bad_5xx == 0)} |")


if __name__ == "__main__":
    main()
