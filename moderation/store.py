"""The service's durable store: articles, their accepted comments (threads), moderator labels, flagged decisions.

SQLAlchemy Core over SQLite (WAL) by default; any SQLAlchemy URL works, PostgreSQL included. All gunicorn workers
share it. Every write commits before the call returns.

How durable a commit is on SQLite is `synchronous` (MODERATION_DATABASE_SYNCHRONOUS), NORMAL by default for the
writes on the moderation path (thread comments, flagged decisions): in WAL mode a NORMAL commit is in the
operating system's hands when the call returns, so it survives the process being killed (SIGKILL, OOM), and
only an OS crash or power loss can lose the last commits (never corrupt the database); it costs no fsync per
comment. Moderator labels (feedback, reviews) are always committed with at least FULL: the WAL is synced to disk
before the label is acknowledged. FULL or EXTRA for everything is one setting away.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import weakref
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import (
    JSON, BigInteger, Column, DateTime, Float, Index, Integer, MetaData, String, Table, Text, bindparam, case,
    create_engine, delete, event, exists, func, insert, inspect, literal, select, update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from moderation.checkpoint import BACKSTOP_PAGES, WalCheckpointer
from moderation.group_commit import GroupCommit, WriteGate
from moderation.prepared import Prepared
from moderation.repeats import AtLeast

log = logging.getLogger(__name__)

metadata = MetaData()

articles = Table(
    "articles", metadata,
    Column("id", String(255), primary_key=True),
    Column("title", Text, nullable=False, default=""),
    Column("body", Text, nullable=False, default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Comments the service accepted under an article: the discussion so far, for relevance.
thread_comments = Table(
    "thread_comments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("article_id", String(255), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("comment_id", String(255)),  # the CMS's id, when it sent one: what erasure finds the comment by
    Column("fingerprint", String(32)),  # moderation/repeats.py: copies of a text share it (None: too few words)
    Index("ix_thread_comments_article", "article_id", "id"),
    Index("ix_thread_comments_comment", "comment_id"),
    Index("ix_thread_comments_created", "created_at"),
    Index("ix_thread_comments_fingerprint", "fingerprint", "created_at"),
    # A comment sent again under its CMS id (a retry after a timeout) joins the thread once.
    Index("ux_thread_comments_article_comment", "article_id", "comment_id", unique=True,
          sqlite_where=sql_text("comment_id IS NOT NULL"), postgresql_where=sql_text("comment_id IS NOT NULL")),
)

feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("text", Text, nullable=False),
    Column("label", String(16), nullable=False),
    Column("article_id", String(255)),
    Column("article_title", Text),
    Column("article_body", Text),
    Column("comment_id", String(255)),
    Column("moderator", String(255)),
    Column("decision_id", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_feedback_comment", "comment_id"),
)

_PENDING_WITH_ID = "reviewed_at IS NULL AND comment_id IS NOT NULL"

# Flagged comments awaiting (or past) review.
decisions = Table(
    "decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("comment_id", String(255)),
    Column("text", Text, nullable=False),
    Column("article_id", String(255)),
    Column("decision", String(16), nullable=False),
    Column("spam", Float),
    Column("off_topic", Float),
    Column("reasons", JSON, nullable=False),
    Column("explanation", JSON),
    Column("model_version", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("reviewed_at", DateTime(timezone=True)),
    Column("review_label", String(16)),
    Column("fingerprint", String(32)),
    Column("wave_id", Integer),  # the wave (`waves`) this held copy of a repeated text belongs to
    Index("ix_decisions_queue", "reviewed_at", "id"),
    Index("ix_decisions_wave", "wave_id", "reviewed_at", "id"),
    Index("ix_decisions_comment", "comment_id"),
    Index("ix_decisions_fingerprint", "fingerprint", "created_at"),
    # One item in the review queue per CMS comment id: sent again (a retry, an edit) it replaces the pending one.
    Index("ux_decisions_pending_comment", "comment_id", unique=True,
          sqlite_where=sql_text(_PENDING_WITH_ID), postgresql_where=sql_text(_PENDING_WITH_ID)),
)

# The moderators' decisions on flagged comments, for the CMS (GET /v1/reviews, service/reviews.py): one row written
# in the same transaction as the review, so its id follows commit order and is the feed's cursor. On SQLite writers
# are serialised, so ids are allocated in commit order; AUTOINCREMENT keeps an id from ever being reused after the
# newest rows are erased or pruned (a cursor past them must not skip a new event). On PostgreSQL a sequence value
# can commit out of order (T1 takes 5, T2 takes 6 and commits first: a reader at 6 would never see 5), so a review
# takes a lock on the table that serialises event writers until commit (`_lock_review_events`); readers are not
# blocked. Rows hold ids and labels only, no comment text.
review_events = Table(
    "review_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("decision_id", Integer, nullable=False),
    Column("comment_id", String(255)),
    Column("article_id", String(255)),
    Column("outcome", String(8), nullable=False),  # for the CMS: accept (publish) or reject (delete)
    Column("label", String(16), nullable=False),  # ham, spam, off_topic or policy
    Column("model_version", String(64)),  # of the verdict that flagged the comment
    Column("reviewed_at", DateTime(timezone=True), nullable=False),
    Index("ix_review_events_comment", "comment_id"),
    Index("ix_review_events_article", "article_id"),
    Index("ix_review_events_reviewed", "reviewed_at"),
    sqlite_autoincrement=True,
)

# Spam waves (moderation/waves.py): the held copies of one text (one `repeat` fingerprint) are one review item.
# One row per fingerprint that was ever held. While `label` is NULL the wave is open: every held copy joins it
# (decisions.wave_id) and the review queue shows the group once. A moderator's decision on any copy decides every
# pending copy and sets `label`; until `decided_until` later copies get that decision at once, without being held.
# A held copy arriving after `decided_until` opens the row again (a new wave of the same text); DELETE
# /v1/waves/<id> ends a decision early (decided_until = then).
waves = Table(
    "waves", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(32), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("label", String(16)),  # the moderator's label (ham, spam, off_topic, policy); NULL while open
    Column("moderator", String(255)),
    Column("decision_id", Integer),  # the copy the moderator decided on (its training label's decision)
    Column("decided_at", DateTime(timezone=True)),
    Column("decided_until", DateTime(timezone=True)),
    Index("ux_waves_fingerprint", "fingerprint", unique=True),
    sqlite_autoincrement=True,
)

# Policy settings changed at run time by moderators (service/policy_settings.py: pausing the holds of a reason,
# thresholds): one row per change, never updated, so the newest row is what is in force and the rest is the audit
# trail (who, when, why). Every worker polls the newest id.
policy_settings = Table(
    "policy_settings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("settings", JSON, nullable=False),  # the whole set in force after this change
    Column("note", Text, nullable=False),
    Column("moderator", String(255)),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,
)

# Columns added to a table after its first release: a store created by an older version gets them on start
# (nullable, so the ALTER TABLE is the same on SQLite and PostgreSQL and old rows simply have none).
ADDED_COLUMNS = {"thread_comments": ["comment_id", "fingerprint"], "decisions": ["fingerprint", "wave_id"]}


_FLAGGED_FIELDS = ("text", "article_id", "decision", "spam", "off_topic", "reasons", "explanation", "model_version",
                   "created_at", "fingerprint", "wave_id")


def _inserts(dialect: str) -> tuple:
    """(thread comment insert, flagged comment insert), built once per store. On SQLite and PostgreSQL a comment
    sent again under its CMS id is idempotent: it joins its article's thread once (ON CONFLICT DO NOTHING), and
    replaces its pending review-queue item (DO UPDATE: the moderator sees the latest version, an edit included)
    instead of queueing a second one. Other databases insert as they are told."""
    module = {"sqlite": sqlite, "postgresql": postgresql}.get(dialect)
    if module is None:
        return insert(thread_comments), insert(decisions)
    thread = module.insert(thread_comments).on_conflict_do_nothing(
        index_elements=["article_id", "comment_id"], index_where=thread_comments.c.comment_id.is_not(None))
    flagged = module.insert(decisions)
    flagged = flagged.on_conflict_do_update(
        index_elements=["comment_id"], index_where=sql_text(_PENDING_WITH_ID),
        set_={name: flagged.excluded[name] for name in _FLAGGED_FIELDS})
    return thread, flagged


def _join_wave_statement(dialect: str):
    """The upsert a held copy of a repeated text runs before its review-log row: it makes the text's wave row, or
    opens it again when its last decision has run out (a new wave of the same text); an open wave, or one whose
    decision is still in force, is left as it is. None where the database has no upsert (no grouping there)."""
    module = {"sqlite": sqlite, "postgresql": postgresql}.get(dialect)
    if module is None:
        return None
    statement = module.insert(waves)
    return statement.on_conflict_do_update(
        index_elements=["fingerprint"],
        set_={"opened_at": statement.excluded.opened_at, "label": None, "moderator": None, "decision_id": None,
              "decided_at": None, "decided_until": None},
        where=waves.c.label.is_not(None) & (waves.c.decided_until <= statement.excluded.opened_at))


_OPEN_WAVE = select(waves.c.id).where(waves.c.fingerprint == bindparam("fingerprint"), waves.c.label.is_(None))
_WAVE_STATE = select(waves.c.id, waves.c.label, waves.c.decided_at, waves.c.decided_until, waves.c.moderator) \
    .where(waves.c.fingerprint == bindparam("fingerprint"))


def as_utc(stamp: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite keeps none)."""
    if stamp is None:
        return None
    return stamp.replace(tzinfo=timezone.utc) if stamp.tzinfo is None else stamp.astimezone(timezone.utc)


