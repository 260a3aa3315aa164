"""Leak detection over stored telemetry: ``suvar leaks scan`` raises leak alarms with their candidate pipes.

The utility's SCADA pressures (by node) and flows (by link) are read from the store, put on a regular grid,
and handed to the same detector as ``suvar leaks detect``: it learns normal behaviour from the first
``train_days`` and scans the rest. Each zone with smart meters is also watched through its flow balance: a step in
its net night flow (:mod:`suvar.leaks.nightsteps`) that the SCADA detector has not already alarmed in that zone is
a leak alarm of its own, localised among the zone's pipes on the raw night-time pressure change. Where the
utility's network file ships with Suvar (the demo's), alarms are localised by simulating candidate leaks with
WNTR: the candidates come ranked by likelihood, and the pipe the alarm names is the centre of the likeliest 300 m
area, as in the BattLeDIM interface (on the 28-day demo, p18, 430 m from the leaking p257, where the likeliest
single pipe, p311, is 517 m away; p257 is the second candidate); otherwise they carry no candidates.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from suvar.alarms import alarm
from suvar.balance.zone import zone_night_flow
from suvar.leaks.detect import NIGHT_HOURS, LeakEvent, detect, hourly_inputs, raw_pressure_change, train
from suvar.leaks.nightsteps import night_flow_steps
from suvar.store import Store

NETWORKS = Path(str(files("suvar") / "data" / "networks"))
#: Below this fit (cosine of observed and simulated pressure change) a zone-flow alarm names no pipes.
MIN_FIT_COSINE = 0.5


def _wide(readings: pd.DataFrame, names: dict[str, str], step_s: int) -> pd.DataFrame:
    """Readings (sensor_id, ts, value) as a regular grid, one column per location id."""
    if readings.empty:
        return pd.DataFrame()
    frame = readings.assign(where=readings["sensor_id"].map(names)).pivot_table(
        index="ts", columns="where", values="value", aggfunc="mean")
    grid = pd.date_range(frame.index.min(), frame.index.max(), freq=f"{step_s}s")
    return frame.reindex(grid)


def scan_utility(
    store: Store, utility_id: str, *, train_days: float = 7.0, start: str | None = None, end: str | None = None,
    workers: int = 2, candidates: int = 40, progress: Callable[[float], None] | None = None,
    rejected: list | None = None,
) -> list[LeakEvent]:
    """Detect (and, with a shipped network file, localise) leaks in a utility's stored telemetry; each event is
    raised as an alarm. Returns the events; ``progress`` gets the fraction scanned, and ``rejected`` (a list)
    collects the alarms the detector judged to be repairs, growth of a known leak or sensor faults."""
    sensors = store.sensors(utility_id)
    pressure = sensors[(sensors["kind"] == "pressure") & sensors["node_id"].notna()]
    flow = sensors[(sensors["kind"] == "flow") & sensors["link_id"].notna() & sensors["connection_id"].isna()]
    readings = store.series([*pressure["sensor_id"], *flow["sensor_id"]], start, end)
    if readings.empty:
        raise ValueError(f"utility {utility_id!r} has no SCADA readings in the period")
    step_s = int(readings.groupby("sensor_id")["ts"].diff().dt.total_seconds().median())
    p = _wide(readings[readings["sensor_id"].isin(pressure["sensor_id"])],
              dict(zip(pressure["sensor_id"], pressure["node_id"], strict=True)), step_s)
    q = _wide(readings[readings["sensor_id"].isin(flow["sensor_id"])],
              dict(zip(flow["sensor_id"], flow["link_id"], strict=True)), step_s).reindex(p.index)
    split = p.index[0] + pd.Timedelta(days=train_days)
    model = train(p[p.index < split], q[q.index < split])
    locate = None
    source = store.utilities().set_index("utility_id").loc[utility_id, "source_file"]
    if source and (NETWORKS / source).is_file():
        from suvar.leaks.localise import SEARCH_RADIUS_M, Localiser

        locate = Localiser(NETWORKS / source, model.pressure_sensors, model.flow_sensors, model.transform,
                           model.sigma_m, n_candidates=candidates, workers=workers,
                           search_radius_m=SEARCH_RADIUS_M).locate
    events = detect(model, p[p.index >= split], q[q.index >= split], locate, progress=progress, rejected=rejected)
    links = store.links(utility_id).set_index("link_id")["zone_id"]
    for event in events:
        event.evidence["zone_id"] = links.get(event.pipe) if event.pipe else None  # the DMA of the pipe it names
    p_h = hourly_inputs(model, p, q)[0]
    until = pd.Timestamp(end) if end else p.index[-1] + pd.Timedelta(seconds=step_s)
    events += zone_flow_events(store, utility_id, links, events, p_h, split, until, train_days, locate)
    events.sort(key=lambda e: e.start)
    for event in events:
        zone = event.evidence["zone_id"]
        title = (f"Leak suspected from {pd.Timestamp(event.start):%Y-%m-%d %H:%M}"
                 + (f" near pipe {event.pipe}" if event.pipe else f" in zone {zone}" if zone else "")
                 + (f", about {event.est_size_m3h:.1f} m³/h" if event.est_size_m3h else ""))
        store.raise_alarm(alarm("leak", _severity(event), utility_id, title, key=f"{event.start}",
                                zone_id=zone, start=event.start, detail=event.as_dict()))
    return events


def zone_flow_events(
    store: Store, utility_id: str, links: pd.Series, scada_events: list[LeakEvent], p_h: pd.DataFrame,
    split: pd.Timestamp, end: pd.Timestamp, train_days: float, locate: Callable | None,
) -> list[LeakEvent]:
    """Leak events from steps in each zone's net night flow (zones with smart meters), except where the SCADA
    detector already alarmed that zone within two days; those alarms gain the step as evidence instead."""
    events = []
    first = split - pd.Timedelta(days=train_days)
    for zone_id in store.zones(utility_id)["zone_id"]:
        if not store.sensors(utility_id, zone_id)["connection_id"].notna().any():
            continue  # no smart meters: no measured night use to balance against
        try:
            nnf = zone_night_flow(store, utility_id, zone_id, first, end)["net_night_flow_m3h"]
        except ValueError:
            continue  # no boundary meter
        for step in night_flow_steps(nnf, int(train_days)):
            night = pd.Timestamp(step.night)
            evidence = {"zone_id": zone_id, "net_night_flow_rise_m3h": round(step.rise_m3h, 2),
                        "net_night_flow_baseline_m3h": round(step.baseline_m3h, 2),
                        "began_between": [f"{pd.Timestamp(step.last_normal_night):%Y-%m-%d} 04:00",
                                          f"{night:%Y-%m-%d} 04:00"]}
            known = [e for e in scada_events if e.evidence.get("zone_id") == zone_id
                     and abs(e.start - night) <= pd.Timedelta(days=2)]
            if known:
                known[0].evidence["zone_night_flow"] = evidence
                continue
            event = LeakEvent(night, night + pd.Timedelta(hours=4), f"zone {zone_id} night flow",
                              step.rise_m3h / step.threshold_m3h, est_size_m3h=step.rise_m3h, evidence=evidence)
            # Localise on the first whole night with the leak (the step's night may have begun without it).
            after = night + pd.Timedelta(days=1) if night + pd.Timedelta(days=1, hours=6) <= end else night
            raw = raw_pressure_change(p_h, after, after + pd.Timedelta(hours=6), baseline_end=night)
            if locate is not None and raw is not None:
                zone_pipes = set(links.index[links == zone_id])
                loc = locate(np.where(np.isfinite(raw), raw, 0.0), NIGHT_HOURS[2], raw=True, within=zone_pipes)
                event.evidence["cosine"] = round(loc.cosine, 3)
                if loc.cosine >= MIN_FIT_COSINE:  # else no leak signature explains the night's pressures
                    event.candidates, event.located = loc.candidates, loc.pipe
            events.append(event)
    return events


def _severity(event: LeakEvent) -> str:
    size = event.est_size_m3h or 0.0
    return "critical" if size >= 10 else "warning"
