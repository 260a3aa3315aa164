"""The PostgreSQL store: the server mode, for many writing processes (``SUVAR_DB=postgresql://…``).

Same public methods and semantics as :class:`suvar.store.duck.DuckStore`; what differs is how:

- **Schema.** The numbered migrations of :mod:`suvar.store.migrations` are applied as they are, with types
  spelled for PostgreSQL (``DOUBLE`` → ``DOUBLE PRECISION``), plus PostgreSQL-only extras per version
  (``PG_EXTRAS``): ``readings`` is partitioned by month on ``ts`` with primary key ``(sensor_id, ts)``, ids come
  from sequences, and the indexes the panel's queries need. Migrations run under an advisory lock, so two
  processes opening a fresh database at once do not race.
- **Ingest.** A batch is encoded once in PostgreSQL's binary ``COPY`` format (numpy, no per-row Python), copied
  into a temporary staging table, and moved with ``INSERT … SELECT … ON CONFLICT DO NOTHING``. Every staged row
  that did not insert met a stored reading with its key: it is a conflict when the stored value differs (those
  are found by one join and recorded in ``reading_conflicts``) and a duplicate otherwise, so first write wins
  across processes exactly as within one. Monthly partitions are created on demand, outside the batch's
  transaction and under an advisory lock. A batch that deadlocks with another writer is retried whole.
- **Connections.** A small pool per store (``POOL_SIZE``), autocommit, ``TimeZone=UTC``; a thread keeps one
  connection for the length of a call or of ``with store.lock``.
- **``store.lock``** excludes other threads of this process *and* other processes: it holds a session-level
  advisory lock, so the hash-chained ledgers (audit log, allocation plans) stay one chain whoever appends.
- **Backup** writes a DuckDB file with the same schema from one ``REPEATABLE READ`` snapshot (no ``pg_dump``
  needed; for a whole-server backup use PostgreSQL's own tools: ``pg_dump``, base backups and WAL archiving).

SQL is written with DuckDB-style ``?`` parameters and translated to psycopg's ``%s`` at one place
(:func:`_pg_params`); identifiers (table and partition names) come only from code constants, through
:mod:`psycopg.sql`.
"""

from __future__ import annotations

import functools
import re
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from suvar.store.common import SqlStore
from suvar.store.duck import SAME_VALUE_RTOL, IngestCounts
from suvar.store.migrations import LATEST_VERSION, MIGRATIONS

POOL_SIZE = 8  # connections per store object; each thread holds at most one at a time
DEADLOCK_RETRIES = 5

# Advisory lock keys (first int: Suvar's class, second: what is locked).
_LOCK_CLASS = 0x5A7A  # "Suvar"
_LOCK_STORE, _LOCK_MIGRATE, _LOCK_PARTITIONS, _LOCK_LEDGER = 1, 2, 3, 4

AGGREGATES = {
    "mean": "avg(value)",
    "min": "min(value)",
    "max": "max(value)",
    "sum": "sum(value)",
    "last": "(array_agg(value ORDER BY ts DESC))[1]",
    "first": "(array_agg(value ORDER BY ts))[1]",
    "count": "count(*)",
}

#: DuckDB's ``time_bucket`` aligns second-based buckets to 2000-01-03 (a Monday); ``date_bin`` does the same here.
BUCKET_ORIGIN = "TIMESTAMP '2000-01-03 00:00:00'"

_READINGS_DDL = """CREATE TABLE readings (
    sensor_id TEXT COLLATE "C" NOT NULL,
    ts TIMESTAMP NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (sensor_id, ts)
) PARTITION BY RANGE (ts)"""

#: PostgreSQL-only statements run after each shared migration's own.
PG_EXTRAS: dict[int, list[str]] = {
    1: [
        "CREATE SEQUENCE ingest_batch_id_seq OWNED BY ingest_batches.batch_id",
        "CREATE INDEX readings_ts_brin ON readings USING brin (ts)",  # time windows over all sensors
        "CREATE INDEX quarantine_batch ON quarantine (batch_id)",  # the panel's recent quarantine
        "CREATE INDEX quarantine_reason ON quarantine (reason, batch_id)",
        "CREATE INDEX reading_conflicts_batch ON reading_conflicts (batch_id)",
        "CREATE INDEX sensors_utility_zone ON sensors (utility_id, zone_id, kind)",
        "CREATE INDEX nodes_zone ON nodes (utility_id, zone_id)",
        "CREATE INDEX links_zone ON links (utility_id, zone_id)",
    ],
    2: ["CREATE INDEX connections_zone ON connections (utility_id, zone_id)"],
    3: [
        "CREATE SEQUENCE alarm_id_seq OWNED BY alarms.alarm_id",
        "CREATE INDEX alarms_status ON alarms (status, kind, scope)",
    ],
}

_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in microseconds since 1970-01-01
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)


def _pg_ddl(statement: str) -> str:
    """A shared migration statement as PostgreSQL wants it: ``DOUBLE PRECISION``, and text columns in the "C"
    collation, which sorts by code point as DuckDB does (whatever the database's locale) and compares fastest."""
    if re.match(r"\s*CREATE TABLE readings\s*\(", statement):
        return _READINGS_DDL
    lines = []
    for line in statement.splitlines(keepends=True):
        code, dashes, comment = line.partition("--")
        code = re.sub(r"\bDOUBLE\b(?!\s+PRECISION)", "DOUBLE PRECISION", code)
        code = re.sub(r"\b(TEXT|VARCHAR)\b(?!\s*\[)(?!\s+COLLATE)", r'\1 COLLATE "C"', code)
        lines.append(code + dashes + comment)
    return "".join(lines)


