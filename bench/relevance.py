"""Relevance benchmark: Fox pairing AUC (grouped by article), the seed case, the short-comment rule, the share of
real comments held for any reason (bench/_held.py), batch cost, /v1/moderate p99.

`python -m bench relevance` (or `make bench BENCH=relevance`). Uses the live model (models/current) for the seed
case, the batch timing and the latency run; the pairing AUC retrains the relevance combiner per fold, so no
article is in both the training and the test pairs.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from bench import _held, short_rule
from moderation.moderator import Article, Moderator
from moderation.registry import ModelRegistry
from moderation.relevance import is_short
from training import datasets, sources
from training.relevance import (article_groups, cross_validate, foreign_texts, long_article_figures, moved_figures,
                                pairing_figures)
from training.train import load_default_examples
from bench._figures import records

ROOT = Path(__file__).resolve().parent.parent
SEED_TITLE = "ISIL fighters flee Mosul as Iraqi forces approach"
ON_TOPIC = [
    "Good news. I hope the Iraqi army retakes Mosul before the end of the year.",
    "If ISIL leaders are already fleeing to Syria, the fighters left behind will not hold out for long.",
    "What happens to the civilians in Mosul if ISIL takes them hostage? The army has to plan for that.",
    "Retaking the Qayyara airbase was the turning point, now the forces can move north.",
    "I don't trust the defence minister, they said the same thing before Fallujah.",
]
SHORT_ON_TOPIC = ["Mosul will be free soon", "Good news for the people of Iraq", "ISIL is finished",
                  "Go Iraqi army!", "Pray for Mosul"]
GENERIC = ["Great article, thanks", "Thanks for sharing", "So sad", "Well said", "Good lord!", "So true.",
           "Interesting read.", "Thanks for the update."]
CHAT = ["My cat is sleeping", "Pizza tastes good", "Nice shoes"]  # unrelated chat: flag is the hoped-for answer
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "600"))


def seed_article(data_dir: Path) -> dict:
    lines = [line.strip() for line in (data_dir / "seed" / "000_0e914d85ad094d08.txt").read_text("utf-8").splitlines()]
    start, end = lines.index(SEED_TITLE) + 1, lines.index("Do you like this article?")
    return {"title": SEED_TITLE, "body": "\n".join(line for line in lines[start:end] if line)}


def pairing_auc(data_dir: Path, short_threshold: float | None = None) -> dict:
    examples = datasets.deduplicate(load_default_examples(data_dir))
    groups = article_groups(examples)
    started = time.perf_counter()
    with threadpool_limits(1):  # trained as `train` trains: with the out-of-domain short texts as negatives
        pairs, scores = cross_validate(groups, folds=5, foreign=foreign_texts(examples), long_articles=True)
    figures = pairing_figures(pairs, scores)
    figures["long"] = long_article_figures(pairs, scores, short_threshold)
    short = np.array([is_short(t) for t in pairs.texts], bool) & ~np.isin(
        pairs.kind, ("foreign", "moved", "long", "long_moved", "long_foreign"))
    chat = pairs.kind == "foreign"
    figures["short"] = {"comments": int((short & (pairs.y == 0) & (pairs.kind == "thread")).sum()),
                        **pairing_figures(pairs.subset(short), scores[short], short_threshold)}
    if short_threshold is not None and chat.any():
        figures["short"]["foreign_flagged"] = round(float((scores[chat] >= short_threshold).mean()), 4)
    figures["moved"] = moved_figures(pairs, scores, short_threshold)
    if chat.any():  # how well held-out chat is told from real short comments under their own article
        for kind in ("article", "thread"):
            relevant = scores[short & (pairs.y == 0) & (pairs.kind == kind)]
            figures["short"][f"auc_chat_{kind}"] = round(float(roc_auc_score(
                np.r_[np.zeros(len(relevant)), np.ones(int(chat.sum()))], np.r_[relevant, scores[chat]])), 4)
    own = short & (pairs.y == 0)  # real short comments under their own article, out-of-fold
    figures["own_short_scores"] = {kind: scores[own & (pairs.kind == kind)] for kind in ("article", "thread")}
    figures["own_short_scores"]["long"] = scores[pairs.kind == "long"]
    figures["off_topic_short_scores"] = {"moved": scores[pairs.kind == "moved"], "chat": scores[chat]}
    figures["articles"] = len({a for a in pairs.article if a})
    figures["seconds"] = round(time.perf_counter() - started, 1)
    return figures


TRADE_OFF_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


def short_threshold_table(own: dict, off_topic: dict, seed: float, model_threshold: float | None) -> str:
    """What a site choosing its own short-comment threshold (MODERATION_SHORT_OFF_TOPIC_FLAG) trades: out-of-fold
    shares of real short comments under their own article flagged, against moved comments and chat flagged."""
    rows = ["short-comment threshold trade-off (out-of-fold; MODERATION_SHORT_OFF_TOPIC_FLAG sets it per site):",
            "  threshold | own article flagged: no discussion / with it / long article | moved flagged | chat flagged "
            "| 'Shoe level lies.'"]
    thresholds = sorted({*TRADE_OFF_THRESHOLDS, *([model_threshold] if model_threshold is not None else [])})
    for t in thresholds:
        mark = " (model)" if t == model_threshold else ""
        rows.append(f"  {t:<9}{mark} | {(own['article'] >= t).mean():.1%} / {(own['thread'] >= t).mean():.1%} / "
                    f"{(own['long'] >= t).mean():.1%} | {(off_topic['moved'] >= t).mean():.1%} | "
                    f"{(off_topic['chat'] >= t).mean():.1%} | {'flag' if seed >= t else 'accept'}")
    return "\n".join(rows)


def batch_cost(moderator: Moderator, data_dir: Path) -> dict:
    """Rows/s of moderate_batch over the Fox comments with article fields and leave-one-out threads."""
    fox = datasets.load_fox(data_dir / "fox-news-comments" / "fox-news-comments.json")
    by_article: dict[str, list[str]] = {}
    for e in fox:
        by_article.setdefault(e.article_id, []).append(e.text)
    seen: dict[str, int] = {}
    texts, articles, threads = [], [], []
    for e in fox:  # each row's thread: the other rows of its article, as batch rescoring passes them
        k = seen[e.article_id] = seen.get(e.article_id, -1) + 1
        rows = by_article[e.article_id]
        texts.append(e.text)
        articles.append(Article(e.article_id, e.article_title, e.article_body))
        threads.append(rows[:k] + rows[k + 1:])
    out = {}
    for name, kwargs in (("spam only", {}), ("spam + relevance", {"articles": articles, "threads": threads})):
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            moderator.moderate_batch(texts, **kwargs)
            best = min(best, time.perf_counter() - started)
        out[name] = round(len(texts) / best)
    best, best_cpu = float("inf"), float("inf")
    for _ in range(5):
        moderator.contexts = type(moderator.contexts)()  # cold article cache: every context built in the batch
        started, cpu = time.perf_counter(), time.process_time()
        moderator._off_topic(texts, [1] * len(texts), articles, threads, None)
        best = min(best, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    out["relevance alone, us/row"] = round(best / len(texts) * 1e6, 1)
    out["relevance alone, CPU us/row"] = round(best_cpu / len(texts) * 1e6, 1)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def latency(article: dict) -> dict:
    """p50/p99 of single-comment /v1/moderate calls (article by id, thread growing) against gunicorn."""
    port = _free_port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port),
           "MODERATION_DATABASE_URL": f"sqlite:///{ROOT / 'var' / f'bench-relevance-{port}.db'}"}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log_path = ROOT / "var" / f"bench-relevance-{port}.log"
    log_path.parent.mkdir(exist_ok=True)
    log = log_path.open("w")
    server = subprocess.Popen([str(gunicorn), "-c", "service/gunicorn.conf.py", "service:create_app()"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise RuntimeError("gunicorn did not become ready")
            time.sleep(0.3)
        headers = {"Content-Type": "application/json"}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("PUT", "/v1/articles/seed", json.dumps(article), headers)
        conn.getresponse().read()
        comments = ON_TOPIC + ["Shoe level lies.", "Great article, thanks"]
        times, resets = [], 0
        for i in range(REQUESTS):
            payload = json.dumps({"text": f"{comments[i % len(comments)]} ({i})", "article": {"id": "seed"}})
            started = time.perf_counter()
            try:
                conn.request("POST", "/v1/moderate", payload, headers)
                body = json.loads(conn.getresponse().read())
            except (ConnectionError, http.client.HTTPException):  # an idle keep-alive connection closed
                resets += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                started = time.perf_counter()
                conn.request("POST", "/v1/moderate", payload, headers)
                body = json.loads(conn.getresponse().read())
            times.append(time.perf_counter() - started)
            assert body["scores"]["off_topic"] is not None, body
        conn.request("GET", "/v1/articles/seed")
        thread = json.loads(conn.getresponse().read())["thread_comments"]
        ms = np.array(times[20:]) * 1000  # the first requests warm the workers up
        return {"requests": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 2),
                "p99_ms": round(float(np.percentile(ms, 99)), 2), "max_ms": round(float(ms.max()), 2),
                "thread_comments_at_end": thread, "reconnects": resets}
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        for suffix in ("", "-wal", "-shm"):
            Path(env["MODERATION_DATABASE_URL"][len("sqlite:///"):] + suffix).unlink(missing_ok=True)


@records("relevance")
def main() -> None:
    data_dir = sources.ensure_data()
    model = ModelRegistry(ROOT / "models").load()
    moderator = Moderator(model)
    if model.relevance is None:
        print(f"model {model.version} has no relevance model: retrain (python -m training train --promote)")
        return
    report = model.metadata["metrics"]["relevance"]
    print(f"model {model.version}: off_topic_flag {model.metadata['thresholds']['off_topic_flag']}")
    print("held-out Fox articles (frozen evaluation set):", json.dumps(report.get("evaluation")))

    figures = pairing_auc(data_dir, model.metadata["thresholds"].get("short_off_topic_flag"))
    print(f"Fox pairing AUC, grouped 5-fold over {figures['articles']} articles (goal >= 0.85): "
          f"{figures['auc_thread']} with the thread (leave-one-out), {figures['auc_article']} article only; "
          f"{figures['pairs']} pairs in {figures['seconds']} s")
    print("  by kind:", json.dumps({k: v for k, v in figures.items() if k.startswith("auc_")}))
    short = figures["short"]
    print(f"short comments (1-5 words, {short['comments']} Fox comments), out-of-fold at short_off_topic_flag "
          f"{model.metadata['thresholds'].get('short_off_topic_flag')}: own article flagged "
          f"{short.get('thread_relevant_flagged')} with the thread, {short.get('article_relevant_flagged')} article only; "
          f"other article flagged {short.get('thread_other_article_flagged')} / {short.get('article_other_article_flagged')}; "
          f"AUC {short.get('auc_thread')} / {short.get('auc_article')}; "
          f"out-of-domain chat (SMS, held-out fold) flagged {short.get('foreign_flagged')}, AUC against real short "
          f"comments {short.get('auc_chat_thread')} with the thread / {short.get('auc_chat_article')} article only")
    long = figures["long"]
    print(f"long articles (the summary followed by 30 of its comments as the body; {long.get('comments')} real short "
          f"comments under their own): AUC against moved comments under another {long.get('auc_moved')}, against "
          f"chat {long.get('auc_foreign')}; flagged at short_off_topic_flag: own {long.get('own_flagged')}, moved "
          f"{long.get('moved_flagged')}, chat {long.get('foreign_flagged')}")
    moved = figures["moved"]
    print(f"real short comments and sentences specific to their own article, under another article (held-out "
          f"articles, {moved.get('moved')}): flagged {moved.get('moved_flagged')}; AUC against real short comments "
          f"under their own article {moved.get('auc_moved_thread')} with the thread / {moved.get('auc_moved_article')} "
          f"article only")

    article = seed_article(data_dir)
    seed = Article("seed", article["title"], article["body"])
    print("seed article (goal: 'Shoe level lies.' flagged or rejected with off_topic; on-topic accepted):")
    for text in ["Shoe level lies."] + CHAT + GENERIC + SHORT_ON_TOPIC + ON_TOPIC:
        verdict = moderator.moderate(text, seed)
        codes = ",".join(r.code for r in verdict.reasons) or "-"
        print(f"  {verdict.decision:7} off_topic={verdict.off_topic:<7} reasons={codes:10} {text}")
    shoe = moderator.moderate("Shoe level lies.", seed).off_topic
    own = figures["own_short_scores"]
    print(f"real short Fox comments under their own article (out-of-fold) scoring at or above 'Shoe level lies.' "
          f"({shoe}), i.e. what a short threshold low enough to flag it would flag: "
          f"{float((own['article'] >= shoe).mean()):.1%} with no thread ({len(own['article'])}), "
          f"{float((own['thread'] >= shoe).mean()):.1%} with their discussion ({len(own['thread'])}), "
          f"{float((own['long'] >= shoe).mean()):.1%} under a long article ({len(own['long'])})")

    print(short_threshold_table(own, figures["off_topic_short_scores"], shoe,
                                model.metadata["thresholds"].get("short_off_topic_flag")))

    rule = short_rule.figures(model.relevance, data_dir, article)
    if rule.get("seed") is None:
        print(f"model {model.version} has no generic words: the short-comment rule is off (retrain)")
    else:
        rule_table = short_rule.table(rule)
        print("short-comment rule (a short comment with no support for its non-generic words is held; "
              "SHORT_OFF_TOPIC_ACTION):")
        print(rule_table)
        effect = short_rule.neighbour_effect(model.relevance, data_dir)
        print("word-vector neighbours as support (cosine: own article held / moved held, with the discussion): "
              + "; ".join(f"{c if c is not None else 'off'}: {o:.1%} / {m:.1%}" for c, (o, m) in effect.items()))

    print("held for any reason: the full decision on real comments the model did not train on (every reason; a "
          "comment held for two reasons counts under both):")
    print(_held.table(_held.figures(moderator, data_dir)))

    print("batch rows/s (Fox comments, article fields, leave-one-out threads):", json.dumps(batch_cost(moderator, data_dir)))
    print("/v1/moderate with relevance on (gunicorn, one comment per request, article by id):",
          json.dumps(latency(article)))
