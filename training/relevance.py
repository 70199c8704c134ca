"""Training and evaluating the relevance model from comment-article pairs.

A comment with its own article and the article's other comments (leave-one-out thread) is relevant; the same
comment with a randomly chosen other article and that article's comments is not. Pairs come from the Fox News
comments (10 articles, headline and summary) and the YouTube ham comments with their video titles; moderators'
labelled rows with article fields add theirs (`ham` = relevant, `off_topic` = not). To also learn new articles
with no discussion yet, every comment is paired a second time with the article alone (empty thread). One- to
five-word comments learn from other negatives (`add_moved`, `add_foreign`): see `fit`.

Evaluation is grouped by article: no article is in both the training and the test pairs. `train_relevance`
trains on the training split's articles, chooses `off_topic_flag` from out-of-fold scores (grouped folds), and
measures the frozen evaluation split's articles (the two held-out Fox articles).
"""

from __future__ import annotations

import logging
import random
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from moderation.relevance import (FEATURE_NAMES, REGIMES, SHORT_FEATURES, Columns, Context, RelevanceModel,
                                  content_words, count_vectors, fill_text_features, is_short)
from moderation.relevance_one import _column
from moderation.semantic import WordVectors, word_baselines
from training import sources
from training.datasets import Example
from training.generic_words import learn_generic_words, learn_word_associations

log = logging.getLogger(__name__)

# The YouTube Spam Collection videos and their titles on YouTube.
YOUTUBE_TITLES = {
    "Psy": "PSY - GANGNAM STYLE (강남스타일) M/V",
    "KatyPerry": "Katy Perry - Roar (Official)",
    "LMFAO": "LMFAO - Party Rock Anthem ft. Lauren Bennett, GoonRock",
    "Eminem": "Eminem - Love The Way You Lie ft. Rihanna",
}
# Off-topic flags at most this share of relevant comments in out-of-fold scores, in every kind of context (the
# full thread, the article alone, partial threads): a comment under its own article is held for relevance at most
# 1 time in 100 however much of the discussion exists yet. At 5% of all kinds pooled, 13.6% of a national
# newspaper's real comments were held as off-topic (its long articles and discussions are not Fox's summaries).
FLAG_RELEVANT_RATE = 0.01
MIN_FLAG = 0.5
# One- to five-word comments (their own combiner) are flagged by their score at most this share of the time under
# their own article with its discussion (out-of-fold); never below even odds (MIN_FLAG). As for longer comments:
# the short-comment rule (moderation/short_support.py) holds those whose words find no support, whatever the score,
# so the score holds only what it is surest of (at 10% it held 1 real short comment in 10 on top of the rule).
FLAG_SHORT_RELEVANT_RATE = 0.01
MIN_ARTICLE_COMMENTS = 5
PARTIAL_THREADS = (3, 10, 30)  # sizes of the partial discussions comments are also paired with
ARTICLE_BODIES = (10, 30)  # comments appended to an article's summary to stand in for a longer article text  # an article needs this many comments to give pairs (its thread is the others)


@dataclass
class ArticleGroup:
    key: str
    title: str
    body: str
    source: str
    comments: list[str] = field(default_factory=list)
    off_topic: list[str] = field(default_factory=list)  # comments labelled off-topic under this article


def article_groups(examples: list[Example]) -> list[ArticleGroup]:
    """Articles with their comments: Fox articles, YouTube videos (ham only), labelled rows with article fields."""
    groups: dict[str, ArticleGroup] = {}
    for e in examples:
        if e.source == "fox":
            key, title, body = f"fox:{e.group}", e.article_title, e.article_body
        elif e.source == "youtube":
            if e.label != "ham":
                continue
            key, title, body = f"youtube:{e.group}", YOUTUBE_TITLES.get(e.group, e.group), ""
        elif e.article_title or e.article_body:
            if e.label not in ("ham", "off_topic"):
                continue
            key, title, body = f"{e.source}:{e.article_id or e.article_title}", e.article_title, e.article_body
        else:
            continue
        group = groups.setdefault(key, ArticleGroup(key, title, body, e.source))
        (group.off_topic if e.label == "off_topic" else group.comments).append(e.text)
    return [g for g in groups.values() if len(g.comments) >= MIN_ARTICLE_COMMENTS or g.off_topic]


