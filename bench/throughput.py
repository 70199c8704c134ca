"""Rescoring throughput and memory: ours vs bogofilter on the same texts, in the same run.

    make bench BENCH=throughput                       # 200,000 rows
    RESCORE_BENCH_ROWS=1000000 make bench BENCH=throughput

1. Builds a realistic archive: real comments from the shared data (YouTube, SMS and Fox News comments; about one
   in six is spam), with article ids (about 50 comments per article; Fox comments under their own article),
   titles, bodies and an old decision, as JSON lines.
2. Trains bogofilter (Debian package; installed with apt-get when missing) on the training part of the same
   data and times it classifying every text of the archive (one process, mbox mode, one verdict per comment),
   then again with the texts split over one process per core, all at once (bogofilter is single-threaded).
3. Times `python -m training rescore` on the same file (all cores, spam + relevance through
   Moderator.moderate_batch, JSON lines output, checkpoints), end to end: start-up, model load, the thread pass,
   scoring and writing. Samples the summed RSS of the rescore process and its workers every 0.2 s.
4. The floor: the same rescore run with the model's scoring replaced by a constant verdict
   (bench/_rescore_floor.py), to show what the rest costs.
Prints the texts' length mix, the rows/s, the ratios (the goal is against one bogofilter process, as the issue
states it), the peak RSS and the load average (the machine may be shared).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from bench._figures import records

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROWS = 200_000
COMMENTS_PER_ARTICLE = 50


def make_input(path: Path, rows: int, seed: int = 0, bad_every: int = 0) -> list:
    """Write a synthetic archive of `rows` real comments; return the texts (for bogofilter), in order."""
    from training import sources
    from training.train import load_default_examples

    rng = random.Random(seed)
    examples = load_default_examples(sources.find_data_dir())
    fox_articles = sorted({(e.article_id, e.article_title, e.article_body) for e in examples if e.article_id})
    n_articles = max(1, rows // COMMENTS_PER_ARTICLE)
    texts = []
    with open(path, "w", encoding="utf-8") as out:
        for n in range(rows):
            example = rng.choice(examples)
            text = example.text
            if rng.random() < 0.1:  # some longer comments
                text = f"{text} {rng.choice(examples).text}"
            if example.article_id:
                article_id, title, body = example.article_id, example.article_title, example.article_body
            else:
                k = rng.randrange(n_articles)
                _, title, body = fox_articles[k % len(fox_articles)]
                article_id = f"a{k}"
            spam = example.label == "spam"
            old = rng.choices(["reject", "flag", "accept"], [0.7, 0.2, 0.1] if spam else [0.01, 0.04, 0.95])[0]
            row = {"id": f"c{n}", "text": text, "article_id": article_id, "article_title": title,
                   "article_body": body, "decision": old}
            if bad_every and n % bad_every == bad_every - 1:
                row.pop("text")
            else:
                texts.append(text)
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return texts


def ensure_bogofilter() -> str:
    found = shutil.which("bogofilter")
    if found:
        return found
    print("bogofilter not found: installing the Debian package", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", "bogofilter"], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    found = shutil.which("bogofilter")
    if not found:
        raise RuntimeError("bogofilter could not be installed")
    return found


def write_mbox(path: Path, texts) -> None:
    with open(path, "w", encoding="utf-8", errors="replace") as out:
        for text in texts:
            body = "\n".join((">" + line if line.startswith("From ") else line) for line in text.splitlines())
            out.write(f"From bench@localhost Thu Jan  1 00:00:00 2026\nSubject: comment\n\n{body}\n\n")


def bogofilter_rate(work: Path, texts: list) -> tuple[float, float]:
    """Train bogofilter on the training split of the shared data; time it classifying `texts`."""
    from training import datasets, sources
    from training.train import load_default_examples

    exe = ensure_bogofilter()
    train, _ = datasets.split(load_default_examples(sources.find_data_dir()))
    db = work / "bogo"
    db.mkdir()
    for label, flag in (("spam", "-s"), ("ham", "-n")):
        mbox = work / f"train-{label}.mbox"
        write_mbox(mbox, [e.text for e in train if (e.label == "spam") == (label == "spam")])
        with open(mbox, "rb") as handle:
            subprocess.run([exe, "-d", str(db), "-M", flag], stdin=handle, check=True)
    mbox = work / "classify.mbox"
    write_mbox(mbox, texts)
    start = time.perf_counter()
    with open(mbox, "rb") as handle:
        result = subprocess.run([exe, "-d", str(db), "-M", "-T"], stdin=handle, capture_output=True)
    elapsed = time.perf_counter() - start
    verdicts = result.stdout.count(b"\n")
    if verdicts != len(texts):
        raise RuntimeError(f"bogofilter gave {verdicts} verdicts for {len(texts)} texts: {result.stderr[-300:]!r}")
    return len(texts) / elapsed, elapsed


def bogofilter_parallel_rate(work: Path, texts: list, processes: int) -> tuple[float, float]:
    """bogofilter on every core: the texts split into `processes` mboxes classified at the same time (what an
    operator would run on this machine; bogofilter itself is single-threaded). Needs `bogofilter_rate` first."""
    exe = ensure_bogofilter()
    parts = []
    for k in range(processes):
        part = work / f"classify-{k}.mbox"
        write_mbox(part, texts[k::processes])
        parts.append(part)
    start = time.perf_counter()
    handles = [open(part, "rb") for part in parts]
    running = [subprocess.Popen([exe, "-d", str(work / "bogo"), "-M", "-T"], stdin=h, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL) for h in handles]
    outputs = [r.communicate()[0] for r in running]
    elapsed = time.perf_counter() - start
    for h in handles:
        h.close()
    verdicts = sum(o.count(b"\n") for o in outputs)
    if verdicts != len(texts):
        raise RuntimeError(f"bogofilter gave {verdicts} verdicts for {len(texts)} texts")
    return len(texts) / elapsed, elapsed


def _tree(pid: int) -> list[int]:
    pids, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        pids += [int(c) for c in children]
        frontier += [int(c) for c in children]
    return pids


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rescore_rate(input_path: Path, output: Path, rows: int, workers: int | None = None,
                 module: str = "training") -> dict:
    """Run the rescore CLI end to end; rows/s over the wall time and the peak summed RSS of its processes.
    `module` "bench._rescore_floor" runs it with the model replaced by a constant verdict (the floor)."""
    command = [sys.executable, "-m", module, "rescore", "--input", str(input_path), "--output", str(output)]
    if workers:
        command += ["--workers", str(workers)]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = peak_main = 0
    while process.poll() is None:
        pids = _tree(process.pid)
        sizes = [_rss_kib(p) for p in pids]
        peak, peak_main = max(peak, sum(sizes)), max(peak_main, sizes[0] if sizes else 0)
        time.sleep(0.2)
    elapsed = time.perf_counter() - start
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"rescore failed ({process.returncode}): {stderr[-2000:]}")
    summary = json.loads(stdout)
    return {"rate": rows / elapsed, "elapsed": elapsed, "peak_rss_mib": peak / 1024,
            "peak_main_rss_mib": peak_main / 1024, "summary": summary}


@records("throughput")
def main() -> None:
    rows = int(os.environ.get("RESCORE_BENCH_ROWS", DEFAULT_ROWS))
    workers = int(os.environ["RESCORE_BENCH_WORKERS"]) if os.environ.get("RESCORE_BENCH_WORKERS") else None
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="rescore-bench-", dir=os.environ.get("RESCORE_BENCH_DIR")) as tmp:
        work = Path(tmp)
        source = work / "archive.jsonl"
        texts = make_input(source, rows, bad_every=1000)
        size_mib = source.stat().st_size / 2**20
        print(f"input: {rows:,} rows ({len(texts):,} with text, {rows - len(texts):,} bad), {size_mib:,.0f} MiB; "
              f"{cores} cores; load average before: {os.getloadavg()[0]:.1f}", flush=True)
        lengths = sorted(map(len, texts))
        print(f"text length: mean {sum(lengths) / max(len(lengths), 1):.0f}, median {lengths[len(lengths) // 2]}, "
              f"90th percentile {lengths[9 * len(lengths) // 10]} characters", flush=True)
        bogo_rate, bogo_elapsed = bogofilter_rate(work, texts)
        print(f"bogofilter (1 process):        {bogo_rate:>9,.0f} rows/s  ({bogo_elapsed:.1f} s)", flush=True)
        bogo_all, bogo_all_elapsed = bogofilter_parallel_rate(work, texts, cores)
        print(f"bogofilter ({cores} processes):       {bogo_all:>9,.0f} rows/s  ({bogo_all_elapsed:.1f} s)",
              flush=True)
        ours = rescore_rate(source, work / "rescored.jsonl", rows, workers)
        summary = ours["summary"]
        print(f"rescore ({workers or cores} workers, end to end): {ours['rate']:>9,.0f} rows/s  "
              f"({ours['elapsed']:.1f} s)", flush=True)
        print(f"ratio ours / bogofilter: {ours['rate'] / bogo_rate:.2f} (goal >= 1.0); "
              f"against bogofilter on all {cores} cores: {ours['rate'] / bogo_all:.2f}")
        print(f"peak RSS, rescore + workers summed: {ours['peak_rss_mib']:,.0f} MiB "
              f"(main process {ours['peak_main_rss_mib']:,.0f} MiB; goal <= 1024 MiB for 1,000,000 rows)")
        print(f"rows scored {summary['scored']:,}, errors {summary['errors']:,}, decisions "
              f"{json.dumps(summary['decisions'])}, changed {summary['changed']:,}")
        floor = rescore_rate(source, work / "floor.jsonl", rows, workers, module="bench._rescore_floor")
        print(f"floor, the same rescore with the model (scoring and article contexts) replaced by a constant verdict: {floor['rate']:,.0f} rows/s "
              f"({floor['elapsed']:.1f} s; reading, thread pass, workers, writing, checkpoints); "
              f"floor / bogofilter {floor['rate'] / bogo_rate:.2f}")
        print(f"load average after: {os.getloadavg()[0]:.1f} (the machine may be shared: figures are noisy)")


if __name__ == "__main__":
    main()
