"""Batch rescoring: replay old comments through a model version and the policy, in chunks, on all cores.

Input is CSV, JSON lines, Parquet or a database table with `id`, `text` and optional `article_id`,
`article_title`, `article_body`, `decision` (the old one), `parent_id` (the id of the row it answers) or
`parent_text` (the text it answers): a short reply is judged against its parent too (moderation/short_support.py);
a `parent_id` that is no row of the input is no parent. Output is one JSON object per valid input row (JSON
lines, or CSV / Parquet by extension) with `id`, `decision`, `scores`, `reasons` and `model_version`. Every
comment is decided by `Moderator.moderate_batch`, the same code the HTTP service runs.

How it works:
1. A first pass over the input keeps, for each `article_id`, the first `thread_size + 1` valid texts (cut to
   `thread_chars`): the thread a comment is judged against is the other rows of its article, from that sample.
   Memory is bounded by articles x thread_size, never by the number of rows.
2. The second pass reads the input again in chunks of `chunk_size` valid rows; each chunk goes to a worker
   process (the model is loaded once per process) or a Dask worker. Results are committed strictly in input
   order: output, errors and changed-rows files are appended and fsynced, then a checkpoint line records the
   number of input records consumed, the byte size of each file and the running summary, and is fsynced too.
3. `--resume` reads the last complete checkpoint line, truncates the files to the sizes it records (dropping
   any partial tail written after it), skips the records already consumed and carries on. The result is byte
   for byte the result of an uninterrupted run.
Bad rows (no id, no text, broken JSON, invalid UTF-8, text over the policy limit, a repeated id) go to the
errors file with their line number and reason.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections import Counter, deque
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path

from moderation.policy import PolicyConfig, model_policy
from moderation.registry import ModelLoadError, ModelRegistry
from moderation.site_rules import SiteRules
from moderation.text import clear_memos, is_short, policy_length
from training.rescore_batch import ThreadContexts, changed_line, json_value, verdict_line
from training.rescore_io import Source, convert_output, fsync_file, is_invalid_utf8, output_kind
from training.rescore_samples import SampleFile, SampleIndex, sample_of

log = logging.getLogger(__name__)

CHUNK_SIZE = 2000
THREAD_SIZE = 20  # other comments of the same article given as its thread
THREAD_CHARS = 500  # of each, enough for the relevance model's context
CHECKPOINT_VERSION = 1
GC_THRESHOLD = 10_000  # allocations between young-generation collections in rescoring processes (default 700)
DECISIONS = ("accept", "flag", "reject")


class RescoreError(RuntimeError):
    """The run cannot start or go on (bad options, a checkpoint that does not match, a broken worker)."""


class RescoreInterrupted(RuntimeError):
    """Stopped by Ctrl-C / SIGTERM after the last committed chunk; `--resume` carries on from there."""


@dataclass
class RescoreSummary:
    rows: int = 0  # input records read (valid or not)
    scored: int = 0
    errors: int = 0
    decisions: Counter = field(default_factory=Counter)
    changes: Counter = field(default_factory=Counter)  # (old, new) -> n, for rows that had an old decision
    error_reasons: Counter = field(default_factory=Counter)
    model_version: str | None = None
    elapsed_s: float = 0.0
    files: dict = field(default_factory=dict)

    def state(self) -> dict:
        return {"rows": self.rows, "scored": self.scored, "errors": self.errors,
                "decisions": dict(self.decisions), "error_reasons": dict(self.error_reasons),
                "changes": [[old, new, n] for (old, new), n in sorted(self.changes.items())]}

    @classmethod
    def from_state(cls, state: dict) -> "RescoreSummary":
        return cls(rows=state["rows"], scored=state["scored"], errors=state["errors"],
                   decisions=Counter(state["decisions"]), error_reasons=Counter(state["error_reasons"]),
                   changes=Counter({(old, new): n for old, new, n in state["changes"]}))

    @property
    def changed(self) -> int:
        return sum(n for (old, new), n in self.changes.items() if old != new)

    def to_dict(self) -> dict:
        olds = sorted({old for old, _ in self.changes})
        matrix = {old: {new: self.changes.get((old, new), 0) for new in DECISIONS} for old in olds}
        return {
            "rows": self.rows, "scored": self.scored, "errors": self.errors,
            "decisions": {d: self.decisions.get(d, 0) for d in DECISIONS},
            "changes": {f"{old} -> {new}": n for (old, new), n in sorted(self.changes.items())},
            "change_matrix": matrix, "changed": self.changed,
            "error_reasons": dict(self.error_reasons.most_common()),
            "model_version": self.model_version,
            "elapsed_s": round(self.elapsed_s, 1),
            "files": self.files,
        }


@dataclass
class RescoreOptions:
    models_dir: Path
    version: str | None = None
    chunk_size: int = CHUNK_SIZE
    workers: int | None = None  # default: every core
    engine: str = "local"  # or "dask"
    scheduler: str | None = None
    resume: bool = False
    thread_size: int = THREAD_SIZE
    thread_chars: int = THREAD_CHARS
    progress: bool | None = None  # None: a bar on a terminal, plain lines otherwise
    policy: PolicyConfig | None = None  # default: the model's thresholds, as the service uses
    site_rules: SiteRules | None = None  # the site's links and word list rules (as the service's MODERATION_*)


# --- validation -----------------------------------------------------------------------------------------------


def check_row(row: dict, seen: set, max_chars: int) -> tuple[str | None, tuple | None]:
    """(error, None) for a bad row, (None, (id, text, article_id, title, body, old, parent)) for a good one, where
    `parent` is the row's `parent_text`, a ParentId for a `parent_id` without text, or None."""
    rid = row.get("id")
    if rid is None or rid == "":
        return "missing id", None
    if not isinstance(rid, (str, int)) or isinstance(rid, bool):
        return "id must be a string or an integer", None
    if isinstance(rid, str) and is_invalid_utf8(rid):
        return "invalid UTF-8 in column id", None
    text = row.get("text")
    if text is None:
        return "missing text", None
    if not isinstance(text, str):
        return "text must be a string", None
    parent_id, parent_text = row.get("parent_id"), row.get("parent_text")
    if parent_id == "":
        parent_id = None
    if parent_id is not None and (not isinstance(parent_id, (str, int)) or isinstance(parent_id, bool)):
        return "parent_id must be a string or an integer", None
    if parent_text == "":
        parent_text = None
    if parent_text is not None and not isinstance(parent_text, str):
        return "parent_text must be a string", None
    for key in ("text", "article_id", "article_title", "article_body", "decision", "parent_id", "parent_text"):
        value = row.get(key)
        if isinstance(value, str):
            if is_invalid_utf8(value):
                return f"invalid UTF-8 in column {key}", None
            if value.isascii():  # no lone surrogate possible (and isascii() costs nothing)
                continue
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return f"invalid text in column {key} (lone surrogate)", None
    length = policy_length(text)
    if length > max_chars:
        return f"text over the policy limit ({length} > {max_chars} characters)", None
    key = str(rid)
    if key in seen:
        return "repeated id", None
    seen.add(key)
    article = row.get("article_id")
    article = None if article is None or article == "" else str(article)
    old = row.get("decision")
    old = None if old is None else str(old).strip().lower() or None  # "ACCEPT", "Accept " are accept
    parent = parent_text if parent_text is not None else None if parent_id is None else ParentId(str(parent_id))
    return None, (rid, text, article, _str(row.get("article_title")), _str(row.get("article_body")), old, parent)


