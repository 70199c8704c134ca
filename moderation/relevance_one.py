"""One comment against one context: `RelevanceModel.scores` for the service's case, without the batch machinery.

A comment has 5-30 content words. The batch path (`RelevanceModel.features`, `semantic.semantic_features`)
spends a request's time in ~150 numpy and scipy calls on arrays of that size (each costs more than its
arithmetic), plus building the comment's sparse count vector. Here the per-word work is plain Python on lists,
and numpy is called only where its result has to be bit-identical and Python's could differ in the last bit
(np.log, np.exp, the float32 word-vector products, the 50-dimensional centroid sums), each on arrays shaped as
in the batch path.

The numbers are the batch path's, bit for bit (tests/test_relevance_one.py compares both over real comments,
articles and threads): every sum replicates numpy's pairwise summation order (`row_sum`), every elementwise
operation is done in the batch path's order, and the context-level sums come from the same cached
`RelevanceModel._context_sums`.

The comment is tokenised once: the same words give the stemmed hashed counts and the raw words of the
semantic features.
"""

from __future__ import annotations

import math
import weakref

import numpy as np

from moderation.relevance import FEATURE_NAMES, MU_THREAD, _linear, _stack, is_question, is_short
from moderation.relevance_words import _column, comment_words, thread_plus  # noqa: F401 (imported from here too)
from moderation.semantic import NEUTRAL, SEMANTIC_FEATURES, TOP_K, _cached_representation, similarities

_SEMANTIC_START = FEATURE_NAMES.index(SEMANTIC_FEATURES[0])
_QUESTION = FEATURE_NAMES.index("question")
_SHORT = FEATURE_NAMES.index("short")
_THREAD_COMMENTS = FEATURE_NAMES.index("thread_comments")


# --- numpy's summation, in Python ------------------------------------------------------------------------------

