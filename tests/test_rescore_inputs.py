"""What an operator throws at `rescore`: odd input files, unusable output paths, resumes that cannot be honest.

Each test is a bug found by trying it: the run must either read every row or stop with one clear error line
(exit status 2), never a traceback, a zero exit after a failure, a lost row or a corrupted output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from training.__main__ import cli
from training.rescore import RescoreError, RescoreOptions, rescore
from training.rescore_io import Source


def options(registry, **kw) -> RescoreOptions:
    kw.setdefault("workers", 1)
    kw.setdefault("progress", False)
    return RescoreOptions(models_dir=registry.root, **kw)


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def rescore_cli(registry, *args):
    return run("rescore", "--models", registry.root, "--workers", 1, "--no-progress", *args)


def one_error_line(result) -> str:
    """The command failed with exit status 2 and one `error: ...` line on stderr (no traceback)."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("name", ["old.jsonl", "old.csv"])
def test_an_output_that_is_the_input_is_refused_and_the_input_kept(tiny_registry, tmp_path, name):
    source = tmp_path / name
    if name.endswith(".csv"):
        source.write_text("id,text\n1,Thanks for the balanced piece\n", encoding="utf-8")
    else:
        source.write_text(json.dumps({"id": 1, "text": "Thanks for the balanced piece"}) + "\n", encoding="utf-8")
    before = source.read_bytes()
    (tmp_path / "sub").mkdir()
    for output in (source, tmp_path / "sub" / ".." / name):  # the same file, by another path
        line = one_error_line(rescore_cli(tiny_registry, "--input", source, "--output", output))
        assert "is the input" in line
        assert source.read_bytes() == before


def _interrupted_run(registry, source: Path, output: Path, monkeypatch, chunks: int = 3) -> None:
    """A run stopped (as by Ctrl-C) after `chunks` chunks were committed."""
    import training.rescore as module

    submit = module.InlineExecutor.submit
    calls = []

    def stop_after(self, task):
        calls.append(task.index)
        if len(calls) > chunks:
            raise KeyboardInterrupt
        return submit(self, task)

    with monkeypatch.context() as patch:
        patch.setattr(module.InlineExecutor, "submit", stop_after)
        with pytest.raises(module.RescoreInterrupted):
            rescore(Source(source), output, options(registry, chunk_size=4))


@pytest.mark.parametrize("damage", ["delete output", "truncate output", "delete errors", "truncate changed"])
def test_resume_refuses_result_files_shorter_than_its_checkpoint(tiny_registry, tmp_path, monkeypatch, damage):
    source = tmp_path / "old.jsonl"
    rows = [json.dumps({"id": i, "text": f"Comment {i} on the council's budget vote", "article_id": str(i % 3),
                        "decision": "reject"}) for i in range(30)]
    rows[1] = "{broken"  # an errors file that is not empty
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    clean = tmp_path / "clean.jsonl"
    rescore(Source(source), clean, options(tiny_registry, chunk_size=4))
    output = tmp_path / "new.jsonl"
    _interrupted_run(tiny_registry, source, output, monkeypatch)
    target = {"output": tmp_path / "new.jsonl.rescore" / "output.partial.jsonl",
              "errors": tmp_path / "new.jsonl.errors.jsonl",
              "changed": tmp_path / "new.jsonl.changed.jsonl"}[damage.split()[1]]
    assert target.stat().st_size > 0
    if damage.startswith("delete"):
        target.unlink()
    else:
        target.write_bytes(target.read_bytes()[:-7])  # cut mid-line
    with pytest.raises(RescoreError, match="cannot resume: .* shorter than the checkpoint"):
        rescore(Source(source), output, options(tiny_registry, chunk_size=4, resume=True))
    assert not output.exists()
    rescore(Source(source), output, options(tiny_registry, chunk_size=4))  # starting over gives the clean result
    for suffix in ("", ".errors.jsonl", ".changed.jsonl"):
        assert Path(f"{output}{suffix}").read_bytes() == Path(f"{clean}{suffix}").read_bytes()


