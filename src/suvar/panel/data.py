"""The panel's data: what each view shows, computed from the store through the platform's own analyses.

Speed comes from pre-computed results: zone water balances (IWA) are the daily rows the store keeps as data
arrives (:mod:`suvar.balance.refresh`), read by an indexed query; night-flow analyses (``zone_night_flow``)
are kept per day by :class:`DailyCache` with that day's reading count, so a page recomputes only the days
whose count changed (late data, a new day). Telemetry charts are bucketed in the store
(``zone_series``) with a step chosen so a chart never holds more than about 800 points.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from suvar.allocation.audit import delivery_audit, plan_totals
from suvar.balance.refresh import stored_balances
from suvar.balance.zone import zone_meters, zone_night_flow
from suvar.ledger import DatabaseLedgerStore
from suvar.ledger import verify as ledger_verify
from suvar.store import Store

DAY = pd.Timedelta(days=1)
#: The time-range picker's relative ranges, ending at the zone's latest data.
RANGES = {"24h": pd.Timedelta(hours=24), "7d": pd.Timedelta(days=7), "30d": pd.Timedelta(days=30)}
#: Chart steps, the smallest giving at most ``MAX_POINTS`` buckets over the range.
STEPS_S = (900, 3600, 3 * 3600, 6 * 3600, 86400)
MAX_POINTS = 800
#: Balance columns a page shows (the box, the daily trend).
BALANCE_COLUMNS = [
    "system_input_volume_m3", "system_input_volume_margin_pct", "authorized_consumption_m3",
    "billed_metered_m3", "billed_unmetered_m3", "unbilled_metered_m3", "unbilled_unmetered_m3",
    "water_losses_m3", "apparent_losses_m3", "real_losses_m3", "real_losses_margin_pct", "non_revenue_water_m3",
    "nrw_pct_volume", "ili", "ili_valid", "band_wbi_current", "real_losses_l_per_conn_per_day",
    "data_validity_score", "inlet_data",
]
#: Columns of the daily balance trend.
TREND_COLUMNS = ["system_input_volume_m3", "non_revenue_water_m3", "nrw_pct_volume", "real_losses_m3", "ili"]
NIGHT_COLUMNS = ["mnf_m3h", "legitimate_night_use_m3h", "net_night_flow_m3h", "real_losses_m3_per_day"]


def choose_step_s(start: pd.Timestamp, end: pd.Timestamp) -> int:
    """The smallest chart step in ``STEPS_S`` that keeps ``[start, end)`` within ``MAX_POINTS`` buckets."""
    span = (end - start).total_seconds()
    for step in STEPS_S:
        if span / step <= MAX_POINTS:
            return step
    return int(math.ceil(span / MAX_POINTS / 86400)) * 86400


def clean(value: Any) -> Any:
    """JSON-safe scalars: NaN and infinities become None, numpy types plain Python, timestamps ISO text."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if value is pd.NaT:
        return None
    return value


@dataclass
class _UtilityDays:
    version: int = -1  # the store's reading count when ``counts`` was taken
    counts: dict[pd.Timestamp, int] = field(default_factory=dict)
    night: dict[tuple[str, pd.Timestamp], dict[str, Any]] = field(default_factory=dict)


#: Days before the latest data recounted after new readings arrive.
RECOUNT_DAYS = 3


