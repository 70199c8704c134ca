"""Command line: `python -m training train|evaluate|promote|rollback|rescore|prune|deliver-reviews|fetch-data`.

Each command is a thin wrapper over a function that returns its result, so tests call the functions directly.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import sys
from pathlib import Path

import click

from moderation.registry import ModelLoadError, ModelRegistry
from moderation.site_rules import SiteRules, SiteRulesError
from training import datasets, sources

DEFAULT_MODELS = Path(os.environ.get("MODERATION_MODELS_DIR", sources.PROJECT_ROOT / "models"))
models_option = click.option(
    "--models", "models_dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_MODELS,
    show_default=True,
    help="Model registry folder.",
)


def _named_version(ctx, param, value: str | None) -> str | None:
    """An empty --model (an unset shell variable) is refused: it would quietly mean "the live version"."""
    if value is not None and not value.strip():
        raise click.BadParameter("is empty: give a version, or leave --model out for the live one")
    return value


model_option = click.option("--model", "version", default=None, callback=_named_version,
                            help="Model version (default: the live one).")


database_option = click.option(
    "--database", "database_url", default=None,
    help="Store with the moderators' labels (SQLAlchemy URL; default: MODERATION_DATABASE_URL or var/moderation.db).",
)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


class _Cli(click.Group):
    """A store or database that cannot be reached (a server down, a URL of an unknown database, a missing driver),
    or a file that cannot be read or written, is one `error:` line and exit status 2 in every command, not a
    traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except OSError as exc:  # a file or folder that cannot be read or written, a full disk: what and where
            if exc.errno == errno.EPIPE:  # stdout closed by a reader (| head): click's own handling
                raise
            _fail(str(exc))
        except Exception as exc:
            sa_exc = sys.modules.get("sqlalchemy.exc")  # never imported: it cannot be one of its errors
            if sa_exc is None or not isinstance(exc, sa_exc.SQLAlchemyError):
                raise
            first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
            _fail(f"the database could not be used: {first}")


def _output_folder(path: Path, folder: Path | None = None) -> None:
    """Make the folder of an output file (or `folder`) now, before a long run, or fail with one line."""
    try:
        Path(folder or Path(path).parent).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"cannot write {path}: {exc.strerror} ({exc.filename})")


MAX_DAYS = 100 * 366


def _finite(ctx, param, value):
    """A float option must be a finite number (NaN and infinity pass click's FloatRange)."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number")
    return value


def _days(value: float) -> float:
    """--older-than: a finite number of days a date can be that far back (NaN passes FloatRange)."""
    if not (0 < value <= MAX_DAYS):
        raise click.BadParameter(f"{value} is not a number of days between 0 and {MAX_DAYS}")
    return value


def _store(database_url: str | None):
    """The service's store for a command: one error line for a URL it cannot use, and no new empty SQLite store
    made for a --database (or MODERATION_DATABASE_URL) whose file does not exist (a typo would otherwise be an
    empty store: 0 labels, 0 pruned). The default store may be missing (the service has not run yet)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from moderation.store import Store, bounded_connect
    from training.lifecycle import store_url

    url = store_url(database_url)
    try:
        parsed = make_url(url)
        sqlite = parsed.get_backend_name() == "sqlite"
    except ArgumentError as exc:
        _fail(f"--database {url!r} is not a database URL: {exc}")
    explicit = database_url or os.environ.get("MODERATION_DATABASE_URL")
    if explicit and sqlite and parsed.database not in (None, "", ":memory:") and not Path(parsed.database).is_file():
        _fail(f"no store at {parsed.database} (from {'--database' if database_url else 'MODERATION_DATABASE_URL'}): "
              "check the path; the service creates its store at its first start")
    try:
        return Store(bounded_connect(url))  # a PostgreSQL host that never answers: an error line, not a hang
    except ImportError as exc:  # the database's DB-API driver is not installed
        _fail(f"--database {parsed.render_as_string(hide_password=True)}: its driver is not installed ({exc})")


