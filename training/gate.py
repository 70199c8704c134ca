"""The promotion gate: a candidate goes live only if it is not worse than the live model.

Both models are scored on the same frozen evaluation set: the held-out part of the shared data
(`datasets.split`: one text in five by hash, two whole Fox News articles) plus the held-out slice of the
moderators' labels (the same hash rule, so a label once held out is never trained on by `train
--with-feedback`). Each model is judged at its own thresholds. The candidate is refused when any figure is
worse than the live model's beyond its tolerance:

- spam AUC (ROC AUC of the spam score): at most `AUC_TOLERANCE` lower;
- spam caught (share of spam at or above the reject threshold): at most `CAUGHT_TOLERANCE` lower;
- spam held or caught (share of spam at or above the flag threshold: what reaches a reader unchecked is the
  rest): at most `CAUGHT_TOLERANCE` lower;
- news comments rejected (share of legitimate news comments - Fox News and ham labels from moderators - at or
  above the reject threshold): at most `NEWS_REJECTED_TOLERANCE` higher;
- news comments held (the same comments at or above the flag threshold: readers waiting for a moderator, and the
  moderators' workload): at most `NEWS_HELD_TOLERANCE` higher;
- relevance AUC (off-topic score against moderators' off_topic / ham labels on comments with an article),
  only when both models have a relevance model and the set has both labels: at most `AUC_TOLERANCE` lower;
- relevance pairing AUC on the held-out news articles of the set (each comment with its own article and
  discussion vs the same comment under another held-out article, as `training/relevance.py` evaluates): at most
  `AUC_TOLERANCE` lower; without it a retrained relevance model would go live unchecked whenever moderators
  have given no `off_topic` labels;
- news comments flagged off-topic under their own article (at the model's own long and short thresholds, the
  readers a site would hold for nothing): at most `OFF_TOPIC_FLAGGED_TOLERANCE` higher;
- news comments held for any reason (the whole decision under their article: spam, off-topic, the short-comment
  rule, toxicity, the policy checks - what the readers see): at most `NEWS_HELD_TOLERANCE` higher; compared only
  between models with the same parts (a model gaining a relevance or toxicity score holds more by design, and
  the figures of that part judge it);
- toxicity, when the toxicity data is at hand (`training/toxicity.py`'s held-out slice, drawn apart from the
  spam split): ROC AUC at most `AUC_TOLERANCE` lower, and civil news comments (Civil Comments and Fox) held at
  the model's own `toxic_flag` at most `NEWS_HELD_TOLERANCE` higher.

A figure the live model has on the set and the candidate has not (a candidate without a relevance model, which
would silently stop scoring `off_topic`) refuses the candidate (verdict MISSING); a figure only the candidate has
is not compared.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import roc_auc_score

from moderation.moderator import Article, Moderator, policy_for
from moderation.registry import LoadedModel
from moderation.relevance import is_short
from training import datasets
from training.relevance import article_groups, make_pairs, score_pairs

log = logging.getLogger(__name__)

AUC_TOLERANCE = 0.005
CAUGHT_TOLERANCE = 0.02
NEWS_REJECTED_TOLERANCE = 0.005
NEWS_HELD_TOLERANCE = 0.01
OFF_TOPIC_FLAGGED_TOLERANCE = 0.02
FEEDBACK_SOURCE = "feedback"
# Figures of the whole decision: compared only between models with the same parts (`figures`' "parts").
SAME_PARTS_ONLY = {"news_held_any_reason"}

# name -> (higher is better, tolerance)
CHECKS = {
    "spam_auc": (True, AUC_TOLERANCE),
    "spam_caught": (True, CAUGHT_TOLERANCE),
    "spam_held_or_caught": (True, CAUGHT_TOLERANCE),
    "news_rejected": (False, NEWS_REJECTED_TOLERANCE),
    "news_held": (False, NEWS_HELD_TOLERANCE),
    "relevance_auc": (True, AUC_TOLERANCE),
    "relevance_pairing_auc": (True, AUC_TOLERANCE),
    "news_off_topic_flagged": (False, OFF_TOPIC_FLAGGED_TOLERANCE),
    "news_held_any_reason": (False, NEWS_HELD_TOLERANCE),
    "toxicity_auc": (True, AUC_TOLERANCE),
    "toxicity_civil_held": (False, NEWS_HELD_TOLERANCE),
}


def feedback_examples(rows: list[dict]) -> list[datasets.Example]:
    """Store rows (`Store.list_feedback`) as labelled examples."""
    return [datasets.Example(
        r["text"], r["label"], FEEDBACK_SOURCE, group=r.get("article_id") or FEEDBACK_SOURCE,
        article_id=r.get("article_id") or "", article_title=r.get("article_title") or "",
        article_body=r.get("article_body") or "",
    ) for r in rows]


def evaluation_set(shared: list[datasets.Example], feedback: list[datasets.Example]) -> list[datasets.Example]:
    """The frozen evaluation set: held-out shared data plus the held-out slice of the feedback."""
    return datasets.split(shared + feedback)[1]


def fingerprint(examples: list[datasets.Example]) -> str:
    digest = hashlib.sha256()
    for key in sorted(f"{datasets.dedup_key(e.text)}\t{e.label}" for e in examples):
        digest.update(key.encode("utf-8") + b"\n")
    return digest.hexdigest()[:16]


def _is_news(example: datasets.Example) -> bool:
    return example.label == "ham" and example.source in ("fox", FEEDBACK_SOURCE)


def relevance_pairs(examples: list[datasets.Example]):
    """Own-article vs other-article pairs from the set's held-out news articles (None with fewer than two)."""
    held = [g for g in article_groups(examples) if g.source != "youtube"]
    return make_pairs(held, seed=99) if len(held) >= 2 else None


