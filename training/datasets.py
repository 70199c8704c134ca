"""Loaders for the labelled data: the three public sets and the general format moderators use.

Every loader yields `Example`s with the raw text; the model pipeline normalises. `deduplicate` runs before any
split (YouTube has 196 exact duplicates, SMS 403), and `is_holdout` assigns each example to the frozen
evaluation set by a hash of its text (or of its article, for news comments), so the split is the same on every
run and a retrained model is always judged on the same comments.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from moderation.text import normalise

LABELS = ("spam", "ham", "off_topic")
HOLDOUT_SHARE = 5  # one example in five goes to the frozen evaluation set
FOX_HOLDOUT_ARTICLES = 2  # of the 10 Fox News articles, the model never trains on two


class DataError(ValueError):
    """A labelled file that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Example:
    text: str
    label: str  # "spam", "ham" or "off_topic"
    source: str  # "youtube", "sms", "fox", or the file it came from
    group: str = ""  # video or article the comment belongs to
    article_id: str = ""
    article_title: str = ""
    article_body: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_spam(self) -> int:
        return int(self.label == "spam")


def load_youtube(folder: Path) -> list[Example]:
    """YouTube Spam Collection CSVs: only CONTENT and CLASS are used (IDs, dates, authors leak the label)."""
    examples = []
    for path in sorted(Path(folder).glob("Youtube*.csv")):
        video = path.stem.split("-", 1)[-1]
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                label = "spam" if row["CLASS"].strip() == "1" else "ham"
                examples.append(Example(row["CONTENT"], label, "youtube", group=video, article_title=video))
    if not examples:
        raise DataError(f"no Youtube*.csv files in {folder}")
    return examples


def load_sms(path: Path) -> list[Example]:
    """SMS Spam Collection: one `ham<TAB>text` or `spam<TAB>text` a line."""
    examples = []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            label, sep, text = line.rstrip("\n").partition("\t")
            if not sep or label not in ("ham", "spam"):
                raise DataError(f"{path}:{number}: expected 'ham<TAB>text' or 'spam<TAB>text'")
            examples.append(Example(text, label, "sms", group="sms"))
    return examples


def load_fox(path: Path) -> list[Example]:
    """Fox News comments: real news comments, none spam (their label is hate speech, which we do not use)."""
    examples = []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: {exc.msg}") from None
            title = row.get("title", "")
            examples.append(Example(
                row["text"], "ham", "fox", group=title, article_id=article_key(title),
                article_title=title, article_body=row.get("meta", ""),
            ))
    return examples


def load_civil_comments(path: Path) -> list[Example]:
    """Civil Comments (`comment_id,comment_text`): real reader comments from about 50 news sites, none spam
    (whatever their tone: their toxicity labels are another matter)."""
    with Path(path).open(encoding="utf-8", newline="") as handle:
        return [Example(row["comment_text"], "ham", "civil", group="civil")
                for row in csv.DictReader(handle) if row.get("comment_text", "").strip()]


def load_wikipedia_talk(folder: Path) -> list[Example]:
    """Wikipedia talk-page comments (`gn.csv`, `gc.csv`): civil argument, often citing links, none spam. Only the
    text is read (the `api` column is a third party's score)."""
    examples = []
    for name in ("gn.csv", "gc.csv"):
        with (Path(folder) / name).open(encoding="utf-8", newline="") as handle:
            examples += [Example(row["text"], "ham", "wiki", group="wiki")
                         for row in csv.DictReader(handle) if row.get("text", "").strip()]
    return examples


def load_stackexchange_sample(folder: Path) -> list[Example]:
    """The Stack Exchange posts SmokeDetector caught (`stackexchange-spam-sample`): confirmed spam and legitimate
    posts caught by mistake, deduplicated by post, the question's title as the article. For evaluation during
    development only: never trained on. Posts marked both spam and legitimate are left out."""
    import html
    import re

    link = re.compile(r"""<a\s[^>]*href=["']([^"']+)["'][^>]*>""", re.IGNORECASE)
    tag = re.compile(r"<[^>]+>")
    posts: dict[int, Example] = {}
    for name in ("tpkws.nbts.json", "fpkws.nbts.json"):
        for row in json.loads((Path(folder) / name).read_text(encoding="utf-8")):
            if row.get("is_tp") == row.get("is_fp"):
                continue
            text = html.unescape(tag.sub(" ", link.sub(r" \1 ", row.get("body") or ""))).strip()
            label = "spam" if row["is_tp"] else "ham"
            posts.setdefault(row["id"], Example(text, label, "stackexchange", group="stackexchange",
                                                article_title=row.get("title") or ""))
    return list(posts.values())


