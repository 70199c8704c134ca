"""Group commit (moderation/group_commit.py): the writes of concurrent requests share a commit, each request
returns after the commit holding its write, one bad write fails only its own request, and a process SIGKILLed
while writing loses nothing it acknowledged."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from moderation.group_commit import GroupCommit, WriteGate
from moderation.store import Store

ROOT = Path(__file__).resolve().parent.parent


def test_concurrent_writes_share_a_commit_and_each_returns_after_it():
    committed, batches = [], []
    release = threading.Event()

    def run(items):
        if items == ["first"]:
            release.wait(5)  # the first commit is slow: the others queue meanwhile
        batches.append(list(items))
        committed.extend(items)

    group = GroupCommit(run)
    returned = []

    def submit(item):
        group.submit(item)
        returned.append((item, item in committed))

    first = threading.Thread(target=submit, args=("first",))
    first.start()
    time.sleep(0.1)
    others = [threading.Thread(target=submit, args=(f"w{n}",)) for n in range(5)]
    for thread in others:
        thread.start()
    time.sleep(0.2)
    assert len(returned) == 0  # nobody is acknowledged before its commit
    release.set()
    for thread in [first, *others]:
        thread.join(5)
    assert batches[0] == ["first"] and sorted(batches[1]) == [f"w{n}" for n in range(5)]  # one commit for five
    assert len(returned) == 6 and all(done for _, done in returned)


def test_a_failing_write_fails_only_its_own_request():
    stored = []

    def run(items):
        if "bad" in items:
            raise ValueError("refused")
        stored.extend(items)

    group = GroupCommit(run)
    results = {}

    def submit(item):
        try:
            group.submit(item)
            results[item] = "ok"
        except ValueError:
            results[item] = "error"

    with group._leader:  # hold the leader's lock so all three queue into one batch
        threads = [threading.Thread(target=submit, args=(item,)) for item in ("a", "bad", "b")]
        for thread in threads:
            thread.start()
        time.sleep(0.2)
    for thread in threads:
        thread.join(5)
    assert results == {"a": "ok", "bad": "error", "b": "ok"} and sorted(stored) == ["a", "b"]


def test_the_write_gate_lets_one_process_write_at_a_time(tmp_path):
    path = tmp_path / "db.writelock"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from moderation.group_commit import WriteGate
        with WriteGate(Path({str(path)!r})).held():
            print("held", flush=True)
            time.sleep(1.0)
    """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    started = time.monotonic()
    with WriteGate(path).held():
        waited = time.monotonic() - started
    holder.wait(5)
    assert waited > 0.5  # it waited for the other process to let go


WRITER = """
import sys, threading
sys.path.insert(0, {root!r})
from moderation.store import Store
from moderation.repeats import fingerprint
store = Store({url!r})
key = fingerprint("Earn 400 dollars a day from home, message me on the chat app today")
lock = threading.Lock()

def write(worker):
    n = 0
    while True:
        n += 1
        comment_id = f"w{{worker}}-{{n}}"
        if n % 2:
            flagged = [dict(text="Earn 400 dollars a day from home, message me on the chat app today", decision="flag",
                            spam=0.9, off_topic=None, reasons=[{{"code": "repeat", "message": "m"}}], explanation=None,
                            model_version="v", article_id="a1", comment_id=comment_id, fingerprint=key)]
            store.record_moderation([], flagged)
        else:
            store.record_moderation([("a1", f"a comment {{comment_id}}", comment_id, None)], [])
        with lock:
            print(comment_id, flush=True)

for worker in range(4):
    threading.Thread(target=write, args=(worker,), daemon=True).start()
threading.Event().wait()
"""


def test_a_process_killed_while_writing_loses_nothing_it_acknowledged(tmp_path):
    url = f"sqlite:///{tmp_path / 'moderation.db'}"
    Store(url).put_article("a1", "An article", "Its body")
    writer = subprocess.Popen([sys.executable, "-c", WRITER.format(root=str(ROOT), url=url)], stdout=subprocess.PIPE,
                              text=True)
    acknowledged = []
    deadline = time.monotonic() + 60
    while len(acknowledged) < 400 and time.monotonic() < deadline:
        line = writer.stdout.readline()
        if not line:
            break
        acknowledged.append(line.strip())
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(10)
    assert len(acknowledged) >= 400, "the writer did not get going"
    store = Store(url)
    missing = [c for c in acknowledged if not (store.comment_records(c)["flagged"]
                                               or store.comment_records(c)["thread_comments"])]
    assert missing == []
    held = [c for c in acknowledged if int(c.split("-")[1]) % 2]
    assert len(store.review_queue()) == 1  # the held ones are one wave item
    assert store.review_queue()[0]["wave"]["count"] >= len(held)