@dataclass
class Pairs:
    texts: list[str]
    contexts: list[Context]
    context_of: np.ndarray
    leave_out: np.ndarray
    y: np.ndarray  # 1 = off-topic
    kind: np.ndarray  # "thread" (full leave-one-out thread) or "article" (no thread yet)
    article: np.ndarray  # the comment's own article key

    def subset(self, mask: np.ndarray) -> "Pairs":
        mask = np.asarray(mask, bool)
        return Pairs([t for t, m in zip(self.texts, mask) if m], self.contexts, self.context_of[mask],
                     self.leave_out[mask], self.y[mask], self.kind[mask], self.article[mask])


def make_pairs(groups: list[ArticleGroup], negatives_from: list[ArticleGroup] | None = None, seed: int = 0,
               partial_threads: tuple[int, ...] = PARTIAL_THREADS) -> Pairs:
    """Each comment of `groups` with its own article (relevant) and a random other article (not relevant).

    Kinds of pair: "thread" (the article with all its other comments), "article" (no comment yet), and
    "thread<k>" (the article with k random comments: a discussion that has just started - and, as the Fox
    articles are a headline and a summary, a stand-in for a longer article text).
    """
    rng = random.Random(seed)
    pool = negatives_from if negatives_from is not None else groups
    contexts: list[Context] = []
    built: dict[tuple[str, int], tuple[int, set]] = {}
    for g in {g.key: g for g in list(groups) + list(pool)}.values():
        for size in (None, 0, *partial_threads):
            chosen = g.comments if size is None else rng.sample(g.comments, min(size, len(g.comments)))
            built[(g.key, size)] = (len(contexts), set(chosen) if size is not None else None)
            contexts.append(Context.build(g.title, g.body, chosen))
        # Longer article texts: the summary followed by comments from one half of the discussion, for the other
        # half's comments (the Fox articles come as headline and summary only; real articles are longer).
        shuffled = list(g.comments)
        rng.shuffle(shuffled)
        halves = (shuffled[::2], shuffled[1::2])
        for size in ARTICLE_BODIES:
            for h, half in enumerate(halves):
                body = "\n".join([g.body, *half[:size]])
                built[(g.key, f"body{size}:{h}")] = (len(contexts), set(halves[1 - h]))
                contexts.append(Context.build(g.title, body, []))
    texts, context_of, leave_out, y, kind, article = [], [], [], [], [], []

    def add(text, ctx, loo, label, k, own):
        texts.append(text), context_of.append(ctx), leave_out.append(loo), y.append(label), kind.append(k)
        article.append(own)

    for g in groups:
        others = [o for o in pool if o.key != g.key and o.source == g.source] or \
                 [o for o in pool if o.key != g.key]
        if not others:
            continue
        for text in g.comments:
            other = rng.choice(others)
            add(text, built[(g.key, None)][0], True, 0, "thread", g.key)
            add(text, built[(other.key, None)][0], False, 1, "thread", g.key)
            for size in (0, *partial_threads):
                name = "article" if size == 0 else f"thread{size}"
                own_ctx, members = built[(g.key, size)]
                add(text, own_ctx, text in members, 0, name, g.key)
                add(text, built[(other.key, size)][0], False, 1, name, g.key)
            for size in ARTICLE_BODIES:
                h = 0 if text in built[(g.key, f"body{size}:0")][1] else 1
                add(text, built[(g.key, f"body{size}:{h}")][0], False, 0, "article", g.key)
                add(text, built[(other.key, f"body{size}:{rng.randrange(2)}")][0], False, 1, "article", g.key)
        for text in g.off_topic:
            add(text, built[(g.key, None)][0], False, 1, "thread", g.key)
    return Pairs(texts, contexts, np.array(context_of, dtype=np.int64), np.array(leave_out, bool),
                 np.array(y), np.array(kind), np.array(article))


FOREIGN_USES = 3  # each out-of-domain short text is paired with this many random news contexts


