import json

import pytest
from click.testing import CliRunner

from training.__main__ import cli


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result


def test_evaluate_on_a_labelled_file(tiny_registry, tmp_path):
    data = tmp_path / "labels.jsonl"
    rows = [{"text": "Subscribe to my channel and win free money http://x.co", "label": "spam"},
            {"text": "Call 08712345678 now to claim your cash prize!!!", "label": "spam"},
            {"text": "The senator's vote on the bill surprised nobody in her district.", "label": "ham"},
            {"text": "I disagree with the author about the tax plan.", "label": "ham"}]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    result = run("evaluate", "--models", tiny_registry.root, "--data", data)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    overall = report["overall"]
    assert overall["n"] == 4 and overall["spam"] == 2
    for key in ("accuracy", "precision", "recall", "f1", "mcc", "confusion_matrix"):
        assert key in overall["at_spam_reject"]
    assert 0 <= overall["roc_auc"] <= 1


def test_rescore_writes_every_id_once_and_reports_bad_rows(tiny_registry, tmp_path):
    source = tmp_path / "old.jsonl"
    lines = [json.dumps({"id": i, "text": t, "decision": "accept"}) for i, t in
             enumerate(["Great reporting, thanks", "FREE ringtones txt WIN to 80082", "", "ok then"])]
    lines += ['{"id": 9, "text": ', json.dumps({"text": "no id"}), json.dumps({"id": 1, "text": "repeat"})]
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "new.jsonl"
    result = run("rescore", "--models", tiny_registry.root, "--input", source, "--output", out, "--chunk-size", 2)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == [0, 1, 2, 3]
    assert all(set(r) == {"id", "decision", "scores", "reasons", "model_version"} for r in rows)
    assert rows[2]["decision"] == "reject" and rows[2]["reasons"][0]["code"] == "empty"
    errors = [json.loads(line) for line in (tmp_path / "new.jsonl.errors.jsonl").read_text().splitlines()]
    assert [(e["line"], e["error"]) for e in errors] == [
        (5, "invalid JSON: Expecting value"), (6, "missing id"), (7, "repeated id")]
    summary = json.loads(result.stdout)
    assert summary["scored"] == 4 and summary["errors"] == 3
    assert sum(summary["decisions"].values()) == 4


def test_rescore_reads_csv(tiny_registry, tmp_path):
    source = tmp_path / "old.csv"
    source.write_text('id,text,article_title\na,"Nice, balanced piece",Budget\nb,Visit www.cheap-pills.ru now,\n')
    out = tmp_path / "new.jsonl"
    assert run("rescore", "--models", tiny_registry.root, "--input", source, "--output", out).exit_code == 0
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["a", "b"]


def test_promote_and_rollback(tiny_registry, tmp_path):
    import shutil

    from moderation.registry import ModelRegistry

    root = tmp_path / "models"
    shutil.copytree(tiny_registry.root, root)
    registry = ModelRegistry(root)
    first = registry.current_version()
    second_dir = root / "20990101-000000-copy"
    shutil.copytree(root / first, second_dir)
    assert run("promote", "--models", root, second_dir.name, "--reason", "test").exit_code == 0
    assert registry.current_version() == second_dir.name
    assert run("rollback", "--models", root).stdout.strip() == first
    assert registry.current_version() == first
    bad = run("promote", "--models", root, "nope")
    assert bad.exit_code == 2 and "not found" in bad.output


def test_models_pointing_at_a_file_is_a_usage_error_for_every_command(tmp_path):
    models = tmp_path / "models.tar"
    models.write_text("not a folder")
    source = tmp_path / "old.jsonl"
    source.write_text('{"id": 1, "text": "hi"}\n')
    for args in (["rollback"], ["evaluate"], ["promote", "v1"], ["train"],
                 ["rescore", "--input", source, "--output", tmp_path / "new.jsonl"]):
        result = CliRunner().invoke(cli, [str(a) for a in [*args, "--models", models]])
        assert result.exit_code == 2, (args, result.output)
        assert "'--models'" in result.output and "is a file" in result.output, (args, result.output)