class DailyCache:
    """Per-day zone night flows, each kept with its day's reading count (see module docstring).

    The per-day counts themselves are versioned by the store's total reading count: while it is unchanged
    nothing is asked of the store; when it grows, only the last ``RECOUNT_DAYS`` days are recounted, unless
    they do not account for all the new readings (late data, another utility), and then every day is.
    """

    def __init__(self) -> None:
        self._days: dict[str, _UtilityDays] = {}
        self._lock = threading.Lock()

    def day_counts(self, store: Store, utility_id: str) -> pd.Series:
        """Readings per UTC day of the utility's sensors."""
        with self._lock:
            state = self._days.setdefault(utility_id, _UtilityDays())
            version = store.reading_count()
            if version != state.version:
                ids = store.sensors(utility_id)["sensor_id"].tolist()
                fresh = None
                if state.version >= 0 and state.counts and version > state.version:
                    since = max(state.counts) - pd.Timedelta(days=RECOUNT_DAYS)
                    window = _count(store, ids, since)
                    before = sum(n for d, n in state.counts.items() if d >= since)
                    if int(window.sum()) - before == version - state.version:
                        fresh = {**{d: n for d, n in state.counts.items() if d < since}, **window.to_dict()}
                if fresh is None:
                    fresh = _count(store, ids, None).to_dict()
                self._apply(state, fresh)
                state.version = version
            return pd.Series(state.counts, dtype="int64").sort_index()

    @staticmethod
    def _apply(state: _UtilityDays, counts: dict[pd.Timestamp, int]) -> None:
        """Forget the results of every day whose count changed."""
        for day in set(state.counts) | set(counts):
            if state.counts.get(day) != counts.get(day):
                for key in [k for k in state.night if k[1] == day]:
                    del state.night[key]
        state.counts = {pd.Timestamp(d): int(n) for d, n in counts.items()}

    def night(self, store: Store, utility_id: str, zone_id: str, days: list[pd.Timestamp]) -> pd.DataFrame:
        """Daily night-flow analysis of a zone for ``days`` (UTC)."""
        with self._lock:
            state = self._days.setdefault(utility_id, _UtilityDays())
            for first, last in _runs([d for d in days if (zone_id, d) not in state.night]):
                try:
                    frame = zone_night_flow(store, utility_id, zone_id, first, last + DAY)
                except ValueError:
                    frame = pd.DataFrame()
                for day in pd.date_range(first, last, freq="D"):
                    row = frame.loc[frame.index.astype(str) == str(day.date())] if len(frame) else frame
                    state.night[(zone_id, day)] = (
                        {c: float(row[c].iloc[0]) for c in NIGHT_COLUMNS if c in row} if len(row) else {})
            rows = [{"date": d.date().isoformat(), **state.night[(zone_id, d)]} for d in days]
        return pd.DataFrame(rows)


def _count(store: Store, sensor_ids: list[str], since: pd.Timestamp | None) -> pd.Series:
    """Readings per UTC day of some sensors from ``since`` (all days when None)."""
    if not sensor_ids:
        return pd.Series(dtype="int64")
    counts = store.series(sensor_ids, since, None, 86400, "count")
    return counts.groupby("ts")["value"].sum().astype("int64")


def _runs(days: list[pd.Timestamp]) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Consecutive days grouped into (first, last) runs."""
    runs: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    for day in sorted(days):
        if runs and day - runs[-1][1] == DAY:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def data_end(counts: pd.Series) -> pd.Timestamp | None:
    """Midnight after the latest day with readings (the right end of the relative ranges)."""
    counts = counts[counts > 0]
    return None if counts.empty else pd.Timestamp(counts.index.max()) + DAY


def resolve_range(counts: pd.Series, range_key: str, start: str | None = None,
                  end: str | None = None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[start, end)`` of the picker: 24h / 7d / 30d ending at the latest data, or custom dates."""
    if range_key == "custom":
        if not start or not end:
            raise ValueError("a custom range needs start and end dates")
        s, e = pd.Timestamp(start).tz_localize(None), pd.Timestamp(end).tz_localize(None)
        if e <= s:
            raise ValueError(f"range end {end} is not after its start {start}")
        return s, e
    if range_key not in RANGES:
        raise ValueError(f"range must be one of {', '.join(RANGES)} or custom, not {range_key!r}")
    e = data_end(counts) or pd.Timestamp.now("UTC").tz_localize(None).ceil("D")
    return e - RANGES[range_key], e


