"""Retraining behind the promotion gate, rollback through the history, and the live switch in a running app."""

import json
import shutil

import pytest
from click.testing import CliRunner

from moderation.features import SITE_LABEL_WEIGHT
from moderation.registry import ModelRegistry
from moderation.store import Store
from service import create_app
from training import datasets, gate, lifecycle
from training.__main__ import cli
from training.train import train_model


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture()
def registry(tiny_registry, tmp_path):
    """A copy of the tiny registry (one live version), so tests can promote and roll back freely."""
    root = tmp_path / "models"
    shutil.copytree(tiny_registry.root, root)
    return ModelRegistry(root)


def copy_version(registry: ModelRegistry, name: str) -> str:
    shutil.copytree(registry.root / registry.current_version(), registry.root / name)
    return name


@pytest.fixture(scope="module")
def evaluation(data_dir):
    examples, _ = lifecycle.evaluation_examples(None, data_dir)
    return examples


@pytest.fixture(scope="module")
def flipped_version(tiny_registry, small_examples, tmp_path_factory):
    """A model trained on the tiny training slice with every spam/ham label flipped."""
    flip = {"spam": "ham", "ham": "spam"}
    examples = [datasets.Example(e.text, flip.get(e.label, e.label), e.source, e.group, e.article_id,
                                 e.article_title, e.article_body) for e in small_examples]
    scratch = ModelRegistry(tmp_path_factory.mktemp("flipped"))
    version = train_model(scratch, examples=examples, make_current=False)["version"]
    return scratch.root / version


def test_a_label_flipped_model_is_refused_with_the_figures(registry, flipped_version, evaluation):
    shutil.copytree(flipped_version, registry.root / flipped_version.name)
    live = registry.current_version()
    with pytest.raises(lifecycle.GateRefused) as refused:
        lifecycle.promote(registry, flipped_version.name, None, examples=evaluation)
    result = refused.value.result
    assert registry.current_version() == live
    assert result.checks["spam_auc"]["verdict"] == "WORSE"
    assert result.checks["spam_held_or_caught"]["verdict"] == "WORSE"
    assert result.checks["news_held"]["verdict"] == "WORSE"  # it holds the readers' comments instead
    assert result.candidate["spam_auc"] < 0.5 < result.live["spam_auc"]
    assert any(f.startswith("spam_auc") for f in result.failures)
    assert "spam_auc" in result.table() and "WORSE" in result.table()


def test_force_with_a_reason_overrides_the_gate_and_is_recorded(registry, flipped_version, evaluation):
    shutil.copytree(flipped_version, registry.root / flipped_version.name)
    result = lifecycle.promote(registry, flipped_version.name, None, force=True, reason="drill", examples=evaluation)
    assert not result.passed and registry.current_version() == flipped_version.name
    entry = registry.history()[-1]
    assert entry["action"] == "force-promote" and entry["reason"] == "drill"
    assert entry["gate"]["failures"] and entry["gate"]["checks"]["spam_auc"]["verdict"] == "WORSE"


def test_an_equal_model_passes_and_the_gate_figures_are_recorded(registry, evaluation):
    name = copy_version(registry, "20990101-000000-same")
    result = lifecycle.promote(registry, name, None, examples=evaluation)
    assert result.passed and registry.current_version() == name
    assert result.checks["spam_auc"]["candidate"] == result.checks["spam_auc"]["live"]
    assert result.checks["relevance_auc"]["verdict"] == "not compared"  # no relevance model on either side
    assert registry.history()[-1]["gate"]["dataset"]["n"] == len(evaluation)


