"""A lean scorer for the default spam pipeline: the same arithmetic without scikit-learn's per-call machinery.

`pipeline.predict_proba` on one short comment spends most of its time in input validation, dataframe detection,
output wrapping and FeatureUnion dispatch, not in the features. `LeanSpamScorer` takes the fitted parts of the
pipeline `moderation.features.build_spam_pipeline` makes (normalise -> words + chars + signals ->
CalibratedLinear) and computes the decision function block by block: each block's counts come from the fitted
vectoriser itself (`moderation.vectorised`), TF-IDF weighting and the dot product with the model's weights are a
few numpy operations. `compile_scorer` only returns it after it reproduces `predict_proba` on probe texts (to
1e-6; scores are served rounded to 4 decimals); any other model is scored by the pipeline.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

PROBES = [
    "", "ok", "The council vote on the new budget was closer than the mayor expected.",
    "Win a FREE iPhone now!!! Click http://bit.ly/free-prize and subscribe to my channel",
    "check out my channel for music videos \ufeff", "Call 555 0100 now for $500 cash, fr33 g1ft",
    "<a href='http://spam.example/x'>click</a> s u b s c r i b e &amp; WIN", "日本語のコメント です",
    "I ride the 42 every day and it is always late, so new routes are welcome news. " * 8,
]
TOLERANCE = 1e-6


def _weighted(counts, tfidf) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, tf-idf value) of every stored entry of a count matrix, as TfidfTransformer weights them."""
    n = counts.shape[0]
    rows = np.repeat(np.arange(n), np.diff(counts.indptr))
    data = counts.data.astype(np.float64)
    if tfidf.sublinear_tf:
        data = np.log(data) + 1.0
    if tfidf.use_idf:
        data = data * tfidf.idf_[counts.indices]
    if tfidf.norm == "l2":
        norms = np.sqrt(np.bincount(rows, data * data, minlength=n))
        data = data / np.where(norms > 0, norms, 1.0)[rows]
    return rows, counts.indices, data


class LeanSpamScorer:
    def __init__(self, pipeline):
        from sklearn.feature_extraction.text import TfidfTransformer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import FunctionTransformer

        from moderation.features import CalibratedLinear
        from moderation.vectorised import BatchTfidfVectorizer, CharNgramHasher

        steps = dict(pipeline.steps)
        if list(steps) != ["normalise", "features", "classifier"]:
            raise ValueError("not the default pipeline structure")
        normalise, features, classifier = steps["normalise"], steps["features"], steps["classifier"]
        if not isinstance(normalise, FunctionTransformer) or normalise.kw_args:
            raise ValueError("unexpected normalise step")
        if not isinstance(classifier, CalibratedLinear) or features.transformer_weights:
            raise ValueError("unexpected classifier or weighted features")
        self.normalise = normalise.func
        self.blocks = []  # (kind, counter, tfidf or None, width)
        for _, block in features.transformer_list:
            if isinstance(block, BatchTfidfVectorizer) and block._batchable() and block.norm in ("l2", None):
                self.blocks.append(("counts", block._counts, block._tfidf, len(block.vocabulary_)))
            elif (isinstance(block, Pipeline) and len(block.steps) == 2
                  and isinstance(block.steps[0][1], CharNgramHasher)
                  and isinstance(block.steps[1][1], TfidfTransformer) and block.steps[1][1].norm in ("l2", None)):
                hasher = block.steps[0][1]
                self.blocks.append(("counts", hasher.transform, block.steps[1][1], hasher.n_features))
            elif isinstance(block, FunctionTransformer) and block.func is not None and not block.kw_args:
                self.blocks.append(("dense", block.func, None, None))
            else:
                raise ValueError(f"unsupported feature block {type(block).__name__}")
        linear = classifier.linear_
        if linear.coef_.shape[0] != 1:
            raise ValueError("not a binary linear model")
        self.coef = np.asarray(linear.coef_[0], dtype=np.float64)
        self.intercept = float(linear.intercept_[0])
        self.calibrate = classifier.calibrate

    def __call__(self, texts) -> np.ndarray:
        docs = self.normalise(list(texts))
        n = len(docs)
        decision = np.full(n, self.intercept)
        if not n:
            return decision
        offset = 0
        for kind, transform, tfidf, width in self.blocks:
            if kind == "counts":
                counts = transform(docs)
                if counts is None:  # a batch the fast counter declines
                    raise ValueError("counter declined the batch")
                rows, columns, values = _weighted(counts, tfidf)
                decision += np.bincount(rows, values * self.coef[offset + columns], minlength=n)
            else:
                block = transform(docs)
                block = block.toarray() if hasattr(block, "toarray") else np.asarray(block)
                width = block.shape[1]
                decision += block @ self.coef[offset:offset + width]
            offset += width
        if offset != len(self.coef):
            raise ValueError(f"features add up to {offset} columns, the model has {len(self.coef)}")
        return self.calibrate(decision)


def compile_scorer(pipeline, probes=PROBES):
    """A LeanSpamScorer for `pipeline` if it reproduces predict_proba on the probes, else None (use the pipeline)."""
    try:
        scorer = LeanSpamScorer(pipeline)
        fast = scorer(probes)
        slow = pipeline.predict_proba(list(probes))[:, 1]
        worst = float(np.max(np.abs(fast - slow)))
    except Exception as exc:  # any surprise in a model's structure means: keep the pipeline
        log.info("lean scorer not used: %s", exc)
        return None
    if not worst <= TOLERANCE:
        log.warning("lean scorer not used: differs from the pipeline by %.3g", worst)
        return None
    return scorer