def _days(start: pd.Timestamp, end: pd.Timestamp) -> list[pd.Timestamp]:
    return list(pd.date_range(start.floor("D"), (end - pd.Timedelta(seconds=1)).floor("D"), freq="D"))


def zone_page(store: Store, cache: DailyCache, utility_id: str, zone_id: str, range_key: str = "7d",
              start: str | None = None, end: str | None = None) -> dict[str, Any]:
    """Everything the zone view shows for one time range: the latest day's balance box, the daily balance
    trend and night flows, pressure and inflow charts and the data quality of the zone's sensors."""
    zones = store.zones(utility_id)
    if zone_id not in set(zones["zone_id"]):
        raise LookupError(f"utility {utility_id!r} has no zone {zone_id!r}")
    counts = cache.day_counts(store, utility_id)
    s, e = resolve_range(counts, range_key, start, end)
    days = [d for d in _days(s, e) if counts.get(d, 0) > 0]
    balances = stored_balances(store, utility_id, zone_id, "daily", s, e)
    rows = balances.to_dict("records")
    box = {"date": str(rows[-1]["period_start"])[:10], **{c: clean(rows[-1].get(c)) for c in BALANCE_COLUMNS}} \
        if rows else None
    daily = [{"date": str(r["period_start"])[:10], "complete": bool(r["complete"]),
              **{c: clean(r.get(c)) for c in TREND_COLUMNS}} for r in rows]
    night = cache.night(store, utility_id, zone_id, days)
    step = choose_step_s(s, e)
    pressure = store.zone_series(utility_id, zone_id, "pressure", s, e, step, "mean")
    series = {"pressure": _points(pressure["ts"], pressure["value"]),
              "flow": _points(*zone_inflow(store, utility_id, zone_id, s, e, step))}
    sensors = store.sensors(utility_id, zone_id)
    last_day = store.series(sensors["sensor_id"].tolist(), e - DAY, e, 86400, "count") \
        if len(sensors) else pd.DataFrame(columns=["sensor_id", "value"])
    reporting = set(last_day.loc[last_day["value"] > 0, "sensor_id"]) if len(last_day) else set()
    faults = store.alarms(kind="sensor_fault", scope=utility_id)
    faults = faults[faults["zone_id"] == zone_id]
    return {
        "utility_id": utility_id, "zone_id": zone_id, "range": range_key,
        "start": s.isoformat(), "end": e.isoformat(), "step_s": step,
        "box": box, "daily": daily,
        "night": [clean(r) for r in night.to_dict("records")],
        "series": series,
        "quality": {
            "sensors": int(len(sensors)),
            "silent_last_day": sorted(set(sensors["sensor_id"]) - reporting),
            "utility_readings": int(counts[(counts.index >= s) & (counts.index < e)].sum()),
            "faults": [{"alarm_id": int(r.alarm_id), "title": r.title, "status": r.status,
                        "fault": (json.loads(r.detail) or {}).get("fault") if r.detail else None}
                       for r in faults.itertuples()],
            "quarantine": quarantine_counts(store),
        },
    }


def _points(ts: pd.Series | pd.Index, values: pd.Series) -> dict[str, list]:
    """A chart's points: UNIX seconds and values rounded to 4 decimals (None where missing)."""
    seconds = (pd.DatetimeIndex(ts).as_unit("s").asi8).tolist() if len(ts) else []
    rounded = np.round(np.asarray(values, dtype=float), 4)
    return {"ts": seconds, "value": [None if math.isnan(v) else v for v in rounded.tolist()]}


