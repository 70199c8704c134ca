"""The short combiner's news off-topic examples: real short comments specific to their own article, moved under
another article (training/relevance.py: short_spans, moved_texts, add_moved, moved_figures)."""

import numpy as np

from moderation.relevance import RelevanceModel, article_words
from moderation.relevance_one import _column
from training.relevance import (ArticleGroup, Pairs, add_moved, moved_figures, moved_texts, short_spans)

GENERIC = ["Great article, thanks", "So sad", "Well said"]
GERMAN = ArticleGroup("fox:de", "German lawmakers approve rape law after Cologne assaults",
                      "Lawmakers in Berlin passed a bill on sex crimes after the Cologne attacks.", "fox",
                      ["Merkel must resign now", "Merkel opened the borders", "Shame on the Cologne police",
                       "Horse tooth jungle", *GENERIC])
NAVY = ArticleGroup("fox:navy", "Navy names ship after Harvey Milk", "The Navy will name a supply ship after the "
                    "gay rights advocate Harvey Milk, who served in the Navy.", "fox",
                    ["The Navy has better things to do", "Milk served his country", "Sailors deserve better",
                     "What a ship name. Sailors will laugh at it. And the admirals will agree with that decision "
                     "because they have no choice in the matter today.", *GENERIC])
KANSAS = ArticleGroup("fox:ks", "States restore work requirements for food stamp recipients", "Kansas and Maine "
                      "restored work requirements for food stamps.", "fox",
                      ["Kansas did it right", "Work for your food stamps", "Maine got it right", *GENERIC])
GROUPS = [GERMAN, NAVY, KANSAS]


def model():
    texts = [t for g in GROUPS for t in g.comments] + [f"{g.title}\n{g.body}" for g in GROUPS]
    return RelevanceModel.from_corpus(texts, [g.comments for g in GROUPS])


def test_short_spans():
    assert short_spans("Merkel must resign now") == ["Merkel must resign now"]
    long = "What a ship name. Sailors will laugh at it. And the admirals agree with that decision, no choice at all."
    assert short_spans(long) == ["What a ship name.", "Sailors will laugh at it."]
    assert short_spans(long, spans=False) == []
    assert short_spans("Yes. " + long[18:]) == ["Sailors will laugh at it."]  # one-word sentences are left out


def test_moved_texts_are_tied_to_their_own_article_by_non_generic_words():
    moved = {(text, key): tied for text, key, tied in moved_texts(model(), GROUPS)}
    assert moved[("Merkel must resign now", "fox:de")] == {"merkel"}  # in another comment of the thread
    assert ("Shame on the Cologne police", "fox:de") in moved  # "cologn" is in the article
    assert moved[("Kansas did it right", "fox:ks")] == {"kansa", "right"}  # "Maine got it right": this thread only
    assert ("Sailors will laugh at it.", "fox:navy") in moved  # a short sentence of a longer comment
    texts = {text for text, _ in moved}
    # Used under every article: generic, never an off-topic example. A word found only in the comment itself
    # (leave-one-out) ties it to nothing.
    assert not texts & set(GENERIC)
    assert "Horse tooth jungle" not in texts
    assert not {(t, k) for t, k in moved if t not in short_spans(t)}
    # Tied by the article text only: "merkel" is in two comments of the thread but not in the article.
    by_article = {(text, key): tied for text, key, tied in moved_texts(model(), GROUPS, thread=False)}
    assert ("Merkel must resign now", "fox:de") not in by_article
    assert by_article[("Kansas did it right", "fox:ks")] == {"kansa"}


def test_add_moved_places_them_where_none_of_their_words_is_found():
    m = model()
    empty = Pairs([], [], np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0, int), np.zeros(0, str),
                  np.zeros(0, str))
    pairs = add_moved(empty, m, GROUPS, seed=3, uses=2)
    assert len(pairs.texts) > 5
    assert (pairs.kind == "moved").all() and (pairs.y == 1).all() and not pairs.leave_out.any()
    by_key = {g.key: g for g in GROUPS}
    ties = {(t, k): tied for t, k, tied in moved_texts(m, GROUPS)}
    for text, at, own in zip(pairs.texts, pairs.context_of, pairs.article):
        context = pairs.contexts[at]
        assert context.words != article_words(by_key[own].title, by_key[own].body)  # never under its own article
        thread_words = set(np.flatnonzero(context.thread.toarray()[0]))
        in_article = set(np.flatnonzero(context.article.toarray()[0]))
        assert not {_column(s) for s in ties[(text, own)]} & (thread_words | in_article)
    # Deterministic for a seed; `uses` bounds the placements of each text.
    again = add_moved(empty, m, GROUPS, seed=3, uses=2)
    assert again.texts == pairs.texts and (again.context_of == pairs.context_of).all()
    once = add_moved(empty, m, GROUPS, seed=3, uses=1)
    assert len(once.texts) <= len(ties) and len(pairs.texts) <= 2 * len(ties)


def test_moved_figures():
    pairs = Pairs(["Merkel must resign now", "Kansas did it right", "So sad", "Well said"], [],
                  np.zeros(4, np.int64), np.zeros(4, bool), np.array([1, 1, 0, 0]),
                  np.array(["moved", "moved", "article", "thread"]), np.array(["a", "b", "a", "b"]))
    figures = moved_figures(pairs, np.array([0.9, 0.2, 0.5, 0.1]), threshold=0.6)
    assert figures == {"moved": 2, "auc_moved_article": 0.5, "auc_moved_thread": 1.0, "moved_flagged": 0.5}
    assert moved_figures(pairs.subset(pairs.kind != "moved"), np.array([0.5, 0.1])) == {}
