"""The constant verdict the floor runs put in place of the model's scoring (bench/_serving_floor.py,
bench/_rescore_floor.py): `Moderator.moderate_batch` replaced by it answers accept for every text at once. It takes
whatever the real method is called with (articles, threads, parents, repeats...), so a new argument of the real
method does not break the floor runs."""

from __future__ import annotations

from moderation.moderator import Verdict


def constant_verdicts(self, texts, articles=None, *_, **__) -> list[Verdict]:
    return [Verdict("accept", 0.01, 0.1 if articles else None, (), self.version) for _ in texts]
