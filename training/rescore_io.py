"""Reading rescoring input and writing its output, in chunks, whatever the format.

Readers yield `Record`s: the record's position in the input (a line number for CSV and JSON lines, a row number
for Parquet and SQL tables), the row as a dict (or None) and an error (or None). A reader never raises on a bad
record: broken JSON, invalid UTF-8 or an unreadable CSV record is yielded as an error so it reaches the errors
file with its line number. Every reader visits the input in the same order on every run, which is what makes
`--resume` possible.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

FIELDS = ("id", "text", "article_id", "article_title", "article_body", "decision")
OUTPUT_COLUMNS = ("id", "decision", "spam", "off_topic", "toxicity", "reasons", "model_version")
BATCH_ROWS = 10_000

csv.field_size_limit(64 * 1024 * 1024)  # long texts are read, then reported as over the policy limit


@dataclass(frozen=True)
class Record:
    line: int
    row: dict | None
    error: str | None = None


class InputError(ValueError):
    """The input as a whole cannot be read (missing file, unknown format, missing table or column)."""


def input_kind(path: Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    raise InputError(f"{path}: unknown input format {suffix!r} (use .csv, .jsonl/.json/.ndjson or .parquet)")


def output_kind(path: Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    return "jsonl"


class Source:
    """Where the rows come from: a file or a database table. `fingerprint` identifies it for --resume."""

    def __init__(self, path: Path | None = None, sql_url: str | None = None, table: str | None = None,
                 batch_rows: int = BATCH_ROWS):
        if (path is None) == (sql_url is None):
            raise InputError("give either an input file or --input-sql URL --table NAME")
        if sql_url is not None and not table:
            raise InputError("--input-sql needs --table NAME")
        if sql_url is None and table:
            raise InputError("--table applies to --input-sql; an input file is read whole")
        self.path, self.sql_url, self.table, self.batch_rows = path, sql_url, table, batch_rows
        self.kind = "sql" if sql_url else input_kind(path)
        if path is not None and not Path(path).is_file():
            raise InputError(f"{path}: no such file")
        if self.kind == "jsonl":
            _refuse_a_json_array(path)

    def describe(self) -> str:
        return f"{self.table} at {_hide_password(self.sql_url)}" if self.sql_url else str(self.path)

    def fingerprint(self) -> dict:
        if self.sql_url:
            return {"sql": _hide_password(self.sql_url), "table": self.table}
        stat = Path(self.path).stat()
        return {"path": str(Path(self.path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}

    def size_bytes(self) -> int | None:
        return None if self.sql_url else Path(self.path).stat().st_size

    def records(self) -> Iterator[Record]:
        if self.kind == "csv":
            return read_csv(self.path)
        if self.kind == "jsonl":
            return read_jsonl(self.path)
        if self.kind == "parquet":
            return read_parquet(self.path, self.batch_rows)
        return read_sql(self.sql_url, self.table, self.batch_rows)


def _hide_password(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable URL>"


def _refuse_a_json_array(path: Path) -> None:
    """A file holding one JSON array of objects (pretty-printed or not) is not JSON lines: refused as a whole,
    rather than every row reported bad. A first line that is an array of other values is one bad row."""
    with open(path, "rb") as handle:
        first = b""
        while not first.strip():
            first = handle.readline(1 << 20)
            if not first:
                return
    first = first.removeprefix(b"\xef\xbb\xbf").strip()
    if not first.startswith(b"["):
        return
    try:
        values = json.loads(first)
    except ValueError:  # an array spread over lines, or too long a line to read whole here
        values = [{}]
    if isinstance(values, list) and any(isinstance(v, dict) for v in values):
        raise InputError(f"{path}: this is a JSON array; rescore reads JSON lines, one object per line "
                         "(convert it with: jq -c '.[]' in.json > in.jsonl)")


def read_jsonl(path: Path) -> Iterator[Record]:
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a byte order mark is not part of the first row
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                yield Record(number, None, f"invalid UTF-8 (byte {exc.start})")
                continue
            except json.JSONDecodeError as exc:
                yield Record(number, None, f"invalid JSON: {exc.msg}")
                continue
            except RecursionError:
                yield Record(number, None, "invalid JSON: nested too deeply")
                continue
            if not isinstance(row, dict):
                yield Record(number, None, "a line must be a JSON object")
                continue
            yield Record(number, row)


def read_csv(path: Path) -> Iterator[Record]:
    # surrogateescape keeps undecodable bytes as lone surrogates, so one bad record is reported on its own line
    # instead of ending the file.
    # utf-8-sig: a byte order mark (Excel's "CSV UTF-8", pandas' utf-8-sig) is not part of the first column's name,
    # also when that name is quoted. A header without id and text is the input as a whole: InputError.
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(f"{path}: an empty file, without the CSV header (id, text, ...)") from None
        except csv.Error as exc:
            raise InputError(f"{path}: unreadable CSV header: {exc}") from None
        header = [h.strip().lstrip("\ufeff") for h in header]
        if "id" not in header or "text" not in header:
            found = ", ".join(repr(h[:40]) for h in header[:20])
            raise InputError(f"{path}: the CSV header must name the columns id and text (found: {found})")
        wanted = [(name, header.index(name)) for name in FIELDS if name in header]
        previous_end = reader.line_num
        while True:
            start = previous_end + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                previous_end = reader.line_num
                yield Record(start, None, f"unreadable CSV record: {exc}")
                continue
            previous_end = reader.line_num
            if not values:
                continue
            if len(values) != len(header):
                yield Record(start, None, f"expected {len(header)} fields, found {len(values)}")
                continue
            row = {name: values[i] for name, i in wanted}
            bad = next((name for name, value in row.items() if _has_surrogate(value)), None)
            if bad:
                yield Record(start, None, f"invalid UTF-8 in column {bad}")
                continue
            yield Record(start, {k: (v if v != "" or k == "text" else None) for k, v in row.items()})


def _has_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def read_parquet(path: Path, batch_rows: int = BATCH_ROWS) -> Iterator[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:  # not Parquet, or cut short
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    present = [name for name in FIELDS if name in handle.schema_arrow.names]
    if "id" not in present or "text" not in present:
        raise InputError(f"{path}: a Parquet input needs the columns id and text")
    number = 0
    batches = handle.iter_batches(batch_size=batch_rows, columns=present)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:  # a corrupt row group: the rows before it are committed
            raise InputError(f"{path}: unreadable Parquet data after row {number} ({exc})") from None
        for row in batch.to_pylist():
            number += 1
            yield Record(number, _decode_bytes(row))


def _engine(url: str):
    """An engine for `url` (no connection yet); InputError for a URL that does not parse or a missing driver."""
    import sqlalchemy as sa

    from moderation.store import bounded_connect

    try:
        return sa.create_engine(bounded_connect(url))  # a CMS database that never answers: an error, not a hang
    except (sa.exc.SQLAlchemyError, ImportError) as exc:  # NoSuchModuleError, ArgumentError, no DB-API driver
        raise InputError(f"cannot use --input-sql {_hide_password(url)}: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    """SQLAlchemy's message without its "(Background on this error at: ...)" line."""
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]