def foreign_texts(examples: list[Example]) -> list[str]:
    """Short texts from outside the news-comment domain (SMS ham: personal chat), off-topic under any article.

    Own-vs-other-article pairs cannot teach the short regime what off-topic means: a generic comment ("Great
    article, thanks") is as much at home under another article, and most short news comments are replies. Chat
    that belongs to no article is the missing negative class: specific words no article or discussion supports.
    """
    return sorted({e.text for e in examples if e.source == "sms" and e.label == "ham" and is_short(e.text)})


def add_foreign(pairs: Pairs, groups: list[ArticleGroup], foreign: list[str], seed: int = 0) -> Pairs:
    """`pairs` plus each foreign text with FOREIGN_USES random news contexts of `pairs` (label off-topic)."""
    news = {g.key for g in groups if g.source != "youtube"}
    candidates = sorted({int(c) for c, a in zip(pairs.context_of, pairs.article) if a in news})
    if not foreign or not candidates:
        return pairs
    rng = random.Random(seed)
    texts = [t for t in foreign for _ in range(FOREIGN_USES)]
    contexts = [rng.choice(candidates) for _ in texts]
    return _plus_off_topic(pairs, pairs.contexts, texts, contexts, "foreign", [""] * len(texts))


def _plus_off_topic(pairs: Pairs, contexts: list, texts: list[str], context_of: list[int], kind: str,
                    article: list[str]) -> Pairs:
    """`pairs` (whose contexts are the first of `contexts`) plus `texts`, each under `contexts[context_of[i]]`,
    labelled off-topic, of `kind`, from `article` (the key of the article a text was taken from, or "")."""
    n = len(texts)
    return Pairs(pairs.texts + texts, contexts, np.concatenate([pairs.context_of, np.array(context_of, np.int64)]),
                 np.concatenate([pairs.leave_out, np.zeros(n, bool)]), np.concatenate([pairs.y, np.ones(n, int)]),
                 np.concatenate([pairs.kind, np.full(n, kind)]),
                 np.concatenate([pairs.article, np.array(article, dtype=str)]))


# Real short comments (and short sentences of longer ones) that are specific to their own article - a word that is
# not generic in comments and is found in their own article or discussion - placed under another article where
# none of those words is found: what an off-topic short comment looks like in news comments. Comments of generic
# words only ("Great article, thanks") never qualify, so they are seen as relevant only.
MOVED_USES = 2  # each such text under this many other articles (random context size each)
MOVED_MAX_GENERIC = 0.3  # a supporting word used in the comments of at most this share of the training articles
MOVED_SPANS = True  # also short sentences (2-5 words) of longer comments
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


def short_spans(text: str, spans: bool = True) -> list[str]:
    """The text itself when it is short, else (with `spans`) its short sentences of two or more words."""
    if is_short(text):
        return [text]
    if not spans:
        return []
    out = []
    for sentence in _SENTENCE.findall(text[:2000]):
        sentence = sentence.strip()
        if is_short(sentence) and len(sentence.split()) >= 2:
            out.append(sentence)
    return out


def moved_texts(model: RelevanceModel, groups: list[ArticleGroup], spans: bool = MOVED_SPANS,
                max_generic: float = MOVED_MAX_GENERIC, thread: bool = True) -> list[tuple]:
    """(short text, its article key, the stems that tie it to its own article) for every short comment or span
    whose non-generic words find support in its own article or its other comments (leave-one-out)."""
    out = []
    for g in groups:
        article = set(content_words(f"{g.title}\n{g.body}"))
        others: Counter = Counter()
        for text in g.comments if thread else ():
            others.update(content_words(text))
        for text in g.comments:
            own = Counter(content_words(text))
            for span in short_spans(text, spans):
                stems = set(content_words(span))
                tied = {s for s in stems if (s in article or others[s] - own[s] > 0)
                        and model.generic[_column(s)] <= max_generic}
                if tied:
                    out.append((span, g.key, tied))
    return out


