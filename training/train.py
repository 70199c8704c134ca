"""Training: build a new model version from the labelled data and register it with its metrics.

The data is deduplicated and split into a training part and the frozen evaluation set (`datasets.split`). The
thresholds are chosen on out-of-fold scores of the training part, the metrics are measured on the frozen
evaluation set, which the model never sees, and both go into the version's metadata.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from moderation.features import SITE_LABEL_WEIGHT, SOURCE_BALANCE, build_spam_pipeline, source_weights, spam_scores
from moderation.registry import ModelRegistry
from moderation.webspam import compile_lists
from training import archive, augment, datasets, sources
from training.metrics import (
    FLAG_HAM_RATE, REJECT_HAM_RATE, SOURCE_REJECT_HAM_RATE, TARGET_REJECT_PRECISION, choose_thresholds,
    spam_metrics,
)
from training.report import training_report
from training.relevance import train_relevance
from training.toxicity import ToxicityData, train_toxicity_step

log = logging.getLogger(__name__)


def load_default_examples(data_dir: Path) -> list[datasets.Example]:
    """YouTube 01-04, SMS and the Fox News comments (as legitimate news comments)."""
    return (
        datasets.load_youtube(data_dir / "youtube-spam-collection")
        + datasets.load_sms(data_dir / "sms-spam-collection" / "SMSSpamCollection")
        + datasets.load_fox(data_dir / "fox-news-comments" / "fox-news-comments.json")
    )


def load_training_examples(data_dir: Path) -> list[datasets.Example]:
    """The default model's data: `load_default_examples` plus real reader comments from news sites (Civil
    Comments) and Wikipedia talk pages, all legitimate for spam purposes."""
    return (load_default_examples(data_dir)
            + datasets.load_civil_comments(data_dir / "civil-comments-toxic-spans" / "comments.csv")
            + datasets.load_wikipedia_talk(data_dir / "wikipedia-talk-discussions"))


def spam_lists(data_dir: Path | None) -> dict | None:
    """SmokeDetector's lists from the data folder (None when it has none: a model without those signals)."""
    folder = data_dir or sources.find_data_dir()
    if folder is None or not (Path(folder) / "smokedetector").is_dir():
        return None
    return augment.load_lists(Path(folder) / "smokedetector")