def zone_inflow(store: Store, utility_id: str, zone_id: str, start: pd.Timestamp, end: pd.Timestamp,
                step_s: int) -> tuple[pd.Index, pd.Series]:
    """Net inflow of a zone, m³/h: the sum of its boundary meters' mean flows per bucket, inlets positive and
    outlets negative (the same meters and signs as the balance's system input, ``zone_meters``); buckets
    where a meter has no reading are left out."""
    meters = zone_meters(store.boundary_links(utility_id), store.sensors(utility_id), zone_id).signs
    if not meters:
        return pd.Index([]), pd.Series(dtype=float)
    frame = store.series(list(meters), start, end, step_s, "mean")
    wide = frame.pivot(index="ts", columns="sensor_id", values="value").dropna()
    if set(meters) - set(wide.columns):  # a meter without readings: no honest net inflow
        return pd.Index([]), pd.Series(dtype=float)
    net = sum(wide[c] * sign for c, sign in meters.items() if c in wide) if len(wide) else pd.Series(dtype=float)
    return wide.index, pd.Series(net, index=wide.index)


def quarantine_counts(store: Store, limit: int = 10_000) -> dict[str, int]:
    """Quarantined rows per reason (the latest ``limit`` rows)."""
    rows = store.quarantine(limit=limit)
    return {str(k): int(v) for k, v in rows.groupby("reason").size().items()} if len(rows) else {}


def utility_latest(store: Store, cache: DailyCache, utility_id: str) -> dict[str, Any]:
    """The latest day's balance of each zone of a utility and the utility's totals."""
    counts = cache.day_counts(store, utility_id)
    end = data_end(counts)
    if end is None or store.zones(utility_id).empty:
        return {"utility_id": utility_id, "day": None, "zones": [], "totals": None}
    day = end - DAY
    frame = stored_balances(store, utility_id, None, "daily", day, end)
    zones = []
    for r in frame.to_dict("records"):
        zones.append({"zone_id": r["zone_id"], **{c: clean(r.get(c)) for c in BALANCE_COLUMNS}})
    siv = sum(z["system_input_volume_m3"] or 0 for z in zones)
    nrw = sum(z["non_revenue_water_m3"] or 0 for z in zones)
    real = sum(z["real_losses_m3"] or 0 for z in zones)
    totals = {"system_input_volume_m3": siv, "non_revenue_water_m3": nrw, "real_losses_m3": real,
              "nrw_pct_volume": 100 * nrw / siv if siv else None}
    return {"utility_id": utility_id, "day": day.date().isoformat(), "zones": zones, "totals": totals}


#: Status of a zone or utility from its worst signal: WBI band D or an open critical alarm is critical.
def status_of(band: str | None, open_alarms: list[dict[str, Any]]) -> str:
    """``ok`` / ``warning`` / ``critical`` from a WBI band (A–D) and the open alarms of the area."""
    severities = {a["severity"] for a in open_alarms}
    if "critical" in severities or band == "D":
        return "critical"
    if "warning" in severities or band == "C":
        return "warning"
    return "ok"


def published_plans(store: Store) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Entries of the ``allocation`` ledger and the chain's verification."""
    ledger = DatabaseLedgerStore(store, "allocation")
    return list(ledger.entries()), ledger_verify(ledger)


