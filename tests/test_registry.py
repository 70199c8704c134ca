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


@pytest.mark.parametrize("umask, dir_mode, file_mode", [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600)])
def test_versions_get_the_modes_of_ordinary_files(tmp_path, umask, dir_mode, file_mode):
    """A model trained by one user is served by another (the container's uid 10001): a version, its files and
    `current` are created as open() and mkdir() would under the process's umask, not mkstemp's private 0600."""
    import os
    import stat

    registry = ModelRegistry(tmp_path / "models")
    old = os.umask(umask)
    try:
        version = registry.save({"spam": "placeholder"}, {"thresholds": {}})
        registry.set_current(version)
    finally:
        os.umask(old)
    mode = lambda path: stat.S_IMODE(path.stat().st_mode)  # noqa: E731
    assert mode(registry.root / version) == dir_mode
    assert {mode(p) for p in (registry.root / version).iterdir()} == {file_mode}
    assert mode(registry.root / "current") == file_mode
    assert os.umask(old) == old  # the umask read left it as it was
    os.umask(old)


def test_an_unreadable_models_folder_is_a_clear_error(registry_copy, monkeypatch):
    from pathlib import Path

    read_text = Path.read_text

    def denied(self, *args, **kwargs):
        if self.name in ("current", "metadata.json"):
            raise PermissionError(13, "Permission denied", str(self))
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(ModelLoadError, match=r"cannot read .*current: Permission denied .*readable by the user"):
        registry_copy.load()
    with pytest.raises(ModelLoadError, match=r"cannot read .*metadata.json: Permission denied"):
        registry_copy.metadata(registry_copy.versions()[0])