def add_moved(pairs: Pairs, model: RelevanceModel, groups: list[ArticleGroup], seed: int = 0,
              targets: list[ArticleGroup] | None = None, uses: int = MOVED_USES, **selection) -> Pairs:
    """`pairs` plus the `moved_texts` of `groups` (keywords `spans`, `max_generic`, `thread`) each under `uses`
    random other news articles of `targets` (default `groups`) - with their full discussion, none, or 3/10/30 of
    its comments - where none of its tying words is found (label off-topic, kind "moved")."""
    rng = random.Random(seed)
    news = [g for g in (groups if targets is None else targets) if g.source != "youtube"]
    if len(news) < 2:
        return pairs
    contexts, support = list(pairs.contexts), {}
    for g in news:
        for size in (None, 0, *PARTIAL_THREADS):
            chosen = g.comments if size is None else rng.sample(g.comments, min(size, len(g.comments)))
            support[(g.key, size)] = (len(contexts), set(content_words(f"{g.title}\n{g.body}"))
                                      | {s for t in chosen for s in content_words(t)})
            contexts.append(Context.build(g.title, g.body, chosen))
    texts, context_of, article = [], [], []
    for span, key, tied in moved_texts(model, groups, **selection):
        others = [g for g in news if g.key != key]
        for target in rng.sample(others, min(uses, len(others))):
            at, words = support[(target.key, rng.choice((None, 0, *PARTIAL_THREADS)))]
            if tied & words:
                continue
            texts.append(span), context_of.append(at), article.append(key)
    return _plus_off_topic(pairs, contexts, texts, context_of, "moved", article)


LONG_BODY_COMMENTS = 30  # a long article for the evaluation: the summary followed by this many of its comments


def add_long_articles(pairs: Pairs, model: RelevanceModel, test: list[ArticleGroup], targets: list[ArticleGroup],
                      foreign: list[str], seed: int = 0) -> Pairs:
    """Evaluation pairs under long article texts (the Fox articles are a headline and a summary; real articles run
    to hundreds of words, where a comment's words are found by chance): `pairs` plus the test articles' real short
    comments under their own article with LONG_BODY_COMMENTS of its other comments as the body (kind "long",
    relevant), their `moved_texts` under 2 other news articles made long the same way where none of their tying
    words is found (kind "long_moved"), and `foreign` texts each under one of them ("long_foreign")."""
    rng = random.Random(seed)
    news = [g for g in targets if g.source != "youtube"]
    contexts = list(pairs.contexts)
    sampled = {g.key: rng.sample(g.comments, min(LONG_BODY_COMMENTS + 10, len(g.comments))) for g in news}

    built: dict = {}  # (article key, comment left out) -> (context index, its words): another article's, once

    def long_context(g: ArticleGroup, without: str | None = None) -> tuple[int, set]:
        if (g.key, without) not in built:
            body = "\n".join([g.body, *[c for c in sampled[g.key] if c != without][:LONG_BODY_COMMENTS]])
            contexts.append(Context.build(g.title, body))
            built[(g.key, without)] = len(contexts) - 1, set(content_words(f"{g.title}\n{body}"))
        return built[(g.key, without)]

    texts, context_of, kind, article, y = [], [], [], [], []

    def add(text, at, k, key, label):
        texts.append(text), context_of.append(at), kind.append(k), article.append(key), y.append(label)

    for g in test:
        if g.source == "youtube" or g.key not in sampled:
            continue
        for text in g.comments:
            if is_short(text):
                add(text, long_context(g, text)[0], "long", g.key, 0)
    for span, key, tied in moved_texts(model, [g for g in test if g.source != "youtube"]):
        for target in rng.sample([g for g in news if g.key != key], min(2, len(news) - 1)):
            at, words = long_context(target)
            if not tied & words:
                add(span, at, "long_moved", key, 1)
    for text in foreign:
        add(text, long_context(rng.choice(news))[0], "long_foreign", "", 1)
    n = len(texts)
    return Pairs(pairs.texts + texts, contexts, np.concatenate([pairs.context_of, np.array(context_of, np.int64)]),
                 np.concatenate([pairs.leave_out, np.zeros(n, bool)]), np.concatenate([pairs.y, np.array(y, int)]),
                 np.concatenate([pairs.kind, np.array(kind, dtype=str)]),
                 np.concatenate([pairs.article, np.array(article, dtype=str)]))


