"""Relevance: how far a comment is from the article it was posted under and from the discussion so far.

Shared by serving, batch rescoring and training, so a comment gets the same `off_topic` score everywhere.

How it works
- Every text becomes stemmed content words (NLTK SnowballStemmer, no downloads), hashed into `N_FEATURES`
  columns, as raw counts.
- A *context* is an article (title and body) plus its thread (the comments already accepted under it), kept as
  count vectors: the article's, the title's and the thread's summed counts. `Context`s are cheap to update: a new
  accepted comment is one sparse addition.
- For a comment against a context, `RelevanceModel.features` measures TF-IDF cosines to the article, the title and the
  thread, smoothed language-model log-likelihood ratios of the comment's words under the article and under the
  thread against the background (the comment corpus the model trained on), the share of its words found in the
  article and in the thread, the idf-weighted share of its words found nowhere, and the comment's own traits
  (content words, specificity, question form, size bins of the thread and article), and the word-vector
  relatedness of its words to the article (moderation/semantic.py: GloVe vectors kept inside the model).
- Three logistic regressions on the standardised features (`RelevanceModel.combiner`: one for articles with a
  discussion, one for the article text alone, one for one- to five-word comments) learned from pairs how to
  combine them: a comment with its own article and thread is relevant, the same comment with another article is
  not (training/relevance.py). `off_topic` is the probability of the "other article" class.
- Short comments (`is_short`: one to SHORT_WORDS words) have their own path: a combiner that reads only
  SHORT_FEATURES - how specific the words are (IDF discounted by the learned `generic` vocabulary: the share of
  training articles whose comments use a word) and how much of that specificity finds no support in the article
  or thread, the article log-likelihood ratio and the word-vector relatedness - trained with two kinds of
  off-topic examples (training/relevance.py): real short comments and sentences tied to their own article by a
  non-generic word, moved under another article where that word is not found, and out-of-domain chat; with its
  own threshold and action in the policy (`short_off_topic_flag`, `short_off_topic_action`).

Batches are vectorised: all comment tokens of a batch are looked up in all contexts at once (a sorted-key join),
each distinct context is built once, and a thread that is "all the rows of this article but this one" (the
leave-one-out threads batch rescoring passes) is handled as the article's full thread minus the comment itself.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from moderation.relevance_words import (  # noqa: F401 (_HASHER, _STOP, content_words: imported from here too)
    _HASHER, _STOP, N_FEATURES, SCORED_CHARS, content_words, count_vectors, thread_plus,
)
from moderation.semantic import SEMANTIC_FEATURES, WordVectors, entries_by_context, raw_words, semantic_features
from moderation.text import SHORT_WORDS, article_text, is_short  # noqa: F401 - re-exported

TITLE_WEIGHT = 3  # the headline counts three times in the article's word counts: it says what the article is about
# Dirichlet smoothing of the article and thread language models (in words). An article's smoothing is as in
# document retrieval (~1,000 words): a word a 600-word article uses once is weak evidence. Models trained before it
# was set keep the 50 they were trained with (RelevanceModel.mu_article).
MU_ARTICLE = 1000.0
MU_THREAD = 200.0
# An article supports a comment's word when the word is among its SUPPORT_WORDS most specific words (count x IDF x
# (1 - generic), the title's counted TITLE_WEIGHT times): the words it is about, the same number the word vectors
# represent it by. "level", once in 579 words of the Mosul report, does not tie "Shoe level lies." to it. A
# headline and summary have fewer distinct words, so there every word counts. Models trained before it was set
# count any word (RelevanceModel.support_words = None).
SUPPORT_WORDS = 64
BG_SMOOTH = 1.0  # additive smoothing of the background word counts

# A comment of one to SHORT_WORDS words takes the short-comment path (its own combiner, threshold and rule):
# moderation/text.py, which batch rescoring's main process reads without the model's code.
# One combiner per regime: short comments (any context), with a discussion to compare with, the article text only.
REGIMES = ("short", "thread", "article")
FEATURE_NAMES = (
    "cos_article", "cos_title", "cos_thread", "llr_article", "llr_thread", "share_in_article", "share_in_thread",
    "share_in_thread_twice", "content_words", "mean_idf", "max_idf_matched", "question", "thread_comments",
    "article_words", "llr_article_sum", "llr_thread_sum", "llr_context", "llr_context_positive_sum",
    "unmatched_specific_share", "unmatched_idf_sum",
    "generic_mean", "unsupported_specificity_share", "max_unsupported_specificity", "unsupported_evidence", "short",
    *SEMANTIC_FEATURES,  # word-vector relatedness to the article (moderation/semantic.py), filled in by the model
)



@dataclass
class Context:
    """An article and its thread as count vectors (1 x N_FEATURES rows)."""

    article: sp.csr_matrix  # title (x TITLE_WEIGHT) + body
    title: sp.csr_matrix
    thread: sp.csr_matrix  # summed counts of the thread's comments
    thread_comments: int = 0
    words: dict | None = None  # the article's raw content words -> count (title x TITLE_WEIGHT), for the vectors

    @classmethod
    def build(cls, title: str, body: str, thread: list[str] | None = None,
              thread_counts: sp.csr_matrix | None = None, vectors: sp.csr_matrix | None = None) -> "Context":
        """From the texts; `thread_counts` (the thread's count vectors, one row each) and `vectors` (the title's and
        body's, two rows, from `article_parts`) save vectorising again."""
        title, body = article_parts(title, body)
        if vectors is None:
            vectors = count_vectors([title, body])
        if thread_counts is None:
            thread = [t for t in (thread or []) if t]
            thread_counts = count_vectors(thread) if thread else None
        n = 0 if thread_counts is None else thread_counts.shape[0]
        # Summed as a sparse product: summing to a dense 1 x N_FEATURES row and back costs far more.
        summed = (sp.csr_matrix((np.ones(n), (np.zeros(n, dtype=np.int64), np.arange(n))), shape=(1, n))
                  @ thread_counts).tocsr() if n else sp.csr_matrix((1, N_FEATURES))
        # A product's indices come out unsorted; sorted, each add_comment is O(entries) instead of O(N_FEATURES).
        summed.sort_indices()
        return cls(sp.csr_matrix(vectors[0] * TITLE_WEIGHT + vectors[1]), vectors[0], summed, n,
                   article_words(title, body))

    def add_comment(self, text: str) -> "Context":
        """The context with one more comment in its thread (a new object: cached contexts are shared)."""
        if not text:
            return self
        context = Context(self.article, self.title, thread_plus(self.thread, text), self.thread_comments + 1,
                          self.words)
        semantic = getattr(self, "_semantic", None)  # the article's word-vector representation: the same article
        if semantic is not None:
            context._semantic = semantic
        sums = getattr(self, "_sums", None)  # RelevanceModel._context_sums: the article's are still valid
        if sums is not None:
            context._sums = sums
        support = getattr(self, "_support", None)  # RelevanceModel.article_support: the same article
        if support is not None:
            context._support = support
        return context

    @property
    def empty(self) -> bool:
        return self.article.nnz == 0 and self.thread.nnz == 0


def article_parts(title: str, body: str) -> tuple[str, str]:
    """The title and body whose words an article context counts: markup and links removed (text.article_text)."""
    return article_text(title or ""), article_text(body or "")


def article_words(title: str, body: str) -> dict:
    """The article's raw content words with their counts, the title's TITLE_WEIGHT times; `title` and `body` as
    `article_parts` gives them."""
    words: dict[str, int] = {}
    for word in raw_words(title or "", _STOP):
        words[word] = words.get(word, 0) + TITLE_WEIGHT
    for word in raw_words(body or "", _STOP):
        words[word] = words.get(word, 0) + 1
    return words


def _lookup(table: sp.csr_matrix, table_rows: np.ndarray, counts: sp.csr_matrix) -> np.ndarray:
    """table[table_rows[i], j] for every stored entry (i, j) of `counts`, aligned with counts.data."""
    table = table.tocsr()
    if not table.has_canonical_format:
        table.sum_duplicates()  # sorts too
    if table.shape[0] == 1:  # one context (the single-comment case): its columns are the keys
        keys, wanted = table.indices.astype(np.int64), counts.indices.astype(np.int64)
    else:
        keys = (np.repeat(np.arange(table.shape[0], dtype=np.int64), np.diff(table.indptr)) * N_FEATURES
                + table.indices.astype(np.int64))
        rows = np.repeat(np.asarray(table_rows, dtype=np.int64), np.diff(counts.indptr))
        wanted = rows * N_FEATURES + counts.indices.astype(np.int64)
    if len(keys) == 0:
        return np.zeros(len(wanted))
    pos = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[pos] == wanted, table.data[pos], 0.0)


