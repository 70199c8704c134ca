"""The toxicity score and its spans: a calibrated linear model over word n-grams, and a span lexicon.

`ToxicityModel` scores a comment's probability of being toxic (rude, insulting, hateful: what crowds of raters
called toxic) with word 1-2-gram TF-IDF and a logistic regression calibrated on its own out-of-fold scores
(`features.CalibratedLinear`, like the spam model). It reads the text the spam model reads: the memoised
normalisation (`moderation.text.normalise`) and the same word placeholders (`features.feature_text`), so a
request normalises a comment once for both.

The spans say which words made a comment toxic, as character offsets into the text as sent: each word's share
of its occurrences that raters marked inside a toxic span (learned from the SemEval 2021 toxic spans training
set, smoothed towards 0 for rare words), kept when at or above `span_threshold_` and when the comment's toxicity
is at or above `span_gate_` (both chosen on the shared task's trial set). Neighbouring toxic words join into one
span with the space between them, as raters mark them.
"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np
from sklearn.base import BaseEstimator

from moderation.features import CalibratedLinear, feature_text
from moderation.text import normalise, normalise_all
from moderation.vectorised import BatchTfidfVectorizer

# Words as raters select them: letters and digits, with inner apostrophes and masking stars ("f*ck", "don't").
WORD = re.compile(r"\w+(?:['’*]+\w+)*")
# Between two toxic words only this joins them into one span.
JOIN = re.compile(r"\s{1,3}")


class ToxicityModel(BaseEstimator):
    """Calibrated toxicity probability and toxic spans; `fit` learns the score, `fit_spans` the span lexicon."""

    def __init__(self, C: float = 2.0, folds: int = 5, lexicon_prior: float = 2.0, random_state: int = 0):
        self.C = C
        self.folds = folds
        self.lexicon_prior = lexicon_prior
        self.random_state = random_state

    def fit(self, texts, y, sample_weight=None):
        docs = normalise_all(texts)
        self.vectorizer_ = BatchTfidfVectorizer(
            preprocessor=feature_text, token_pattern=r"(?u)\b\w\w+\b|[!?]", ngram_range=(1, 2), min_df=2,
            max_df=0.5, sublinear_tf=True, dtype=np.float32)
        X = self.vectorizer_.fit_transform(docs)
        self.classifier_ = CalibratedLinear(C=self.C, folds=self.folds, random_state=self.random_state)
        self.classifier_.fit(X, np.asarray(y).astype(int), sample_weight=sample_weight)
        self.oof_scores_ = self.classifier_.oof_scores_
        self.lexicon_ = {}
        self.span_threshold_, self.span_gate_ = 0.5, 0.0
        return self

    def fit_spans(self, texts, spans):
        """The lexicon: per word, the share of its occurrences raters marked toxic (`spans[i]`: the offsets of
        text i), smoothed by `lexicon_prior` occurrences that were not."""
        inside, total = defaultdict(float), defaultdict(float)
        for text, marked in zip(texts, spans):
            for m in WORD.finditer(text):
                word = m.group().lower()
                total[word] += 1
                if 2 * sum(1 for i in range(m.start(), m.end()) if i in marked) > m.end() - m.start():
                    inside[word] += 1
        self.lexicon_ = {w: round(inside[w] / (total[w] + self.lexicon_prior), 4) for w in total if inside[w]}
        return self

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_single", None)  # the single-text lookup tables are rebuilt on first use
        return state

    def scores(self, texts) -> np.ndarray:
        """Calibrated probability that each text is toxic."""
        texts = list(texts)
        if len(texts) == 1:
            return self.classifier_.calibrate(np.array([self._decision_one(normalise(texts[0]))]))
        X = self.vectorizer_.transform(normalise_all(texts))
        return self.classifier_.calibrate(self.classifier_.decision_function(X))

    def _decision_one(self, doc: str) -> float:
        """The linear score of one normalised text by dict look-ups (moderation.scorer's single-text path)."""
        from moderation.scorer import WordColumns, _tfidf_dot

        single = self.__dict__.get("_single")
        if single is None:
            linear = self.classifier_.linear_
            single = self._single = (WordColumns(self.vectorizer_), np.asarray(linear.coef_[0], dtype=np.float64),
                                     float(linear.intercept_[0]))
        columns, coef, intercept = single
        return intercept + _tfidf_dot(columns(doc), self.vectorizer_._tfidf, coef)

    def word_weights(self, text: str) -> list[tuple[int, int, float]]:
        """(begin, end, lexicon weight) of every word of `text` the lexicon knows, offsets into `text` as sent."""
        get = self.lexicon_.get
        out = []
        for m in WORD.finditer(text):
            weight = get(m.group().lower())
            if weight:
                out.append((m.start(), m.end(), weight))
        return out

    def spans(self, text: str, toxicity: float | None = None, threshold: float | None = None) -> list[dict]:
        """The toxic spans of `text`: [{"begin", "end", "score"}], `end` exclusive, `score` the highest word
        weight in the span; none when `toxicity` (computed when not given) is below the span gate."""
        if toxicity is None:
            toxicity = float(self.scores([text])[0])
        if toxicity < self.span_gate_:
            return []
        threshold = self.span_threshold_ if threshold is None else threshold
        spans: list[dict] = []
        for begin, end, weight in self.word_weights(text):
            if weight < threshold:
                continue
            if spans and JOIN.fullmatch(text[spans[-1]["end"]:begin]):
                spans[-1]["end"] = end
                spans[-1]["score"] = max(spans[-1]["score"], weight)
            else:
                spans.append({"begin": begin, "end": end, "score": weight})
        return spans


def offsets(spans: list[dict]) -> set[int]:
    """The character offsets a list of spans covers."""
    return {i for s in spans for i in range(s["begin"], s["end"])}


def span_f1(predicted: set, gold: set) -> float:
    """The SemEval 2021 toxic spans F1 of one post: 1 when both are empty, 0 when only one is."""
    if not gold or not predicted:
        return float(not gold and not predicted)
    hit = len(predicted & gold)
    if not hit:
        return 0.0
    precision, recall = hit / len(predicted), hit / len(gold)
    return 2 * precision * recall / (precision + recall)


def mean_span_f1(model: ToxicityModel, texts, gold, toxicity=None, threshold: float | None = None) -> float:
    """The shared task's score: per-post span F1, averaged."""
    toxicity = model.scores(texts) if toxicity is None else toxicity
    return float(np.mean([span_f1(offsets(model.spans(t, float(p), threshold)), set(g))
                          for t, p, g in zip(texts, toxicity, gold)])) if len(texts) else 0.0
