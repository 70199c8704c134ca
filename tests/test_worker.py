"""The service's gunicorn worker (service/worker.py) takes a new connection only while one of its threads is free,
so keep-alive clients spread over the workers instead of queueing on whichever accepted first."""

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SLOW_APP = '''
import os, time
from flask import Flask

app = Flask(__name__)
app.config["MODEL_VERSION"] = "pinned"  # service/lifecycle.after_fork: nothing to reload


@app.get("/slow")
def slow():
    time.sleep(0.4)
    return str(os.getpid())
'''


def start(tmp_path, worker_class: str | None = None) -> tuple[int, subprocess.Popen]:
    (tmp_path / "slowapp.py").write_text(SLOW_APP)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("MODERATION_", "PROMETHEUS_"))},
           "PORT": str(port), "WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "1", "PYTHONPATH": str(tmp_path),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"), "GUNICORN_CONTROL_SOCKET": str(tmp_path / "ctl")}
    extra = ["--worker-class", worker_class] if worker_class else []
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "service/gunicorn.conf.py", *extra,
                             "slowapp:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            if len(children) == 2:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return port, proc
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("gunicorn did not start")


def first_answers(port: int, connections: int = 4) -> list[str]:
    """Open `connections` keep-alive connections at once, one request each: the pid that answered each."""
    barrier, answers = threading.Barrier(connections), [None] * connections

    def client(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        barrier.wait()
        conn.request("GET", "/slow")
        answers[i] = conn.getresponse().read().decode()
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


@pytest.mark.skipif(sys.platform != "linux", reason="gunicorn run on Linux")
def test_a_busy_worker_leaves_new_connections_to_the_other(tmp_path):
    port, proc = start(tmp_path)
    try:
        for _ in range(3):
            answers = first_answers(port)
            # One thread a worker: each can hold at most one of the four at a time, so both serve some of them.
            assert len(set(answers)) == 2, answers
    finally:
        proc.terminate()
        proc.wait(timeout=30)