def pairing(model: LoadedModel, pairs, policy) -> dict:
    """Pairing AUC (article + discussion, leave-one-out) and own-article comments flagged off-topic at the
    policy's thresholds."""
    scores = score_pairs(model.relevance, pairs)
    short = np.array([is_short(t) for t in pairs.texts])
    flagged = scores >= np.where(short, policy.short_off_topic_flag, policy.off_topic_flag)
    thread = pairs.kind == "thread"
    own = pairs.y == 0
    return {"relevance_pairing_auc": round(float(roc_auc_score(pairs.y[thread], scores[thread])), 4),
            "news_off_topic_flagged": round(float(flagged[thread & own].mean()), 4),
            "relevance_pairs": int(thread.sum())}


def toxicity_figures(scorer, toxic: list, flag: float) -> dict:
    """ROC AUC of the toxicity score on the held-out toxicity examples (`training.toxicity.ToxicExample`), and the
    share of their civil news comments held at `flag`."""
    scores = np.asarray(scorer.scores([e.text for e in toxic]), dtype=float)
    y = np.array([e.toxic for e in toxic], dtype=bool)
    civil = ~y & np.isin([e.source for e in toxic], ("civil", "fox"))
    return {"toxicity_auc": round(float(roc_auc_score(y, scores)), 4) if 0 < y.sum() < len(y) else None,
            "toxicity_civil_held": round(float((scores[civil] >= flag).mean()), 4) if civil.any() else None,
            "toxicity_n": len(toxic)}


def figures(model: LoadedModel, examples: list[datasets.Example], pairs=None, toxic: list | None = None) -> dict:
    """The gate's figures for one model on the evaluation set, at the model's own thresholds; `pairs`
    (`relevance_pairs`) adds the relevance pairing figures, `toxic` (held-out toxicity examples) the toxicity
    ones."""
    moderator = Moderator(model, policy_for(model))
    articles = [Article(e.article_id or None, e.article_title, e.article_body) if (e.article_title or e.article_body)
                else None for e in examples]
    verdicts = moderator.moderate_batch([e.text for e in examples], articles)
    spam = np.array([v.spam if v.spam is not None else 0.0 for v in verdicts])
    y = np.array([e.is_spam for e in examples])
    reject = moderator.policy.spam_reject
    news = np.array([_is_news(e) for e in examples])
    held = np.array([v.decision != "accept" for v in verdicts])  # the whole decision: any reason
    out = {
        "thresholds": {"spam_flag": moderator.policy.spam_flag, "spam_reject": reject},
        "n": int(len(examples)), "spam_n": int(y.sum()), "news_n": int(news.sum()),
        "spam_auc": round(float(roc_auc_score(y, spam)), 4) if len(set(y)) == 2 else None,
        "spam_caught": round(float((spam[y == 1] >= reject).mean()), 4) if y.any() else None,
        "spam_held_or_caught": round(float((spam[y == 1] >= moderator.policy.spam_flag).mean()), 4) if y.any() else None,
        "news_rejected": round(float((spam[news] >= reject).mean()), 4) if news.any() else None,
        "news_held": round(float((spam[news] >= moderator.policy.spam_flag).mean()), 4) if news.any() else None,
        "news_held_any_reason": round(float(held[news].mean()), 4) if news.any() else None,
        "relevance_auc": None, "relevance_pairing_auc": None, "news_off_topic_flagged": None,
        "toxicity_auc": None, "toxicity_civil_held": None,
        "parts": sorted(name for name in ("relevance", "toxicity") if model.artifact.get(name) is not None),
    }
    if toxic and moderator.toxicity is not None:
        out.update(toxicity_figures(moderator.toxicity, toxic, moderator.policy.toxic_flag))
    if model.relevance is not None and pairs is not None:
        out.update(pairing(model, pairs, moderator.policy))
    if model.relevance is not None:
        rel = [i for i, e in enumerate(examples) if e.label in ("ham", "off_topic") and articles[i] is not None
               and verdicts[i].off_topic is not None]
        labels = [int(examples[i].label == "off_topic") for i in rel]
        if len(set(labels)) == 2:
            out["relevance_auc"] = round(float(roc_auc_score(labels, [verdicts[i].off_topic for i in rel])), 4)
            out["relevance_n"] = len(rel)
    return out


