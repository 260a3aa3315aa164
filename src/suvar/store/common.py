"""What both stores share: the methods whose SQL DuckDB and PostgreSQL run as written.

Each store supplies ``_tx`` (a transaction whose connection takes ``?`` parameters), ``_df`` (a query as a frame),
``_one`` (its first row), ``_replace_rows`` (an upsert) and ``zone_aggregates``. Parameters that may be NULL carry
a cast (``?::TEXT IS NULL``), which PostgreSQL needs to type them and DuckDB accepts.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from suvar.store.kept import KeptBalances


class SqlStore(KeptBalances):
    """The registry, tokens, sessions, alarms, ledger and series methods common to both stores."""

    def upsert_utility(self, utility_id: str, name: str, **attrs: object) -> None:
        cols = ["kind", "country", "flow_units", "source_file", "basin", "model_start"]
        values = [attrs.get(c) for c in cols]
        with self._tx() as con:
            con.execute("DELETE FROM utilities WHERE utility_id = ?", [utility_id])
            con.execute(
                f"INSERT INTO utilities (utility_id, name, {', '.join(cols)}) VALUES "
                f"(?, ?, {', '.join('?' * len(cols))})",
                [utility_id, name, *values],
            )

    def utilities(self) -> pd.DataFrame:
        return self._df("SELECT * FROM utilities ORDER BY utility_id")

    def nodes(self, utility_id: str) -> pd.DataFrame:
        return self._df("SELECT * FROM nodes WHERE utility_id = ? ORDER BY node_id", [utility_id])

    def links(self, utility_id: str) -> pd.DataFrame:
        return self._df("SELECT * FROM links WHERE utility_id = ? ORDER BY link_id", [utility_id])

    def zones(self, utility_id: str | None = None) -> pd.DataFrame:
        query = """SELECT z.utility_id, z.zone_id, z.name,
                        (SELECT count(*) FROM nodes n WHERE n.utility_id = z.utility_id
                           AND n.zone_id = z.zone_id) AS node_count,
                        (SELECT coalesce(sum(length_m), 0) / 1000 FROM links l WHERE l.utility_id = z.utility_id
                           AND l.zone_id = z.zone_id AND l.link_type = 'Pipe') AS mains_length_km
                 FROM zones z WHERE (?::TEXT IS NULL OR z.utility_id = ?) ORDER BY z.utility_id, z.zone_id"""
        return self._df(query, [utility_id, utility_id])

    def boundary_links(self, utility_id: str) -> pd.DataFrame:
        return self._df(
            "SELECT zone_id, link_id, role FROM zone_boundary_links WHERE utility_id = ? ORDER BY 1, 2, 3",
            [utility_id],
        )

    def upsert_sensors(self, sensors: pd.DataFrame) -> int:
        return self._replace_rows("sensors", sensors, ["sensor_id"])

    def sensors(self, utility_id: str | None = None, zone_id: str | None = None) -> pd.DataFrame:
        return self._df(
            "SELECT * FROM sensors WHERE (?::TEXT IS NULL OR utility_id = ?) AND (?::TEXT IS NULL OR zone_id = ?) "
            "ORDER BY sensor_id",
            [utility_id, utility_id, zone_id, zone_id],
        )

    def upsert_connections(self, connections: pd.DataFrame) -> int:
        return self._replace_rows("connections", connections, ["utility_id", "connection_id"])

    def connections(self, utility_id: str, zone_id: str | None = None) -> pd.DataFrame:
        return self._df(
            "SELECT * FROM connections WHERE utility_id = ? AND (?::TEXT IS NULL OR zone_id = ?) "
            "ORDER BY connection_id",
            [utility_id, zone_id, zone_id],
        )

    def upsert_billing(self, billing: pd.DataFrame) -> int:
        return self._replace_rows("billing", billing, ["utility_id", "connection_id", "period_start"])

    def token(self, token_hash: str) -> dict | None:
        df = self._df("SELECT * FROM api_tokens WHERE token_hash = ?", [token_hash])
        return None if df.empty else df.iloc[0].to_dict()

    def users(self) -> pd.DataFrame:
        """Every user without secrets: username, role, scope, locale, totp (bool), disabled, created_at."""
        return self._df("SELECT username, role, scope, locale, totp_secret IS NOT NULL AS totp, disabled, created_at "
                        "FROM users ORDER BY username")

    def session(self, session_hash: str) -> dict | None:
        """The unexpired session with this hash, or None."""
        row = self._one("SELECT username, created_at, expires_at FROM sessions WHERE session_hash = ? "
                        "AND expires_at >= ?::TIMESTAMP", [session_hash, datetime.now(UTC).replace(tzinfo=None)])
        return None if row is None else dict(zip(("username", "created_at", "expires_at"), row, strict=True))

    def alarms(self, *, status: str | None = None, kind: str | None = None, scope: str | None = None) -> pd.DataFrame:
        return self._df(
            "SELECT * FROM alarms WHERE (?::TEXT IS NULL OR status = ?) AND (?::TEXT IS NULL OR kind = ?) "
            "AND (?::TEXT IS NULL OR scope = ?) ORDER BY alarm_id DESC",
            [status, status, kind, kind, scope, scope],
        )

    def alarm_scope(self, alarm_id: int) -> str | None:
        """The scope (utility or basin) of an alarm, or None when there is no such alarm."""
        row = self._one("SELECT scope FROM alarms WHERE alarm_id = ?", [int(alarm_id)])
        return row[0] if row else None

    def ledger_last(self, ledger: str) -> str | None:
        """The last entry of ``ledger`` (JSON text), or None when it is empty."""
        row = self._one("SELECT entry FROM ledger_entries WHERE ledger = ? ORDER BY position DESC LIMIT 1", [ledger])
        return row[0] if row else None

    def conflicts(self, limit: int = 100) -> pd.DataFrame:
        return self._df("SELECT * FROM reading_conflicts ORDER BY batch_id DESC, sensor_id, ts LIMIT ?", [int(limit)])

    def reading_count(self) -> int:
        return int(self._one("SELECT count(*) FROM readings")[0])

    def zone_series(
        self,
        utility_id: str,
        zone_id: str,
        kind: str,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        step_s: int = 900,
        agg: str = "mean",
    ) -> pd.DataFrame:
        """One series per zone and sensor kind: each step's readings of all the zone's sensors of ``kind``,
        reduced by ``agg`` (e.g. mean pressure). Columns ts, value, sensors."""
        frame = self.zone_aggregates(utility_id, kind, start, end, step_s, agg, zone_id=zone_id)
        return frame.drop(columns="zone_id")
