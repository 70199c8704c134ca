"""The commands on stores, files, versions and URLs they cannot use: one `error:` line and a non-zero exit, nothing
created; labelled files with a byte order mark are read."""

from __future__ import annotations

import pytest


def _cli(*args):
    from click.testing import CliRunner

    from training.__main__ import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("args", [
    ("export-feedback", "--output", "{tmp}/labels.jsonl"),
    ("prune", "--older-than", "30"),
    ("train", "--with-feedback", "--models", "{tmp}/models"),
    ("deliver-reviews", "--url", "http://127.0.0.1:9/hook", "--secret-file", "{tmp}/secret", "--once"),
])


@pytest.mark.parametrize("database", ["sqlite:///{tmp}/typo/moderation.db", "bogus://host/db",
                                      "postgresql+psycopg://u@/db?host={tmp}/no-server"])


def test_a_store_the_cli_cannot_open_is_one_error_line_and_nothing_is_created(tmp_path, args, database):
    """A typo in --database made a new empty SQLite store (and its folders) and went on: prune said 0 deleted,
    export-feedback wrote 0 labels, train --with-feedback trained without the moderators' labels, all exit 0. A
    URL of an unknown database or a server that is down ended in SQLAlchemy's traceback (exit 1)."""
    (tmp_path / "secret").write_text("a shared secret of enough bytes\n")
    database = database.format(tmp=tmp_path)
    result = _cli(*[a.format(tmp=tmp_path) for a in args], "--database", database)
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:])
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output and not (tmp_path / "typo").exists()
    assert not (tmp_path / "labels.jsonl").exists()


@pytest.mark.parametrize("name,content", [
    ("labels.csv", b"text,label\n\xff\xfe not UTF-8,spam\n"),
    ("labels.jsonl", b'{"text": "caf\xe9", "label": "ham"}\n'),
    ("labels.csv", b""),
    ("labels.csv", b"text,label\n"),
    ("labels.jsonl", b"\n"),
])


def test_train_with_a_data_file_it_cannot_use_exits_non_zero_with_one_line(tmp_path, name, content):
    """Invalid UTF-8 in --data ended in a UnicodeDecodeError traceback; an empty file (an export that failed) was
    trained on silently - a model without the labels it was asked to learn, exit 0."""
    data = tmp_path / name
    data.write_bytes(content)
    result = _cli("train", "--models", tmp_path / "models", "--data", data, "--no-promote")
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:])
    errors = [line for line in result.output.splitlines() if not line.startswith("INFO ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {data}"), result.output
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


@pytest.mark.parametrize("name,content", [
    ("labels.csv", '\ufefftext,label\n"Cheap pills, click",spam\n'),
    ("labels.csv", '\ufeff"text","label"\n"Cheap pills, click","spam"\n'),
    ("labels.jsonl", '\ufeff{"text": "Cheap pills, click", "label": "spam"}\n'),
])


def test_a_labelled_file_with_a_byte_order_mark_is_read(tmp_path, name, content):
    """Excel's "CSV UTF-8" starts with a BOM: the first column was '\\ufefftext' and the file was refused with
    "a row needs a 'text' string"."""
    from training import datasets

    data = tmp_path / name
    data.write_text(content, encoding="utf-8")
    assert [(e.text, e.label) for e in datasets.load_labelled(data)] == [("Cheap pills, click", "spam")]


@pytest.mark.parametrize("version", ["", "  "])


def test_promote_of_an_empty_version_is_refused_before_the_gate_runs(two_versions, version):
    """`promote "$NEW"` with NEW unset loaded the live model as the candidate, ran the whole gate against itself
    (a minute, a table of figures) and only then failed to make "" live."""
    registry, first, _ = two_versions
    result = _cli("promote", "--models", registry.root, version)
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        "error: give the version to promote (it is empty)"], result.output
    assert registry.current_version() == first


@pytest.mark.parametrize("url,state", [("http://127.0.0.1:9/hook", "{tmp}/file/state.json"),
                                       ("http://", None), ("https://[::1/hook", None), ("http:///path", None)])


def test_deliver_reviews_with_a_state_file_or_url_it_cannot_use_exits_non_zero_with_one_line(tmp_path, url, state):
    """A --state folder that cannot be made ended in a traceback; a URL without a host ("http://", an unclosed
    IPv6 bracket) was accepted, and with events pending would have failed every attempt until --max-wait."""
    from moderation.store import Store

    database = f"sqlite:///{tmp_path / 'moderation.db'}"
    Store(database).dispose()
    (tmp_path / "file").write_text("a file, not a folder")
    (tmp_path / "secret").write_text("a shared secret of enough bytes\n")
    args = ["deliver-reviews", "--database", database, "--url", url, "--secret-file", tmp_path / "secret", "--once"]
    if state:
        args += ["--state", state.format(tmp=tmp_path)]
    result = _cli(*args)
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:])
    lines = [line for line in result.output.strip().splitlines() if not line.startswith("INFO ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output


def test_export_feedback_to_a_folder_it_cannot_make_exits_non_zero_with_one_line(tmp_path):
    from moderation.store import Store

    database = f"sqlite:///{tmp_path / 'moderation.db'}"
    Store(database).dispose()
    (tmp_path / "file").write_text("a file, not a folder")
    result = _cli("export-feedback", "--database", database, "--output", tmp_path / "file" / "labels.jsonl")
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:])
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(tmp_path / "file") in lines[0], result.output
