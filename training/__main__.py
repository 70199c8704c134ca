"""Command line: `python -m training train|evaluate|promote|rollback|rescore|fetch-data`.

Each command is a thin wrapper over a function that returns its result, so tests call the functions directly.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click

from moderation.moderator import Moderator, policy_for
from moderation.registry import ModelLoadError, ModelRegistry
from training import datasets, sources

DEFAULT_MODELS = Path(os.environ.get("MODERATION_MODELS_DIR", sources.PROJECT_ROOT / "models"))
models_option = click.option(
    "--models", "models_dir", type=click.Path(path_type=Path), default=DEFAULT_MODELS, show_default=True,
    help="Model registry folder.",
)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr.")
def cli(verbose: bool) -> None:
    """Train, evaluate, promote and rescore comment moderation models."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")


@cli.command("fetch-data")
def fetch_data() -> None:
    """Find the training data (../shared/data) or download it from its public homes, checking SHA-256."""
    try:
        folder = sources.ensure_data()
    except sources.DataUnavailable as exc:
        _fail(str(exc))
    click.echo(str(folder))


@cli.command()
@models_option
@click.option("--data", "data_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Labelled file (CSV or JSON lines: text, label) to train on with the shared data; repeatable.")
@click.option("--promote/--no-promote", "promote", default=None,
              help="Make the new version live (default: only when no version is live yet).")
def train(models_dir: Path, data_files: tuple[Path, ...], promote: bool | None) -> None:
    """Train a new model version; the last line printed is the new version."""
    from training.train import train_model

    try:
        metadata = train_model(ModelRegistry(models_dir), extra_files=data_files, make_current=promote)
    except (datasets.DataError, sources.DataUnavailable) as exc:
        _fail(str(exc))
    overall = metadata["metrics"]["evaluation"].get("overall", {})
    click.echo(f"evaluation on held-out data: {json.dumps(overall.get('at_spam_reject', {}))}", err=True)
    click.echo(metadata["version"])


@cli.command()
@models_option
@click.option("--model", "version", default=None, help="Model version (default: the live one).")
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Labelled file (CSV or JSON lines); default: the frozen evaluation set.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the metrics JSON here as well as to stdout.")
@click.option("--protocols", "run_protocols", is_flag=True,
              help="Also run the held-out protocols (leave one video out, Fox by article, SMS 5-fold, ECE).")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="With --protocols: write protocols.json/.md and PNG plots here "
                   "(default: the version's folder, models/<version>/evaluation).")
def evaluate(models_dir: Path, version: str | None, data: Path | None, output: Path | None,
             run_protocols: bool, report_dir: Path | None) -> None:
    """Print accuracy, precision, recall, F1, MCC, ROC AUC and confusion matrices as JSON."""
    from training.evaluate import evaluate_model, evaluate_protocols

    try:
        result = evaluate_model(ModelRegistry(models_dir), version, data)
        if run_protocols:
            report_dir = report_dir or Path(models_dir) / result["model_version"] / "evaluation"
            result["protocols"] = evaluate_protocols(report_dir, log=lambda m: click.echo(m, err=True))
            result["protocols"]["report"] = str(report_dir)
    except (ModelLoadError, datasets.DataError, sources.DataUnavailable) as exc:
        _fail(str(exc))
    text = json.dumps(result, indent=2)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
    click.echo(text)


@cli.command()
@models_option
@click.argument("version")
@click.option("--reason", default=None, help="Why this version goes live (recorded in the history).")
def promote(models_dir: Path, version: str, reason: str | None) -> None:
    """Make VERSION the live model."""
    registry = ModelRegistry(models_dir)
    try:
        registry.set_current(version, action="promote", reason=reason)
    except ModelLoadError as exc:
        _fail(str(exc))
    click.echo(version)


@cli.command()
@models_option
def rollback(models_dir: Path) -> None:
    """Make the version that was live before the current one live again."""
    registry = ModelRegistry(models_dir)
    current = registry.current_version()
    previous = next((h["previous"] for h in reversed(registry.history())
                     if h["version"] == current and h.get("previous")), None)
    if previous is None:
        _fail(f"no earlier version to roll back to from {current}")
    try:
        registry.set_current(previous, action="rollback")
    except ModelLoadError as exc:
        _fail(str(exc))
    click.echo(previous)


@cli.command()
@models_option
@click.option("--input", "input_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", "version", default=None, help="Model version (default: the live one).")
@click.option("--chunk-size", default=2000, show_default=True, type=click.IntRange(1, 1_000_000))
def rescore(models_dir: Path, input_path: Path, output_path: Path, version: str | None, chunk_size: int) -> None:
    """Rescore old comments (CSV or JSON lines with id, text) into JSON lines with decisions."""
    from training.rescore import rescore_file

    try:
        model = ModelRegistry(models_dir).load(version)
    except ModelLoadError as exc:
        _fail(str(exc))
    summary = rescore_file(Moderator(model, policy_for(model)), input_path, output_path, chunk_size=chunk_size)
    click.echo(json.dumps(summary.to_dict(), indent=2))


if __name__ == "__main__":
    cli()
