"""Batch rescoring: bad rows, formats, threads by article, interruption and --resume, the Dask engine."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.throughput import make_input
from training.rescore import ChunkTask, RescoreError, RescoreOptions, collect_threads, rescore, score_chunk
from training.rescore_io import Source, read_output

ROOT = Path(__file__).resolve().parent.parent


def options(registry, **kw) -> RescoreOptions:
    kw.setdefault("workers", 1)
    kw.setdefault("progress", False)
    return RescoreOptions(models_dir=registry.root, **kw)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("archive") / "archive.jsonl"
    make_input(path, 1500, seed=11, bad_every=97)
    return path


def test_bad_rows_go_to_the_errors_file_with_line_numbers(tiny_registry, tmp_path):
    source = tmp_path / "old.jsonl"
    good = [{"id": 1, "text": "Great reporting, thanks", "article_id": "a", "decision": "accept"},
            {"id": "2", "text": "FREE ringtones txt WIN to 80082 now!!!", "article_id": "a", "decision": "accept"},
            {"id": 3, "text": "   ", "decision": "flag"}]
    raw = [json.dumps(r).encode() for r in good]
    raw += [
        b'{"id": 4, "text": ',                                      # line 4: broken JSON
        json.dumps({"id": 5}).encode(),                              # 5: no text
        b'{"id": 6, "text": "caf\xe9 au lait"}',                     # 6: invalid UTF-8
        json.dumps({"id": 7, "text": "x" * 1501}).encode(),          # 7: over the policy limit
        json.dumps({"id": 1, "text": "same id again"}).encode(),     # 8: repeated id
        json.dumps({"text": "no id"}).encode(),                      # 9: no id
        b'["not", "an", "object"]',                                  # 10
        json.dumps({"id": 11, "text": "lone \ud800 surrogate"}).encode(),  # 11
        json.dumps({"id": 12, "text": None}).encode(),               # 12: null text
    ]
    source.write_bytes(b"\n".join(raw) + b"\n")
    out = tmp_path / "new.jsonl"
    summary = rescore(Source(source), out, options(tiny_registry, chunk_size=2))
    rows = lines(out)
    assert [r["id"] for r in rows] == [1, "2", 3]
    assert all(set(r) == {"id", "decision", "scores", "reasons", "model_version"} for r in rows)
    assert rows[2]["decision"] == "reject" and rows[2]["reasons"][0]["code"] == "empty"
    errors = lines(tmp_path / "new.jsonl.errors.jsonl")
    assert [(e["line"], e["error"].split(":")[0].split(" (")[0]) for e in errors] == [
        (4, "invalid JSON"), (5, "missing text"), (6, "invalid UTF-8"), (7, "text over the policy limit"),
        (8, "repeated id"), (9, "missing id"), (10, "a line must be a JSON object"),
        (11, "invalid text in column text"), (12, "missing text")]
    assert summary.scored == 3 and summary.errors == 9 and summary.rows == 12
    report = summary.to_dict()
    assert sum(report["decisions"].values()) == 3
    assert sum(sum(v.values()) for v in report["change_matrix"].values()) == 3
    changed = lines(tmp_path / "new.jsonl.changed.jsonl")
    assert {c["id"] for c in changed} == {r["id"] for r, g in zip(rows, good) if r["decision"] != g["decision"]}
    assert json.loads((tmp_path / "new.jsonl.summary.json").read_text())["errors"] == 9
    assert not (tmp_path / "new.jsonl.rescore").exists()


def test_csv_bad_bytes_and_broken_records_do_not_stop_the_file(tiny_registry, tmp_path):
    source = tmp_path / "old.csv"
    source.write_bytes(b'id,text,article_id\n'
                       b'a,"Nice, balanced piece",1\n'
                       b'b,"bad \xff byte",1\n'
                       b'c,too,many,fields\n'
                       b'd,"multi\nline comment",2\n'
                       b'e,,2\n')
    out = tmp_path / "new.csv"
    summary = rescore(Source(source), out, options(tiny_registry))
    rows = read_output(out)
    assert [r["id"] for r in rows] == ["a", "d", "e"]
    assert rows[2]["decision"] == "reject"  # empty comment: the service rejects it too
    errors = lines(tmp_path / "new.csv.errors.jsonl")
    assert [(e["line"], e["error"]) for e in errors] == [
        (3, "invalid UTF-8 in column text"), (4, "expected 3 fields, found 4")]
    assert summary.scored == 3 and summary.errors == 2


def test_threads_are_the_other_rows_of_the_same_article(tmp_path):
    source = tmp_path / "in.jsonl"
    rows = [{"id": i, "text": f"text {i}", "article_id": "A" if i % 2 else "B"} for i in range(8)]
    rows.append({"id": 99, "text": "no article"})
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    samples, valid = collect_threads(Source(source), 1500, thread_size=2, thread_chars=100)
    assert valid == 9
    assert samples["A"] == [(2, "text 1"), (4, "text 3"), (6, "text 5")]  # first thread_size + 1, by line



def test_a_chunk_scores_each_row_as_the_service_would_with_the_other_rows_of_its_sample(tiny_registry, archive):
    """score_chunk shares one context per article (the row itself taken out when it is in the sample); each verdict
    must be the service's for that row alone with its thread = the other rows of the article's sample."""
    from moderation.moderator import Article, Moderator

    samples, _ = collect_threads(Source(archive), 1500, thread_size=4, thread_chars=60)  # long texts are cut
    records = [r for r in Source(archive).records() if r.row is not None and "text" in r.row][:240]
    task_rows = [(r.line, r.row["id"], r.row["text"], r.row["article_id"], r.row["article_title"],
                  r.row["article_body"], None) for r in records]
    moderator = Moderator(tiny_registry.load())
    result = score_chunk(moderator, ChunkTask(0, task_rows, samples, 4))
    got = [json.loads(line) for line in result.output.decode().splitlines()]
    inside = 0
    for (line, rid, text, article_id, title, body, _), row in zip(task_rows, got, strict=True):
        thread = [t for n, t in samples.get(article_id, ()) if n != line]
        inside += len(thread) < len(samples.get(article_id, ()))
        alone = Moderator(moderator.model, moderator.policy, moderator.spam_scorer).moderate(
            text, Article(article_id, title, body), thread)
        assert row["id"] == rid and row["decision"] == alone.decision
        assert row["scores"]["spam"] == alone.spam
        assert row["scores"]["off_topic"] == pytest.approx(alone.off_topic, abs=1e-4)
    assert inside >= 20  # rows inside their article's sample were checked too


def test_parquet_and_sql_inputs_give_the_same_result_as_json_lines(tiny_registry, archive, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [json.loads(line) for line in archive.read_text(encoding="utf-8").splitlines()][:400]
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    columns = ("id", "text", "article_id", "article_title", "article_body", "decision")
    table = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in records])
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=100)
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE comments (id TEXT PRIMARY KEY, text TEXT, article_id TEXT, article_title TEXT,"
                     " article_body TEXT, decision TEXT)")
        conn.executemany("INSERT INTO comments VALUES (?, ?, ?, ?, ?, ?)",
                         [tuple(r.get(c) for c in columns) for r in records])
    expected = rescore(Source(jsonl), tmp_path / "a.jsonl", options(tiny_registry, chunk_size=64))
    by_id = {r["id"]: r for r in lines(tmp_path / "a.jsonl")}
    got = rescore(Source(tmp_path / "in.parquet"), tmp_path / "b.parquet", options(tiny_registry, chunk_size=64))
    for row in read_output(tmp_path / "b.parquet"):
        assert row["decision"] == by_id[row["id"]]["decision"]
        assert row["spam"] == by_id[row["id"]]["scores"]["spam"]
    assert got.to_dict()["decisions"] == expected.to_dict()["decisions"]
    sql = rescore(Source(sql_url=f"sqlite:///{db}", table="comments"), tmp_path / "c.jsonl",
                  options(tiny_registry, chunk_size=64))
    assert {r["id"]: r for r in lines(tmp_path / "c.jsonl")} == by_id
    assert sql.errors == expected.errors and sql.to_dict()["change_matrix"] == expected.to_dict()["change_matrix"]


def _cli(registry, source, output, *extra) -> list[str]:
    return [sys.executable, "-m", "training", "rescore", "--models", str(registry.root), "--input", str(source),
            "--output", str(output), "--no-progress", *map(str, extra)]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _commits(checkpoint: Path) -> int:
    try:
        return checkpoint.read_bytes().count(b'"kind": "commit"')
    except OSError:
        return 0


@pytest.fixture(scope="module")
def clean_run(tiny_registry, archive, tmp_path_factory):
    """An uninterrupted run over the archive, in this process (one worker, chunks of 100)."""
    clean = tmp_path_factory.mktemp("clean") / "clean.jsonl"
    summary = rescore(Source(archive), clean, options(tiny_registry, chunk_size=100))
    return clean, summary.to_dict()


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_an_interrupted_run_resumes_to_the_clean_output(tiny_registry, archive, clean_run, tmp_path, how):
    clean, first = clean_run

    out = tmp_path / "resumed.jsonl"
    checkpoint = tmp_path / "resumed.jsonl.rescore" / "checkpoint.jsonl"
    log = tmp_path / "interrupted.log"
    with open(log, "w") as handle:  # a file, not a pipe: a worker outliving its parent must not block us
        # SIGINT as a terminal's Ctrl-C delivers it: a test runner started in the background of a non-interactive
        # shell has SIGINT ignored, which its children inherit (and Python then keeps it ignored).
        process = subprocess.Popen(_cli(tiny_registry, archive, out, "--chunk-size", 25, "--workers", 2),
                                   cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    while _commits(checkpoint) < 4 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be interrupted"
    workers = [int(p) for p in Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()]
    process.send_signal(how)
    process.wait(timeout=120)
    stderr = log.read_text()
    deadline = time.monotonic() + 60
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [(w, Path(f"/proc/{w}/cmdline").read_bytes()[-120:]) for w in workers if _alive(w)]
    assert not left, f"processes outlived the run: {left}"
    committed = _commits(checkpoint)
    assert 4 <= committed < 60, committed  # interrupted mid-run (1,500 rows = 60 chunks)
    if how == signal.SIGINT:
        assert process.returncode == 130 and "--resume" in stderr
    else:
        assert process.returncode == -signal.SIGKILL
        # what a kill mid-write leaves behind: a torn output tail and a torn checkpoint line
        with open(tmp_path / "resumed.jsonl.rescore" / "output.partial.jsonl", "ab") as handle:
            handle.write(b'{"id": "half a row')
        with open(checkpoint, "ab") as handle:
            handle.write(b'{"kind": "commit", "recor')
    assert not out.exists()

    resumed = subprocess.run(_cli(tiny_registry, archive, out, "--chunk-size", 70, "--workers", 2, "--resume"),
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    # Asked for 70, it cuts chunks as the interrupted run did (25): the same sums in the same order.
    assert "resuming with the interrupted run's chunk size 25 (not 70)" in resumed.stderr
    for suffix in ("", ".errors.jsonl", ".changed.jsonl"):
        assert Path(f"{out}{suffix}").read_bytes() == Path(f"{clean}{suffix}").read_bytes(), suffix
    ids = [r["id"] for r in lines(out)]
    assert len(ids) == len(set(ids)) == first["scored"]
    second = json.loads(resumed.stdout)
    for key in ("rows", "scored", "errors", "decisions", "change_matrix", "error_reasons"):
        assert first[key] == second[key], key


def test_resume_refuses_a_changed_input(tiny_registry, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": f"comment {i}"}) + "\n" for i in range(10)))
    out = tmp_path / "out.jsonl"
    work = tmp_path / "out.jsonl.rescore"
    work.mkdir()
    header = {"kind": "header", "format": 1, "source": {"path": "elsewhere"}}
    (work / "checkpoint.jsonl").write_text(json.dumps(header) + "\n")
    with pytest.raises(RescoreError, match="cannot resume: source"):
        rescore(Source(source), out, options(tiny_registry, resume=True))
    rescore(Source(source), out, options(tiny_registry))  # without --resume it starts over
    assert len(lines(out)) == 10 and not work.exists()


def test_dask_engine_gives_the_local_engine_s_decisions(tiny_registry, archive, clean_run, tmp_path):
    clean, local = clean_run
    dask = rescore(Source(archive), tmp_path / "dask.jsonl",
                   options(tiny_registry, chunk_size=150, workers=2, engine="dask"))
    assert (tmp_path / "dask.jsonl").read_bytes() == clean.read_bytes()
    assert dask.to_dict()["decisions"] == local["decisions"]
    assert dask.to_dict()["change_matrix"] == local["change_matrix"]
