"""Moderating comments: score with the loaded model, then apply the decision policy.

The HTTP service (one comment at a time) and the batch rescorer (many at once) both go through `Moderator`, so
a comment gets the same decision whichever way it arrives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moderation.features import spam_scores
from moderation.policy import Decision, PolicyConfig, decide, model_policy
from moderation.registry import LoadedModel
from moderation.relevance import Context, ContextCache, batch_contexts, is_short
from moderation.relevance_one import score_one
from moderation.scorer import compile_scorer
from moderation.short_support import short_support
from moderation.site_rules import NOTHING
from moderation.text import is_blank, policy_length

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
    toxicity: float | None = None  # None when not scored (empty) or the model has no toxicity score

    def to_dict(self) -> dict:
        return {
            "decision": self.decision,
            "scores": {"spam": self.spam, "off_topic": self.off_topic, "toxicity": self.toxicity},
            "reasons": [r.to_dict() for r in self.reasons],
            "model_version": self.model_version,
        }


def policy_for(model: LoadedModel, **overrides) -> PolicyConfig:
    """The model's own thresholds (chosen at training time), with any site overrides on top."""
    return model_policy(model.metadata, **overrides)


class Moderator:
    """A loaded model and the policy it serves under."""

    def __init__(self, model: LoadedModel, policy: PolicyConfig | None = None, spam_scorer=None):
        self.model = model
        self.policy = policy or policy_for(model)
        # spam_scores(model.spam, texts) without scikit-learn's per-call overhead, checked against it at load
        # (moderation/scorer.py); None (the pipeline itself) for models of another structure.
        self.spam_scorer = spam_scorer if spam_scorer is not None else compile_scorer(model.spam)
        self.contexts = ContextCache()  # article vectors (and threads) seen in recent batches
        self.toxicity = model.artifact.get("toxicity")  # moderation/toxicity.py; absent from older models

    @property
    def version(self) -> str:
        return self.model.version

    def moderate(self, text: str, article: Article | None = None, thread: list[str] | None = None,
                 context: Context | None = None, repeats: int | None = None, parent: str | None = None) -> Verdict:
        return self.moderate_batch([text], [article], [thread], contexts=[context], repeats=[repeats],
                                   parents=[parent])[0]

    def moderate_batch(self, texts: list[str], articles: list[Article | None] | None = None,
                       threads: list[list[str] | None] | None = None,
                       contexts: list[Context | None] | None = None,
                       leave_out: list[bool] | None = None,
                       repeats: list[int | None] | None = None,
                       parents: list[str | None] | None = None) -> list[Verdict]:
        """Decide on many comments at once; the model scores them in one vectorised call.

        `articles[i]` is the article comment i was posted under and `threads[i]` the discussion so far under it
        (other comments' texts, not comment i itself); both optional, used by the relevance score, which is None
        for a comment without article. `contexts[i]`, when given, is the article and thread already vectorised
        (the service's cache) and replaces articles[i] and threads[i].
        `leave_out[i]` true (with `contexts[i]`) says comment i is itself counted in that context's thread and is
        taken out of it: batch rescoring gives every row of an article the one context of its thread sample. With
        `leave_out` given, contexts are scored even when empty (the caller chose which rows have an article).
        `repeats[i]` is how many copies of comment i's text were posted before within the policy's window
        (moderation/repeats.py; the service counts them in its store), None when not counted.
        `parents[i]` is the text of the comment that comment i answers (None for a top-level comment): a short
        reply's words are also supported by it (moderation/short_support.py).
        """
        lengths = [0 if is_blank(t) else policy_length(t) for t in texts]
        scored = [i for i, n in enumerate(lengths) if n > 0]
        spam = [None] * len(texts)
        toxicity = [None] * len(texts)
        if scored:
            batch = [texts[i][:SCORED_CHARS] for i in scored]
            probabilities = self.spam_scorer(batch) if self.spam_scorer else spam_scores(self.model.spam, batch)
            for i, p in zip(scored, probabilities):
                spam[i] = round(float(p), 4)
            if self.toxicity is not None:  # its own reason only: it never changes the spam or off-topic scores
                for i, p in zip(scored, self.toxicity.scores(batch)):
                    toxicity[i] = round(float(p), 4)
        supports: list = [None] * len(texts)
        off_topic = self._off_topic(texts, lengths, articles, threads, contexts, leave_out, parents, supports)
        verdicts = []
        policy = self.policy  # once: the site rules' watcher may swap it (service/site_rules.py)
        site = policy.site if policy.site is not None and policy.site.active else None
        repeats = repeats if repeats is not None else [None] * len(texts)
        for text, length, score, relevance, copies, support, toxic in zip(texts, lengths, spam, off_topic, repeats,
                                                                            supports, toxicity):
            found = site.inspect(text) if site is not None and length > 0 else NOTHING
            decision: Decision = decide(length, score, policy, relevance, short=is_short(text), found=found,
                                        repeats=copies if length > 0 else None, support=support, toxicity=toxic)
            verdicts.append(Verdict(decision.decision, score, relevance, decision.reasons, self.version, toxic))
        return verdicts

    def _off_topic(self, texts, lengths, articles, threads, given, given_leave_out=None, parents=None,
                   supports=None) -> list[float | None]:
        """Off-topic scores; None where there is no article to compare with (or no relevance model). With
        `supports` (a list as long as `texts`), each scored comment's short-comment verdict
        (short_support.short_support, against the same context, with `parents[i]`) is written into it."""
        n = len(texts)
        out: list[float | None] = [None] * n
        model = self.model.relevance
        if model is None or not (articles or given):
            return out
        articles = list(articles) if articles is not None else [None] * n
        threads = list(threads) if threads is not None else [None] * n
        given = list(given) if given is not None else [None] * n
        rows = [i for i in range(n) if lengths[i] > 0 and (given[i] is not None or articles[i] is not None)]
        if not rows:
            return out
        if len(rows) == 1 and given[rows[0]] is not None and given_leave_out is None:
            # The service's case: one comment, its article's cached context. The same score, without the batch
            # machinery (moderation/relevance_one.py).
            i = rows[0]
            if not given[i].empty:
                out[i] = round(score_one(model, texts[i][:SCORED_CHARS], given[i]), 4)
                _support(supports, i, model, texts[i], given[i], False, parents)
            return out
        built, context_of, leave_out, known, counts = batch_contexts(
            [texts[i] for i in rows], [articles[i] if given[i] is None else None for i in rows],
            [threads[i] if given[i] is None else None for i in rows], cache=self.contexts)
        shared: dict = {}  # id(context) -> its index in built: a context given for many rows is stacked once
        for j, i in enumerate(rows):  # the service's cached contexts
            if given[i] is not None and (given_leave_out is not None or not given[i].empty):
                known[j] = True
                context_of[j] = shared.setdefault(id(given[i]), len(built))
                if context_of[j] == len(built):
                    built.append(given[i])
                if given_leave_out is not None:
                    leave_out[j] = bool(given_leave_out[i])
        chosen = [i for i, k in zip(rows, known) if k]
        if not chosen:
            return out
        for i, c, loo in zip(chosen, context_of[known], leave_out[known]):
            _support(supports, i, model, texts[i], built[c], bool(loo), parents)
        if len(chosen) == 1 and not leave_out[known].any():  # one comment under an article sent inline: as above
            out[chosen[0]] = round(score_one(model, texts[chosen[0]][:SCORED_CHARS], built[context_of[known][0]]), 4)
            return out
        comments = counts if known.all() else counts[np.flatnonzero(known)]  # a row selection costs ~100 us
        scores = model.scores([texts[i][:SCORED_CHARS] for i in chosen], built, context_of[known], leave_out[known],
                              comments=comments)
        for i, p in zip(chosen, scores):
            out[i] = round(float(p), 4)
        return out


def _support(supports, i, model, text, context, leave_out, parents) -> None:
    """supports[i] = the short-comment verdict of comment i (when the caller asked for verdicts)."""
    if supports is not None and is_short(text):
        parent = parents[i] if parents is not None else None
        supports[i] = short_support(model, text[:SCORED_CHARS], context, leave_out, parent)