@functools.lru_cache(maxsize=1024)
def _pg_params(query: str) -> str:
    """DuckDB-style ``?`` placeholders → psycopg's ``%s`` (and a literal ``%`` → ``%%``), outside quotes."""
    out: list[str] = []
    quote = ""
    for ch in query:
        if quote:
            out.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


def _py(value: Any) -> Any:
    """A parameter as psycopg adapts it: numpy scalars to Python ones, pandas' missing values to None, and NUL
    characters (which PostgreSQL text cannot hold) to U+FFFD, in writes and in filters alike."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, list):
        return [_py(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


class InvalidValue(ValueError):
    """A parameter PostgreSQL cannot read as the type the query wants (e.g. ``'soon'`` as a timestamp)."""


_BAD_VALUE = (psycopg.errors.InvalidDatetimeFormat, psycopg.errors.DatetimeFieldOverflow,
              psycopg.errors.InvalidTextRepresentation)


class _Con:
    """A psycopg connection spoken to like DuckDB's: ``execute(sql, [params])`` with ``?`` placeholders."""

    def __init__(self, raw: psycopg.Connection) -> None:
        self.raw = raw

    def execute(self, query: str | sql.Composable, params: list | tuple | None = None) -> psycopg.Cursor:
        if params is not None:
            params = [_py(p) for p in params]
            if isinstance(query, str):
                query = _pg_params(query)
        try:
            return self.raw.execute(query, params)
        except _BAD_VALUE as exc:
            raise InvalidValue(f"{exc.diag.message_primary or exc}") from exc

    def one(self, query: str | sql.Composable, params: list | tuple | None = None) -> tuple:
        return self.execute(query, params).fetchall()[0]


class _Pool:
    """At most ``size`` connections; each thread holds one for the length of a call (re-entrant)."""

    def __init__(self, url: str, size: int, read_only: bool) -> None:
        self.url, self.read_only = url, read_only
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[psycopg.Connection] = []
        self._mutex = threading.Lock()
        self._local = threading.local()
        self._closed = False

    def _connect(self) -> psycopg.Connection:
        conn = psycopg.connect(self.url, autocommit=True, application_name="suvar")
        conn.execute("SET TIME ZONE 'UTC'")
        if self.read_only:
            conn.execute("SET default_transaction_read_only = on")
        return conn

    @contextmanager
    def connection(self) -> Iterator[_Con]:
        held = getattr(self._local, "con", None)
        if held is not None:
            yield held
            return
        if self._closed:
            raise RuntimeError("the store is closed")
        self._slots.acquire()
        try:
            with self._mutex:
                raw = self._idle.pop() if self._idle else None
            raw = raw or self._connect()
        except BaseException:
            self._slots.release()
            raise
        self._local.con = con = _Con(raw)
        try:
            yield con
        finally:
            self._local.con = None
            healthy = not raw.closed and raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            with self._mutex:
                if healthy and not self._closed:
                    self._idle.append(raw)
                    raw = None
            if raw is not None:
                raw.close()
            self._slots.release()

    def close(self) -> None:
        with self._mutex:
            self._closed = True
            idle, self._idle = self._idle, []
        for raw in idle:
            raw.close()


class _StoreLock:
    """Re-entrant mutual exclusion across threads (a lock) and processes (a PostgreSQL advisory lock)."""

    def __init__(self, pool: _Pool) -> None:
        self._pool = pool
        self._rlock = threading.RLock()
        self._local = threading.local()

    def acquire(self) -> bool:
        self._rlock.acquire()
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            held = self._pool.connection()
            try:
                con = held.__enter__()
                con.execute("SELECT pg_advisory_lock(?, ?)", [_LOCK_CLASS, _LOCK_STORE])
            except BaseException:
                self._rlock.release()
                raise
            self._local.held, self._local.con = held, con
        self._local.depth = depth + 1
        return True

    def release(self) -> None:
        self._local.depth -= 1
        try:
            if self._local.depth == 0:
                held, con = self._local.held, self._local.con
                self._local.held = self._local.con = None
                try:
                    con.execute("SELECT pg_advisory_unlock(?, ?)", [_LOCK_CLASS, _LOCK_STORE])
                finally:
                    held.__exit__(None, None, None)
        finally:
            self._rlock.release()

    def __enter__(self) -> _StoreLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _column(values: tuple, oid: int) -> Any:
    """One result column with the dtype DuckDB's ``.df()`` gives the same SQL type."""
    has_null = any(v is None for v in values)
    if oid == 16:  # bool
        return pd.array(values, dtype="boolean") if has_null else np.array(values, dtype=bool)
    if oid in (20, 23, 21):  # int8, int4, int2
        width = {20: 64, 23: 32, 21: 16}[oid]
        return pd.array(values, dtype=f"Int{width}") if has_null else np.array(values, dtype=f"int{width}")
    if oid in (700, 701, 1700):  # float4, float8, numeric (sums of integers): float64 like DuckDB's HUGEINT
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    if oid in (1082, 1114):  # date, timestamp
        if not values:
            return np.array([], dtype="datetime64[us]")
        return pd.to_datetime(pd.Series(values, dtype=object)).astype("datetime64[us]").to_numpy()
    return pd.Series(values, dtype=object).to_numpy()


def _frame(cur: psycopg.Cursor, rows: list[tuple] | None = None) -> pd.DataFrame:
    desc = cur.description or []
    rows = cur.fetchall() if rows is None else rows
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(desc)
    return pd.DataFrame({d.name: _column(tuple(c), d.type_code) for d, c in zip(desc, cols, strict=True)},
                        columns=[d.name for d in desc])


