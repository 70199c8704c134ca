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
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (
    JSON, Column, DateTime, Float, Index, Integer, MetaData, String, Table, Text, create_engine, event, func,
    insert, select, update,
)
from sqlalchemy.engine import Engine, make_url

from moderation.prepared import Prepared

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
    Index("ix_thread_comments_article", "article_id", "id"),
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
)

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
    Index("ix_decisions_queue", "reviewed_at", "id"),
)


_ADD_THREAD_COMMENT = insert(thread_comments)  # built once: one per accepted comment


def now() -> datetime:
    return datetime.now(timezone.utc)


def default_url(project_root: Path) -> str:
    return f"sqlite:///{project_root / 'var' / 'moderation.db'}"


SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA")  # SQLite levels a store may be configured with (OFF is never safe)


def _sqlite_pragmas(synchronous: str):
    def on_connect(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    return on_connect


class Store:
    """Articles, threads, feedback and flagged decisions behind one SQLAlchemy engine."""

    def __init__(self, url: str, synchronous: str = "NORMAL"):
        synchronous = str(synchronous).upper()
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}, not {synchronous!r}")
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.synchronous = synchronous
        self.sqlite = make_url(url).get_backend_name() == "sqlite"
        # A pre-ping is a round trip per checkout; it finds dropped server connections, which SQLite has none of.
        self.engine: Engine = create_engine(url, pool_pre_ping=not self.sqlite, json_serializer=json.dumps)
        if self.sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas(synchronous))
        metadata.create_all(self.engine)
        self._prepared: dict = {}  # id(statement) -> (statement, Prepared): the request path's statements on SQLite

    @contextmanager
    def durable(self):
        """A transaction whose commit is synced to disk before it returns (SQLite: at least synchronous=FULL)."""
        relax = self.sqlite and self.synchronous == "NORMAL"
        with self.engine.connect() as conn:
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

    def dispose(self) -> None:
        """Drop pooled connections (after a fork, each process must open its own)."""
        self.engine.dispose()

    # Articles and threads
    def put_article(self, article_id: str, title: str, body: str) -> None:
        with self.engine.begin() as conn:
            row = {"title": title, "body": body, "updated_at": now()}
            changed = conn.execute(update(articles).where(articles.c.id == article_id).values(**row)).rowcount
            if not changed:
                conn.execute(insert(articles).values(id=article_id, **row))

    def get_article(self, article_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(articles).where(articles.c.id == article_id)).mappings().first()
        return dict(row) if row else None

    def add_thread_comment(self, article_id: str, text: str) -> None:
        row = {"article_id": article_id, "text": text, "created_at": now()}
        prepared = self._prepare(_ADD_THREAD_COMMENT, list(row))
        if prepared is not None:
            prepared.write(row)
            return
        with self.engine.begin() as conn:
            conn.execute(_ADD_THREAD_COMMENT, row)

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
        """The writes of one moderation request in one transaction: accepted comments joining their article's
        thread ((article_id, text) pairs) and flagged comments entering the review log (`decisions` columns).
        All or nothing: when it raises, none of them was recorded, so the request can be retried as it is."""
        if not thread and not flagged:
            return
        if len(thread) == 1 and not flagged:  # one accepted comment (the common request): one statement, prepared
            self.add_thread_comment(*thread[0])
            return
        stamp = now()
        with self.engine.begin() as conn:
            if thread:
                conn.execute(_ADD_THREAD_COMMENT, [{"article_id": a, "text": t, "created_at": stamp} for a, t in thread])
            if flagged:
                conn.execute(insert(decisions), [{**row, "created_at": stamp} for row in flagged])

    def thread(self, article_id: str, limit: int = 200) -> list[str]:
        """The most recent accepted comments under an article, oldest first."""
        query = (select(thread_comments.c.text).where(thread_comments.c.article_id == article_id)
                 .order_by(thread_comments.c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(query)][::-1]

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
    def review_queue(self, limit: int = 100) -> list[dict]:
        """Flagged comments not reviewed yet, newest first."""
        query = (select(decisions).where(decisions.c.reviewed_at.is_(None))
                 .order_by(decisions.c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def get_decision(self, decision_id: int) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(decisions).where(decisions.c.id == decision_id)).mappings().first()
        return dict(row) if row else None

    def count_queue(self) -> int:
        with self.engine.connect() as conn:
            query = select(func.count()).select_from(decisions).where(decisions.c.reviewed_at.is_(None))
            return int(conn.execute(query).scalar_one())

    def review_decision(self, decision_id: int, label: str, moderator: str | None = None,
                        train: bool = True) -> int | None:
        """Take a flagged comment off the queue and record the moderator's label, in one transaction.

        Returns the feedback id (0 when `train` is false: the review is recorded, with `label` as its review label,
        but no training label is stored), or None when the decision does not exist or was reviewed already (a
        second click on the same item records nothing).
        """
        with self.durable() as conn:
            row = conn.execute(select(decisions).where(decisions.c.id == decision_id)).mappings().first()
            if row is None:
                return None
            changed = conn.execute(
                update(decisions).where(decisions.c.id == decision_id, decisions.c.reviewed_at.is_(None))
                .values(reviewed_at=now(), review_label=label)
            ).rowcount
            if not changed:
                return None
            if not train:
                return 0
            article = None
            if row["article_id"]:
                article = conn.execute(select(articles).where(articles.c.id == row["article_id"])).mappings().first()
            result = conn.execute(insert(feedback).values(
                text=row["text"], label=label, article_id=row["article_id"],
                article_title=article["title"] if article else None, article_body=article["body"] if article else None,
                comment_id=row["comment_id"], moderator=moderator, decision_id=decision_id, created_at=now(),
            ))
            return int(result.inserted_primary_key[0])

    def mark_reviewed(self, decision_id: int, label: str) -> bool:
        with self.durable() as conn:
            changed = conn.execute(
                update(decisions).where(decisions.c.id == decision_id, decisions.c.reviewed_at.is_(None))
                .values(reviewed_at=now(), review_label=label)
            ).rowcount
        return bool(changed)