@click.group(cls=_Cli)
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr.")
def cli(verbose: bool) -> None:
    """Train, evaluate, promote and rescore comment moderation models."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    logging.getLogger("training").setLevel(logging.INFO)  # progress of long steps, always on stderr


@cli.command("fetch-data")
@click.option("--mirror-to", type=click.Path(file_okay=False, path_type=Path),
              help="Instead: write into this folder the files a MODERATION_DATA_MIRROR serves, from the data found.")
def fetch_data(mirror_to: Path | None) -> None:
    """Find the training data (../shared/data) or download it from its public homes (or MODERATION_DATA_MIRROR),
    checking SHA-256."""
    try:
        folder = sources.ensure_data()
    except sources.DataUnavailable as exc:
        _fail(str(exc))
    if mirror_to is None:
        click.echo(str(folder))
        return
    _output_folder(mirror_to, mirror_to)
    for path in sources.write_mirror(folder, mirror_to):
        click.echo(str(path))


@cli.command()
@models_option
@click.option("--data", "data_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Labelled file (CSV or JSON lines: text, label) to train on with the shared data; repeatable.")
@click.option("--with-feedback", is_flag=True, help="Add every moderator label from the store to the training data.")
@database_option
@click.option("--site-weight", default=None, callback=_finite, metavar="W", type=click.FloatRange(min=0, min_open=True),
              help="How much more one of the site's own labels (--data, --with-feedback) weighs than a shared "
                   "example after balancing the sources; 1 weighs them alike.  [default: 10, "
                   "moderation.features.SITE_LABEL_WEIGHT]")
@click.option("--promote/--no-promote", "promote", default=None,
              help="Make the new version live through the promotion gate, as `promote` does (default: only when "
                   "no version is live yet). Refused by the gate, it stays saved but not live, exit 2.")
@click.option("--archive", "archive_file", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="The site's published comments (CSV, JSON lines or Parquet, as rescore reads them: id, text, "
                   "article_id, optional article_title, article_body, parent_id), learnt as its legitimate "
                   "comments and its articles, minus what may be spam.")
@click.option("--archive-sql", default=None, metavar="URL", help="The archive as a database table (with --table).")
@click.option("--table", "archive_table", default=None, metavar="NAME", help="The table of --archive-sql.")
def train(models_dir: Path, data_files: tuple[Path, ...], with_feedback: bool, database_url: str | None,
          site_weight: float | None, promote: bool | None, archive_file: Path | None, archive_sql: str | None,
          archive_table: str | None) -> None:
    """Train a new model version; the last line printed is the new version."""
    from training.train import train_model

    if site_weight is not None and not data_files and not with_feedback:  # it would weigh nothing, silently
        raise click.UsageError("--site-weight weighs the site's own labels: give --data or --with-feedback with it")
    registry = ModelRegistry(models_dir)
    # With a live version, --promote goes through the gate below: a retrained model never goes live unchecked.
    gated = bool(promote) and registry.current_version() is not None
    store = _store(database_url) if with_feedback or gated else None  # checked before training, not after it
    if with_feedback:
        from training.lifecycle import feedback_snapshot

        snapshot = feedback_snapshot(store)
        if snapshot is None:
            click.echo("no moderator labels in the store yet: training on the shared data only", err=True)
        else:
            click.echo(f"moderator labels exported to {snapshot}", err=True)
            data_files = data_files + (snapshot,)
    archive_rows = archive_name = None
    if archive_file is not None or archive_sql is not None or archive_table is not None:
        from training.archive import read_archive

        try:
            archive_rows = read_archive(archive_file, archive_sql, archive_table)
        except datasets.DataError as exc:
            _fail(str(exc))
        archive_name = str(archive_file) if archive_file is not None else f"table {archive_table}"
        click.echo(f"archive: {len(archive_rows)} comments from {archive_name}", err=True)
    _output_folder(models_dir, models_dir)  # the registry folder, made now rather than after training
    try:
        metadata = train_model(registry, extra_files=data_files, make_current=False if gated else promote,
                               site_weight=site_weight, archive_rows=archive_rows, archive_name=archive_name)
    except (datasets.DataError, sources.DataUnavailable) as exc:
        _fail(str(exc))
    if "archive" in metadata:
        click.echo(f"archive: {json.dumps(metadata['archive'])}", err=True)
    overall = metadata["metrics"]["evaluation"].get("overall", {})
    click.echo(f"evaluation on held-out data: {json.dumps(overall.get('at_spam_reject', {}))}", err=True)
    if gated:
        from training import lifecycle

        version = metadata["version"]
        try:
            result = lifecycle.promote(registry, version, store)
        except lifecycle.GateRefused as exc:
            click.echo(exc.result.table(), err=True)
            click.echo(f"error: {version} is saved but not live: refused by the gate: {exc}. To override: "
                       f"python -m training promote {version} --force --reason \"...\"", err=True)
            click.echo(version)  # the last line is still the new version
            sys.exit(2)
        except (ModelLoadError, datasets.DataError, sources.DataUnavailable) as exc:
            _fail(str(exc))
        if result.live is not None:
            click.echo(result.table(), err=True)
        click.echo(f"{version} is live (passed the promotion gate)", err=True)
    click.echo(metadata["version"])


@cli.command()
@models_option
@model_option
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

    if report_dir and not run_protocols:
        _fail("--report is where --protocols writes its report: add --protocols")
    if output:
        _output_folder(output)
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
@database_option
@click.option("--force", is_flag=True, help="Promote even if the gate refuses (needs --reason; recorded).")
@click.option("--reason", default=None, help="Why this version goes live (recorded in the history).")
def promote(models_dir: Path, version: str, database_url: str | None, force: bool, reason: str | None) -> None:
    """Make VERSION live if the promotion gate passes: not worse than the live model on the frozen evaluation set."""
    from training import lifecycle

    if not version.strip():  # an unset shell variable: the registry would read it as "the live version"
        _fail("give the version to promote (it is empty)")
    if force and not (reason and reason.strip()):
        _fail("--force needs --reason \"...\": overriding the gate is recorded with its reason")
    registry = ModelRegistry(models_dir)
    if registry.current_version() == version:  # a retried promote: no second history entry (rollback walks it)
        try:
            registry.verify(version)
        except ModelLoadError as exc:
            _fail(str(exc))
        click.echo(f"{version} is already live: nothing to do", err=True)
        click.echo(version)
        return
    store = _store(database_url)
    try:
        result = lifecycle.promote(registry, version, store, force, reason)
    except lifecycle.GateRefused as exc:
        click.echo(exc.result.table(), err=True)
        _fail(f"promotion of {version} refused by the gate: {exc}. "
              "Use --force --reason \"...\" to override (recorded in models/history.jsonl).")
    except (ModelLoadError, datasets.DataError, sources.DataUnavailable) as exc:
        _fail(str(exc))
    if result.live is not None:
        click.echo(result.table(), err=True)
    if not result.passed:
        click.echo(f"gate overridden: {'; '.join(result.failures)}; reason recorded: {reason}", err=True)
    click.echo(version)


@cli.command()
@models_option
def rollback(models_dir: Path) -> None:
    """Make the version that was live before the current one live again (repeat to keep walking back)."""
    from training import lifecycle

    try:
        version = lifecycle.rollback(ModelRegistry(models_dir))
    except ModelLoadError as exc:
        _fail(str(exc))
    click.echo(version)


@cli.command("export-feedback")
@database_option
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSON lines file in the general labelled format (text, label, article_*).")
def export_feedback(database_url: str | None, output_path: Path) -> None:
    """Write the moderators' labels in the general labelled format, for `train --data` or elsewhere."""
    from training import lifecycle

    store = _store(database_url)
    _output_folder(output_path)
    count = lifecycle.export_feedback(store, output_path)
    click.echo(f"{count} labels written to {output_path}")