def plan_coverage(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per user of a published plan: kind, priority, requirement and allocation over the plan (m³), coverage
    (allocation / requirement) and the most frequent shortfall reason."""
    out = {}
    for user, u in plan["users"].items():
        req, alloc = float(sum(u["requirement_m3"])), float(sum(u["allocation_m3"]))
        reasons = [r for r in u.get("reason", []) if r and r != "met"]
        out[user] = {"kind": u["kind"], "body": u["body"], "priority": u["priority"], "requirement_m3": req,
                     "allocation_m3": alloc, "coverage": alloc / req if req else None,
                     "reason": max(set(reasons), key=reasons.count) if reasons else None}
    return out


def allocation_view(store: Store) -> dict[str, Any]:
    """The allocation view: the plan in force for each published scenario (a later publication of a basin's
    scenario supersedes the earlier ones, whose ledger indexes it lists) side by side with per-user coverage and
    explanations, the ledger's verification, and the delivery audit of the latest plan against the turnout
    meters (``<basin utility>-D-<user>`` volume sensors)."""
    entries, verified = published_plans(store)
    in_force: dict[tuple[Any, Any], dict[str, Any]] = {}
    for e in entries:
        content = e.get("content", {})
        if content.get("kind") != "allocation_plan":
            continue
        plan = content["plan"]
        coverage = plan_coverage(plan)
        req = sum(u["requirement_m3"] for u in coverage.values())
        alloc = sum(u["allocation_m3"] for u in coverage.values())
        key = (plan.get("basin"), plan.get("scenario"))
        earlier = in_force.pop(key, None)
        in_force[key] = {"index": e["index"], "hash": e["hash"], "author": content.get("author"),
                         "published_at": content.get("published_at"), "basin": plan.get("basin"),
                         "scenario": plan.get("scenario"), "dates": plan.get("dates", []),
                         "users": coverage, "coverage": alloc / req if req else None,
                         "supersedes": ([*earlier["supersedes"], earlier["index"]] if earlier else [])}
    plans = sorted(in_force.values(), key=lambda p: p["index"])
    audit = None
    if plans:
        latest = entries[plans[-1]["index"]]["content"]["plan"]
        metered = _metered_deliveries(store, latest)
        if len(metered):
            result = delivery_audit(plan_totals(latest), metered)
            users = result.users.reset_index(names="user")
            audit = {"plan_index": plans[-1]["index"],
                     "users": [clean(r) for r in users.to_dict("records")],
                     "transfers": [clean(r) for r in result.transfers.to_dict("records")]}
    return {"plans": plans, "verified": clean(verified), "audit": audit}


def _metered_deliveries(store: Store, plan: dict[str, Any]) -> pd.Series:
    """Metered m³ per user of a plan from the basin's turnout meters (sensors ``*-D-<user>``, kind volume)."""
    sensors = store.sensors()
    users = set(plan["users"])
    turnouts = sensors[(sensors["kind"] == "volume") & sensors["sensor_id"].str.contains("-D-", regex=False)]
    turnouts = turnouts[turnouts["sensor_id"].str.split("-D-").str[-1].isin(users)]
    if turnouts.empty or not plan.get("dates"):
        return pd.Series(dtype=float)
    start = pd.Timestamp(plan["dates"][0])
    end = pd.Timestamp(plan["dates"][-1]) + pd.DateOffset(months=1)
    readings = store.series(turnouts["sensor_id"].tolist(), start, end)
    return readings.groupby("sensor_id")["value"].sum().rename(lambda sid: sid.split("-D-")[-1])


def overview(store: Store, cache: DailyCache) -> dict[str, Any]:
    """The country overview: each utility's latest-day indicators and status per zone, open alarms, the
    allocation coverage of the latest published plan and the drought status of each basin."""
    alarms = store.alarms(status=None)
    open_alarms = [clean(r) for r in alarms[alarms["status"] != "closed"].to_dict("records")]
    utilities = []
    siv = nrw = real = 0.0
    day = None
    for u in store.utilities().to_dict("records"):
        uid = u["utility_id"]
        if u.get("kind") == "basin":
            continue
        latest = utility_latest(store, cache, uid)
        mine = [a for a in open_alarms if a["scope"] == uid]
        for z in latest["zones"]:
            z["open_alarms"] = sum(1 for a in mine if a["zone_id"] == z["zone_id"])
            z["status"] = status_of(z["band_wbi_current"], [a for a in mine if a["zone_id"] == z["zone_id"]])
        t = latest["totals"] or {}
        siv += t.get("system_input_volume_m3") or 0.0
        nrw += t.get("non_revenue_water_m3") or 0.0
        real += t.get("real_losses_m3") or 0.0
        day = max(day or "", latest["day"] or "") or None
        worst = max((z["status"] for z in latest["zones"]), key=["ok", "warning", "critical"].index, default="ok")
        utilities.append({"utility_id": uid, "name": u["name"], "kind": u.get("kind"), "day": latest["day"],
                          "zones": latest["zones"], "totals": latest["totals"], "open_alarms": len(mine),
                          "status": status_of(None, mine) if worst == "ok" else worst})
    droughts = [a for a in open_alarms if a["kind"] == "drought"]
    basins = []
    for u in store.utilities().to_dict("records"):
        if u.get("kind") != "basin":
            continue
        basins.append({"utility_id": u["utility_id"], "name": u["name"]})
    drought = None
    if droughts:
        worst = max(droughts, key=lambda a: (a["severity"] == "critical", a["start_ts"] or ""))
        detail = json.loads(worst["detail"]) if worst.get("detail") else {}
        drought = {"scope": worst["scope"], "severity": worst["severity"], "class": detail.get("class"),
                   "spi": clean(detail.get("spi")), "month": clean(worst["start_ts"])}
    plans, _ = published_plans(store)
    coverage = None
    latest_plan = next((p for p in reversed(plans) if p.get("content", {}).get("kind") == "allocation_plan"), None)
    if latest_plan:
        users = plan_coverage(latest_plan["content"]["plan"])
        req = sum(u["requirement_m3"] for u in users.values())
        coverage = {"scenario": latest_plan["content"]["plan"].get("scenario"),
                    "basin": latest_plan["content"]["plan"].get("basin"),
                    "coverage": sum(u["allocation_m3"] for u in users.values()) / req if req else None,
                    "users_short": sum(1 for u in users.values() if (u["coverage"] or 1) < 0.999)}
    for b in basins:
        b["status"] = "critical" if drought and drought["severity"] == "critical" else \
            "warning" if drought else "ok"
    headline = {
        "day": day,
        "nrw_pct": 100 * nrw / siv if siv else None,
        "real_losses_m3": real,
        "open_leak_alarms": sum(1 for a in open_alarms if a["kind"] == "leak"),
        "open_alarms": len(open_alarms),
        "allocation_coverage": coverage["coverage"] if coverage else None,
        "drought": drought,
    }
    return {"headline": headline, "utilities": utilities, "basins": basins, "allocation": coverage}


def sector_tiles(store: Store, cache: DailyCache, view: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The sector strip: generic tiles ``{sector, indicator, value, unit, target, status, better}``; water fills
    it now (energy, health, schools and transport add theirs later through the same shape)."""
    view = view or overview(store, cache)
    h = view["headline"]
    tiles = [
        tile("water", "nrw", h["nrw_pct"], "%", 20.0, "lower"),
        tile("water", "real_losses", h["real_losses_m3"], "m³/d", None, "lower"),
        tile("water", "open_leak_alarms", h["open_leak_alarms"], "", 0, "lower"),
        tile("water", "allocation_coverage", None if h["allocation_coverage"] is None
             else 100 * h["allocation_coverage"], "%", 90.0, "higher"),
    ]
    for u in view["utilities"]:
        ilis = [z["ili"] for z in u["zones"] if z.get("ili") is not None]
        if ilis:
            tiles.append(tile("water", "ili", max(ilis), "", 2.0, "lower", area=u["name"]))
    return tiles


def tile(sector: str, indicator: str, value: float | None, unit: str, target: float | None, better: str,
         area: str | None = None) -> dict[str, Any]:
    """One indicator tile; status ``ok`` when the value meets its target, ``warning`` within 50 % of it,
    else ``critical`` (``unknown`` without a value, ``info`` without a target)."""
    if value is None:
        status = "unknown"
    elif target is None:
        status = "info"
    else:
        gap = (value - target) if better == "lower" else (target - value)
        status = "ok" if gap <= 0 else "warning" if gap <= 0.5 * max(abs(target), 1.0) else "critical"
    return {"sector": sector, "indicator": indicator, "area": area, "value": clean(value), "unit": unit,
            "target": target, "better": better, "status": status}
