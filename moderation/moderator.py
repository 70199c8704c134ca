"""Moderating comments: score with the loaded model, then apply the decision policy.

The HTTP service (one comment at a time) and the batch rescorer (many at once) both go through `Moderator`, so
a comment gets the same decision whichever way it arrives.
"""

from __future__ import annotations

from dataclasses import dataclass

from moderation.features import spam_scores
from moderation.policy import Decision, PolicyConfig, decide
from moderation.registry import LoadedModel
from moderation.text import normalise, policy_length

# A comment far over the policy limit is rejected for length anyway; scoring more than this of it only costs time.
SCORED_CHARS = 10_000


@dataclass(frozen=True)
class Article:
    id: str | None = None
    title: str = ""
    body: str = ""


@dataclass(frozen=True)
class Verdict:
    decision: str
    spam: float | None
    off_topic: float | None
    reasons: tuple
    model_version: str

    def to_dict(self) -> dict:
        return {
            "decision": self.decision,
            "scores": {"spam": self.spam, "off_topic": self.off_topic},
            "reasons": [r.to_dict() for r in self.reasons],
            "model_version": self.model_version,
        }


def policy_for(model: LoadedModel, **overrides) -> PolicyConfig:
    """The model's own thresholds (chosen at training time), with any site overrides on top."""
    thresholds = model.metadata.get("thresholds", {})
    base = PolicyConfig().with_overrides(
        spam_flag=thresholds.get("spam_flag"), spam_reject=thresholds.get("spam_reject"),
        off_topic_flag=thresholds.get("off_topic_flag"),
    )
    return base.with_overrides(**overrides)


class Moderator:
    """A loaded model and the policy it serves under."""

    def __init__(self, model: LoadedModel, policy: PolicyConfig | None = None, spam_scorer=None):
        self.model = model
        self.policy = policy or policy_for(model)
        # Optional faster equivalent of spam_scores(model.spam, texts), checked against it (service/fastscore.py).
        self.spam_scorer = spam_scorer

    @property
    def version(self) -> str:
        return self.model.version

    def moderate(self, text: str, article: Article | None = None, thread: list[str] | None = None) -> Verdict:
        return self.moderate_batch([text], [article], [thread])[0]

    def moderate_batch(self, texts: list[str], articles: list[Article | None] | None = None,
                       threads: list[list[str] | None] | None = None) -> list[Verdict]:
        """Decide on many comments at once; the model scores them in one vectorised call.

        `articles[i]` is the article comment i was posted under and `threads[i]` the discussion so far under it
        (other comments' texts, not comment i itself); both optional, used by the relevance score.
        """
        lengths = [policy_length(t) if normalise(t) else 0 for t in texts]
        scored = [i for i, n in enumerate(lengths) if n > 0]
        spam = [None] * len(texts)
        if scored:
            batch = [texts[i][:SCORED_CHARS] for i in scored]
            probabilities = self.spam_scorer(batch) if self.spam_scorer else spam_scores(self.model.spam, batch)
            for i, p in zip(scored, probabilities):
                spam[i] = round(float(p), 4)
        verdicts = []
        for length, score in zip(lengths, spam):
            decision: Decision = decide(length, score, self.policy)
            verdicts.append(Verdict(decision.decision, score, None, decision.reasons, self.version))
        return verdicts