def test_a_candidate_without_the_live_model_s_relevance_model_is_refused(registry, evaluation):
    """A retrained model must never silently make things worse: one without a relevance model would stop scoring
    off_topic for every comment; its relevance figures were 'not compared', so it passed."""
    from moderation.registry import LoadedModel

    live = registry.load()
    assert live.relevance is not None
    candidate = LoadedModel("20990101-000000-norel", {k: v for k, v in live.artifact.items() if k != "relevance"},
                            live.metadata)
    result = gate.compare(candidate, live, evaluation)
    assert not result.passed
    assert result.checks["relevance_pairing_auc"]["verdict"] == "MISSING"
    assert result.checks["relevance_pairing_auc"]["live"] > 0.5
    assert any(f.startswith("relevance_pairing_auc: the candidate has none") for f in result.failures)
    assert result.checks["spam_auc"]["verdict"] == "ok"
    assert "MISSING" in result.table()
    assert gate.compare(live, candidate, evaluation).passed  # gaining a relevance model is not a failure


@pytest.fixture(scope="module")
def toxic_evaluation(data_dir):
    examples = lifecycle.toxicity_examples(data_dir)
    assert examples, "the shared data holds the toxicity sets"
    return examples


class _Inverted:
    """A toxicity scorer that ranks comments the wrong way round."""

    def __init__(self, inner):
        self.inner = inner

    def scores(self, texts):
        return 1.0 - self.inner.scores(texts)


def _with(live, artifact_changes: dict, thresholds: dict | None = None, version="20990101-000000-tox"):
    """The live model with parts of its artifact replaced (None: removed) and thresholds moved."""
    from moderation.registry import LoadedModel

    artifact = dict(live.artifact)
    for name, part in artifact_changes.items():
        if part is None:
            artifact.pop(name, None)
        else:
            artifact[name] = part
    metadata = {**live.metadata, "thresholds": {**live.metadata.get("thresholds", {}), **(thresholds or {})}}
    return LoadedModel(version, artifact, metadata)


def test_a_candidate_whose_toxicity_ranks_worse_is_refused(registry, evaluation, toxic_evaluation):
    live = registry.load()
    assert live.artifact.get("toxicity") is not None
    candidate = _with(live, {"toxicity": _Inverted(live.artifact["toxicity"])})
    result = gate.compare(candidate, live, evaluation, toxic=toxic_evaluation)
    assert not result.passed
    assert result.checks["toxicity_auc"]["verdict"] == "WORSE"
    assert result.candidate["toxicity_auc"] < 0.5 < result.live["toxicity_auc"]
    assert result.checks["spam_auc"]["verdict"] == "ok"
    assert result.dataset["toxicity_n"] == len(toxic_evaluation)


def test_a_candidate_without_a_toxicity_score_is_refused(registry, evaluation, toxic_evaluation):
    live = registry.load()
    candidate = _with(live, {"toxicity": None})
    result = gate.compare(candidate, live, evaluation, toxic=toxic_evaluation)
    assert not result.passed and result.checks["toxicity_auc"]["verdict"] == "MISSING"
    assert gate.compare(live, candidate, evaluation, toxic=toxic_evaluation).passed


def test_a_candidate_holding_more_news_comments_for_toxicity_is_refused(registry, evaluation, toxic_evaluation):
    """The same scores at a toxic flag threshold far down: its spam figures are the live model's, but it holds
    ordinary readers' comments; the whole-decision figure and the toxicity one both say so."""
    live = registry.load()
    candidate = _with(live, {}, thresholds={"toxic_flag": 0.05})
    result = gate.compare(candidate, live, evaluation, toxic=toxic_evaluation)
    assert not result.passed
    assert result.checks["news_held_any_reason"]["verdict"] == "WORSE"
    assert result.checks["toxicity_civil_held"]["verdict"] == "WORSE"
    assert result.checks["news_held"]["verdict"] == "ok"  # the spam-only figure cannot see it
    assert result.checks["toxicity_auc"]["verdict"] == "ok"


def _trained_as(monkeypatch, source):
    """`train` made to save a copy of the version folder `source` instead of training (the gate is what is tested)."""
    import training.train

    def fake_train_model(registry, extra_files=(), make_current=None, site_weight=None, archive_rows=None,
                         archive_name=None):
        name = f"20990101-000000-{source.name[-8:]}"
        shutil.copytree(source, registry.root / name)
        if make_current:
            registry.set_current(name)
        return {**registry.metadata(name), "version": name}

    monkeypatch.setattr(training.train, "train_model", fake_train_model)


