import json
import shutil

import pytest

from moderation.registry import ModelLoadError, ModelRegistry


@pytest.fixture()
def registry_copy(tiny_registry, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(tiny_registry.root, root)
    return ModelRegistry(root)


def test_saved_version_loads_with_its_metadata(tiny_registry):
    version = tiny_registry.current_version()
    model = tiny_registry.load()
    assert model.version == version
    meta = model.metadata
    assert meta["sha256"] and meta["libraries"]["scikit-learn"]
    assert 0 < meta["thresholds"]["spam_flag"] <= meta["thresholds"]["spam_reject"] < 1
    assert meta["metrics"]["evaluation"]["overall"]["n"] > 0


def test_tampered_artifact_is_refused(registry_copy):
    version = registry_copy.current_version()
    with (registry_copy.root / version / "model.joblib").open("ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ModelLoadError, match="checksum"):
        registry_copy.load()


def test_other_library_versions_are_refused(registry_copy):
    version = registry_copy.current_version()
    path = registry_copy.root / version / "metadata.json"
    meta = json.loads(path.read_text())
    meta["libraries"]["scikit-learn"] = "0.24.2"
    path.write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="scikit-learn 0.24.2"):
        registry_copy.load()


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="no live model"):
        ModelRegistry(tmp_path / "empty").load()
    with pytest.raises(ModelLoadError, match="not found"):
        ModelRegistry(tmp_path / "empty").load("20200101-000000-deadbeef")


def test_set_current_records_history(registry_copy):
    version = registry_copy.current_version()
    registry_copy.set_current(version, action="promote", reason="test")
    assert registry_copy.history()[-1]["reason"] == "test"
    assert (registry_copy.root / "current").read_text().strip() == version


def test_artifacts_of_another_format_are_refused(registry_copy):
    version = registry_copy.current_version()
    path = registry_copy.root / version / "metadata.json"
    meta = json.loads(path.read_text())
    meta["artifact_format"] = 1
    path.write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="artifact format 1"):
        registry_copy.load()