@dataclass
class GateResult:
    passed: bool
    candidate: dict
    live: dict | None
    failures: list[str] = field(default_factory=list)
    checks: dict = field(default_factory=dict)
    dataset: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"passed": self.passed, "failures": self.failures, "checks": self.checks,
                "dataset": self.dataset, "candidate": self.candidate, "live": self.live}

    def table(self) -> str:
        lines = [f"{'figure':<24}{'live':>10}{'candidate':>11}{'tolerance':>11}  verdict"]
        for name, check in self.checks.items():
            live = "-" if check["live"] is None else f"{check['live']:.4f}"
            cand = "-" if check["candidate"] is None else f"{check['candidate']:.4f}"
            lines.append(f"{name:<24}{live:>10}{cand:>11}{check['tolerance']:>11}  {check['verdict']}")
        return "\n".join(lines)


def compare(candidate: LoadedModel, live: LoadedModel | None, examples: list[datasets.Example],
            feedback_held_out: int = 0, toxic: list | None = None) -> GateResult:
    """Score both models on `examples` (and `toxic`, held-out toxicity examples) and decide whether the candidate
    may go live."""
    dataset = {"n": len(examples), "feedback_held_out": feedback_held_out, "fingerprint": fingerprint(examples),
               "toxicity_n": len(toxic or ())}
    log.info("gate: scoring candidate %s on %d examples", candidate.version, len(examples))
    with_relevance = candidate.relevance is not None or (live is not None and live.relevance is not None)
    pairs = relevance_pairs(examples) if with_relevance else None
    cand = figures(candidate, examples, pairs, toxic)
    if live is None:
        return GateResult(True, cand, None, dataset=dataset)
    log.info("gate: scoring live model %s", live.version)
    base = figures(live, examples, pairs, toxic)
    failures, checks = [], {}
    for name, (higher_better, tolerance) in CHECKS.items():
        a, b = base.get(name), cand.get(name)
        if name in SAME_PARTS_ONLY and base["parts"] != cand["parts"]:
            a = b = None
        if a is not None and b is None:  # the live model measures it on this set, the candidate cannot
            checks[name] = {"live": a, "candidate": None, "tolerance": tolerance, "verdict": "MISSING"}
            failures.append(f"{name}: the candidate has none (live {a:.4f}); it lacks a part the live model has")
            continue
        if a is None or b is None:
            checks[name] = {"live": a, "candidate": b, "tolerance": tolerance, "verdict": "not compared"}
            continue
        worse_by = (a - b) if higher_better else (b - a)
        ok = worse_by <= tolerance + 1e-12
        checks[name] = {"live": a, "candidate": b, "tolerance": tolerance, "verdict": "ok" if ok else "WORSE"}
        if not ok:
            failures.append(f"{name} {b:.4f} vs live {a:.4f} ({'-' if higher_better else '+'}{worse_by:.4f}, "
                            f"tolerance {tolerance})")
    return GateResult(not failures, cand, base, failures, checks, dataset)