@pytest.mark.parametrize("content", [b"", b"id,text\n1,not a parquet file\n"])
def test_a_file_named_parquet_that_is_not_one_is_one_error_line(tiny_registry, tmp_path, content):
    source = tmp_path / "old.parquet"
    source.write_bytes(content)
    line = one_error_line(rescore_cli(tiny_registry, "--input", source, "--output", tmp_path / "new.jsonl"))
    assert str(source) in line and "Parquet" in line


@pytest.mark.parametrize("url, expected", [("not a url", "cannot use --input-sql"),
                                           ("nosuchdialect://u@host/db", "cannot use --input-sql"),
                                           ("mysql://u:secret@localhost/db", "cannot use --input-sql"),  # driver
                                           ("postgresql://u:secret@127.0.0.1:1/db", "cannot read")])  # no server
def test_an_unusable_sql_url_is_one_error_line_without_its_password(tiny_registry, tmp_path, url, expected):
    result = run("rescore", "--models", tiny_registry.root, "--input-sql", url, "--table", "comments",
                 "--output", tmp_path / "new.jsonl", "--workers", 1, "--no-progress")
    line = one_error_line(result)
    assert expected in line and "secret" not in line


BOM = b"\xef\xbb\xbf"


def test_json_lines_with_a_utf8_bom_read_their_first_row(tiny_registry, tmp_path):
    source = tmp_path / "old.jsonl"  # PowerShell's Out-File and Notepad write one
    source.write_bytes(BOM + b'{"id": 1, "text": "First comment"}\r\n{"id": 2, "text": "Second comment"}\r\n')
    summary = rescore(Source(source), tmp_path / "new.jsonl", options(tiny_registry))
    assert [r["id"] for r in map(json.loads, (tmp_path / "new.jsonl").read_text().splitlines())] == [1, 2]
    assert summary.errors == 0


def test_a_csv_with_a_bom_and_a_quoted_header_is_read(tiny_registry, tmp_path):
    source = tmp_path / "old.csv"  # pandas' to_csv(encoding="utf-8-sig", quoting=csv.QUOTE_ALL), Excel exports
    source.write_bytes(BOM + b'"id","text"\r\n"1","Thanks, a ""fair"" piece"\r\n"2","two\r\nlines"\r\n')
    summary = rescore(Source(source), tmp_path / "new.csv", options(tiny_registry))
    assert summary.errors == 0 and summary.scored == 2


@pytest.mark.parametrize("header", [b"id,body", b"comment_id,text", b'"id,text'])
def test_a_csv_header_without_id_and_text_stops_the_run(tiny_registry, tmp_path, header):
    source = tmp_path / "old.csv"  # not one bad row: no row of this file can be read
    source.write_bytes(header + b"\n1,Thanks for the piece\n")
    line = one_error_line(rescore_cli(tiny_registry, "--input", source, "--output", tmp_path / "new.jsonl"))
    assert str(source) in line and "id and text" in line
    assert not (tmp_path / "new.jsonl").exists()


@pytest.mark.parametrize("content", [
    json.dumps([{"id": 1, "text": "First"}, {"id": 2, "text": "Second"}]).encode(),
    json.dumps([{"id": 1, "text": "First"}, {"id": 2, "text": "Second"}], indent=2).encode(),
    BOM + b' [{"id": 1, "text": "First"}]\n',
])
def test_a_json_array_file_is_refused_as_not_json_lines(tiny_registry, tmp_path, content):
    source = tmp_path / "old.json"  # an export as one JSON array: every row would be lost as "bad"
    source.write_bytes(content)
    line = one_error_line(rescore_cli(tiny_registry, "--input", source, "--output", tmp_path / "new.jsonl"))
    assert str(source) in line and "JSON array" in line and "one object per line" in line


