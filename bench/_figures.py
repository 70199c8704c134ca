"""The figure files of the docs: each bench's printed table, with the date and the machine, in docs/figures/.

A bench's `main()` is decorated with `@records("<name>")`: what it prints goes to the terminal as before and, when
it finishes without an error, to `docs/figures/<name>.md`, which the docs pages include. Lines that form a
Markdown table are written as a table, everything else as preformatted text. A bench that cannot run here (no
Docker engine, say) calls `skip(reason)`, and the figure file of its last real run is left as it was.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import io
import os
import platform
import sys
from pathlib import Path

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"

_skipped: list[str] = []


def skip(reason: str) -> None:
    """The running bench measured nothing (say why): its figure file keeps the last real run's figures."""
    _skipped.append(reason)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line: cores, CPU model, Python version, load average (the machine may be shared)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        load = "load average %.1f" % os.getloadavg()[0]
    except OSError:
        load = "load average unknown"
    return f"{cores} cores, {cpu_model()}, Python {platform.python_version()}, {load}"


def render(name: str, output: str, started: str, machine_before: str, machine_after: str) -> str:
    """The figure file: where the figures come from, then the bench's output (tables as tables)."""
    lines = [f"Figures of `make bench BENCH={name}`, run {started}.",
             "",
             f"Machine: {machine_before} at the start, {machine_after.rsplit(' ', 1)[-1]} at the end.",
             ""]
    block: list[str] = []
    kind = None
    output = output.replace(f"{FIGURES.parent.parent}/", "")  # paths as the project's (profiles, logs)
    for raw in output.rstrip("\n").splitlines():
        row = raw.rstrip()
        this = "table" if row.lstrip().startswith("|") and row.endswith("|") else "text"
        if this != kind and block:
            lines += _block(kind, block)
            block = []
        kind = this
        block.append(row.strip() if this == "table" else row)
    if block:
        lines += _block(kind, block)
    return "\n".join(lines).rstrip("\n") + "\n"


def _block(kind: str, rows: list[str]) -> list[str]:
    while rows and not rows[0].strip():
        rows = rows[1:]
    while rows and not rows[-1].strip():
        rows = rows[:-1]
    if not rows:
        return []
    if kind == "table":
        return rows + [""]
    return ["```text", *rows, "```", ""]


class _Tee(io.TextIOBase):
    def __init__(self, stream):
        self.stream = stream
        self.buffer_ = io.StringIO()

    def write(self, text: str) -> int:
        self.buffer_.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()


def write(name: str, output: str, started: str, machine_before: str, folder: Path = FIGURES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    path.write_text(render(name, output, started, machine_before, machine()), encoding="utf-8")
    return path


def records(name: str, folder: Path | None = None):
    """Decorate a bench's `main()`: its printed output becomes docs/figures/<name>.md when it completes."""

    def wrap(main):
        @functools.wraps(main)
        def run(*args, **kwargs):
            started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            before = machine()
            tee = _Tee(sys.stdout)
            del _skipped[:]
            with contextlib.redirect_stdout(tee):
                result = main(*args, **kwargs)
            if _skipped:
                print(f"figures: docs/figures/{name}.md left as it was ({_skipped[0]})")
            else:
                path = write(name, tee.buffer_.getvalue(), started, before, folder or FIGURES)
                print(f"figures: {path}")
            return result

        return run

    return wrap
