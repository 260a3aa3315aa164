"""Leak detection over stored telemetry: ``suvar leaks scan`` raises leak alarms with their candidate pipes.

The utility's SCADA pressures (by node), flows (by link), tank levels and smart-meter readings are read from the
store onto a regular grid, in the BattLeDIM layout, and handed to the same detector as ``suvar leaks detect``
(:class:`suvar.leaks.pipeline.LeakDetector`, with the same settings): it learns normal behaviour from the first
``train_days``, watches the balance zones the meters close, and scans the rest. Where the utility's network file
ships with Suvar (the demo's), alarms are localised by simulating a leak on every pipe of the search area with
WNTR; otherwise they carry no candidates. A localised alarm also names the junctions where temporary pressure
loggers would best tell the pipes of its survey area apart (``evidence["logger_sites"]``,
:func:`suvar.leaks.placement.survey_sites`).

Each zone with smart meters is also watched through its flow balance as the water balance keeps it: a step in its
net night flow (:mod:`suvar.leaks.nightsteps`) that the SCADA detector has not already alarmed in that zone is a
leak alarm of its own. It is localised among the zone's pipes on the change of the pressure residuals across the
step: their mean over up to ``NIGHT_STEP_DAYS`` days from the step's night less their mean over as many days before
the last normal night. A leak whose CUSUM alarm fits no signature over its 12 h still moves their week mean: on the
28-day demo, zone A's 11 mm leak on p654 (8.6 m³/h at night; its CUSUM alarm fitted at about 0.6) fits a leak
signature with a cosine of 0.99.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from suvar.alarms import alarm
from suvar.balance.zone import zone_night_flow
from suvar.leaks.detect import LeakEvent, residuals
from suvar.leaks.nightsteps import night_flow_steps
from suvar.leaks.pipeline import CANDIDATES, LeakDetector
from suvar.leaks.placement import survey_sites
from suvar.store import Store

NETWORKS = Path(str(files("suvar") / "data" / "networks"))
#: Days either side of a night-flow step over which the residuals are averaged to localise it.
NIGHT_STEP_DAYS = 7


def scada_tables(store: Store, utility_id: str, start: str | None, end: str | None) -> dict[str, pd.DataFrame]:
    """The utility's stored SCADA and smart-meter readings as BattLeDIM-layout tables on one regular grid:
    ``pressures`` (m) and ``levels`` (m) by node, ``flows`` (m³/h) by link, ``demands`` (L/h) by metered node."""
    sensors = store.sensors(utility_id)
    scada = sensors["connection_id"].isna()
    groups = {
        "pressures": sensors[scada & (sensors["kind"] == "pressure") & sensors["node_id"].notna()],
        "flows": sensors[scada & (sensors["kind"] == "flow") & sensors["link_id"].notna()],
        "levels": sensors[scada & (sensors["kind"] == "level") & sensors["node_id"].notna()],
        "demands": sensors[~scada & sensors["kind"].isin(["flow", "volume"]) & sensors["node_id"].notna()],
    }
    readings = store.series([s for g in groups.values() for s in g["sensor_id"]], start, end)
    pressure_ids = set(groups["pressures"]["sensor_id"])
    if not readings["sensor_id"].isin(pressure_ids).any():
        raise ValueError(f"utility {utility_id!r} has no SCADA pressure readings in the period")
    scada_steps = readings[readings["sensor_id"].isin(pressure_ids)].groupby("sensor_id")["ts"].diff()
    step_s = int(scada_steps.dt.total_seconds().median())
    grid = pd.date_range(readings["ts"].min(), readings["ts"].max(), freq=f"{step_s}s")
    tables = {}
    for name, group in groups.items():
        where = dict(zip(group["sensor_id"], group["link_id" if name == "flows" else "node_id"], strict=True))
        rows = readings[readings["sensor_id"].isin(where)]
        if rows.empty:
            continue
        if name == "demands":  # canonical m³/h, or m³ a reading interval for volume meters
            per_h = group.set_index("sensor_id")["kind"].map({"flow": 1.0, "volume": 3600 / step_s})
            rows = rows.assign(value=rows["value"] * rows["sensor_id"].map(per_h) * 1000)
        tables[name] = rows.assign(where=rows["sensor_id"].map(where)).pivot_table(
            index="ts", columns="where", values="value", aggfunc="mean").reindex(grid)
    return tables


def network_file(store: Store, utility_id: str) -> Path | None:
    """The utility's network file where it ships with Suvar (the demo's), else None."""
    source = store.utilities().set_index("utility_id").loc[utility_id, "source_file"]
    return NETWORKS / source if source and (NETWORKS / source).is_file() else None


def scan_utility(
    store: Store, utility_id: str, *, train_days: float = 7.0, start: str | None = None, end: str | None = None,
    workers: int = 2, candidates: int | None = CANDIDATES, progress: Callable[[float], None] | None = None,
    rejected: list | None = None, cache_dir: str | Path | None = None,
) -> list[LeakEvent]:
    """Detect (and, with a shipped network file, localise) leaks in a utility's stored telemetry; each event is
    raised as an alarm. Returns the events; ``progress`` gets the fraction scanned, and ``rejected`` (a list)
    collects the alarms the detector judged to be repairs, growth of a known leak or sensor faults; ``cache_dir``
    keeps the simulated leak signatures for the next scan (``SUVAR_CACHE_DIR``)."""
    tables = scada_tables(store, utility_id, start, end)
    grid = tables["pressures"].index
    tables.setdefault("flows", pd.DataFrame(index=grid))
    split = grid[0] + pd.Timedelta(days=train_days)
    trained = tables["pressures"][grid < split].notna().any()
    tables["pressures"] = tables["pressures"].loc[:, trained]  # not sensors put in later (a survey's loggers)
    network = network_file(store, utility_id)
    detector = LeakDetector.fit({k: v[v.index < split] for k, v in tables.items()}, network, workers=workers,
                                n_candidates=candidates, cache_dir=cache_dir)
    events = detector.detect({k: v[v.index >= split] for k, v in tables.items()}, progress=progress,
                             rejected=rejected)
    links = store.links(utility_id).set_index("link_id")["zone_id"]
    for event in events:
        event.evidence["zone_id"] = links.get(event.pipe) if event.pipe else None  # the DMA of the pipe it names
    r_h = residuals(detector.model, tables["pressures"], tables["flows"])[0]
    until = pd.Timestamp(end) if end else grid[-1] + (grid[1] - grid[0])
    events += zone_flow_events(store, utility_id, links, events, r_h, split, until, train_days, detector)
    events.sort(key=lambda e: e.start)
    raised = store.alarms(kind="leak", scope=utility_id)
    details = {key: (json.loads(detail) if detail else {}).get("evidence") or {}
               for key, detail in zip(raised["dedup_key"], raised["detail"], strict=True)}
    surveyed = {key: evidence["logger_survey"] for key, evidence in details.items() if "logger_survey" in evidence}
    for event in events:
        area = event.evidence.get("area") or {}
        if network is not None and len(area.get("pipes", ())) > 1:
            sites = survey_sites(network, area["pipes"], detector.model.pressure_sensors, workers=workers,
                                 cache_dir=cache_dir)
            if sites:
                event.evidence["logger_sites"] = sites
        zone = event.evidence["zone_id"]
        title = (f"Leak suspected from {pd.Timestamp(event.start):%Y-%m-%d %H:%M}"
                 + (f" near pipe {event.pipe}" if event.pipe else f" in zone {zone}" if zone else "")
                 + (f", about {event.est_size_m3h:.1f} m³/h" if event.est_size_m3h else ""))
        record = alarm("leak", _severity(event), utility_id, title, key=f"{event.start}", zone_id=zone,
                       start=event.start, detail=event.as_dict())
        if record["dedup_key"] in surveyed:  # a logger survey made since an earlier scan stays with its alarm
            event.evidence["logger_survey"] = surveyed[record["dedup_key"]]
            record["detail"] = json.dumps(event.as_dict(), default=str)
        store.raise_alarm(record)
    return events


def zone_flow_events(
    store: Store, utility_id: str, links: pd.Series, scada_events: list[LeakEvent], r_h: pd.DataFrame,
    split: pd.Timestamp, end: pd.Timestamp, train_days: float, detector: LeakDetector,
) -> list[LeakEvent]:
    """Leak events from steps in each zone's net night flow (zones with smart meters), except where the SCADA
    detector already alarmed that zone within two days; those alarms gain the step as evidence instead. ``r_h``:
    the detector's hourly pressure residuals (m) over the whole period, to localise each step on (module docs)."""
    events = []
    first = split - pd.Timedelta(days=train_days)
    span = pd.Timedelta(days=NIGHT_STEP_DAYS)
    for zone_id in store.zones(utility_id)["zone_id"]:
        if not store.sensors(utility_id, zone_id)["connection_id"].notna().any():
            continue  # no smart meters: no measured night use to balance against
        try:
            nnf = zone_night_flow(store, utility_id, zone_id, first, end)["net_night_flow_m3h"]
        except ValueError:
            continue  # no boundary meter
        for step in night_flow_steps(nnf, int(train_days)):
            night = pd.Timestamp(step.night)
            began = [pd.Timestamp(step.last_normal_night) + pd.Timedelta(hours=4), night + pd.Timedelta(hours=4)]
            evidence = {"zone_id": zone_id, "net_night_flow_rise_m3h": round(step.rise_m3h, 2),
                        "net_night_flow_baseline_m3h": round(step.baseline_m3h, 2),
                        "began_between": [f"{t:%Y-%m-%d %H:%M}" for t in began]}
            known = [e for e in scada_events if e.evidence.get("zone_id") == zone_id
                     and abs(e.start - night) <= pd.Timedelta(days=2)]
            if known:
                known[0].evidence["zone_night_flow"] = evidence
                continue
            event = LeakEvent(night, night + pd.Timedelta(hours=4), f"zone {zone_id} night flow",
                              step.rise_m3h / step.threshold_m3h, est_size_m3h=step.rise_m3h, evidence=evidence)
            after = r_h[(r_h.index >= began[1]) & (r_h.index < min(began[1] + span, end))].mean()
            before = r_h[(r_h.index >= began[0] - span) & (r_h.index < began[0])].mean()
            shift = np.nan_to_num((after - before).to_numpy())  # a sensor silent either side: no change seen
            if detector.locate is not None and shift.any():
                loc = detector.locate(shift, 0, within=set(links.index[links == zone_id]))
                event.evidence["residual_shift_m"] = {s: round(float(v), 3) for s, v in zip(
                    detector.model.pressure_sensors, shift, strict=True)}
                event.evidence["cosine"] = round(loc.cosine, 3)
                if loc.cosine >= detector.min_cosine:  # else no leak signature explains the change
                    event.place(loc)
            events.append(event)
    return events


def _severity(event: LeakEvent) -> str:
    size = event.est_size_m3h or 0.0
    return "critical" if size >= 10 else "warning"