@cli.command()
@database_option
@click.option("--older-than", "days", required=True, type=click.FloatRange(min=0, min_open=True), metavar="DAYS",
              callback=lambda ctx, param, value: _days(value),
              help="Delete thread comments accepted, and flagged comments reviewed, more than DAYS days ago.")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
def prune(database_url: str | None, days: float, dry_run: bool) -> None:
    """Retention: delete old comment text from the service's store (run it daily, e.g. from cron).

    Thread comments give relevance the discussion so far, and old ones matter little; reviewed flagged comments are
    the review log; the review events the CMS reads (GET /v1/reviews) go with them, and so do spam waves decided
    before the cut-off whose decision has run out and whose copies all go. The review queue, articles and
    moderator labels are never pruned (labels are training data:
    erase one with DELETE /v1/comments/<id>). Prints the counts as JSON.
    """
    from datetime import timedelta

    from moderation.store import now

    before = now() - timedelta(days=days)
    counts = _store(database_url).prune(before, dry_run=dry_run)
    click.echo(json.dumps({"before": before.isoformat(), "dry_run": dry_run, "deleted": counts}))


@cli.command("deliver-reviews")
@database_option
@click.option("--url", required=True, help="The site's endpoint: each batch of review events is POSTed to it.")
@click.option("--secret-file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File holding the shared secret (at least 16 bytes) that signs each request (HMAC-SHA256).")
@click.option("--state", "state_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where the cursor of the last acknowledged batch is kept (default: var/, one file per URL).")
@click.option("--batch-size", default=100, show_default=True, type=click.IntRange(1, 1000))
@click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(min=0.01), callback=_finite,
              help="Seconds between polls of the store when nothing is new.")
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(min=0.1), callback=_finite,
              help="Seconds to wait for the site's answer.")