def _pairwise(a: list, lo: int, n: int) -> float:
    """numpy's pairwise sum of a[lo:lo + n] (`@TYPE@_pairwise_sum`, numpy/_core/src/umath/loops_utils.h.src):
    sequential below 8 values, 8 interleaved accumulators up to 128, halves beyond."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    if n <= 128:
        r0, r1, r2, r3, r4, r5, r6, r7 = a[lo:lo + 8]
        i, end = lo + 8, lo + n - (n % 8)
        while i < end:
            r0 += a[i]
            r1 += a[i + 1]
            r2 += a[i + 2]
            r3 += a[i + 3]
            r4 += a[i + 4]
            r5 += a[i + 5]
            r6 += a[i + 6]
            r7 += a[i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < lo + n:
            res += a[i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise(a, lo, n2) + _pairwise(a, lo + n2, n - n2)


def row_sum(values: list) -> float:
    """`relevance._row_sums` of one row: np.add.reduceat(values, [0]) - the first value plus the pairwise sum of
    the rest - and 0.0 for no values."""
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return values[0] + _pairwise(values, 1, len(values) - 1)


def _divide(a: float, b: float) -> float:
    """a / b as numpy divides (inf or nan for a zero divisor, where Python raises)."""
    if b == 0.0:
        return math.nan if a == 0.0 or a != a else math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


# --- the comment's words -----------------------------------------------------------------------------------------

# --- per-model values, per context values ------------------------------------------------------------------------

class _ModelValues:
    """Per-column word statistics of one model as Python floats (computed by numpy, so bit-identical), and its
    combiners folded to (w, b)."""

    MAX_COLUMNS = 32_768  # ~230 bytes an entry: at most ~7.5 MB a worker; emptied when full

    def __init__(self, model):
        self.columns: dict[int, tuple] = {}
        self.combiner = model.combiner
        self.linear = {name: _linear(combiner) for name, combiner in (model.combiner or {}).items()}
        self.idf_max = model._idf_max()
        self.floor_log2: dict[float, float] = {}
        self.log1p: dict[float, float] = {}

    def stats(self, model, columns: list[int]) -> list[tuple]:
        """(idf, log background, background probability, generic) of each column."""
        get = self.columns.get
        found = [get(c) for c in columns]
        if None not in found:
            return found
        missing = [c for c, s in zip(columns, found) if s is None]
        if len(self.columns) > self.MAX_COLUMNS:  # bounded: hostile text cannot grow it without end
            self.columns = {}
        at = np.array(missing, np.int64)
        bg = model.log_background[at].astype(np.float64)
        generic = getattr(model, "generic", None)
        g = generic[at].astype(np.float64) if generic is not None else np.zeros(len(at))
        new = {c: s for c, s in zip(missing, zip(model.idf[at].astype(np.float64).tolist(), bg.tolist(),
                                                 np.exp(bg).tolist(), g.tolist()))}
        self.columns.update(new)  # another thread may have replaced the dict: the values are the same
        return [s if s is not None else new[c] for c, s in zip(columns, found)]

    def floor_log2_of(self, value: float) -> float:
        """np.floor(np.log2(value + 1)) of the batch path, by numpy, kept per value (sizes repeat)."""
        out = self.floor_log2.get(value)
        if out is None:
            if len(self.floor_log2) > 10_000:
                self.floor_log2.clear()
            out = self.floor_log2[value] = float(np.floor(np.log2(np.array([value]) + 1))[0])
        return out

    def log1p_of(self, value: float) -> float:
        out = self.log1p.get(value)
        if out is None:
            out = self.log1p[value] = float(np.log1p(np.array([value]))[0])
        return out


_VALUES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _model_values(model) -> _ModelValues:
    values = _VALUES.get(model)
    if values is None or values.combiner is not model.combiner:
        values = _ModelValues(model)
        _VALUES[model] = values
    return values


def _values_at(matrices: tuple, columns: list[int]) -> list[list[float]]:
    """Each one-row canonical matrix's values at the given sorted columns (0 where it has none): a searchsorted
    per matrix. Dicts of the article's counts would be faster by ~2 us a lookup but cost ~100 bytes an entry, on
    each of the up to 4,096 contexts a worker caches; a thread changes with every accepted comment anyway."""
    wanted, out = None, []
    for matrix in matrices:
        keys = matrix.indices
        if len(keys) == 0:
            out.append([0.0] * len(columns))
            continue
        if wanted is None or wanted.dtype != keys.dtype:
            wanted = np.array(columns, keys.dtype)
        pos = np.searchsorted(keys, wanted)
        np.minimum(pos, len(keys) - 1, out=pos)
        out.append(np.where(keys[pos] == wanted, matrix.data[pos], 0.0).tolist())
    return out


# --- the features --------------------------------------------------------------------------------------------------

def features_one(model, text: str, context, words: tuple | None = None) -> np.ndarray:
    """The 1 x len(FEATURE_NAMES) feature row of `text` against `context`: what `model.scores` builds for it
    (features, fill_text_features, fill_semantic), bit for bit."""
    columns, cnt, raw = comment_words(text) if words is None else words
    values = _model_values(model)
    row = [0.0] * len(FEATURE_NAMES)
    art, title, thread = _stack([context.article]), _stack([context.title]), _stack([context.thread])
    sums = model._context_sums(context, art, title, thread)
    art_norm, title_norm = math.sqrt(float(sums[0][0])), math.sqrt(float(sums[1][0]))
    art_total, thread_total = float(sums[2][0]), float(sums[4][0])
    thread_norm = math.sqrt(float(sums[3][0]))
    thread_n = float(context.thread_comments)
    m = len(columns)
    if m:
        stats = values.stats(model, columns)
        w = [s[0] for s in stats]
        bg = [s[1] for s in stats]
        p_bg = [s[2] for s in stats]
        g = [s[3] for s in stats]
        a, t_title, t = _values_at((art, title, thread), columns)
        own = [c * wi for c, wi in zip(cnt, w)]
        comment_norm = math.sqrt(row_sum([o * o for o in own]))
        words = float(m)

        def cosine(vals, norm):
            dot = row_sum([(o * v) * wi for o, v, wi in zip(own, vals, w)])
            denominator = comment_norm * norm
            return _divide(dot, denominator) if denominator > 0 else 0.0

        def llr_terms(vals, total, mu):
            ratio = np.array([(v + mu * p) / (total + mu) for v, p in zip(vals, p_bg)])
            return [x - b for x, b in zip(np.log(ratio).tolist(), bg)]

        llr_a = llr_terms(a, art_total, model.mu_article)
        llr_t = llr_terms(t, thread_total, MU_THREAD)
        llr_both = llr_terms([x + y for x, y in zip(a, t)], art_total + thread_total, MU_THREAD)
        support = model.article_support(context)
        if support is not None:  # the article's words it is not about do not support a comment's (SUPPORT_WORDS)
            held = np.isin(np.array(columns, support.dtype), support).tolist()
            matched = [(x > 0 and h) or y > 0 for x, y, h in zip(a, t, held)]
        else:
            matched = [x > 0 or y > 0 for x, y in zip(a, t)]
        w_sum = row_sum(w)
        unmatched_w = [0.0 if hit else wi for hit, wi in zip(matched, w)]
        unmatched_w_sum = row_sum(unmatched_w)
        spec = [wi * (1.0 - gi) for wi, gi in zip(w, g)]
        unsupported = [0.0 if hit else s for hit, s in zip(matched, spec)]
        max_unsupported = max(0.0, *unsupported)
        spec_sum = row_sum(spec)
        unsupported_share = _divide(row_sum(unsupported), spec_sum) if spec_sum > 0 else 0.0
        row[0] = cosine(a, art_norm)
        row[1] = cosine(t_title, title_norm)
        row[2] = cosine(t, thread_norm)
        row[3] = _divide(row_sum(llr_a), words)
        row[4] = _divide(row_sum(llr_t), words)
        row[5] = row_sum([1.0 if x > 0 else 0.0 for x in a]) / words
        row[6] = row_sum([1.0 if x > 0 else 0.0 for x in t]) / words
        row[7] = row_sum([1.0 if x > 1 else 0.0 for x in t]) / words
        row[8] = values.log1p_of(words)
        row[9] = _divide(w_sum, words)
        row[10] = max(0.0, *(wi for hit, wi in zip(matched, w) if hit)) if any(matched) else 0.0
        row[14] = row_sum(llr_a)
        row[15] = row_sum(llr_t)
        row[16] = _divide(row_sum(llr_both), words)
        row[17] = row_sum([x if x > 0.0 else 0.0 for x in llr_both])
        row[18] = _divide(unmatched_w_sum, w_sum)
        row[19] = unmatched_w_sum
        row[20] = _divide(row_sum(g), words)
        row[21] = unsupported_share
        row[22] = max_unsupported
        row[23] = unsupported_share * max_unsupported / values.idf_max
    else:
        row[8] = values.log1p_of(0.0)
    row[12] = values.floor_log2_of(thread_n)
    row[13] = values.floor_log2_of(art_total)
    row[_QUESTION] = float(is_question(text))
    row[_SHORT] = float(is_short(text))
    vectors = getattr(model, "vectors", None)
    if vectors is not None:
        row[_SEMANTIC_START:_SEMANTIC_START + len(SEMANTIC_FEATURES)] = semantic_one(model, vectors, raw, context)
    return np.array([row], dtype=np.float64)


def semantic_one(model, vectors, raw: list[str], context) -> list[float]:
    """`semantic.semantic_features` of one comment (its raw content words) against one context, bit for bit."""
    out = [*NEUTRAL, 0.0, 0.0, 0.0]
    distinct = dict.fromkeys(raw)
    get = vectors.index.get
    ids = [j for j in map(get, distinct) if j is not None]
    if distinct:
        out[4] = len(ids) / len(distinct)
    if not ids:
        return out
    rep = _cached_representation(model, vectors, context)
    if rep is None:
        return out
    unit, centroid = rep
    at = np.array(ids, np.int64)
    word_vectors = vectors._unit[at]
    sims = similarities(word_vectors, unit)
    k = min(TOP_K, sims.shape[1])
    # .mean(axis=1) as numpy's _mean computes it (a float32 sum, divided by an intp count), without its wrapper
    related = np.add.reduce(np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:], 1)
    np.true_divide(related, np.intp(k), out=related, casting="unsafe")
    related = related.astype(np.float64).tolist()
    columns = vectors.columns[at].tolist()
    stats = _model_values(model).stats(model, [max(c, 0) for c in columns])
    spec = [max(s[0] * (1.0 - s[3]) if c >= 0 else 0.0, 1e-3) for c, s in zip(columns, stats)]
    spec_sum = row_sum(spec)
    idf_max = _model_values(model).idf_max or 1.0
    out[0] = row_sum([s * r for s, r in zip(spec, related)]) / spec_sum
    top = max(spec)
    out[1] = min(r if s >= 0.5 * top else math.inf for s, r in zip(spec, related))
    out[2] = max(s / idf_max * (1.0 - r) for s, r in zip(spec, related))
    baseline = getattr(model, "word_baseline", None)
    if baseline is not None:
        excess = [r - b for r, b in zip(related, baseline[at].astype(np.float64).tolist())]
        out[5] = row_sum([s * e for s, e in zip(spec, excess)]) / spec_sum
        out[6] = max(excess)
    summed = np.add.reduceat(word_vectors * np.array(spec)[:, None], np.zeros(1, np.intp), axis=0)
    norm = float(np.sqrt(np.add.reduce(summed * summed, axis=1))[0])  # np.linalg.norm(summed, axis=1), inline
    dots = np.einsum("ij,ij->i", summed, centroid[None, :].astype(np.float64))
    out[3] = float(dots[0]) / norm if norm > 0 else 0.0
    return out


def score_one(model, text: str, context) -> float:
    """P(off-topic) of one comment against one context: `model.scores([text], [context], [0])[0]`, bit for bit."""
    x = features_one(model, text, context)
    if x[0, _SHORT] > 0:
        regime = "short"
    else:
        regime = "thread" if x[0, _THREAD_COMMENTS] > 0 else "article"
    combiner = model.combiner.get(regime)
    if combiner is None:
        return 0.0
    weights = _model_values(model).linear.get(regime)
    if weights is None:
        return float(combiner.predict_proba(x)[:, 1][0])
    return float((1.0 / (1.0 + np.exp(-(x @ weights[0] + weights[1]))))[0])
