"""A lean scorer for the default spam pipeline: the same arithmetic without scikit-learn's per-call machinery.

`pipeline.predict_proba` on one short comment spends most of its time in input validation, dataframe detection,
output wrapping and FeatureUnion dispatch, not in the features. `LeanSpamScorer` takes the fitted parts of the
pipeline `moderation.features.build_spam_pipeline` makes (normalise -> words + chars + signals ->
CalibratedLinear) and computes the decision function block by block: each block's counts come from the fitted
vectoriser itself (`moderation.vectorised`), TF-IDF weighting and the dot product with the model's weights are a
few numpy operations. `compile_scorer` only returns it after it reproduces `predict_proba` on probe texts (to
1e-6; scores are served rounded to 4 decimals), as a batch and one text at a time; any other model is scored by
the pipeline.

One comment (the HTTP service's case) takes its own path, because the batch code's fixed cost (a few hundred
numpy calls) is most of a single comment's time: word n-grams are looked up in dicts, character n-grams come
from a per-worker cache of each word's n-gram columns (character n-grams never cross a space, so a text's are
the union of its words'; the words not cached yet are hashed together by the batch hasher), and the signals of
`moderation.features.signal_features` come from its per-text reference definition (`signal_rows`, equal to it,
tested).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

import numpy as np
from sklearn.utils import murmurhash3_32

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


def _unique_counts(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(columns, return_counts=True)` for a non-empty 1-d integer array, without its wrapper's cost (a
    third of a short comment's TF-IDF time): the same sorted values and int64 counts, tested."""
    ordered = np.sort(columns)
    first = np.empty(len(ordered), dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.empty(len(starts), dtype=np.int64)
    counts[:-1] = starts[1:] - starts[:-1]
    counts[-1] = len(ordered) - starts[-1]
    return ordered[starts], counts


def _tfidf_dot(columns: np.ndarray, tfidf, coef: np.ndarray) -> float:
    """One text's TF-IDF row (its n-gram columns, with repeats) dotted with the model's weights of the block."""
    if not len(columns):
        return 0.0
    columns, counts = _unique_counts(columns)
    data = counts.astype(np.float64)
    if tfidf.sublinear_tf:
        data = np.log(data) + 1.0
    if tfidf.use_idf:
        data = data * tfidf.idf_[columns]
    if tfidf.norm == "l2":
        norm = np.sqrt(np.dot(data, data))
        data = data / (norm if norm > 0 else 1.0)
    return float(np.dot(data, coef[columns]))


class WordColumns:
    """The vocabulary columns of one text's word 1-2-grams (BatchTfidfVectorizer._counts for a single text)."""

    def __init__(self, vectorizer):
        self.preprocess, self.tokenize = vectorizer.preprocessor, vectorizer.build_tokenizer()
        self.token_ids = vectorizer.token_ids_
        self.unigrams = vectorizer.unigram_columns_.tolist()
        self.bigrams = (dict(zip(vectorizer.bigram_keys_.tolist(), vectorizer.bigram_columns_.tolist()))
                        if vectorizer.ngram_range[1] == 2 else {})
        self.size = len(self.token_ids)

    def __call__(self, doc: str) -> np.ndarray:
        get = self.token_ids.get
        ids = [get(token, -1) for token in self.tokenize(self.preprocess(doc))]
        columns = [self.unigrams[i] for i in ids if i >= 0 and self.unigrams[i] >= 0]
        if self.bigrams:
            find, size = self.bigrams.get, self.size
            for a, b in zip(ids, ids[1:]):
                if a >= 0 and b >= 0:
                    column = find(a * size + b)
                    if column is not None:
                        columns.append(column)
        return np.array(columns, dtype=np.int64)


def _hashed_alike(word: str) -> bool:
    """Whether scikit-learn's MurmurHash3 gives a word's n-grams the columns `vectorised.murmurhash3_32` gives them:
    the numpy version hashes n-grams of at most 16 UTF-8 bytes, which five characters outside the astral planes
    always are (a character at U+10000 and above takes 4 bytes)."""
    return all(ord(c) < 0x10000 for c in word)


class CharColumns:
    """The hashed columns of one text's character n-grams, as CharNgramHasher.transform gives them, from a
    bounded per-process cache of each word's columns."""

    MAX_WORDS, MAX_WORD_CHARS = 50_000, 64

    def __init__(self, hasher):
        from moderation.vectorised import _char_hashes

        self.hashes = _char_hashes
        self.low, self.high = hasher.ngram_range
        self.n_features = hasher.n_features
        self.dtype = hasher.dtype
        self.words: OrderedDict = OrderedDict()
        self.lock = threading.Lock()  # gunicorn threads share a worker's cache

    def __call__(self, doc: str) -> np.ndarray:
        words = [w for w in doc.lower().split(" ") if w]  # the hasher's padded words (the text is single-spaced)
        with self.lock:
            found = [self.words.get(w) for w in words]
        missing = list(dict.fromkeys(w for w, f in zip(words, found) if f is None))
        if missing:
            new = self._hash_and_keep(missing)
            found = [new[w] if f is None else f for w, f in zip(words, found)]
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)

    # Up to this many new words are hashed one n-gram at a time with scikit-learn's C MurmurHash3: a comment's one
    # or two unseen words (a name, a typo) cost ~10-40 us so, against ~150 us of numpy calls for the batch path.
    FEW_WORDS = 8

    def _hash_and_keep(self, missing: list[str]) -> dict:
        """Each word's character n-gram columns, hashed together; kept in the cache (bounded, oldest out)."""
        if len(missing) <= self.FEW_WORDS and all(_hashed_alike(w) for w in missing):
            new = {w: self._word_columns(w) for w in missing}
        else:
            rows, columns = self.hashes(missing, self.low, self.high, self.n_features)
            order = np.argsort(rows, kind="stable")
            parts = np.split(columns[order], np.cumsum(np.bincount(rows, minlength=len(missing)))[:-1])
            new = dict(zip(missing, parts))
        with self.lock:
            for word, part in new.items():
                if len(word) <= self.MAX_WORD_CHARS:
                    self.words[word] = part
            while len(self.words) > self.MAX_WORDS:
                self.words.popitem(last=False)
        return new

    def _word_columns(self, word: str) -> np.ndarray:
        """One word's columns, in the batch path's order (n-gram length, then position): the n-grams of
        scikit-learn's `char_wb` analyser of the padded word, hashed as `vectorised._char_hashes` hashes them."""
        padded, n_features = f" {word.lower()} ", self.n_features
        columns = []
        for n in range(self.low, self.high + 1):
            last = max(len(padded) - n, 0)
            columns.extend(abs(murmurhash3_32(padded[i:i + n], 0)) % n_features for i in range(last + 1))
            if last == 0:  # a padded word no longer than n: counted once, and no longer n-grams
                break
        return np.array(columns, dtype=np.int64)

    def counts(self, docs: list[str]):
        """`hasher.transform(docs)` (the same matrix) for a batch: each distinct word's n-gram columns come from
        the cache, only the words not cached yet are hashed (together), so a batch hashes its new words instead
        of its every n-gram; rows are built in order, so no coordinate sort is needed."""
        from scipy import sparse

        texts = [[w for w in doc.lower().split(" ") if w] for doc in docs]
        distinct = dict.fromkeys(w for words in texts for w in words)
        with self.lock:
            get = self.words.get
            found = {w: get(w) for w in distinct}
        missing = [w for w, f in found.items() if f is None]
        if missing:
            found.update(self._hash_and_keep(missing))
        parts = [found[w] for words in texts for w in words]
        sizes = np.fromiter((len(p) for p in parts), np.int64, len(parts))
        per_text = np.fromiter((len(words) for words in texts), np.int64, len(texts))
        ends = np.cumsum(sizes)
        word_ends = np.cumsum(per_text)
        indptr = np.zeros(len(texts) + 1, np.int64)
        indptr[1:] = np.where(word_ends > 0, ends[np.maximum(word_ends - 1, 0)] if len(ends) else 0, 0)
        columns = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        index_dtype = np.int32 if len(columns) < 2 ** 31 and self.n_features < 2 ** 31 else np.int64
        matrix = sparse.csr_matrix((np.ones(len(columns), dtype=self.dtype), columns.astype(index_dtype),
                                    indptr.astype(index_dtype)), shape=(len(texts), self.n_features))
        matrix.sum_duplicates()
        return matrix


