"""What the short-comment rule costs and catches, on real short comments (moderation/short_support.py).

Part of `make bench BENCH=relevance`. The rule reads the model's generic words (learned from other corpora than
these: training/generic_words.py) and the article's words, so it is measured on the Fox News comments as they
are, top-level comments and replies apart (a reply given with the comment it answers is not judged by the rule):
- held: the share of real short comments (one to five words) the rule holds under their own page;
- moved: the same comments under another Fox article, the share held: what it catches;
- a long article: each Fox article's summary followed by 30 of its other comments as the body.
`write_table` puts the figures in docs/figures/relevance.md.
"""

from __future__ import annotations

import random
from pathlib import Path

from bench._held import fox_articles
from moderation import short_support as rule
from moderation.relevance import Context, is_short
from moderation.short_support import GENERIC, UNSUPPORTED, short_support

LONG_BODY_COMMENTS = 30


def _held(model, cases) -> dict:
    """cases: (text, context, leave_out, parent) -> share held, share generic, count."""
    verdicts = [short_support(model, t, c, loo, p) for t, c, loo, p in cases]
    verdicts = [v for v in verdicts if v is not None]
    n = len(verdicts)
    return {"n": n, "held": sum(v.verdict == UNSUPPORTED for v in verdicts) / n if n else float("nan"),
            "generic": sum(v.verdict == GENERIC for v in verdicts) / n if n else float("nan")}


def figures(model, data_dir: Path, seed_article: dict, seed: int = 0) -> dict:
    rng = random.Random(seed)
    articles = list(fox_articles(data_dir).values())
    bare = {a["title"]: Context.build(a["title"], a["body"]) for a in articles}
    full = {a["title"]: Context.build(a["title"], a["body"], [t for t, _ in a["comments"]]) for a in articles}
    long = {}
    for a in articles:
        texts = [t for t, _ in a["comments"]]
        long[a["title"]] = (Context.build(a["title"], a["body"] + "\n" + "\n".join(rng.sample(
            texts, min(LONG_BODY_COMMENTS, len(texts))))), set())
    out: dict = {}
    rows = [(a["title"], t, p) for a in articles for t, p in a["comments"] if is_short(t)]
    top = [(k, t, p) for k, t, p in rows if not p]
    replies = [(k, t, p) for k, t, p in rows if p]
    others = {a["title"]: [b["title"] for b in articles if b["title"] != a["title"]] for a in articles}
    moved_to = {(k, t): rng.choice(others[k]) for k, t, _ in rows}
    out["fox top-level: article only"] = _held(model, [(t, bare[k], False, None) for k, t, _ in top])
    out["fox top-level: with discussion"] = _held(model, [(t, full[k], True, None) for k, t, _ in top])
    out["fox top-level: long article"] = _held(model, [(t, long[k][0], False, None) for k, t, _ in top])
    out["fox replies: article only, parent unknown"] = _held(model, [(t, bare[k], False, None)
                                                                    for k, t, _ in replies])
    out["fox replies: article + parent"] = _held(model, [(t, bare[k], False, p) for k, t, p in replies])
    out["fox replies: with discussion, parent unknown"] = _held(model, [(t, full[k], True, None)
                                                                         for k, t, _ in replies])
    out["fox replies: with discussion + parent"] = _held(model, [(t, full[k], True, p) for k, t, p in replies])
    out["fox moved: under another article only"] = _held(model, [(t, bare[moved_to[(k, t)]], False, None)
                                                                for k, t, _ in rows])
    out["fox moved: under another article with its discussion"] = _held(
        model, [(t, full[moved_to[(k, t)]], False, None) for k, t, _ in rows])
    out["fox moved: under another long article"] = _held(model, [(t, long[moved_to[(k, t)]][0], False, None)
                                                                for k, t, _ in rows])
    total = sum(len(a["comments"]) for a in articles)
    for name, top_row, reply_row in (
            ("article only, parents unknown", "fox top-level: article only",
             "fox replies: article only, parent unknown"),
            ("article and parents", "fox top-level: article only", "fox replies: article + parent"),
            ("with discussion, parents unknown", "fox top-level: with discussion",
             "fox replies: with discussion, parent unknown"),
            ("with discussion and parents", "fox top-level: with discussion", "fox replies: with discussion + parent")):
        held = out[top_row]["held"] * len(top) + out[reply_row]["held"] * len(replies)
        out[f"fox, all comments (any length): {name}"] = {"n": total, "held": held / total, "generic": float("nan")}
    seed_context = Context.build(seed_article["title"], seed_article["body"])
    verdict = short_support(model, "Shoe level lies.", seed_context)
    out["seed"] = verdict.verdict if verdict else None
    return out


def neighbour_effect(model, data_dir: Path, cosines=(None, 0.65, 0.75, 0.85)) -> dict:
    """Held own-article and moved (under another article and its discussion) Fox short comments, with the
    discussion, for each word-vector neighbour cosine (None: no neighbours)."""
    saved, out = rule.NEIGHBOUR_COSINE, {}
    articles = list(fox_articles(data_dir).values())
    full = {a["title"]: Context.build(a["title"], a["body"], [t for t, _ in a["comments"]]) for a in articles}
    rng = random.Random(1)
    rows = [(a["title"], t) for a in articles for t, p in a["comments"] if is_short(t)]
    moved = [(rng.choice([k2 for k2 in full if k2 != k]), t) for k, t in rows]
    try:
        for cosine in cosines:
            rule.NEIGHBOUR_COSINE = cosine
            out[cosine] = (_held(model, [(t, full[k], True, None) for k, t in rows])["held"],
                           _held(model, [(t, full[k], False, None) for k, t in moved])["held"])
    finally:
        rule.NEIGHBOUR_COSINE = saved
    return out


def table(out: dict) -> str:
    lines = ["| real short comments (1-5 words) | comments | held by the rule | generic reactions |",
             "|---|---|---|---|"]
    for name, v in out.items():
        if isinstance(v, dict):
            generic = "" if v["generic"] != v["generic"] else f"{v['generic']:.1%}"
            lines.append(f"| {name} | {v['n']} | {v['held']:.1%} | {generic} |")
    lines.append(f"| 'Shoe level lies.' under the seed article | 1 | {out.get('seed')} | |")
    return "\n".join(lines)