def _copy_rows(con: _Con, table: str, frame: pd.DataFrame) -> None:
    """COPY a frame's rows into ``table`` (a code constant) by column name; NaN and NaT become NULL, integral
    floats integers (as DuckDB casts them)."""
    columns = list(frame.columns)
    stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table),
                                                     sql.SQL(", ").join(map(sql.Identifier, columns)))
    values = []
    for name in columns:
        s = frame[name]
        missing = s.isna().to_numpy()
        col = [None if m else _py(v) for v, m in zip(s.tolist(), missing, strict=True)]
        if s.dtype.kind == "f":  # pandas makes integer columns with gaps float: 3.0 must still load as BIGINT 3
            col = [int(v) if v is not None and v.is_integer() else v for v in col]
        values.append(col)
    with con.raw.cursor().copy(stmt) as copy:
        for row in zip(*values, strict=True):
            copy.write_row(row)


def encode_binary_copy(batch: pa.Table) -> bytes:
    """``sensor_id, ts, value`` rows in PostgreSQL's binary COPY format (text, timestamp, float8).

    Format (https://www.postgresql.org/docs/15/sql-copy.html, "Binary Format"): a header, then per row a field
    count (int16) and each field as an int32 length and its bytes (timestamp: int64 µs since 2000-01-01; float8:
    IEEE 754), all big-endian, then a -1 trailer. Rows are grouped by the byte length of their sensor id, so each
    group is one fixed-width numpy record array.
    """
    for name in ("sensor_id", "ts", "value"):
        if batch.column(name).null_count:
            raise ValueError(f"batch column {name!r} has missing values; validation should have rejected them")
    ids = pc.dictionary_encode(batch.column("sensor_id").combine_chunks())
    idx = ids.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    names = [s.encode() for s in ids.dictionary.to_pylist()]
    ts = pc.cast(batch.column("ts"), pa.timestamp("us"), safe=False).combine_chunks()
    ts_us = ts.cast(pa.int64()).to_numpy(zero_copy_only=False) - _PG_EPOCH_US
    value = batch.column("value").combine_chunks().cast(pa.float64()).to_numpy(zero_copy_only=False)
    lengths = np.array([len(b) for b in names], dtype=np.int64)
    row_len = lengths[idx]
    parts = [_COPY_HEADER]
    widths = np.unique(lengths)
    for width in widths:
        rows = np.flatnonzero(row_len == width) if len(widths) > 1 else slice(None)
        prefix = np.frombuffer(
            b"".join(struct.pack(">hi", 3, int(width)) + (b if len(b) == width else b"\0" * width) for b in names),
            dtype=np.uint8,
        ).reshape(len(names), 6 + int(width))
        rec = np.dtype([("pre", np.uint8, (6 + int(width),)), ("tlen", ">i4"), ("ts", ">i8"), ("vlen", ">i4"),
                        ("val", ">f8")])
        out = np.empty(len(idx) if isinstance(rows, slice) else len(rows), dtype=rec)
        out["pre"] = prefix[idx[rows]]
        out["tlen"], out["vlen"] = 8, 8
        out["ts"], out["val"] = ts_us[rows], value[rows]
        parts.append(out.tobytes())
    parts.append(_COPY_TRAILER)
    return b"".join(parts)


def _months(ts: pa.ChunkedArray | pa.Array) -> list[date]:
    """The first day of each calendar month that ``ts`` touches."""
    firsts = pc.unique(pc.floor_temporal(pc.cast(ts, pa.timestamp("us"), safe=False), unit="month"))
    return sorted(d.date() for d in firsts.to_pylist() if d is not None)


def _partition_name(month: date) -> str:
    return f"readings_y{month.year:04d}m{month.month:02d}"


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


