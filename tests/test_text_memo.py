"""The text memo behind normalise and the relevance tokens: the function's answers, in bounded memory."""

from __future__ import annotations

from moderation import text as text_module
from moderation.semantic import _tokens, tokens
from moderation.text import TextMemo, normalise


def test_the_memo_answers_as_the_function_and_stays_bounded():
    calls = []

    def upper(t):
        calls.append(t)
        return t.upper()

    memo = TextMemo(upper, size=3, max_chars=10)
    for t in ["a", "b", "a", "c", "d", "a", "e", "f", "g", "h", "i", "a"]:
        assert memo(t) == t.upper()
    # "a" is found in the older generation after d, and computed again once two generations passed
    assert calls == ["a", "b", "c", "d", "e", "f", "g", "h", "i", "a"]
    assert len(memo.new) <= 3 and len(memo.old) <= 3
    long = "x" * 11
    assert memo(long) == long.upper() and long not in memo.new and long not in memo.old
    assert memo(None.__class__.__name__) == "NONETYPE"


def test_normalise_and_tokens_are_the_unmemoised_functions():
    texts = ["", "   ", "Caf\u00e9 &amp; <b>bar</b>\u200b", "Win a FREE iPhone http://bit.ly/x !!!", "x" * 2500,
             "\uff26\uff55\uff4c\uff4c width", "don't stop   the music"]
    for t in texts * 2:
        assert normalise(t) == text_module._normalise(t)
        assert tokens(t) == _tokens(t)
    assert normalise(None) == ""


def test_clear_memos_empties_them_all():
    from moderation.text import clear_memos

    normalise("Some text &amp; more")
    tokens("Some text &amp; more")
    clear_memos()
    assert not text_module._NORMALISED.new and not text_module._NORMALISED.old
    assert not tokens.new and not tokens.old


def test_a_served_request_never_reuses_an_earlier_requests_memos(client):
    """The memos share a text's normalisation and tokens within one request only: the serving benches send the
    same 8 comments over and over, and must measure the work a new comment costs."""
    from moderation.text import _NORMALISED

    article = {"id": "a1", "title": "Budget vote", "body": "The council votes on the budget."}
    assert client.post("/v1/moderate", json={"text": "first distinct comment", "article": article}).status_code == 200
    assert "first distinct comment" in _NORMALISED.new
    assert client.post("/v1/moderate/batch", json={"comments": [{"text": "second one"}]}).status_code == 200
    assert "first distinct comment" not in _NORMALISED.new and "first distinct comment" not in _NORMALISED.old
