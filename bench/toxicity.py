"""The toxicity score side by side with a plain TF-IDF + logistic regression baseline (`make bench BENCH=toxicity`).

Both are judged on the same held-out comments (`training.toxicity.split`: deduplicated, one text in five by hash,
never fitted on) and the shared task's `tsd_test.csv` spans:
- ROC AUC, toxic against civil, on the held-out news comments (Civil Comments and Fox) and per source;
- the share of civil news comments held, and of toxic ones caught, at each model's flag threshold, chosen by the
  same rule on its own out-of-fold training scores (at most 1.5% of civil news comments);
- span F1 on `tsd_test.csv` (per post, averaged; a post without gold spans scores 1 only for no prediction). The
  baseline's spans are the words its logistic regression weighs towards toxic, with a cut-off chosen on the
  trial set as ours is;
- speed: comments/s in batches of 2,000, CPU per comment one at a time, and what the score adds to a
  `/v1/moderate` decision (the same comments moderated with and without the toxicity model).

"Ours" is the live model's toxicity score (trained by `python -m training train` on the same split); without one
it is trained here. The table goes to stdout and to docs/figures/toxicity.md.
"""

from __future__ import annotations

import time

import numpy as np

from training import sources
from training import toxicity as data

FIGURES = sources.PROJECT_ROOT / "docs" / "figures" / "toxicity.md"
SPEED_BATCH = 2000
SINGLE = 300


class Baseline:
    """Word 1-2-gram TF-IDF and a class-balanced logistic regression, out-of-fold scores from 5 folds."""

    def fit(self, texts, y):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import cross_val_predict

        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        X = self.vectorizer.fit_transform(texts)
        self.model = LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000)
        self.oof_scores_ = cross_val_predict(self.model, X, y, cv=5, method="predict_proba")[:, 1]
        self.model.fit(X, y)
        names = self.vectorizer.get_feature_names_out()
        self.words = {str(n): float(c) for n, c in zip(names, self.model.coef_[0]) if " " not in n and c > 0}
        self.cut = 1.0
        return self

    def scores(self, texts) -> np.ndarray:
        return self.model.predict_proba(self.vectorizer.transform(list(texts)))[:, 1]

    def spans(self, text: str, toxicity=None, threshold=None) -> list[dict]:
        from moderation.toxicity import WORD

        cut = self.cut if threshold is None else threshold
        return [{"begin": m.start(), "end": m.end(), "score": 1.0} for m in WORD.finditer(text)
                if self.words.get(m.group().lower(), 0.0) >= cut]


def span_f1(model, examples, threshold=None) -> float:
    from moderation.toxicity import offsets
    from moderation.toxicity import span_f1 as f1

    return float(np.mean([f1(offsets(model.spans(s.text, 1.0, threshold)), set(s.spans)) for s in examples]))


def held_out(model, split: data.ToxicityData, threshold: float) -> dict:
    from sklearn.metrics import roc_auc_score

    scores = model.scores([e.text for e in split.evaluation])
    y = np.array([e.toxic for e in split.evaluation])
    src = np.array([e.source for e in split.evaluation])
    news = np.isin(src, ("civil", "fox"))
    unanimous = np.array([e.unanimous for e in split.evaluation]) & (src == "civil")
    return {
        "auc_news": roc_auc_score(y[news], scores[news]),
        "auc_civil": roc_auc_score(y[src == "civil"], scores[src == "civil"]),
        "auc_unanimous": roc_auc_score(y[unanimous], scores[unanimous]),
        "auc_wikipedia": roc_auc_score(y[src == "wikipedia"], scores[src == "wikipedia"]),
        "civil_held": float((scores[news & (y == 0)] >= threshold).mean()),
        "toxic_held": float((scores[news & (y == 1)] >= threshold).mean()),
    }


