"""Feature extraction vectorised over a whole batch of texts (numpy instead of a Python loop per text).

The spam pipeline spent most of its time in per-text Python: scikit-learn's `char_wb` n-gram generator and one
call per regex per text. Here a batch is concatenated once into one string / one array of code points:

- `CharNgramHasher`: hashed character n-grams "within padded words" (the `char_wb` analyzer of scikit-learn:
  each word is padded with one space on each side and cut into n-grams), computed for every position of the
  batch at once with a rolling polynomial hash in uint64 and a multiplicative mix down to `n_features` columns.
  Documented difference from `char_wb`: a padded word shorter than n yields no n-gram of length n (scikit-learn
  emits the whole padded word once more instead); hash values differ from scikit-learn's murmurhash, so a model
  must be trained with this class (it is: `moderation.features.build_spam_pipeline`).
- `signal_counts`: each signal regex runs once over the joined batch; match starts map to rows with
  `np.searchsorted`. The separator between texts can be part of no match of any pattern, so the counts equal
  per-text `findall` counts (tested).

Every class is defined at module level, `__init__` only stores parameters and `fit` learns nothing, so fitted
pipelines pickle and clone like stock scikit-learn ones.
"""

from __future__ import annotations

import re
from itertools import chain, repeat

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer

# Between two texts: a space ends every \S+ run and every optional-separator pattern, and a NUL followed by a
# newline starts no word, digit, letter or repeated-character match.
SEPARATOR = " \x00\n"
_SPACE = 32


def text_starts(lengths: np.ndarray, separator_length: int) -> np.ndarray:
    """Where each text starts in separator + separator.join(texts), from the texts' lengths."""
    starts = np.empty(len(lengths), dtype=np.int64)
    if len(lengths):
        starts[0] = separator_length
        np.cumsum(lengths[:-1] + separator_length, out=starts[1:])
        starts[1:] += separator_length
    return starts