class LeanSpamScorer:
    def __init__(self, pipeline):
        from sklearn.feature_extraction.text import TfidfTransformer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import FunctionTransformer

        from moderation.features import CalibratedLinear, signal_features, signal_rows
        from moderation.features import signal_features_per_words, signal_rows_per_words
        from moderation.promotion import promotion_rows, promotion_signals
        from moderation.vectorised import BatchTfidfVectorizer, CharNgramHasher
        from moderation.webspam import WebSpamSignals

        steps = dict(pipeline.steps)
        if list(steps) != ["normalise", "features", "classifier"]:
            raise ValueError("not the default pipeline structure")
        normalise, features, classifier = steps["normalise"], steps["features"], steps["classifier"]
        if not isinstance(normalise, FunctionTransformer) or normalise.kw_args:
            raise ValueError("unexpected normalise step")
        if not isinstance(classifier, CalibratedLinear) or features.transformer_weights:
            raise ValueError("unexpected classifier or weighted features")
        self.normalise = normalise.func
        # Dense blocks with a per-text definition equal to the batch one (tested): one text skips the batch code.
        single_text = {signal_features: signal_rows, promotion_signals: promotion_rows,
                       signal_features_per_words: signal_rows_per_words}
        self.blocks = []  # (kind, counter, tfidf or None, width)
        self.single = []  # per block: the same for one text (columns with repeats, or a dense row)
        for _, block in features.transformer_list:
            if isinstance(block, BatchTfidfVectorizer) and block._batchable() and block.norm in ("l2", None):
                self.blocks.append(("counts", block._counts, block._tfidf, len(block.vocabulary_)))
                self.single.append(WordColumns(block))
            elif (isinstance(block, Pipeline) and len(block.steps) == 2
                  and isinstance(block.steps[0][1], CharNgramHasher)
                  and isinstance(block.steps[1][1], TfidfTransformer) and block.steps[1][1].norm in ("l2", None)):
                hasher = block.steps[0][1]
                chars = CharColumns(hasher)  # its word cache serves batches too (CharColumns.counts)
                self.blocks.append(("counts", chars.counts, block.steps[1][1], hasher.n_features))
                self.single.append(chars)
            elif isinstance(block, WebSpamSignals):  # one text at a time already
                self.blocks.append(("dense", block.rows, None, None))
                self.single.append(block.rows)
            elif isinstance(block, FunctionTransformer) and block.func is not None and not block.kw_args:
                self.blocks.append(("dense", block.func, None, None))
                self.single.append(single_text.get(block.func, block.func))
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
        if n == 1:
            return self.calibrate(np.array([self.decision_one(docs[0])]))
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

    def decision_one(self, doc: str) -> float:
        """The linear score of one normalised text, without the batch machinery."""
        decision, offset = self.intercept, 0
        for (kind, _, tfidf, width), single in zip(self.blocks, self.single):
            if kind == "counts":
                decision += _tfidf_dot(single(doc), tfidf, self.coef[offset:offset + width])
            else:
                row = single([doc])
                row = (row.toarray() if hasattr(row, "toarray") else np.asarray(row)).ravel()
                width = len(row)
                decision += float(row @ self.coef[offset:offset + width])
            offset += width
        if offset != len(self.coef):
            raise ValueError(f"features add up to {offset} columns, the model has {len(self.coef)}")
        return decision


def compile_scorer(pipeline, probes=PROBES):
    """A LeanSpamScorer for `pipeline` if it reproduces predict_proba on the probes, else None (use the pipeline)."""
    try:
        scorer = LeanSpamScorer(pipeline)
        fast = scorer(probes)
        one_by_one = np.array([scorer([p])[0] for p in probes])
        slow = pipeline.predict_proba(list(probes))[:, 1]
        worst = max(float(np.max(np.abs(fast - slow))), float(np.max(np.abs(one_by_one - slow))))
    except Exception as exc:  # any surprise in a model's structure means: keep the pipeline
        log.info("lean scorer not used: %s", exc)
        return None
    if not worst <= TOLERANCE:
        log.warning("lean scorer not used: differs from the pipeline by %.3g", worst)
        return None
    return scorer