def test_a_first_line_that_is_an_array_of_values_is_one_bad_row(tiny_registry, tmp_path):
    source = tmp_path / "old.jsonl"
    source.write_text('["not", "an", "object"]\n{"id": 2, "text": "Second"}\n', encoding="utf-8")
    summary = rescore(Source(source), tmp_path / "new.jsonl", options(tiny_registry))
    assert summary.scored == 1 and summary.errors == 1


def test_an_output_folder_that_cannot_be_made_is_one_error_line(tiny_registry, tmp_path):
    source = tmp_path / "old.jsonl"
    source.write_text(json.dumps({"id": 1, "text": "Thanks"}) + "\n", encoding="utf-8")
    (tmp_path / "file").write_text("a file, not a folder")
    line = one_error_line(rescore_cli(tiny_registry, "--input", source, "--output", tmp_path / "file" / "new.jsonl"))
    assert "file/new.jsonl" in line


def test_an_output_folder_that_does_not_exist_yet_is_made(tiny_registry, tmp_path):
    source = tmp_path / "old.jsonl"
    source.write_text(json.dumps({"id": 1, "text": "Thanks"}) + "\n", encoding="utf-8")
    result = rescore_cli(tiny_registry, "--input", source, "--output", tmp_path / "a" / "b" / "new.jsonl")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "a" / "b" / "new.jsonl").read_text())["id"] == 1


def test_resume_checks_the_interrupted_run_s_model_before_starting_workers(tiny_registry, tmp_path, monkeypatch):
    """A newer version went live meanwhile, and the run's own version was damaged: one clear error, whatever the
    number of workers (with 2 it was a BrokenProcessPool traceback)."""
    import shutil

    from moderation.registry import ModelRegistry

    registry = ModelRegistry(tmp_path / "models")
    shutil.copytree(tiny_registry.root, registry.root)
    first = registry.current_version()
    newer = first[:-8] + "ffffffff"
    shutil.copytree(registry.root / first, registry.root / newer)
    source = tmp_path / "old.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": f"Comment {i} on the vote"}) + "\n" for i in range(30)))
    output = tmp_path / "new.jsonl"
    _interrupted_run(registry, source, output, monkeypatch)
    registry.set_current(newer, action="promote")
    (registry.root / first / "model.joblib").write_bytes(b"damaged")
    with pytest.raises(RescoreError, match=f"model {first} failed its checksum"):
        rescore(Source(source), output, options(registry, chunk_size=4, resume=True, workers=2))


def test_resume_with_nothing_to_resume_says_it_starts_a_new_run(tiny_registry, tmp_path):
    """A second `--resume` after the run finished (or a mistyped --output) silently scored everything again."""
    source = tmp_path / "old.jsonl"
    source.write_text(json.dumps({"id": 1, "text": "Thanks for the piece"}) + "\n", encoding="utf-8")
    output = tmp_path / "new.jsonl"
    first = rescore_cli(tiny_registry, "--input", source, "--output", output)
    assert first.exit_code == 0 and "nothing to resume" not in first.stderr
    again = rescore_cli(tiny_registry, "--input", source, "--output", output, "--resume")
    assert again.exit_code == 0, again.output
    assert f"nothing to resume for {output}" in again.stderr and "starting a new run" in again.stderr
    assert json.loads(output.read_text())["id"] == 1


