"""The toxicity score and its spans: a calibrated linear model over word n-grams, and a span lexicon.

`ToxicityModel` scores a comment's probability of being toxic (rude, insulting, hateful: what crowds of raters
called toxic) with word 1-2-gram TF-IDF and four signals of the span lexicon below (`lexicon_signals`), in a
logistic regression calibrated on its own out-of-fold scores (`features.CalibratedLinear`, like the spam model).
It reads the text the spam model reads: the memoised normalisation (`moderation.text.normalise`) and the same
word placeholders (`features.feature_text`), so a request normalises a comment once for both.

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
from scipy import sparse
from sklearn.base import BaseEstimator

from moderation.features import CalibratedLinear, feature_text
from moderation.text import normalise, normalise_all
from moderation.vectorised import BatchTfidfVectorizer

# Words as raters select them: letters and digits, with inner apostrophes and masking stars ("f*ck", "don't").
WORD = re.compile(r"\w+(?:['’*]+\w+)*")
# Between two toxic words only this joins them into one span.
JOIN = re.compile(r"\s{1,3}")


LEXICON_FOLDS = 5
SPAN_WORD = 0.3  # a word at least this toxic counts in the lexicon signals
SIGNAL_NAMES = ("max_word", "top3_words", "toxic_words", "toxic_share")


def _lexicon(texts, spans, prior: float) -> dict:
    inside, total = defaultdict(float), defaultdict(float)
    for text, marked in zip(texts, spans):
        for m in WORD.finditer(text):
            word = m.group().lower()
            total[word] += 1
            if 2 * sum(1 for i in range(m.start(), m.end()) if i in marked) > m.end() - m.start():
                inside[word] += 1
    return {w: round(inside[w] / (total[w] + prior), 4) for w in total if inside[w]}


def lexicon_signals(lexicon: dict, doc: str) -> tuple:
    """What the span lexicon says of a whole comment: its most toxic word's weight, the mean of its three most
    toxic, how many words reach SPAN_WORD (log) and their share of the comment's words."""
    get = lexicon.get
    words = WORD.findall(doc.lower())
    weights = sorted((get(w, 0.0) for w in words), reverse=True)
    if not weights:
        return 0.0, 0.0, 0.0, 0.0
    toxic = sum(1 for w in weights if w >= SPAN_WORD)
    return weights[0], sum(weights[:3]) / 3, float(np.log1p(toxic)), toxic / len(weights)


class ToxicityModel(BaseEstimator):
    """Calibrated toxicity probability and toxic spans; `fit` learns the score, `fit_spans` the span lexicon.

    C 0.5: of 2, 1, 0.5 and 0.25, the best out-of-fold ROC AUC on the training part's news comments (0.690 against
    0.685 for 2).
    """

    def __init__(self, C: float = 0.5, folds: int = 5, lexicon_prior: float = 2.0, random_state: int = 0):
        self.C = C
        self.folds = folds
        self.lexicon_prior = lexicon_prior
        self.random_state = random_state

    def fit(self, texts, y, sample_weight=None, span_texts=(), spans=()):
        """Fit the lexicon on the span posts (`spans[i]`: the offsets raters marked in `span_texts[i]`), then the
        classifier on word n-grams and the lexicon's signals. A training text that is also a span post gets its
        lexicon signals from a lexicon fitted without it (cross-fitted), as a comment the model has not seen."""
        span_texts, spans = list(span_texts), list(spans)
        self.fit_spans(span_texts, spans)
        docs = normalise_all(texts)
        self.vectorizer_ = BatchTfidfVectorizer(
            preprocessor=feature_text, token_pattern=r"(?u)\b\w\w+\b|[!?]", ngram_range=(1, 2), min_df=2,
            max_df=0.5, sublinear_tf=True, dtype=np.float32)
        words = self.vectorizer_.fit_transform(docs)
        signals = self._cross_fitted_signals(docs, span_texts, spans)
        X = sparse.hstack([words, sparse.csr_matrix(signals)]).tocsr()
        self.classifier_ = CalibratedLinear(C=self.C, folds=self.folds, random_state=self.random_state)
        self.classifier_.fit(X, np.asarray(y).astype(int), sample_weight=sample_weight)
        self.oof_scores_ = self.classifier_.oof_scores_
        self.span_threshold_, self.span_gate_ = 0.5, 0.0
        return self

    def _cross_fitted_signals(self, docs, span_texts, spans) -> np.ndarray:
        full = self.lexicon_
        keys = {normalise(t): i for i, t in enumerate(span_texts)}
        fold_of = np.arange(len(span_texts)) % LEXICON_FOLDS
        lexicons = []
        for fold in range(LEXICON_FOLDS):
            rest = [i for i in range(len(span_texts)) if fold_of[i] != fold]
            lexicons.append(_lexicon([span_texts[i] for i in rest], [spans[i] for i in rest], self.lexicon_prior))
        rows = []
        for doc in docs:
            i = keys.get(doc)
            rows.append(lexicon_signals(full if i is None else lexicons[fold_of[i]], doc))
        return np.array(rows, dtype=np.float64).reshape(len(docs), len(SIGNAL_NAMES))

    def fit_spans(self, texts, spans):
        """The lexicon: per word, the share of its occurrences raters marked toxic (`spans[i]`: the offsets of
        text i), smoothed by `lexicon_prior` occurrences that were not."""
        self.lexicon_ = _lexicon(texts, spans, self.lexicon_prior)
        return self

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_single", None)  # the single-text lookup tables are rebuilt on first use
        return state

    def scores(self, texts) -> np.ndarray:
        """Calibrated probability that each text is toxic."""
        texts = list(texts)
        if not texts:
            return np.zeros(0)
        if len(texts) == 1:
            return self.classifier_.calibrate(np.array([self._decision_one(normalise(texts[0]))]))
        docs = normalise_all(texts)
        signals = np.array([lexicon_signals(self.lexicon_, doc) for doc in docs]).reshape(len(docs), -1)
        X = sparse.hstack([self.vectorizer_.transform(docs), sparse.csr_matrix(signals)]).tocsr()
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
        width = len(self.vectorizer_.vocabulary_)
        return (intercept + _tfidf_dot(columns(doc), self.vectorizer_._tfidf, coef[:width])
                + float(np.dot(lexicon_signals(self.lexicon_, doc), coef[width:])))

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
