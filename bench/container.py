"""The container, built and run for real: `make bench BENCH=container` (needs a Docker engine; skipped without one).

Builds the image from the `Dockerfile` (the build installs the pinned requirements, gets the data and trains the
default model), then checks what the docs promise of it and prints each check and the figures:

- the image size and the build time; the service runs as a non-root user;
- HEALTHCHECK: the container turns `healthy`, and how long that takes from `docker run`;
- `docker stop` during a stream of requests: gunicorn stops gracefully (exit 0, well within the stop timeout) and
  no request is answered 5xx;
- with keys: 401 without a key, an answer with the image's model version with one; `/metrics`, `/openapi.json`;
- without keys the service binds the container's loopback only: the published port answers nothing;
- a `models/` folder mounted read-only over the built one (this checkout's) is the one served;
- PostgreSQL (only with `CONTAINER_DATABASE_URL`, reachable from the host network): an article and an accepted
  comment land in its tables;
- the database down at start (a PostgreSQL URL on a port nothing listens on): the container keeps running, not
  restarting, `/healthz` 200 and `/readyz` 503 (so the HEALTHCHECK keeps traffic away), instead of exiting.

Build arguments come from the environment: `CONTAINER_PYTHON_IMAGE` (the base, default python:3.11-slim) and
`CONTAINER_DATA_MIRROR` (a base URL serving the data downloads when the public homes are out of reach; docs/operators/deployment.md,
"Container"). The build uses the host network, so a mirror on the host's loopback works. Exits 1 if a check fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.serving import free_port
from bench._figures import records, skip

PROJECT = Path(__file__).resolve().parent.parent
TAG = "moderation:bench"
API_KEY, ADMIN_KEY = "bench-client-key", "bench-admin-key"
HEALTHY_WITHIN = 120.0
ARTICLE = {"title": "ISIL fighters flee Mosul as Iraqi forces approach",
           "body": "Iraqi forces closed in on Mosul, the last big stronghold of ISIL fighters in Iraq."}


def docker(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], check=check, text=True, capture_output=True, **kwargs)


def engine_problem() -> str | None:
    """Why no image can be built here, or None."""
    if shutil.which("docker") is None:
        return "no docker command"
    info = docker("info", "--format", "{{.ServerVersion}}", check=False)
    if info.returncode != 0 or not info.stdout.strip():
        return "no Docker engine answers (" + (info.stderr.strip().splitlines() or ["docker info failed"])[-1] + ")"
    return None


def request(port: int, path: str, body: dict | None = None, key: str | None = None, method: str | None = None):
    """(status, parsed JSON or text) of one request to the container, or (None, error) when nothing answers."""
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as response:
            raw = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read().decode(), exc.code
    except OSError as exc:
        return None, str(exc)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


class Checks:
    def __init__(self) -> None:
        self.failed: list[str] = []

    def __call__(self, name: str, ok: bool, detail: str = "") -> bool:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}" + (f": {detail}" if detail else ""), flush=True)
        if not ok:
            self.failed.append(name)
        return ok


def base_problem() -> str | None:
    """Why the base image cannot be had (not present and not pullable), or None."""
    base = os.environ.get("CONTAINER_PYTHON_IMAGE") or "python:3.11-slim"
    if docker("image", "inspect", base, check=False).returncode == 0:
        return None
    try:
        pulled = docker("pull", base, check=False, timeout=300)
    except subprocess.TimeoutExpired:
        return f"pulling the base image {base} timed out"
    if pulled.returncode != 0:
        return (f"the base image {base} is not here and cannot be pulled "
                f"({(pulled.stderr.strip().splitlines() or ['docker pull failed'])[-1][:200]})")
    return None


def build() -> float:
    args = ["build", "--network", "host", "-t", TAG]
    for variable, arg in (("CONTAINER_PYTHON_IMAGE", "PYTHON_IMAGE"), ("CONTAINER_DATA_MIRROR", "DATA_MIRROR")):
        if os.environ.get(variable):
            args += ["--build-arg", f"{arg}={os.environ[variable]}"]
    env = dict(os.environ)
    if docker("buildx", "version", check=False).returncode != 0:
        env["DOCKER_BUILDKIT"] = "0"  # the classic builder, when the buildx plugin is not installed
    started = time.monotonic()
    result = subprocess.run(["docker", *args, str(PROJECT)], text=True, capture_output=True, env=env)
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
        raise SystemExit("the image did not build (output above)")
    return time.monotonic() - started


def run(name: str, port: int, *options: str) -> None:
    docker("rm", "-f", name, check=False)
    docker("run", "-d", "--name", name, *options, TAG)


def wait_healthy(name: str) -> tuple[str, float]:
    started = time.monotonic()
    status = "unknown"
    while time.monotonic() - started < HEALTHY_WITHIN:
        status = docker("inspect", "-f", "{{.State.Health.Status}}", name, check=False).stdout.strip()
        if status in ("healthy", "unhealthy"):
            break
        time.sleep(0.5)
    return status, time.monotonic() - started


def wait_answer(port: int, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if request(port, "/readyz")[0] == 200:
            return True
        time.sleep(0.5)
    return False


def stop_under_load(name: str, port: int, body: dict) -> dict:
    """`docker stop` while a thread sends requests: the stop's duration and every request's status (None: refused)."""
    import threading

    codes: list = []
    done = threading.Event()

    def load() -> None:
        while not done.is_set():
            codes.append(request(port, "/v1/moderate", body, key=API_KEY)[0])

    sender = threading.Thread(target=load)
    sender.start()
    time.sleep(2)
    started = time.monotonic()
    docker("stop", "-t", "30", name)
    seconds = time.monotonic() - started
    done.set()
    sender.join()
    return {"codes": codes, "seconds": seconds}


def logs(name: str) -> str:
    result = docker("logs", name, check=False)
    return result.stdout + result.stderr


@records("container")
def main() -> None:
    problem = engine_problem()
    if problem:
        print(f"skipped: {problem}. The image is checked where a Docker engine runs (docs: Deployment).")
        skip(problem)
        return
    problem = base_problem()
    if problem:
        print(f"skipped: {problem}. Name a copy with CONTAINER_PYTHON_IMAGE (docs: Deployment).")
        skip(problem)
        return
    check = Checks()
    seconds = build()
    size = int(docker("image", "inspect", "-f", "{{.Size}}", TAG).stdout.strip())
    print(f"built {TAG} in {seconds:.0f} s; image size {size / 2**20:.0f} MiB", flush=True)
    built_version = docker("run", "--rm", "--entrypoint", "cat", TAG, "models/current").stdout.strip()
    uid = docker("run", "--rm", "--entrypoint", "id", TAG, "-u").stdout.strip()
    check("runs as a non-root user", uid not in ("", "0"), f"uid {uid}")
    containers = []
    try:
        port = free_port()
        name = "moderation-bench-keys"
        containers.append(name)
        run(name, port, "-p", f"127.0.0.1:{port}:8000", "-e", f"MODERATION_API_KEYS={API_KEY}",
            "-e", f"MODERATION_ADMIN_KEYS={ADMIN_KEY}")
        status, waited = wait_healthy(name)
        check("HEALTHCHECK reports healthy", status == "healthy", f"{status} after {waited:.1f} s from docker run")
        comment = {"text": "Good news for the people of Iraq, Mosul will be free soon.",
                   "article": {"id": "mosul-1", **ARTICLE}}
        code, _ = request(port, "/v1/moderate", comment)
        check("401 without a key", code == 401, f"status {code}")
        code, _ = request(port, "/v1/moderate", comment, key="not-a-key")
        check("401 with a wrong key", code == 401, f"status {code}")
        code, answer = request(port, "/v1/moderate", comment, key=API_KEY)
        check("moderates with the key, with the model built into the image",
              code == 200 and isinstance(answer, dict) and answer.get("model_version") == built_version,
              f"status {code}, {answer}")
        spam = {"text": "CHECK OUT my channel http://bit.ly/xyz subscribe for free prizes!!!"}
        code, answer = request(port, "/v1/moderate", spam, key=API_KEY)
        check("spam is rejected", code == 200 and answer.get("decision") == "reject", f"{answer}")
        code, text = request(port, "/metrics")
        check("/metrics served without a key", code == 200 and "moderation_" in str(text), f"status {code}")
        code, spec = request(port, "/openapi.json")
        check("/openapi.json served without a key", code == 200 and "/v1/moderate" in spec.get("paths", {}),
              f"status {code}")
        check("JSON log lines, no comment text", all(line.startswith("{") for line in logs(name).splitlines()
                                                      if line.strip())
              and "Mosul will be free" not in logs(name))
        statuses = stop_under_load(name, port, comment)
        code = docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
        answered = sum(1 for s in statuses["codes"] if s is not None)
        server_errors = sum(1 for s in statuses["codes"] if s is not None and s >= 500)
        check("docker stop under load: exits 0 in time, no 5xx", code == "0" and server_errors == 0
              and statuses["seconds"] < 30, f"stopped in {statuses['seconds']:.1f} s, exit code {code}, "
              f"{answered} answered during the load ({server_errors} 5xx), then refused")

        port = free_port()
        name = "moderation-bench-nokey"
        containers.append(name)
        run(name, port, "-p", f"127.0.0.1:{port}:8000")
        status, _ = wait_healthy(name)
        code, _ = request(port, "/healthz")
        check("without keys: healthy inside, the published port answers nothing",
              status == "healthy" and code is None and "binds the loopback interface only" in logs(name),
              f"health {status}, published port {code}")

        local = PROJECT / "models"
        if (local / "current").is_file():
            mounted_version = (local / "current").read_text().strip()
            with tempfile.TemporaryDirectory() as folder:
                # a copy: the checkout's models/ may hold versions of private modes made by older code
                copy = Path(folder) / "models"
                shutil.copytree(local, copy)
                for path in [copy, *copy.rglob("*")]:
                    path.chmod(0o755 if path.is_dir() else 0o644)
                port = free_port()
                name = "moderation-bench-mounted"
                containers.append(name)
                run(name, port, "-p", f"127.0.0.1:{port}:8000", "-e", f"MODERATION_API_KEYS={API_KEY}",
                    "-v", f"{copy}:/app/models:ro")
                wait_answer(port)
                code, answer = request(port, "/v1/moderate", comment, key=API_KEY)
                check("a models/ folder mounted read-only is the one served",
                      code == 200 and answer.get("model_version") == mounted_version,
                      f"{answer.get('model_version') if isinstance(answer, dict) else answer} (mounted "
                      f"{mounted_version})")
                docker("rm", "-f", name, check=False)

        port, nowhere = free_port(), free_port()
        name = "moderation-bench-nodb"
        containers.append(name)
        run(name, port, "--network", "host", "-e", f"PORT={port}", "-e", f"MODERATION_API_KEYS={API_KEY}",
            "-e", f"MODERATION_DATABASE_URL=postgresql://moderation:secret@127.0.0.1:{nowhere}/moderation")
        deadline = time.monotonic() + 60
        while request(port, "/healthz")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(5)  # long enough for a crash loop to show
        state = docker("inspect", "-f", "{{.State.Running}} {{.RestartCount}}", name, check=False).stdout.split()
        health_code, _ = request(port, "/healthz")
        ready_code, ready = request(port, "/readyz")
        check("the database down at start: running and not ready, not exiting",
              state == ["true", "0"] and health_code == 200 and ready_code == 503
              and isinstance(ready, dict) and ready.get("store") in ("error", "timeout")
              and "secret" not in json.dumps(ready) and "secret" not in logs(name),
              f"running/restarts {state}, /healthz {health_code}, /readyz {ready_code} {ready}")
        docker("rm", "-f", name, check=False)

        url = os.environ.get("CONTAINER_DATABASE_URL")
        if url:
            port = free_port()
            name = "moderation-bench-postgres"
            containers.append(name)
            run(name, port, "--network", "host", "-e", f"PORT={port}", "-e", f"MODERATION_API_KEYS={API_KEY}",
                "-e", f"MODERATION_DATABASE_URL={url}")
            wait_answer(port)
            article_id = f"bench-{int(time.time())}"
            code, _ = request(port, f"/v1/articles/{article_id}", ARTICLE, key=API_KEY, method="PUT")
            # a text of its own: the same text sent again to the same database is a repeat, held, not threaded
            word = "".join("aeioubdfgkmnprstvz"[int(d) + 8 * (i % 2)] for i, d in enumerate(article_id[-8:]))
            accepted = {"text": f"{comment['text']} {word.capitalize()} said so too.", "article": {"id": article_id}}
            code2, answer = request(port, "/v1/moderate", accepted, key=API_KEY)
            code3, article = request(port, f"/v1/articles/{article_id}", key=API_KEY)
            check("PostgreSQL: the article and its accepted comment are stored there",
                  code in (200, 201) and code2 == 200 and answer.get("decision") == "accept"
                  and isinstance(article, dict) and article.get("thread_comments") == 1,
                  f"PUT {code}, moderate {code2} {answer.get('decision')} {answer.get('reasons')}, "
                  f"article thread_comments {article.get('thread_comments') if isinstance(article, dict) else article}")
        else:
            print("  (PostgreSQL not checked: set CONTAINER_DATABASE_URL to a database reachable from the host)")
    finally:
        for name in containers:
            docker("rm", "-f", name, check=False)
    if check.failed:
        print(f"{len(check.failed)} check(s) failed: {', '.join(check.failed)}")
        raise SystemExit(1)
    print("every container check passed")


if __name__ == "__main__":
    sys.exit(main())
