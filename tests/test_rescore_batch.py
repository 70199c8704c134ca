"""The batch mechanics of rescoring: contexts built together equal Context.build, output lines equal json.dumps."""

from __future__ import annotations

import json

import numpy as np

from moderation.moderator import Verdict
from moderation.policy import Reason
from moderation.relevance import Context
from training.rescore_batch import ThreadContexts, build_contexts, verdict_line


def _same(a, b) -> None:
    a, b = a.tocsr(), b.tocsr()
    assert a.shape == b.shape
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.data, b.data)


def test_contexts_built_together_equal_context_build():
    items = [
        ("Mosul offensive", "Iraqi forces approach the city of Mosul.", ["Mosul will fall", "", "Go Iraq go", "Mosul will fall"]),
        ("", "", ["Only a thread here", "and another comment"]),
        ("Budget vote", "The council voted on the budget.", []),
        ("   ", "", ["   "]),
        ("<b>Mosul</b> offensive", '<p class="lead"><a href="https://news.example/articles/1">Iraqi forces</a> '
                                   'approach.</p><script>var shoe = 1;</script> More at www.news.example/mosul',
         ["Mosul will fall"]),
    ]
    built = build_contexts(items)
    for (title, body, thread), context in zip(items, built):
        counts = None
        if thread:  # batch_contexts counts every text of the thread, empty ones too
            from moderation.relevance import count_vectors
            counts = count_vectors(thread)
        reference = Context.build(title, body, thread_counts=counts)
        _same(context.article, reference.article)
        _same(context.title, reference.title)
        _same(context.thread, reference.thread)
        assert context.thread_comments == reference.thread_comments == len(thread)
        assert context.words == reference.words  # the article's words, for the word-vector features
    assert "shoe" not in built[-1].words and "https" not in built[-1].words  # an HTML body is read as its text


def test_contexts_are_kept_and_bounded():
    cache = ThreadContexts(size=2)
    first = cache.get_many({"a": ("t", "b", ["x"]), "b": ("u", "c", [])})
    again = cache.get_many({"a": ("t", "b", ["x"])})
    assert again["a"] is first["a"]
    cache.get_many({"c": ("v", "d", [])})
    assert list(cache.items) == ["a", "c"]


def test_output_lines_are_what_json_dumps_writes():
    reasons = (Reason("spam", "Spam score 0.93 is at or above 0.83.", "reject"),
               Reason("off_topic", "Off-topic score 0.91 is at \u201cor\u201d above 0.80.", "flag"))
    for rid in ("c1", 17, "caf\u00e9 \"quoted\" \\ id", 2**40):
        for verdict in (Verdict("reject", 0.9312, 0.9, reasons, "v1"), Verdict("accept", 0.0, None, (), "v\u00e9"),
                        Verdict("reject", None, None, (Reason("empty", "The comment is empty.", "reject"),), "v"),
                        Verdict("flag", 1.0, 1e-05, reasons[1:], "v")):
            expected = json.dumps({"id": rid, **verdict.to_dict()}, ensure_ascii=False)
            got = verdict_line(json.dumps(rid, ensure_ascii=False), verdict,
                               json.dumps(verdict.model_version, ensure_ascii=False))
            assert got == expected
