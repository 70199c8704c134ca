"""Quality side by side: our spam model and bogofilter on exactly the same folds, plus the speed budget.

`make bench BENCH=quality` (or `python -m bench quality`):
1. builds the combined held-out folds of `training.protocols` (deduplicated first);
2. trains our pipeline and bogofilter (Debian's Bayesian filter, a fresh word list per fold) on each fold's
   training part, chooses each model's flag/reject thresholds from its own out-of-fold training scores, and
   scores the fold's held-out comments;
3. prints one table with both rows and the issue's goals, says where ours does not beat bogofilter or miss a
   goal and by how much, and writes the report (JSON, Markdown, PNG plots) to reports/quality/;
4. times the spam pipeline: comments/s in batches of 2,000 in one process, and single-comment latency.

bogofilter is installed with apt-get when it is missing and we are root; otherwise its row is skipped with a note.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from training import protocols, sources
from training.metrics import choose_thresholds
from training import augment, datasets
from training.train import load_training_examples, spam_lists
from bench._figures import records

REPORT_DIR = sources.PROJECT_ROOT / "reports" / "quality"
BOGOFILTER_OOF_FOLDS = 3
SPEED_BATCH = 2000


def ensure_bogofilter() -> str | None:
    """Path of the bogofilter binary, installing the Debian package when missing and root; None if impossible."""
    found = shutil.which("bogofilter")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print("bogofilter is not installed and we are not root: `apt-get install -y bogofilter` to compare")
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=False, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "bogofilter"], check=False, env=env, stdout=subprocess.DEVNULL)
    return shutil.which("bogofilter")


class BogofilterScorer:
    """bogofilter behind the protocols' `Scorer` interface: one message file per comment, bulk mode (-B)."""

    # Accuracy is measured at bogofilter's own verdict: "Spam" at or above its default spam_cutoff.
    decision_threshold = 0.99

    def __init__(self, binary: str = "bogofilter", oof_folds: int = BOGOFILTER_OOF_FOLDS):
        self.binary = binary
        self.oof_folds = oof_folds
        self.workdir = Path(tempfile.mkdtemp(prefix="bogofilter-"))
        self._counter = 0

    def _files(self, texts) -> list[str]:
        folder = self.workdir / f"m{self._counter}"
        self._counter += 1
        folder.mkdir()
        paths = []
        for i, text in enumerate(texts):
            path = folder / str(i)
            # A blank first line: the whole comment is the body, never parsed as mail headers.
            path.write_text("\n" + text + "\n", encoding="utf-8")
            paths.append(str(path))
        return paths

    def _run(self, db: Path, args: list[str], files: list[str]) -> str:
        out = []
        for start in range(0, len(files), 2000):
            result = subprocess.run([self.binary, "-d", str(db), *args, "-B", *files[start:start + 2000]],
                                    capture_output=True, text=True)
            if result.returncode not in (0, 1, 2):  # 0 spam, 1 ham, 2 unsure; 3 is an error
                raise RuntimeError(f"bogofilter failed: {result.stderr.strip()}")
            out.append(result.stdout)
        return "".join(out)

    def _train(self, db: Path, texts, y) -> None:
        db.mkdir(parents=True)
        files = self._files(texts)
        spam = [f for f, label in zip(files, y) if label == 1]
        ham = [f for f, label in zip(files, y) if label == 0]
        self._run(db, ["-s"], spam)
        self._run(db, ["-n"], ham)

    def _score(self, db: Path, texts) -> np.ndarray:
        files = self._files(texts)
        scores = {}
        for line in self._run(db, ["-T"], files).splitlines():
            parts = line.split()
            if len(parts) >= 3:
                scores[parts[0]] = float(parts[2])
        return np.array([scores[f] for f in files])

    def fit(self, texts, y, sources_=None):
        texts, y = list(texts), np.asarray(y)
        # Thresholds like ours: from out-of-fold scores of the training part, by the same rule.
        from sklearn.model_selection import StratifiedKFold

        oof = np.zeros(len(y))
        for k, (train, test) in enumerate(StratifiedKFold(self.oof_folds, shuffle=True, random_state=0)
                                          .split(np.zeros(len(y)), y)):
            db = self.workdir / f"oof{self._counter}-{k}"
            self._train(db, [texts[i] for i in train], y[train])
            oof[test] = self._score(db, [texts[i] for i in test])
        self._thresholds = choose_thresholds(y, oof, sources=None if sources_ is None else np.asarray(sources_))
        self.db = self.workdir / f"db{self._counter}"
        self._train(self.db, texts, y)
        return self

    def score(self, texts) -> np.ndarray:
        return self._score(self.db, list(texts))

    def thresholds(self) -> dict:
        return self._thresholds

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def speed(pipeline, texts: list[str]) -> dict:
    """Comments/s in batches of SPEED_BATCH (best of 3) and single-comment latency (median, p95, max)."""
    from moderation.features import spam_scores

    batch = (texts * (SPEED_BATCH // max(len(texts), 1) + 1))[:SPEED_BATCH]
    spam_scores(pipeline, batch[:50])  # warm up
    rates = []
    for _ in range(3):
        start = time.perf_counter()
        spam_scores(pipeline, batch)
        rates.append(len(batch) / (time.perf_counter() - start))
    latencies = []
    for text in batch[:300]:
        start = time.perf_counter()
        spam_scores(pipeline, [text])
        latencies.append((time.perf_counter() - start) * 1000)
    return {"batch_comments_per_s": round(max(rates)), "batch_rates": [round(r) for r in rates],
            "single_ms_median": round(float(np.median(latencies)), 2),
            "single_ms_p95": round(float(np.percentile(latencies, 95)), 2),
            "single_ms_max": round(float(np.max(latencies)), 2)}


def compare(rows: dict) -> list[str]:
    """Sentences: each goal missed (by how much) and each figure where ours does not beat bogofilter."""
    notes = []
    ours = rows["ours"]
    for key, op, goal, label in protocols.GOALS:
        if ours.get(key) is None:
            continue
        if not protocols.meets(ours[key], op, goal):
            notes.append(f"ours misses the goal on {label}: {ours[key]:.4f} vs {op} {goal:g} "
                         f"(short by {abs(ours[key] - goal):.4f})")
        if "bogofilter" in rows:
            theirs = rows["bogofilter"].get(key)
            if theirs is None:
                continue
            if not protocols.better(ours[key], theirs, op):
                verdict = "ties" if ours[key] == theirs else "loses to"
                notes.append(f"ours {verdict} bogofilter on {label}: {ours[key]:.4f} vs {theirs:.4f}")
    return notes


@records("quality")
def main() -> None:
    from training.report import protocol_report

    data_dir = sources.ensure_data()
    lists = spam_lists(data_dir)
    development = []
    if (data_dir / "stackexchange-spam-sample").is_dir():
        development = datasets.load_stackexchange_sample(data_dir / "stackexchange-spam-sample")
    folds = protocols.with_article_spam(protocols.make_folds(load_training_examples(data_dir)), lists, development)
    print(f"{len(folds)} combined folds; held-out comments: {sum(len(f.test) for f in folds)}", flush=True)
    details, rows, timings = {}, {}, {}
    models = []

    def make_ours():
        scorer = protocols.PipelineScorer(lists=augment.list_part(lists, 0))
        models.append(scorer)
        return scorer

    start = time.perf_counter()
    details["ours"] = protocols.summarise(protocols.run_folds(make_ours, folds, log=print))
    timings["ours"] = time.perf_counter() - start
    rows["ours"] = details["ours"]["summary"]
    binary = ensure_bogofilter()
    if binary:
        scorers = []

        def make_bogofilter():
            scorers.append(BogofilterScorer(binary))
            return scorers[-1]

        start = time.perf_counter()
        try:
            details["bogofilter"] = protocols.summarise(protocols.run_folds(make_bogofilter, folds))
        finally:
            for s in scorers:
                s.close()
        timings["bogofilter"] = time.perf_counter() - start
        rows["bogofilter"] = details["bogofilter"]["summary"]
    table = protocols.table(rows)
    notes = compare(rows)
    figures = speed(models[-1].pipeline, [e.text for e in folds[-1].test])
    speed_line = (f"spam pipeline speed (one process): {figures['batch_comments_per_s']:,} comments/s in batches of "
                  f"{SPEED_BATCH} (runs {figures['batch_rates']}); one comment: median {figures['single_ms_median']}"
                  f" ms, p95 {figures['single_ms_p95']} ms, max {figures['single_ms_max']} ms")
    time_line = "fold training + scoring time: " + ", ".join(
        f"{name} {seconds:.0f} s for {len(folds)} folds" for name, seconds in timings.items())
    print()
    print(table)
    print()
    for note in notes or ["ours meets every goal and beats bogofilter on every figure"]:
        print(f"- {note}")
    print(f"- {speed_line}")
    print(f"- {time_line}")
    extra = "## Comparison and speed\n\n" + "\n".join(f"- {n}" for n in notes + [speed_line, time_line])
    protocol_report(REPORT_DIR, rows, details, extra=extra)
    print(f"report: {REPORT_DIR / 'protocols.md'}")


if __name__ == "__main__":
    sys.exit(main())
