"""Moderators' side of the model life cycle: export labels, promote behind the gate, roll back.

The CLI commands in `training/__main__.py` are thin wrappers over these functions.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from moderation.registry import ModelLoadError, ModelRegistry
from moderation.store import Store, default_url, utc_iso
from training import gate, sources

PROMOTING_ACTIONS = ("initial", "promote", "force-promote")


class GateRefused(RuntimeError):
    def __init__(self, result: gate.GateResult):
        super().__init__("; ".join(result.failures))
        self.result = result


def store_url(url: str | None) -> str:
    return url or os.environ.get("MODERATION_DATABASE_URL") or default_url(sources.PROJECT_ROOT)


def export_feedback(store: Store, path: Path) -> int:
    """Write every label as JSON lines in the general labelled format (atomically); return how many."""
    rows = store.list_feedback()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for r in rows:
            handle.write(json.dumps({
                "text": r["text"], "label": r["label"], "article_id": r["article_id"],
                "article_title": r["article_title"], "article_body": r["article_body"],
                "comment_id": r["comment_id"], "moderator": r["moderator"], "feedback_id": r["id"],
                "created_at": utc_iso(r["created_at"]),  # UTC with its offset, as the API gives times
            }, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return len(rows)


def feedback_snapshot(store: Store) -> Path | None:
    """Export the labels to var/feedback/feedback-<time>.jsonl for `train --with-feedback` (its hash is recorded)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    path = sources.PROJECT_ROOT / "var" / "feedback" / f"feedback-{stamp}.jsonl"
    return path if export_feedback(store, path) else None


def evaluation_examples(store: Store | None, data_dir: Path | None = None) -> tuple[list, int]:
    """The frozen evaluation set and how many of its examples are held-out moderator labels."""
    from training.train import load_training_examples

    shared = load_training_examples(data_dir or sources.ensure_data())
    labels = gate.feedback_examples(store.list_feedback()) if store is not None else []
    examples = gate.evaluation_set(shared, labels)
    return examples, sum(e.source == gate.FEEDBACK_SOURCE for e in examples)


def toxicity_examples(data_dir: Path | None = None) -> list:
    """The held-out toxicity examples the gate compares toxicity on; none without the toxicity data."""
    from training import toxicity

    folder = data_dir or sources.find_data_dir()
    if folder is None or not toxicity.available(folder):
        return []
    return toxicity.load(folder).evaluation


def promote(registry: ModelRegistry, version: str, store: Store | None, force: bool = False,
            reason: str | None = None, examples: list | None = None, toxic: list | None = None) -> gate.GateResult:
    """Run the gate, then make `version` live; raise GateRefused (with the figures) unless it passes or `force`.
    `toxic` defaults to the held-out toxicity examples of the shared data."""
    candidate = registry.load(version)
    live_version = registry.current_version()
    live = None
    if live_version is not None and live_version != version:
        try:
            live = registry.load(live_version)
        except ModelLoadError:
            live = None  # a broken live model cannot veto its replacement
    held = 0
    if examples is None:
        examples, held = evaluation_examples(store)
    if toxic is None:
        toxic = toxicity_examples()
    result = gate.compare(candidate, live, examples, feedback_held_out=held, toxic=toxic)
    if not result.passed and not force:
        raise GateRefused(result)
    action = "promote" if result.passed else "force-promote"
    registry.set_current(version, action=action, reason=reason, gate=result.to_dict())
    return result


def live_stack(registry: ModelRegistry) -> list[str]:
    """The versions that were live, oldest first, with rolled-back ones removed: rollback walks back along it."""
    stack: list[str] = []
    for entry in registry.history():
        if entry.get("action") == "rollback":
            if stack:
                stack.pop()
            if not stack or stack[-1] != entry["version"]:
                stack.append(entry["version"])
        else:
            stack.append(entry["version"])
    current = registry.current_version()
    if current is not None and (not stack or stack[-1] != current):
        stack.append(current)  # models/current changed by hand
    return stack


def rollback(registry: ModelRegistry) -> str:
    """Make the version live before the current one live again; repeated rollbacks keep walking back."""
    stack = live_stack(registry)
    current = registry.current_version()
    earlier = [v for v in stack[:-1] if v != current]
    if not earlier:
        raise ModelLoadError(f"no earlier version to roll back to from {current}")
    target = earlier[-1]
    registry.set_current(target, action="rollback", rolled_back=current)
    return target