class ParentId(str):
    """A row's `parent_id` given without the parent's text: the main process looks the text up (`parent_texts`)."""


def _str(value) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


class _KnownRepeats:
    """The second pass's "ids seen so far": the first pass already found the rows whose id repeats an earlier
    valid row's (by line), so the second pass does not hold a second set of every id."""

    def __init__(self, lines: set):
        self.lines, self.line = lines, None

    def __contains__(self, key) -> bool:
        return self.line in self.lines

    def add(self, key) -> None:
        pass


def collect_threads(source: Source, max_chars: int, thread_size: int, thread_chars: int,
                    repeated: set | None = None, full=None, parents: set | None = None) -> tuple[dict, int]:
    """First pass: {article_id: [(line, text), ...]} with the first thread_size + 1 valid texts of each article,
    and the number of valid rows. `repeated`, when given, receives the lines of the rows with a repeated id.
    `full(article_id, sample)`, when given, takes each sample as soon as it is complete (thread_size + 1 texts)
    and the dict returned holds only the others: the texts of complete samples are not kept. `parents`, when
    given, receives the `parent_id`s of the short comments that name one without its text (`parent_texts`)."""
    samples: dict[str, list] = {}
    seen: set = set()
    valid = 0
    for record in source.records():
        if record.row is None:
            continue
        error, good = check_row(record.row, seen, max_chars)
        if error:
            if repeated is not None and error == "repeated id":
                repeated.add(record.line)
            continue
        valid += 1
        if parents is not None and isinstance(good[6], ParentId) and is_short(good[1]):
            parents.add(str(good[6]))
        article = good[2]
        if article is None:
            continue
        kept = samples.get(article)
        if kept is None:
            kept = samples[article] = [(record.line, good[1][:thread_chars])]
        elif kept is not _HANDED_OVER and len(kept) <= thread_size:
            kept.append((record.line, good[1][:thread_chars]))
        else:
            continue
        if full is not None and len(kept) > thread_size:
            full(article, kept)
            samples[article] = _HANDED_OVER
    if full is not None:
        samples = {article: kept for article, kept in samples.items() if kept is not _HANDED_OVER}
    return samples, valid


