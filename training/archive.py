"""A site's archive of published comments: what its own legitimate comments, articles and threads look like.

Every site that rescores has one (`rescore` reads the same inputs). It is unlabelled: mostly legitimate, with
some spam that slipped through. `train --archive` uses it for what the shared data lacks:

- **its legitimate comments**, as legitimate examples (source `archive`, weighed like a shared data set), after
  setting aside what may be the spam inside it: comments the live model holds for spam, comments with an advert
  shape (`moderation.webspam`: a listed keyword, website or number, a support number, a written-out domain, a link
  to a commercial-looking host, a link-only comment), and texts posted three times or more (a wave). What is set
  aside is not learnt as legitimate, and is counted in the model's metadata;
- **its articles and threads**, as relevance pairs (a comment's own article against another article's, its
  thread as the discussion), for comments whose article has a title or a body;
- **article-comment spam made from its comments** (`training.augment` takes every legitimate training comment as a
  host, the archive's included), so an advert added to the site's kind of comment is spam.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np

from training import datasets

log = logging.getLogger(__name__)

SOURCE = "archive"
# A text posted this many times in the archive (a wave, a copy-paste campaign) is not taken as legitimate.
REPEATED = 3
# Advert shapes that set a comment aside (columns of moderation.webspam.WEBSPAM_NAMES).
ADVERT_SIGNALS = ("listed_keywords", "listed_websites", "listed_numbers", "support_phone", "written_domain",
                  "commercial_link", "link_only")


def read_archive(path: Path | None = None, sql_url: str | None = None, table: str | None = None) -> list[dict]:
    """The archive's rows (`id`, `text`, `article_id`, optional `article_title`, `article_body`, `parent_id`), read
    as `rescore` reads its input. Rows without a text are skipped; a file with no usable row is an error."""
    from training.rescore_io import InputError, Source

    try:
        source = Source(path, sql_url, table)
        rows = []
        for record in source.records():
            row = record.row
            if record.error or not isinstance(row, dict):
                continue
            text = row.get("text")
            if isinstance(text, str) and text.strip():
                rows.append(row)
    except InputError as exc:
        raise datasets.DataError(str(exc)) from None
    if not rows:
        raise datasets.DataError(f"{source.describe()} has no comments with a text")
    return rows


def _field(row: dict, name: str) -> str:
    value = row.get(name)
    return "" if value is None else str(value)


def archive_examples(rows: list[dict], spam_model=None, spam_flag: float | None = None,
                     webspam=None) -> tuple[list[datasets.Example], dict]:
    """(legitimate examples, report): the archive's comments minus what may be spam (module docstring).

    `spam_model` and `spam_flag` are the live model's spam pipeline and flag threshold (None: no model yet);
    `webspam` a fitted `moderation.webspam.WebSpamSignals` (None: no advert check)."""
    from moderation.webspam import WEBSPAM_NAMES

    texts = [row["text"] for row in rows]
    keys = [datasets.dedup_key(t) for t in texts]
    copies = Counter(keys)
    repeated = np.array([copies[k] >= REPEATED for k in keys])
    held = np.zeros(len(rows), dtype=bool)
    if spam_model is not None and spam_flag is not None:
        from moderation.features import spam_scores

        held = spam_scores(spam_model, texts) >= spam_flag
    advert = np.zeros(len(rows), dtype=bool)
    if webspam is not None:
        columns = [WEBSPAM_NAMES.index(name) for name in ADVERT_SIGNALS]
        advert = (webspam.transform(texts)[:, columns] > 0).any(axis=1)
    keep = ~(repeated | held | advert)
    examples = []
    for row, kept in zip(rows, keep):
        if not kept:
            continue
        article_id = _field(row, "article_id")
        examples.append(datasets.Example(
            row["text"], "ham", SOURCE, group=f"{SOURCE}:{article_id}", article_id=article_id,
            article_title=_field(row, "article_title"), article_body=_field(row, "article_body"),
            extra={"parent_id": _field(row, "parent_id")} if row.get("parent_id") not in (None, "") else {},
        ))
    report = {"comments": len(rows), "learnt_as_legitimate": int(keep.sum()),
              "set_aside": {"held_for_spam_by_the_live_model": int(held.sum()), "advert_shape": int(advert.sum()),
                            "repeated_text": int(repeated.sum())},
              "articles": len({_field(r, "article_id") for r in rows})}
    log.info("archive: %s", report)
    return examples, report