def _one_thread_row_per_comment(conn) -> None:
    """Before the thread's unique index: a comment an older version stored twice (a CMS retry) keeps its first
    row. Its article's cached contexts are rebuilt (updated_at), so no worker keeps the copy's words counted."""
    first = (select(func.min(thread_comments.c.id)).where(thread_comments.c.comment_id.is_not(None))
             .group_by(thread_comments.c.article_id, thread_comments.c.comment_id))
    copies = thread_comments.c.comment_id.is_not(None) & thread_comments.c.id.not_in(first)
    _touch_articles(conn, copies)
    conn.execute(delete(thread_comments).where(copies))


def _one_pending_item_per_comment(conn) -> None:
    """Before the review queue's unique index: of the pending items an older version queued under one comment id,
    the latest stays pending; the others leave the queue as reviewed `superseded` (kept, but no label, no
    outcome for the CMS)."""
    pending = decisions.c.reviewed_at.is_(None) & decisions.c.comment_id.is_not(None)
    latest = select(func.max(decisions.c.id)).where(pending).group_by(decisions.c.comment_id)
    conn.execute(update(decisions).where(pending, decisions.c.id.not_in(latest))
                 .values(reviewed_at=now(), review_label="superseded"))


# Unique indexes added after a release, and what makes an older store's rows fit them.
UNIQUE_CLEANUPS = {"ux_thread_comments_article_comment": _one_thread_row_per_comment,
                   "ux_decisions_pending_comment": _one_pending_item_per_comment}


def _copies(table):
    return (select(table.c.comment_id)
            .where(table.c.fingerprint == bindparam("fingerprint"), table.c.created_at >= bindparam("since"),
                   table.c.comment_id.is_(None) | table.c.comment_id.is_distinct_from(
                       bindparam("comment_id", type_=String))))


# Comments with a text's fingerprint recorded since a time, in threads and in the review log: each CMS comment id
# once (a comment sent again after a timeout is stored again, but is one comment), each row without an id once,
# and none under the comment id being decided (that comment itself, sent again).
_FOUND = _copies(thread_comments).union_all(_copies(decisions)).subquery()
_COPIES = select(func.count(_FOUND.c.comment_id.distinct()) + func.count() - func.count(_FOUND.c.comment_id))
# The text of a comment by the CMS's id (a reply's parent): the latest copy, accepted or flagged.
_THREAD_TEXT = (select(thread_comments.c.text)
                .where(thread_comments.c.comment_id == bindparam("comment_id", type_=String))
                .order_by(thread_comments.c.id.desc()).limit(1))
_FLAGGED_TEXT = (select(decisions.c.text).where(decisions.c.comment_id == bindparam("comment_id", type_=String))
                 .order_by(decisions.c.id.desc()).limit(1))


# The `repeat` rule needs to know whether a text was posted `repeat_min - 1` times before, not how many times a
# wave of thousands was: the count stops at REPEAT_COUNT_CAP (each table's scan reads at most that many distinct
# copies), so a copy costs the same whether it is the 3rd or the 3,000th. The key is the CMS comment id, or the
# table and row id of a comment stored without one, as `_COPIES` counts.
REPEAT_COUNT_CAP = 10
WAVE_ARTICLES = 20  # a review-queue wave item lists this many of its articles (and counts them all)
WAVE_COMMENT_IDS = 5  # and the newest comment ids of its copies


def _bounded_copies(table, tag: str):
    no_id = table.c.comment_id.is_(None)
    return (select(table.c.comment_id.label("cid"), case((no_id, literal(tag)), else_=None).label("tag"),
                   case((no_id, table.c.id), else_=None).label("rid"))
            .where(table.c.fingerprint == bindparam("fingerprint"), table.c.created_at >= bindparam("since"),
                   no_id | table.c.comment_id.is_distinct_from(bindparam("comment_id", type_=String)))
            .distinct().limit(REPEAT_COUNT_CAP).subquery())


_BOUNDED = [_bounded_copies(thread_comments, "t"), _bounded_copies(decisions, "d")]
_COPIES_UPTO = select(func.count()).select_from(
    select(_BOUNDED[0]).union(select(_BOUNDED[1])).subquery())


def _id(value: int):
    """An id the API took (up to 2**63 - 1) as a 64-bit parameter: the id columns are 32-bit `integer` on
    PostgreSQL, and a larger value bound as one was an 'integer out of range' error (a 503), not "no such row"."""
    return literal(value, BigInteger)


def now() -> datetime:
    return datetime.now(timezone.utc)


def default_url(project_root: Path) -> str:
    return f"sqlite:///{project_root / 'var' / 'moderation.db'}"


# "Cannot connect now": a server down or refusing, a SQLite file or folder that cannot be opened or made (a volume
# not mounted yet, read-only). What a service may start without, and set its schema up when the database is back.
UNREACHABLE = (OperationalError, InterfaceError, OSError)

STARTUP_CONNECT_SECONDS = 2  # libpq's connect_timeout while a deferred store waits for its database (2: its least)
COMMAND_CONNECT_SECONDS = 10  # a command's PostgreSQL connections give up after this (`bounded_connect`)


