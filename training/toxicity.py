"""Training the toxicity score: loading the labelled abuse data, the held-out split, fitting and measuring.

Data (`../shared/data`, see its README): Civil Comments reader comments rated by 3-7 raters each (a comment is
toxic when most raters did not call it "not toxic"; a tie is dropped), the SemEval 2021 toxic spans of 10,629 of
them, Wikipedia talk-page comments (`label` only: the third-party `api` score is never read) and the Fox News
comments' hate-speech labels.

The split comes first: every text is deduplicated (`datasets.dedup_key`) and one in five goes to the frozen
evaluation set by a hash of its text. The shared task's `tsd_test.csv` and `tsd_trial.csv` texts are never fitted
on either: the test set scores the spans, the trial set chooses the span cut-offs. Thresholds are chosen on the
classifier's calibrated out-of-fold scores of the training part, like the spam model's.
"""

from __future__ import annotations

import ast
import csv
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.datasets import _bucket, dedup_key

log = logging.getLogger(__name__)

CIVIL = "civil-comments-toxic-spans"
WIKIPEDIA = "wikipedia-talk-discussions"
FOX = "fox-news-comments/fox-news-comments.json"
SPANS = CIVIL + "/semeval2021"
HOLDOUT_SHARE = 5
# Civil comments held for toxicity: the flag threshold holds at most this share of the training part's civil
# comments (out-of-fold scores); the goal on held-out news comments is 2%.
FLAG_CIVIL_RATE = 0.015
# Per source weight: Wikipedia talk is another register (1-2% toxic), Fox's hate labels are noisier; the news
# comments of Civil Comments are what a site's comments look like.
SOURCE_WEIGHTS = {"civil": 1.0, "wikipedia": 0.5, "fox": 0.5}


@dataclass(frozen=True)
class ToxicExample:
    text: str
    toxic: int
    source: str  # "civil", "wikipedia" or "fox"
    unanimous: bool = False  # every rater agreed (Civil Comments)


@dataclass(frozen=True)
class SpanExample:
    text: str
    spans: frozenset  # character offsets raters marked toxic


