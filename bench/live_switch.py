"""Moderators in the loop, for real: labels, retraining, the promotion gate and the live switch under traffic.

Starts the service under gunicorn (`make run` on a free port, 2 workers) on a copy of the model registry and a
fresh database, sends moderation requests continuously from two threads, and meanwhile:

1. posts 30 moderator labels to POST /v1/feedback;
2. `python -m training train --with-feedback`, then `promote` it: the gate compares it with the live model and
   every worker must serve the new version within 10 s;
3. trains a model on label-flipped data and tries to promote it: the gate must refuse, with the figures;
4. a tampered artifact named in models/current by hand: the workers must refuse it and keep serving;
5. `rollback`: back to the previous version, in every worker;
6. the review page in headless Chromium: sign in, Accept one flagged comment, Reject another.

Prints every step's outcome and the traffic totals; the run fails if a single request failed.
`make bench BENCH=live_switch`. Takes a few minutes (two full trainings).
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
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from bench._figures import records

PROJECT = Path(__file__).resolve().parent.parent
API_KEY, ADMIN_KEY = "bench-client-key", "bench-admin-key"
SWITCH_LIMIT = 10.0

TRAFFIC = [
    ("The Iraqi army's advance on Mosul will take months, not weeks.", "accept"),
    ("Thanks for sharing, visit my page", "flag"),
    ("Earn money from home, message me", "flag"),
    ("Please like and share my post", "flag"),
    ("Check out my channel please", "reject"),
    ("Civilians always pay the price in these sieges. Heartbreaking.", "accept"),
    ("WIN a FREE iPhone now!!! Click http://bit.ly/free-prize", "reject"),
]
SPAM_LABELS = [
    "Work from home and earn $400 a day, details on my profile {i}",
    "Cheap followers and likes for your page, message me for prices ({i})",
    "I made $3,000 this week with this trick, ask me how #{i}",
]
HAM_LABELS = [
    "Comment {i}: the report on Mosul leaves out how the city will be governed afterwards.",
    "Comment {i}: I hope the aid convoys reach the people who fled the fighting.",
    "Comment {i}: good reporting, but which sources confirmed the number of fighters?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    def __init__(self, models: Path, database: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PORT": str(self.port), "HOST": "127.0.0.1", "WEB_CONCURRENCY": "2",
               "MODERATION_MODELS_DIR": str(models), "MODERATION_DATABASE_URL": database,
               "MODERATION_API_KEYS": API_KEY, "MODERATION_ADMIN_KEYS": ADMIN_KEY}
        self.log = tempfile.NamedTemporaryFile("w+", prefix="gunicorn-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=PROJECT, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if request(f"{self.base}/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the service did not become ready; see {self.log.name}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the process group this benchmark started
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def request(url: str, body: dict | None = None, key: str | None = None, timeout: float = 15) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


class Traffic:
    """Steady moderation requests from a few threads; every response is recorded with its time and version."""

    def __init__(self, base: str, threads: int = 2, pause: float = 0.02):
        self.base, self.pause = base, pause
        self.records: list[tuple[float, float, str | None]] = []  # (sent, received, model_version or None)
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]
        for t in self._threads:
            t.start()

    def _run(self, n: int) -> None:
        i = n
        while not self._stop.is_set():
            text, _ = TRAFFIC[i % len(TRAFFIC)]
            i += 1
            sent = time.time()
            try:
                status, body = request(f"{self.base}/v1/moderate", {
                    "text": text, "article": {"id": "mosul-1", "title": "ISIL fighters flee Mosul"}}, API_KEY)
                version = body.get("model_version") if status == 200 else None
                if status != 200:
                    self.failures.append(f"HTTP {status}: {body}")
            except Exception as exc:  # any failure counts
                version = None
                self.failures.append(repr(exc))
            self.records.append((sent, time.time(), version))
            time.sleep(self.pause)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def wait_for(self, version: str, since: float, limit: float = 30.0) -> float | None:
        """Seconds from `since` (wall clock: when models/current was written) until every response to a request
        sent after it carries `version`, checked over at least 3 s of traffic; None if not within `limit`."""
        deadline = since + limit
        while time.time() < deadline:
            time.sleep(0.25)
            after = [r for r in list(self.records) if r[0] >= since]
            last_other = max((r[1] for r in after if r[2] != version), default=since)
            settled = [r for r in after if r[0] > last_other]
            if settled and settled[-1][1] - last_other >= 3.0 and all(r[2] == version for r in settled):
                return round(last_other - since, 2)
        return None

    def versions_since(self, since: float) -> dict:
        counts: dict = {}
        for sent, _, version in list(self.records):
            if sent >= since:
                counts[version] = counts.get(version, 0) + 1
        return counts


def cli(*args: str, models: Path, database: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "training", *args, "--models", str(models)]
    if database:
        command += ["--database", database]
    return subprocess.run(command, cwd=PROJECT, capture_output=True, text=True)


def step(title: str) -> None:
    print(f"\n--- {title}", flush=True)


def train_flipped(models: Path) -> str:
    """A candidate trained on the shared data with every spam/ham label flipped."""
    from moderation.registry import ModelRegistry
    from training import datasets, sources
    from training.train import load_default_examples, train_model

    flip = {"spam": "ham", "ham": "spam"}
    examples = [datasets.Example(e.text, flip.get(e.label, e.label), e.source, e.group, e.article_id,
                                 e.article_title, e.article_body)
                for e in load_default_examples(sources.ensure_data())]
    return train_model(ModelRegistry(models), examples=examples, make_current=False)["version"]


def review_in_browser(base: str) -> dict:
    """Sign in to /review in headless Chromium, Accept the newest item and Reject the next; report the queue."""
    browser, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver_path):
        return {"skipped": "chromium / chromium-driver not installed (apt-get install chromium chromium-driver)"}
    os.environ.setdefault("SE_AVOID_STATS", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=DriverService(executable_path=driver_path), options=options)
    try:
        driver.implicitly_wait(5)
        driver.get(f"{base}/review")
        driver.find_element(By.ID, "key").send_keys(ADMIN_KEY)
        driver.find_element(By.ID, "moderator").send_keys("bench")
        driver.find_element(By.ID, "sign-in").click()
        # Each click loads a new page: wait for it, or the reads below see the page the click left.
        WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "count")))
        before = driver.find_element(By.ID, "count").text
        items = driver.find_elements(By.CSS_SELECTOR, "article.item")
        ids = [int(i.get_attribute("data-id")) for i in items]
        newest = items[0].find_element(By.CLASS_NAME, "text").text
        flash = (By.CSS_SELECTOR, ".flash")

        def flashed(decision_id: int):
            # "Comment 12: accepted ..." for a comment alone, "Wave of comment 12: 7 copies accepted ..." for a wave
            return lambda d: f"comment {decision_id}:" in d.find_element(*flash).text.lower()

        items[0].find_element(By.CSS_SELECTOR, "button.accept").click()
        WebDriverWait(driver, 10).until(flashed(ids[0]))
        accepted = driver.find_element(*flash).text
        # The next item of the page as it is now: accepting a wave reviews its copies, which may have been listed.
        second = int(driver.find_elements(By.CSS_SELECTOR, "article.item")[0].get_attribute("data-id"))
        driver.find_element(By.ID, f"item-{second}").find_element(By.CSS_SELECTOR, "button.reject").click()
        WebDriverWait(driver, 10).until(flashed(second))
        rejected = driver.find_element(*flash).text
        left = [int(i.get_attribute("data-id")) for i in driver.find_elements(By.CSS_SELECTOR, "article.item")]
        return {"before": before, "newest_first": ids == sorted(ids, reverse=True), "newest_text": newest,
                "accept": accepted, "reject": rejected, "gone_from_queue": ids[0] not in left and second not in left,
                "after": driver.find_element(By.ID, "count").text}
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@records("live_switch")
def main() -> None:
    source = PROJECT / "models"
    work = Path(tempfile.mkdtemp(prefix="live-switch-"))
    models = work / "models"
    shutil.copytree(source, models, ignore=shutil.ignore_patterns(".staging-*"))
    database = f"sqlite:///{work / 'moderation.db'}"
    print(f"registry copy: {models}; database: {database}")
    service = Service(models, database)
    traffic = Traffic(service.base)
    ok = True
    started = time.monotonic()
    try:
        first = request(f"{service.base}/v1/model", key=API_KEY)[1]["version"]
        print(f"service on {service.base} (gunicorn, 2 workers), live model {first}")

        step("1. 30 moderator labels -> POST /v1/feedback")
        statuses = []
        for i in range(30):
            template = (SPAM_LABELS if i % 2 == 0 else HAM_LABELS)[(i // 2) % 3]
            body = {"text": template.format(i=i), "label": "spam" if i % 2 == 0 else "ham", "moderator": "bench",
                    "article": {"id": "mosul-1", "title": "ISIL fighters flee Mosul", "body": ""}}
            statuses.append(request(f"{service.base}/v1/feedback", body, ADMIN_KEY)[0])
        print(f"answers: {dict((s, statuses.count(s)) for s in set(statuses))}")
        ok &= statuses == [201] * 30

        step("2. train --with-feedback, then promote (gate) under traffic")
        t = time.monotonic()
        trained = cli("-v", "train", "--with-feedback", models=models, database=database)
        print("\n".join(line for line in trained.stderr.splitlines() if "step" in line or "labels" in line
                        or "evaluation" in line))
        second = trained.stdout.strip().splitlines()[-1]
        print(f"trained {second} in {time.monotonic() - t:.0f} s")
        promoted = cli("promote", second, "--reason", "bench: retrained with 30 labels", models=models,
                       database=database)
        print(promoted.stderr.strip())
        print(f"promote exit code {promoted.returncode}, stdout: {promoted.stdout.strip()}")
        since = (models / "current").stat().st_mtime  # when promote made it live
        switch = traffic.wait_for(second, since) if promoted.returncode == 0 else None
        print(f"every worker answers with {second} {switch} s after models/current changed "
              f"(limit {SWITCH_LIMIT} s)")
        ok &= promoted.returncode == 0 and switch is not None and switch <= SWITCH_LIMIT

        step("3. a candidate trained on label-flipped data")
        t = time.monotonic()
        flipped = train_flipped(models)
        print(f"trained {flipped} in {time.monotonic() - t:.0f} s")
        refused = cli("promote", flipped, models=models, database=database)
        print(refused.stderr.strip())
        live = request(f"{service.base}/v1/model", key=API_KEY)[1]["version"]
        print(f"promote exit code {refused.returncode}; live version still {live}")
        ok &= refused.returncode != 0 and live == second

        step("4. a tampered artifact written into models/current by hand")
        tampered = f"{second}-tampered"
        shutil.copytree(models / second, models / tampered)
        with (models / tampered / "model.joblib").open("ab") as handle:
            handle.write(b"\0")
        (models / "current").write_text(tampered + "\n")
        since = time.time()
        time.sleep(5)
        info = request(f"{service.base}/v1/model", key=API_KEY)[1]
        print(f"responses in the next 5 s by version: {traffic.versions_since(since)}")
        print(f"GET /v1/model: version {info['version']}, switch_error: {info.get('switch_error', {}).get('error')}")
        ok &= info["version"] == second and traffic.versions_since(since).keys() == {second}
        (models / "current").write_text(second + "\n")  # undo the hand edit
        shutil.rmtree(models / tampered)

        step("5. rollback")
        rolled = cli("rollback", models=models)
        print(f"rollback exit code {rolled.returncode}, now live: {rolled.stdout.strip()}")
        since = (models / "current").stat().st_mtime
        switch = traffic.wait_for(first, since)
        print(f"every worker answers with {first} {switch} s after models/current changed (limit {SWITCH_LIMIT} s)")
        ok &= rolled.stdout.strip() == first and switch is not None and switch <= SWITCH_LIMIT

        step("6. /review in headless Chromium")
        review = review_in_browser(service.base)
        for key, value in review.items():
            print(f"{key}: {value}")
        ok &= "skipped" not in review and review["newest_first"] and review["gone_from_queue"]
    finally:
        traffic.stop()
        service.stop()
    latencies = sorted(r[1] - r[0] for r in traffic.records)
    print(f"\ntraffic: {len(traffic.records)} requests in {time.monotonic() - started:.0f} s, "
          f"{len(traffic.failures)} failed, p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
          f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms (2 cores shared with training)")
    for failure in traffic.failures[:5]:
        print(f"  failure: {failure}")
    ok &= not traffic.failures
    print(f"live switch demo: {'PASS' if ok else 'FAIL'}")
    if ok:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept for inspection: {work}; gunicorn log {service.log.name}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
