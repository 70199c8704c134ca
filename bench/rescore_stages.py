"""CPU per row of batch rescoring, stage by stage: where `make bench BENCH=throughput`'s time goes.

    make bench BENCH=rescore_stages                   # 50,000 rows of the throughput bench's archive
    RESCORE_STAGES_ROWS=200000 make bench BENCH=rescore_stages

Runs `training.rescore.rescore` in this process (`--workers 1`: the main process's and a worker's work on one
core, nothing lost between processes), with the stages' functions wrapped by CPU timers (`time.thread_time`;
the wrappers cost well under 1 us per call). The chunk tasks and their results are pickled and unpickled as the
process pool would, and timed. Prints microseconds of CPU per input row for each stage, and the sum against the
run's whole CPU time. CPU time does not depend on the load of the machine much (caches and SMT aside), unlike
wall-clock rates.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import time
from collections import defaultdict
from concurrent.futures import Future
from pathlib import Path
from bench._figures import records

DEFAULT_ROWS = 50_000


def _timed(totals: dict, name: str, func):
    def wrapper(*args, **kwargs):
        start = time.thread_time()
        try:
            return func(*args, **kwargs)
        finally:
            totals[name] += time.thread_time() - start
    return wrapper


def _timed_iter(totals: dict, name: str, func):
    """A generator function whose items' production is timed (the consumer's time between items is not)."""
    def wrapper(*args, **kwargs):
        iterator = func(*args, **kwargs)
        while True:
            start = time.thread_time()
            try:
                item = next(iterator)
            except StopIteration:
                totals[name] += time.thread_time() - start
                return
            totals[name] += time.thread_time() - start
            yield item
    return wrapper


def measure(path: Path, rows: int, models_dir: Path) -> tuple[dict, float, object]:
    """{stage: CPU seconds}, the run's CPU seconds, its summary."""
    import moderation.moderator as moderator_module
    import training.rescore as rescore_module
    import training.rescore_io as io_module
    from moderation.moderator import Moderator
    from training.rescore import RescoreOptions, get_moderator

    totals: dict = defaultdict(float)
    options = RescoreOptions(models_dir=models_dir, workers=1, progress=False)
    version, policy = rescore_module._resolve_model(options)
    moderator = get_moderator(str(models_dir), version, policy)  # loading is not a per-row cost
    saved = []

    def patch(owner, name, wrapper):
        saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, wrapper)

    patch(io_module, "read_jsonl", _timed_iter(totals, "read and parse input", io_module.read_jsonl))
    patch(io_module, "read_csv", _timed_iter(totals, "read and parse input", io_module.read_csv))
    patch(rescore_module, "check_row", _timed(totals, "validate rows (both passes)", rescore_module.check_row))
    patch(rescore_module, "fsync_file", _timed(totals, "fsync", rescore_module.fsync_file))
    patch(rescore_module._CONTEXTS, "get_many",
          _timed(totals, "worker: article contexts (build, cache)", rescore_module._CONTEXTS.get_many))
    patch(moderator, "spam_scorer", _timed(totals, "worker: spam scorer", moderator.spam_scorer))
    patch(Moderator, "_off_topic", _timed(totals, "worker: relevance (off_topic)", Moderator._off_topic))
    patch(moderator_module, "decide", _timed(totals, "worker: policy decide()", moderator_module.decide))
    patch(rescore_module, "verdict_line", _timed(totals, "worker: output JSON lines", rescore_module.verdict_line))
    patch(rescore_module, "collect_threads",
          _timed(totals, "pass 1 (thread samples), incl. its reading", rescore_module.collect_threads))
    score_chunk = _timed(totals, "worker: score_chunk (whole)", rescore_module.score_chunk)
    moderate_batch = _timed(totals, "worker: moderate_batch (whole)", Moderator.moderate_batch)
    patch(Moderator, "moderate_batch", moderate_batch)
    task_bytes = [0]

    class PicklingExecutor:
        """The inline executor, with each task and result pickled and unpickled as a process pool does."""

        workers = 1
        local_files = True  # as the process pool: thread samples through the samples file

        def submit(self, task):
            start = time.thread_time()
            data = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
            task_bytes[0] += len(data)
            task = pickle.loads(data)
            totals["tasks: pickle + unpickle"] += time.thread_time() - start
            result = score_chunk(moderator, task)
            start = time.thread_time()
            result = pickle.loads(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
            totals["results: pickle + unpickle"] += time.thread_time() - start
            future: Future = Future()
            future.set_result(result)
            return future

        def close(self, cancel: bool = False) -> None:
            pass

    patch(rescore_module, "make_executor", lambda *args: PicklingExecutor())
    from training.rescore_io import Source

    try:
        with tempfile.TemporaryDirectory(prefix="rescore-stages-") as tmp:
            start = time.thread_time()
            summary = rescore_module.rescore(Source(path), Path(tmp) / "out.jsonl", options)
            whole = time.thread_time() - start
    finally:
        for owner, name, value in reversed(saved):
            setattr(owner, name, value)
    totals["(task bytes per row)"] = task_bytes[0] * 1e-6  # printed as bytes per row
    return dict(totals), whole, summary


@records("rescore_stages")
def main() -> None:
    from bench.throughput import make_input

    rows = int(os.environ.get("RESCORE_STAGES_ROWS", DEFAULT_ROWS))
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="rescore-stages-input-") as tmp:
        path = Path(tmp) / "archive.jsonl"
        make_input(path, rows, bad_every=1000)
        totals, whole, summary = measure(path, rows, root / "models")
    per_row = {k: v / rows * 1e6 for k, v in totals.items()}
    task_bytes = per_row.pop("(task bytes per row)")
    print(f"{rows:,} rows ({summary.scored:,} scored), one process; CPU per input row by stage "
          f"(load average {os.getloadavg()[0]:.1f}):")
    worker = ("worker: article contexts (build, cache)", "worker: spam scorer", "worker: relevance (off_topic)",
              "worker: policy decide()", "worker: output JSON lines")
    parent = ("read and parse input", "validate rows (both passes)", "tasks: pickle + unpickle",
              "results: pickle + unpickle", "fsync")
    for name in parent + worker:
        print(f"  {name:<45} {per_row.get(name, 0.0):7.1f} us")
    rest_worker = per_row["worker: score_chunk (whole)"] - sum(per_row.get(n, 0.0) for n in worker)
    print(f"  {'worker: rest of score_chunk (grouping rows)':<45} {rest_worker:7.1f} us")
    pass1 = per_row["pass 1 (thread samples), incl. its reading"]
    print(f"  {'(pass 1 alone, reading and validating incl.)':<45} {pass1:7.1f} us")
    accounted = sum(per_row.get(n, 0.0) for n in parent) + per_row["worker: score_chunk (whole)"]
    total = whole / rows * 1e6
    print(f"  {'rest of the main process (commit, chunking)':<45} {total - accounted:7.1f} us")
    print(f"  {'total':<45} {total:7.1f} us  ({rows / whole:,.0f} rows/s of CPU); "
          f"task bytes pickled per row: {task_bytes:,.0f}")
    print(f"  worker share {per_row['worker: score_chunk (whole)'] / total:.0%}, "
          f"main process share {1 - per_row['worker: score_chunk (whole)'] / total:.0%}")


if __name__ == "__main__":
    main()
