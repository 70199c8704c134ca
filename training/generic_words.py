"""The generic words of comments: words people write whatever the page is about.

A short comment whose content words are all generic is a generic reaction ("So true.", "Interesting read.") and
is never held for relevance (moderation/short_support.py). Generic is learned from comment corpora of unrelated
communities, each a different mix of subjects: reader comments from about 50 news sites (Civil Comments),
Wikipedia talk-page comments, YouTube comments (ham) and text messages (SMS ham). A stem is generic when at least
MIN_SHARE of the comments of at least MIN_SOURCES of these corpora use it: "great", "thank", "true", "read",
"updat", "lie" are; "shoe", "mosul", "pizza" are not. Interjections are added from a listed lexicon
(INTERJECTIONS): they are rare in any corpus ("lord" is used by 0.15% of news comments, as often as "shoe"), yet
say nothing about a subject.

The Fox News comments are deliberately not among the corpora: they are what the rule is measured on
(bench/relevance.py).
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from pathlib import Path

from moderation.relevance import content_words

log = logging.getLogger(__name__)

MIN_SHARE = 0.001  # a stem used by at least 1 comment in 1,000 of a corpus ...
MIN_SOURCES = 2  # ... in at least this many corpora is generic
# English interjections and exclamations (as grammars list them): reactions, not subjects.
INTERJECTIONS = (
    "ah", "aha", "ahem", "alas", "amen", "argh", "aw", "aww", "bah", "bingo", "boo", "bravo", "brr", "cheers",
    "congrats", "damn", "dang", "darn", "duh", "eek", "eh", "gee", "geez", "god", "golly", "gosh", "goodness",
    "gracious", "ha", "haha", "hah", "hallelujah", "heck", "hey", "hmm", "hooray", "huh", "hurrah", "jeez", "jesus",
    "kudos", "lmao", "lol", "lord", "meh", "nah", "nope", "oh", "omg", "oops", "ouch", "ow", "phew", "pfft", "shh",
    "ugh", "uh", "um", "whoa", "woah", "wow", "wtf", "yay", "yeah", "yep", "yes", "yikes", "yuck", "yup",
)

CORPORA = {  # name -> (path under the data folder, reader)
    "news comments": ("civil-comments-toxic-spans/comments.csv", "civil"),
    "wikipedia talk": ("wikipedia-talk-discussions/gn.csv", "wiki"),
    "youtube": ("youtube-spam-collection", "youtube"),
    "sms": ("sms-spam-collection/SMSSpamCollection", "sms"),
}


def _read(path: Path, kind: str) -> list[str]:
    csv.field_size_limit(2 ** 30)
    if kind == "civil":
        with path.open(encoding="utf-8", newline="") as f:
            return [row["comment_text"] for row in csv.DictReader(f)]
    if kind == "wiki":
        with path.open(encoding="utf-8", newline="") as f:
            return [row["text"] for row in csv.DictReader(f)]
    if kind == "youtube":
        texts = []
        for file in sorted(path.glob("*.csv")):
            with file.open(encoding="utf-8", newline="") as f:
                texts += [row["CONTENT"] for row in csv.DictReader(f) if row.get("CLASS") == "0"]
        return texts
    with path.open(encoding="utf-8", errors="replace") as f:  # sms: "ham<TAB>text"
        return [line.split("\t", 1)[1] for line in f if line.startswith("ham\t")]


def corpora(data_dir: Path | None) -> dict[str, list[str]]:
    """The comment corpora found under `data_dir` (missing ones are skipped)."""
    out = {}
    for name, (relative, kind) in CORPORA.items():
        path = Path(data_dir) / relative if data_dir is not None else None
        if path is not None and path.exists():
            out[name] = _read(path, kind)
    return out


def generic_stems(texts_by_source: dict[str, list[str]], min_share: float = MIN_SHARE,
                  min_sources: int = MIN_SOURCES) -> frozenset[str]:
    """Stems used by at least `min_share` of the comments in at least `min_sources` corpora, plus the
    interjections."""
    spread: Counter = Counter()
    for texts in texts_by_source.values():
        if not texts:
            continue
        df: Counter = Counter()
        for text in texts:
            df.update(set(content_words(text)))
        spread.update(s for s, n in df.items() if n >= min_share * len(texts))
    stems = {s for s, n in spread.items() if n >= min(min_sources, len(texts_by_source))}
    stems.update(s for word in INTERJECTIONS for s in content_words(word))
    return frozenset(stems)


_LEARNED: dict[str, frozenset[str]] = {}


def learn_generic_words(data_dir: Path | None, fallback: dict[str, list[str]] | None = None) -> frozenset[str]:
    """The generic stems from the corpora under `data_dir`, or from `fallback` (texts by source: the training
    examples' legitimate comments) when none is found."""
    key = str(Path(data_dir).resolve()) if data_dir is not None else None
    if key in _LEARNED:  # the corpora are read-only shared data: learned once per process
        return _LEARNED[key]
    found = corpora(data_dir)
    if len(found) < MIN_SOURCES and fallback:
        found, key = fallback, None
    stems = generic_stems(found)
    if key is not None:
        _LEARNED[key] = stems
    log.info("generic words: %d stems from %s", len(stems), ", ".join(sorted(found)) or "no corpus")
    return stems
