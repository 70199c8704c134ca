"""Text normalisation shared by training and serving.

Every text the model sees, at training time or at request time, goes through `normalise` first, so the two can
never drift apart. It undoes what the web does to comments (HTML entities and tags), removes characters nobody
sees (zero-width spaces, the byte-order mark YouTube leaves at the end of most comments), folds Unicode
compatibility forms (NFKC: full-width letters, ligatures) and collapses white space.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Zero-width and other invisible format characters. U+FEFF ends 1,548 of 1,956 YouTube comments, unevenly by
# class: left in, a model would learn the BOM instead of the text.
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^<>]{0,500}>")
_BREAK_TAG = re.compile(r"<\s*(br|/p|p|/div|div|li)\b[^<>]{0,200}>", re.IGNORECASE)
_HREF = re.compile(r"""<\s*a\s[^<>]*?href\s*=\s*["']?([^"'\s<>]+)[^<>]*>""", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w")
# Article markup (article_text): where script, style and noscript blocks and comments open (their content goes up
# to where they close, found by a plain search: a regex scanning on for every unclosed opening would be quadratic),
# any tag however long its attributes, and links written out in the text.
_ARTICLE_BLOCK = re.compile(r"<!--|<\s*(script|style|noscript)\b", re.IGNORECASE)
_ARTICLE_TAG = re.compile(r"<\s*/?\s*[a-zA-Z!][^<>]*>")
_ARTICLE_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)


MEMOS: list = []  # every TextMemo, for clear_memos


def clear_memos() -> None:
    """Empty every text memo: batch rescoring starts each chunk with empty memos, so a text repeated in an earlier
    chunk (the throughput bench's archive repeats its texts) is not served from them; within a chunk they work. The
    service empties them at each moderation request for the same reason (the serving benches repeat 8 comments)."""
    for memo in MEMOS:
        memo.clear()


class TextMemo:
    """A bounded memo of a pure function of a text: the last `size` to 2 x `size` distinct texts (two generations,
    the older dropped when the newer fills up: an LRU's effect for one dict lookup per hit). Texts longer than
    `max_chars` (article bodies) are not kept. A comment is normalised and tokenised by the spam model, the
    relevance model's word counts and its word vectors: with the memo, once."""

    def __init__(self, func, size: int = 8192, max_chars: int = 2000):
        self.func, self.size, self.max_chars = func, size, max_chars
        self.new: dict = {}
        self.old: dict = {}
        MEMOS.append(self)

    def clear(self) -> None:
        self.new, self.old = {}, {}

    def __call__(self, text: str):
        if text.__class__ is not str:  # None, a subclass: computed, not kept
            return self.func(text)
        value = self.new.get(text)
        if value is not None:
            return value
        value = self.old.get(text)
        if value is None:
            value = self.func(text)
            if len(text) > self.max_chars:
                return value
        if len(self.new) >= self.size:
            self.old, self.new = self.new, {}
        self.new[text] = value
        return value


def normalise(text: str) -> str:
    """Return the comment as a reader sees it: unescaped, untagged, NFKC, single-spaced, stripped."""
    return _NORMALISED(text)


def _normalise(text: str) -> str:
    if not text:
        return ""
    # Entities can be escaped twice over ("&amp;#39;"); two passes undo both without looping on hostile input.
    if "&" in text:  # without one there is no entity (the same result, faster)
        text = html.unescape(html.unescape(text))
    if "<" in text:  # without one there is no tag
        # Keep the target of a link: "<a href=http://spam>click</a>" must still show the link to the model.
        text = _HREF.sub(lambda m: f" {m.group(1)} ", text)
        text = _BREAK_TAG.sub(" ", text)
        text = _TAG.sub("", text)
    text = _INVISIBLE.sub("", text)
    text = unicodedata.normalize("NFKC", text)
    return _SPACE.sub(" ", text).strip()


_NORMALISED = TextMemo(_normalise)


def article_text(text: str) -> str:
    """An article's title or body as the words a reader reads, for relevance: a CMS often sends the body as HTML.
    Unlike a comment's (`normalise`, which keeps a link's target so that the spam model sees it), an article's
    markup goes entirely - tags with their attributes, link targets, script and style blocks - and so do links in
    its text: "https", "www" and "com" from an article's links would otherwise support every link in a comment, and
    "articles" in its URLs "Great article". The result is then normalised like any text. Idempotent."""
    if not text:
        return ""
    if "&" in text:  # markup sent escaped ("&lt;p&gt;") is markup too; normalise's two passes, done first
        text = html.unescape(html.unescape(text))
    if "<" in text:
        text = _drop_blocks(text)
        text = _ARTICLE_TAG.sub(" ", text)
    if "://" in text or "www." in text.lower():
        text = _ARTICLE_URL.sub(" ", text)
    return text


def _drop_blocks(text: str) -> str:
    """`text` without its comments and script, style and noscript blocks (an unclosed one runs to the end, as in
    a browser). Linear: each block's end is one search from where it opens."""
    parts, at, lower = [], 0, None
    while True:
        found = _ARTICLE_BLOCK.search(text, at)
        if found is None:
            parts.append(text[at:])
            return " ".join(parts)
        parts.append(text[at:found.start()])
        lower = lower if lower is not None else text.lower()
        if found.group(1) is None:
            end, closing = lower.find("-->", found.end()), "-->"
        else:
            end, closing = lower.find(f"</{found.group(1).lower()}", found.end()), ">"
            end = lower.find(closing, end) if end >= 0 else -1
        if end < 0:
            return " ".join(parts)
        at = end + len(closing)


def is_blank(text: str) -> bool:
    """`not normalise(text)`, without normalising most texts: a word character outside markup always survives."""
    if "<" not in text and "&" not in text and _WORD.search(text):
        return False
    return not normalise(text)


def normalise_all(texts) -> list[str]:
    """Normalise a sequence of texts (the first step of every model pipeline)."""
    return [normalise(t) for t in texts]


def policy_length(text: str) -> int:
    """Length the policy counts: characters (code points) of the text as sent, without surrounding white space.

    This is what a comment form's counter shows ("1500 / 1500"); HTML entities are not expanded, so the CMS and
    the service agree on the number.
    """
    return len(unicodedata.normalize("NFC", text).strip())


SHORT_WORDS = 5  # a comment of one to this many words takes the short-comment path (its own combiner and threshold)
_READER_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")  # words as a reader counts them ("it's" is one word)


def reader_words(text: str) -> int:
    """How many words a reader counts in the start of a text (up to 200 characters: enough to tell a short one)."""
    return len(_READER_WORD.findall(text[:200]))


def is_short(text: str) -> bool:
    """One to SHORT_WORDS words: the short-comment path (few words to compare, so its own combiner and threshold)."""
    return 0 < reader_words(text) <= SHORT_WORDS