def test_train_promote_goes_through_the_gate(registry, flipped_version, tmp_path, monkeypatch):
    """A retrained model must never silently make things worse: `train --promote` made the new version live with
    no comparison at all. Now it runs the promotion gate: refused, the version is saved but not live (exit 2)."""
    database = f"sqlite:///{tmp_path / 'labels.db'}"
    Store(database).dispose()
    live = registry.current_version()
    _trained_as(monkeypatch, flipped_version)
    refused = run("train", "--models", registry.root, "--database", database, "--promote")
    assert refused.exit_code == 2
    new = refused.stdout.strip().splitlines()[-1]
    assert new in registry.versions() and registry.current_version() == live
    assert "refused by the gate" in refused.stderr and "WORSE" in refused.stderr and f"promote {new} --force" in \
        refused.stderr

    _trained_as(monkeypatch, registry.root / live)  # the same model again: not worse, so it goes live
    passed = run("train", "--models", registry.root, "--database", database, "--promote")
    assert passed.exit_code == 0, passed.output
    assert registry.current_version() == passed.stdout.strip().splitlines()[-1] != live
    assert registry.history()[-1]["action"] == "promote" and registry.history()[-1]["gate"]["passed"]


def test_cli_promote_refuses_and_force_needs_a_reason(registry, flipped_version, tmp_path):
    shutil.copytree(flipped_version, registry.root / flipped_version.name)
    database = f"sqlite:///{tmp_path / 'labels.db'}"
    Store(database).dispose()  # an explicit --database must name an existing store (tests/test_cli_refusals.py)
    live = registry.current_version()
    refused = run("promote", "--models", registry.root, "--database", database, flipped_version.name)
    assert refused.exit_code == 2 and "refused by the gate" in refused.stderr
    assert "spam_auc" in refused.stderr and "WORSE" in refused.stderr
    assert registry.current_version() == live
    no_reason = run("promote", "--models", registry.root, "--database", database, "--force", flipped_version.name)
    assert no_reason.exit_code == 2 and "--reason" in no_reason.stderr


def test_rollback_walks_back_through_the_history(registry):
    first = registry.current_version()
    second, third = copy_version(registry, "20990101-000000-b"), copy_version(registry, "20990102-000000-c")
    registry.set_current(second)
    registry.set_current(third)
    assert run("rollback", "--models", registry.root).stdout.strip() == second
    assert run("rollback", "--models", registry.root).stdout.strip() == first
    assert registry.current_version() == first
    last = run("rollback", "--models", registry.root)
    assert last.exit_code == 2 and "no earlier version" in last.stderr
    registry.set_current(third)
    assert run("rollback", "--models", registry.root).stdout.strip() == first


