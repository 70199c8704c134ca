"""Statements of the per-request path run on SQLite without SQLAlchemy's per-execution work.

Every /v1/moderate under a stored article runs one query (the article's thread since the worker last looked) and,
when the comment is accepted, one insert and commit. Through SQLAlchemy Core each costs ~25-45 us of CPU (the
statement cache lookup, an execution context, result metadata, a Row per row); the same statement on the pooled
DBAPI connection costs ~8-22 us. `Prepared` compiles a Core statement once for the engine's dialect and runs it
with the same bind and result type processing SQLAlchemy applies, so the values written and read are the same
(tested against SQLAlchemy's own execution). Only SQLite (qmark parameters, the pysqlite driver) takes this path;
`Store` runs everything else through SQLAlchemy as before.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError


class Prepared:
    """A Core statement compiled once for a SQLite engine: `rows(params)` for a SELECT, `write(params)` for an
    INSERT/UPDATE committed before it returns."""

    def __init__(self, engine: Engine, statement, column_keys: list[str] | None = None):
        dialect = engine.dialect
        if dialect.name != "sqlite" or dialect.paramstyle != "qmark":
            raise ValueError("Prepared statements are for SQLite (qmark parameters) only")
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        self.engine = engine
        self._dbapi_error = dialect.loaded_dbapi.Error
        self.sql = str(compiled)
        self.names = list(compiled.positiontup or [])
        # values the statement carries itself (a LIMIT written as a number): used when the caller passes none
        self.defaults = {name: compiled.binds[name].value for name in self.names
                         if not compiled.binds[name].required}
        self.bind = [compiled.binds[name].type._cached_bind_processor(dialect) for name in self.names]
        columns = getattr(statement, "selected_columns", None) if getattr(statement, "is_select", False) else None
        self.result = [c.type._cached_result_processor(dialect, None) for c in columns] if columns is not None \
            else None

    def _params(self, params: dict) -> tuple:
        defaults = self.defaults
        values = (params[name] if name in params or name not in defaults else defaults[name] for name in self.names)
        return tuple(value if process is None else process(value) for value, process in zip(values, self.bind))

    def _connection(self):
        """A pooled DBAPI connection; one that cannot be opened raises as SQLAlchemy does (a 503, not a 500)."""
        try:
            return self.engine.raw_connection()
        except self._dbapi_error as exc:
            raise DBAPIError.instance(None, None, exc, self._dbapi_error) from exc

    def rows(self, params: dict) -> list[tuple]:
        """The rows of a SELECT, values converted as SQLAlchemy converts them."""
        if self.result is None:
            raise ValueError("not a SELECT: use write()")
        raw = self._connection()
        try:
            found = raw.cursor().execute(self.sql, self._params(params)).fetchall()
        except self._dbapi_error as exc:  # as SQLAlchemy raises it: the service answers 503 store_unavailable
            raise DBAPIError.instance(self.sql, params, exc, self._dbapi_error) from exc
        finally:
            raw.close()  # back to the pool (which rolls back: nothing to undo after a read)
        processors = self.result
        if not any(processors):
            return found
        return [tuple(v if p is None or v is None else p(v) for v, p in zip(row, processors)) for row in found]

    def execute(self, cursor, params: dict | list[dict]) -> None:
        """Execute (for each of a list of parameter sets) on a cursor of the caller's transaction
        (`Store._record_prepared`); the caller commits and turns driver errors into SQLAlchemy's."""
        if isinstance(params, list):
            cursor.executemany(self.sql, [self._params(p) for p in params])
        else:
            cursor.execute(self.sql, self._params(params))

    def fetch(self, cursor, params: dict) -> list[tuple]:
        """The rows of a SELECT on a cursor of the caller's transaction, values converted as in `rows`."""
        found = cursor.execute(self.sql, self._params(params)).fetchall()
        processors = self.result
        if not any(processors):
            return found
        return [tuple(v if p is None or v is None else p(v) for v, p in zip(row, processors)) for row in found]

    def write(self, params: dict | list[dict]) -> None:
        """Execute (for each of a list of parameter sets) and commit once (the commit has returned when this does)."""
        raw = self._connection()
        try:
            if isinstance(params, list):
                raw.cursor().executemany(self.sql, [self._params(p) for p in params])
            else:
                raw.cursor().execute(self.sql, self._params(params))
            raw.commit()
        except self._dbapi_error as exc:
            raise DBAPIError.instance(self.sql, params, exc, self._dbapi_error) from exc
        finally:
            raw.close()  # an uncommitted write (an exception above) is rolled back by the pool