def long_article_figures(pairs: Pairs, scores: np.ndarray, threshold: float | None = None) -> dict:
    """AUC of real short comments under their own long article against moved comments and chat under another
    long article (`add_long_articles`), and the shares flagged at `threshold`."""
    own = pairs.kind == "long"
    if not own.any():
        return {}
    out = {"comments": int(own.sum())}
    for k in ("long_moved", "long_foreign"):
        other = pairs.kind == k
        if other.any():
            out[f"auc_{k[5:]}"] = round(float(roc_auc_score(
                np.r_[np.zeros(int(own.sum())), np.ones(int(other.sum()))], np.r_[scores[own], scores[other]])), 4)
            if threshold is not None:
                out[f"{k[5:]}_flagged"] = round(float((scores[other] >= threshold).mean()), 4)
    if threshold is not None:
        out["own_flagged"] = round(float((scores[own] >= threshold).mean()), 4)
    return out


def _background_texts(groups: list[ArticleGroup]) -> list[str]:
    return [t for g in groups for t in g.comments] + [f"{g.title}\n{g.body}" for g in groups]


def build_combiner(regime: str = "thread") -> Pipeline:
    """Standardised features into a logistic regression: measured against gradient boosting and a degree-2
    logistic regression on grouped folds, it generalised best to unseen articles (and scores in microseconds).
    The short-comment regime reads SHORT_FEATURES only."""
    steps = [("scale", StandardScaler()), ("logistic", LogisticRegression(C=1.0, max_iter=2000))]
    if regime == "short":
        steps.insert(0, ("select", Columns(SHORT_FEATURES)))
    return Pipeline(steps)


_VECTORS: list = []


def word_vectors():
    """The word vectors every relevance model is trained with (read once from the package, then shared)."""
    if not _VECTORS:
        _VECTORS.append(WordVectors.from_package())
    return _VECTORS[0]


def fit(groups: list[ArticleGroup], seed: int = 0, foreign: list[str] | None = None) -> RelevanceModel:
    model = RelevanceModel.from_corpus(_background_texts(groups), [g.comments for g in groups])
    model.vectors = word_vectors()
    model.word_baseline = word_baselines(model, model.vectors, [Context.build(g.title, g.body) for g in groups])
    pairs = add_foreign(make_pairs(groups, seed=seed), groups, foreign or [], seed=seed)
    pairs = add_moved(pairs, model, groups, seed=seed)
    x = _features(model, pairs)
    regime = model.regimes(x)
    # The short combiner's off-topic examples are the moved comments (add_moved), the out-of-domain texts and
    # moderators' off_topic labels, not every short comment under another article: those are as much "at home"
    # there as under their own (short pairs AUC ~0.55, most short comments are replies), so as negatives they only
    # taught it that replies are off-topic.
    use = np.ones(len(pairs.y), bool)
    if foreign:
        labelled = {t for g in groups for t in g.off_topic}
        use = ~((regime == "short") & (pairs.y == 1) & ~np.isin(pairs.kind, ("foreign", "moved"))
                & ~np.array([t in labelled for t in pairs.texts], bool))
    model.combiner = {name: build_combiner(name).fit(x[(regime == name) & use], pairs.y[(regime == name) & use])
                      for name in REGIMES}
    return model


def _features(model: RelevanceModel, pairs: Pairs) -> np.ndarray:
    x = model.features(count_vectors(pairs.texts), pairs.contexts, pairs.context_of, pairs.leave_out)
    fill_text_features(x, pairs.texts)
    return model.fill_semantic(x, pairs.texts, pairs.contexts, pairs.context_of)


def score_pairs(model: RelevanceModel, pairs: Pairs) -> np.ndarray:
    return model.combine(_features(model, pairs))


def pairing_figures(pairs: Pairs, scores: np.ndarray, threshold: float | None = None) -> dict:
    """AUC of own-article vs other-article pairs, overall and by kind; flag rates at the threshold."""
    out = {"pairs": int(len(pairs.y))}
    for kind in ("thread", "article", *(f"thread{k}" for k in PARTIAL_THREADS)):
        mask = pairs.kind == kind
        if mask.any() and len(set(pairs.y[mask])) == 2:
            out[f"auc_{kind}"] = round(float(roc_auc_score(pairs.y[mask], scores[mask])), 4)
            if threshold is not None:
                flagged = scores[mask] >= threshold
                out[f"{kind}_relevant_flagged"] = round(float(flagged[pairs.y[mask] == 0].mean()), 4)
                out[f"{kind}_other_article_flagged"] = round(float(flagged[pairs.y[mask] == 1].mean()), 4)
    return out