def test_feedback_is_exported_and_trained_on_with_a_held_out_slice(tiny_registry, small_examples, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'labels.db'}")
    texts = [f"Limited offer {i}: cheap watches at www.watch{i}.example, click now" for i in range(20)]
    texts += [f"Comment {i}: the council should publish the budget figures before the vote" for i in range(20)]
    for i, text in enumerate(texts):
        store.add_feedback(text, "spam" if i < 20 else "ham", article_id="a1" if i % 2 else None,
                           article_title="Budget" if i % 2 else None)
    out = tmp_path / "labels.jsonl"
    result = run("export-feedback", "--database", store.url, "--output", out)
    assert result.exit_code == 0 and result.stdout.startswith("40 labels")
    exported = datasets.load_labelled(out)
    assert [(e.text, e.label) for e in exported] == [(t, "spam" if i < 20 else "ham") for i, t in enumerate(texts)]
    stamps = [json.loads(line)["created_at"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert all(stamp.endswith("+00:00") for stamp in stamps)  # UTC with its offset, as the API gives times
    held_out = [e for e in gate.evaluation_set([], gate.feedback_examples(store.list_feedback()))]
    assert 0 < len(held_out) < 40  # one label in five by hash, never trained on
    registry = ModelRegistry(tmp_path / "models")
    metadata = train_model(registry, examples=small_examples, extra_files=(out,))
    train_texts = metadata["data"]["train_by_source"]["labels.jsonl"]
    assert sum(train_texts.values()) == 40 - len(held_out)
    assert metadata["site_label_weight"] == SITE_LABEL_WEIGHT  # the site's labels weigh more than shared data
    assert str(out) in metadata["data"]["hashes"]


def test_a_running_app_switches_to_a_promoted_version_and_refuses_a_tampered_one(registry, tmp_path):
    app = create_app({"TESTING": True, "MODELS_DIR": str(registry.root),
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"})
    client = app.test_client()
    watcher = app.extensions["model_watcher"]
    first = registry.current_version()
    assert watcher.poll() is None and client.get("/v1/model").json["version"] == first
    second = copy_version(registry, "20990101-000000-b")
    registry.set_current(second)
    held = app.extensions["moderator"]  # a request in flight keeps the Moderator it started with
    assert watcher.poll() == second
    assert client.get("/v1/model").json["version"] == second
    assert client.post("/v1/moderate", json={"text": "hello"}).json["model_version"] == second
    assert held.version == first and held.moderate("hello").model_version == first

    tampered = copy_version(registry, "20990102-000000-bad")
    with (registry.root / tampered / "model.joblib").open("ab") as handle:
        handle.write(b"tampered")
    (registry.root / "current").write_text(tampered + "\n")  # bypassing promote, which would refuse it
    assert watcher.poll() is None
    info = client.get("/v1/model").json
    assert info["version"] == second and info["switch_error"]["version"] == tampered
    assert "checksum" in info["switch_error"]["error"]
    assert client.post("/v1/moderate", json={"text": "hello"}).status_code == 200
    registry.set_current(first, action="rollback")
    assert watcher.poll() == first and "switch_error" not in client.get("/v1/model").json


def test_a_pinned_version_is_not_switched(registry, tmp_path):
    app = create_app({"TESTING": True, "MODELS_DIR": str(registry.root), "MODEL_VERSION": registry.current_version(),
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"})
    assert "model_watcher" not in app.extensions


def test_promoting_the_live_version_again_changes_nothing(registry, evaluation):
    """A repeated `promote` (a retried deploy script) used to append a second entry for the live version, after
    which a second rollback walked forward again, to the version the first rollback had left."""
    first = registry.current_version()
    second = copy_version(registry, "20990101-000000-b")
    lifecycle.promote(registry, second, None, examples=evaluation)
    entries = len(registry.history())
    result = run("promote", "--models", registry.root, second, "--database", f"sqlite:///{registry.root}/s.db")
    assert result.exit_code == 0 and result.stdout.strip() == second
    assert "already live" in result.stderr
    assert len(registry.history()) == entries
    assert run("rollback", "--models", registry.root).stdout.strip() == first
    last = run("rollback", "--models", registry.root)
    assert last.exit_code == 2 and "no earlier version" in last.stderr
    assert registry.current_version() == first


@pytest.mark.filterwarnings("ignore:.*skipped a torn line")
def test_a_history_torn_by_a_crash_mid_append_still_rolls_back(registry):
    """A power cut during the history append leaves a torn last line: rollback was a JSONDecodeError traceback,
    and the next entry was glued onto the torn one."""
    first = registry.current_version()
    second, third = copy_version(registry, "20990101-000000-b"), copy_version(registry, "20990102-000000-c")
    registry.set_current(second)
    with (registry.root / "history.jsonl").open("a") as handle:
        handle.write('{"action": "promote", "vers')
    registry.set_current(third)
    assert [e["version"] for e in registry.history()] == [first, second, third]
    assert run("rollback", "--models", registry.root).stdout.strip() == second
    with (registry.root / "history.jsonl").open("a") as handle:
        handle.write('{"action": "promote", "vers')  # torn again, as the last line this time
    result = run("rollback", "--models", registry.root)
    assert result.exit_code == 0 and result.stdout.strip() == first, result.output