def read_sql(url: str, table: str, batch_rows: int = BATCH_ROWS) -> Iterator[Record]:
    """Rows of a table, in primary-key (else id) order, fetched `batch_rows` at a time over one cursor."""
    import sqlalchemy as sa

    engine = _engine(url)
    try:
        try:
            meta = sa.MetaData()
            schema, _, name = table.rpartition(".")
            tbl = sa.Table(name, meta, autoload_with=engine, schema=schema or None)
        except sa.exc.NoSuchTableError:
            raise InputError(f"no table {table!r} in {_hide_password(url)}") from None
        except sa.exc.SQLAlchemyError as exc:
            raise InputError(f"cannot read {_hide_password(url)}: {_first_line(exc)}") from None
        columns = [tbl.c[name] for name in FIELDS if name in tbl.c]
        if "id" not in tbl.c or "text" not in tbl.c:
            raise InputError(f"table {table!r} needs the columns id and text")
        order = list(tbl.primary_key.columns) or [tbl.c.id]
        query = sa.select(*columns).order_by(*order)
        number = 0
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=batch_rows).execute(query)
            for part in result.partitions():
                for values in part:
                    number += 1
                    yield Record(number, _decode_bytes(dict(values._mapping)))
    finally:
        engine.dispose()


def _decode_bytes(row: dict) -> dict | None:
    """Binary columns (BLOB, Parquet binary) are decoded as UTF-8; invalid bytes become a marked error."""
    for key, value in row.items():
        if isinstance(value, (bytes, bytearray, memoryview)):
            try:
                row[key] = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                row[key] = _InvalidUtf8(key)
    return row


class _InvalidUtf8(str):
    """Marks a binary field that is not UTF-8 (validated as an error by the rescorer)."""


def is_invalid_utf8(value) -> bool:
    return isinstance(value, _InvalidUtf8)


def fsync_file(handle) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def convert_output(jsonl_path: Path, output_path: Path) -> None:
    """Write the finished JSON lines result as CSV or Parquet (streamed in batches), atomically."""
    kind = output_kind(output_path)
    tmp = output_path.with_name(output_path.name + ".tmp")
    if kind == "csv":
        with open(jsonl_path, "rb") as src, open(tmp, "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(OUTPUT_COLUMNS)
            for raw in src:
                writer.writerow(_flat(json.loads(raw)))
            fsync_file(out)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema([("id", pa.string()), ("decision", pa.string()), ("spam", pa.float64()),
                            ("off_topic", pa.float64()), ("toxicity", pa.float64()), ("reasons", pa.string()), ("model_version", pa.string())])
        with open(jsonl_path, "rb") as src, pq.ParquetWriter(tmp, schema) as writer:
            batch: list = []
            for raw in src:
                row = _flat(json.loads(raw))
                row[0] = str(row[0])
                batch.append(row)
                if len(batch) >= 50_000:
                    writer.write_table(pa.Table.from_pylist([dict(zip(OUTPUT_COLUMNS, r)) for r in batch], schema))
                    batch = []
            if batch:
                writer.write_table(pa.Table.from_pylist([dict(zip(OUTPUT_COLUMNS, r)) for r in batch], schema))
    os.replace(tmp, output_path)


def _flat(row: dict) -> list:
    return [row["id"], row["decision"], row["scores"]["spam"], row["scores"]["off_topic"], row["scores"].get("toxicity"),
            json.dumps(row["reasons"], ensure_ascii=False), row["model_version"]]


def read_output(path: Path) -> list[dict]:
    """Rows of an output file in any of the output formats (for tests and tools)."""
    kind = output_kind(path)
    if kind == "jsonl":
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle]
    if kind == "csv":
        with open(path, encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()
