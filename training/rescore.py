"""Batch rescoring: run old comments through a model version and the policy, in chunks.

Input is CSV or JSON lines with `id`, `text` and optional `article_id`, `article_title`, `article_body`,
`decision` (the old one). Output is JSON lines, one per valid input row, with `id`, `decision`, `scores`,
`reasons` and `model_version`. Rows that cannot be scored (no id, no text, a repeated id, broken JSON) go to
the errors file with their line number and reason: never dropped silently, never a crash.
"""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from moderation.moderator import Article, Moderator

CHUNK_SIZE = 2000


@dataclass
class RescoreSummary:
    rows: int = 0
    scored: int = 0
    errors: int = 0
    decisions: Counter = field(default_factory=Counter)
    changes: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict:
        return {
            "rows": self.rows, "scored": self.scored, "errors": self.errors,
            "decisions": dict(self.decisions),
            "changes": {f"{old} -> {new}": n for (old, new), n in sorted(self.changes.items())},
        }


def read_rows(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """Yield (line number, row, error) for every record of a CSV or JSON-lines file."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8", errors="strict", newline="") as handle:
            reader = csv.DictReader(handle)
            try:
                for row in reader:
                    yield reader.line_num, row, None
            except (UnicodeDecodeError, csv.Error) as exc:
                yield reader.line_num, None, f"unreadable CSV: {exc}"
        return
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                yield number, None, "invalid UTF-8"
                continue
            except json.JSONDecodeError as exc:
                yield number, None, f"invalid JSON: {exc.msg}"
                continue
            yield number, row, None if isinstance(row, dict) else "a line must be a JSON object"


def validate(row: dict) -> str | None:
    if row.get("id") in (None, ""):
        return "missing id"
    if not isinstance(row.get("text"), str):
        return "missing text"
    return None


def rescore_file(moderator: Moderator, input_path: Path, output_path: Path, errors_path: Path | None = None,
                 chunk_size: int = CHUNK_SIZE) -> RescoreSummary:
    """Rescore every row of `input_path` into `output_path`; return counts per decision and old -> new."""
    errors_path = errors_path or output_path.with_name(output_path.name + ".errors.jsonl")
    summary, seen = RescoreSummary(), set()
    with output_path.open("w", encoding="utf-8") as out, errors_path.open("w", encoding="utf-8") as err:
        chunk: list[dict] = []
        for number, row, error in read_rows(input_path):
            summary.rows += 1
            error = error or validate(row)
            if error is None and str(row["id"]) in seen:
                error = "repeated id"
            if error:
                summary.errors += 1
                err.write(json.dumps({"line": number, "id": (row or {}).get("id"), "error": error}) + "\n")
                continue
            seen.add(str(row["id"]))
            chunk.append(row)
            if len(chunk) >= chunk_size:
                _score_chunk(moderator, chunk, out, summary)
                chunk = []
        if chunk:
            _score_chunk(moderator, chunk, out, summary)
    return summary


def _score_chunk(moderator: Moderator, rows: list[dict], out, summary: RescoreSummary) -> None:
    articles = [
        Article(str(r.get("article_id") or "") or None, r.get("article_title") or "", r.get("article_body") or "")
        for r in rows
    ]
    verdicts = moderator.moderate_batch([r["text"] for r in rows], articles)
    for row, verdict in zip(rows, verdicts):
        out.write(json.dumps({"id": row["id"], **verdict.to_dict()}, ensure_ascii=False) + "\n")
        summary.scored += 1
        summary.decisions[verdict.decision] += 1
        if row.get("decision"):
            summary.changes[(str(row["decision"]), verdict.decision)] += 1
    print(f"rescored {summary.scored} rows", file=sys.stderr)
