"""Kept zone balances (:mod:`suvar.balance.refresh`): the same portable SQL for the DuckDB and PostgreSQL stores.

A store mixes this in; it supplies ``_one`` (first row), ``_df`` (a frame) and ``_replace_rows`` (upsert).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

_ZONE_METERS = """FROM readings r
    JOIN sensors s ON s.sensor_id = r.sensor_id
    JOIN zone_boundary_links b ON b.utility_id = s.utility_id AND b.link_id = s.link_id
    WHERE s.utility_id = ? AND s.kind = 'flow' AND s.connection_id IS NULL"""


class KeptBalances:
    """Daily and monthly zone balances kept in the ``zone_balances`` table (migration 6)."""

    def reading_span(self, utility_id: str) -> tuple[pd.Timestamp, pd.Timestamp, int] | None:
        """First and last reading of a utility's zone-boundary flow meters, and their interval (s)."""
        row = self._one(f"SELECT min(r.ts), max(r.ts) {_ZONE_METERS}", [utility_id])
        if row is None or row[0] is None:
            return None
        last = self._one(f"SELECT r.sensor_id {_ZONE_METERS} AND r.ts = ? LIMIT 1",
                         [utility_id, row[1]])
        two = self._df("SELECT ts FROM readings WHERE sensor_id = ? ORDER BY ts DESC LIMIT 2",
                       [last[0]])["ts"]
        step_s = int((two.iloc[0] - two.iloc[1]).total_seconds()) if len(two) == 2 else 0
        return pd.Timestamp(row[0]), pd.Timestamp(row[1]), step_s

    def put_zone_balances(self, rows: pd.DataFrame) -> int:
        """Keep balance rows, replacing any for the same utility, zone, frequency and period start."""
        return self._replace_rows(
            "zone_balances", rows, ["utility_id", "zone_id", "freq", "period_start"])

    def zone_balance_frontier(self, utility_id: str, freq: str) -> pd.Timestamp | None:
        """End of the last complete kept period: where the next refresh starts."""
        row = self._one(
            "SELECT max(period_end) FROM zone_balances WHERE utility_id = ? AND freq = ? AND complete",
            [utility_id, freq])
        return None if row is None or row[0] is None else pd.Timestamp(row[0])

    def zone_balance_rows(self, utility_id: str, zone_id: str | None, freq: str,
                          start: datetime | str | None = None, end: datetime | str | None = None) -> pd.DataFrame:
        """Kept rows of a utility (or one zone) by period start in ``[start, end)``, oldest first."""
        return self._df(
            """SELECT * FROM zone_balances WHERE utility_id = ? AND freq = ? AND (?::TEXT IS NULL OR zone_id = ?)
               AND (?::TIMESTAMP IS NULL OR period_start >= ?::TIMESTAMP)
               AND (?::TIMESTAMP IS NULL OR period_start < ?::TIMESTAMP)
               ORDER BY zone_id, period_start""",
            [utility_id, freq, zone_id, zone_id, start, start, end, end])