_HANDED_OVER = ()  # collect_threads: an article whose complete sample went to `full`


def parent_texts(source: Source, wanted: set, thread_chars: int) -> dict:
    """{id: text (cut to thread_chars)} of the input rows whose id is in `wanted` (the first valid row of an id): a
    pass over the input made only when short replies name their parent by id. Memory is bounded by the number of
    such replies."""
    found: dict = {}
    if not wanted:
        return found
    for record in source.records():
        row = record.row
        if row is None:
            continue
        rid, text = row.get("id"), row.get("text")
        if isinstance(rid, bool) or not isinstance(rid, (str, int)) or not isinstance(text, str):
            continue
        key = str(rid)
        if key in wanted and key not in found:
            found[key] = text[:thread_chars]
    return found


# --- scoring (runs in worker processes) -------------------------------------------------------------------------


@dataclass
class ChunkTask:
    index: int
    rows: list  # (line, id, text, article_id, title, body, old[, parent text or None])
    samples: dict  # article_id -> [(line, text)] or a SampleRef into `sample_file`, for the articles of these rows
    thread_size: int
    sample_file: SampleFile | None = None  # where SampleRefs point (local engine)


@dataclass
class ChunkResult:
    index: int
    output: bytes
    changed: bytes
    decisions: Counter
    changes: Counter


_MODERATORS: dict = {}


def get_moderator(models_dir: str, version: str, policy: PolicyConfig) -> Moderator:
    """The moderator for (models_dir, version, policy), loaded (and hash-checked) once per process."""
    key = (str(models_dir), version, policy)
    if key not in _MODERATORS:
        from moderation.moderator import Moderator  # the scoring side only: see `_resolve_model`

        _MODERATORS[key] = Moderator(ModelRegistry(models_dir).load(version), policy)
    return _MODERATORS[key]


_CONTEXTS = ThreadContexts()  # per process: the contexts of the articles seen, kept across chunks