def test_an_unreachable_store_is_one_error_line_for_every_command(tiny_registry, tmp_path):
    (tmp_path / "file").write_text("a file, not a folder")
    urls = ["nonsense", "postgresql://reader:secret@127.0.0.1:1/cms", f"sqlite:///{tmp_path}/file/moderation.db"]
    commands = (["export-feedback", "--output", tmp_path / "labels.jsonl"], ["prune", "--older-than", 30],
                ["promote", "--models", tiny_registry.root, "20990101-000000-candidate"],
                ["train", "--models", tmp_path / "models", "--with-feedback"])
    for url in urls:
        for args in commands:
            result = CliRunner().invoke(cli, [str(a) for a in [*args, "--database", url]])
            assert result.exit_code == 2, (url, args, result.exception, result.output)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), (url, args, lines)
            assert "secret" not in lines[0]
    assert not (tmp_path / "models").exists()


def test_fetch_data_says_what_went_wrong_when_a_download_is_not_what_was_expected(tmp_path, monkeypatch):
    """A proxy or a moved file answering 200 with an HTML page: it was a BadZipFile traceback."""
    from training import sources

    monkeypatch.setattr(sources, "find_data_dir", lambda: None)
    monkeypatch.setattr(sources, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr(sources, "_fetch", lambda url: b"<html><body>Moved</body></html>")
    result = CliRunner().invoke(cli, ["fetch-data"])
    assert result.exit_code == 2, (result.exception, result.output)
    assert result.stderr.startswith("error: ") and "not a zip archive" in result.stderr
    assert "youtube+spam+collection.zip" in result.stderr
    assert not (tmp_path / "data").exists()


def _labels(tmp_path):
    data = tmp_path / "labels.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in [
        {"text": "Call 08712345678 now to claim your cash prize!!!", "label": "spam"},
        {"text": "I disagree with the author about the tax plan.", "label": "ham"}]) + "\n")
    return data


def test_evaluate_output_in_a_new_folder_is_written_and_an_impossible_one_refused_first(tiny_registry, tmp_path,
                                                                                       monkeypatch):
    """(Both were tracebacks, raised only after the whole evaluation had run.)"""
    data = _labels(tmp_path)
    made = run("evaluate", "--models", tiny_registry.root, "--data", data, "--output", tmp_path / "new" / "m.json")
    assert made.exit_code == 0, made.output
    assert json.loads((tmp_path / "new" / "m.json").read_text())["overall"]["n"] == 2
    (tmp_path / "file").write_text("a file, not a folder")
    from training import evaluate

    monkeypatch.setattr(evaluate, "evaluate_model", lambda *a: pytest.fail("evaluated before checking --output"))
    refused = CliRunner().invoke(cli, ["evaluate", "--models", str(tiny_registry.root), "--data", str(data),
                                       "--output", str(tmp_path / "file" / "m.json")])
    assert refused.exit_code == 2 and refused.stderr.startswith("error: cannot write"), refused.output


def test_export_feedback_to_an_impossible_folder_is_one_error_line(tmp_path):
    from moderation.store import Store

    Store(f"sqlite:///{tmp_path}/s.db").dispose()
    (tmp_path / "file").write_text("a file, not a folder")
    result = CliRunner().invoke(cli, ["export-feedback", "--database", f"sqlite:///{tmp_path}/s.db",
                                      "--output", str(tmp_path / "file" / "labels.jsonl")])
    assert result.exit_code == 2 and result.stderr.startswith("error: cannot write"), (result.exception, result.output)