class PostgresStore(SqlStore):
    """Suvar's store on a PostgreSQL 15+ database named by a ``postgresql://`` URL."""

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        self.path = url  # what the CLI prints and what SUVAR_DB names, as with a DuckDB file
        self.read_only = read_only
        self._pool = _Pool(url, POOL_SIZE, read_only)
        self._lock = _StoreLock(self._pool)
        self._partitions: set[date] = set()
        if not read_only:
            self.migrate()

    # -- plumbing ---------------------------------------------------------------------------------------
    @property
    def lock(self) -> _StoreLock:
        """Hold it to make a read-then-write sequence atomic against every other user of the database."""
        return self._lock

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[_Con]:
        """One transaction (a savepoint when nested) on this thread's connection."""
        with self._pool.connection() as con, con.raw.transaction():
            yield con

    def _df(self, query: str, params: list | tuple = ()) -> pd.DataFrame:
        with self._pool.connection() as con:
            return _frame(con.execute(query, list(params)))

    def _one(self, query: str, params: list | tuple = ()) -> tuple | None:
        with self._pool.connection() as con:
            rows = con.execute(query, list(params)).fetchall()
            return rows[0] if rows else None

    def backup(self, path: str | Path) -> None:
        """A consistent copy of the whole store in a new DuckDB file at ``path`` (which must not exist), read
        from one snapshot; ``suvar restore`` and :class:`DuckStore` open it like any DuckDB store."""
        from suvar.store.duck import DuckStore

        path = Path(path)
        if path.exists():
            raise FileExistsError(f"{path}: already exists; a backup never overwrites")
        target = DuckStore(path)
        try:
            tables = [r[0] for r in target._con.execute(  # noqa: SLF001 - the store fills its own copy
                "SELECT table_name FROM information_schema.tables WHERE table_name <> 'schema_version' "
                "ORDER BY table_name").fetchall()]
            with self._pool.connection() as con, con.raw.transaction():
                con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                with target._tx() as duck:  # noqa: SLF001
                    for table in tables:
                        cur = con.raw.cursor(name=f"suvar_backup_{table}")
                        cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
                        while rows := cur.fetchmany(200_000):
                            duck.register("_rows", _frame(cur, rows))
                            duck.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM _rows')
                            duck.unregister("_rows")
                        cur.close()
        except BaseException:
            target.close()
            path.unlink(missing_ok=True)
            raise
        target.close()

    def holds_data(self) -> bool:
        """Whether any table but ``schema_version`` has a row."""
        with self._pool.connection() as con:
            for table in self._tables(con):
                if con.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table))).fetchone()[0]:
                    return True
        return False

    def restore(self, path: str | Path, *, force: bool = False) -> None:
        """Replace the database's contents with a DuckDB backup (``backup`` or a DuckDB store file), in one
        transaction; refuses a database that holds data unless ``force``. The backup is opened read-only; an
        older one's missing columns take their defaults."""
        import duckdb

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such backup file")
        if not force and self.holds_data():
            raise FileExistsError(f"{self.path} holds data; use --force to replace it")
        src = duckdb.connect(str(path), read_only=True)
        try:
            months = src.sql("SELECT DISTINCT date_trunc('month', ts)::TIMESTAMP AS ts FROM readings")
            months = months.to_arrow_table()
            self.ensure_partitions(months.column("ts"))  # in their own transaction, before the long one
            with self._tx() as con:
                tables = self._tables(con)
                con.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(map(sql.Identifier, tables))))
                backed_up = {r[0] for r in src.execute("SELECT table_name FROM information_schema.tables").fetchall()}
                for table in [t for t in tables if t in backed_up]:
                    reader = src.sql(f'SELECT * FROM "{table}"').to_arrow_reader(200_000)
                    for chunk in reader:
                        part = pa.Table.from_batches([chunk])
                        if table == "readings":
                            with con.raw.cursor().copy("COPY readings (sensor_id, ts, value) FROM STDIN "
                                                       "(FORMAT binary)") as copy:
                                copy.write(encode_binary_copy(part.select(["sensor_id", "ts", "value"])))
                        else:
                            _copy_rows(con, table, part.to_pandas())
                for seq, table, column in (("ingest_batch_id_seq", "ingest_batches", "batch_id"),
                                           ("alarm_id_seq", "alarms", "alarm_id")):
                    con.execute(sql.SQL("SELECT setval({}, coalesce((SELECT max({}) FROM {}), 0) + 1, false)").format(
                        sql.Literal(seq), sql.Identifier(column), sql.Identifier(table)))
        finally:
            src.close()

    @staticmethod
    def _tables(con: _Con) -> list[str]:
        """The store's tables (partitions and ``schema_version`` excepted)."""
        return [r[0] for r in con.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace "
            "AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> 'schema_version' "
            "ORDER BY c.relname").fetchall()]

    # -- schema -----------------------------------------------------------------------------------------
    def schema_version(self) -> int:
        exists = self._one("SELECT to_regclass('schema_version') IS NOT NULL")
        if not exists or not exists[0]:
            return 0
        row = self._one("SELECT max(version) FROM schema_version")
        return int(row[0] or 0) if row else 0

    def migrate(self) -> list[int]:
        """Apply the migrations this database lacks, oldest first, under an advisory lock; returns the versions
        applied."""
        with self._pool.connection() as con:
            con.execute("SELECT pg_advisory_lock(?, ?)", [_LOCK_CLASS, _LOCK_MIGRATE])
            try:
                con.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                            "version INTEGER PRIMARY KEY, description TEXT, applied_at TIMESTAMP)")
                current = self.schema_version()
                if current > LATEST_VERSION:
                    raise RuntimeError(f"{self.path}: schema version {current} is newer than this Suvar "
                                       f"({LATEST_VERSION})")
                applied = []
                for version, description, statements in MIGRATIONS:
                    if version <= current:
                        continue
                    with self._tx() as tx:
                        for stmt in [*map(_pg_ddl, statements), *PG_EXTRAS.get(version, [])]:
                            tx.execute(stmt)
                        tx.execute("INSERT INTO schema_version VALUES (?, ?, now() AT TIME ZONE 'UTC')",
                                   [version, description])
                    applied.append(version)
                return applied
            finally:
                con.execute("SELECT pg_advisory_unlock(?, ?)", [_LOCK_CLASS, _LOCK_MIGRATE])

    # -- registry ---------------------------------------------------------------------------------------
    def replace_network(
        self, utility_id: str, nodes: pd.DataFrame, links: pd.DataFrame, patterns: pd.DataFrame
    ) -> None:
        """Replace a utility's nodes, links and patterns in one transaction."""
        with self._tx() as con:
            for table, frame in (("nodes", nodes), ("links", links), ("patterns", patterns)):
                con.execute(sql.SQL("DELETE FROM {} WHERE utility_id = %s").format(sql.Identifier(table)),
                            [utility_id])
                if len(frame):
                    _copy_rows(con, table, frame.assign(utility_id=utility_id))

    def set_zones(
        self, utility_id: str, node_zone: pd.DataFrame, boundary: pd.DataFrame | None = None
    ) -> None:
        """Assign nodes to zones (``node_id, zone_id``); links inside one zone take that zone."""
        zones = sorted(node_zone["zone_id"].dropna().unique().tolist())
        nz = node_zone[["node_id", "zone_id"]]
        with self._tx() as con:
            con.execute("DELETE FROM zones WHERE utility_id = ?", [utility_id])
            con.execute("DELETE FROM zone_boundary_links WHERE utility_id = ?", [utility_id])
            con.execute("INSERT INTO zones SELECT ?, z, z FROM unnest(?::TEXT[]) AS z", [utility_id, zones])
            con.execute("UPDATE nodes SET zone_id = NULL WHERE utility_id = ?", [utility_id])
            con.execute(
                "UPDATE nodes SET zone_id = v.zone_id FROM unnest(?::TEXT[], ?::TEXT[]) AS v(node_id, zone_id) "
                "WHERE nodes.utility_id = ? AND nodes.node_id = v.node_id",
                [_texts(nz["node_id"]), _texts(nz["zone_id"]), utility_id],
            )
            con.execute(
                """UPDATE links SET zone_id = (
                     SELECT a.zone_id FROM nodes a JOIN nodes b ON a.utility_id = b.utility_id
                     WHERE a.utility_id = links.utility_id AND a.node_id = links.start_node
                       AND b.node_id = links.end_node AND a.zone_id = b.zone_id)
                   WHERE utility_id = ?""",
                [utility_id],
            )
            if boundary is not None and len(boundary):
                con.execute(
                    "INSERT INTO zone_boundary_links SELECT ?, z, l, r FROM unnest(?::TEXT[], ?::TEXT[], ?::TEXT[]) "
                    "AS v(z, l, r)",
                    [utility_id, _texts(boundary["zone_id"]), _texts(boundary["link_id"]), _texts(boundary["role"])],
                )

    def _replace_rows(self, table: str, frame: pd.DataFrame, key: list[str]) -> int:
        """Insert rows, replacing any with the same key (``table`` and ``key`` are code constants)."""
        if not len(frame):
            return 0
        stage = f"_rows_{table}"
        with self._tx() as con:
            con.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP").format(
                sql.Identifier(stage), sql.Identifier(table)))
            _copy_rows(con, stage, frame)
            cond = sql.SQL(" AND ").join(
                sql.SQL("t.{k} = s.{k}").format(k=sql.Identifier(k)) for k in key)
            con.execute(sql.SQL("DELETE FROM {} t USING {} s WHERE {}").format(
                sql.Identifier(table), sql.Identifier(stage), cond))
            cols = sql.SQL(", ").join(map(sql.Identifier, frame.columns))
            con.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
                sql.Identifier(table), cols, cols, sql.Identifier(stage)))
        return len(frame)

    def billing(self, utility_id: str, start: str | datetime, end: str | datetime) -> pd.DataFrame:
        """Billing records whose period overlaps ``[start, end)``."""
        return self._df(
            "SELECT * FROM billing WHERE utility_id = ? AND period_end >= ?::DATE AND period_start < ?::DATE "
            "ORDER BY utility_id, connection_id, period_start, period_end, volume_m3, metered, billed, amount",
            [utility_id, start, end],
        )

    # -- tokens, users, sessions ------------------------------------------------------------------------
    def add_token(self, token_hash: str, name: str, scopes: str, expires_at: datetime | None,
                  scope: str = "country", device_id: str | None = None) -> None:
        with self._tx() as con:
            con.execute(
                "INSERT INTO api_tokens (token_hash, name, scopes, created_at, expires_at, scope, device_id) "
                "VALUES (?, ?, ?, now() AT TIME ZONE 'UTC', ?::TIMESTAMP, ?, ?)",
                [token_hash, name, scopes, expires_at, scope, device_id],
            )

    def add_user(self, user: dict) -> None:
        """Insert a user (keys as the ``users`` columns, ``created_at`` set here); a taken name is an error."""
        cols = ["username", "password_hash", "role", "scope", "locale", "totp_secret", "disabled"]
        with self._tx() as con:
            cur = con.execute(f"INSERT INTO users ({', '.join(cols)}, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, "
                              "now() AT TIME ZONE 'UTC') ON CONFLICT (username) DO NOTHING",
                              [user.get(c) for c in cols[:-1]] + [bool(user.get("disabled"))])
            if cur.rowcount == 0:
                raise ValueError(f"user {user['username']!r} already exists")

    def user(self, username: str) -> dict | None:
        with self._pool.connection() as con:
            cur = con.execute("SELECT * FROM users WHERE username = ?", [username])
            rows = cur.fetchall()
            names = [d.name for d in cur.description]
        return dict(zip(names, rows[0], strict=True)) if rows else None

    def update_user(self, username: str, **fields: object) -> bool:
        """Set some of password_hash, role, scope, locale, totp_secret, totp_last_step, disabled; False when no
        such user."""
        allowed = {"password_hash", "role", "scope", "locale", "totp_secret", "totp_last_step", "disabled"}
        bad = set(fields) - allowed
        if bad or not fields:
            raise ValueError(f"cannot update {sorted(bad) or 'nothing'}")
        sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in fields)
        with self._tx() as con:
            cur = con.execute(sql.SQL("UPDATE users SET {} WHERE username = %s").format(sets),
                              [*fields.values(), username])
            return cur.rowcount > 0

    def claim_totp_step(self, username: str, step: int) -> bool:
        """Record ``step`` as the user's last accepted TOTP step unless it is not newer than the last one
        (RFC 6238 section 5.2: a code is accepted once); True when claimed. One conditional UPDATE, so two
        processes never both accept the same code."""
        with self._tx() as con:
            cur = con.execute("UPDATE users SET totp_last_step = ? WHERE username = ? "
                              "AND (totp_last_step IS NULL OR totp_last_step < ?)", [int(step), username, int(step)])
            return cur.rowcount > 0

    def add_session(self, session_hash: str, username: str, expires_at: datetime, client: str | None) -> None:
        """Store a new session and drop every expired one (times are naive UTC, from this process's clock like
        ``expires_at``)."""
        now = datetime.now(UTC).replace(tzinfo=None)
        with self._tx() as con:
            con.execute("DELETE FROM sessions WHERE expires_at < ?::TIMESTAMP", [now])
            con.execute("INSERT INTO sessions VALUES (?, ?, ?::TIMESTAMP, ?::TIMESTAMP, ?)",
                        [session_hash, username, now, expires_at, client])

    def delete_sessions(self, *, session_hash: str | None = None, username: str | None = None) -> int:
        """End one session, or every session of a user; returns how many ended."""
        if (session_hash is None) == (username is None):
            raise ValueError("give exactly one of session_hash and username")
        column, value = ("session_hash", session_hash) if session_hash is not None else ("username", username)
        with self._tx() as con:
            return con.execute(sql.SQL("DELETE FROM sessions WHERE {} = %s").format(sql.Identifier(column)),
                               [value]).rowcount

    def utility_basins(self) -> dict[str, str | None]:
        """utility id -> the basin it belongs to (for ``basin:<name>`` scopes)."""
        with self._pool.connection() as con:
            return dict(con.execute("SELECT utility_id, basin FROM utilities").fetchall())

    def sensor_owners(self) -> dict[str, tuple[str, str | None]]:
        """sensor id -> (utility id, device id or None), for scope and device checks."""
        with self._pool.connection() as con:
            rows = con.execute("SELECT sensor_id, utility_id, device_id FROM sensors").fetchall()
        return {s: (u, d) for s, u, d in rows}

    def set_sensor_device(self, sensor_ids: list[str], device_id: str | None) -> int:
        """Bind sensors to the field device that reports them (None unbinds); returns how many were found."""
        with self._tx() as con:
            return con.execute("UPDATE sensors SET device_id = ? WHERE sensor_id = ANY(?::TEXT[])",
                               [device_id, [str(s) for s in sensor_ids]]).rowcount

    # -- alarms ---------------------------------------------------------------------------------------
    def raise_alarm(self, alarm: dict) -> int:
        """Insert an alarm, or refresh the one with the same ``dedup_key`` (whatever its status); returns its id.
        One statement, so two processes raising the same condition at once still keep one alarm."""
        with self._tx() as con:
            return int(con.one(
                """INSERT INTO alarms (alarm_id, dedup_key, kind, severity, scope, zone_id, start_ts, raised_at, title,
                                       detail, status)
                   VALUES (nextval('alarm_id_seq'), ?, ?, ?, ?, ?, ?::TIMESTAMP, now() AT TIME ZONE 'UTC', ?, ?, 'open')
                   ON CONFLICT (dedup_key) DO UPDATE
                     SET severity = excluded.severity, title = excluded.title, detail = excluded.detail
                   RETURNING alarm_id""",
                [alarm["dedup_key"], alarm["kind"], alarm["severity"], alarm["scope"], alarm.get("zone_id"),
                 alarm.get("start_ts"), alarm["title"], alarm.get("detail")],
            )[0])

    def set_alarm_status(self, alarm_id: int, status: str, who: str) -> bool:
        """Acknowledge or close an alarm; False when there is no such alarm."""
        if status not in ("acknowledged", "closed"):
            raise ValueError(f"status must be acknowledged or closed, not {status!r}")
        column = "acknowledged_at" if status == "acknowledged" else "closed_at"
        with self._tx() as con:
            cur = con.execute(
                f"UPDATE alarms SET status = ?, {column} = now() AT TIME ZONE 'UTC', "
                "acknowledged_by = coalesce(acknowledged_by, ?) WHERE alarm_id = ?",
                [status, who, int(alarm_id)],
            )
            return cur.rowcount > 0

    # -- ledgers --------------------------------------------------------------------------------------
    def ledger_append(self, ledger: str, entry_json: str) -> None:
        """Append one entry (canonical JSON text) at the end of ``ledger``; rows are never updated. The position
        is taken under a transaction-scoped advisory lock per ledger, so concurrent appends never collide."""
        with self._tx() as con:
            con.execute("SELECT pg_advisory_xact_lock(?, hashtext(?))", [_LOCK_LEDGER, ledger])
            con.execute(
                "INSERT INTO ledger_entries SELECT ?, coalesce(max(position), -1) + 1, ? FROM ledger_entries "
                "WHERE ledger = ?",
                [ledger, entry_json, ledger],
            )

    def ledger_entries(self, ledger: str) -> list[str]:
        """The entries of ``ledger`` (JSON text) in stored order."""
        with self._pool.connection() as con:
            rows = con.execute("SELECT entry FROM ledger_entries WHERE ledger = ? ORDER BY position",
                               [ledger]).fetchall()
        return [r[0] for r in rows]

    # -- telemetry --------------------------------------------------------------------------------------
    def ensure_partitions(self, ts: pa.ChunkedArray | pa.Array) -> list[str]:
        """Create the monthly ``readings`` partitions that timestamps ``ts`` need; returns the names created.

        Runs in its own short transaction under an advisory lock (creating a partition locks the parent table,
        so it never happens inside a batch's transaction)."""
        missing = [m for m in _months(ts) if m not in self._partitions]
        if not missing:
            return []
        created = []
        with self._tx() as con:
            con.execute("SELECT pg_advisory_xact_lock(?, ?)", [_LOCK_CLASS, _LOCK_PARTITIONS])
            for month in missing:
                name = _partition_name(month)
                if not con.one("SELECT to_regclass(?) IS NOT NULL", [name])[0]:
                    con.execute(sql.SQL("CREATE TABLE {} PARTITION OF readings FOR VALUES FROM ({}) TO ({})").format(
                        sql.Identifier(name), sql.Literal(datetime(month.year, month.month, 1)),
                        sql.Literal(datetime.combine(_next_month(month), datetime.min.time()))))
                    created.append(name)
        self._partitions.update(missing)
        return created

    def partitions(self) -> list[str]:
        """The names of ``readings``' partitions, oldest first."""
        with self._pool.connection() as con:
            rows = con.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                               "WHERE i.inhparent = 'readings'::regclass ORDER BY c.relname").fetchall()
        return [r[0] for r in rows]

    def write_batch(
        self,
        source: str,
        accepted: pa.Table,
        quarantined: pd.DataFrame,
        *,
        unique_keys: bool = False,
    ) -> IngestCounts:
        """Store one validated batch atomically and report what happened to each reading.

        Same contract as :meth:`DuckStore.write_batch`: ``accepted`` has ``sensor_id``, ``ts`` (UTC, naive) and
        ``value`` (canonical unit); a (sensor, timestamp) seen before with the same value (within
        ``SAME_VALUE_RTOL``) is a duplicate, with another value a conflict (stored value kept, incoming one in
        ``reading_conflicts``); within one batch the first row wins. Safe with any number of writing processes.
        """
        base = IngestCounts()
        if len(quarantined):
            base.quarantined = quarantined["reason"].value_counts().sort_index().to_dict()
        batch = accepted.select(["sensor_id", "ts", "value"])
        inner = pd.DataFrame(columns=["sensor_id", "ts", "stored", "incoming"])
        if batch.num_rows and not unique_keys:
            batch, inner = _first_wins(batch)
            same = _same(inner["incoming"].to_numpy(), inner["stored"].to_numpy())
            base.duplicates, base.conflicts = int(same.sum()), int((~same).sum())
            inner = inner[~same]
        payload = None
        if batch.num_rows:
            self.ensure_partitions(batch.column("ts"))
            payload = encode_binary_copy(batch)
            tmin, tmax = (v.as_py() for v in pc.min_max(batch.column("ts")).values())
        for attempt in range(DEADLOCK_RETRIES + 1):
            counts = IngestCounts(duplicates=base.duplicates, conflicts=base.conflicts,
                                  quarantined=dict(base.quarantined))
            try:
                with self._tx() as con:
                    counts.batch_id = batch_id = int(con.one("SELECT nextval('ingest_batch_id_seq')")[0])
                    if len(inner):
                        _copy_rows(con, "reading_conflicts", inner.assign(source=source, batch_id=batch_id).rename(
                            columns={"stored": "stored_value", "incoming": "incoming_value"}))
                    if payload is not None:
                        inserted, conflicts = self._move_batch(con, payload, batch.num_rows, tmin, tmax, source,
                                                               batch_id)
                        counts.accepted = inserted
                        counts.conflicts += conflicts
                        counts.duplicates += batch.num_rows - inserted - conflicts
                    if len(quarantined):
                        q = quarantined.reindex(columns=["position", "reason", "detail", "sensor_id", "raw"])
                        _copy_rows(con, "quarantine", q.assign(batch_id=batch_id, source=source))
                    con.execute(
                        "INSERT INTO ingest_batches VALUES (?, ?, now() AT TIME ZONE 'UTC', ?, ?, ?, ?)",
                        [batch_id, source, counts.accepted, counts.duplicates, counts.conflicts,
                         sum(counts.quarantined.values())],
                    )
                return counts
            except psycopg.errors.DeadlockDetected:
                if attempt == DEADLOCK_RETRIES:
                    raise
                time.sleep(0.05 * (attempt + 1))
            except psycopg.errors.CheckViolation:  # "no partition for row": one was dropped since it was cached
                if attempt == DEADLOCK_RETRIES or payload is None:
                    raise
                self._partitions.clear()
                self.ensure_partitions(batch.column("ts"))
        raise AssertionError("unreachable")

    @staticmethod
    def _move_batch(con: _Con, payload: bytes, n: int, tmin: datetime, tmax: datetime, source: str,
                    batch_id: int) -> tuple[int, int]:
        """COPY the batch into staging, insert what is new; returns (inserted, conflicts recorded)."""
        con.execute('CREATE TEMP TABLE IF NOT EXISTS suvar_stage (sensor_id TEXT COLLATE "C", ts TIMESTAMP, '
                    "value DOUBLE PRECISION) ON COMMIT DELETE ROWS")
        with con.raw.cursor().copy("COPY suvar_stage (sensor_id, ts, value) FROM STDIN (FORMAT binary)") as copy:
            copy.write(payload)
        # In key order: index pages are visited in turn, and concurrent writers take row locks in one order.
        inserted = con.execute("INSERT INTO readings (sensor_id, ts, value) SELECT sensor_id, ts, value "
                               "FROM suvar_stage ORDER BY sensor_id, ts ON CONFLICT DO NOTHING").rowcount
        if inserted == n:
            return inserted, 0
        # Every staged row that did not insert met a stored row with its key. Rows this batch inserted carry the
        # incoming value itself, so only other writers' (earlier or concurrent, committed) rows can differ.
        conflicts = con.execute(
            f"""INSERT INTO reading_conflicts
                SELECT s.sensor_id, s.ts, r.value, s.value, ?, ?
                FROM suvar_stage s JOIN readings r ON r.sensor_id = s.sensor_id AND r.ts = s.ts
                WHERE r.ts BETWEEN ? AND ?
                  AND abs(s.value - r.value) > {SAME_VALUE_RTOL!r} * greatest(1.0, abs(r.value))""",
            [source, batch_id, tmin, tmax],
        ).rowcount
        return inserted, conflicts

    def quarantine(
        self, *, reason: str | None = None, source: str | None = None, limit: int = 100,
        sensor_ids: list[str] | None = None,
    ) -> pd.DataFrame:
        """Quarantined rows, newest batch first; ``sensor_ids`` keeps only the rows naming one of them."""
        ids = None if sensor_ids is None else [str(s) for s in sensor_ids]
        return self._df(
            """SELECT q.batch_id, b.received_at, q.source, q.position, q.reason, q.detail, q.sensor_id, q.raw
               FROM quarantine q JOIN ingest_batches b USING (batch_id)
               WHERE (?::TEXT IS NULL OR q.reason = ?) AND (?::TEXT IS NULL OR q.source = ?)
                 AND (?::TEXT[] IS NULL OR q.sensor_id = ANY(?::TEXT[]))
               ORDER BY q.batch_id DESC, q.position LIMIT ?""",
            [reason, reason, source, source, ids, ids, int(limit)],
        )

    def series(
        self,
        sensor_ids: list[str],
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        step_s: int | None = None,
        agg: str = "mean",
    ) -> pd.DataFrame:
        """Readings of some sensors, optionally resampled to ``step_s`` buckets: columns sensor_id, ts, value."""
        where = ("sensor_id = ANY(?::TEXT[]) AND (?::TIMESTAMP IS NULL OR ts >= ?::TIMESTAMP) "
                 "AND (?::TIMESTAMP IS NULL OR ts < ?::TIMESTAMP)")
        params = [[str(s) for s in sensor_ids], start, start, end, end]
        if step_s is None:
            return self._df(f"SELECT sensor_id, ts, value FROM readings WHERE {where} ORDER BY sensor_id, ts", params)
        expr = _aggregate(agg)
        return self._df(
            f"""SELECT sensor_id, date_bin(make_interval(secs => ?), ts, {BUCKET_ORIGIN}) AS ts, {expr} AS value
                FROM readings WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2""",
            [int(step_s), *params],
        )

    def zone_aggregates(
        self,
        utility_id: str,
        kind: str,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        step_s: int = 900,
        agg: str = "mean",
        *,
        zone_id: str | None = None,
    ) -> pd.DataFrame:
        """``zone_series`` for every zone of a utility in one scan: columns zone_id, ts, value, sensors."""
        expr = _aggregate(agg)
        return self._df(
            f"""SELECT s.zone_id, date_bin(make_interval(secs => ?), r.ts, {BUCKET_ORIGIN}) AS ts, {expr} AS value,
                       count(DISTINCT r.sensor_id) AS sensors
                FROM readings r JOIN sensors s USING (sensor_id)
                WHERE s.utility_id = ? AND s.kind = ? AND s.zone_id IS NOT NULL
                  AND (?::TEXT IS NULL OR s.zone_id = ?)
                  AND (?::TIMESTAMP IS NULL OR r.ts >= ?::TIMESTAMP) AND (?::TIMESTAMP IS NULL OR r.ts < ?::TIMESTAMP)
                GROUP BY 1, 2 ORDER BY 1, 2, 3, 4""",
            [int(step_s), utility_id, kind, zone_id, zone_id, start, start, end, end],
        )

    def customer_volumes(
        self, utility_id: str, start: datetime | str, end: datetime | str, step_s: int = 86400
    ) -> pd.DataFrame:
        """Customer (AMR) consumption per zone, billed flag and step, m³: columns zone_id, billed, ts,
        volume_m3, meters, readings.

        Volume meters (m³ per interval) are summed; flow meters (m³/h) count as mean flow × step hours.
        """
        return self._df(
            f"""WITH per_meter AS (
                 SELECT s.zone_id, s.billed, date_bin(make_interval(secs => ?), r.ts, {BUCKET_ORIGIN}) AS ts,
                        CASE WHEN min(s.kind) = 'volume' THEN sum(r.value)
                             ELSE avg(r.value) * ? / 3600.0 END AS volume_m3,
                        count(*) AS n
                 FROM readings r JOIN sensors s USING (sensor_id)
                 WHERE s.utility_id = ? AND s.connection_id IS NOT NULL AND s.kind IN ('volume', 'flow')
                   AND r.ts >= ?::TIMESTAMP AND r.ts < ?::TIMESTAMP
                 GROUP BY s.zone_id, s.billed, r.sensor_id, 3)
               SELECT zone_id, billed, ts, sum(volume_m3) AS volume_m3, count(*) AS meters, sum(n) AS readings
               FROM per_meter GROUP BY 1, 2, 3 ORDER BY 1, 2, 3, 4, 5, 6""",
            [int(step_s), float(step_s), utility_id, start, end],
        )