def bounded_connect(url: str) -> str:
    """`url` with libpq's connect_timeout set to COMMAND_CONNECT_SECONDS for PostgreSQL when it sets none: a host
    that accepts the connection and never answers (frozen, a firewall black hole) would otherwise hold a command
    for ever. Other databases, and a URL that does not parse (its user gets the parse error), unchanged."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - ArgumentError and the like: reported by whoever opens it
        return url
    if parsed.get_backend_name() != "postgresql" or "connect_timeout" in parsed.query:
        return url
    return parsed.update_query_dict({"connect_timeout": str(COMMAND_CONNECT_SECONDS)}) \
        .render_as_string(hide_password=False)
_setting_up = threading.local()  # .store: the store whose schema this thread is setting up (its checkouts pass)
_DEFERRED: "weakref.WeakSet[Store]" = weakref.WeakSet()  # stores whose schema waits for the database


def _rearm_after_fork() -> None:
    """In a forked child, a schema lock held by one of the parent's threads would be held for ever."""
    for store in list(_DEFERRED):
        store._schema_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_rearm_after_fork)


def _first_line(exc: BaseException) -> str:
    """The driver's own message, first line (SQLAlchemy's wrapper adds the statement and a link)."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else ""


SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA")  # SQLite levels a store may be configured with (OFF is never safe)


def _sqlite_pragmas(synchronous: str, background_checkpoints: bool = False):
    def on_connect(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=10000")
        if background_checkpoints:  # moderation/checkpoint.py copies the WAL back; this is only its backstop
            cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        cursor.close()

    return on_connect


def review_outcome(label: str) -> str:
    """What a review means for the CMS: `accept` (publish the held comment) for the label ham, else `reject`."""
    return "accept" if label == "ham" else "reject"


def _lock_review_events(conn) -> None:
    """PostgreSQL: serialise the transactions that add review events until they commit, so that event ids become
    visible in id order (a reader never sees id 6 before id 5 has committed). SHARE ROW EXCLUSIVE conflicts with
    itself and with writers, not with readers. SQLite needs nothing: its writers are serialised already."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE review_events IN SHARE ROW EXCLUSIVE MODE")


def _add_review_event(conn, row, label: str, stamp: datetime) -> None:
    """The event of a review of the flagged decision `row` (a `decisions` row), in the review's transaction: call
    it after the update that takes the decision off the queue (that order cannot deadlock with erasure)."""
    _lock_review_events(conn)
    conn.execute(insert(review_events).values(
        decision_id=row["id"], comment_id=row["comment_id"], article_id=row["article_id"],
        outcome=review_outcome(label), label=label, model_version=row["model_version"], reviewed_at=stamp))


def _add_review_events(conn, rows, label: str, stamp: datetime) -> None:
    """The events of one review of several flagged decisions (the copies of a wave), in `rows` order."""
    _lock_review_events(conn)
    conn.execute(insert(review_events), [
        {"decision_id": row["id"], "comment_id": row["comment_id"], "article_id": row["article_id"],
         "outcome": review_outcome(label), "label": label, "model_version": row["model_version"],
         "reviewed_at": stamp} for row in rows])


def _lock_threads(conn, article_ids) -> None:
    """PostgreSQL: serialise the transactions adding comments to these articles' threads until they commit, so
    that a thread's ids become visible in id order. Each worker brings its cached thread up to date with the
    comments above the last id it saw (service/articles.py); a sequence id taken first and committed after a later
    one would be skipped for good. One transaction-level advisory lock per article, in a fixed order; other
    articles, readers and SQLite (writers serialised already) are not affected."""
    if conn.dialect.name == "postgresql":
        for article_id in sorted(set(article_ids)):
            conn.execute(_THREAD_LOCK, {"article_id": article_id})


_THREAD_LOCK = sql_text("SELECT pg_advisory_xact_lock(7331, hashtext(:article_id))")  # 7331: this lock's key space


def utc_iso(stamp: datetime | None) -> str | None:
    """A stored time in ISO 8601, in UTC with its offset (+00:00): SQLite keeps no zone, and every stamp is UTC
    (`now()`); PostgreSQL gives it in the session's time zone."""
    if stamp is None:
        return None
    return (stamp.replace(tzinfo=timezone.utc) if stamp.tzinfo is None else stamp.astimezone(timezone.utc)).isoformat()


def review_event_json(row) -> dict:
    """An event as the CMS reads it (GET /v1/reviews, GET /v1/comments/<id>)."""
    return {"cursor": int(row["id"]), "comment_id": row["comment_id"], "article_id": row["article_id"],
            "outcome": row["outcome"], "label": row["label"], "reviewed_at": utc_iso(row["reviewed_at"]),
            "decision_id": row["decision_id"], "model_version": row["model_version"]}


def _touch_articles(conn, deleted) -> None:
    """A new updated_at for the articles whose thread loses the comments `deleted` selects (call before deleting
    them): every worker then rebuilds its cached context of them (service/articles.py)."""
    touched = select(thread_comments.c.article_id).where(deleted)
    conn.execute(update(articles).where(articles.c.id.in_(touched)).values(updated_at=now()))


