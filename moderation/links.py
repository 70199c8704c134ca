"""What a link points at: a video, or anywhere else.

Under a video, a link to a YouTube video is often the song itself: YouTube's share text ("Katy Perry - Roar
(Official): http://youtu.be/CevxZvSJLk8") or a moment of it ("<a href=...watch?v=KQ6zr6kCPj8&t=2m19s>2:19</a>
best part"). Those fans were rejected as spam because every link was the one placeholder token `zzlink`, which
the training data ties to spam (a spam comment links to a shop, a channel or a site 95 times out of 100).

So the word model sees two placeholders (`features.feature_text_links`): `zzvideo` for a link to a video
(youtu.be/ID, youtube.com/watch?v=ID, /embed/ID, /shorts/ID) and `zzlink` for every other link, and the
`link_signals` block counts video links and bare "watch?v=ID" fragments (spammers write those to dodge link
filters, fans rarely) so the model can weigh them apart from the links signal. Self-promotion around a video link
("check out my song youtu.be/...") is still caught by the promotion signals. On news sites any link is rare.
"""

from __future__ import annotations

import re

import numpy as np
from scipy import sparse

from moderation.vectorised import match_counts

# A link to one video: youtu.be/ID, youtube.com/watch?...v=ID, /embed/ID, /v/ID, /shorts/ID, or a bare "?v=ID".
VIDEO_LINK = re.compile(
    r"youtu\.be/[\w-]{6,}|youtube\.com/(?:watch|embed/|v/|shorts/)|[?&]v=[\w-]{6,}", re.IGNORECASE)

LINK_NAMES = ("video_links",)


def is_video_link(link: str) -> bool:
    """Whether a link (as `features.URL` matched it) points at a YouTube video."""
    return VIDEO_LINK.search(link) is not None


def _may_link_a_video(text: str) -> bool:
    """False only for texts VIDEO_LINK cannot match (neither "youtu" nor "v=" in any case)."""
    if "=" not in text and "/" not in text:
        return False
    lowered = text.lower()
    return "youtu" in lowered or "v=" in lowered


def link_signals(texts) -> np.ndarray:
    """One row per text, one column per LINK_NAMES: tanh of the count of links to a video (vectorised).

    A dense array (one column: cheaper than a sparse matrix, above all for the single comments of serving)."""
    texts = list(texts)
    values = np.zeros((len(texts), len(LINK_NAMES)))
    where = np.fromiter(map(_may_link_a_video, texts), dtype=bool, count=len(texts))
    if where.any():
        values[:, 0] = np.tanh(match_counts(VIDEO_LINK, texts, where))
    return values


def link_signals_per_text(texts) -> sparse.csr_matrix:
    """The reference definition of `link_signals`, one text at a time."""
    values = np.array([[len(VIDEO_LINK.findall(t))] for t in texts], dtype=np.float64).reshape(-1, len(LINK_NAMES))
    return sparse.csr_matrix(np.tanh(values))
