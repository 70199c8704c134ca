"""The live model's own figures (`make bench BENCH=model_report`): thresholds, the frozen evaluation set and the
relevance evaluation on the two held-out news articles, as `train` recorded them in the version's report and
metadata. Seconds: it reads the registry, it trains nothing (`python -m training evaluate` recomputes them)."""

from __future__ import annotations

import json
from pathlib import Path

from bench._figures import records
from moderation.registry import ModelRegistry

ROOT = Path(__file__).resolve().parent.parent


def frozen_table(report: str) -> list[str]:
    """The table under the report's "Frozen evaluation set" heading."""
    lines = report.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("## Frozen evaluation set"))
    except StopIteration:
        return []
    return [line for line in lines[start + 1:] if line.startswith("|")]


@records("model_report")
def main() -> None:
    registry = ModelRegistry(ROOT / "models")
    version = (ROOT / "models" / "current").read_text().strip()
    meta = json.loads((ROOT / "models" / version / "metadata.json").read_text())
    print(f"model {version}, trained {meta.get('created_at', '?')} by `make setup` / `python -m training train`")
    thresholds = meta.get("thresholds", {})
    print("thresholds: " + ", ".join(f"{k} {v}" for k, v in sorted(thresholds.items())))
    print()
    print("Spam, frozen evaluation set (one text in five by hash and two whole Fox News articles, never trained on):")
    print()
    for line in frozen_table((ROOT / "models" / version / "report.md").read_text()):
        print(line)
    evaluation = meta.get("metrics", {}).get("relevance", {}).get("evaluation", {})
    if evaluation:
        print()
        print(f"Relevance on the {evaluation.get('articles')} held-out Fox News articles ({evaluation.get('pairs')} "
              f"pairs: each comment with its own article vs another):")
        print()
        print("| context | pairing ROC AUC | own-article comments flagged | other-article comments flagged |")
        print("|---|---|---|---|")
        for key, name in (("thread", "article + its discussion"), ("article", "article text only"),
                          ("thread3", "article + 3 comments"), ("thread10", "article + 10 comments"),
                          ("thread30", "article + 30 comments")):
            if f"auc_{key}" in evaluation:
                print(f"| {name} | {evaluation[f'auc_{key}']:.4f} | {evaluation[f'{key}_relevant_flagged']:.1%} | "
                      f"{evaluation[f'{key}_other_article_flagged']:.1%} |")
    registry.load(version)  # the figures are those of a model that still verifies
    print()
    print("(the model's SHA-256 and library versions verified on loading)")