def score_chunk(moderator: Moderator, task: ChunkTask) -> ChunkResult:
    """Score a chunk: the same verdicts as `moderator.moderate_batch(texts, articles, threads)` with each row's
    thread the other rows of its article's sample, but every row of an article shares the article's one context
    (its whole sample, the row itself taken out when it is in it), built once per worker."""
    from moderation.moderator import Article
    from moderation.semantic import forget_article_words

    clear_memos()  # normalised texts and tokens are shared within the chunk only (see moderation.text.clear_memos)
    texts, articles, threads, contexts, leave_out = [], [], [], [], []
    article_cache: dict = {}
    wanted: dict = {}  # context key -> (title, body, the sample (to load when not cached))
    sampled: dict = {}  # article id -> its sample (InlineSample / StoredSample)
    keys: list = []
    parents = [row[7] if len(row) > 7 and type(row[7]) is str else None for row in task.rows]
    for line, _rid, text, article_id, title, body, _old, *_parent in task.rows:
        texts.append(text)
        if article_id is None:
            key = (None, title, body)
            article = article_cache.get(key)
            if article is None:
                article = article_cache[key] = Article(None, title, body) if (title or body) else None
            articles.append(article)
            threads.append(None)
            keys.append(None)
            leave_out.append(False)
            continue
        sample = sampled.get(article_id)
        if sample is None:
            sample = sampled[article_id] = sample_of(task.samples.get(article_id, ()), task.sample_file)
        position = sample.position(line, text)
        inside = position is not None
        if position is False:
            # its sample text is cut: it cannot be taken out of the shared context, so it gets its own thread
            articles.append(Article(article_id, title, body))
            threads.append([t for n, t in sample.load() if n != line])
            keys.append(None)
            leave_out.append(False)
            continue
        if not (title.strip() or body.strip() or sample.size > inside):  # nothing to compare with: not scored
            articles.append(None)
            threads.append(None)
            keys.append(None)
            leave_out.append(False)
            continue
        key = article_cache.get((article_id, title, body, "sample"))
        if key is None:  # the sample by its hash: a cached context must not hold on to the sample's texts
            key = (article_id, title, body, sample.size, sample.key)
            article_cache[(article_id, title, body, "sample")] = key
            wanted[key] = (title, body, sample)
        articles.append(None)
        threads.append(None)
        keys.append(key)
        leave_out.append(inside)
    for key, (title, body, sample) in wanted.items():  # texts only for the contexts this worker has not built yet
        wanted[key] = (title, body, None if _CONTEXTS.has(key) else [t for _, t in sample.load()])
    built = _CONTEXTS.get_many(wanted)
    contexts = [None if key is None else built[key] for key in keys]
    verdicts = moderator.moderate_batch(texts, articles, threads, contexts=contexts, leave_out=leave_out,
                                        parents=parents)
    for context in built.values():  # kept across chunks: the 1M-row memory goal
        forget_article_words(context)
    version_json = json_value(moderator.version)
    out, changed = [], []
    decided, moved = [], []
    for (line, rid, _text, _a, _t, _b, old, *_p), verdict in zip(task.rows, verdicts):
        rid_json = json_value(rid)
        verdict_json = verdict_line(rid_json, verdict, version_json)
        out.append(verdict_json)
        decided.append(verdict.decision)
        if old is not None:
            moved.append((old, verdict.decision))
            if old != verdict.decision:
                changed.append(changed_line(line, rid_json, old, verdict_json))
    decisions, changes = Counter(decided), Counter(moved)
    return ChunkResult(task.index, _lines(out), _lines(changed), decisions, changes)


def _lines(items: list[str]) -> bytes:
    return ("\n".join(items) + "\n").encode("utf-8") if items else b""


