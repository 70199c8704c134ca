"""Evaluation protocols: how well a spam model holds on comments it never trained on.

Every protocol scores data the model did not see, after deduplication (`datasets.deduplicate` runs first):

- **YouTube, leave one video out**: the held-out video's comments; the model trained on the other videos.
- **Fox News, grouped by article**: comments under articles the model did not train on (all are legitimate).
- **SMS, 5-fold**: one fifth of the deduplicated SMS messages, by hash of the text.
- **Calibration**: expected calibration error of the pooled out-of-fold scores.

To keep the cost at five trainings instead of fourteen, the protocols share *combined folds*: fold k holds out
YouTube video k, SMS part k and Fox article group k together, and trains on everything else. So the model that
scores an unseen video trained on the other three videos plus 80% of SMS and 80% of the Fox articles - slightly
less data than the one-protocol-at-a-time version, never more, and no test comment is ever in training.

Any model is evaluated the same way through the `Scorer` interface (`fit(texts, y)` then `score(texts)` and
`thresholds()`), so bogofilter (`bench/quality.py`) is judged on exactly the same folds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Callable, Protocol

import numpy as np
from sklearn.metrics import roc_auc_score

from training import datasets
from training.metrics import expected_calibration_error

FOLDS = 5
SMS_FOLDS = 5
DECISION = 0.5  # accuracy: a model's own spam/not-spam cut-off (ours: p >= 0.5 on the calibrated score)


class Scorer(Protocol):
    def fit(self, texts: list[str], y: np.ndarray, sources: list[str]) -> "Scorer": ...

    def score(self, texts: list[str]) -> np.ndarray: ...

    def thresholds(self) -> dict: ...


@dataclass
class Fold:
    index: int
    train: list[datasets.Example]
    test: list[datasets.Example]


def _bucket(value: str) -> int:
    return int(hashlib.sha256(value.encode("utf-8")).hexdigest()[:8], 16)


def fold_of(example: datasets.Example, videos: list[str], articles: list[str], folds: int = FOLDS) -> int | None:
    """The fold whose test set holds this example (None: never tested, always trained on)."""
    if example.source == "youtube":
        return videos.index(example.group) % folds if example.group in videos else None
    if example.source == "fox":
        return articles.index(example.group) % folds if example.group in articles else None
    if example.source in ("sms", "civil", "wiki"):
        return _bucket(datasets.dedup_key(example.text)) % SMS_FOLDS % folds
    return None


def make_folds(examples: list[datasets.Example], folds: int = FOLDS) -> list[Fold]:
    """Deduplicate, then build the combined folds (see the module docstring)."""
    examples = datasets.deduplicate(examples)
    videos = sorted({e.group for e in examples if e.source == "youtube"})
    articles = sorted({e.group for e in examples if e.source == "fox"}, key=_bucket)
    if len(videos) > folds:
        raise ValueError(f"{len(videos)} videos need at least as many folds")
    assigned = [fold_of(e, videos, articles, folds) for e in examples]
    result = []
    for k in range(folds):
        train = [e for e, f in zip(examples, assigned) if f != k]
        test = [e for e, f in zip(examples, assigned) if f == k]
        if test:
            result.append(Fold(k, train, test))
    return result


ARTICLE_SPAM_TEST = "article-spam (unseen)"
DEVELOPMENT_SPAM = "stackexchange"


def with_article_spam(folds: list[Fold], lists: dict, development: list[datasets.Example] = ()) -> list[Fold]:
    """Each fold with article-comment spam: its training part gains the spam `training.augment` makes of its own
    legitimate comments with one half of the lists' entries (as `train` does with all of them); its test part
    gains spam made of the test comments, which the model never saw, with the other half and another seed. The
    templates are the same, so that column is an upper bound on new wording; `development` (real posts, scored
    by the first fold's model) is the check on spam nobody wrote for us."""
    from training import augment

    out = []
    for fold in folds:
        train = fold.train + augment.article_spam(fold.train, augment.list_part(lists, 0), seed=fold.index)
        made = augment.article_spam([e for e in fold.test if e.source in ("civil", "fox", "wiki")],
                                    augment.list_part(lists, 1), seed=1000 + fold.index, per_hundred=5,
                                    tutorial=False)
        test = fold.test + [replace(e, source=ARTICLE_SPAM_TEST) for e in made if e.label == "spam"]
        if fold.index == folds[0].index:
            test += list(development)
        out.append(Fold(fold.index, train, test))
    return out


ADAPTATION_SOURCE = "feedback"  # a site's own labels: one more source, as `train --with-feedback` adds them


def site_adaptation(examples: list[datasets.Example], video: str, sizes: tuple[int, ...]) -> list[Fold]:
    """What a site's own moderator labels buy: one YouTube video stands in for a new site.

    Half of the video's comments (by hash of the normalised text) are the test set, the same for every size. For
    each size n in `sizes`, the model trains on everything but the video plus the first n comments of the other
    half (in hash order, so a larger set holds the smaller ones), labelled as moderators would label them and
    given `ADAPTATION_SOURCE` as their source, as `train --with-feedback` adds the store's labels. Fold i is size
    `sizes[i]`; n = 0 is leave-one-video-out on the test half. A size larger than the other half is refused."""
    examples = datasets.deduplicate(examples)
    inside = [e.source == "youtube" and e.group == video for e in examples]
    if not any(inside):
        raise ValueError(f"no comments of video {video!r}")
    others = [e for e, own in zip(examples, inside) if not own]
    own = sorted(((_bucket(datasets.dedup_key(e.text)), e) for e, own in zip(examples, inside) if own),
                 key=lambda pair: pair[0])
    test = [e for bucket, e in own if bucket % 2 == 0]
    pool = [e for bucket, e in own if bucket % 2 == 1]
    if max(sizes) > len(pool):
        raise ValueError(f"video {video!r} has {len(pool)} comments to label, not {max(sizes)}")
    return [Fold(i, others + [replace(e, source=ADAPTATION_SOURCE) for e in pool[:n]], test)
            for i, n in enumerate(sizes)]


@dataclass
class FoldResult:
    fold: int
    examples: list[datasets.Example]
    scores: np.ndarray
    thresholds: dict
    decision: float = DECISION


def run_folds(make_scorer: Callable[[], Scorer], folds: list[Fold], log=None) -> list[FoldResult]:
    results = []
    for fold in folds:
        scorer = make_scorer().fit([e.text for e in fold.train], np.array([e.is_spam for e in fold.train]),
                                   [e.source for e in fold.train])
        scores = np.asarray(scorer.score([e.text for e in fold.test]), dtype=float)
        results.append(FoldResult(fold.index, fold.test, scores, scorer.thresholds(),
                                  getattr(scorer, "decision_threshold", DECISION)))
        if log:
            log(f"fold {fold.index}: trained on {len(fold.train)}, scored {len(fold.test)}")
    return results


def _slice_figures(y: np.ndarray, s: np.ndarray, thresholds: dict, decision: float = DECISION) -> dict:
    spam, ham = y == 1, y == 0
    flagged = s >= thresholds["spam_flag"]
    rejected = s >= thresholds["spam_reject"]
    out = {
        "n": int(len(y)), "spam": int(spam.sum()),
        "accuracy": round(float(((s >= decision).astype(int) == y).mean()), 4),
        "ham_rejected": round(float(rejected[ham].mean()), 4) if ham.any() else None,
        "ham_flagged_or_rejected": round(float(flagged[ham].mean()), 4) if ham.any() else None,
        "spam_caught": round(float(flagged[spam].mean()), 4) if spam.any() else None,
        "spam_rejected": round(float(rejected[spam].mean()), 4) if spam.any() else None,
        "thresholds": thresholds,
    }
    if spam.any() and ham.any():
        out["roc_auc"] = round(float(roc_auc_score(y, s)), 4)
        tp = int((rejected & spam).sum())
        out["reject_precision"] = round(tp / max(int(rejected.sum()), 1), 4)
    return out


def _news_figures(y, s, src, results: list[FoldResult]) -> dict:
    """News comments held and rejected, article-comment spam caught and its AUC against news comments, and the
    development set's real spam (when the folds carry them; empty otherwise)."""
    flagged = np.concatenate([r.scores >= r.thresholds["spam_flag"] for r in results])
    rejected = np.concatenate([r.scores >= r.thresholds["spam_reject"] for r in results])
    out = {}
    news = np.isin(src, ("civil", "fox")) & (y == 0)
    if news.any() and (src == "civil").any():
        out["news_rejected"] = round(float(rejected[news].mean()), 4)
        out["news_held"] = round(float(flagged[news].mean()), 4)
        wiki = (src == "wiki") & (y == 0)
        out["wiki_held"] = round(float(flagged[wiki].mean()), 4) if wiki.any() else None
    made = src == ARTICLE_SPAM_TEST
    if made.any() and news.any():
        out["article_spam_caught"] = round(float(flagged[made].mean()), 4)
        both = made | news
        out["article_spam_auc"] = round(float(roc_auc_score(y[both], s[both])), 4)
    dev = src == DEVELOPMENT_SPAM
    if dev.any() and len(set(y[dev])) == 2:
        out["development_spam_caught"] = round(float(flagged[dev & (y == 1)].mean()), 4)
        out["development_auc"] = round(float(roc_auc_score(y[dev], s[dev])), 4)
        out["development_ham_held"] = round(float(flagged[dev & (y == 0)].mean()), 4)
    return out


def summarise(results: list[FoldResult]) -> dict:
    """The protocol figures from the fold results: per video, per Fox fold, per SMS fold, and pooled."""
    youtube, fox, sms = {}, {}, {}
    pooled_y, pooled_s, pooled_src = [], [], []
    for r in results:
        y = np.array([e.is_spam for e in r.examples])
        src = np.array([e.source for e in r.examples])
        groups = np.array([e.group for e in r.examples])
        pooled_y.append(y)
        pooled_s.append(r.scores)
        pooled_src.append(src)
        for video in sorted(set(groups[src == "youtube"])):
            m = (src == "youtube") & (groups == video)
            youtube[video] = _slice_figures(y[m], r.scores[m], r.thresholds, r.decision)
        m = src == "fox"
        if m.any():
            fox[f"fold{r.fold}"] = {**_slice_figures(y[m], r.scores[m], r.thresholds, r.decision),
                                    "articles": sorted(set(groups[m]))}
        m = src == "sms"
        if m.any():
            sms[f"fold{r.fold}"] = _slice_figures(y[m], r.scores[m], r.thresholds, r.decision)
    y, s, src = np.concatenate(pooled_y), np.concatenate(pooled_s), np.concatenate(pooled_src)
    news = _news_figures(y, s, src, results)
    fox_ham = [f for f in fox.values()]
    fox_n = sum(f["n"] for f in fox_ham)
    summary = {
        "youtube_min_accuracy": min(v["accuracy"] for v in youtube.values()),
        "youtube_min_roc_auc": min(v["roc_auc"] for v in youtube.values()),
        "youtube_min_spam_caught": min(v["spam_caught"] for v in youtube.values()),
        "youtube_max_ham_rejected": max(v["ham_rejected"] for v in youtube.values()),
        "fox_rejected": round(sum(f["ham_rejected"] * f["n"] for f in fox_ham) / max(fox_n, 1), 4),
        "fox_flagged": round(sum(f["ham_flagged_or_rejected"] * f["n"] for f in fox_ham) / max(fox_n, 1), 4),
        "sms_accuracy": round(float(np.mean([v["accuracy"] for v in sms.values()])), 4),
        "sms_min_accuracy": min(v["accuracy"] for v in sms.values()),
        "ece": expected_calibration_error(y, s),
        **news,
    }
    return {
        "summary": summary,
        "youtube_leave_one_video_out": youtube,
        "fox_by_article": fox,
        "sms_5_fold": sms,
        "calibration": {"ece_pooled": summary["ece"],
                        "ece_by_source": {k: expected_calibration_error(y[src == k], s[src == k])
                                          for k in sorted(set(src))}},
        "pooled": {"y": y, "scores": s, "source": src},
    }


# The quality goals, as (figure, comparison, goal, label).
GOALS = (
    ("youtube_min_accuracy", ">=", 0.96, "YouTube leave-one-video-out accuracy (worst video)"),
    ("youtube_min_roc_auc", ">=", 0.99, "YouTube leave-one-video-out ROC AUC (worst video)"),
    ("youtube_min_spam_caught", ">=", 0.97, "YouTube spam caught, flag or reject (worst video)"),
    ("youtube_max_ham_rejected", "<=", 0.01, "YouTube legitimate rejected (worst video)"),
    ("fox_rejected", "<=", 0.002, "Fox news comments rejected (unseen articles)"),
    ("fox_flagged", "<=", 0.05, "Fox news comments flagged or rejected (unseen articles)"),
    ("sms_accuracy", ">=", 0.985, "SMS 5-fold accuracy (mean)"),
    ("ece", "<=", 0.05, "Expected calibration error (pooled)"),
    ("news_rejected", "<=", 0.001, "News comments rejected (Civil Comments + Fox, unseen)"),
    ("news_held", "<=", 0.03, "News comments held for spam (unseen)"),
    ("article_spam_caught", ">=", 0.90, "Article-comment spam caught (made from unseen comments and list entries)"),
    ("article_spam_auc", ">=", 0.97, "Article-comment spam vs news comments ROC AUC"),
    ("development_spam_caught", ">=", 0.90, "Real web spam caught (Stack Exchange development sample)"),
    ("development_auc", ">=", 0.97, "Real web spam vs the sample's legitimate posts ROC AUC"),
    ("development_ham_held", "<=", 0.05, "The sample's legitimate posts held (hard cases a filter caught)"),
)


def meets(value: float, op: str, goal: float) -> bool:
    return value >= goal if op == ">=" else value <= goal


def better(a: float, b: float, op: str) -> bool:
    """Whether a is strictly better than b for a figure where `op` says which way is good."""
    return a > b if op == ">=" else a < b


def table(rows: dict[str, dict]) -> str:
    """A Markdown table: one column per figure, one row per model, plus the goal row."""
    header = "| model | " + " | ".join(g[3] for g in GOALS) + " |"
    lines = [header, "|" + "---|" * (len(GOALS) + 1)]
    lines.append("| goal | " + " | ".join(f"{op} {goal:g}" for _, op, goal, _ in GOALS) + " |")
    for name, summary in rows.items():
        cells = []
        for key, op, goal, _ in GOALS:
            value = summary.get(key)
            if value is None:
                cells.append("-")
                continue
            cells.append(f"{value:.4f}" + ("" if meets(value, op, goal) else " ✗"))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


class PipelineScorer:
    """Our spam pipeline behind the `Scorer` interface; thresholds from its own out-of-fold training scores."""

    def __init__(self, source_balance: float | None = None, site_weight: float | None = None, lists=None, **params):
        from moderation.features import SITE_LABEL_WEIGHT, SOURCE_BALANCE

        self.params = params
        self.source_balance = SOURCE_BALANCE if source_balance is None else source_balance
        self.site_weight = SITE_LABEL_WEIGHT if site_weight is None else site_weight
        self.lists = lists  # SmokeDetector's lists (raw) for the article-comment spam signals

    def fit(self, texts, y, sources):
        from moderation.features import build_spam_pipeline, source_weights

        weights = source_weights(sources, self.source_balance, self.site_weight)
        if self.lists is not None:
            from moderation.webspam import compile_lists

            self.params.setdefault("webspam_lists", compile_lists(**self.lists))
        self.pipeline = build_spam_pipeline(**self.params).fit(texts, y, classifier__sample_weight=weights)
        self._y = np.asarray(y)
        self._sources = np.asarray(sources)
        return self

    def score(self, texts):
        from moderation.features import spam_scores

        return spam_scores(self.pipeline, texts)

    def thresholds(self):
        from training.metrics import choose_thresholds

        return choose_thresholds(self._y, self.pipeline[-1].oof_scores_, sources=self._sources)
