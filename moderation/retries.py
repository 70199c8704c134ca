"""A comment sent again under its CMS id (a retry after a timeout, or an edit) is scored without its own first copy.

The first answer put an accepted comment in its article's thread (once: the store's ON CONFLICT). Sent again, the
comment would be compared with a discussion that holds its own words, which support it: a lower off_topic than the
first answer. The service takes the stored copy back out of the cached context (`without_comment`) before scoring,
so a retry gets the first answer's scores and an edit is scored as its new text against the discussion without it.
"""

from __future__ import annotations

import scipy.sparse as sp

from moderation.relevance import Context, count_vectors


def thread_minus(thread: sp.csr_matrix, text: str) -> sp.csr_matrix:
    """`thread` (a canonical one-row sum of count vectors that includes `text`'s) without `text`'s counts: the
    canonical matrix the sum of the other comments is (no explicit zeros, sorted columns)."""
    rest = sp.csr_matrix(thread - count_vectors([text]))
    rest.eliminate_zeros()
    rest.sort_indices()
    return rest


def without_comment(context: Context, text: str) -> Context:
    """`context` with one comment of its thread, `text`, taken out: the reverse of `Context.add_comment` (a new
    object: cached contexts are shared). The article's cached values (word vectors, sums) stay valid."""
    if not text or context.thread_comments < 1:  # add_comment adds no empty text
        return context
    thread = thread_minus(context.thread, text)
    if thread.nnz and thread.data.min() < 0:  # its words are not all in this thread: it was never counted here
        return context
    out = Context(context.article, context.title, thread, context.thread_comments - 1, context.words)
    for name in ("_semantic", "_sums", "_support"):  # as add_comment: the article's parts are the same objects
        value = getattr(context, name, None)
        if value is not None:
            setattr(out, name, value)
    return out
