"""The rescore command's main process holds no model code and no complete thread sample (the 1M-row memory goal),
with the same samples, sample file entries and chunk references as before."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.throughput import make_input
from tests.test_rescore_samples import _rows
from training.rescore import collect_threads
from training.rescore_io import Source
from training.rescore_samples import SampleIndex, SampleRef, read_sample

ROOT = Path(__file__).resolve().parent.parent


def test_streamed_samples_are_the_samples_written_at_once(tmp_path):
    archive = tmp_path / "archive.jsonl"
    make_input(archive, 1500, seed=7, bad_every=40)
    source = Source(archive)
    for thread_size, thread_chars in ((4, 60), (20, 500), (0, 500)):
        samples, valid = collect_threads(source, 1500, thread_size, thread_chars)
        streamed = SampleIndex(None, tmp_path / f"streamed-{thread_size}.pickle")
        handed = []
        rest, valid_streamed = collect_threads(source, 1500, thread_size, thread_chars,
                                               full=lambda a, s: (handed.append(a), streamed.add(a, s)))
        streamed.finish(rest, consume=True)
        assert valid_streamed == valid
        assert handed and all(len(samples[a]) == thread_size + 1 for a in handed)  # complete ones early
        assert not rest  # consumed
        at_once = SampleIndex(samples, tmp_path / f"at-once-{thread_size}.pickle")
        assert set(streamed.entries) == set(samples)
        for article, sample in samples.items():
            assert read_sample(streamed.file, SampleRef(*streamed.entries[article][:4], {})) == sample
            assert streamed.entries[article][2:4] == at_once.entries[article][2:4]  # size and context key
            assert list(streamed.entries[article][4]) == sorted(line for line, _ in sample)
        rows = _rows(source)
        for start in range(0, len(rows), 200):
            chunk = rows[start:start + 200]
            new, old = streamed.refs(chunk, thread_chars), at_once.refs(chunk, thread_chars)
            assert {a: (r.size, r.key, r.inside) for a, r in new.items()} == \
                {a: (r.size, r.key, r.inside) for a, r in old.items()}


def test_the_rescore_main_process_imports_no_model_code(tiny_registry):
    code = ("import sys, training.__main__, training.rescore, training.rescore_samples, training.rescore_io;"
            "from pathlib import Path;"
            f"training.rescore._resolve_model(training.rescore.RescoreOptions(Path({str(tiny_registry.root)!r})));"
            "print(sorted(m for m in ('scipy', 'sklearn', 'nltk', 'moderation.moderator', 'moderation.relevance')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_library_versions_without_importing_them_are_the_modules_versions():
    code = ("import sys; from moderation.registry import library_versions; before = library_versions();"
            "assert 'sklearn' not in sys.modules and 'scipy' not in sys.modules;"
            "import sklearn, scipy, numpy; assert library_versions() == before, before")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
