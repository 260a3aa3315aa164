"""The DuckDB store: the embedded default, one file, one writer process.

Readings live in the kind's canonical unit with UTC timestamps. Writes are serialised by one lock per store and
each ingest batch is one transaction, so a batch is either wholly committed or not at all; DuckDB's write-ahead
log makes a committed batch survive a killed process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from suvar.store.common import SqlStore
from suvar.store.migrations import LATEST_VERSION, MIGRATIONS

AGGREGATES = {
    "mean": "avg(value)",
    "min": "min(value)",
    "max": "max(value)",
    "sum": "sum(value)",
    "last": "arg_max(value, ts)",
    "first": "arg_min(value, ts)",
    "count": "count(*)",
}

#: Two readings of one sensor and instant are "the same" when they differ by at most this relative amount.
SAME_VALUE_RTOL = 1e-9


@dataclass
class IngestCounts:
    """What one ingest did. ``quarantined`` maps each rejection reason to its row count."""

    accepted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    batch_id: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
            "quarantined": dict(sorted(self.quarantined.items())),
        }

    def __iadd__(self, other: IngestCounts) -> IngestCounts:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.conflicts += other.conflicts
        for reason, n in other.quarantined.items():
            self.quarantined[reason] = self.quarantined.get(reason, 0) + n
        return self


class DuckStore(SqlStore):
    """Suvar's store on a DuckDB file (or ``:memory:``)."""

    def __init__(self, path: str | Path = "var/suvar.duckdb", *, read_only: bool = False) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(self.path, read_only=read_only)
        self._lock = threading.RLock()
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        if not read_only:
            self.migrate()

    # -- plumbing ---------------------------------------------------------------------------------------
    @property
    def lock(self) -> threading.RLock:
        """Hold it to make a read-then-write sequence atomic against the store's other users."""
        return self._lock

    def backup(self, path: str | Path) -> None:
        """A consistent copy of the whole store in a new DuckDB file at ``path`` (which must not exist)."""
        path = Path(path)
        if path.exists():
            raise FileExistsError(f"{path}: already exists; a backup never overwrites")
        with self._lock:
            name = self._con.execute("SELECT current_database()").fetchall()[0][0]
            self._con.execute("ATTACH ? AS suvar_backup", [str(path)])
            try:
                self._con.execute(f'COPY FROM DATABASE "{name}" TO suvar_backup')
            finally:
                self._con.execute("DETACH suvar_backup")

    def close(self) -> None:
        with self._lock:
            for cursor in self._cursors:
                cursor.close()
            self._con.close()

    def __enter__(self) -> DuckStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            con = self._con
            con.begin()
            try:
                yield con
            except BaseException:
                con.rollback()
                raise
            con.commit()

    def _reader(self) -> duckdb.DuckDBPyConnection:
        """This thread's own cursor for reads. Reads then run beside each other and beside the one writer
        (DuckDB's MVCC: a read sees what was committed when it began), instead of queueing behind ingest on
        the store lock, which writes still take."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            with self._lock:
                cursor = self._local.cursor = self._con.cursor()
                self._cursors.append(cursor)
        return cursor

    def _df(self, sql: str, params: list | tuple = ()) -> pd.DataFrame:
        return self._reader().execute(sql, params).df()

    def _one(self, sql: str, params: list | tuple = ()) -> tuple | None:
        rows = self._reader().execute(sql, params).fetchall()
        return rows[0] if rows else None

    # -- schema -----------------------------------------------------------------------------------------
    def schema_version(self) -> int:
        exists = self._one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
        )
        if not exists or not exists[0]:
            return 0
        row = self._one("SELECT max(version) FROM schema_version")
        return int(row[0] or 0) if row else 0

    def migrate(self) -> list[int]:
        """Apply the migrations this file lacks, oldest first; returns the versions applied."""
        with self._lock:
            self._con.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                "version INTEGER PRIMARY KEY, description TEXT, applied_at TIMESTAMP)"
            )
            current = self.schema_version()
            if current > LATEST_VERSION:
                raise RuntimeError(
                    f"{self.path}: schema version {current} is newer than this Suvar ({LATEST_VERSION})"
                )
            applied = []
            for version, description, statements in MIGRATIONS:
                if version <= current:
                    continue
                with self._tx() as con:
                    for stmt in statements:
                        con.execute(stmt)
                    con.execute(
                        "INSERT INTO schema_version VALUES (?, ?, now()::TIMESTAMP)", [version, description]
                    )
                applied.append(version)
            return applied

    # -- registry ---------------------------------------------------------------------------------------
    def replace_network(
        self, utility_id: str, nodes: pd.DataFrame, links: pd.DataFrame, patterns: pd.DataFrame
    ) -> None:
        """Replace a utility's nodes, links and patterns in one transaction."""
        with self._tx() as con:
            for table, frame in (("nodes", nodes), ("links", links), ("patterns", patterns)):
                con.execute(f"DELETE FROM {table} WHERE utility_id = ?", [utility_id])
                if len(frame):
                    con.register("_frame", frame.assign(utility_id=utility_id))
                    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _frame")
                    con.unregister("_frame")

    def set_zones(
        self, utility_id: str, node_zone: pd.DataFrame, boundary: pd.DataFrame | None = None
    ) -> None:
        """Assign nodes to zones (``node_id, zone_id``); links inside one zone take that zone."""
        zones = pd.DataFrame({"zone_id": sorted(node_zone["zone_id"].dropna().unique())})
        with self._tx() as con:
            con.execute("DELETE FROM zones WHERE utility_id = ?", [utility_id])
            con.execute("DELETE FROM zone_boundary_links WHERE utility_id = ?", [utility_id])
            con.register("_z", zones)
            con.execute("INSERT INTO zones SELECT ?, zone_id, zone_id FROM _z", [utility_id])
            con.register("_nz", node_zone[["node_id", "zone_id"]])
            con.execute("UPDATE nodes SET zone_id = NULL WHERE utility_id = ?", [utility_id])
            con.execute(
                "UPDATE nodes SET zone_id = _nz.zone_id FROM _nz "
                "WHERE nodes.utility_id = ? AND nodes.node_id = _nz.node_id",
                [utility_id],
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
                con.register("_bl", boundary[["zone_id", "link_id", "role"]])
                con.execute("INSERT INTO zone_boundary_links SELECT ?, zone_id, link_id, role FROM _bl", [utility_id])
            for name in ("_z", "_nz", "_bl"):
                con.unregister(name)

    def _replace_rows(self, table: str, frame: pd.DataFrame, key: list[str]) -> int:
        """Insert rows, replacing any with the same key."""
        if not len(frame):
            return 0
        with self._tx() as con:
            con.register("_rows", frame)
            cond = " AND ".join(f"{table}.{k} = _rows.{k}" for k in key)
            con.execute(f"DELETE FROM {table} WHERE EXISTS (SELECT 1 FROM _rows WHERE {cond})")
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")
            con.unregister("_rows")
        return len(frame)

    def billing(self, utility_id: str, start: str | datetime, end: str | datetime) -> pd.DataFrame:
        """Billing records whose period overlaps ``[start, end)``."""
        return self._df(
            "SELECT * FROM billing WHERE utility_id = ? AND period_end >= ?::DATE AND period_start < ?::DATE "
            "ORDER BY ALL",
            [utility_id, start, end],
        )

    # -- tokens, users, sessions ------------------------------------------------------------------------
    def add_token(self, token_hash: str, name: str, scopes: str, expires_at: datetime | None,
                  scope: str = "country", device_id: str | None = None) -> None:
        with self._tx() as con:
            con.execute(
                "INSERT INTO api_tokens (token_hash, name, scopes, created_at, expires_at, scope, device_id) "
                "VALUES (?, ?, ?, now()::TIMESTAMP, ?, ?, ?)", [token_hash, name, scopes, expires_at, scope, device_id]
            )

    def add_user(self, user: dict) -> None:
        """Insert a user (keys as the ``users`` columns, ``created_at`` set here); a taken name is an error."""
        cols = ["username", "password_hash", "role", "scope", "locale", "totp_secret", "disabled"]
        with self._tx() as con:
            if con.execute("SELECT count(*) FROM users WHERE username = ?", [user["username"]]).fetchall()[0][0]:
                raise ValueError(f"user {user['username']!r} already exists")
            con.execute(f"INSERT INTO users ({', '.join(cols)}, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, "
                        "now()::TIMESTAMP)", [user.get(c) for c in cols[:-1]] + [bool(user.get("disabled"))])

    def user(self, username: str) -> dict | None:
        with self._lock:
            cur = self._con.execute("SELECT * FROM users WHERE username = ?", [username])
            rows = cur.fetchall()
            names = [d[0] for d in cur.description]
        return dict(zip(names, rows[0], strict=True)) if rows else None

    def update_user(self, username: str, **fields: object) -> bool:
        """Set some of password_hash, role, scope, locale, totp_secret, totp_last_step, disabled; False when no
        such user."""
        allowed = {"password_hash", "role", "scope", "locale", "totp_secret", "totp_last_step", "disabled"}
        bad = set(fields) - allowed
        if bad or not fields:
            raise ValueError(f"cannot update {sorted(bad) or 'nothing'}")
        with self._tx() as con:
            if not con.execute("SELECT count(*) FROM users WHERE username = ?", [username]).fetchall()[0][0]:
                return False
            sets = ", ".join(f"{k} = ?" for k in fields)
            con.execute(f"UPDATE users SET {sets} WHERE username = ?", [*fields.values(), username])
        return True

    def claim_totp_step(self, username: str, step: int) -> bool:
        """Record ``step`` as the user's last accepted TOTP step unless it is not newer than the last one
        (RFC 6238 section 5.2: a code is accepted once); True when claimed."""
        with self._tx() as con:
            rows = con.execute("SELECT totp_last_step FROM users WHERE username = ?", [username]).fetchall()
            if not rows or (rows[0][0] is not None and rows[0][0] >= step):
                return False
            con.execute("UPDATE users SET totp_last_step = ? WHERE username = ?", [step, username])
        return True

    def add_session(self, session_hash: str, username: str, expires_at: datetime, client: str | None) -> None:
        """Store a new session and drop every expired one (times are naive UTC)."""
        now = datetime.now(UTC).replace(tzinfo=None)
        with self._tx() as con:
            con.execute("DELETE FROM sessions WHERE expires_at < ?", [now])
            con.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                        [session_hash, username, now, expires_at, client])

    def delete_sessions(self, *, session_hash: str | None = None, username: str | None = None) -> int:
        """End one session, or every session of a user; returns how many ended."""
        if (session_hash is None) == (username is None):
            raise ValueError("give exactly one of session_hash and username")
        column, value = ("session_hash", session_hash) if session_hash is not None else ("username", username)
        with self._tx() as con:
            n = con.execute(f"SELECT count(*) FROM sessions WHERE {column} = ?", [value]).fetchall()[0][0]
            con.execute(f"DELETE FROM sessions WHERE {column} = ?", [value])
        return int(n)

    def utility_basins(self) -> dict[str, str | None]:
        """utility id -> the basin it belongs to (for ``basin:<name>`` scopes)."""
        with self._lock:
            rows = self._con.execute("SELECT utility_id, basin FROM utilities").fetchall()
        return dict(rows)

    def sensor_owners(self) -> dict[str, tuple[str, str | None]]:
        """sensor id -> (utility id, device id or None), for scope and device checks."""
        with self._lock:
            rows = self._con.execute("SELECT sensor_id, utility_id, device_id FROM sensors").fetchall()
        return {s: (u, d) for s, u, d in rows}

    def set_sensor_device(self, sensor_ids: list[str], device_id: str | None) -> int:
        """Bind sensors to the field device that reports them (None unbinds); returns how many were found."""
        with self._tx() as con:
            n = con.execute("SELECT count(*) FROM sensors WHERE sensor_id IN (SELECT unnest(?::VARCHAR[]))",
                            [list(sensor_ids)]).fetchall()[0][0]
            con.execute("UPDATE sensors SET device_id = ? WHERE sensor_id IN (SELECT unnest(?::VARCHAR[]))",
                        [device_id, list(sensor_ids)])
        return int(n)

    # -- alarms ---------------------------------------------------------------------------------------
    def raise_alarm(self, alarm: dict) -> int:
        """Insert an alarm, or refresh the one with the same ``dedup_key`` (whatever its status); returns its id."""
        with self._tx() as con:
            rows = con.execute("SELECT alarm_id FROM alarms WHERE dedup_key = ?", [alarm["dedup_key"]]).fetchall()
            if rows:
                con.execute("UPDATE alarms SET severity = ?, title = ?, detail = ? WHERE alarm_id = ?",
                            [alarm["severity"], alarm["title"], alarm.get("detail"), rows[0][0]])
                return int(rows[0][0])
            alarm_id = int(con.execute("SELECT coalesce(max(alarm_id), 0) + 1 FROM alarms").fetchall()[0][0])
            con.execute(
                """INSERT INTO alarms (alarm_id, dedup_key, kind, severity, scope, zone_id, start_ts, raised_at, title,
                                       detail, status) VALUES (?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP, ?, ?, 'open')""",
                [alarm_id, alarm["dedup_key"], alarm["kind"], alarm["severity"], alarm["scope"], alarm.get("zone_id"),
                 alarm.get("start_ts"), alarm["title"], alarm.get("detail")],
            )
            return alarm_id

    def set_alarm_status(self, alarm_id: int, status: str, who: str) -> bool:
        """Acknowledge or close an alarm; False when there is no such alarm."""
        if status not in ("acknowledged", "closed"):
            raise ValueError(f"status must be acknowledged or closed, not {status!r}")
        column = "acknowledged_at" if status == "acknowledged" else "closed_at"
        with self._tx() as con:
            found = con.execute("SELECT count(*) FROM alarms WHERE alarm_id = ?", [alarm_id]).fetchall()[0][0]
            if not found:
                return False
            con.execute(
                f"UPDATE alarms SET status = ?, {column} = now()::TIMESTAMP, "
                "acknowledged_by = coalesce(acknowledged_by, ?) WHERE alarm_id = ?",
                [status, who, alarm_id],
            )
        return True

    # -- ledgers --------------------------------------------------------------------------------------
    def ledger_append(self, ledger: str, entry_json: str) -> None:
        """Append one entry (canonical JSON text) at the end of ``ledger``; rows are never updated."""
        with self._tx() as con:
            position = con.execute("SELECT coalesce(max(position), -1) + 1 FROM ledger_entries WHERE ledger = ?",
                                   [ledger]).fetchall()[0][0]
            con.execute("INSERT INTO ledger_entries VALUES (?, ?, ?)", [ledger, position, entry_json])

    def ledger_entries(self, ledger: str) -> list[str]:
        """The entries of ``ledger`` (JSON text) in stored order."""
        with self._lock:
            rows = self._con.execute("SELECT entry FROM ledger_entries WHERE ledger = ? ORDER BY position",
                                     [ledger]).fetchall()
        return [r[0] for r in rows]

    # -- telemetry --------------------------------------------------------------------------------------
    def write_batch(
        self,
        source: str,
        accepted: pa.Table,
        quarantined: pd.DataFrame,
        *,
        unique_keys: bool = False,
    ) -> IngestCounts:
        """Store one validated batch atomically and report what happened to each reading.

        ``accepted`` has columns ``sensor_id`` (string), ``ts`` (timestamp, UTC, naive) and ``value`` (canonical
        unit). Policy for a (sensor, timestamp) seen before: the same value (within ``SAME_VALUE_RTOL``) is a
        duplicate and changes nothing; a different value is a *conflict*: the stored value is kept (first write
        wins) and the incoming one is recorded in ``reading_conflicts`` for review. Within one batch the first
        row wins in the same way. ``unique_keys=True`` promises the batch has no repeated key (the caller
        checked), which skips the in-batch grouping.
        """
        counts = IngestCounts()
        if len(quarantined):
            counts.quarantined = quarantined["reason"].value_counts().sort_index().to_dict()
        same = f"abs(incoming - stored) <= {SAME_VALUE_RTOL} * greatest(1.0, abs(stored))"
        with self._tx() as con:
            batch_id = int(con.execute("SELECT coalesce(max(batch_id), 0) + 1 FROM ingest_batches").fetchall()[0][0])
            counts.batch_id = batch_id
            n_in = accepted.num_rows
            if n_in:
                con.register("_in", accepted)
                if unique_keys:
                    con.execute("CREATE OR REPLACE TEMP VIEW _b AS SELECT sensor_id, ts, value FROM _in")
                else:
                    con.execute(
                        "CREATE OR REPLACE TEMP TABLE _g AS SELECT sensor_id, ts, "
                        "arg_min(value, _ord) AS value, count(*) AS n FROM "
                        "(SELECT *, row_number() OVER () AS _ord FROM _in) GROUP BY sensor_id, ts"
                    )
                    con.execute("CREATE OR REPLACE TEMP VIEW _b AS SELECT sensor_id, ts, value FROM _g")
                    repeated = con.execute(
                        f"""SELECT count(*) FILTER (WHERE {same}), count(*) FILTER (WHERE NOT {same}) FROM (
                              SELECT i.value AS incoming, g.value AS stored
                              FROM (SELECT * FROM _g WHERE n > 1) g JOIN _in i USING (sensor_id, ts))"""
                    ).fetchall()[0]
                    # Every member of a repeated group joined, including its first row (which matches itself).
                    n_groups = con.execute("SELECT count(*) FROM _g WHERE n > 1").fetchall()[0][0]
                    counts.duplicates += int(repeated[0]) - int(n_groups)
                    counts.conflicts += int(repeated[1])
                    con.execute(
                        f"""INSERT INTO reading_conflicts
                            SELECT sensor_id, ts, stored, incoming, ?, ? FROM (
                              SELECT i.sensor_id, i.ts, i.value AS incoming, g.value AS stored
                              FROM (SELECT * FROM _g WHERE n > 1) g JOIN _in i USING (sensor_id, ts))
                            WHERE NOT {same}""",
                        [source, batch_id],
                    )
                tmin, tmax = con.execute("SELECT min(ts), max(ts) FROM _b").fetchall()[0]
                con.execute(
                    """CREATE OR REPLACE TEMP TABLE _hit AS
                       SELECT b.sensor_id, b.ts, b.value AS incoming, r.value AS stored
                       FROM _b b JOIN (SELECT * FROM readings WHERE ts BETWEEN ? AND ?) r
                         ON r.sensor_id = b.sensor_id AND r.ts = b.ts""",
                    [tmin, tmax],
                )
                dup, conf = con.execute(
                    f"SELECT count(*) FILTER (WHERE {same}), count(*) FILTER (WHERE NOT {same}) FROM _hit"
                ).fetchall()[0]
                counts.duplicates += int(dup)
                counts.conflicts += int(conf)
                if conf:
                    con.execute(
                        f"INSERT INTO reading_conflicts SELECT sensor_id, ts, stored, incoming, ?, ? "
                        f"FROM _hit WHERE NOT {same}",
                        [source, batch_id],
                    )
                if dup or conf:
                    con.execute(
                        "INSERT INTO readings SELECT sensor_id, ts, value FROM _b ANTI JOIN _hit USING (sensor_id, ts)"
                    )
                else:
                    con.execute("INSERT INTO readings SELECT sensor_id, ts, value FROM _b")
                counts.accepted = int(
                    con.execute("SELECT count(*) FROM _b").fetchall()[0][0] - dup - conf
                )
                con.execute("DROP VIEW _b")
                con.unregister("_in")
            if len(quarantined):
                q = quarantined.reindex(columns=["position", "reason", "detail", "sensor_id", "raw"])
                con.register("_q", q)
                con.execute(
                    "INSERT INTO quarantine SELECT ?, ?, position, reason, detail, sensor_id, raw FROM _q",
                    [batch_id, source],
                )
                con.unregister("_q")
            con.execute(
                "INSERT INTO ingest_batches VALUES (?, ?, now()::TIMESTAMP, ?, ?, ?, ?)",
                [batch_id, source, counts.accepted, counts.duplicates, counts.conflicts,
                 sum(counts.quarantined.values())],
            )
        return counts

    def quarantine(
        self, *, reason: str | None = None, source: str | None = None, limit: int = 100,
        sensor_ids: list[str] | None = None,
    ) -> pd.DataFrame:
        """Quarantined rows, newest batch first; ``sensor_ids`` keeps only the rows naming one of them."""
        return self._df(
            """SELECT q.batch_id, b.received_at, q.source, q.position, q.reason, q.detail, q.sensor_id, q.raw
               FROM quarantine q JOIN ingest_batches b USING (batch_id)
               WHERE (? IS NULL OR q.reason = ?) AND (? IS NULL OR q.source = ?)
                 AND (?::VARCHAR[] IS NULL OR q.sensor_id IN (SELECT unnest(?::VARCHAR[])))
               ORDER BY q.batch_id DESC, q.position LIMIT ?""",
            [reason, reason, source, source, sensor_ids, sensor_ids, int(limit)],
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
        where = "sensor_id IN (SELECT unnest(?::TEXT[])) AND (? IS NULL OR ts >= ?) AND (? IS NULL OR ts < ?)"
        params = [list(sensor_ids), start, start, end, end]
        if step_s is None:
            return self._df(f"SELECT sensor_id, ts, value FROM readings WHERE {where} ORDER BY sensor_id, ts", params)
        expr = _aggregate(agg)
        return self._df(
            f"""SELECT sensor_id, time_bucket(to_seconds(?::BIGINT), ts) AS ts, {expr} AS value
                FROM readings WHERE {where} GROUP BY ALL ORDER BY sensor_id, ts""",
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
            f"""SELECT s.zone_id, time_bucket(to_seconds(?::BIGINT), r.ts) AS ts, {expr} AS value,
                       count(DISTINCT r.sensor_id) AS sensors
                FROM readings r JOIN sensors s USING (sensor_id)
                WHERE s.utility_id = ? AND s.kind = ? AND s.zone_id IS NOT NULL AND (? IS NULL OR s.zone_id = ?)
                  AND (? IS NULL OR r.ts >= ?) AND (? IS NULL OR r.ts < ?)
                GROUP BY ALL ORDER BY ALL""",
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
            """WITH per_meter AS (
                 SELECT s.zone_id, s.billed, time_bucket(to_seconds(?::BIGINT), r.ts) AS ts,
                        CASE WHEN any_value(s.kind) = 'volume' THEN sum(r.value)
                             ELSE avg(r.value) * ? / 3600.0 END AS volume_m3,
                        count(*) AS n
                 FROM readings r JOIN sensors s USING (sensor_id)
                 WHERE s.utility_id = ? AND s.connection_id IS NOT NULL AND s.kind IN ('volume', 'flow')
                   AND r.ts >= ? AND r.ts < ?
                 GROUP BY s.zone_id, s.billed, r.sensor_id, 3)
               SELECT zone_id, billed, ts, sum(volume_m3) AS volume_m3, count(*) AS meters, sum(n) AS readings
               FROM per_meter GROUP BY ALL ORDER BY ALL""",
            [int(step_s), float(step_s), utility_id, start, end],
        )



def _aggregate(agg: str) -> str:
    try:
        return AGGREGATES[agg]
    except KeyError:
        raise ValueError(f"agg must be one of {', '.join(AGGREGATES)}, not {agg!r}") from None
