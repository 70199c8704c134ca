"""What a site's own moderator labels buy: the spam model on a "site" it never saw, before and after retraining
with n of that site's comments labelled.

`make bench BENCH=adaptation` (or `python -m bench adaptation`), about 10 minutes on 2 cores. Each YouTube video
stands in for a new site (`protocols.site_adaptation`): half of its comments are the test set, the same for every
n; the model trains on everything else plus the first n comments of the other half, as a separate source, the
way `train --with-feedback` adds the store's labels; thresholds come from each model's own out-of-fold training
scores, by the same rule as always. n = 0 is leave-one-video-out. Each n > 0 is trained twice: with the site's
labels weighing as much as shared examples (site weight 1) and with `features.SITE_LABEL_WEIGHT`, what `train`
uses. The table gives the worst video and the mean of the four for the protocol's per-video goals; the report goes
to reports/adaptation/ (JSON and Markdown).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from moderation.features import SITE_LABEL_WEIGHT
from training import datasets, protocols, sources
from training.train import load_default_examples
from bench._figures import records

REPORT_DIR = sources.PROJECT_ROOT / "reports" / "adaptation"
SIZES = (0, 25, 50, 100, 150)
WEIGHTS = (1.0, SITE_LABEL_WEIGHT)
# The per-video goals, from the protocol's worst-video goals: (figure, comparison, goal, label).
_LABELS = {"accuracy": "accuracy", "roc_auc": "ROC AUC", "spam_caught": "spam caught (flag or reject)",
           "ham_rejected": "legitimate rejected"}
VIDEO_GOALS = tuple((key.split("_", 2)[2], op, goal, _LABELS[key.split("_", 2)[2]])
                    for key, op, goal, _ in protocols.GOALS if key.startswith("youtube_"))


def figures(result: protocols.FoldResult) -> dict:
    y = np.array([e.is_spam for e in result.examples])
    return {k: v for k, v in protocols._slice_figures(y, result.scores, result.thresholds, result.decision).items()
            if k in {"n", "spam", "thresholds"} | {key for key, *_ in VIDEO_GOALS}}


def summary(per_video: dict[str, dict]) -> dict:
    """Worst video and mean of the videos for each per-video figure."""
    out = {}
    for key, op, _, _ in VIDEO_GOALS:
        values = [f[key] for f in per_video.values()]
        out[f"worst_{key}"] = min(values) if op == ">=" else max(values)
        out[f"mean_{key}"] = round(float(np.mean(values)), 4)
    return out


def table(rows: dict[tuple[int, float], dict]) -> str:
    def cell(value: float, op: str, goal: float) -> str:
        return f"{value:.4f}" + ("" if protocols.meets(value, op, goal) else " ✗")

    header = "| site labels | site weight | " + " | ".join(f"{label} {op} {goal:g}: worst / mean"
                                                          for _, op, goal, label in VIDEO_GOALS) + " |"
    lines = [header, "|" + "---|" * (len(VIDEO_GOALS) + 2)]
    for (n, weight), row in rows.items():
        cells = [f"{cell(row[f'worst_{k}'], op, goal)} / {row[f'mean_{k}']:.4f}" for k, op, goal, _ in VIDEO_GOALS]
        lines.append(f"| {n} | {f'{weight:g}' if n else '-'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def runs() -> list[tuple[int, float]]:
    """(labels, site weight) of each training per video: n = 0 once, every other n with each weight."""
    return [(n, weight) for n in SIZES for weight in (WEIGHTS if n else WEIGHTS[-1:])]


@records("adaptation")
def main() -> None:
    examples = datasets.deduplicate(load_default_examples(sources.ensure_data()))
    videos = sorted({e.group for e in examples if e.source == "youtube"})
    start = time.perf_counter()
    per_run: dict[tuple[int, float], dict[str, dict]] = {run: {} for run in runs()}
    for video in videos:
        folds = dict(zip(SIZES, protocols.site_adaptation(examples, video, SIZES)))
        print(f"{video}: {len(folds[0].test)} test comments; labels {', '.join(map(str, SIZES))}", flush=True)
        for n, weight in runs():
            result = protocols.run_folds(lambda: protocols.PipelineScorer(site_weight=weight), [folds[n]])[0]
            per_run[n, weight][video] = figures(result)
    rows = {run: summary(per_video) for run, per_video in per_run.items()}
    text = table(rows)
    print()
    print(text)
    print()
    for video in videos:
        print(f"- {video}: " + "; ".join(
            f"{n}x{weight:g}: {f['accuracy']:.4f} / {f['roc_auc']:.4f} / {f['spam_caught']:.4f} / "
            f"{f['ham_rejected']:.4f}" for (n, weight), f in ((run, per_run[run][video]) for run in runs()))
            + " (labels x weight: accuracy / AUC / caught / legitimate rejected)")
    print(f"- time: {time.perf_counter() - start:.0f} s for {len(videos) * len(runs())} trainings")
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "adaptation.json").write_text(json.dumps(
        {"sizes": list(SIZES), "weights": list(WEIGHTS),
         "runs": [{"labels": n, "site_weight": w, "summary": rows[n, w], "per_video": per_run[n, w]}
                  for n, w in runs()]}, indent=2, default=str) + "\n")
    (REPORT_DIR / "adaptation.md").write_text("# What a site's own labels buy\n\n" + text + "\n")
    print(f"report: {REPORT_DIR / 'adaptation.md'}")


if __name__ == "__main__":
    sys.exit(main())
