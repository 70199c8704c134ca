"""What the site rules cost per comment (`make bench BENCH=site_rules`).

A banned list of ~500 entries (450 words of the data's own vocabulary found in 2 to 5 comments, 25 two-word
phrases, 25 prefix wildcards), a suspect list of 50, and links held (one allowed domain): the size of a real
site's list, with matches at a realistic rate. Over every comment of the training data (YouTube, SMS, Fox News):
- the matcher alone: CPU microseconds per comment of `SiteRules.inspect` (normalisation included, not memoised);
- the increment where it runs: `Moderator.moderate_batch` of the same comments in batches of 500, and
  `Moderator.moderate` of single comments (the service's path), with and without the rules, A/B alternated in
  the same minute (the machine is shared: compare the two columns, not the absolute figures).
CPU time is `time.process_time`; SITE_RULES_ROUNDS (default 3) rounds, the best of each kept.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from dataclasses import replace
from bench._figures import records

ROUNDS = int(os.environ.get("SITE_RULES_ROUNDS", "3"))


def word_lists(texts: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(~500 banned entries, 50 suspect ones) from the comments' vocabulary: words in 2 to 5 comments (a banned
    word is rare on a news site; here ~1 comment in 20 holds one)."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(set(re.findall(r"[a-z]{4,}", text.lower())))
    middling = sorted(w for w, n in counts.items() if 2 <= n <= 5)
    step = max(len(middling) // 550, 1)
    pool = middling[::step]
    words = pool[:450]
    phrases = [f"{a} {b}" for a, b in zip(pool[450:475], pool[475:500])]
    wildcards = [w[:5] + "*" for w in pool[500:525]]
    suspect = pool[525:575]
    return tuple(words + phrases + wildcards), tuple(suspect)


def best_cpu(call, rounds: int = ROUNDS) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        call()
        best = min(best, time.process_time() - start)
    return best


@records("site_rules")
def main() -> None:
    from moderation.moderator import Moderator
    from moderation.registry import ModelRegistry
    from moderation.site_rules import SiteRules, WordList
    from moderation.text import clear_memos
    from training import sources
    from training.train import load_default_examples

    texts = [e.text for e in load_default_examples(sources.find_data_dir())]
    banned, suspect = word_lists(texts)
    rules = SiteRules(banned=WordList(banned, "bench"), suspect=WordList(suspect, "bench"), links_action="flag",
                      allowed_domains="example.com")
    start = time.perf_counter()
    rules.banned._automaton, rules.suspect._automaton
    print(f"lists: {len(banned)} banned entries, {len(suspect)} suspect; built in "
          f"{(time.perf_counter() - start) * 1000:.1f} ms")
    findings = [rules.inspect(t) for t in texts]
    print(f"comments: {len(texts):,}; with a banned entry {sum(bool(f.banned) for f in findings):,}, a suspect one "
          f"{sum(bool(f.suspect) for f in findings):,}, a link held {sum(bool(f.links) for f in findings):,}")

    def inspect_all():
        clear_memos()
        for text in texts:
            rules.inspect(text)

    per = best_cpu(inspect_all) / len(texts) * 1e6
    print(f"matcher alone (SiteRules.inspect, normalisation not memoised): {per:.1f} us CPU per comment")

    # the list's size: single words only, drawn from the same vocabulary (more entries, more comments hit)
    from moderation.site_rules import canonical, comment_words

    words = [comment_words(canonical(t)) for t in texts]
    counts: Counter = Counter()
    for text in texts:
        counts.update(set(re.findall(r"[a-z]{4,}", text.lower())))
    pool = sorted(w for w, n in counts.items() if 2 <= n <= 5)
    for size in (50, 500, min(5000, len(pool))):
        sized = WordList(tuple(pool[:: max(len(pool) // size, 1)][:size]))
        sized.find("", [])
        hits = sum(bool(sized.find("", w)) for w in words)
        cost = best_cpu(lambda: [sized.find("", w) for w in words]) / len(texts) * 1e6
        print(f"  a list of {size:,} words: {cost:.2f} us per comment to look up its words "
              f"({hits:,} comments hold one)")

    model = ModelRegistry(sources.PROJECT_ROOT / "models").load()
    plain = Moderator(model)
    ruled = Moderator(model, replace(plain.policy, site=rules), spam_scorer=plain.spam_scorer)
    batches = [texts[i:i + 500] for i in range(0, len(texts), 500)]

    singles = texts[::10]

    def each(items, call):
        """A run of `call` over `items`, with the text memos emptied before each (as the service does)."""
        def run():
            for item in items:
                clear_memos()
                call(item)
        return run

    for name, items, method, n in (("moderate_batch (500 a batch)", batches, "moderate_batch", len(texts)),
                                   ("moderate (one comment, the service's path)", singles, "moderate", len(singles))):
        without, with_rules = float("inf"), float("inf")
        for _ in range(ROUNDS):  # alternated, A then B, so both see the same load
            without = min(without, best_cpu(each(items, getattr(plain, method)), 1))
            with_rules = min(with_rules, best_cpu(each(items, getattr(ruled, method)), 1))
        a, b = without / n * 1e6, with_rules / n * 1e6
        print(f"{name}: {a:.1f} us CPU per comment without site rules, {b:.1f} with: +{b - a:.1f} us "
              f"(+{(b - a) / a * 100:.1f}%)")
