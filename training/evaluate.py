"""Evaluation: the figures of a model version on labelled data it did not train on."""

from __future__ import annotations

from pathlib import Path

from moderation.features import spam_scores
from moderation.registry import ModelRegistry
from training import datasets, sources
from training.metrics import spam_metrics
from training.train import load_default_examples, load_training_examples


def evaluate_model(registry: ModelRegistry, version: str | None = None, data: Path | None = None) -> dict:
    """Score a labelled file (or, without one, the frozen evaluation set) at the model's service thresholds."""
    model = registry.load(version)
    if data is not None:
        examples = datasets.deduplicate(datasets.load_labelled(data))
        dataset = str(data)
    else:
        _, examples = datasets.split(load_training_examples(sources.ensure_data()))
        dataset = "frozen evaluation set"
    if not examples:
        raise datasets.DataError(f"{dataset} has no labelled examples")
    scores = spam_scores(model.spam, [e.text for e in examples])
    thresholds = {k: model.metadata["thresholds"][k] for k in ("spam_flag", "spam_reject")}
    return {"model_version": model.version, "dataset": dataset, **spam_metrics(examples, scores, thresholds)}


def evaluate_protocols(report_dir: Path | None = None, log=None) -> dict:
    """Run the held-out protocols (`training.protocols`) with the current recipe; write the report if asked.

    The protocols retrain the recipe on each fold, so they judge how the model *generalises*; the figures of a
    stored version on the frozen evaluation set come from `evaluate_model`.
    """
    from training import protocols
    from training.report import protocol_report

    folds = protocols.make_folds(load_default_examples(sources.ensure_data()))
    details = protocols.summarise(protocols.run_folds(protocols.PipelineScorer, folds, log=log))
    if report_dir is not None:
        protocol_report(Path(report_dir), {"ours": details["summary"]}, {"ours": details})
    return {k: v for k, v in details.items() if k != "pooled"}