@click.option("--max-backoff", default=60.0, show_default=True, type=click.FloatRange(min=0.01), callback=_finite,
              help="Longest wait between two attempts at a failing batch.")
@click.option("--once", is_flag=True, help="Deliver what is pending now, then exit (cron, tests).")
@click.option("--max-wait", type=click.FloatRange(min=0), default=None, callback=_finite,
              help="With --once: give up on a batch still failing this many seconds after its first attempt and "
                   "exit 1, the cursor before it  [default: 300].")
def deliver_reviews(database_url: str | None, url: str, secret_file: Path, state_path: Path | None,
                    batch_size: int, interval: float, timeout: float, max_backoff: float, once: bool,
                    max_wait: float | None) -> None:
    """Push the moderators' decisions (GET /v1/reviews events) to a site, signed, at least once, in order.

    Runs until SIGTERM / SIGINT; the cursor is saved after each batch the site acknowledged with a 2xx, so a
    killed process resumes where it was (the site may see the last batch again). Prints what it delivered as JSON.
    With --once, a site still failing after --max-wait ends it with exit status 1 and the undelivered events named.
    """
    from training import deliver

    if not url.startswith(("http://", "https://")):
        _fail("--url must be an http:// or https:// URL")
    problem = deliver.url_problem(url)  # no host ("http://"), a bad port, a space...
    if problem:
        _fail(f"--url {url!r} is not a valid URL: {problem}")
    if max_wait is not None and not once:
        _fail("--max-wait applies to --once; without it the command retries until stopped")
    store = _store(database_url)  # checked before the first delivery
    try:
        done = deliver.run(store, url, secret_file,
                           state_path or deliver.default_state_path(sources.PROJECT_ROOT, url),
                           deliver.Options(batch_size=batch_size, interval=interval, timeout=timeout,
                                           max_backoff=max_backoff, backoff=min(1.0, max_backoff), once=once,
                                           max_wait=300.0 if max_wait is None else max_wait))
    except deliver.DeliveryError as exc:
        _fail(str(exc))
    click.echo(json.dumps(done))
    undelivered = done.get("undelivered")
    if undelivered:
        first, last = undelivered["cursors"]
        click.echo(f"error: gave up on review events {first}-{last} after {undelivered['attempts']} attempt(s) over "
                   f"{undelivered['waited_s']:.1f} s (last: {undelivered['last_error']}); the cursor stays at "
                   f"{done['cursor']}, the next run sends them again", err=True)
        sys.exit(1)


@cli.command()
@models_option
@click.option("--input", "input_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV, JSON lines (.jsonl/.json/.ndjson) or Parquet file with id, text [, article_id, "
                   "article_title, article_body, decision].")
@click.option("--input-sql", "input_sql", default=None, metavar="URL",
              help="Read a database table instead (SQLAlchemy URL, e.g. postgresql://user@host/db).")