def test_train_into_a_models_folder_that_cannot_be_made_is_refused_before_training(tmp_path, monkeypatch):
    """(It trained for minutes, then failed with a NotADirectoryError traceback when saving.)"""
    from training import train

    (tmp_path / "file").write_text("a file, not a folder")
    monkeypatch.setattr(train, "train_model", lambda *a, **k: pytest.fail("trained before checking --models"))
    result = CliRunner().invoke(cli, ["train", "--models", str(tmp_path / "file" / "models")])
    assert result.exit_code == 2 and result.stderr.startswith("error: cannot write"), (result.exception, result.output)


@pytest.mark.parametrize("days", ["1000000", "inf", "nan"])
def test_prune_older_than_an_impossible_age_is_a_usage_error(tmp_path, days):
    """(Each was a traceback: OverflowError / ValueError from the date arithmetic.)"""
    result = CliRunner().invoke(cli, ["prune", "--database", f"sqlite:///{tmp_path}/s.db", "--older-than", days,
                                      "--dry-run"])
    assert result.exit_code == 2 and "'--older-than'" in result.output, (result.exception, result.output)


def test_fetch_data_with_a_mirror_that_is_not_a_url_or_a_mirror_folder_it_cannot_make(tmp_path, monkeypatch):
    """(MODERATION_DATA_MIRROR=/srv/data, a path without file://, was a ValueError traceback; --mirror-to under a
    file was a NotADirectoryError traceback.)"""
    from training import sources

    monkeypatch.setattr(sources, "find_data_dir", lambda: None)
    monkeypatch.setattr(sources, "PROJECT_ROOT", tmp_path)
    monkeypatch.setenv("MODERATION_DATA_MIRROR", "/srv/moderation-data")
    result = CliRunner().invoke(cli, ["fetch-data"])
    assert result.exit_code == 2 and result.stderr.startswith("error: could not download"), \
        (result.exception, result.output)
    assert "/srv/moderation-data/youtube+spam+collection.zip" in result.stderr
    monkeypatch.undo()

    (tmp_path / "file").write_text("a file, not a folder")
    result = CliRunner().invoke(cli, ["fetch-data", "--mirror-to", str(tmp_path / "file" / "mirror")])
    assert result.exit_code == 2 and result.stderr.startswith("error: cannot write"), (result.exception, result.output)


def test_evaluate_report_without_protocols_is_refused_not_ignored(tiny_registry, tmp_path):
    result = CliRunner().invoke(cli, ["evaluate", "--models", str(tiny_registry.root), "--data",
                                      str(_labels(tmp_path)), "--report", str(tmp_path / "report")])
    assert result.exit_code == 2 and "--report" in result.stderr and "--protocols" in result.stderr, result.output
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("command", [["evaluate"], ["rescore", "--input", "in.jsonl", "--output", "out.jsonl"]])
def test_an_empty_model_version_is_a_usage_error(tiny_registry, tmp_path, command):
    """`--model "$VERSION"` with VERSION unset used the live model without a word (promote "" is refused too)."""
    (tmp_path / "in.jsonl").write_text('{"id": 1, "text": "hello"}\n')
    args = [a if not a.endswith(".jsonl") else str(tmp_path / a) for a in command]
    result = CliRunner().invoke(cli, [*args, "--models", str(tiny_registry.root), "--model", " "])
    assert result.exit_code == 2
    assert "--model" in result.output and "is empty" in result.output
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "heavy"])
def test_a_site_weight_that_is_not_a_positive_number_is_refused_before_training(tmp_path, value, monkeypatch):
    import training.train

    monkeypatch.setattr(training.train, "train_model", lambda *a, **k: pytest.fail("trained"))
    result = CliRunner().invoke(cli, ["train", "--models", str(tmp_path / "models"), "--site-weight", value])
    assert result.exit_code == 2 and "--site-weight" in result.output
    assert not (tmp_path / "models").exists()


def test_the_site_weight_help_names_the_default_the_recipe_uses():
    from moderation.features import SITE_LABEL_WEIGHT

    result = CliRunner().invoke(cli, ["train", "--help"])
    assert f"[default: {SITE_LABEL_WEIGHT:g}," in " ".join(result.output.split())