def speed(model, texts: list[str]) -> dict:
    batch = (texts * (SPEED_BATCH // len(texts) + 1))[:SPEED_BATCH]
    model.scores(batch[:50])
    start = time.process_time()
    model.scores(batch)
    per_second = SPEED_BATCH / (time.process_time() - start)
    one = texts[:SINGLE]
    for t in one[:20]:
        model.scores([t])
    start = time.process_time()
    for t in one:
        model.scores([t])
    return {"per_second": per_second, "single_us": (time.process_time() - start) / len(one) * 1e6}


def moderate_cost(texts: list[str]) -> tuple[float, float] | None:
    """CPU per comment of Moderator.moderate (spam, toxicity, policy) with and without the toxicity model, one
    comment at a time, alternating three runs each: (without, with) in microseconds, the lowest run of each."""
    from moderation.moderator import Moderator
    from moderation.registry import ModelLoadError, ModelRegistry

    try:
        model = ModelRegistry(sources.PROJECT_ROOT / "models").load()
    except ModelLoadError:
        return None
    moderator = Moderator(model)
    if moderator.toxicity is None:
        return None
    toxicity, runs = moderator.toxicity, {False: [], True: []}
    for _ in range(3):
        for on in (False, True):
            moderator.toxicity = toxicity if on else None
            for t in texts[:20]:
                moderator.moderate(t)
            start = time.process_time()
            for t in texts[:SINGLE]:
                moderator.moderate(t)
            runs[on].append((time.process_time() - start) / SINGLE * 1e6)
    return min(runs[False]), min(runs[True])


def ours(split: data.ToxicityData):
    """The live model's toxicity score and flag threshold, or one trained here."""
    from moderation.registry import ModelLoadError, ModelRegistry

    try:
        model = ModelRegistry(sources.PROJECT_ROOT / "models").load()
        if model.artifact.get("toxicity") is not None:
            return model.artifact["toxicity"], model.metadata["thresholds"]["toxic_flag"], model.version
    except ModelLoadError:
        pass
    trained, thresholds, _ = data.train_toxicity(split)
    return trained, thresholds["toxic_flag"], "trained by the bench"


def main() -> None:
    folder = sources.ensure_data()
    split = data.load(folder)
    print(f"held out: {len(split.evaluation)} comments; span test posts: {len(split.span_test)}", flush=True)
    model, threshold, version = ours(split)
    texts = [e.text for e in split.train]
    y = np.array([e.toxic for e in split.train])
    started = time.monotonic()
    baseline = Baseline().fit(texts, y)
    print(f"baseline fitted in {time.monotonic() - started:.0f} s", flush=True)
    base_threshold = data.civil_flag_threshold(y, baseline.oof_scores_, [e.source for e in split.train])
    cuts = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
    baseline.cut = max(cuts, key=lambda c: span_f1(baseline, split.span_trial, c))
    sample = [e.text for e in split.evaluation if e.source == "civil"][:SPEED_BATCH]
    rows = {}
    for name, scorer, flag in (("ours", model, threshold), ("TF-IDF + LR", baseline, base_threshold)):
        figures = held_out(scorer, split, flag)
        figures.update(threshold=flag, span_f1=span_f1(scorer, split.span_test), **speed(scorer, sample))
        rows[name] = figures
    lines = [
        f"Toxicity on held-out comments ({len(split.evaluation)}; news: Civil Comments + Fox) and SemEval 2021 "
        f"toxic spans `tsd_test.csv` ({len(split.span_test)} posts). Ours: model {version}.",
        "",
        "| model | AUC news | AUC Civil Comments | AUC unanimous Civil Comments | AUC Wikipedia | flag threshold | "
        "civil news held | toxic news held | span F1 (tsd_test) | comments/s (batch) | CPU per comment |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['auc_news']:.3f} | {r['auc_civil']:.3f} | {r['auc_unanimous']:.3f} | "
                     f"{r['auc_wikipedia']:.3f} | "
                     f"{r['threshold']:.3f} | {r['civil_held']:.1%} | {r['toxic_held']:.1%} | {r['span_f1']:.3f} | "
                     f"{r['per_second']:,.0f} | {r['single_us']:.0f} us |")
    lines.append("")
    lines.append("Goals: AUC >= 0.90 on real news comments, civil comments held <= 2%, span F1 >= 0.60.")
    cost = moderate_cost(sample)
    if cost is not None:
        lines.append(f"Moderator.moderate, one comment at a time, CPU per comment: {cost[0]:.0f} us without the "
                     f"toxicity score, {cost[1]:.0f} us with it (+{cost[1] - cost[0]:.0f} us, "
                     f"{(cost[1] - cost[0]) / cost[0]:+.0%}).")
    table = "\n".join(lines)
    print()
    print(table)
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text("# Toxicity bench figures\n\nWritten by `make bench BENCH=toxicity`.\n\n" + table + "\n",
                       encoding="utf-8")
    print(f"\nwritten to {FIGURES.relative_to(sources.PROJECT_ROOT)}")


if __name__ == "__main__":
    main()
