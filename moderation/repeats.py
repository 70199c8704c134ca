"""Repeated text: the same comment posted again and again, under one article or many (copy-paste campaigns).

A spam wave or an astroturfing campaign pastes one text under many articles within hours, each copy new to the
model (a new link, a political message with no spam word). Coral counts repeat posts per author; this service
works on text only (no author, no IP), so it counts copies of the text itself.

`fingerprint(text)` is the key copies share: the text as a reader sees it (`text.normalise`: entities, tags,
invisible characters, NFKC), case-folded, with everything but letters and digits taken out, so "Vote NO on
Prop 5!!!" and "vote no on prop 5" are the same post. Texts of fewer than `min_words` words have none: "Great
article, thanks" and "So true" are written by many readers independently and are never repeats.

The store keeps the fingerprint with each comment it records (accepted comments in their article's thread,
flagged ones in the review log) and counts the copies of a window; rejected comments are not stored, so they
do not count (a repeated text already rejected is rejected again by whatever rejected it). The policy
(`policy.decide`, reason `repeat`) acts from `repeat_min` copies, this one included.
"""

from __future__ import annotations

import hashlib
import re

from moderation.text import normalise

_NOT_WORD = re.compile(r"[\W_]+")
FINGERPRINT_CHARS = 32  # hex of a 128-bit BLAKE2b digest


def fingerprint(text: str, min_words: int = 6) -> str | None:
    """The repeat key of a comment, or None when it has fewer than `min_words` words (or none at all)."""
    words = _NOT_WORD.sub(" ", normalise(text).casefold()).split()
    if len(words) < min_words:
        return None
    return hashlib.blake2b(" ".join(words).encode("utf-8"), digest_size=FINGERPRINT_CHARS // 2).hexdigest()


class AtLeast(int):
    """A count of copies that stopped at a cap (the store's REPEAT_COUNT_CAP): the true count is this or more. It
    compares and adds as the number it is, and reads "10 or more" in a message."""

    def __format__(self, spec: str) -> str:
        return f"{format(int(self), spec)} or more"
