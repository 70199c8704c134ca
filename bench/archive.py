"""What `train --archive` buys a site: its later comments held, with and without its archive.

`make bench BENCH=archive` (or `python -m bench archive`):
1. the site is a news comment section: the Civil Comments (reader comments of about 50 news sites). Half of them,
   by hash of the text, are its archive, with a little spam mixed in (2%: article-comment spam made from other
   comments with one half of SmokeDetector's lists, as `training.augment` makes it); of the other half, 3,000
   are its later comments;
2. two models train on the shared data without any Civil Comment: one without the archive, one with it
   (`train_model(..., archive_rows=...)`, screened by the first model, as `train --archive` is by the live one);
3. both rescore the later comments (`rescore`, as an operator would) and spam of the mixed-in kind made from the
   later comments with the other half of the lists, and print the shares held and caught.

The archive's articles (relevance) are not measured here: these comments come without their articles.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path

from bench._figures import records
from moderation.registry import ModelRegistry
from training import augment, datasets, sources
from training.rescore import RescoreOptions, rescore
from training.rescore_io import Source
from training.train import load_training_examples, spam_lists, train_model

SPAM_SHARE = 0.02
LATER = 3000


def _rows(examples, prefix: str) -> list[dict]:
    return [{"id": f"{prefix}{i}", "text": e.text, "article_id": e.article_id, "article_title": e.article_title,
             "article_body": e.article_body} for i, e in enumerate(examples)]


def _decisions(models: Path, version: str, rows: list[dict], work: Path) -> list[str]:
    path, out = work / f"in-{version}.jsonl", work / f"out-{version}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    rescore(Source(path), out, RescoreOptions(models_dir=models, version=version, workers=1, progress=False))
    return [json.loads(line)["decision"] for line in out.read_text(encoding="utf-8").splitlines()]


@records("archive")
def main() -> None:
    data_dir = sources.ensure_data()
    examples = load_training_examples(data_dir)
    civil = [e for e in datasets.deduplicate(examples) if e.source == "civil"]
    archived = [e for e in civil if datasets._bucket(datasets.dedup_key(e.text)) % 2 == 0]
    later = [e for e in civil if datasets._bucket(datasets.dedup_key(e.text)) % 2 == 1]
    later = random.Random(5).sample(later, min(LATER, len(later)))
    lists = spam_lists(data_dir)
    hosts = [e for e in examples if e.source in ("fox", "wiki")]
    mixed = [e for e in augment.article_spam(hosts, augment.list_part(lists, 0), seed=3) if e.label == "spam"]
    mixed = mixed[:max(1, int(SPAM_SHARE * len(archived)))]
    archive_rows = _rows(archived, "a") + [{"id": f"s{i}", "text": e.text, "article_id": ""}
                                           for i, e in enumerate(mixed)]
    random.Random(6).shuffle(archive_rows)
    test_spam = [e for e in augment.article_spam(later, augment.list_part(lists, 1), seed=4) if e.label == "spam"]
    shared = [e for e in examples if e.source != "civil"]
    print(f"site: Civil Comments; archive {len(archived)} comments + {len(mixed)} spam mixed in; later comments "
          f"{len(later)}; spam of the mixed-in kind {len(test_spam)}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        registry = ModelRegistry(work / "models")
        started = time.perf_counter()
        without = train_model(registry, data_dir=data_dir, examples=shared, make_current=True)["version"]
        with_archive = train_model(registry, data_dir=data_dir, examples=shared, archive_rows=archive_rows,
                                   archive_name="half of the Civil Comments", make_current=False)
        print(f"two trainings: {time.perf_counter() - started:.0f} s; archive: {json.dumps(with_archive['archive'])}")
        rows = {}
        for name, version in (("without the archive", without), ("with the archive", with_archive["version"])):
            held = _decisions(work / "models", version, _rows(later, "l"), work)
            caught = _decisions(work / "models", version, _rows(test_spam, "t"), work)
            rows[name] = {"later_held": sum(d != "accept" for d in held) / len(held),
                          "later_rejected": sum(d == "reject" for d in held) / len(held),
                          "spam_caught": sum(d != "accept" for d in caught) / len(caught)}
    print()
    print("| model | later comments held | later comments rejected | spam of the mixed-in kind caught |")
    print("|---|---|---|---|")
    print("| goal | <= 1.5%, at most half of without | - | no less than without |")
    for name, r in rows.items():
        print(f"| {name} | {r['later_held']:.2%} | {r['later_rejected']:.2%} | {r['spam_caught']:.2%} |")