def _rescore_process(registry, source: Path, output: Path, workers: int, commits: int, stdout):
    """`python -m training rescore` (chunks of 10) started in a process of its own, returned once its checkpoint
    holds `commits` commits (or it ended, or 120 s passed)."""
    import subprocess
    import sys
    import time

    checkpoint = output.with_name(output.name + ".rescore") / "checkpoint.jsonl"
    command = [sys.executable, "-m", "training", "rescore", "--models", str(registry.root), "--input",
               str(source), "--output", str(output), "--workers", str(workers), "--chunk-size", "10",
               "--no-progress"]
    process = subprocess.Popen(command, cwd=Path(__file__).resolve().parent.parent, stdout=stdout,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if checkpoint.exists() and checkpoint.read_bytes().count(b'"kind": "commit"') >= commits:
            break
        time.sleep(0.01)
    return process


def test_a_worker_killed_mid_run_is_one_error_line_and_resume_finishes_the_run(tiny_registry, tmp_path):
    """The kernel's OOM killer ending a worker was a BrokenProcessPool traceback; the checkpoint was fine."""
    import signal
    import subprocess

    source = tmp_path / "old.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": f"Comment {i} on the council's budget vote",
                                          "article_id": str(i % 7)}) + "\n" for i in range(3000)))
    clean = tmp_path / "clean.jsonl"
    rescore(Source(source), clean, options(tiny_registry, chunk_size=10))
    output = tmp_path / "new.jsonl"
    process = _rescore_process(tiny_registry, source, output, workers=2, commits=3, stdout=subprocess.PIPE)
    assert process.poll() is None, "the run finished before a worker could be killed"
    workers = [int(p) for p in Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()]
    workers = [w for w in workers if b"spawn_main" in Path(f"/proc/{w}/cmdline").read_bytes()]
    assert workers
    import os

    os.kill(workers[0], signal.SIGKILL)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: a worker process ended") and "--resume" in lines[0], stderr
    resumed = subprocess.run(process.args + ["--resume"], cwd=Path(__file__).resolve().parent.parent,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert output.read_bytes() == clean.read_bytes()


def test_an_unreachable_dask_scheduler_is_one_error_line(tiny_registry, tmp_path, monkeypatch):
    """(It was an OSError traceback from distributed after the connect timeout.)"""
    from training import rescore_dask

    monkeypatch.setattr(rescore_dask, "CONNECT_TIMEOUT", "1s")
    source = tmp_path / "old.jsonl"
    source.write_text(json.dumps({"id": 1, "text": "Thanks"}) + "\n", encoding="utf-8")
    result = run("rescore", "--models", tiny_registry.root, "--input", source, "--output", tmp_path / "new.jsonl",
                 "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9", "--no-progress")
    line = one_error_line(result)
    assert "tcp://127.0.0.1:9" in line and "scheduler" in line


def test_an_id_that_is_true_or_false_is_reported_as_the_wrong_type_not_missing(tiny_registry, tmp_path):
    source = tmp_path / "old.jsonl"
    source.write_text('{"id": true, "text": "a"}\n{"id": 1.5, "text": "b"}\n{"id": "", "text": "c"}\n')
    rescore(Source(source), tmp_path / "new.jsonl", options(tiny_registry))
    errors = [json.loads(line)["error"] for line in (tmp_path / "new.jsonl.errors.jsonl").read_text().splitlines()]
    assert errors == ["id must be a string or an integer", "id must be a string or an integer", "missing id"]


def test_resume_after_a_kill_between_the_output_rename_and_the_cleanup_finishes(tiny_registry, tmp_path, monkeypatch):
    """Killed just after the JSON lines output replaced the partial file, `--resume` found the partial file gone:
    it was refused as deleted (before: padded with NUL bytes over the finished output)."""
    import training.rescore as module

    source = tmp_path / "old.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": f"Comment {i} on the vote"}) + "\n" for i in range(9)))
    clean = tmp_path / "clean.jsonl"
    rescore(Source(source), clean, options(tiny_registry, chunk_size=4))
    output = tmp_path / "new.jsonl"
    fsync_dir = module._fsync_dir

    def killed_after_the_rename(path):
        if output.exists():
            raise SystemExit("killed")
        fsync_dir(path)

    with monkeypatch.context() as patch:
        patch.setattr(module, "_fsync_dir", killed_after_the_rename)
        with pytest.raises(SystemExit):
            rescore(Source(source), output, options(tiny_registry, chunk_size=4))
    assert (tmp_path / "new.jsonl.rescore" / "checkpoint.jsonl").exists()
    summary = rescore(Source(source), output, options(tiny_registry, chunk_size=4, resume=True))
    assert summary.scored == 9 and output.read_bytes() == clean.read_bytes()
    assert not (tmp_path / "new.jsonl.rescore").exists()


