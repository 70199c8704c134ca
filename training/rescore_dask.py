"""The Dask engine for rescoring: the same chunks, scored on a `dask.distributed` cluster.

The client (the `rescore` process) reads the input, builds the chunks and commits results in order with the
same checkpoints as the local engine, so `--resume` works the same. Each Dask worker loads the model once
(hash-checked, from `--models` at the same path on every worker) and keeps it for the following chunks; the
decision for a row is computed by the same `score_chunk` as the local engine, hence the same decisions.
Without `--scheduler`, a `LocalCluster` with one single-threaded worker process per core is started.
"""

from __future__ import annotations

from pathlib import Path

from moderation.policy import PolicyConfig

CONNECT_TIMEOUT = "30s"  # to reach --scheduler


class SchedulerUnreachable(RuntimeError):
    """`--scheduler` names no Dask scheduler that answers."""


class DaskExecutor:
    """Submits chunk tasks to `score(models_dir, version, policy, task)` on the cluster's workers. The scoring
    function is given by the rescore engine (training/rescore.py), which chooses this executor: this module needs
    nothing from it."""

    def __init__(self, models_dir: Path, version: str, policy: PolicyConfig, workers: int, score,
                 scheduler: str | None = None):
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - dask is in requirements.txt
            raise RuntimeError("the Dask engine needs `dask[distributed]` (pip install -r requirements.txt)") from exc
        import logging

        for name in ("distributed", "distributed.scheduler", "distributed.nanny", "distributed.core"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout=CONNECT_TIMEOUT)
            except (OSError, ValueError, TypeError) as exc:  # unreachable, or not a scheduler address
                raise SchedulerUnreachable(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
        else:
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=40)
            self.client = Client(self.cluster)
        self.workers = max(1, sum(w.get("nthreads", 1) for w in self.client.scheduler_info()["workers"].values()))
        self.score = score
        self.args = (str(Path(models_dir).resolve()), version, policy)

    def submit(self, task):
        # pure=False: a chunk is never deduplicated against another; key by chunk index for the dashboard.
        return self.client.submit(self.score, *self.args, task, pure=False, key=f"rescore-chunk-{task.index}-"
                                  f"{id(task):x}")

    def close(self, cancel: bool = False) -> None:
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()