def _texts(column: pd.Series) -> list[str | None]:
    return [None if pd.isna(v) else str(v) for v in column.tolist()]


def _same(incoming: np.ndarray, stored: np.ndarray) -> np.ndarray:
    """DuckStore's "same value" test: ``|incoming - stored| <= SAME_VALUE_RTOL · max(1, |stored|)``."""
    return np.abs(incoming - stored) <= SAME_VALUE_RTOL * np.maximum(1.0, np.abs(stored))


def _first_wins(batch: pa.Table) -> tuple[pa.Table, pd.DataFrame]:
    """The batch with only the first row of each (sensor_id, ts), and the later rows of repeated keys with the
    value they meet (columns sensor_id, ts, stored, incoming)."""
    keys = batch.select(["sensor_id", "ts"]).to_pandas()
    later = keys.duplicated(keep="first").to_numpy()
    if not later.any():
        return batch, pd.DataFrame(columns=["sensor_id", "ts", "stored", "incoming"])
    frame = keys.assign(value=batch.column("value").to_numpy())
    first = frame[~later].set_index(["sensor_id", "ts"])["value"]
    rest = frame[later]
    stored = first.reindex(pd.MultiIndex.from_frame(rest[["sensor_id", "ts"]])).to_numpy()
    inner = pd.DataFrame({"sensor_id": rest["sensor_id"].to_numpy(), "ts": rest["ts"].to_numpy(),
                          "stored": stored, "incoming": rest["value"].to_numpy()})
    return batch.filter(pa.array(~later)), inner


def _aggregate(agg: str) -> str:
    try:
        return AGGREGATES[agg]
    except KeyError:
        raise ValueError(f"agg must be one of {', '.join(AGGREGATES)}, not {agg!r}") from None
