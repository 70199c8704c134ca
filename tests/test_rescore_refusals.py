"""rescore on inputs, outputs and resumes it cannot use: one `error:` line and a non-zero exit, never a traceback
or a silent success; and the inputs it reads that it used to refuse (byte order marks, old decisions in any case)."""

from __future__ import annotations

import pytest


def _cli(*args):
    from click.testing import CliRunner

    from training.__main__ import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def test_rescore_reads_a_csv_with_a_byte_order_mark_before_a_quoted_header(tiny_registry, tmp_path):
    """Excel's "CSV UTF-8" and pandas' utf-8-sig start with a BOM; with a quoted header the BOM sat before the
    quote, the header read as '\\ufeff"id"' and not one row was scored (exit 0)."""
    source = tmp_path / "old.csv"
    source.write_bytes('\ufeff"id","text"\n"a","Nice, balanced piece"\n"b","Visit www.cheap-pills.ru now"\n'
                       .encode("utf-8"))
    out = tmp_path / "new.jsonl"
    result = _cli("rescore", "--models", tiny_registry.root, "--input", source, "--output", out, "--workers", 1,
                  "--no-progress")
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in map(__import__("json").loads, out.read_text().splitlines())] == ["a", "b"]


@pytest.mark.parametrize("name,content", [
    ("old.csv", b"comment_id,body\n1,hello\n"),  # no id and text columns
    ("old.csv", b'id,"text\n1,hello\n'),  # an unreadable header (an open quote)
    ("old.csv", b""),  # no header at all (an export that failed): a header-only file is an empty input
    ("old.parquet", b"not a parquet file\n"),
    ("old.parquet", b""),
])


def test_rescore_of_an_input_it_cannot_read_as_a_whole_exits_non_zero_with_one_line(tiny_registry, tmp_path,
                                                                                    name, content):
    """A CSV without the id and text columns exited 0 with every row unscored (the header an error row); a file
    that is not Parquet ended in pyarrow's traceback. Both are the input as a whole: exit 2 and one line, as a
    Parquet file or a table without the columns already was."""
    source = tmp_path / name
    source.write_bytes(content)
    result = _cli("rescore", "--models", tiny_registry.root, "--input", source, "--output", tmp_path / "new.jsonl",
                  "--workers", 1, "--no-progress")
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(source) in lines[0], result.output
    assert [p.name for p in tmp_path.iterdir()] == [name]  # refused before any file of the run was made


@pytest.mark.parametrize("url", ["nosuchdialect://host/db", "not a url", "mysql://user@localhost/db"])


def test_rescore_input_sql_with_a_url_it_cannot_use_exits_non_zero_with_one_line(tiny_registry, tmp_path, url):
    """A URL SQLAlchemy cannot parse, an unknown dialect or a missing driver ended in a traceback (exit 1)."""
    result = _cli("rescore", "--models", tiny_registry.root, "--input-sql", url, "--table", "comments",
                  "--output", tmp_path / "new.jsonl", "--workers", 1, "--no-progress")
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot use --input-sql"), result.output


def test_rescore_input_sql_with_a_table_that_does_not_exist_says_so(tiny_registry, tmp_path):
    result = _cli("rescore", "--models", tiny_registry.root, "--input-sql", f"sqlite:///{tmp_path / 'old.db'}",
                  "--table", "comments", "--output", tmp_path / "new.jsonl", "--workers", 1, "--no-progress")
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        f"error: no table 'comments' in sqlite:///{tmp_path / 'old.db'}"], result.output


def _interrupted_run(registry_root, tmp_path, rows=300, stop_at=150):
    """A run of `rows` comments stopped (as by Ctrl-C) at input record `stop_at` of its second pass."""
    import json

    from training.rescore import RescoreInterrupted, RescoreOptions, rescore
    from training.rescore_io import Source

    source = tmp_path / "old.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": f"comment number {i} about the budget vote"}) + "\n"
                              for i in range(rows)))

    class Stopping(Source):
        passes = 0

        def records(self):
            Stopping.passes += 1
            for n, record in enumerate(super().records()):
                if Stopping.passes == 2 and n == stop_at:
                    raise KeyboardInterrupt
                yield record
    out = tmp_path / "new.jsonl"
    with pytest.raises(RescoreInterrupted):
        rescore(Stopping(source), out, RescoreOptions(models_dir=registry_root, chunk_size=20, workers=1,
                                                      progress=False))
    return source, out


def test_resume_after_a_promotion_keeps_the_interrupted_run_s_model_for_every_row(two_versions, tmp_path):
    import json

    registry, first, second = two_versions
    source, out = _interrupted_run(registry.root, tmp_path)
    registry.set_current(second, reason="test")
    result = _cli("rescore", "--models", registry.root, "--input", source, "--output", out, "--resume",
                  "--workers", 1, "--no-progress", "--chunk-size", 20)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 300 and {r["model_version"] for r in rows} == {first}
    (tmp_path / "again").mkdir()
    refused = _interrupted_run(registry.root, tmp_path / "again")
    asked = _cli("rescore", "--models", registry.root, "--input", refused[0], "--output", refused[1], "--resume",
                 "--model", first, "--workers", 1, "--no-progress")
    assert asked.exit_code == 2 and "cannot resume: model_version changed" in asked.output


@pytest.mark.parametrize("workers", [1, 2])