def test_a_second_run_on_the_same_output_is_refused_while_the_first_runs(tiny_registry, tmp_path):
    """A `--resume` (or a new run) started while the first run still writes: both appended to the same files,
    or the second emptied the first's work folder. Now the second is refused and the first finishes intact."""
    import subprocess

    source = tmp_path / "old.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": f"Comment {i} on the council's budget vote"}) + "\n"
                              for i in range(2000)))
    clean = tmp_path / "clean.jsonl"
    rescore(Source(source), clean, options(tiny_registry, chunk_size=10))
    output = tmp_path / "new.jsonl"
    first = _rescore_process(tiny_registry, source, output, workers=1, commits=2, stdout=subprocess.DEVNULL)
    assert first.poll() is None, "the first run finished before a second could start"
    for resume in (True, False):
        with pytest.raises(RescoreError, match="another rescore is writing"):
            rescore(Source(source), output, options(tiny_registry, chunk_size=10, resume=resume))
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert output.read_bytes() == clean.read_bytes()


def test_a_table_given_with_an_input_file_is_refused_not_ignored(tiny_registry, tmp_path):
    source = tmp_path / "old.jsonl"
    source.write_text(json.dumps({"id": 1, "text": "Thanks"}) + "\n", encoding="utf-8")
    line = one_error_line(rescore_cli(tiny_registry, "--input", source, "--table", "comments",
                                      "--output", tmp_path / "new.jsonl"))
    assert "--table" in line and "--input-sql" in line


@pytest.mark.parametrize("table, message", [("nope", "no table 'nope'"), ("notext", "needs the columns id and text")])
def test_a_missing_table_or_column_is_refused_before_any_work(tiny_registry, tmp_path, table, message):
    """(The error came from the first pass, after the workers had started, and left a work folder whose
    checkpoint a later --resume took for an interrupted run.)"""
    import sqlite3

    db = tmp_path / "cms.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE notext (id INTEGER PRIMARY KEY, body TEXT)")
    output = tmp_path / "new.jsonl"
    line = one_error_line(run("rescore", "--models", tiny_registry.root, "--input-sql", f"sqlite:///{db}",
                              "--table", table, "--output", output, "--workers", 1, "--no-progress"))
    assert message in line
    assert not (tmp_path / "new.jsonl.rescore").exists()


def test_a_run_where_no_row_could_be_scored_exits_non_zero_after_its_summary(tiny_registry, tmp_path):
    """A wrong export (every row without text, say) used to end with exit 0, and a script carried on."""
    source = tmp_path / "old.jsonl"
    source.write_text('{"id": 1, "body": "text under another name"}\n{"id": 2, "comment": "same"}\n',
                      encoding="utf-8")
    earlier = '{"id": 7, "decision": "accept"}\n'  # the output of an earlier, good run at the same path
    (tmp_path / "new.jsonl").write_text(earlier, encoding="utf-8")
    result = rescore_cli(tiny_registry, "--input", source, "--output", tmp_path / "new.jsonl")
    line = one_error_line(result)
    assert "none of the 2 rows could be scored" in line and str(tmp_path / "new.jsonl.errors.jsonl") in line
    assert "no output was written" in line
    summary = json.loads(result.stdout)  # the summary is still printed, the errors file kept
    assert summary["rows"] == 2 and summary["scored"] == 0 and summary["errors"] == 2
    assert summary["files"]["output"] is None
    # Nothing to deliver: the earlier output is left as it was, not replaced by an empty file.
    assert (tmp_path / "new.jsonl").read_text(encoding="utf-8") == earlier
    assert not (tmp_path / "new.jsonl.rescore").exists()
    assert len((tmp_path / "new.jsonl.errors.jsonl").read_text().splitlines()) == 2

    source.write_text('{"id": 1, "body": "no text"}\n{"id": 2, "text": "One good row"}\n', encoding="utf-8")
    partly = rescore_cli(tiny_registry, "--input", source, "--output", tmp_path / "again.jsonl")
    assert partly.exit_code == 0 and json.loads(partly.stdout)["scored"] == 1