def moved_figures(pairs: Pairs, scores: np.ndarray, threshold: float | None = None) -> dict:
    """Held-out real short comments (and sentences) specific to their own article, under another article (kind
    "moved"): their count, AUC against real short comments under their own article (article text only / with the
    discussion), and the share flagged at `threshold`."""
    moved = pairs.kind == "moved"
    if not moved.any():
        return {}
    own = np.array([is_short(t) for t in pairs.texts], bool) & (pairs.y == 0)
    out = {"moved": int(moved.sum())}
    for kind in ("article", "thread"):
        relevant = scores[own & (pairs.kind == kind)]
        if len(relevant):
            out[f"auc_moved_{kind}"] = round(float(roc_auc_score(
                np.r_[np.zeros(len(relevant)), np.ones(int(moved.sum()))], np.r_[relevant, scores[moved]])), 4)
    if threshold is not None:
        out["moved_flagged"] = round(float((scores[moved] >= threshold).mean()), 4)
    return out


def choose_flag_threshold(pairs: Pairs, scores: np.ndarray, rate: float = FLAG_RELEVANT_RATE) -> float:
    """Lowest threshold that flags at most `rate` of the relevant pairs of each kind of context, never below
    MIN_FLAG."""
    threshold = MIN_FLAG
    for kind in np.unique(pairs.kind):
        relevant = np.sort(scores[(pairs.y == 0) & (pairs.kind == kind)])[::-1]
        allowed = int(np.floor(rate * len(relevant)))
        if allowed < len(relevant):
            threshold = max(threshold, float(relevant[allowed]) + 1e-4)
    return round(min(threshold, 0.999), 4)


def grouped_folds(groups: list[ArticleGroup], folds: int) -> list[list[str]]:
    """Test article keys per fold: Fox (and other news) articles spread over the folds, YouTube never tested."""
    news = sorted(g.key for g in groups if g.source != "youtube")
    return [news[i::folds] for i in range(folds)] if len(news) >= folds else [[k] for k in news]


def cross_validate(groups: list[ArticleGroup], folds: int = 5, seed: int = 0,
                   foreign: list[str] | None = None, long_articles: bool = False) -> tuple[Pairs, np.ndarray]:
    """Out-of-fold scores of every news comment, each fold trained on the other articles only (and on the foreign
    texts of the other folds; each fold's own foreign texts are scored under its articles, kind "foreign").
    `long_articles` adds the evaluation pairs of `add_long_articles` (kinds "long", "long_moved", "long_foreign")."""
    foreign = foreign or []
    all_scores, all_pairs = [], []
    for i, test_keys in enumerate(grouped_folds(groups, folds)):
        test = [g for g in groups if g.key in test_keys]
        train = [g for g in groups if g.key not in test_keys]
        if not test or not train:
            continue
        model = fit(train, seed=seed, foreign=[t for j, t in enumerate(foreign) if j % folds != i])
        # Negatives for a test comment: any other news article (its own article was never trained on).
        pairs = make_pairs(test, negatives_from=[g for g in groups if g.source != "youtube"], seed=seed + 1 + i)
        pairs = add_foreign(pairs, test, [t for j, t in enumerate(foreign) if j % folds == i], seed=seed + 1 + i)
        pairs = add_moved(pairs, model, test, seed=seed + 1 + i, targets=[g for g in groups if g.source != "youtube"])
        if long_articles:
            pairs = add_long_articles(pairs, model, test, groups, [t for j, t in enumerate(foreign) if j % folds == i],
                                      seed=seed + 101 + i)
        all_pairs.append(pairs)
        all_scores.append(score_pairs(model, pairs))
    return _concat(all_pairs), np.concatenate(all_scores) if all_scores else np.array([])