def load_civil(folder: Path) -> list[ToxicExample]:
    """Civil Comments: toxic when a majority of the comment's raters did not tick "not toxic"; ties dropped."""
    votes: dict[str, list[int]] = defaultdict(list)
    with (folder / "annotations.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            votes[row["comment_id"]].append(0 if row["not toxic"].strip() == "True" else 1)
    examples = []
    with (folder / "comments.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            ratings = votes.get(row["comment_id"])
            if not ratings or 2 * sum(ratings) == len(ratings):
                continue
            examples.append(ToxicExample(row["comment_text"], int(2 * sum(ratings) > len(ratings)), "civil",
                                         unanimous=sum(ratings) in (0, len(ratings))))
    return examples


def load_wikipedia(folder: Path) -> list[ToxicExample]:
    """Wikipedia talk comments (gn.csv, gc.csv): `text` and the raters' `label` (1 toxic)."""
    examples = []
    for name in ("gn.csv", "gc.csv"):
        with (folder / name).open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                if row["label"].strip() in ("0", "1"):
                    examples.append(ToxicExample(row["text"], int(row["label"]), "wikipedia"))
    return examples


def load_fox(path: Path) -> list[ToxicExample]:
    """Fox News comments with their hate-speech label (1 hateful)."""
    examples = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                examples.append(ToxicExample(row["text"], int(row["label"]), "fox"))
    return examples


def load_spans(path: Path) -> list[SpanExample]:
    """A SemEval 2021 toxic spans file: `spans` (a list of character offsets) and `text`."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [SpanExample(row["text"], frozenset(ast.literal_eval(row["spans"])))
                for row in csv.DictReader(handle)]


def available(data_dir: Path) -> bool:
    """Whether the folder holds the toxicity data (the spam data alone trains a model without toxicity)."""
    return all((data_dir / name).exists() for name in (
        CIVIL + "/comments.csv", CIVIL + "/annotations.csv", SPANS + "/tsd_train.csv", SPANS + "/tsd_trial.csv",
        SPANS + "/tsd_test.csv", WIKIPEDIA + "/gn.csv", WIKIPEDIA + "/gc.csv", FOX))


def is_holdout(text: str) -> bool:
    # Salted apart from the spam split, so the two evaluation sets are drawn independently.
    return _bucket("toxicity:" + dedup_key(text)) % HOLDOUT_SHARE == 0


@dataclass
class ToxicityData:
    train: list[ToxicExample]
    evaluation: list[ToxicExample]
    span_train: list[SpanExample]
    span_trial: list[SpanExample]
    span_test: list[SpanExample]


def split(examples: list[ToxicExample], span_train: list[SpanExample], span_trial: list[SpanExample],
          span_test: list[SpanExample]) -> ToxicityData:
    """Deduplicate (a text with conflicting labels is dropped), then split by text hash; texts of the span trial
    and test sets, and every copy of a held-out text, are kept out of everything that is fitted."""
    labels: dict[str, set] = defaultdict(set)
    for e in examples:
        labels[dedup_key(e.text)].add(e.toxic)
    never_fit = {dedup_key(s.text) for s in span_trial + span_test}
    seen: set = set()
    train, evaluation = [], []
    for e in examples:
        key = dedup_key(e.text)
        if not key or key in seen or len(labels[key]) > 1:
            continue
        seen.add(key)
        if is_holdout(e.text):
            evaluation.append(e)
        elif key not in never_fit:
            train.append(e)
    fit_spans = [s for s in span_train if not is_holdout(s.text) and dedup_key(s.text) not in never_fit]
    return ToxicityData(train, evaluation, fit_spans, span_trial, span_test)


def load(data_dir: Path) -> ToxicityData:
    examples = (load_civil(data_dir / CIVIL) + load_wikipedia(data_dir / WIKIPEDIA) + load_fox(data_dir / FOX))
    return split(examples, load_spans(data_dir / SPANS / "tsd_train.csv"),
                 load_spans(data_dir / SPANS / "tsd_trial.csv"), load_spans(data_dir / SPANS / "tsd_test.csv"))


def weights_of(examples: list[ToxicExample]) -> np.ndarray:
    w = np.array([SOURCE_WEIGHTS.get(e.source, 1.0) for e in examples])
    return w / w.mean()


def civil_flag_threshold(y: np.ndarray, scores: np.ndarray, sources, max_rate: float = FLAG_CIVIL_RATE) -> float:
    """The lowest flag threshold that holds at most `max_rate` of the civil news comments (Civil Comments and Fox
    sources, out-of-fold scores): the rate the goal counts, on the kind of comment a site gets."""
    from training.metrics import _lowest_threshold

    news = np.isin(np.asarray(sources), ("civil", "fox"))
    return _lowest_threshold(np.asarray(scores)[news & (np.asarray(y) == 0)], max_rate, 0.5)


SPAN_THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6)
SPAN_GATES = (0.0, 0.2, 0.3, 0.4, 0.5)


def tune_spans(model, trial: list[SpanExample]) -> dict:
    """Choose the span threshold and the toxicity gate on the trial set (the best mean span F1)."""
    from moderation.toxicity import mean_span_f1

    texts, gold = [s.text for s in trial], [s.spans for s in trial]
    toxicity = model.scores(texts)
    best = None
    for gate in SPAN_GATES:
        model.span_gate_ = gate
        for threshold in SPAN_THRESHOLDS:
            f1 = mean_span_f1(model, texts, gold, toxicity, threshold)
            if best is None or f1 > best[0] + 1e-9:
                best = (f1, gate, threshold)
    model.span_gate_, model.span_threshold_ = best[1], best[2]
    return {"trial_f1": round(best[0], 4), "gate": best[1], "threshold": best[2]}


def evaluate(model, data: ToxicityData, threshold: float) -> dict:
    """Held-out figures: ROC AUC per source and on the news comments, the share of civil news comments held at
    the flag threshold and the toxic ones caught, span F1 on the shared task's test set."""
    from sklearn.metrics import roc_auc_score

    from moderation.toxicity import mean_span_f1

    figures: dict = {}
    if data.evaluation:
        scores = model.scores([e.text for e in data.evaluation])
        y = np.array([e.toxic for e in data.evaluation])
        sources = np.array([e.source for e in data.evaluation])
        groups = {"all": np.ones(len(y), bool), "news": np.isin(sources, ("civil", "fox"))}
        groups.update({name: sources == name for name in sorted(set(sources.tolist()))})
        for name, rows in groups.items():
            if len(set(y[rows].tolist())) == 2:
                civil, toxic = rows & (y == 0), rows & (y == 1)
                figures[name] = {
                    "examples": int(rows.sum()), "toxic": int(toxic.sum()),
                    "roc_auc": round(float(roc_auc_score(y[rows], scores[rows])), 4),
                    "civil_held": round(float((scores[civil] >= threshold).mean()), 4),
                    "toxic_held": round(float((scores[toxic] >= threshold).mean()), 4),
                }
    if data.span_test:
        figures["span_f1_test"] = round(mean_span_f1(model, [s.text for s in data.span_test],
                                                     [s.spans for s in data.span_test]), 4)
    return figures


def train_toxicity(data: ToxicityData, folds: int = 5) -> tuple[object, dict, dict]:
    """Fit the toxicity model on the training part; (model, thresholds, report)."""
    from moderation.toxicity import ToxicityModel

    texts = [e.text for e in data.train]
    y = np.array([e.toxic for e in data.train])
    sources = [e.source for e in data.train]
    log.info("toxicity: fitting on %d comments (%d toxic), %d held out, spans from %d posts",
             len(texts), int(y.sum()), len(data.evaluation), len(data.span_train))
    model = ToxicityModel(folds=folds).fit(texts, y, sample_weight=weights_of(data.train),
                                           span_texts=[s.text for s in data.span_train],
                                           spans=[s.spans for s in data.span_train])
    spans = tune_spans(model, data.span_trial) if data.span_trial else {}
    threshold = civil_flag_threshold(y, model.oof_scores_, sources)
    report = {
        "data": {"train": len(texts), "train_toxic": int(y.sum()), "evaluation": len(data.evaluation),
                 "span_train": len(data.span_train), "span_trial": len(data.span_trial),
                 "span_test": len(data.span_test)},
        "threshold_rule": {"flag_max_civil_rate": FLAG_CIVIL_RATE,
                           "scores": "calibrated out-of-fold, training part, civil news comments"},
        "spans": spans,
        "evaluation": evaluate(model, data, threshold),
    }
    return model, {"toxic_flag": threshold}, report


def train_toxicity_step(artifact: dict, thresholds: dict, data: ToxicityData | None, data_dir: Path | None,
                        folds: int, hashes: dict) -> dict | None:
    """`python -m training train`'s toxicity step: with data given, or found in the default data folder, fit the
    toxicity model into `artifact["toxicity"]`, its flag threshold into `thresholds`, and return its report (None
    without data: the model then has no toxicity score)."""
    if data is None and data_dir is not None and available(data_dir):
        data = load(data_dir)
        hashes.update(data_hashes(data_dir))
    if data is None or not data.train:
        log.info("toxicity: no toxicity data, the model has no toxicity score")
        return None
    log.info("training the toxicity model...")
    model, chosen, report = train_toxicity(data, folds)
    artifact["toxicity"] = model
    thresholds.update(chosen)
    return report


DATA_FILES = (CIVIL + "/comments.csv", CIVIL + "/annotations.csv", SPANS + "/tsd_train.csv",
              SPANS + "/tsd_trial.csv", SPANS + "/tsd_test.csv", WIKIPEDIA + "/gn.csv", WIKIPEDIA + "/gc.csv")


def data_hashes(data_dir: Path) -> dict:
    """SHA-256 of the toxicity data files (FOX is hashed with the spam data)."""
    from moderation.registry import sha256_file

    return {name: sha256_file(data_dir / name) for name in DATA_FILES}
