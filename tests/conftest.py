"""Shared fixtures: a tiny model trained once per test run on a slice of the real data, and apps built on it."""

from __future__ import annotations

import glob
import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from moderation.registry import ModelRegistry
from service import create_app
from training import sources
from training.train import load_default_examples, train_model

SEED_FILE = "seed/000_0e914d85ad094d08.txt"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    folder = sources.find_data_dir()
    if folder is None:
        pytest.fail("training data not found: run `make setup` (it reads ../shared/data or downloads the sets)")
    return folder


@pytest.fixture(scope="session")
def small_examples(data_dir):
    """About 1,200 real examples from every source: enough for a model that behaves, fast to train."""
    examples = load_default_examples(data_dir)
    rng = random.Random(7)
    return rng.sample(examples, 1200)


@pytest.fixture(scope="session")
def small_toxicity(data_dir):
    """A slice of the toxicity data (training.toxicity), split as the full data is: fast to fit."""
    from training import toxicity

    data = toxicity.load(data_dir)
    rng = random.Random(7)
    return toxicity.ToxicityData(rng.sample(data.train, 2500), rng.sample(data.evaluation, 500),
                                 rng.sample(data.span_train, 1500), data.span_trial[:200], data.span_test[:300])


@pytest.fixture(scope="session")
def tiny_registry(tmp_path_factory, small_examples, small_toxicity) -> ModelRegistry:
    registry = ModelRegistry(tmp_path_factory.mktemp("models"))
    train_model(registry, examples=small_examples, threshold_folds=3, toxicity=small_toxicity)
    return registry


@pytest.fixture()
def app(tiny_registry, tmp_path):
    return create_app({
        "TESTING": True,
        "MODELS_DIR": str(tiny_registry.root),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'moderation.db'}",
    })


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def seed_article(data_dir) -> dict:
    """The Mosul article the project started from, read from the shared seed page (headline and body)."""
    lines = [line.strip() for line in (data_dir / SEED_FILE).read_text(encoding="utf-8").splitlines()]
    title = "ISIL fighters flee Mosul as Iraqi forces approach"
    assert title in lines
    start = lines.index(title) + 1
    end = lines.index("Do you like this article?")
    body = "\n".join(line for line in lines[start:end] if line)
    return {"id": "seed-mosul", "title": title, "body": body}


# A PostgreSQL cluster for the session (tests/test_postgres.py, tests/test_readiness.py): started from the machine's
# PostgreSQL binaries (Debian's `postgresql` package; `.ci/run` installs it), on a Unix socket in a temporary folder
# (no TCP port), as the `postgres` user when the tests run as root (the server refuses root). Without the binaries
# the tests that need it are skipped, saying why.

def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if found:
        return Path(found[-1]).parent
    postgres = shutil.which("postgres")
    return Path(postgres).parent if postgres else None


@pytest.fixture(scope="session")
def postgres_server():
    """(socket folder, run): a server for the session; `run` runs a client command as the server's user."""
    bindir = _bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (Debian package postgresql)")
    as_root = os.geteuid() == 0
    if as_root:
        try:
            import pwd
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run the server as")
    home = Path(tempfile.mkdtemp(prefix="moderation-pg-"))
    if as_root:
        os.chown(home, owner.pw_uid, owner.pw_gid)
    data, socket = home / "data", home / "socket"

    def run(*args, **kw):
        command = [str(bindir / args[0]), *map(str, args[1:])]
        return subprocess.run((["runuser", "-u", "postgres", "--"] if as_root else []) + command,
                              check=True, capture_output=True, text=True, **kw)

    run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C")
    socket.mkdir()
    if as_root:
        os.chown(socket, owner.pw_uid, owner.pw_gid)
    server = subprocess.Popen(
        (["runuser", "-u", "postgres", "--"] if as_root else [])
        + [str(bindir / "postgres"), "-D", str(data), "-k", str(socket), "-c", "listen_addresses=",
           "-c", "fsync=off", "-c", "full_page_writes=off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run([str(bindir / "pg_isready"), "-h", str(socket), "-U", "postgres"],
                             capture_output=True).returncode != 0:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start: {server.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
        yield socket, run
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture()
def pg_url(postgres_server, request):
    """A new empty database for one test: its SQLAlchemy URL (psycopg 3, over the Unix socket)."""
    socket, run = postgres_server
    name = "t_" + request.node.name.lower().replace("[", "_").replace("]", "").replace("-", "_")[:50]
    run("createdb", "-h", socket, "-U", "postgres", name)
    yield f"postgresql+psycopg://postgres@/{name}?host={socket}"
    run("dropdb", "-h", socket, "-U", "postgres", "--force", name)


@pytest.fixture()
def two_versions(tiny_registry, tmp_path):
    """A copy of the tiny registry with a second version (a copy of the first), the first one live."""
    import shutil

    from moderation.registry import ModelRegistry

    root = tmp_path / "models"
    shutil.copytree(tiny_registry.root, root)
    registry = ModelRegistry(root)
    first = registry.current_version()
    shutil.copytree(root / first, root / "20990101-000000-second")
    return registry, first, "20990101-000000-second"