class Store:
    """Articles, threads, feedback and flagged decisions behind one SQLAlchemy engine."""

    def __init__(self, url: str, synchronous: str = "NORMAL", checkpoint_seconds: float | None = None,
                 defer_unreachable: bool = False):
        """Open the store and set its schema up (create the tables, upgrade an older one).

        A configuration that can never work raises at once: a malformed URL (ArgumentError), an unknown dialect
        (NoSuchModuleError), a driver that is not installed (ImportError), a bad `synchronous` (ValueError). A
        database that cannot be reached now (server down, SQLite folder missing or read-only: UNREACHABLE) raises
        too, unless `defer_unreachable` (the service): then the store is made without its schema, `unreachable`
        says why, and the schema is set up by the first connection that works (`set_up_schema`, once)."""
        synchronous = str(synchronous).upper()
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}, not {synchronous!r}")
        self.url = url
        self.synchronous = synchronous
        self.sqlite = make_url(url).get_backend_name() == "sqlite"
        database = make_url(url).database if self.sqlite else None
        # SQLite WAL checkpoints in a background thread of each writing process instead of inside the commit of
        # a request (moderation/checkpoint.py): what the service asks for; the CLI keeps SQLite's own.
        self.checkpointer = WalCheckpointer(database, checkpoint_seconds) \
            if checkpoint_seconds and database not in (None, "", ":memory:") else None
        # A pre-ping is a round trip per checkout; it finds dropped server connections, which SQLite has none of.
        self.engine: Engine = create_engine(url, pool_pre_ping=not self.sqlite, json_serializer=json.dumps)
        self._add_thread, self._add_flagged = _inserts(self.engine.dialect.name)
        self._join_wave = _join_wave_statement(self.engine.dialect.name)
        if self.sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas(synchronous, self.checkpointer is not None))
        self._prepared: dict = {}  # id(statement) -> (statement, Prepared): the request path's statements on SQLite
        # The service's write transactions take turns through a lock beside a SQLite file instead of SQLite's busy
        # sleeps, and the moderation writes of concurrent requests share a commit (moderation/group_commit.py).
        self._gate = WriteGate(Path(f"{database}.writelock")
                               if self.sqlite and database not in (None, "", ":memory:") else None)
        self._group = GroupCommit(self._record_batch)
        self.schema_ready = False
        self.unreachable: str | None = None  # why the schema could not be set up at start (defer_unreachable)
        self._schema_lock = threading.Lock()
        self._backfill: bool | None = None  # the review events need a backfill (decided at the first attempt)
        if defer_unreachable and self.engine.dialect.name == "postgresql" \
                and self.engine.dialect.driver in ("psycopg", "psycopg2"):
            event.listen(self.engine, "do_connect", self._bound_connect_until_set_up)
        try:
            self.set_up_schema()
        except UNREACHABLE as exc:
            if not defer_unreachable:
                raise
            self.unreachable = f"{type(exc).__name__}: {_first_line(exc)}"
            self._deferred_at = time.monotonic()
            _DEFERRED.add(self)
            # Every connection checked out of the pool (SQLAlchemy's, the prepared statements' raw ones, the
            # readiness check's) first sets the schema up; a SQLite connection first makes the database's folder.
            event.listen(self.engine, "checkout", self._set_up_on_checkout)
            if self._folder() is not None:
                event.listen(self.engine, "do_connect", self._make_folder_on_connect)

    def set_up_schema(self) -> bool:
        """Create the tables, upgrade a store made by an older version and backfill its review events, once per
        store object (and per process: a fork re-arms the lock, not the done flag). Idempotent and safe when
        several processes (gunicorn workers, instances) do it at once. True when this call did it; raises what
        the database raised (nothing is marked done then, so the next use tries again)."""
        if self.schema_ready:
            return False
        with self._schema_lock:
            if self.schema_ready:
                return False
            _setting_up.store = self
            try:
                folder = self._folder()
                if folder is not None:
                    folder.mkdir(parents=True, exist_ok=True)
                if self._backfill is None:
                    self._backfill = not inspect(self.engine).has_table("review_events")
                self._create_tables()
                self._upgrade()
                if self._backfill:
                    self._backfill_review_events()
                    self._backfill = False
            finally:
                _setting_up.store = None
            self.schema_ready = True
        if self.unreachable is not None:
            log.info("store schema set up: the database is reachable now (it was not at start-up, %.1f s ago)",
                     time.monotonic() - self._deferred_at)
        return True

    def _folder(self) -> Path | None:
        """The folder of a SQLite database file (made if missing), None for another database."""
        if self.url.startswith("sqlite:///") and self.url != "sqlite:///:memory:":
            return Path(self.url[len("sqlite:///"):]).parent
        return None

    def _set_up_on_checkout(self, _dbapi_connection, _record, _proxy) -> None:
        if not self.schema_ready and getattr(_setting_up, "store", None) is not self:
            self.set_up_schema()

    def _make_folder_on_connect(self, _dialect, _record, _cargs, _cparams) -> None:
        if not self.schema_ready:
            try:
                self._folder().mkdir(parents=True, exist_ok=True)
            except OSError:
                pass  # the connect that follows fails as it would, and says why

    def _bound_connect_until_set_up(self, _dialect, _record, _cargs, cparams) -> None:
        """Until the schema is set up, a PostgreSQL connection gives up within STARTUP_CONNECT_SECONDS: a host that
        drops packets would otherwise hold the start (and the app's first reads) for TCP's minutes of retries,
        and an orchestrator would kill the instance for not answering /healthz. Unchanged once set up."""
        if not self.schema_ready:
            cparams["connect_timeout"] = min(int(cparams.get("connect_timeout") or STARTUP_CONNECT_SECONDS),
                                             STARTUP_CONNECT_SECONDS)

    def _create_tables(self) -> None:
        """metadata.create_all, safe when another process creates the same tables at once: each of its CREATEs
        checks first, so one that loses a race (the table appeared between its check and its CREATE) is run
        again; every attempt but the last sees at least one more table made. PostgreSQL runs them all in one
        transaction, so the loser waits for the winner's commit, then finds them all."""
        attempts = len(metadata.tables) + 1
        for attempt in range(attempts):
            try:
                metadata.create_all(self.engine)
                return
            except SQLAlchemyError:
                if set(metadata.tables) <= set(inspect(self.engine).get_table_names()):
                    return  # made by another process; their indexes are _upgrade's
                if attempt == attempts - 1:
                    raise

    @contextmanager
    def durable(self):
        """A transaction whose commit is synced to disk before it returns (SQLite: at least synchronous=FULL)."""
        relax = self.sqlite and self.synchronous == "NORMAL"
        with self._gate.held(), self.engine.connect() as conn:
            if relax:
                conn.exec_driver_sql("PRAGMA synchronous=FULL")
                conn.commit()
            try:
                with conn.begin():
                    yield conn
            finally:
                if relax:
                    conn.rollback()
                    conn.exec_driver_sql(f"PRAGMA synchronous={self.synchronous}")
                    conn.commit()

    def _upgrade(self) -> None:
        """Bring a store created by an older version up to this schema: add the columns it lacks, then the
        indexes (create_all makes only missing tables). Idempotent; two workers racing at start are harmless."""
        found = inspect(self.engine)
        for name, columns in ADDED_COLUMNS.items():
            present = {c["name"] for c in found.get_columns(name)}
            for column in columns:
                if column not in present:
                    kind = metadata.tables[name].c[column].type.compile(self.engine.dialect)
                    self._ddl(lambda conn: conn.exec_driver_sql(f"ALTER TABLE {name} ADD COLUMN {column} {kind}"),
                              lambda: column in {c["name"] for c in inspect(self.engine).get_columns(name)})
        for table in metadata.sorted_tables:
            present = {i["name"] for i in found.get_indexes(table.name)}
            for index in table.indexes:
                if index.name not in present:
                    def create(conn, index=index):
                        if index.name in UNIQUE_CLEANUPS:  # rows an older version wrote twice would refuse it
                            UNIQUE_CLEANUPS[index.name](conn)
                        index.create(conn, checkfirst=True)

                    self._ddl(create,
                              lambda: index.name in {i["name"] for i in inspect(self.engine).get_indexes(table.name)})

    def _backfill_review_events(self) -> None:
        """A store upgraded from a version without review events: one event per decision reviewed before, in
        review order, so the feed also tells the CMS about them. Only while the table is still empty (two
        workers starting at once write them once: SQLite serialises the two statements, PostgreSQL the lock)."""
        outcome = case((decisions.c.review_label == "ham", "accept"), else_="reject")
        reviewed = (select(decisions.c.id, decisions.c.comment_id, decisions.c.article_id, outcome,
                           decisions.c.review_label, decisions.c.model_version, decisions.c.reviewed_at)
                    .where(decisions.c.reviewed_at.is_not(None), decisions.c.review_label.is_not(None),
                           ~exists(select(review_events.c.id)))
                    .order_by(decisions.c.reviewed_at, decisions.c.id))
        with self.engine.begin() as conn:
            _lock_review_events(conn)
            conn.execute(insert(review_events).from_select(
                ["decision_id", "comment_id", "article_id", "outcome", "label", "model_version", "reviewed_at"],
                reviewed))

    def _ddl(self, change, done) -> None:
        """Run one schema change; when it fails, it is fine if another process made the same change meanwhile."""
        try:
            with self.engine.begin() as conn:
                change(conn)
        except SQLAlchemyError:
            if not done():
                raise

    def dispose(self, close: bool = True) -> None:
        """Drop pooled connections. After a fork (`close=False`) the child forgets the connections it inherited
        without closing them: closing would end the parent's sessions over the sockets they share (PostgreSQL's
        Terminate message); it opens its own."""
        self.engine.dispose(close=close)

    # Articles and threads
    def put_article(self, article_id: str, title: str, body: str) -> None:
        """Create or replace an article's text. On SQLite and PostgreSQL one upsert: two workers storing the same
        new article at once (its first comments, each sent with it inline) both succeed, the later text wins;
        an update-else-insert would fail the second insert on the primary key there."""
        row = {"title": title, "body": body, "updated_at": now()}
        module = {"sqlite": sqlite, "postgresql": postgresql}.get(self.engine.dialect.name)
        with self.engine.begin() as conn:
            if module is not None:
                conn.execute(module.insert(articles).values(id=article_id, **row)
                             .on_conflict_do_update(index_elements=["id"], set_=row))
                return
            changed = conn.execute(update(articles).where(articles.c.id == article_id).values(**row)).rowcount
            if not changed:
                conn.execute(insert(articles).values(id=article_id, **row))

    def get_article(self, article_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(articles).where(articles.c.id == article_id)).mappings().first()
        return dict(row) if row else None

    def add_thread_comment(self, article_id: str, text: str, comment_id: str | None = None,
                           fingerprint: str | None = None) -> None:
        if self.checkpointer is not None:
            self.checkpointer.ensure_running()
        row = {"article_id": article_id, "text": text, "created_at": now(), "comment_id": comment_id,
               "fingerprint": fingerprint}
        prepared = self._prepare(self._add_thread, list(row))
        with self._gate.held():
            if prepared is not None:
                prepared.write(row)
                return
            with self.engine.begin() as conn:
                _lock_threads(conn, [article_id])
                conn.execute(self._add_thread, row)

    def rows(self, statement, params: dict) -> list:
        """All rows of a Core SELECT with its bound parameters (the request path's query: prepared on SQLite)."""
        prepared = self._prepare(statement)
        if prepared is not None:
            return prepared.rows(params)
        with self.engine.connect() as conn:
            return conn.execute(statement, params).all()

    def _prepare(self, statement, column_keys: list[str] | None = None) -> Prepared | None:
        """The statement prepared for this SQLite engine (moderation/prepared.py), or None: another database, or
        cursor events listened to on the engine (tracing, tests), which only SQLAlchemy's execution fires."""
        if not self.sqlite or self.engine.dispatch.before_cursor_execute or self.engine.dispatch.after_cursor_execute:
            return None
        found = self._prepared.get(id(statement))
        if found is None:  # the statement is kept with it, so its id is never reused for another
            try:
                prepared = Prepared(self.engine, statement, column_keys)
            except ValueError:  # a SQLite driver with another parameter style: SQLAlchemy runs it
                prepared = None
            found = self._prepared[id(statement)] = (statement, prepared)
        return found[1]

    def record_moderation(self, thread: list[tuple[str, str]], flagged: list[dict]) -> None:
        """The writes of one moderation request: accepted comments joining their article's thread ((article_id,
        text[, comment_id[, fingerprint]]) tuples) and flagged comments entering the review log (`decisions`
        columns), committed before this returns, in one transaction with the writes of the process's other
        requests arriving meanwhile (moderation/group_commit.py).
        All or nothing: when it raises, none of them was recorded, so the request can be retried as it is."""
        if not thread and not flagged:
            return
        self._group.submit((thread, flagged))

    def _record_batch(self, items: list[tuple[list, list]]) -> None:
        """The writes of one or more requests (`record_moderation`) in one transaction."""
        thread = [row for rows, _ in items for row in rows]
        flagged = [row for _, rows in items for row in rows]
        if self.checkpointer is not None:
            self.checkpointer.ensure_running()
        stamp = now()
        rows = [{"article_id": row[0], "text": row[1], "created_at": stamp,
                 "comment_id": row[2] if len(row) > 2 else None, "fingerprint": row[3] if len(row) > 3 else None}
                for row in thread]
        prepared = self._prepare(self._add_thread, list(rows[0])) if rows and not flagged else None
        with self._gate.held():
            if prepared is not None:  # accepted comments only (the common requests): one statement, prepared
                prepared.write(rows)
                return
            if self._record_prepared(rows, flagged, stamp):
                return
            with self.engine.begin() as conn:
                if flagged:  # first: the thread's locks are then taken last, as a review takes them (no deadlock)
                    wave_of = self._join_waves(conn, sorted({row.get("fingerprint") for row in flagged} - {None}),
                                               stamp)
                    conn.execute(self._add_flagged, [{**row, "created_at": stamp,
                                                         "wave_id": wave_of.get(row.get("fingerprint"))}
                                                        for row in flagged])
                if rows:
                    _lock_threads(conn, [row["article_id"] for row in rows])
                    conn.execute(self._add_thread, rows)

    def _record_prepared(self, rows: list[dict], flagged: list[dict], stamp: datetime) -> bool:
        """SQLite: `_record_batch`'s transaction on one pooled DBAPI connection with prepared statements (the
        held path of a wave: the wave's row, its review-log rows), committed before this returns. False (nothing
        done) where that is not available: another database, statements SQLAlchemy must run, rows of mixed
        columns."""
        flagged = [{**row, "created_at": stamp, "wave_id": None} for row in flagged]
        if not self.sqlite or self._join_wave is None or len({tuple(row) for row in flagged}) != 1:
            return False
        steps = [self._prepare(self._add_flagged, list(flagged[0])), self._prepare(self._join_wave, [
            "fingerprint", "opened_at"]), self._prepare(_OPEN_WAVE)]
        if rows:
            steps.append(self._prepare(self._add_thread, list(rows[0])))
        if any(step is None for step in steps):
            return False
        add_flagged, join_wave, open_wave = steps[:3]
        raw = add_flagged._connection()
        try:
            cursor = raw.cursor()
            wave_of = {}
            for key in sorted({row.get("fingerprint") for row in flagged} - {None}):
                join_wave.execute(cursor, {"fingerprint": key, "opened_at": stamp})
                found = open_wave.fetch(cursor, {"fingerprint": key})
                if found:
                    wave_of[key] = int(found[0][0])
            for row in flagged:
                row["wave_id"] = wave_of.get(row.get("fingerprint"))
            add_flagged.execute(cursor, flagged)
            if rows:
                steps[3].execute(cursor, rows)
            raw.commit()
        except add_flagged._dbapi_error as exc:  # as SQLAlchemy raises it: the service answers 503
            raise DBAPIError.instance(add_flagged.sql, None, exc, add_flagged._dbapi_error) from exc
        finally:
            raw.close()  # back to the pool, which rolls back what was not committed
        return True

    def _join_waves(self, conn, keys: list[str], stamp: datetime) -> dict:
        """{fingerprint: id of its open wave} for the held copies of a write, in its transaction (fingerprints in
        sorted order: two writers lock the wave rows in the same order). A text whose decision is still in force
        gets none: a copy held then (for another reason, or decided while this one was being scored) is an item
        of its own."""
        if self._join_wave is None or not keys:
            return {}
        found = {}
        for key in keys:
            conn.execute(self._join_wave, {"fingerprint": key, "opened_at": stamp})
            wave = conn.execute(_OPEN_WAVE, {"fingerprint": key}).first()
            if wave is not None:
                found[key] = int(wave[0])
        return found

    def wave_state(self, fingerprint: str) -> dict | None:
        """The wave row of a text (`id`, `label`, `decided_at`, `decided_until`, `moderator`; times aware, UTC), None
        when no copy of it was ever held. One indexed read (prepared on SQLite): the request path asks it."""
        found = self.rows(_WAVE_STATE, {"fingerprint": fingerprint})
        if not found:
            return None
        wave_id, label, decided_at, until, moderator = found[0]
        return {"id": int(wave_id), "label": label, "decided_at": as_utc(decided_at), "decided_until": as_utc(until),
                "moderator": moderator}

    def count_copies_upto(self, fingerprint: str, since: datetime, comment_id: str | None = None) -> int:
        """`count_copies`, stopping at REPEAT_COUNT_CAP (then an `AtLeast`, "10 or more" in the reason's message):
        the request path's count, whose cost does not grow with a wave (each table's scan stops at the cap)."""
        found = int(self.rows(_COPIES_UPTO, {"fingerprint": fingerprint, "since": since,
                                             "comment_id": comment_id})[0][0])
        return found if found < REPEAT_COUNT_CAP else AtLeast(REPEAT_COUNT_CAP)

    def count_copies(self, fingerprint: str, since: datetime, comment_id: str | None = None) -> int:
        """How many comments with this fingerprint (moderation/repeats.py) the store recorded since `since`, in
        threads and in the review log: distinct CMS comment ids, plus the comments recorded without one; never
        the comment `comment_id` itself."""
        found = self.rows(_COPIES, {"fingerprint": fingerprint, "since": since, "comment_id": comment_id})
        return int(found[0][0])

    def comment_text(self, comment_id: str) -> str | None:
        """The text of the comment the CMS sent under this id (the latest: in a thread, else in the review log), or
        None when the store holds none: what a reply answers (`parent_id`)."""
        with self.engine.connect() as conn:
            for statement in (_THREAD_TEXT, _FLAGGED_TEXT):
                found = conn.execute(statement, {"comment_id": comment_id}).first()
                if found is not None:
                    return found[0]
        return None

    def thread(self, article_id: str, limit: int = 200) -> list[str]:
        """The most recent accepted comments under an article, oldest first."""
        query = (select(thread_comments.c.text).where(thread_comments.c.article_id == article_id)
                 .order_by(thread_comments.c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(query)][::-1]

    # Erasure and retention. Each is one durable transaction. The articles whose thread loses comments get a new
    # updated_at in it, so every worker rebuilds its cached context of them (service/articles.py) on their next
    # comment instead of keeping the erased words in its summed counts.
    def erase_comment(self, comment_id: str) -> dict:
        """Delete every copy of a comment the store holds under the CMS's id: in its article's thread, in the
        review log, as a moderator label and in the review events. Returns the counts (all 0 when nothing was
        stored under that id)."""
        with self.durable() as conn:
            _touch_articles(conn, thread_comments.c.comment_id == comment_id)
            return {
                "thread_comments": conn.execute(
                    delete(thread_comments).where(thread_comments.c.comment_id == comment_id)).rowcount,
                "flagged": conn.execute(delete(decisions).where(decisions.c.comment_id == comment_id)).rowcount,
                "labels": conn.execute(delete(feedback).where(feedback.c.comment_id == comment_id)).rowcount,
                "reviews": conn.execute(
                    delete(review_events).where(review_events.c.comment_id == comment_id)).rowcount,
            }

    def comment_records(self, comment_id: str) -> dict:
        """Everything the store holds under a comment id (for a reader's access request): its thread entries, its
        flagged decisions (with their review), its moderator labels and the review events the CMS reads, oldest
        first. Times in UTC with their offset (`utc_iso`)."""
        stamp = utc_iso
        with self.engine.connect() as conn:
            thread = conn.execute(select(thread_comments.c.article_id, thread_comments.c.text,
                                         thread_comments.c.created_at)
                                  .where(thread_comments.c.comment_id == comment_id).order_by(thread_comments.c.id))
            flagged = conn.execute(select(decisions).where(decisions.c.comment_id == comment_id)
                                   .order_by(decisions.c.id)).mappings().all()
            labels = conn.execute(select(feedback).where(feedback.c.comment_id == comment_id)
                                  .order_by(feedback.c.id)).mappings().all()
            reviews = conn.execute(select(review_events).where(review_events.c.comment_id == comment_id)
                                   .order_by(review_events.c.id)).mappings().all()
            return {
                "thread_comments": [{"article_id": r.article_id, "text": r.text, "created_at": stamp(r.created_at)}
                                    for r in thread],
                "flagged": [{"article_id": r["article_id"], "text": r["text"], "decision": r["decision"],
                             "scores": {"spam": r["spam"], "off_topic": r["off_topic"]}, "reasons": r["reasons"],
                             "model_version": r["model_version"], "created_at": stamp(r["created_at"]),
                             "reviewed_at": stamp(r["reviewed_at"]), "review_label": r["review_label"]}
                            for r in flagged],
                "labels": [{"text": r["text"], "label": r["label"], "article_id": r["article_id"],
                            "moderator": r["moderator"], "created_at": stamp(r["created_at"])} for r in labels],
                "reviews": [review_event_json(r) for r in reviews],
            }

    def delete_article(self, article_id: str) -> dict:
        """Delete an article, the comments of its thread and the review events of its comments (the CMS has no
        comment left to publish or delete). Its flagged comments and moderator labels stay (the review log and the
        training data): erase those by comment id. Returns the counts."""
        with self.durable() as conn:
            comments = conn.execute(delete(thread_comments).where(thread_comments.c.article_id == article_id)).rowcount
            article = conn.execute(delete(articles).where(articles.c.id == article_id)).rowcount
            reviews = conn.execute(delete(review_events).where(review_events.c.article_id == article_id)).rowcount
        return {"article": article, "thread_comments": comments, "reviews": reviews}

    def prune(self, before: datetime, dry_run: bool = False) -> dict:
        """Retention: delete thread comments accepted before `before`, flagged comments reviewed before it, the
        review events of those reviews, and the waves decided before it whose decision has run out and whose copies
        all go (a later copy of the text starts a new wave, as after any expired decision). The review queue
        (flagged, not reviewed yet), articles and moderator labels are kept. Returns the counts; with `dry_run`,
        what would be deleted, deleting nothing."""
        old_thread = thread_comments.c.created_at < before
        old_reviews = decisions.c.reviewed_at.is_not(None) & (decisions.c.reviewed_at < before)
        old_events = review_events.c.reviewed_at < before
        kept_copy = select(decisions.c.id).where(decisions.c.wave_id == waves.c.id, ~old_reviews)
        old_waves = (waves.c.label.is_not(None) & (waves.c.decided_at < before)
                     & (func.coalesce(waves.c.decided_until, waves.c.decided_at) < before) & ~kept_copy.exists())
        with self.durable() as conn:
            if dry_run:
                def count(table, where) -> int:
                    return int(conn.execute(select(func.count()).select_from(table).where(where)).scalar_one())

                return {"thread_comments": count(thread_comments, old_thread),
                        "reviewed_flagged": count(decisions, old_reviews),
                        "review_events": count(review_events, old_events),
                        "waves": count(waves, old_waves)}
            _touch_articles(conn, old_thread)
            gone_waves = conn.execute(delete(waves).where(old_waves)).rowcount
            return {"thread_comments": conn.execute(delete(thread_comments).where(old_thread)).rowcount,
                    "reviewed_flagged": conn.execute(delete(decisions).where(old_reviews)).rowcount,
                    "review_events": conn.execute(delete(review_events).where(old_events)).rowcount,
                    "waves": gone_waves}

    # Moderator labels
    def add_feedback(self, text: str, label: str, article_id: str | None = None, article_title: str | None = None,
                     article_body: str | None = None, comment_id: str | None = None, moderator: str | None = None,
                     decision_id: int | None = None) -> int:
        with self.durable() as conn:
            result = conn.execute(insert(feedback).values(
                text=text, label=label, article_id=article_id, article_title=article_title,
                article_body=article_body, comment_id=comment_id, moderator=moderator, decision_id=decision_id,
                created_at=now(),
            ))
            return int(result.inserted_primary_key[0])

    def list_feedback(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(feedback).order_by(feedback.c.id)).mappings()]

    def count_feedback(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(feedback)).scalar_one())

    # Flagged decisions
    def review_queue(self, limit: int = 100, before: int | None = None) -> list[dict]:
        """Review-queue items not reviewed yet, newest first; with `before`, those with a lower id (the next page).

        An item is a flagged comment (a `decisions` row), or a wave: the pending copies of one text are one item,
        shown as its newest copy with a `wave` dict (`id`, `count`, `first_seen`, `last_seen`, `articles` (up to
        WAVE_ARTICLES), `article_count`, `comment_ids` (the newest WAVE_COMMENT_IDS), `spam` and `off_topic`
        ([min, max] over the copies)), and the explanation of the first copy that has one. Reads at a moderator's
        pace: the pending copies of every wave are grouped at each call."""
        pending = decisions.c.reviewed_at.is_(None)
        grouped = (select(decisions.c.wave_id, func.max(decisions.c.id), func.count(), func.min(decisions.c.created_at),
                          func.max(decisions.c.created_at), func.min(decisions.c.spam), func.max(decisions.c.spam),
                          func.min(decisions.c.off_topic), func.max(decisions.c.off_topic))
                   .where(pending, decisions.c.wave_id.is_not(None)).group_by(decisions.c.wave_id))
        alone = select(decisions.c.id).where(pending, decisions.c.wave_id.is_(None))
        if before is not None:
            alone = alone.where(decisions.c.id < _id(before))
        alone = alone.order_by(decisions.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            groups = {int(g[1]): g for g in conn.execute(grouped)
                      if before is None or int(g[1]) < before}
            chosen = sorted([int(r[0]) for r in conn.execute(alone)] + list(groups), reverse=True)[:limit]
            rows = {}
            for part in range(0, len(chosen), 500):
                ids = chosen[part:part + 500]
                rows.update((int(r["id"]), dict(r)) for r in conn.execute(
                    select(decisions).where(decisions.c.id.in_([_id(i) for i in ids]))).mappings())
            items = []
            for item_id in chosen:
                row = rows.get(item_id)
                if row is None:  # erased between the two reads
                    continue
                group = groups.get(item_id)
                if group is not None:
                    row["wave"] = self._wave_item(conn, group)
                    if row["explanation"] is None:  # a JSON null is stored as 'null': looked at here
                        row["explanation"] = next((found for (found,) in conn.execute(
                            select(decisions.c.explanation).where(decisions.c.wave_id == group[0], pending)
                            .order_by(decisions.c.id).limit(WAVE_COMMENT_IDS)) if found is not None), None)
                items.append(row)
            return items

    @staticmethod
    def _wave_item(conn, group) -> dict:
        wave_id, _, count, first, last, spam_min, spam_max, off_min, off_max = group
        members = (decisions.c.wave_id == wave_id) & decisions.c.reviewed_at.is_(None)
        articles_seen = [r[0] for r in conn.execute(
            select(decisions.c.article_id).where(members, decisions.c.article_id.is_not(None)).distinct()
            .limit(WAVE_ARTICLES))]
        article_count = len(articles_seen) if len(articles_seen) < WAVE_ARTICLES else int(conn.execute(
            select(func.count(decisions.c.article_id.distinct())).where(members)).scalar_one())
        comment_ids = [r[0] for r in conn.execute(
            select(decisions.c.comment_id).where(members, decisions.c.comment_id.is_not(None))
            .order_by(decisions.c.id.desc()).limit(WAVE_COMMENT_IDS))]
        return {"id": int(wave_id), "count": int(count), "first_seen": first, "last_seen": last,
                "articles": articles_seen, "article_count": article_count, "comment_ids": comment_ids,
                "spam": [spam_min, spam_max], "off_topic": [off_min, off_max]}

    def wave_stats(self, at: datetime | None = None) -> dict:
        """`items`: review-queue items (flagged comments outside any wave, plus waves with a pending copy);
        `open_waves`: waves with two or more pending copies; `standing`: waves whose decision is in force."""
        at = at or now()
        pending = decisions.c.reviewed_at.is_(None)
        sizes = (select(func.count().label("n")).where(pending, decisions.c.wave_id.is_not(None))
                 .group_by(decisions.c.wave_id).subquery())
        with self.engine.connect() as conn:
            alone = conn.execute(select(func.count()).where(pending, decisions.c.wave_id.is_(None))).scalar_one()
            groups, big = conn.execute(select(func.count(), func.count(case((sizes.c.n >= 2, 1))))
                                       .select_from(sizes)).one()
            standing = conn.execute(select(func.count()).select_from(waves).where(
                waves.c.label.is_not(None), waves.c.decided_until > at)).scalar_one()
        return {"items": int(alone) + int(groups), "open_waves": int(big or 0), "standing": int(standing)}

    def list_waves(self, limit: int = 100, at: datetime | None = None) -> list[dict]:
        """Waves with two or more copies awaiting review, and waves whose decision is in force, newest first (`id`,
        `fingerprint`, `opened_at`, `label`, `moderator`, `decision_id`, `decided_at`, `decided_until`, `pending`:
        copies awaiting review)."""
        at = at or now()
        sizes = (select(decisions.c.wave_id, func.count().label("pending"))
                 .where(decisions.c.reviewed_at.is_(None), decisions.c.wave_id.is_not(None))
                 .group_by(decisions.c.wave_id).subquery())
        with self.engine.connect() as conn:
            found = {int(r["id"]): {**r, "pending": 0} for r in conn.execute(
                select(waves).where(waves.c.label.is_not(None), waves.c.decided_until > at)
                .order_by(waves.c.id.desc()).limit(limit)).mappings()}
            found.update((int(r["id"]), dict(r)) for r in conn.execute(
                select(waves, sizes.c.pending).join(sizes, sizes.c.wave_id == waves.c.id)
                .where(sizes.c.pending >= 2).order_by(waves.c.id.desc()).limit(limit)).mappings())
        return [found[key] for key in sorted(found, reverse=True)[:limit]]

    def get_wave(self, wave_id: int) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(waves).where(waves.c.id == _id(wave_id))).mappings().first()
        return dict(row) if row else None

    def end_wave_decision(self, wave_id: int) -> dict | None:
        """End a wave's decision now (DELETE /v1/waves/<id>): later copies are moderated as any comment again, and
        the next held one opens the wave again. The wave row after the change; None when there is no such wave.
        The reviews already made stand (the CMS has their outcomes)."""
        stamp = now()
        with self.durable() as conn:
            conn.execute(update(waves).where(waves.c.id == _id(wave_id), waves.c.label.is_not(None),
                                             waves.c.decided_until > stamp).values(decided_until=stamp))
            row = conn.execute(select(waves).where(waves.c.id == _id(wave_id))).mappings().first()
        return dict(row) if row else None

    def queue_stats(self) -> tuple[int, datetime | None]:
        """(flagged comments not reviewed yet, when the oldest of them was flagged): one indexed query."""
        query = select(func.count(), func.min(decisions.c.created_at)).where(decisions.c.reviewed_at.is_(None))
        with self.engine.connect() as conn:
            count, oldest = conn.execute(query).one()
        return int(count), oldest

    def get_decision(self, decision_id: int) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(decisions).where(decisions.c.id == _id(decision_id))).mappings().first()
        return dict(row) if row else None

    def count_queue(self) -> int:
        return self.queue_stats()[0]

    def review_decision(self, decision_id: int, label: str, moderator: str | None = None,
                        train: bool = True, wave_hours: float | None = None) -> int | None:
        """Take a flagged comment off the queue, record the moderator's label and the review event the CMS reads
        (GET /v1/reviews), in one transaction. A comment accepted (`ham`) under a stored article joins its thread.
        For a copy in a wave, every pending copy of the wave is reviewed with it (`review`).

        Returns the feedback id (0 when `train` is false: the review is recorded, with `label` as its review label,
        but no training label is stored), or None when the decision does not exist or was reviewed already (a
        second click on the same item records nothing).
        """
        done = self.review(decision_id, label, moderator, train, wave_hours)
        return None if done is None else done["feedback_id"]

    def review(self, decision_id: int, label: str, moderator: str | None = None, train: bool = True,
               wave_hours: float | None = None) -> dict | None:
        """`review_decision`, answering {"feedback_id", "copies" (comments reviewed), "wave_id", "decided_until"}.

        A copy in a wave (decisions.wave_id) decides the wave: every copy of it still pending gets the label, a
        review event each (one per comment id, for the CMS), and, for `ham`, a place in its stored article's
        thread; one training label is stored (of the copy decided on), not one per copy. The wave keeps the
        decision for `wave_hours` (later copies get it at once, service/waves.py) when it held two copies or more
        or one held for `repeat`; any other decision on a copy of the text replaces a decision in force."""
        with self.durable() as conn:
            row = conn.execute(select(decisions).where(decisions.c.id == _id(decision_id))).mappings().first()
            if row is None:
                return None
            stamp = now()
            wave_id = row["wave_id"]
            target = wave_id  # the wave whose decision this is: the copy's, or the text's decided one it replaces
            if target is None and row["fingerprint"] is not None:
                target = conn.execute(select(waves.c.id).where(waves.c.fingerprint == row["fingerprint"],
                                                               waves.c.label.is_not(None))).scalar()
            if target is not None and row["reviewed_at"] is None:
                # the wave row first: the moderation path locks it before its review-log rows (no deadlock)
                conn.execute(update(waves).where(waves.c.id == target).values(
                    label=label, moderator=moderator, decision_id=decision_id, decided_at=stamp, decided_until=stamp))
            changed = conn.execute(
                update(decisions).where(decisions.c.id == _id(decision_id), decisions.c.reviewed_at.is_(None))
                .values(reviewed_at=stamp, review_label=label)
            ).rowcount
            if not changed:
                return None
            members = [row]
            if wave_id is not None:
                conn.execute(update(decisions).where(decisions.c.wave_id == wave_id, decisions.c.reviewed_at.is_(None))
                             .values(reviewed_at=stamp, review_label=label))
                members = [dict(r) for r in conn.execute(
                    select(decisions.c.id, decisions.c.comment_id, decisions.c.article_id, decisions.c.text,
                           decisions.c.model_version, decisions.c.fingerprint, decisions.c.reasons)
                    .where(decisions.c.wave_id == wave_id, decisions.c.reviewed_at == stamp)
                    .order_by(decisions.c.id)).mappings()]
            _add_review_events(conn, members, label, stamp)
            until = None
            if target is not None:
                is_wave = wave_id is None or len(members) > 1 \
                    or any(r.get("code") == "repeat" for r in row["reasons"] or [])
                if is_wave and wave_hours:
                    until = stamp + timedelta(hours=wave_hours)
                    conn.execute(update(waves).where(waves.c.id == target).values(decided_until=until))
            stored = {}
            article_ids = sorted({m["article_id"] for m in members if m["article_id"]})
            for part in range(0, len(article_ids), 500):
                stored.update((a["id"], a) for a in conn.execute(
                    select(articles).where(articles.c.id.in_(article_ids[part:part + 500]))).mappings())
            joining = [m for m in members if m["article_id"] in stored] if label == "ham" else []
            if joining:
                # Accepted by a moderator, so published by the CMS: it joins its article's discussion as an
                # accepted comment would have (workers add it to their cached threads with the next comment).
                _lock_threads(conn, [m["article_id"] for m in joining])
                conn.execute(self._add_thread, [{"article_id": m["article_id"], "text": m["text"],
                                                 "created_at": stamp, "comment_id": m["comment_id"],
                                                 "fingerprint": m["fingerprint"]} for m in joining])
            done = {"feedback_id": 0, "copies": len(members), "wave_id": wave_id, "decided_until": until}
            if not train:
                return done
            article = stored.get(row["article_id"])
            result = conn.execute(insert(feedback).values(
                text=row["text"], label=label, article_id=row["article_id"],
                article_title=article["title"] if article else None, article_body=article["body"] if article else None,
                comment_id=row["comment_id"], moderator=moderator, decision_id=decision_id, created_at=now(),
            ))
            done["feedback_id"] = int(result.inserted_primary_key[0])
            return done

    def mark_reviewed(self, decision_id: int, label: str) -> bool:
        """Take a flagged comment off the queue with a review label and its review event, storing no training
        label (review_decision with train=False)."""
        return self.review_decision(decision_id, label, train=False) is not None

    # Review events: the moderators' decisions in commit order, for the CMS
    def review_events(self, after: int = 0, limit: int = 100) -> list[dict]:
        """The review events with an id above `after` (a cursor the CMS got before), oldest first; reads only."""
        query = (select(review_events).where(review_events.c.id > _id(after)).order_by(review_events.c.id)
                 .limit(limit))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    # Policy settings (service/policy_settings.py)
    def latest_policy_settings(self) -> dict | None:
        """The newest policy settings change (`id`, `settings`, `note`, `moderator`, `changed_at`), None if none."""
        query = select(policy_settings).order_by(policy_settings.c.id.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row else None

    def policy_settings_history(self, limit: int = 20) -> list[dict]:
        query = select(policy_settings).order_by(policy_settings.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def change_policy_settings(self, change, note: str, moderator: str | None = None) -> dict:
        """Record `change(settings in force)` (a new dict; it may raise to record nothing) as the new settings, the
        read and the write one transaction that holds the store's write lock from its start: two changes made at
        once (two moderators' clicks on two workers) both count, the second built on the first. The new row."""
        with self.durable() as conn:
            if self.sqlite:  # the write lock before the read (pysqlite would begin only at the INSERT)
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:  # conflicts with itself and with writers, not with readers
                conn.exec_driver_sql("LOCK TABLE policy_settings IN SHARE ROW EXCLUSIVE MODE")
            row = conn.execute(select(policy_settings.c.settings).order_by(policy_settings.c.id.desc())
                               .limit(1)).first()
            return self._insert_policy_settings(conn, change(dict(row[0]) if row else {}), note, moderator)

    def _insert_policy_settings(self, conn, settings: dict, note: str, moderator: str | None) -> dict:
        stamp = now()
        result = conn.execute(insert(policy_settings).values(
            settings=settings, note=note, moderator=moderator, changed_at=stamp))
        return {"id": int(result.inserted_primary_key[0]), "settings": settings, "note": note,
                "moderator": moderator, "changed_at": stamp}

    def set_policy_settings(self, settings: dict, note: str, moderator: str | None = None) -> dict:
        """Record a new set of policy settings (synced to disk before it returns); the new row."""
        with self.durable() as conn:
            return self._insert_policy_settings(conn, settings, note, moderator)