def codepoints(texts: list[str], separator: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The texts joined by `separator` (and preceded by it) as one uint32 array of code points, each text's
    start in it and each text's length."""
    joined = separator + separator.join(texts)
    points = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    return points, text_starts(lengths, len(separator)), lengths


_C1, _C2 = np.uint32(0xCC9E2D51), np.uint32(0x1B873593)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def murmurhash3_32(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """MurmurHash3 (x86, 32 bits, seed 0) of the byte strings data[starts[i]:starts[i] + lengths[i]], all at once.

    The hash scikit-learn's HashingVectorizer uses (`sklearn.utils.murmurhash3_32`), for strings of at most 16
    bytes; `data` must have 16 bytes of padding after the last string.
    """
    data = data.astype(np.uint32)
    h = np.zeros(len(starts), dtype=np.uint32)
    lengths = lengths.astype(np.int64)
    with np.errstate(over="ignore"):
        for block in range(4):
            at = starts + 4 * block
            full = lengths >= 4 * block + 4
            if not full.any():
                break
            k = data[at] | (data[at + 1] << np.uint32(8)) | (data[at + 2] << np.uint32(16)) | (data[at + 3] << np.uint32(24))
            k = _rotl(k * _C1, 15) * _C2
            mixed = _rotl(h ^ k, 13) * np.uint32(5) + np.uint32(0xE6546B64)
            h = np.where(full, mixed, h)
        rest = lengths & 3
        tail = starts + (lengths & ~3)
        k = np.where(rest >= 3, data[tail + 2] << np.uint32(16), 0).astype(np.uint32)
        k ^= np.where(rest >= 2, data[tail + 1] << np.uint32(8), 0).astype(np.uint32)
        k ^= np.where(rest >= 1, data[tail], 0).astype(np.uint32)
        k = _rotl(k * _C1, 15) * _C2
        h = np.where(rest > 0, h ^ k, h)
        h ^= lengths.astype(np.uint32)
        h ^= h >> np.uint32(16)
        h *= np.uint32(0x85EBCA6B)
        h ^= h >> np.uint32(13)
        h *= np.uint32(0xC2B2AE35)
        h ^= h >> np.uint32(16)
    return h


def _char_hashes(texts: list[str], min_n: int, max_n: int, n_features: int):
    """(row of each n-gram, column of each n-gram) for all n-grams of all texts (lower-cased, padded words).

    Columns are scikit-learn's: abs(murmurhash3_32(utf-8 of the n-gram) as int32) % n_features.
    """
    # Each text becomes " word word ... " (normalised texts are single-spaced); a NUL separates texts.
    padded = [" " + t.lower() + " " if t else "" for t in texts]
    points, starts, lengths = codepoints(padded, "\x00")
    size = len(points)
    # the row owning each position (a separator belongs to the text before it; no kept n-gram starts there)
    owner = np.repeat(np.arange(-1, len(texts)), np.concatenate([[1], lengths + 1])[:len(texts) + 1])[:size]
    utf8 = np.frombuffer(("\x00" + "\x00".join(padded)).encode("utf-8", "surrogatepass") + bytes(16), dtype=np.uint8)
    width = 1 + (points >= 0x80) + (points >= 0x800) + (points >= 0x10000)
    offsets = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(width, out=offsets[1:])
    is_space = points == _SPACE
    is_sep = np.zeros(size, dtype=bool)  # by position: a NUL inside a text is an ordinary character
    is_sep[starts - 1] = True
    rows_out, cols_out = [], []
    bad = is_sep.copy()                  # the n-gram contains a separator
    inner = np.zeros(size, dtype=bool)   # the n-gram has a space strictly inside (it crosses a word boundary)
    for n in range(2, max_n + 1):
        m = size - n + 1
        if m <= 0:
            break
        bad = bad[:m] | is_sep[n - 1:n - 1 + m]
        # the character that ended the (n-1)-gram at position i (i + n - 2) is inside the n-gram
        inner = inner[:m] | is_space[n - 2:n - 2 + m] if n > 2 else inner[:m]
        if n < min_n:
            continue
        keep = ~(bad | inner)
        if n == 2:  # two spaces in a row: only an empty text padded, which is left out anyway
            keep &= ~(is_space[:m] & is_space[1:1 + m])
        positions = np.flatnonzero(keep)
        hashes = murmurhash3_32(utf8, offsets[positions], offsets[positions + n] - offsets[positions])
        signed = hashes.view(np.int32).astype(np.int64)
        cols_out.append(np.abs(signed) % n_features)
        rows_out.append(owner[positions])
    if not rows_out:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(rows_out), np.concatenate(cols_out)


def _counts_matrix(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int, dtype) -> sparse.csr_matrix:
    """CSR matrix of how often each (row, column) pair occurs (duplicates summed, indices sorted, in C)."""
    matrix = sparse.csr_matrix((np.ones(len(rows), dtype=dtype), (rows, cols)), shape=(n_rows, n_cols))
    matrix.sum_duplicates()
    return matrix


class CharNgramHasher(TransformerMixin, BaseEstimator):
    """Counts of hashed character n-grams within space-padded words, for a whole batch at once (see module doc)."""

    def __init__(self, ngram_range: tuple[int, int] = (2, 4), n_features: int = 2 ** 20, dtype=np.float32):
        self.ngram_range = ngram_range
        self.n_features = n_features
        self.dtype = dtype

    def fit(self, X, y=None):
        self.n_features_out_ = self.n_features
        return self

    def transform(self, X) -> sparse.csr_matrix:
        texts = list(X)
        low, high = self.ngram_range
        rows, cols = _char_hashes(texts, low, high, self.n_features)
        return _counts_matrix(rows, cols, len(texts), self.n_features, self.dtype)

    def word_columns(self, word: str) -> np.ndarray:
        """The columns (with repeats) of the n-grams of one word: what `moderation.explain` attributes to it."""
        low, high = self.ngram_range
        return _char_hashes([word], low, high, self.n_features)[1]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags


def _first_chars(items) -> set | None:
    """The characters a match of the parsed regex `items` can start with, or None when that is not a small set
    of literals (a character class, a look-behind, an empty alternative, inline flags...)."""
    from re import _constants as C

    for op, av in items:
        if op is C.AT:  # \b, ^: zero width, the first character consumed comes after
            continue
        if op is C.LITERAL:
            return {chr(av)}
        if op is C.SUBPATTERN:
            return _first_chars(av[-1]) if not (av[1] or av[2]) else None
        if op is C.BRANCH:
            out: set = set()
            for branch in av[1]:
                chars = _first_chars(branch)
                if chars is None:
                    return None
                out |= chars
            return out
        if op in (C.MAX_REPEAT, C.MIN_REPEAT) and av[0] >= 1:
            return _first_chars(av[2])
        return None
    return None


_SCAN_PATTERNS: dict = {}


def scan_pattern(pattern):
    """`pattern` with a look-ahead for the characters its matches can start with, when those are a few literals
    (the promotional-phrase pattern: 40 alternatives tried at every position otherwise). The same matches, found
    two to three times faster: the regex engine skips the other positions at the first character."""
    guarded = _SCAN_PATTERNS.get(pattern)
    if guarded is None:
        from re import _parser

        guarded = pattern
        try:
            chars = _first_chars(_parser.parse(pattern.pattern, pattern.flags))
        except Exception:  # an unusual pattern: scan it as it is
            chars = None
        if chars:
            ahead = "".join(re.escape(c) for c in sorted(chars))
            guarded = re.compile(f"(?=[{ahead}])(?:{pattern.pattern})", pattern.flags)
        _SCAN_PATTERNS[pattern] = guarded
    return guarded


def match_counts(pattern, texts: list[str], where: np.ndarray | None = None) -> np.ndarray:
    """`len(pattern.findall(text))` for every text, with one `finditer` over the texts joined by SEPARATOR.

    `where` (boolean per text), when given, says which texts can match at all; the others count 0 unscanned.
    """
    counts = np.zeros(len(texts), dtype=np.int64)
    rows = np.arange(len(texts)) if where is None else np.flatnonzero(where)
    if not len(rows):
        return counts
    chosen = texts if where is None else [texts[i] for i in rows]
    joined = SEPARATOR + SEPARATOR.join(chosen)
    positions = np.fromiter((m.start() for m in scan_pattern(pattern).finditer(joined)), dtype=np.int64)
    if len(positions):
        starts = text_starts(np.fromiter(map(len, chosen), dtype=np.int64, count=len(chosen)), len(SEPARATOR))
        counts[rows] = np.bincount(np.searchsorted(starts, positions, side="right") - 1, minlength=len(rows))
    return counts


class _CharClasses:
    """Per code point: is it alphabetic / a digit / upper case (Python's str methods), looked up vectorised."""

    def __init__(self):
        ascii_chars = [chr(i) for i in range(128)]
        self.alpha = np.array([c.isalpha() for c in ascii_chars])
        self.digit = np.array([c.isdigit() for c in ascii_chars])
        self.upper = np.array([c.isupper() for c in ascii_chars])

    def classify(self, points: np.ndarray):
        small = points < 128
        index = np.where(small, points, 0)
        alpha, digit, upper = self.alpha[index], self.digit[index], self.upper[index]
        if not small.all():
            where = np.flatnonzero(~small)
            unique, inverse = np.unique(points[where], return_inverse=True)
            chars = [chr(int(c)) for c in unique]
            alpha[where] = np.array([c.isalpha() for c in chars])[inverse]
            digit[where] = np.array([c.isdigit() for c in chars])[inverse]
            upper[where] = np.array([c.isupper() for c in chars])[inverse]
        return alpha, digit, upper


CHAR_CLASSES = _CharClasses()


def per_text_sums(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Sum of a per-position array over each text (text k is values[starts[k]:starts[k] + lengths[k]])."""
    total = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(values, out=total[1:])
    return total[starts + lengths] - total[starts]


class BatchTfidfVectorizer(TfidfVectorizer):
    """`TfidfVectorizer` (word 1-2-grams) whose transform counts a whole batch at once.

    Fitting is scikit-learn's own (vocabulary, min_df/max_df, idf); transform gives the same matrix (tested), but
    instead of building every n-gram string and looking each up, the batch's tokens are looked up once in a dict
    and bigram columns come from a sorted table of token-pair keys with `np.searchsorted`. Any other
    configuration is counted by scikit-learn's own transform.
    """

    def fit(self, raw_documents, y=None):
        super().fit(raw_documents, y)
        self._build_tables()
        return self

    def fit_transform(self, raw_documents, y=None):
        X = super().fit_transform(raw_documents, y)
        self._build_tables()
        return X

    def _build_tables(self) -> None:
        token_ids: dict[str, int] = {}
        unigrams, bigrams = [], []
        for feature, column in self.vocabulary_.items():
            parts = feature.split(" ")
            ids = [token_ids.setdefault(p, len(token_ids)) for p in parts]
            (unigrams if len(ids) == 1 else bigrams).append((ids, column))
        self.token_ids_ = token_ids
        self.unigram_columns_ = np.full(len(token_ids), -1, dtype=np.int64)
        for (token,), column in unigrams:
            self.unigram_columns_[token] = column
        keys = np.array([a * len(token_ids) + b for (a, b), _ in bigrams], dtype=np.int64)
        order = np.argsort(keys)
        self.bigram_keys_ = keys[order]
        self.bigram_columns_ = np.array([c for _, c in bigrams], dtype=np.int64)[order]

    def _batchable(self) -> bool:
        return (self.analyzer == "word" and self.preprocessor is not None and self.tokenizer is None
                and self.stop_words is None and tuple(self.ngram_range) in ((1, 1), (1, 2)) and not self.binary
                and hasattr(self, "token_ids_"))

    def _counts(self, texts: list[str]):
        if not texts:
            return None
        preprocess, tokenize = self.preprocessor, self.build_tokenizer()
        tokens = [tokenize(preprocess(text)) for text in texts]
        per_text = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        flat = list(chain.from_iterable(tokens))
        get = self.token_ids_.get
        ids = np.fromiter(map(get, flat, repeat(-1, len(flat))), dtype=np.int64, count=len(flat))
        rows = np.repeat(np.arange(len(texts)), per_text)
        known = ids >= 0
        unigram = np.full(len(ids), -1, dtype=np.int64)
        unigram[known] = self.unigram_columns_[ids[known]]
        row_parts, col_parts = [rows[unigram >= 0]], [unigram[unigram >= 0]]
        if self.ngram_range[1] == 2 and len(ids) > 1 and len(self.bigram_keys_):
            pair = known[:-1] & known[1:] & (rows[:-1] == rows[1:])
            keys = ids[:-1][pair] * len(self.token_ids_) + ids[1:][pair]
            at = np.minimum(np.searchsorted(self.bigram_keys_, keys), len(self.bigram_keys_) - 1)
            hit = self.bigram_keys_[at] == keys
            row_parts.append(rows[:-1][pair][hit])
            col_parts.append(self.bigram_columns_[at[hit]])
        return _counts_matrix(np.concatenate(row_parts), np.concatenate(col_parts), len(texts),
                              len(self.vocabulary_), self.dtype)

    def transform(self, raw_documents):
        texts = list(raw_documents) if not isinstance(raw_documents, str) else raw_documents
        if isinstance(texts, list) and self._batchable():
            counts = self._counts(texts)
            if counts is not None:
                return self._tfidf.transform(counts, copy=False)
        return super().transform(raw_documents)