def _concat(parts: list[Pairs]) -> Pairs:
    texts, contexts, context_of, leave_out, y, kind, article = [], [], [], [], [], [], []
    for p in parts:
        context_of.append(p.context_of + len(contexts))
        contexts.extend(p.contexts)
        texts.extend(p.texts), leave_out.append(p.leave_out), y.append(p.y), kind.append(p.kind)
        article.append(p.article)
    if not parts:
        empty = np.array([])
        return Pairs([], [], empty.astype(np.int64), empty.astype(bool), empty, empty, empty)
    return Pairs(texts, contexts, np.concatenate(context_of), np.concatenate(leave_out), np.concatenate(y),
                 np.concatenate(kind), np.concatenate(article))


def _ham_by_source(examples: list[Example]) -> dict[str, list[str]]:
    """Legitimate comments by source, other than the Fox News comments the short-comment rule is measured on."""
    out: dict[str, list[str]] = {}
    for e in examples:
        if e.label == "ham" and e.source != "fox":
            out.setdefault(e.source, []).append(e.text)
    return out


def train_relevance(train: list[Example], evaluation: list[Example], folds: int = 4) -> tuple[object, dict]:
    """(model or None, report): the model trained on `train`'s articles, threshold and figures.

    Returns (None, {"skipped": reason}) when the data has too few articles to learn from.
    """
    groups = article_groups(train)
    news = [g for g in groups if g.source != "youtube"]
    if len(groups) < 3 or len(news) < 2:
        return None, {"skipped": f"relevance needs comments under at least 3 articles, 2 of them news; "
                                 f"found {len(groups)} ({len(news)} news)"}
    foreign = foreign_texts(train)
    with threadpool_limits(1):  # small dense algebra: threads only fight over the cores
        oof_pairs, oof = cross_validate(groups, folds=min(folds, len(news)), foreign=foreign)
        short = np.array([is_short(t) for t in oof_pairs.texts], bool) & ~np.isin(oof_pairs.kind, ("foreign", "moved"))
        threshold = choose_flag_threshold(oof_pairs.subset(~short), oof[~short])
        served = short & (oof_pairs.kind == "thread")
        short_threshold = choose_flag_threshold(oof_pairs.subset(served), oof[served], FLAG_SHORT_RELEVANT_RATE)
        model = fit(groups, foreign=foreign)
        # The words of comments on any subject (training/generic_words.py): a short comment whose content words are
        # all generic is a generic reaction; one with other words and no support for them is held.
        model.generic_words = learn_generic_words(sources.find_data_dir(), fallback=_ham_by_source(train))
        # Pairs of words comments use together: a short comment's word that goes with the article's is supported.
        # and the stems common enough for their associations to be learned (the only ones the rule holds on).
        model.word_associations, model.known_words = learn_word_associations(
            sources.find_data_dir(), model.generic_words) or (None, None)
        chat = oof_pairs.kind == "foreign"
    report = {
        "kind": "relevance-logistic",
        "generic_words": len(model.generic_words),
        "word_associations": 0 if model.word_associations is None else len(model.word_associations),
        "known_words": 0 if model.known_words is None else len(model.known_words),
        "features": list(FEATURE_NAMES),
        "train_articles": {"news": len(news), "youtube": len(groups) - len(news)},
        "threshold_from": "out-of-fold scores, folds grouped by article",
        "out_of_fold": pairing_figures(oof_pairs, oof, threshold),
        "thresholds": {"off_topic_flag": threshold, "short_off_topic_flag": short_threshold},
        "short_out_of_fold": {
            **pairing_figures(oof_pairs.subset(short), oof[short], short_threshold),
            "foreign_texts": len(foreign),
            "foreign_flagged": round(float((oof[chat] >= short_threshold).mean()), 4) if chat.any() else None,
            **moved_figures(oof_pairs, oof, short_threshold),
        },
    }
    held = [g for g in article_groups(evaluation) if g.source != "youtube"]
    if held:
        pairs = make_pairs(held, negatives_from=held + news, seed=99)
        report["evaluation"] = {"articles": len(held), **pairing_figures(pairs, score_pairs(model, pairs), threshold)}
    log.info("relevance: %s", {k: v for k, v in report.items() if k != "features"})
    return model, report
