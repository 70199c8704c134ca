"""Held for any reason: the full decision of the live model on real comments it did not train on.

Part of `make bench BENCH=relevance`. Every reason counts (spam, off_topic for long and short comments, toxic,
the policy's own), as a site sees them: the share of comments **held** (flagged or rejected) and **rejected**, and
the share held for each reason (a comment held for two reasons counts under both).
- Fox News comments under the two articles the model never trains on (`datasets.holdout_articles`), each under
  its headline and summary: the article only; the article and the comment it answers (the comment before it in
  the thread, as the data gives it); the article, the rest of its discussion (leave-one-out, as `rescore` passes
  it) and the comment it answers. The toxicity model trains on four in five of these comments by text hash
  (`training.toxicity.is_holdout`), so their toxic share is a lower bound.
- Civil Comments (news comments of about 50 sites, chosen for toxicity research: angrier than a site's average)
  held out from both the spam and the toxicity training (no article: no off_topic).
- Wikipedia talk replies held out from both, with the comment they answer (no article).
`rows(...)` and `figures(...)` take the Fox articles to use, so a development measure can run on the training
articles and leave the reported ones alone.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from moderation.actions import ACCEPT, REJECT
from moderation.moderator import Article, Moderator
from moderation.relevance import is_short
from training import datasets
from training import toxicity as toxicity_data

FOX = "fox-news-comments/fox-news-comments.json"


def fox_articles(data_dir: Path) -> dict[str, dict]:
    """Fox articles by title: title, summary, comments (text, the comment before it or None), training or not."""
    import json

    examples = datasets.deduplicate(datasets.load_fox(data_dir / FOX))
    held = datasets.holdout_articles(examples)
    articles: dict[str, dict] = {}
    with (data_dir / FOX).open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                a = articles.setdefault(row["title"], {"title": row["title"], "body": row.get("meta", ""),
                                                       "held_out": row["title"] in held, "comments": []})
                a["comments"].append((row["text"], row.get("prev") or None))
    return articles


def _code(text: str, reason) -> str:
    """The reason's code; off_topic split into long comments, the short-comment rule and the short-comment score."""
    if reason.code != "off_topic":
        return reason.code
    if not is_short(text):
        return "off_topic (long)"
    return "off_topic (short rule)" if reason.message.startswith("A short comment") else "off_topic (short score)"


def _rate(texts, verdicts) -> dict:
    n = len(verdicts)
    held = [(t, v) for t, v in zip(texts, verdicts) if v.decision != ACCEPT]
    reasons: Counter = Counter()
    for t, v in held:
        reasons.update({_code(t, r) for r in v.reasons if r.action != ACCEPT})
    return {"n": n, "held": len(held) / n if n else float("nan"),
            "rejected": sum(v.decision == REJECT for v in verdicts) / n if n else float("nan"),
            "reasons": {code: count / n for code, count in reasons.most_common()}}


def fox(moderator: Moderator, articles: list[dict]) -> dict:
    """The four ways of seeing the Fox comments of `articles`; each: n, held, rejected, reasons."""
    texts, heads, threads, parents = [], [], [], []
    for a in articles:
        own = [t for t, _ in a["comments"]]
        article = Article(datasets.article_key(a["title"]), a["title"], a["body"])
        for k, (text, parent) in enumerate(a["comments"]):
            texts.append(text)
            heads.append(article)
            threads.append(own[:k] + own[k + 1:])
            parents.append(parent)
    return {
        "article only": _rate(texts, moderator.moderate_batch(texts, heads)),
        "article + the comment it answers": _rate(texts, moderator.moderate_batch(texts, heads, parents=parents)),
        "article + discussion": _rate(texts, moderator.moderate_batch(texts, heads, threads)),
        "article, discussion + the comment it answers": _rate(texts, moderator.moderate_batch(
            texts, heads, threads, parents=parents)),
    }


def _held_out_everywhere(text: str, source: str) -> bool:
    return (datasets.is_holdout(datasets.Example(text, "ham", source), set())
            and toxicity_data.is_holdout(text))


def civil(moderator: Moderator, data_dir: Path) -> dict:
    texts = list(dict.fromkeys(
        e.text for e in datasets.load_civil_comments(data_dir / "civil-comments-toxic-spans" / "comments.csv")
        if _held_out_everywhere(e.text, "civil")))
    return _rate(texts, moderator.moderate_batch(texts))


def wikipedia(moderator: Moderator, data_dir: Path) -> dict:
    csv.field_size_limit(2 ** 30)
    with (data_dir / "wikipedia-talk-discussions" / "gc.csv").open(encoding="utf-8", newline="") as f:
        rows = {row["text"]: row["parent"] or None for row in csv.DictReader(f)
                if row["text"].strip() and _held_out_everywhere(row["text"], "wikipedia")}
    return _rate(list(rows), moderator.moderate_batch(list(rows), parents=list(rows.values())))


def figures(moderator: Moderator, data_dir: Path, held_out: bool = True) -> dict:
    """Fox (the held-out articles, or with `held_out=False` the training ones), Civil and Wikipedia talk."""
    articles = [a for a in fox_articles(data_dir).values() if a["held_out"] == held_out]
    out = {f"Fox, {name}": v for name, v in fox(moderator, articles).items()}
    out["Civil Comments, no article"] = civil(moderator, data_dir)
    out["Wikipedia talk replies, no article, the comment they answer"] = wikipedia(moderator, data_dir)
    return out


def table(out: dict) -> str:
    codes = sorted({c for v in out.values() for c in v["reasons"]}, key=lambda c: (not c.startswith("off_topic"), c))
    lines = ["| real comments, not trained on | comments | held for any reason | rejected | "
             + " | ".join(f"held: {c}" for c in codes) + " |",
             "|---|---|---|---|" + "---|" * len(codes)]
    for name, v in out.items():
        lines.append(f"| {name} | {v['n']:,} | {v['held']:.2%} | {v['rejected']:.2%} | "
                     + " | ".join(f"{v['reasons'].get(c, 0.0):.2%}" for c in codes) + " |")
    return "\n".join(lines)