def train_model(
    registry: ModelRegistry,
    data_dir: Path | None = None,
    extra_files: tuple[Path, ...] = (),
    examples: list[datasets.Example] | None = None,
    make_current: bool | None = None,
    threshold_folds: int = 5,
    site_weight: float | None = None,
    archive_rows: list[dict] | None = None,
    archive_name: str | None = None,
    toxicity: ToxicityData | None = None,
) -> dict:
    """Train, evaluate and register a model; return its metadata (with `version`).

    `examples` replaces the default data (used by tests and by `--data`); `extra_files` adds labelled files in
    the general format: a site's own labels, each weighing `site_weight` (default `SITE_LABEL_WEIGHT`) times a
    shared example of the same balanced weight (`features.source_weights`). `archive_rows` are a site's published
    comments (`training.archive`), learnt as its legitimate comments and its articles, minus what may be spam.
    `make_current` makes the new version live; by default only when none is live yet. `toxicity` is the toxicity
    model's data (`training.toxicity`); by default loaded from the data folder when it has it (a model without it
    has no toxicity score).
    """
    site_weight = SITE_LABEL_WEIGHT if site_weight is None else site_weight
    hashes = {}
    if examples is None:
        data_dir = data_dir or sources.ensure_data()
        examples = load_training_examples(data_dir)
        hashes = sources.data_hashes(data_dir)
    for path in extra_files:
        extra = datasets.load_labelled(path)
        if not extra:  # asked to learn from it: an empty file (an export that failed) is not silently skipped
            raise datasets.DataError(f"{path} has no labelled rows")
        examples = examples + extra
        hashes[str(path)] = sources.sha256_file(path)
    lists = spam_lists(data_dir)
    webspam = compile_lists(**lists) if lists is not None else None
    archive_report = None
    if archive_rows is not None:
        extra, archive_report = _archive_examples(registry, archive_rows, webspam)
        examples = examples + extra
        archive_report["name"] = archive_name
    # The spam model learns spam against everything else; an off-topic label is not spam.
    train, evaluation = datasets.split(examples)
    # Article-comment spam made from the training part's own legitimate comments (training.augment), and the
    # lists it comes from as signals (moderation.webspam).
    if lists is not None:
        train = train + augment.article_spam(train, lists)
    texts = [e.text for e in train]
    y = np.array([e.is_spam for e in train])
    if len(set(y)) < 2:
        raise datasets.DataError("the training data needs both spam and non-spam examples")
    log.info("training on %d examples (%d spam), %d held out", len(train), int(y.sum()), len(evaluation))

    started = time.monotonic()
    log.info("step 1/3: fitting the spam model with %d-fold out-of-fold calibration...", threshold_folds)
    # Thresholds come from the calibrated out-of-fold scores the classifier computes while fitting.
    weights = source_weights([e.source for e in train], SOURCE_BALANCE, site_weight)
    pipeline = build_spam_pipeline(calibration_folds=threshold_folds, webspam_lists=webspam).fit(
        texts, y, classifier__sample_weight=weights)
    out_of_fold = pipeline[-1].oof_scores_
    thresholds = choose_thresholds(y, out_of_fold, sources=[e.source for e in train])
    log.info("thresholds from out-of-fold scores: %s", thresholds)

    log.info("step 2/3: evaluating on the frozen evaluation set (%.0f s so far)...", time.monotonic() - started)
    metrics = {}
    if evaluation:
        scores = spam_scores(pipeline, [e.text for e in evaluation])
        metrics = spam_metrics(evaluation, scores, thresholds)
    log.info("step 3/3: training the relevance model (%.0f s so far)...", time.monotonic() - started)
    relevance, relevance_report = train_relevance(train, evaluation)
    thresholds.update(relevance_report.get("thresholds", {}))
    artifact = {"spam": pipeline, "relevance": relevance}
    toxicity_report = train_toxicity_step(artifact, thresholds, toxicity, data_dir if hashes else None,
                                          threshold_folds, hashes)
    metadata = {
        "kind": "spam-linear",
        "thresholds": thresholds,
        "threshold_rule": {"reject_max_ham_rate": REJECT_HAM_RATE, "reject_min_precision": TARGET_REJECT_PRECISION,
                           "reject_max_ham_rate_per_source": SOURCE_REJECT_HAM_RATE,
                           "flag_max_ham_rate": FLAG_HAM_RATE, "scores": "calibrated out-of-fold, training part"},
        "source_balance": SOURCE_BALANCE,
        "site_label_weight": site_weight,
        "data": {
            "hashes": hashes,
            "examples": len(examples),
            "after_dedup": len(train) + len(evaluation),
            "train": len(train),
            "evaluation": len(evaluation),
            "train_by_source": _count_by_source(train),
        },
        "metrics": {"evaluation": metrics, "relevance": relevance_report,
                    **({"toxicity": toxicity_report} if toxicity_report else {})},
    }
    if archive_report is not None:
        metadata["archive"] = archive_report
    version = registry.save(artifact, metadata)
    training_report(registry.root / version, registry.metadata(version), y, out_of_fold)
    log.info("saved %s (%.0f s)", version, time.monotonic() - started)
    if make_current or (make_current is None and registry.current_version() is None):
        registry.set_current(version, action="initial" if registry.current_version() is None else "promote")
    return registry.metadata(version)


def _archive_examples(registry: ModelRegistry, rows: list[dict], webspam: dict | None):
    """The archive's legitimate examples, screened by the live model (if any) and the advert signals."""
    from moderation.webspam import WebSpamSignals

    spam_model = flag = None
    live = registry.current_version()
    if live is not None:
        model = registry.load(live)
        spam_model, flag = model.spam, model.metadata["thresholds"]["spam_flag"]
    signals = WebSpamSignals(webspam).fit() if webspam is not None else None
    examples, report = archive.archive_examples(rows, spam_model, flag, signals)
    report["screened_by"] = live
    return examples, report


def _count_by_source(examples) -> dict:
    counts: dict[str, dict[str, int]] = {}
    for e in examples:
        counts.setdefault(e.source, {}).setdefault(e.label, 0)
        counts[e.source][e.label] += 1
    return counts
