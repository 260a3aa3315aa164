"""Every zone's water balance, kept up to date: daily and monthly balances computed as data arrives.

:func:`refresh_zone_balances` computes, for each utility, the daily balance of every zone for each day its
meters have covered since the last refresh, and the monthly balance of every month those days touch, with
:func:`suvar.balance.zone.zone_balances` (the same function as ``suvar audit zone``), and keeps the rows in the
store. A day is *complete* once readings reach its end; an incomplete period (the current month) is recomputed
at the next refresh. ``suvar serve`` runs it on a schedule (``SUVAR_JOBS_INTERVAL_S``); ``suvar audit refresh``
runs it on demand; the panel and ``GET /api/v1/utilities/{u}/balances`` read the kept rows, so a year of zone
balances is one indexed read instead of a scan of the telemetry.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pandas as pd

from suvar.balance.zone import zone_balances
from suvar.store import Store

FREQS = {"daily": "D", "monthly": "MS"}


def _rows(frame: pd.DataFrame, utility_id: str, freq: str, covered_to: pd.Timestamp) -> pd.DataFrame:
    """Balance rows as stored: keys, period, completeness and the whole row as JSON. A period is complete when
    the data covers its whole calendar day or month (the last period of a refresh ends at the data's end)."""
    records = json.loads(frame.to_json(orient="records", date_format="iso", date_unit="s"))
    starts = pd.DatetimeIndex(frame["period_start"])
    calendar_end = starts.floor("D") + pd.Timedelta(days=1) if freq == "daily" else (
        starts.to_period("M").to_timestamp() + pd.offsets.MonthBegin(1))
    return pd.DataFrame({
        "utility_id": utility_id, "zone_id": frame["zone_id"].to_numpy(), "freq": freq,
        "period_start": starts, "period_end": pd.DatetimeIndex(frame["period_end"]),
        "complete": calendar_end <= covered_to, "result": [json.dumps(r) for r in records]})


def refresh_zone_balances(
    store: Store, utility_id: str | None = None, *, progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, int]]:
    """Compute and keep the daily and monthly balances of every zone that new data has reached.

    Days from the end of the last complete kept day (or the first reading) to the day of the last reading are
    computed, and every month they touch, up to that day. Readings are instants at the meters' interval, so the
    data covers up to the last reading plus one interval. Returns, per utility, how many daily and monthly rows
    were written; utilities without zones or readings are skipped.
    """
    report: dict[str, dict[str, int]] = {}
    utilities = store.utilities()["utility_id"] if utility_id is None else pd.Series([utility_id])
    for uid in utilities:
        span = None if store.zones(uid).empty else store.reading_span(uid)
        if span is None:
            continue
        first, last, step_s = span
        covered_to = last + pd.Timedelta(seconds=step_s)
        kept = store.zone_balance_frontier(uid, "daily")
        start = first.floor("D") if kept is None else max(first.floor("D"), kept)
        end = covered_to.ceil("D")
        if start >= end:
            report[uid] = {"daily": 0, "monthly": 0}
            continue
        daily = zone_balances(store, uid, None, start, end, freq="D")
        # Months from the first touched (clipped to the first reading's day) to the data's end: the current
        # month is the month so far, never padded with estimates for days still to come.
        month_start = max(start.to_period("M").to_timestamp(), first.floor("D"))
        monthly = zone_balances(store, uid, None, month_start, end, freq="MS")
        store.put_zone_balances(pd.concat([_rows(daily, uid, "daily", covered_to),
                                           _rows(monthly, uid, "monthly", covered_to)]))
        report[uid] = {"daily": len(daily), "monthly": len(monthly)}
        if progress:
            progress(f"{uid}: {len(daily)} zone-days and {len(monthly)} zone-months from {start:%Y-%m-%d}")
    return report


def stored_balances(store: Store, utility_id: str, zone_id: str | None = None, freq: str = "daily",
                    start: str | pd.Timestamp | None = None, end: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """The kept balances as a frame (one row per zone and period, the columns of ``zone_balances`` plus
    ``complete``), oldest first."""
    if freq not in FREQS:
        raise ValueError(f"freq must be daily or monthly, not {freq!r}")
    kept = store.zone_balance_rows(utility_id, zone_id, freq, start, end)
    if kept.empty:
        return pd.DataFrame()
    frame = pd.DataFrame([json.loads(r) for r in kept["result"]])
    frame["complete"] = kept["complete"].to_numpy()
    return frame