def _labelled_rows(path: Path) -> list[tuple[int, object]]:
    """(line number, row) of a labelled file; DataError naming the line for invalid UTF-8 or JSON."""
    if path.suffix.lower() == ".csv":
        # utf-8-sig: a byte order mark (Excel's "CSV UTF-8") is not part of the first column's name;
        # surrogateescape: an undecodable byte is reported with its line below, not as a UnicodeDecodeError
        with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
            rows = list(enumerate(csv.DictReader(handle), 2))
        for number, row in rows:
            for value in (v for v in (*row.keys(), *row.values()) if isinstance(v, str) and not v.isascii()):
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise DataError(f"{path}:{number}: invalid UTF-8") from None
        return rows
    rows = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")  # a byte order mark
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"{path}:{number}: invalid UTF-8 (byte {exc.start} of the line)") from None
            if line.strip():
                try:
                    rows.append((number, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{number}: invalid JSON: {exc.msg}") from None
    return rows


def load_labelled(path: Path) -> list[Example]:
    """The general labelled format: CSV or JSON lines with `text`, `label` and optional article fields.

    The examples' source is the file's name, except for a file named as a shared source (`sms`, `fox`, `youtube`,
    no extension): its source is "<name> (site labels)". As "fox" it was taken for the shared data: without its
    site weight (`features.source_weights`), split as one Fox article (all held out or none), and read as news
    articles by the relevance model."""
    from moderation.features import SHARED_SOURCES  # here, not at the top: the command line starts without sklearn

    path = Path(path)
    source = f"{path.name} (site labels)" if path.name in SHARED_SOURCES else path.name
    rows = _labelled_rows(path)
    examples = []
    for number, row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise DataError(f"{path}:{number}: a row needs a 'text' string")
        label = str(row.get("label", "")).strip().lower()
        if label not in LABELS:
            raise DataError(f"{path}:{number}: label must be one of {', '.join(LABELS)}, not {label!r}")
        article_id = str(row.get("article_id") or "")
        examples.append(Example(
            row["text"], label, source, group=article_id or source, article_id=article_id,
            article_title=str(row.get("article_title") or ""), article_body=str(row.get("article_body") or ""),
        ))
    return examples


def article_key(title: str) -> str:
    return hashlib.sha256(title.encode("utf-8")).hexdigest()[:12]


def dedup_key(text: str) -> str:
    return normalise(text).casefold()


def deduplicate(examples: list[Example]) -> list[Example]:
    """One example per normalised text.

    In the shared data sets (SHARED_SOURCES) the first copy of a text is kept, and a text seen with conflicting
    labels is dropped entirely. A site's own labels (any other source: the moderators' feedback, a labelled file)
    take precedence over the shared copies of the same text - a moderator who labels "Check out my channel" as
    fine on their site, where the shared data calls it spam, must see that label trained on, not the text dropped
    for the conflict - and among a site's labels of one text the last one counts (a moderator correcting a label).
    """
    from moderation.features import SHARED_SOURCES  # here, not at the top: the command line starts without sklearn

    last_site: dict[str, int] = {}
    for i, example in enumerate(examples):
        if example.source not in SHARED_SOURCES:
            last_site[dedup_key(example.text)] = i
    labels: dict[str, set[str]] = {}
    for example in examples:
        key = dedup_key(example.text)
        if key not in last_site:
            labels.setdefault(key, set()).add(example.label)
    seen, kept = set(), []
    for i, example in enumerate(examples):
        key = dedup_key(example.text)
        if not key:
            continue
        if key in last_site:
            if i == last_site[key]:
                kept.append(example)
            continue
        if key in seen or len(labels[key]) > 1:
            continue
        seen.add(key)
        kept.append(example)
    return kept


def _bucket(value: str) -> int:
    return int(hashlib.sha256(value.encode("utf-8")).hexdigest()[:8], 16)


def holdout_articles(examples: list[Example]) -> set[str]:
    """The Fox articles kept out of training: the first two by hash of their title, the same on every run."""
    titles = sorted({e.group for e in examples if e.source == "fox"}, key=_bucket)
    return set(titles[:FOX_HOLDOUT_ARTICLES])


def is_holdout(example: Example, held_articles: set[str]) -> bool:
    """Whether an example belongs to the frozen evaluation set (grouped by article for news comments)."""
    if example.source == "fox":
        return example.group in held_articles
    return _bucket(dedup_key(example.text)) % HOLDOUT_SHARE == 0


def split(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    """Deduplicate, then split into (train, frozen evaluation)."""
    examples = deduplicate(examples)
    held = holdout_articles(examples)
    train, evaluation = [], []
    for example in examples:
        (evaluation if is_holdout(example, held) else train).append(example)
    return train, evaluation
