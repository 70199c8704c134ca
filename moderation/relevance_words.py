"""The words relevance counts: a text's tokens, their stems, and the hashed count vectors built from them.

Shared below the relevance model (moderation/relevance.py), the single-comment path (moderation/relevance_one.py)
and the word-vector features (moderation/semantic.py), which all read a comment's words the same way.
"""

from __future__ import annotations

import re

import numpy as np
import scipy.sparse as sp
from nltk.stem.snowball import SnowballStemmer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, HashingVectorizer
from sklearn.utils import murmurhash3_32

from moderation.text import TextMemo, normalise

N_FEATURES = 2 ** 18
SCORED_CHARS = 5000  # relevance reads the first characters of a comment only

_TOKEN = re.compile(r"[^\W_]{2,}")  # words of two or more letters or digits; "don't" gives "don" (a stop word)
_STOP = frozenset(ENGLISH_STOP_WORDS) | {"don", "didn", "doesn", "isn", "wasn", "just", "like", "im", "ll", "ve"}
_STEMMER = SnowballStemmer("english")
_STEMS: dict[str, str] = {w: "" for w in _STOP}  # word -> stem, "" for a stop word
_MAX_STEMS = 300_000


def stem(word: str) -> str:
    """The word's stem ("" for a stop word), cached."""
    cached = _STEMS.get(word)
    if cached is None:
        if len(_STEMS) > _MAX_STEMS:  # hostile input cannot grow the cache without bound
            _STEMS.clear()
            _STEMS.update((w, "") for w in _STOP)
        cached = _STEMS[word] = _STEMMER.stem(word) if len(word) < 40 else word
    return cached


def content_words(text: str) -> list[str]:
    """The stemmed content words of a text (normalised, case-folded, stop words and 1-letter words dropped)."""
    get, out = _STEMS.get, []
    for word in tokens(text):  # _TOKEN.findall(normalise(text[:SCORED_CHARS]).casefold()), memoised
        stemmed = get(word)
        if stemmed is None:
            stemmed = stem(word)
        if stemmed:
            out.append(stemmed)
    return out


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(normalise(text[:SCORED_CHARS]).casefold())


# The words of a text, shared with relevance.content_words (the same tokens, then stemmed): read-only lists.
tokens = TextMemo(_tokens)


_HASHER = HashingVectorizer(analyzer=content_words, n_features=N_FEATURES, alternate_sign=False, norm=None,
                            dtype=np.float64)


def count_vectors(texts: list[str]) -> sp.csr_matrix:
    """Hashed content-word counts, one row per text (sorted indices)."""
    if len(texts) == 1:
        return _count_vector(texts[0])
    matrix = _HASHER.transform(texts)
    matrix.sort_indices()
    return matrix


_COLUMNS: dict[str, int] = {}  # stem -> hashed column, bounded like _STEMS


def _count_vector(text: str) -> sp.csr_matrix:
    """`_HASHER.transform([text])` (the same matrix, tested) without its per-call overhead: one comment is the
    service's case, and each request vectorises a few (the comment, new thread comments)."""
    counts: dict[int, int] = {}
    for word in content_words(text):
        column = _COLUMNS.get(word)
        if column is None:
            if len(_COLUMNS) > _MAX_STEMS:
                _COLUMNS.clear()
            h = murmurhash3_32(word, seed=0)  # FeatureHasher's hash and column, its abs(INT_MIN) case included
            column = _COLUMNS[word] = (2147483647 - (N_FEATURES - 1)) % N_FEATURES if h == -2147483648 \
                else abs(h) % N_FEATURES
        counts[column] = counts.get(column, 0) + 1
    columns = sorted(counts)
    return sp.csr_matrix((np.array([counts[c] for c in columns], dtype=np.float64),
                          np.array(columns, dtype=np.int32), np.array([0, len(columns)], dtype=np.int32)),
                         shape=(1, N_FEATURES))


def _column(word: str) -> int:
    """The hashed column of a stem, as `_count_vector` computes it (sharing its bounded cache)."""
    column = _COLUMNS.get(word)
    if column is None:
        if len(_COLUMNS) > _MAX_STEMS:
            _COLUMNS.clear()
        h = murmurhash3_32(word, seed=0)
        column = _COLUMNS[word] = (2147483647 - (N_FEATURES - 1)) % N_FEATURES if h == -2147483648 \
            else abs(h) % N_FEATURES
    return column


def comment_words(text: str) -> tuple[list[int], list[float], list[str]]:
    """(sorted hashed columns, their counts, the raw content words) of a comment, from one tokenisation: the
    columns and counts of `relevance.count_vectors([text])`, the words of `semantic.raw_words(text, _STOP)`."""
    tokens = _TOKEN.findall(normalise(text[:SCORED_CHARS]).casefold())
    get, counts, raw = _STEMS.get, {}, []
    for word in tokens:
        if word not in _STOP:
            raw.append(word)
        stemmed = get(word)
        if stemmed is None:
            stemmed = stem(word)
        if stemmed:
            column = _column(stemmed)
            counts[column] = counts.get(column, 0) + 1
    columns = sorted(counts)
    return columns, [float(counts[c]) for c in columns], raw


def thread_plus(thread, text: str):
    """`sp.csr_matrix(thread + count_vectors([text]))` (the same canonical matrix, tested) for a canonical one-row
    thread: a merge of sorted columns, without scipy's sparse addition and the comment's own sparse vector."""
    columns, counts, _ = comment_words(text)
    keys, data = thread.indices, thread.data
    if not columns or not thread.has_canonical_format:
        return sp.csr_matrix(thread + count_vectors([text]))
    wanted, add = np.array(columns, keys.dtype), np.array(counts)
    pos = np.searchsorted(keys, wanted)
    hit = keys.take(pos, mode="clip") == wanted if len(keys) else np.zeros(len(wanted), bool)
    data = data.astype(np.float64)  # a copy: contexts are shared
    if hit.all():
        data[pos] += add
        indices = keys
    else:
        data[pos[hit]] += add[hit]
        miss = ~hit
        indices = np.concatenate([keys, wanted[miss]])
        order = np.argsort(indices, kind="stable")
        indices, data = indices[order], np.concatenate([data, add[miss]])[order]
    return sp.csr_matrix((data, indices, np.array([0, len(indices)], keys.dtype)), shape=(1, N_FEATURES), copy=False)
