"""Coral's HTML: the target of a link is kept beside its text, also for a link left unclosed."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("html,text", [
    ('<a href="http://spam.example/x">click here', "click here (http://spam.example/x)"),
    ('<p><a href="http://a.example">one<a href="http://b.example">two</a></p>',
     "onetwo (http://b.example)\n\n(http://a.example)"),
    ('see <a href="http://spam.example">', "see http://spam.example"),
])


def test_coral_keeps_the_target_of_a_link_left_open(html, text):
    """A reader's browser shows an unclosed <a> as a link to the end of the comment; its target was dropped, so
    neither the model nor the links rule (MODERATION_LINKS_ACTION) saw where it pointed."""
    from service.coral import html_to_text

    assert html_to_text(html) == text
