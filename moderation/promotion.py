"""Signals of self-promotion and engagement bait that carry from one comment section to another.

A comment-section spammer on a video or under a news article rarely sells anything: most ask for attention -
"check out my channel", "sub 4 sub", "thumbs up if...", "I'm trying to reach 100 subscribers" - often misspelt
("sucscribe", "subscribirse"). The word model only knows the spellings and phrasings of its training videos, and
a new video brings new ones, so these patterns are counted as source-independent signals next to
`features.signal_features`. Each count is squashed with tanh into [0, 1), one column per name in
PROMOTION_NAMES. Counting is vectorised over the batch (`moderation.vectorised.match_counts`), and
`promotion_signals_per_text` is the plain reference definition.
"""

from __future__ import annotations

import re

import numpy as np
from scipy import sparse

from moderation.vectorised import match_counts

# The patterns are written in lower case and run on lower-cased texts: faster than re.IGNORECASE.

# "check out my", "check me out", "check our newest song", "come check my".
SELF_PROMOTION = re.compile(
    r"\bcheck(?:ing)?\s+(?:out\s+)?(?:me|my|our|us)\b|\bcheck\s+(?:me|us)\s+out\b|"
    r"\b(?:my|our)\s+(?:new(?:est)?\s+|first\s+|latest\s+|own\s+|little\s+)?(?:youtube\s+|yt\s+|gaming\s+|music\s+)?"
    r"(?:channel|videos?|vids?|vidios?|songs?|music|mixtape|remix(?:es)?|covers?|playlist|band|raps?|beats?|"
    r"clips?|vlogs?|stream|twitch)\b|"
    r"\bi\s+(?:make|made|upload|do|post)\s+(?:\w+\s+){0,2}(?:videos?|vids|music|songs?|covers?|beats|channel)\b",
)
# Subscribe, misspelt or in other languages ("sucscribe", "subscribirse", "suscribete"), and "sub 4 sub"; not
# "subscription", which news readers say of their paper.
SUBSCRIBE = re.compile(
    r"\bs[uo]b?[sc]{0,2}c?r[iy]b\w*|\bsub(?:s|bed)?\s*(?:4|for|to|me|back)\b|\bsubs?cri(?!pt)\w*",
)
# Audience counts as a goal: "100 subscribers", "1k subs", "1.000.000 views" (also said by fans: a weak signal).
AUDIENCE = re.compile(r"\b\d[\d.,]*\s*k?\s*(?:subs|subscribers?|followers?|fans)\b")
# Asking for likes, thumbs, follows or shares: "like this comment", "thumbs up if", "like 4 like", "f4f".
ENGAGEMENT_BAIT = re.compile(
    r"\blike\s+(?:this|my)\s+(?:comment|post)\b|\bthumbs?\s+up\s+(?:if|for|this)\b|"
    r"\bgive\s+(?:it|this|me)\s+a\s+(?:like|thumbs)|\b(?:like|follow|sub)\s*(?:4|for)\s*(?:like|follow|sub)\b|"
    r"\b[lfs]4[lfs]\b|\bfor\s+no\s+reason\b|\b(?:like|share)\s+if\b|\bhow\s+many\s+(?:likes|thumbs|views)\b",
)
# Begging for support: "please check out my", "would mean a lot", "help my channel grow", "spread the word" - not
# "please follow up" or "please help me understand", which readers write.
BEGGING = re.compile(
    r"\bplease\s+(?:subscribe|sub|check\s+(?:out\s+)?(?:my|our)|(?:like|share|watch|visit|support)\s+(?:my|our)|"
    r"follow\s+me|help\s+me\s+(?:reach|get|grow))\b|"
    r"\bhelp\s+(?:me|my|us)\s+(?:reach|get\s+(?:more\s+)?(?:subs|views|likes|followers)|grow)\b|"
    r"\b(?:would|will)\s+(?:really\s+)?mean\s+a\s+lot\b|\bspread\s+(?:the|my)\s+(?:word|music)\b"
)
# A link into a point of the same video ("&t=2m19s", "#t=80"): fans quoting a moment, not spam.
VIDEO_TIMESTAMP = re.compile(r"[?&#]t=\d+[hms\d]*")
# Runs of emoji or pictographs.
EMOJI_RUN = re.compile(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]{3,}")

# (name, pattern, a cheap test a text must pass to match at all, or None): texts that fail it count 0 unscanned.
PROMOTION = (
    ("self_promotion", SELF_PROMOTION, None),
    ("subscribe", SUBSCRIBE, lambda t: "sub" in t or "rib" in t or "ryb" in t),
    ("audience_count", AUDIENCE, lambda t: "sub" in t or "follow" in t or "fan" in t),
    ("engagement_bait", ENGAGEMENT_BAIT, None),
    ("begging", BEGGING, lambda t: "please" in t or "help" in t or "mean" in t or "spread" in t),
    ("video_timestamp", VIDEO_TIMESTAMP, lambda t: "t=" in t),
    ("emoji_run", EMOJI_RUN, lambda t: not t.isascii()),
)
PROMOTION_NAMES = tuple(name for name, _, _ in PROMOTION)


def promotion_signals(texts) -> sparse.csr_matrix:
    """One row per text, one column per PROMOTION_NAMES: tanh of the pattern's match count in the lower-cased text."""
    lowered = [t.lower() for t in texts]
    values = np.empty((len(lowered), len(PROMOTION)), dtype=np.float64)
    for column, (_, pattern, can_match) in enumerate(PROMOTION):
        where = None if can_match is None else np.fromiter(map(can_match, lowered), dtype=bool, count=len(lowered))
        values[:, column] = match_counts(pattern, lowered, where)
    return sparse.csr_matrix(np.tanh(values))


def promotion_rows(texts) -> np.ndarray:
    """`promotion_signals_per_text` as a dense array, for a few texts (the single-comment scorer reads it): the
    batch code's fixed numpy cost is most of one text's time. Patterns whose cheap test a text fails count 0
    unscanned, as in `promotion_signals`."""
    rows = []
    for text in texts:
        lowered = text.lower()
        rows.append([0 if can_match is not None and not can_match(lowered) else len(pattern.findall(lowered))
                     for _, pattern, can_match in PROMOTION])
    return np.tanh(np.array(rows, dtype=np.float64).reshape(len(rows), len(PROMOTION)))


def promotion_signals_per_text(texts) -> sparse.csr_matrix:
    """The reference definition of `promotion_signals`, one text at a time."""
    rows = [[len(pattern.findall(text.lower())) for _, pattern, _ in PROMOTION] for text in texts]
    values = np.array(rows, dtype=np.float64).reshape(len(rows), len(PROMOTION))
    return sparse.csr_matrix(np.tanh(values))
