"""Evaluation: the figures of a model version on labelled data it did not train on."""

from __future__ import annotations

from pathlib import Path

from moderation.features import spam_scores
from moderation.registry import ModelRegistry
from training import datasets, sources
from training.metrics import spam_metrics
from training.train import load_default_examples


def evaluate_model(registry: ModelRegistry, version: str | None = None, data: Path | None = None) -> dict:
    """Score a labelled file (or, without one, the frozen evaluation set) at the model's service thresholds."""
    model = registry.load(version)
    if data is not None:
        examples = datasets.deduplicate(datasets.load_labelled(data))
        dataset = str(data)
    else:
        _, examples = datasets.split(load_default_examples(sources.ensure_data()))
        dataset = "frozen evaluation set"
    if not examples:
        raise datasets.DataError(f"{dataset} has no labelled examples")
    scores = spam_scores(model.spam, [e.text for e in examples])
    thresholds = {k: model.metadata["thresholds"][k] for k in ("spam_flag", "spam_reject")}
    return {"model_version": model.version, "dataset": dataset, **spam_metrics(examples, scores, thresholds)}
