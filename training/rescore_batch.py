"""The per-row costs of batch rescoring, taken out of the row loop.

- `ThreadContexts`: each worker builds the relevance context of an article (its title, body and thread sample)
  once, for all the articles of a chunk in a few vectorised calls, and keeps it (a bounded LRU) for the next
  chunks. Every row of the article is then scored against that one context; a row that is itself in the sample
  has itself taken out (`leave_out`), exactly the shared leave-one-out path of `moderation.relevance`.
- `verdict_line`: the output JSON line of a verdict from a string template (the reasons' JSON cached), byte for
  byte what `json.dumps({"id": ..., **verdict.to_dict()}, ensure_ascii=False)` writes (tested).
"""

from __future__ import annotations

import json
from collections import OrderedDict

# numpy, scipy and the relevance model are imported where contexts are built (in the workers): the rescore
# command's main process imports this module and never builds one, so it stays ~110 MiB smaller (1M-row goal).

CONTEXTS_KEPT = 4096  # articles whose context a worker keeps between chunks (a few KiB each)


def _row(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    import numpy as np
    import scipy.sparse as sp

    start, end = matrix.indptr[k], matrix.indptr[k + 1]
    return sp.csr_matrix((matrix.data[start:end].copy(), matrix.indices[start:end].copy(),
                          np.array([0, end - start], dtype=matrix.indptr.dtype)), shape=(1, matrix.shape[1]))


def build_contexts(items: list[tuple[str, str, list[str]]]) -> list[Context]:
    """`Context.build(title, body, thread)` for many (title, body, thread) at once: the same vectors (tested),
    with one vectorisation of all the texts and one sparse product for all the thread sums."""
    import numpy as np
    import scipy.sparse as sp

    from moderation.relevance import N_FEATURES, TITLE_WEIGHT, Context, article_parts, article_words, count_vectors

    if not items:
        return []
    distinct = list(dict.fromkeys(t for _, _, thread in items for t in thread))
    position = {t: j for j, t in enumerate(distinct)}
    parts = [part for title, body, _ in items for part in article_parts(title, body)]
    vectors = count_vectors(parts + distinct)
    heads, texts = vectors[:len(parts)], vectors[len(parts):]
    # One row per article with a 1 for each text of its thread (a text twice in a thread counts twice, as in
    # batch_contexts): the product sums each article's thread counts in the same order as Context.build does.
    indptr = np.zeros(len(items) + 1, dtype=np.int64)
    columns = []
    for k, (_, _, thread) in enumerate(items):
        own = [position[t] for t in thread]
        columns.extend(own)
        indptr[k + 1] = indptr[k] + len(own)
    ones = sp.csr_matrix((np.ones(len(columns)), np.array(columns, dtype=np.int64), indptr),
                         shape=(len(items), len(distinct)))
    threads = (ones @ texts).tocsr() if len(distinct) else sp.csr_matrix((len(items), N_FEATURES))
    threads.sort_indices()  # as Context.build keeps them
    sizes = np.diff(indptr)
    out = []
    for k in range(len(items)):
        title, body = _row(heads, 2 * k), _row(heads, 2 * k + 1)
        thread = _row(threads, k) if sizes[k] else sp.csr_matrix((1, N_FEATURES))
        out.append(Context(sp.csr_matrix(title * TITLE_WEIGHT + body), title, thread, int(sizes[k]),
                           article_words(parts[2 * k], parts[2 * k + 1])))
    return out


class ThreadContexts:
    """The contexts of the articles a worker has seen, keyed by (article id, title, body, sample), LRU-bounded."""

    def __init__(self, size: int = CONTEXTS_KEPT):
        self.size = size
        self.items: OrderedDict = OrderedDict()

    def has(self, key) -> bool:
        return key in self.items

    def get_many(self, wanted: dict) -> dict:
        """{key: Context} for {key: (title, body, thread)}; builds the missing ones together."""
        found, missing = {}, []
        for key in wanted:
            context = self.items.get(key)
            if context is None:
                missing.append(key)
            else:
                self.items.move_to_end(key)
                found[key] = context
        for key, context in zip(missing, build_contexts([wanted[k] for k in missing])):
            found[key] = self.items[key] = context
        while len(self.items) > self.size:
            self.items.popitem(last=False)
        return found


_REASONS: dict = {}


def _reasons_json(reasons: tuple) -> str:
    text = _REASONS.get(reasons)
    if text is None:
        if len(_REASONS) > 100_000:
            _REASONS.clear()
        text = _REASONS[reasons] = json.dumps([r.to_dict() for r in reasons], ensure_ascii=False)
    return text


def _number(value) -> str:
    return "null" if value is None else float.__repr__(float(value))


def verdict_line(rid_json: str, verdict, version_json: str) -> str:
    """`json.dumps({"id": rid, **verdict.to_dict()}, ensure_ascii=False)`, from a template."""
    return (f'{{"id": {rid_json}, "decision": "{verdict.decision}", "scores": {{"spam": {_number(verdict.spam)}, '
            f'"off_topic": {_number(verdict.off_topic)}, "toxicity": {_number(verdict.toxicity)}}}, "reasons": {_reasons_json(verdict.reasons)}, '
            f'"model_version": {version_json}}}')


_encode_string = json.encoder.encode_basestring  # json.dumps(str, ensure_ascii=False) without dumps' overhead


def json_value(value) -> str:
    """`json.dumps(value, ensure_ascii=False)` of an id (a string or an integer), faster for those two types."""
    kind = value.__class__
    if kind is str:
        return _encode_string(value)
    if kind is int:
        return int.__repr__(value)
    return json.dumps(value, ensure_ascii=False)


def changed_line(line: int, rid_json: str, old: str, verdict_json: str) -> str:
    """`json.dumps({"line": line, "id": rid, "old_decision": old, **verdict.to_dict()}, ensure_ascii=False)` from
    the verdict's output line `verdict_json` (`verdict_line(rid_json, ...)`, which starts with the id)."""
    rest = verdict_json[len(rid_json) + 9:]  # after '{"id": ' + rid_json + ', '
    return f'{{"line": {json_value(line)}, "id": {rid_json}, "old_decision": {json_value(old)}, {rest}'