def test_resume_when_the_interrupted_run_s_model_is_gone_exits_non_zero_with_one_line(two_versions, tmp_path,
                                                                                     workers):
    """The run's version was pruned (or no longer verifies) before --resume: with worker processes the run ended
    in BrokenProcessPool's traceback (exit 1); in this process, with the registry's message but no word of why."""
    import shutil

    from training import rescore as rescore_module

    registry, first, second = two_versions
    source, out = _interrupted_run(registry.root, tmp_path)
    registry.set_current(second, reason="test")
    shutil.rmtree(registry.root / first)
    rescore_module._MODERATORS.clear()  # as a new process: the interrupted run's model is not in memory
    result = _cli("rescore", "--models", registry.root, "--input", source, "--output", out, "--resume",
                  "--workers", workers, "--no-progress", "--chunk-size", 20)
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:])
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot resume") and first in lines[0], result.output
    assert not out.exists()


def test_rescore_reads_json_lines_with_a_byte_order_mark(tiny_registry, tmp_path):
    """The first line of a JSON lines file with a BOM was an error row ("Unexpected UTF-8 BOM")."""
    import json

    source = tmp_path / "old.jsonl"
    source.write_text('\ufeff{"id": 1, "text": "hello"}\n{"id": 2, "text": "hi"}\n', encoding="utf-8")
    out = tmp_path / "new.jsonl"
    result = _cli("rescore", "--models", tiny_registry.root, "--input", source, "--output", out, "--workers", 1,
                  "--no-progress")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [1, 2]


@pytest.mark.parametrize("input_name,output_name", [("old.jsonl", "old.jsonl"),
                                                   ("new.jsonl.errors.jsonl", "new.jsonl"),
                                                   ("new.jsonl.summary.json", "new.jsonl")])


def test_rescore_refuses_an_output_that_would_overwrite_its_input(tiny_registry, tmp_path, input_name,
                                                                  output_name):
    """--output the same file as --input replaced the archive of old comments with the result at the end of the
    run (exit 0, the input gone). The errors, changed and summary files next to the output must not be the input
    either."""
    source = tmp_path / input_name
    original = '{"id": 1, "text": "hello there"}\n{"id": 2, "text": "buy cheap pills now"}\n'
    source.write_text(original)
    result = _cli("rescore", "--models", tiny_registry.root, "--input", source, "--output", tmp_path / output_name,
                  "--workers", 1, "--no-progress")
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:])
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "input" in lines[0], result.output
    assert source.read_text() == original


def test_rescore_to_an_output_folder_it_cannot_create_exits_non_zero_with_one_line(tiny_registry, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    source = tmp_path / "old.csv"
    source.write_text("id,text\n1,hello there\n")
    result = _cli("rescore", "--models", tiny_registry.root, "--input", source, "--output", blocker / "new.jsonl",
                  "--workers", 1, "--no-progress")
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:])
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(blocker) in lines[0], result.output


def test_rescore_reads_old_decisions_in_any_case_and_spacing(tiny_registry, tmp_path):
    """An export with "ACCEPT" or "Accept " counted every such row as changed (`ACCEPT -> accept`) and split the
    change matrix by spelling: an operator read 2 of 3 decisions changed where none had."""
    import json

    source = tmp_path / "old.csv"
    source.write_text("id,text,decision\n1,A fair point about the budget vote,ACCEPT\n"
                      "2,Thanks for the article,Accept \n3,Good reporting,accept\n4,Well said,\n5,Agreed, \n")
    result = _cli("rescore", "--models", tiny_registry.root, "--input", source, "--output", tmp_path / "new.jsonl",
                  "--workers", 1, "--no-progress")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary["change_matrix"]) == {"accept"}
    assert sum(summary["change_matrix"]["accept"].values()) == 3
    assert summary["changed"] == 3 - summary["change_matrix"]["accept"]["accept"]


def test_a_second_rescore_into_the_same_output_refuses_while_the_first_runs(tiny_registry, tmp_path):
    """Two runs into one output (a nightly cron job that overlaps the last one, a command started twice) shared
    one work folder: the second emptied it under the first, both truncated and appended the same files and both
    could exit 0 with rows lost or doubled. While a run holds the output's work folder, another refuses (exit 2);
    once it is done, the next run goes ahead."""
    import fcntl
    import json

    source = tmp_path / "old.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": f"comment {i}"}) + "\n" for i in range(30)))
    out = tmp_path / "new.jsonl"
    args = ("rescore", "--models", tiny_registry.root, "--input", source, "--output", out, "--workers", 1,
            "--no-progress")
    work = tmp_path / "new.jsonl.rescore"
    work.mkdir()
    with open(work / ".lock", "a") as held:  # what a run in progress holds
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        second = _cli(*args)
        assert second.exit_code == 2, (second.exit_code, second.output[-2000:])
        assert second.output.strip().splitlines()[-1].startswith("error: another rescore"), second.output
        assert (work / ".lock").exists() and not out.exists()
        resumed = _cli(*args, "--resume")
        assert resumed.exit_code == 2 and "another rescore" in resumed.output
    done = _cli(*args)
    assert done.exit_code == 0, done.output
    assert len(out.read_text().splitlines()) == 30 and not work.exists()
    failed = _cli("rescore", "--models", tiny_registry.root, "--input", source, "--output", out, "--model", "nope")
    assert failed.exit_code == 2 and not work.exists()  # a run that fails at once leaves no work folder
