"""WAL checkpoints off the request path (moderation/checkpoint.py): the service's store copies the WAL back in a
background thread of each writing process, its connections keep SQLite's automatic checkpoint only as a backstop,
and nothing committed is lost on the way."""

import os
import sqlite3
import time

import pytest

from moderation import checkpoint
from moderation.checkpoint import BACKSTOP_PAGES, WalCheckpointer
from moderation.store import Store
from service import create_app


def wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def autocheckpoint(store: Store) -> int:
    raw = store.engine.raw_connection()
    try:
        return raw.cursor().execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    finally:
        raw.close()


def test_the_service_store_checkpoints_in_the_background(tiny_registry, tmp_path):
    app = create_app({"TESTING": True, "MODELS_DIR": str(tiny_registry.root),
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", "DATABASE_CHECKPOINT_SECONDS": 0.05})
    store = app.extensions["store"]
    assert store.checkpointer is not None and store.checkpointer.every == 0.05
    assert autocheckpoint(store) == BACKSTOP_PAGES
    for i in range(50):
        store.record_moderation([("a-1", f"comment {i}")], [])
    # The thread copied every frame of the WAL into the database file, with no request doing it.
    assert wait_for(lambda: store.checkpointer.last is not None and store.checkpointer.last[1] > 0
                    and store.checkpointer.last[1] == store.checkpointer.last[2])
    assert store.checkpointer.checkpoints >= 1
    with sqlite3.connect(tmp_path / "db.sqlite") as other:
        assert other.execute("SELECT count(*) FROM thread_comments").fetchone()[0] == 50
    store.checkpointer.stop()


def test_without_the_setting_sqlite_checkpoints_as_usual(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'cli.db'}")  # the CLI's stores
    assert store.checkpointer is None
    assert autocheckpoint(store) == 1000
    assert Store("sqlite:///:memory:", checkpoint_seconds=0.5).checkpointer is None


def test_the_setting_at_zero_keeps_sqlites_own(tiny_registry, tmp_path):
    app = create_app({"TESTING": True, "MODELS_DIR": str(tiny_registry.root), "DATABASE_CHECKPOINT_SECONDS": 0,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"})
    assert app.extensions["store"].checkpointer is None


def test_one_thread_per_process_started_by_the_first_write_and_stopped_when_idle(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "IDLE_POLLS", 3)
    store = Store(f"sqlite:///{tmp_path / 'idle.db'}", checkpoint_seconds=0.02)
    assert store.checkpointer._thread is None  # opening the store (gunicorn's master does) starts nothing
    store.add_thread_comment("a-1", "first")
    thread = store.checkpointer._thread
    assert thread is not None and thread.is_alive()
    store.add_thread_comment("a-1", "second")
    assert store.checkpointer._thread is thread  # still the same one
    assert wait_for(lambda: not thread.is_alive())  # nothing left to copy: it exits
    store.add_thread_comment("a-1", "third")
    assert store.checkpointer._thread is not thread and store.checkpointer._thread.is_alive()
    store.checkpointer.stop()
    assert store.thread("a-1") == ["first", "second", "third"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_worker_starts_its_own_thread(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'fork.db'}", checkpoint_seconds=0.02)
    store.add_thread_comment("a-1", "parent")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what a gunicorn worker does after the fork
        try:
            store.dispose()
            store.add_thread_comment("a-1", "child")
            mine = store.checkpointer._thread
            ok = mine is not None and mine.is_alive() and store.checkpointer._pid == os.getpid()
            ok = ok and wait_for(lambda: store.checkpointer.checkpoints >= 1, 5)
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    store.checkpointer.stop()
    assert store.thread("a-1") == ["parent", "child"]


def test_a_long_wal_is_checkpointed_with_restart(tmp_path, monkeypatch):
    """Past RESTART_FRAMES the thread asks for RESTART (wait for the writer and the readers, so the next commit
    writes the WAL from its start); below it, PASSIVE (wait for nothing)."""
    monkeypatch.setattr(checkpoint, "RESTART_FRAMES", 50)
    modes = []
    path = tmp_path / "restart.db"
    store = Store(f"sqlite:///{path}", checkpoint_seconds=0.05)
    original = store.checkpointer.checkpoint

    def spy(conn, restart=False):  # this store's only (other tests' service stores run their own threads)
        result = original(conn, restart)
        modes.append((restart, result[1]))
        return result

    store.checkpointer.checkpoint = spy
    store.add_thread_comment("a-1", "first")
    assert wait_for(lambda: modes)
    for i in range(100):  # ~4 frames a commit: well past 50 frames
        store.add_thread_comment("a-1", f"comment {i}")
    assert wait_for(lambda: any(restart for restart, _ in modes))
    store.checkpointer.stop()
    seen = list(modes)
    for (restart, _), (_, frames_before) in zip(seen[1:], seen):
        assert restart == (frames_before > 50)
    assert len(store.thread("a-1", limit=1000)) == 101


def test_every_must_be_positive():
    with pytest.raises(ValueError):
        WalCheckpointer("x.db", 0)
