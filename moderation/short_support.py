"""Short comments without support: the rule that holds a one- to five-word comment unrelated to its page.

A top-level comment of one to SHORT_WORDS words is judged by what its words find in the page it was posted on,
not by a score: too few words for a similarity to mean much. Its content words are stemmed (the relevance
model's Snowball stems) and split in two:
- **generic** words: words of comments on any subject (`GenericWords`, learned from comment corpora of several
  unrelated communities - news readers, encyclopedia editors, video viewers, text messages - plus a listed
  lexicon of interjections). A comment whose content words are all generic (or that has none: "So true.",
  "Well said.", "Great article, thanks") is a **generic reaction** and is never held for relevance;
- the **other** words. One of them is **supported** when its stem is among the article's most specific words
  (`RelevanceModel.article_support`: the words the article is about, all its words for a headline and summary),
  is used in the discussion (the thread's other comments), or goes with one of those words that is not generic
  (`word_associations`: pairs of stems that comments of other communities use together far more often than
  chance, learned at training: training/generic_words.py). Stems make "shoes" match "shoe" and "finished" match
  "finish". Word-vector neighbours of the article's words can be switched on (NEIGHBOUR_COSINE); measured, they
  do not help.

A **reply** (a comment given with the comment it answers) is not judged by the rule: measured on Wikipedia talk
and Fox replies, the rule held replies under their own parent about as often as under another one, so it told
nothing apart there. A reply is judged by the short-comment score, as a supported comment is.

A top-level short comment with at least one non-generic word and none of them supported is **unsupported**: the
policy holds it with an `off_topic` reason naming its words (`policy.decide`, action `short_off_topic_action`).
Unless none of those words is one the rule knows (`known_words`: used by enough comments of the corpora for its
associations to be learned): a typo, a laugh or a coinage ("wellsaid", "hahahahahahaha", "Demrats") finds no
association because none could be learned, which says nothing; such a comment is left to the short-comment score
(UNKNOWN). The same holds for a page of fewer than MIN_PAGE_WORDS distinct words (THIN).

One function (`short_support`) serves the single-comment and the batch paths, so both give the same verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moderation.relevance import SUPPORT_WORDS, Context, is_short
from moderation.relevance_words import _STOP, N_FEATURES, content_words, stem
from moderation.relevance_one import _column
from moderation.semantic import _cached_representation, raw_words
from moderation.text import reader_words

# With a number, a comment word is also supported by the article when its vector is at least this close to one of
# the article's most specific words' (mean-removed unit GloVe vectors, moderation/semantic.py). Off (None): on the
# Fox comments with their discussion it lowered the share held of short comments under their own article and of
# the same comments moved under another article alike (11.6% / 19.8% held without; 11.1% / 18.8% at 0.65, the
# same as without at 0.75 and 0.85), so it buys nothing; `make bench BENCH=relevance` prints the measure.
NEIGHBOUR_COSINE: float | None = None

# The verdicts of `short_support`.
GENERIC = "generic"  # a generic reaction: never held for relevance
SUPPORTED = "supported"  # at least one non-generic word found support: the short-comment score decides
REPLY = "reply"  # a reply with a non-generic word: not judged by the rule, the short-comment score decides
THIN = "thin"  # a page with fewer than MIN_PAGE_WORDS distinct words: not judged, the short-comment score decides
UNKNOWN = "unknown"  # no support, but no word the rule knows (`known_words`): the short-comment score decides

# The rule judges a short comment against a page of at least this many distinct content words (the article and its
# discussion, the comment itself left out): the article's SUPPORT_WORDS most specific words, the words the rule
# reads as what the article is about. A headline and a summary (17 to 30 words for the Fox articles) say too little:
# under them, the rule held real short comments about as often as the same comments moved under another article.
MIN_PAGE_WORDS = SUPPORT_WORDS
UNSUPPORTED = "unsupported"  # held: no non-generic word found support

@dataclass(frozen=True)
class Support:
    verdict: str
    words: tuple[str, ...] = ()  # the comment's content words as written (lower case), for the reason
    length: int = 0  # the comment's words as a reader counts them

    def message(self) -> str:
        quoted = ", ".join(f"'{w}'" for w in self.words)
        plural = "s" if self.length != 1 else ""
        return (f"A short comment ({self.length} word{plural}) whose words ({quoted}) appear nowhere in what the "
                f"article is about or its discussion, nor go with its words.")


def short_support(model, text: str, context: Context | None, leave_out: bool = False,
                  parent: str | None = None) -> Support | None:
    """The rule's verdict on `text` against `context` (None: not a short comment, no context, or a model without
    the learned generic words). `leave_out` says the comment is itself counted in the context's thread (batch
    rescoring's leave-one-out threads): its own words are taken out of the thread first. `parent` is the text of
    the comment it answers: a reply is not judged by the rule (verdict REPLY unless it is a generic reaction)."""
    generic_words = getattr(model, "generic_words", None)
    if generic_words is None or context is None or not is_short(text):
        return None
    raw = list(dict.fromkeys(raw_words(text, _STOP)))
    length = reader_words(text)
    specific = [(w, s) for w, s in ((w, stem(w)) for w in raw) if s and s not in generic_words]
    if not specific:
        return Support(GENERIC, tuple(raw), length)
    if parent:
        return Support(REPLY, tuple(raw), length)
    columns = np.array([_column(s) for _, s in specific], np.int64)
    # The article: its most specific words (every word of a headline and summary).
    article = model.article_support(context)  # sorted
    if article is None:
        article = context.article.indices if context.article.has_sorted_indices else np.sort(context.article.indices)
    thread = context.thread
    thread = thread if thread.has_sorted_indices else thread.sorted_indices()
    own: dict[int, int] = {}  # the comment's own word counts, in a leave-one-out thread
    if leave_out and thread.nnz:
        for s in content_words(text):
            own[_column(s)] = own.get(_column(s), 0) + 1
    if _page_words(context, thread, own) < MIN_PAGE_WORDS:
        return Support(THIN, tuple(raw), length)
    supported = _found(article, columns) > 0
    # Words that go with the article's: a learned pair (comment word, article word).
    pairs = getattr(model, "word_associations", None)
    if not supported.any():
        supported |= _associated(pairs, columns, article)
    # The discussion: any word another comment used (the comment's own counts taken out of a leave-one-out thread),
    # or a word that goes with one of them.
    if thread.nnz and not supported.any():
        counts = _found(thread.indices, columns, thread.data)
        if own:
            counts = counts - np.array([own.get(int(c), 0) for c in columns], np.float64)
        supported |= counts > 0
        if not supported.any():
            supported |= _associated(pairs, columns, _used(thread, own))
    # Word-vector neighbours of the article's most specific words.
    vectors = getattr(model, "vectors", None)
    if NEIGHBOUR_COSINE is not None and not supported.any() and vectors is not None:
        ids = [vectors.index.get(w) for w, _ in specific]
        known = [j for j in ids if j is not None]
        rep = _cached_representation(model, vectors, context) if known else None
        if rep is not None:
            unit = rep[0].astype(np.float64)
            near = (vectors._unit[np.array(known, np.int64)].astype(np.float64) @ unit.T).max(axis=1)
            supported[[k for k, j in enumerate(ids) if j is not None]] |= near >= NEIGHBOUR_COSINE
    if supported.any():
        return Support(SUPPORTED, tuple(raw), length)
    # Held only on a word common enough in the corpora for its associations to have been learned.
    known = getattr(model, "known_words", None)
    if known is not None and not (_found(known, columns) > 0).any():
        return Support(UNKNOWN, tuple(raw), length)
    return Support(UNSUPPORTED, tuple(raw), length)


def _page_words(context: Context, thread, own: dict[int, int]) -> int:
    """Distinct content words of the article and the discussion (less the comment's own, `own`, in a leave-one-out
    thread), counted up to MIN_PAGE_WORDS."""
    article = context.article.indices
    if len(article) >= MIN_PAGE_WORDS or not thread.nnz:
        return len(article)
    used = _used(thread, own)
    if len(used) >= MIN_PAGE_WORDS:
        return len(used)
    return len(np.union1d(article, used))


def _used(thread, own: dict[int, int]) -> np.ndarray:
    """The sorted columns of the words the discussion uses, less the comment's own (`own`, leave-one-out)."""
    if not own:
        return thread.indices
    columns = np.array(sorted(own), np.int64)
    counts = _found(thread.indices, columns, thread.data)
    gone = columns[(counts > 0) & (counts <= np.array([own[int(c)] for c in columns], np.float64))]
    return thread.indices[~np.isin(thread.indices, gone)] if len(gone) else thread.indices


def _associated(pairs: np.ndarray | None, columns: np.ndarray, words: np.ndarray) -> np.ndarray:
    """Per comment word (`columns`): whether a learned pair ties it to one of `words` (sorted columns). A word's
    partners are one slice of the sorted pairs (key = word * N_FEATURES + partner)."""
    out = np.zeros(len(columns), bool)
    if pairs is None or not len(pairs) or not len(words):
        return out
    starts = columns * N_FEATURES
    for k, (lo, hi) in enumerate(zip(pairs.searchsorted(starts), pairs.searchsorted(starts + N_FEATURES))):
        if hi > lo:
            out[k] = (_found(words, pairs[lo:hi] - starts[k]) > 0).any()
    return out


def _found(keys: np.ndarray, columns: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
    """values[position of each column in the sorted `keys`] (1.0 without `values`), 0.0 where it is not there: one
    search for a comment's few words (np.isin sorts both sides on every call)."""
    if len(keys) == 0:
        return np.zeros(len(columns))
    pos = np.minimum(np.searchsorted(keys, columns), len(keys) - 1)
    hit = keys[pos] == columns
    found = values[pos] if values is not None else np.ones(len(columns))
    return np.where(hit, found, 0.0)

