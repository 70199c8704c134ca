"""Shared fixtures: a tiny model trained once per session on a slice of the real data, and apps built on it."""

from __future__ import annotations

import random
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
def tiny_registry(tmp_path_factory, small_examples) -> ModelRegistry:
    registry = ModelRegistry(tmp_path_factory.mktemp("models"))
    train_model(registry, examples=small_examples, threshold_folds=3)
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