def _stack(rows: list[sp.csr_matrix]) -> sp.csr_matrix:
    """Context rows as one matrix, in canonical form (one context, the common single-comment case, as it is)."""
    m = rows[0].tocsr() if len(rows) == 1 else sp.vstack(rows).tocsr()
    if not m.has_canonical_format:
        m = m.copy()  # cached contexts are shared between threads: never sort one in place
        m.sum_duplicates()
    return m


_FIRST = np.zeros(1, dtype=np.intp)


def _row_sums(values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    if len(indptr) == 2 and len(values):  # one row (one comment, one context): the same sum in one call
        return np.add.reduceat(values, _FIRST).astype(np.float64, copy=False)
    out = np.zeros(len(indptr) - 1)
    nonempty = indptr[1:] > indptr[:-1]
    if len(values):
        sums = np.add.reduceat(values, indptr[:-1][nonempty])
        out[nonempty] = sums
    return out


class RelevanceModel:
    """Word statistics of the background corpus plus the trained combiner; picklable into the model artifact."""

    def __init__(self, idf: np.ndarray, log_background: np.ndarray, combiner=None,
                 generic: np.ndarray | None = None, vectors: WordVectors | None = None):
        self.idf = idf.astype(np.float32)
        self.log_background = log_background.astype(np.float32)
        self.combiner = combiner
        # How generic each word is in comments, in [0, 1]: the share of the training articles (beyond the first)
        # whose comments use it. "great", "thanks", "agree", "idiot" are used under any article; "shoe" is not.
        self.generic = np.zeros(N_FEATURES, np.float32) if generic is None else generic.astype(np.float32)
        # Word vectors of the most frequent words (moderation/semantic.py); None: the semantic features stay 0.
        self.vectors = vectors
        self.semantic_token = uuid.uuid4().hex  # keys the article representations cached on contexts
        self.mu_article = MU_ARTICLE
        self.support_words = SUPPORT_WORDS

    # What models pickled before these settings existed were trained with (an unpickled model takes the class's
    # value for an attribute it does not have): their combiners read the features as they were then.
    mu_article = 50.0
    support_words = None

    @classmethod
    def from_corpus(cls, texts: list[str], comments_by_article: list[list[str]] | None = None) -> "RelevanceModel":
        """IDF and background word probabilities from a corpus of comments and articles; with the comments
        grouped by article, also the learned generic-comment vocabulary (`generic`)."""
        generic = None
        if comments_by_article and len(comments_by_article) > 1:
            spread = np.zeros(N_FEATURES)
            for comments in comments_by_article:
                used = np.unique(count_vectors(comments).indices) if comments else np.array([], np.int64)
                spread[used] += 1
            generic = np.maximum(spread - 1, 0) / (len(comments_by_article) - 1)
        counts = count_vectors(texts)
        df = np.bincount(counts.indices, minlength=N_FEATURES)
        tf = np.asarray(counts.sum(axis=0)).ravel()
        idf = np.log((1 + counts.shape[0]) / (1 + df)) + 1.0
        vocabulary = max(int((df > 0).sum()), 1)
        # Additive smoothing: a word seen once (in the comment being scored, say) is not much rarer than an unseen one.
        background = (tf + BG_SMOOTH) / (tf.sum() + BG_SMOOTH * vocabulary)
        return cls(idf, np.log(background), generic=generic)

    def features(self, comments: sp.csr_matrix, contexts: list[Context], context_of: np.ndarray,
                 leave_out: np.ndarray | None = None) -> np.ndarray:
        """Pair features, one row per comment, against contexts[context_of[i]].

        `leave_out[i]` true means comment i is itself counted in its context's thread and must be taken out
        (the leave-one-out threads of training and batch rescoring).
        """
        n = comments.shape[0]
        context_of = np.asarray(context_of, dtype=np.int64)
        leave_out = np.zeros(n, bool) if leave_out is None else np.asarray(leave_out, bool)
        art = _stack([c.article for c in contexts])
        title = _stack([c.title for c in contexts])
        thread = _stack([c.thread for c in contexts])
        thread_n = np.array([c.thread_comments for c in contexts], dtype=np.float64)[context_of]

        # Context-level norms of the TF-IDF vectors and word totals, from the stored entries only: nothing here
        # may cost O(N_FEATURES), or scoring one comment costs milliseconds.
        sums = self._context_sums(contexts[0], art, title, thread) if len(contexts) == 1 else None
        if sums is None:
            sums = self._sums(art, title, thread)
        art_norm = np.sqrt(sums[0])[context_of]
        title_norm = np.sqrt(sums[1])[context_of]
        art_total = sums[2][context_of]
        thread_sq = sums[3][context_of]
        thread_total = sums[4][context_of]

        c = comments.tocsr()
        c.sort_indices()
        ptr, cols, cnt = c.indptr, c.indices, c.data
        w = self.idf[cols].astype(np.float64)
        own = cnt * w  # TF-IDF of the comment's words
        comment_norm = np.sqrt(_row_sums(own ** 2, ptr))
        words = _row_sums(np.ones_like(cnt), ptr)  # distinct content words
        a = _lookup(art, context_of, c)
        t_title = _lookup(title, context_of, c)
        t = _lookup(thread, context_of, c)
        row_of_entry = np.repeat(np.arange(n), np.diff(ptr))
        lo = leave_out[row_of_entry]
        if leave_out.any():
            t = np.where(lo, np.maximum(t - cnt, 0.0), t)
            own_total = _row_sums(cnt, ptr)
            cross = _row_sums(np.where(lo, own * w * _lookup(thread, context_of, c), 0.0), ptr)
            own_sq = _row_sums(np.where(lo, own ** 2, 0.0), ptr)
            thread_sq = np.where(leave_out, np.maximum(thread_sq - 2 * cross + own_sq, 0.0), thread_sq)
            thread_total = np.where(leave_out, np.maximum(thread_total - own_total, 0.0), thread_total)
            thread_n = np.where(leave_out, np.maximum(thread_n - 1, 0.0), thread_n)
        thread_norm = np.sqrt(thread_sq)

        def cosine(values, norm):
            dot = _row_sums(own * values * w, ptr)
            return np.divide(dot, comment_norm * norm, out=np.zeros(n), where=(comment_norm * norm) > 0)

        bg = self.log_background[cols].astype(np.float64)
        p_bg = np.exp(bg)

        def llr_terms(values, totals, mu):
            return np.log((values + mu * p_bg) / (totals[row_of_entry] + mu)) - bg

        def mean(terms):
            return np.divide(_row_sums(terms, ptr), words, out=np.zeros(n), where=words > 0)

        supported = a if self.support_words is None else np.where(
            self._supported(contexts, context_of[row_of_entry], cols), a, 0.0)
        llr_a, llr_t = llr_terms(a, art_total, self.mu_article), llr_terms(t, thread_total, MU_THREAD)
        llr_both = llr_terms(a + t, art_total + thread_total, MU_THREAD)

        def share(mask):
            return np.divide(_row_sums(mask.astype(np.float64), ptr), words, out=np.zeros(n), where=words > 0)

        matched = (supported > 0) | (t > 0)
        # Specific words (high IDF) found nowhere in the article or thread are the mark of an off-topic comment;
        # generic ones ("great", "thanks") say little either way.
        unmatched_specific = np.divide(_row_sums(np.where(matched, 0.0, w), ptr), _row_sums(w, ptr),
                                       out=np.zeros(n), where=words > 0)
        max_idf_matched = np.zeros(n)
        if len(w):
            np.maximum.at(max_idf_matched, row_of_entry[matched], w[matched])
        # Specificity: a word's IDF discounted by how generic it is in comments. The share of a comment's specific
        # weight that finds no support in the article or thread is the short comments' main evidence.
        generic = getattr(self, "generic", None)
        g = generic[cols].astype(np.float64) if generic is not None else np.zeros(len(cols))
        spec = w * (1.0 - g)
        unsupported = np.where(matched, 0.0, spec)
        max_unsupported = np.zeros(n)
        if len(w):
            np.maximum.at(max_unsupported, row_of_entry, unsupported)
        # Rows of columns, transposed into a C-ordered copy: np.column_stack's result for a third of its cost.
        return np.ascontiguousarray(np.array([
            cosine(a, art_norm),
            cosine(t_title, title_norm),
            cosine(t, thread_norm),
            mean(llr_a),
            mean(llr_t),
            share(a > 0),
            share(t > 0),
            share(t > 1),
            np.log1p(words),
            np.divide(_row_sums(w, ptr), words, out=np.zeros(n), where=words > 0),
            max_idf_matched,
            np.zeros(n),  # question form: filled in by the caller, which has the text
            # Sizes in coarse bins: exact sizes would let the combiner recognise the few training articles.
            np.floor(np.log2(thread_n + 1)),
            np.floor(np.log2(art_total + 1)),
            _row_sums(llr_a, ptr),
            _row_sums(llr_t, ptr),
            mean(llr_both),
            _row_sums(np.maximum(llr_both, 0), ptr),
            unmatched_specific,
            _row_sums(np.where(matched, 0.0, w), ptr),
            mean(g),
            np.divide(_row_sums(unsupported, ptr), _row_sums(spec, ptr), out=np.zeros(n),
                      where=_row_sums(spec, ptr) > 0),
            max_unsupported,
            # The short-comment evidence in [0, 1]: the most specific unsupported word (relative to an unseen
            # word's IDF), times the share of the comment's specificity left unsupported.
            np.divide(_row_sums(unsupported, ptr), _row_sums(spec, ptr), out=np.zeros(n),
                      where=_row_sums(spec, ptr) > 0) * max_unsupported / self._idf_max(),
            np.zeros(n),  # short: filled in by the caller, which has the text
            *np.zeros((len(SEMANTIC_FEATURES), n)),  # semantic: filled in by fill_semantic, which has the text
        ], dtype=np.float64).T)

    def article_support(self, context: Context) -> np.ndarray | None:
        """The sorted columns of the article's `support_words` most specific words (see SUPPORT_WORDS), or None
        when every word of the article counts (an older model, or an article with no more distinct words). Kept on
        the context for this model: a cached article is scored again by every comment under it."""
        if self.support_words is None or context.article.nnz <= self.support_words:
            return None
        cached = getattr(context, "_support", None)
        if cached is not None and cached[0] == self.semantic_token and cached[1] is context.article:
            return cached[2]
        columns, counts = context.article.indices, context.article.data.astype(np.float64)
        weight = counts * self.idf[columns].astype(np.float64) * (1.0 - self.generic[columns].astype(np.float64))
        # Ties broken by column, so the batch and single-comment paths (and every worker) choose the same words.
        order = np.lexsort((columns, -weight))[:self.support_words]
        support = np.sort(columns[order])
        try:
            context._support = (self.semantic_token, context.article, support)
        except AttributeError:  # pragma: no cover - a context type without instance attributes
            pass
        return support

    def _supported(self, contexts: list[Context], entry_context: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Per comment word (entry): whether its column is among its context's `article_support` words."""
        out = np.ones(len(cols), bool)
        if len(cols) == 0:
            return out
        for c, at in entries_by_context(entry_context):
            support = self.article_support(contexts[int(c)])
            if support is not None:
                out[at] = np.isin(cols[at], support)
        return out

    def fill_semantic(self, x: np.ndarray, texts: list[str], contexts: list[Context], context_of) -> np.ndarray:
        """The word-vector columns (SEMANTIC_FEATURES) of `x`, from the comments' texts and their articles."""
        vectors = getattr(self, "vectors", None)
        if vectors is not None:
            start = FEATURE_NAMES.index(SEMANTIC_FEATURES[0])
            x[:, start:start + len(SEMANTIC_FEATURES)] = semantic_features(self, vectors, texts, contexts,
                                                                           context_of, _STOP)
        return x

    def _idf_max(self) -> float:
        """The largest idf (an unseen word's), computed once: a max over N_FEATURES on every call costs."""
        if getattr(self, "_idf_max_", None) is None:
            self._idf_max_ = float(self.idf.max())
        return self._idf_max_

    def _sums(self, art: sp.csr_matrix, title: sp.csr_matrix, thread: sp.csr_matrix) -> tuple:
        """Per context row: squared TF-IDF norms of the article and title, article word total, squared TF-IDF norm
        of the thread, thread word total."""
        return (self._tfidf_sq(art), self._tfidf_sq(title), _row_sums(art.data, art.indptr), self._tfidf_sq(thread),
                _row_sums(thread.data, thread.indptr))

    def _context_sums(self, context: Context, art, title, thread) -> tuple:
        """`_sums` of one context, kept on it for this model: a cached context is scored again by the next request
        under its article, and a comment added to its thread leaves the article's sums as they were."""
        key = (self.semantic_token, context.article, context.title, context.thread)
        cached = getattr(context, "_sums", None)
        if cached is not None and all(a is b for a, b in zip(cached[0], key)):
            return cached[1]
        if cached is not None and all(a is b for a, b in zip(cached[0][:3], key[:3])):  # only the thread is new
            article_sums = cached[1][:3]
            sums = (*article_sums, self._tfidf_sq(thread), _row_sums(thread.data, thread.indptr))
        else:
            sums = self._sums(art, title, thread)
        try:
            context._sums = (key, sums)
        except AttributeError:  # pragma: no cover - a context type without instance attributes
            pass
        return sums

    def _tfidf_sq(self, m: sp.csr_matrix) -> np.ndarray:
        """Squared norm of each row's TF-IDF vector (counts times idf)."""
        return _row_sums(m.data.astype(np.float64) ** 2 * self.idf[m.indices].astype(np.float64) ** 2, m.indptr)

    def scores(self, texts: list[str], contexts: list[Context], context_of, leave_out=None,
               comments: sp.csr_matrix | None = None) -> np.ndarray:
        """P(off-topic) of each comment against its context."""
        comments = count_vectors(texts) if comments is None else comments
        x = self.features(comments, contexts, context_of, leave_out)
        fill_text_features(x, texts)
        self.fill_semantic(x, texts, contexts, context_of)
        return self.combine(x)

    @staticmethod
    def regimes(x: np.ndarray) -> np.ndarray:
        """"short" for a one- to five-word comment; else "thread" where the article already has comments,
        "article" where only its text is known."""
        regime = np.where(x[:, FEATURE_NAMES.index("thread_comments")] > 0, "thread", "article")
        return np.where(x[:, FEATURE_NAMES.index("short")] > 0, "short", regime)

    def combine(self, x: np.ndarray) -> np.ndarray:
        """P(off-topic) from pair features, each row by the combiner of its regime."""
        out = np.zeros(len(x))
        regime = self.regimes(x)
        for name, combiner in self.combiner.items():
            mask = regime == name
            if mask.any():
                weights = _linear(combiner)
                if weights is None:
                    out[mask] = combiner.predict_proba(x[mask])[:, 1]
                else:  # the same numbers as predict_proba, without its per-call validation (a single comment)
                    out[mask] = 1.0 / (1.0 + np.exp(-(x[mask] @ weights[0] + weights[1])))
        return out


# The features the short-comment combiner reads. With one to five words the similarity features are noise, and
# own-vs-other-article pairs cannot tell a generic comment ("Great article, thanks", which is as much "at home"
# under any article) from an unrelated one: fitted on all features, the short combiner learned that generic words
# mean off-topic. Reading only the unsupported-specificity evidence keeps it monotone: the more specific and the
# less supported the words, the more off-topic; the pairs only calibrate it. llr_article weighs a word found in
# the article by how unusual it is there (one "level" in a long article is weak support, unlike share_in_article);
# the semantic features say whether the unsupported words are at least related in meaning.
SHORT_FEATURES = ("unsupported_evidence", "generic_mean", "share_in_article", "share_in_thread",
                  "max_unsupported_specificity", "unsupported_specificity_share", "thread_comments",
                  "llr_article", *SEMANTIC_FEATURES)


class Columns(BaseEstimator, TransformerMixin):
    """Selects feature columns by name (the first step of the short-comment combiner)."""

    def __init__(self, names=SHORT_FEATURES):
        self.names = names

    def fit(self, x, y=None):
        return self

    def transform(self, x):
        return np.asarray(x)[:, [FEATURE_NAMES.index(n) for n in self.names]]


def _linear(combiner) -> tuple[np.ndarray, float] | None:
    """(w, b) of a [Columns +] StandardScaler + LogisticRegression pipeline folded into one linear function over
    all FEATURE_NAMES, else None."""
    steps = getattr(combiner, "named_steps", {})
    scale, logistic = steps.get("scale"), steps.get("logistic")
    if scale is None or logistic is None or len(getattr(logistic, "classes_", [])) != 2:
        return None
    w = logistic.coef_[0] / scale.scale_
    b = float(logistic.intercept_[0] - np.dot(w, scale.mean_))
    select = steps.get("select")
    if select is not None:
        full = np.zeros(len(FEATURE_NAMES))
        full[[FEATURE_NAMES.index(n) for n in select.names]] = w
        w = full
    return w, b


def is_question(text: str) -> bool:
    return "?" in text[:SCORED_CHARS]


def fill_text_features(x: np.ndarray, texts: list[str]) -> np.ndarray:
    """The feature columns that need the comment's text rather than its word counts (question form, short)."""
    x[:, FEATURE_NAMES.index("question")] = [is_question(t) for t in texts]
    x[:, FEATURE_NAMES.index("short")] = [is_short(t) for t in texts]
    return x


class ContextCache:
    """A bounded LRU of article contexts (the article-vector cache), keyed by whatever the caller chooses."""

    def __init__(self, size: int = 2048):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()  # gunicorn threads share a worker's cache

    def get(self, key):
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def pop(self, key) -> None:
        with self._lock:
            self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


def batch_contexts(texts: list[str], articles: list, threads: list, cache: ContextCache | None = None):
    """Contexts for a batch: (contexts, context_of, leave_out, scored mask, comment count vectors).

    Rows without a known article (no title, body or thread) are not scored. Each distinct article is built once;
    a row whose thread is the article's full thread minus itself (leave-one-out, recognised by a sum of the
    texts' hashes) shares the full context. Every distinct text of the batch is vectorised once.
    """
    n = len(texts)
    threads = list(threads) if threads is not None else [None] * n
    articles = list(articles) if articles is not None else [None] * n
    context_of = np.zeros(n, dtype=np.int64)
    leave_out = np.zeros(n, dtype=bool)
    scored = np.zeros(n, dtype=bool)
    groups: dict = {}
    for i, article in enumerate(articles):
        title = getattr(article, "title", "") or ""
        body = getattr(article, "body", "") or ""
        if not (title.strip() or body.strip() or threads[i]):
            continue
        scored[i] = True
        groups.setdefault((getattr(article, "id", None), title, body), []).append(i)
    # First pass: the context key of every row, and the thread texts of contexts not cached yet.
    keys, sources, needed = {}, {}, []
    for (_, title, body), rows in groups.items():
        # A "full" thread of the group: the first row's thread plus the row itself (every row is in the thread,
        # as in a leave-one-out evaluation), or the longest thread given (a sample of the article's rows, as batch
        # rescoring passes it: rows outside the sample get all of it, rows inside it the rest of it).
        fulls: dict = {}
        if len(rows) > 1:
            for full in (list(threads[rows[0]] or []) + [texts[rows[0]]], list(max((threads[i] or [] for i in rows),
                                                                                   key=len))):
                fulls.setdefault((sum(map(hash, full)), len(full)), full)
        for i in rows:
            thread = threads[i] or []
            thread_sum = sum(map(hash, thread))
            full_key = (thread_sum + hash(texts[i]), len(thread) + 1)
            if full_key in fulls:
                key, leave_out[i], source = (title, body, full_key), True, fulls[full_key]
            else:
                key, source = (title, body, (thread_sum, len(thread))), thread
            keys[i] = key
            if key not in sources:
                cached = cache.get(key) if cache is not None else None
                sources[key] = cached if cached is not None else source
                if cached is None:
                    needed.extend(source)
    distinct = list(dict.fromkeys([*texts, *needed]))
    position = {t: j for j, t in enumerate(distinct)}
    counts = count_vectors(distinct)
    # Titles and bodies of the contexts to build, vectorised in one call (one call each costs ~1 ms of overhead).
    to_build = [key for key in dict.fromkeys(keys.values()) if not isinstance(sources[key], Context)]
    article_vectors = count_vectors([part for key in to_build for part in article_parts(key[0], key[1])]) \
        if to_build else None
    vectors_of = {key: k for k, key in enumerate(to_build)}
    contexts: list[Context] = []
    index: dict = {}
    for i, key in keys.items():
        j = index.get(key)
        if j is None:
            built = sources[key]
            if not isinstance(built, Context):
                rows = [position[t] for t in built]
                k = vectors_of[key]
                built = Context.build(key[0], key[1], thread_counts=counts[rows] if rows else None,
                                      vectors=article_vectors[2 * k:2 * k + 2])
                if cache is not None:
                    cache.put(key, built)
            j = index[key] = len(contexts)
            contexts.append(built)
        context_of[i] = j
    rows = [position[t] for t in texts]
    if rows == list(range(len(distinct))):  # distinct texts and nothing else vectorised (one comment, say)
        comments = counts  # the same rows, without a sparse row selection (~100 us)
    else:
        comments = counts[rows] if n else sp.csr_matrix((0, N_FEATURES))
    return contexts, context_of, leave_out, scored, comments
