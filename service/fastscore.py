"""A lean scorer for the default spam pipeline, for serving one comment at a time.

`pipeline.predict_proba` on one short comment spends most of its time in scikit-learn's per-call machinery
(input validation, dataframe detection, output wrapping, joblib dispatch in FeatureUnion), not in the arithmetic.
`FastSpamScorer` does the same arithmetic with the fitted parts of the pipeline: the vectorisers' own analyzers
and vocabularies, their idf weights, the signal features, the logistic regression's coefficients and the sigmoid
calibrator. It is built only for the exact structure `moderation.features.build_spam_pipeline` makes, and only
used after it reproduces `predict_proba` on probe texts (to 1e-6; served scores are rounded to 4 decimals); any other model is scored by the pipeline
itself. Nothing about the model changes: same artifact, same scores.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import sparse
from scipy.special import expit

log = logging.getLogger(__name__)

PROBES = [
    "", "ok", "The council vote on the new budget was closer than the mayor expected.",
    "Win a FREE iPhone now!!! Click http://bit.ly/free-prize and subscribe to my channel",
    "check out my channel for music videos \ufeff", "Call 555 0100 now for $500 cash, fr33 g1ft",
    "<a href='http://spam.example/x'>click</a> s u b s c r i b e &amp; WIN", "日本語のコメント です",
    "I ride the 42 every day and it is always late, so new routes are welcome news. " * 8,
]
TOLERANCE = 1e-6  # float32 sums in another order differ by ~1e-8; scores are served to 4 decimals


class _Tfidf:
    """CountVectorizer counting + TfidfTransformer weighting of one fitted TfidfVectorizer."""

    def __init__(self, vectorizer):
        if vectorizer.binary or vectorizer.norm not in ("l2", None):
            raise ValueError("unsupported vectorizer settings")
        self.analyze = vectorizer.build_analyzer()
        self.vocabulary = vectorizer.vocabulary_
        self.size = len(self.vocabulary)
        self.dtype = vectorizer.dtype
        self.sublinear = vectorizer.sublinear_tf
        self.idf = np.asarray(vectorizer.idf_, dtype=self.dtype) if vectorizer.use_idf else None
        self.norm = vectorizer.norm

    def rows(self, docs):
        """Per document: (column indices, tf-idf weights), as the vectoriser's transform would give them."""
        vocabulary = self.vocabulary
        for doc in docs:
            counts: dict[int, int] = {}
            for feature in self.analyze(doc):
                j = vocabulary.get(feature)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            columns = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
            values = np.fromiter(counts.values(), dtype=self.dtype, count=len(counts))
            if self.sublinear:
                np.log(values, values)
                values += 1
            if self.idf is not None:
                values *= self.idf[columns]
            if self.norm == "l2" and len(values):
                norm = np.sqrt(np.dot(values, values))
                if norm > 0:
                    values /= norm
            yield columns, values


class FastSpamScorer:
    def __init__(self, pipeline):
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import FunctionTransformer

        steps = dict(pipeline.steps)
        if list(steps) != ["normalise", "features", "classifier"]:
            raise ValueError("not the default pipeline structure")
        normalise, features, classifier = steps["normalise"], steps["features"], steps["classifier"]
        if not isinstance(normalise, FunctionTransformer) or normalise.inverse_func is not None:
            raise ValueError("unexpected normalise step")
        self.normalise = normalise.func
        if features.transformer_weights:
            raise ValueError("weighted feature union")
        self.parts = []
        for _, part in features.transformer_list:
            if isinstance(part, TfidfVectorizer):
                self.parts.append(_Tfidf(part))
            elif isinstance(part, FunctionTransformer) and part.func is not None and not part.kw_args:
                self.parts.append(part.func)
            else:
                raise ValueError(f"unsupported feature step {type(part).__name__}")
        if not isinstance(classifier, CalibratedClassifierCV) or len(classifier.calibrated_classifiers_) != 1:
            raise ValueError("not a single calibrated classifier")
        calibrated = classifier.calibrated_classifiers_[0]
        if calibrated.method != "sigmoid" or len(calibrated.calibrators) != 1 or len(calibrated.classes) != 2:
            raise ValueError("not a binary sigmoid calibration")
        estimator = calibrated.estimator
        if not isinstance(estimator, LogisticRegression) or estimator.coef_.shape[0] != 1:
            raise ValueError("not a binary logistic regression")
        if list(estimator.classes_) != list(calibrated.classes) or list(classifier.classes_) != [0, 1]:
            raise ValueError("unexpected classes")
        self.coef = np.asarray(estimator.coef_[0], dtype=np.float64)
        self.intercept = float(estimator.intercept_[0])
        self.a, self.b = float(calibrated.calibrators[0].a_), float(calibrated.calibrators[0].b_)

    def __call__(self, texts) -> np.ndarray:
        """The decision function, feature block by feature block, without building the feature matrix."""
        docs = self.normalise(list(texts))
        decision = np.full(len(docs), self.intercept)
        offset = 0
        for part in self.parts:
            if isinstance(part, _Tfidf):
                weights = self.coef[offset:offset + part.size]
                for i, (columns, values) in enumerate(part.rows(docs)):
                    decision[i] += np.dot(values.astype(np.float64), weights[columns])
                offset += part.size
            else:
                block = part(docs)
                block = block.toarray() if sparse.issparse(block) else np.asarray(block)
                decision += block @ self.coef[offset:offset + block.shape[1]]
                offset += block.shape[1]
        if offset != len(self.coef):
            raise ValueError(f"features add up to {offset} columns, the model has {len(self.coef)}")
        return expit(-(self.a * decision + self.b))


def compile_scorer(pipeline, probes=PROBES):
    """A FastSpamScorer for `pipeline` if it reproduces predict_proba on the probes, else None (use the pipeline)."""
    try:
        scorer = FastSpamScorer(pipeline)
        fast = scorer(probes)
        slow = pipeline.predict_proba(list(probes))[:, 1]
        worst = float(np.max(np.abs(fast - slow)))
    except Exception as exc:  # any surprise in a model's structure means: keep the pipeline
        log.info("fast scorer not used: %s", exc)
        return None
    if not worst <= TOLERANCE:
        log.warning("fast scorer not used: differs from the pipeline by %.3g", worst)
        return None
    return scorer
