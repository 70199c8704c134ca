"""Thread samples through the samples file (local engine) give the verdicts of samples inline in the task."""

from __future__ import annotations

import pickle

from bench.throughput import make_input
from training.rescore import ChunkTask, check_row, collect_threads, score_chunk
from training.rescore_io import Source
from training.rescore_samples import SampleIndex, SampleRef, read_sample


def _rows(source: Source) -> list:
    rows, seen = [], set()
    for record in source.records():
        if record.row is not None:
            error, good = check_row(record.row, seen, 1500)
            if good:
                rows.append((record.line, *good))
    return rows


def test_stored_samples_score_exactly_as_inline_ones(tiny_registry, tmp_path):
    from moderation.moderator import Moderator

    archive = tmp_path / "archive.jsonl"
    make_input(archive, 900, seed=5, bad_every=50)
    source = Source(archive)
    samples, _ = collect_threads(source, 1500, thread_size=4, thread_chars=60)  # long texts are cut
    index = SampleIndex(samples, tmp_path / "samples.pickle")
    rows = _rows(source)
    moderator = Moderator(tiny_registry.load())
    cut = inside = 0
    for start in range(0, len(rows), 300):
        chunk = rows[start:start + 300]
        refs = index.refs(chunk, 60)
        for ref in refs.values():
            cut += sum(not whole for whole in ref.inside.values())
            inside += len(ref.inside)
        stored = pickle.loads(pickle.dumps(ChunkTask(start, chunk, refs, 4, index.file)))  # as a worker gets it
        inline = ChunkTask(start, chunk, {a: samples[a] for a in refs}, 4)
        assert score_chunk(moderator, stored).output == score_chunk(moderator, inline).output
    assert cut >= 5 and inside >= 50  # both kinds of rows inside a sample were scored
    for article, sample in list(samples.items())[:20]:
        assert read_sample(index.file, SampleRef(*index.entries[article][:4], {})) == sample


def test_a_task_carries_no_sample_text(tiny_registry, tmp_path):
    archive = tmp_path / "archive.jsonl"
    make_input(archive, 400, seed=6)
    source = Source(archive)
    samples, _ = collect_threads(source, 1500, thread_size=20, thread_chars=500)
    rows = _rows(source)
    index = SampleIndex(samples, tmp_path / "samples.pickle")
    refs = index.refs(rows, 500)
    inline = {a: samples[a] for a in refs}
    assert len(pickle.dumps(refs)) < 0.1 * len(pickle.dumps(inline))  # places and line numbers, no texts