@click.option("--table", default=None, help="The table to read with --input-sql.")
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Result: JSON lines, or CSV / Parquet by extension.")
@model_option
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True)
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Dask scheduler (tcp://host:8786); without it --engine dask starts a local cluster.")
@click.option("--workers", default=None, type=click.IntRange(1, 1024),
              help="Worker processes (default: one per core; for a local Dask cluster too).")
@click.option("--chunk-size", default=2000, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--resume", is_flag=True, help="Carry on an interrupted run from its last checkpoint.")
@click.option("--thread-size", default=20, show_default=True, type=click.IntRange(0, 1000),
              help="Other comments of the same article_id given to the relevance model as the thread.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="A progress bar on a terminal, a line every 10 s otherwise.")
@click.option("--banned-words", envvar="MODERATION_BANNED_WORDS", default=None, metavar="FILE",
              help="The site's banned word list, as the service's MODERATION_BANNED_WORDS (the default).")
@click.option("--banned-word-action", envvar="MODERATION_BANNED_WORD_ACTION", default=None,
              metavar="accept|flag|reject", help="Default: MODERATION_BANNED_WORD_ACTION, else reject.")
@click.option("--suspect-words", envvar="MODERATION_SUSPECT_WORDS", default=None, metavar="FILE",
              help="The site's suspect word list (default: MODERATION_SUSPECT_WORDS).")
@click.option("--suspect-word-action", envvar="MODERATION_SUSPECT_WORD_ACTION", default=None,
              metavar="accept|flag|reject", help="Default: MODERATION_SUSPECT_WORD_ACTION, else flag.")
@click.option("--links-action", envvar="MODERATION_LINKS_ACTION", default=None, metavar="accept|flag|reject",
              help="Action for comments with links (default: MODERATION_LINKS_ACTION, else accept: off).")
@click.option("--links-min", envvar="MODERATION_LINKS_MIN", default=None, metavar="N",
              help="Links from which the links action applies (default: MODERATION_LINKS_MIN, else 1).")
@click.option("--allowed-link-domains", envvar="MODERATION_ALLOWED_LINK_DOMAINS", default=None, metavar="DOMAINS",
              help="Comma-separated domains whose links never count (default: MODERATION_ALLOWED_LINK_DOMAINS).")
def rescore(models_dir: Path, input_path: Path | None, input_sql: str | None, table: str | None,
            output_path: Path, version: str | None, engine: str, scheduler: str | None, workers: int | None,
            chunk_size: int, resume: bool, thread_size: int, progress: bool, **site) -> None:
    """Rescore old comments with a model version; print the summary (decisions, old -> new changes) as JSON.

    The site rules (links, banned and suspect words) are the service's, from the same MODERATION_* variables or
    these options: a replay after a list change shows which old comments the new list would hold."""
    from training.rescore import RescoreError, RescoreInterrupted, RescoreOptions, resumable
    from training.rescore import rescore as run_rescore
    from training.rescore_io import InputError, Source

    if scheduler and engine != "dask":
        _fail("--scheduler needs --engine dask")
    try:
        site_rules = SiteRules.from_settings(**site)
    except SiteRulesError as exc:
        _fail(f"bad site rule configuration: {exc}")
    try:
        source = Source(input_path, input_sql, table)
        if resume and not resumable(output_path):  # finished already, or another --output: say what happens
            click.echo(f"nothing to resume for {output_path} (no checkpoint of an interrupted run): "
                       "starting a new run", err=True)
        summary = run_rescore(source, output_path, RescoreOptions(
            models_dir=models_dir, version=version, chunk_size=chunk_size, workers=workers, engine=engine,
            scheduler=scheduler, resume=resume, thread_size=thread_size, progress=progress,
            site_rules=site_rules if site_rules.active else None,
        ))
    except RescoreInterrupted as exc:
        click.echo(f"interrupted: {exc}", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted before the first checkpoint; rerun with --resume to carry on", err=True)
        sys.exit(130)
    except (ModelLoadError, InputError, RescoreError) as exc:
        _fail(str(exc))
    click.echo(json.dumps(summary.to_dict(), indent=2))
    if summary.rows and not summary.scored:  # a wrong column mapping or export: a script must not carry on
        _fail(f"none of the {summary.rows} rows could be scored; their reasons are in {summary.files.get('errors')} "
              f"(no output was written: {output_path} is as it was)")


if __name__ == "__main__":
    cli()