def _worker_init(models_dir: str, version: str, policy: PolicyConfig, parent: int | None = None) -> None:
    """Worker process start: Ctrl-C is the parent's business; exit if the parent dies (even by SIGKILL), also when
    it died while this worker was still starting (`parent` is its pid, given by the parent itself)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid() if parent is None else parent
    try:  # Linux: the kernel kills this worker when the parent dies
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
    get_moderator(models_dir, version, policy)
    # The model's objects never become garbage: out of the collector's sight, and collections rarer. Each chunk
    # allocates ~10^5 short-lived containers; collections traversing the model cost 3-6 us per row (measured).
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])


def _worker_score(models_dir: str, version: str, policy: PolicyConfig, task: ChunkTask) -> ChunkResult:
    return score_chunk(get_moderator(models_dir, version, policy), task)


# --- executors ---------------------------------------------------------------------------------------------------


class InlineExecutor:
    """One worker: score in this process (no pickling, one model in memory)."""

    local_files = True  # reads files the main process writes (the thread samples)

    def __init__(self, models_dir, version, policy):
        self.moderator = get_moderator(str(models_dir), version, policy)
        self.workers = 1

    def submit(self, task: ChunkTask) -> Future:
        future: Future = Future()
        future.set_result(score_chunk(self.moderator, task))
        return future

    def close(self, cancel: bool = False) -> None:
        pass


class ProcessExecutor:
    """`workers` processes (spawned: no inherited locks or threads), each loading the model once."""

    local_files = True

    def __init__(self, models_dir, version, policy, workers: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers
        self.args = (str(models_dir), version, policy)
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_worker_init, initargs=(*self.args, os.getpid()))

    def submit(self, task: ChunkTask) -> Future:
        return self.pool.submit(_worker_score, *self.args, task)

    def close(self, cancel: bool = False) -> None:
        processes = list((getattr(self.pool, "_processes", None) or {}).values())
        self.pool.shutdown(wait=not cancel, cancel_futures=cancel)
        if cancel:  # do not wait for chunks in progress: their results would be thrown away anyway
            for process in processes:
                process.terminate()


def make_executor(options: RescoreOptions, version: str, policy: PolicyConfig):
    workers = options.workers or len(os.sched_getaffinity(0))
    if options.engine == "dask":
        from training.rescore_dask import DaskExecutor, SchedulerUnreachable

        try:
            return DaskExecutor(options.models_dir, version, policy, workers, _worker_score, options.scheduler)
        except SchedulerUnreachable as exc:
            raise RescoreError(str(exc)) from None
    if options.engine != "local":
        raise RescoreError(f"unknown engine {options.engine!r} (local or dask)")
    if workers <= 1:
        return InlineExecutor(options.models_dir, version, policy)
    return ProcessExecutor(options.models_dir, version, policy, workers)


# --- progress ----------------------------------------------------------------------------------------------------


class Progress:
    """A tqdm bar (rows/s, ETA) on a terminal; a plain line every `every` seconds otherwise."""

    def __init__(self, total: int, done: int, enabled: bool | None, every: float = 10.0):
        self.total, self.done, self.every = total, done, every
        self.start, self.start_done, self.last = time.monotonic(), done, time.monotonic()
        self.bar = None
        tty = sys.stderr.isatty()
        if enabled is None:
            enabled = True
        self.enabled = enabled
        if enabled and tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, unit="rows", unit_scale=True, smoothing=0.1,
                            desc="rescore", file=sys.stderr, dynamic_ncols=True)

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled and time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            print(self.line(), file=sys.stderr, flush=True)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = (self.done - self.start_done) / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta = time.strftime("%H:%M:%S", time.gmtime(left)) if left == left else "?"
        share = 100.0 * self.done / self.total if self.total else 100.0
        return f"rescore: {self.done:,}/{self.total:,} rows ({share:.1f}%), {rate:,.0f} rows/s, ETA {eta}"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            print(self.line(), file=sys.stderr, flush=True)


# --- the run -----------------------------------------------------------------------------------------------------


@dataclass
class _Paths:
    output: Path
    errors: Path
    changed: Path
    summary: Path
    work: Path
    partial: Path
    checkpoint: Path

    @classmethod
    def for_output(cls, output: Path, errors: Path | None = None) -> "_Paths":
        output = Path(output)
        work = output.with_name(output.name + ".rescore")
        return cls(output, Path(errors) if errors else output.with_name(output.name + ".errors.jsonl"),
                   output.with_name(output.name + ".changed.jsonl"), output.with_name(output.name + ".summary.json"),
                   work, work / "output.partial.jsonl", work / "checkpoint.jsonl")


def _resolve_model(options: RescoreOptions) -> tuple[str, PolicyConfig]:
    registry = ModelRegistry(options.models_dir)
    version = options.version or registry.current_version()
    if version is None:
        raise ModelLoadError(f"no live model under {registry.root}: train one or pass --model")
    metadata = registry.verify(version)
    # `policy_for(model)` from the metadata alone: the main process never imports the model's code (numpy,
    # scipy, scikit-learn: ~110 MiB of its peak at 1,000,000 rows); only the workers score.
    policy = options.policy or model_policy(metadata)
    if options.site_rules is not None:
        policy = replace(policy, site=options.site_rules)
    return version, policy


def _read_checkpoint(path: Path) -> tuple[dict | None, dict | None]:
    """The header and the last complete commit line (a torn last line, from a kill mid-write, is ignored)."""
    if not path.exists():
        return None, None
    header, last = None, None
    with open(path, "rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            try:
                entry = json.loads(raw)
            except ValueError:
                break
            if entry.get("kind") == "header":
                header = entry
            elif entry.get("kind") == "commit":
                last = entry
    return header, last


def resumable(output: Path) -> bool:
    """Whether an interrupted run into `output` left a checkpoint that `--resume` carries on from."""
    return _read_checkpoint(_Paths.for_output(output).checkpoint)[0] is not None


def rescore(source: Source, output: Path, options: RescoreOptions, errors_path: Path | None = None) -> RescoreSummary:
    """Rescore every record of `source` into `output`; return the summary (also written next to the output).
    One run at a time per output: RescoreError while another holds its work folder."""
    paths = _Paths.for_output(output, errors_path)
    _check_not_input(source, paths)
    _check_readable(source)
    lock = _lock_work(paths)
    try:
        return _rescore(source, paths, options)
    except BaseException:
        if paths.work.is_dir() and [p.name for p in paths.work.iterdir()] == [LOCK_FILE]:
            shutil.rmtree(paths.work, ignore_errors=True)  # it failed before any work: leave nothing behind
        raise
    finally:
        lock.close()


LOCK_FILE = ".lock"


def _lock_work(paths: _Paths):
    """The run's exclusive lock on its work folder (made if missing): an open file to close when the run ends.
    Two runs into one output would truncate and append the same files; the second is refused at once."""
    import fcntl

    try:
        paths.work.mkdir(parents=True, exist_ok=True)
        handle = open(paths.work / LOCK_FILE, "a")
    except OSError as exc:
        raise RescoreError(f"cannot write the output {paths.output}: {exc.strerror} ({exc.filename})") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RescoreError(f"another rescore is writing {paths.output} (its work folder {paths.work} is locked): "
                           "wait for it to finish, or choose another --output") from None
    return handle


def _check_readable(source: Source) -> None:
    """Read the source's first record: an input that cannot be read as a whole (a CSV header without id and text,
    a file that is not Parquet, a missing table) raises InputError before the run makes any file."""
    records = source.records()
    try:
        next(records, None)
    finally:
        records.close()


def _clear_work(work: Path) -> None:
    """Empty the work folder for a new run, but for the lock this run holds."""
    for path in work.iterdir():
        if path.name == LOCK_FILE:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _rescore(source: Source, paths: _Paths, options: RescoreOptions) -> RescoreSummary:
    started = time.monotonic()
    if options.chunk_size < 1:
        raise RescoreError("chunk size must be at least 1")
    version, policy = _resolve_model(options)
    header = {
        "kind": "header", "format": CHECKPOINT_VERSION, "source": source.fingerprint(), "model_version": version,
        "policy": policy.to_dict(), "thread_size": options.thread_size, "thread_chars": options.thread_chars,
        "errors_file": str(paths.errors.resolve()), "chunk_size": options.chunk_size,
    }

    old_header, last = _read_checkpoint(paths.checkpoint) if options.resume else (None, None)
    if options.resume and old_header is not None:
        if options.version is None and old_header.get("model_version") and old_header.get("policy"):
            # carry on with the version the run started with, even if `current` moved meanwhile
            header["model_version"] = version = old_header["model_version"]
            policy = options.policy or PolicyConfig.from_dict(old_header["policy"], site=options.site_rules)
            if options.policy is not None and options.site_rules is not None:
                policy = replace(policy, site=options.site_rules)
            header["policy"] = policy.to_dict()
            try:  # here, not in a worker: a worker process failing to load it breaks the pool (a traceback)
                ModelRegistry(options.models_dir).verify(version)
            except ModelLoadError as exc:
                raise RescoreError(f"cannot resume: the interrupted run's model {version} does not load any more "
                                   f"({exc}); rerun without --resume to start over with the live model, or "
                                   f"restore that version") from None
        if old_header.get("chunk_size") and old_header["chunk_size"] != options.chunk_size:
            # Chunks are cut as the interrupted run cut them: scores are sums whose order follows the chunks, so
            # another size could move a score in its last rounded digit (2 of 200,000 rows between 2,000 and 5,000)
            log.info("resuming with the interrupted run's chunk size %d (not %d)", old_header["chunk_size"],
                     options.chunk_size)
            options = replace(options, chunk_size=old_header["chunk_size"])
            header["chunk_size"] = options.chunk_size
        mismatched = [k for k in ("format", "source", "model_version", "policy", "thread_size", "thread_chars",
                                  "errors_file") if old_header.get(k) != header[k]]
        if mismatched:
            raise RescoreError(
                f"cannot resume: {', '.join(mismatched)} changed since the interrupted run "
                f"(checkpoint {paths.checkpoint}); rerun without --resume to start over"
            )
    resuming = options.resume and old_header is not None
    if not resuming:
        _clear_work(paths.work)
        last = None
    paths.work.mkdir(parents=True, exist_ok=True)

    if last is not None:
        summary = RescoreSummary.from_state(last["summary"])
        skip = last["records"]
        offsets = (last["output_bytes"], last["errors_bytes"], last["changed_bytes"])
    else:
        summary, skip, offsets = RescoreSummary(), 0, (0, 0, 0)
    summary.model_version = version
    if (last is not None and not paths.partial.exists() and output_kind(paths.output) == "jsonl"
            and paths.output.is_file() and paths.output.stat().st_size == last["output_bytes"]):
        # killed after the finished partial file became the output, before the cleanup: take it back and finish
        os.replace(paths.output, paths.partial)
    for path, size in zip((paths.partial, paths.errors, paths.changed), offsets):
        have = path.stat().st_size if path.exists() else 0
        if have < size:  # truncating would pad it with NUL bytes: the committed rows are gone
            raise RescoreError(
                f"cannot resume: {path} is shorter than the checkpoint records ({have} < {size} bytes): it was "
                "truncated or deleted after the interrupted run; rerun without --resume to start over"
            )
    handles = []
    for path, size in zip((paths.partial, paths.errors, paths.changed), offsets):
        handle = open(path, "r+b" if path.exists() else "w+b")
        handle.truncate(size)  # drop whatever was written after the last checkpoint
        handle.seek(size)
        handles.append(handle)
    out, err, chg = handles
    checkpoint = open(paths.checkpoint, "ab")
    if not resuming:
        checkpoint.write((json.dumps(header) + "\n").encode())
        fsync_file(checkpoint)
        _fsync_dir(paths.work)

    progress = None
    executor = None
    interrupted = broken = False
    previous_handlers = _install_interrupt_handlers()
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], GC_THRESHOLD), *thresholds[1:])
    try:
        # Workers start (and load the model) while this process makes the first pass over the input: a bounded
        # sample of texts per article (the threads), and the row count for the ETA.
        executor = make_executor(options, version, policy)
        repeated: set = set()
        index = None
        if getattr(executor, "local_files", False):  # workers on this machine: samples go to a file, once,
            index = SampleIndex(None, paths.work / "samples.pickle")  # each as soon as the first pass has it
        wanted_parents: set = set()
        samples, valid_rows = collect_threads(source, policy.max_chars, options.thread_size, options.thread_chars,
                                              repeated, full=index.add if index is not None else None,
                                              parents=wanted_parents)
        parent_text = parent_texts(source, wanted_parents, options.thread_chars)
        if index is not None:
            index.finish(samples, consume=True)
            samples = None
        progress = Progress(valid_rows, summary.scored, options.progress)
        window = 2 * getattr(executor, "workers", 1) + 1
        pending: deque = deque()
        seen = _KnownRepeats(repeated)
        records = 0
        rows: list = []
        bad: list = []

        def commit(entry) -> None:
            task_rows, bad_lines, end_records, future = entry
            result = future.result() if future is not None else None
            if result is not None:
                out.write(result.output)
                chg.write(result.changed)
                summary.decisions.update(result.decisions)
                summary.changes.update(result.changes)
                summary.scored += len(task_rows)
            for line_no, rid, reason in bad_lines:
                err.write((json.dumps({"line": line_no, "id": rid, "error": reason}, ensure_ascii=False)
                           + "\n").encode("utf-8"))
                summary.errors += 1
                summary.error_reasons[reason.split(" (")[0]] += 1
            summary.rows = end_records
            for handle in handles:
                fsync_file(handle)
            entry = {"kind": "commit", "records": end_records, "output_bytes": out.tell(),
                     "errors_bytes": err.tell(), "changed_bytes": chg.tell(), "summary": summary.state()}
            checkpoint.write((json.dumps(entry) + "\n").encode())
            fsync_file(checkpoint)
            progress.update(len(task_rows))

        def dispatch(chunk: int) -> None:
            future = None
            if rows:
                if index is not None:
                    task = ChunkTask(chunk, rows, index.refs(rows, options.thread_chars), options.thread_size,
                                     index.file)
                else:
                    articles = {r[3] for r in rows if r[3] is not None}
                    task = ChunkTask(chunk, rows, {a: samples[a] for a in articles if a in samples},
                                     options.thread_size)
                future = executor.submit(task)
            pending.append((rows, bad, records, future))
            while len(pending) >= window or (pending and pending[0][3] is None):
                commit(pending.popleft())

        chunk_index = 0
        shared: dict = {}
        for record in source.records():
            records += 1
            if record.row is None:
                if records > skip:
                    bad.append((record.line, None, record.error))
                continue
            seen.line = record.line
            error, good = check_row(record.row, seen, policy.max_chars)
            if records <= skip:
                continue
            if error:
                rid = record.row.get("id")
                bad.append((record.line, rid if isinstance(rid, (str, int)) and not is_invalid_utf8(rid) else None,
                            error))
                continue
            rid, text, article, title, body, old, parent = good
            if isinstance(parent, ParentId):
                parent = parent_text.get(str(parent))
            # one object per distinct title and body in a chunk: pickled once (then by reference), hashed once
            rows.append((record.line, rid, text, article, shared.setdefault(title, title),
                         shared.setdefault(body, body), old, parent))
            if len(rows) >= options.chunk_size:
                dispatch(chunk_index)
                chunk_index += 1
                rows, bad, shared = [], [], {}
        if rows or bad or records > skip:
            dispatch(chunk_index)
        while pending:
            commit(pending.popleft())
    except KeyboardInterrupt:
        interrupted = True
    except BrokenProcessPool:  # a worker killed (the kernel's OOM killer, kill -9): the checkpoint is intact
        broken = interrupted = True
    finally:
        gc.set_threshold(*thresholds)
        _restore_interrupt_handlers(previous_handlers)
        if progress is not None:
            progress.close()
        if executor is not None:
            executor.close(cancel=interrupted)
        for handle in (*handles, checkpoint):
            handle.close()
    if broken:
        raise RescoreError(
            f"a worker process ended abruptly (killed, or out of memory?) after {summary.scored:,} rows "
            f"({summary.rows:,} input records) were committed; rerun with --resume to carry on"
        )
    if interrupted:
        raise RescoreInterrupted(
            f"interrupted after {summary.scored:,} rows ({summary.rows:,} input records) were committed; "
            f"rerun with --resume to carry on"
        )

    # Done: the partial output becomes the output (converted when CSV / Parquet was asked for) - unless not one
    # row could be scored (a wrong export or column mapping): then there is nothing to deliver, and an earlier
    # run's output at that path is left as it was instead of being replaced by an empty file.
    delivered = bool(summary.scored) or not summary.rows
    if delivered and output_kind(paths.output) == "jsonl":
        os.replace(paths.partial, paths.output)
    elif delivered:
        convert_output(paths.partial, paths.output)
    _fsync_dir(paths.output.parent)
    summary.elapsed_s = time.monotonic() - started
    summary.files = {"output": str(paths.output) if delivered else None, "errors": str(paths.errors),
                     "changed": str(paths.changed), "summary": str(paths.summary)}
    paths.summary.write_text(json.dumps(summary.to_dict(), indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(paths.work, ignore_errors=True)
    return summary


def _check_not_input(source: Source, paths: _Paths) -> None:
    """RescoreError when a file the run writes (output, errors, changed, summary), or its work folder (removed at
    the start and the end), is the input file: the archive of old comments would be replaced by the result."""
    if source.path is None:
        return
    read = Path(source.path).resolve()
    for what, path in (("--output", paths.output), ("the errors file", paths.errors),
                       ("the changed rows file", paths.changed), ("the summary file", paths.summary)):
        if path.resolve() == read:
            raise RescoreError(f"{what} {path} is the input file: choose another --output (the input would be "
                               "overwritten)")
    if read.is_relative_to(paths.work.resolve()):
        raise RescoreError(f"the input file {source.path} is inside the run's work folder {paths.work}, which is "
                           "deleted: move the input or choose another --output")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _install_interrupt_handlers():
    """SIGTERM stops the run like Ctrl-C: after the last committed chunk, resumable."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)


def _restore_interrupt_handlers(previous) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)

