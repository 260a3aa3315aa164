"""Leak detection over stored telemetry: ``suvar leaks scan`` raises leak alarms with their candidate pipes.

The utility's SCADA pressures (by node) and flows (by link) are read from the store, put on a regular grid,
and handed to the same detector as ``suvar leaks detect``: it learns normal behaviour from the first
``train_days`` and scans the rest. Where the utility's network file ships with Suvar (the demo's), each alarm is
localised by simulating candidate leaks with WNTR; otherwise the alarm carries no candidates.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import pandas as pd

from suvar.alarms import alarm
from suvar.leaks.detect import LeakEvent, detect, train
from suvar.store import Store

NETWORKS = Path(str(files("suvar") / "data" / "networks"))


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
        from suvar.leaks.localise import Localiser

        locate = Localiser(NETWORKS / source, model.pressure_sensors, model.flow_sensors, model.transform,
                           model.sigma_m, n_candidates=candidates, workers=workers).locate
    events = detect(model, p[p.index >= split], q[q.index >= split], locate, progress=progress, rejected=rejected)
    links = store.links(utility_id).set_index("link_id")["zone_id"]
    for event in events:
        zone = links.get(event.pipe) if event.pipe else None  # the DMA of the most likely pipe
        title = (f"Leak suspected from {pd.Timestamp(event.start):%Y-%m-%d %H:%M}"
                 + (f" near pipe {event.pipe}" if event.pipe else "")
                 + (f", about {event.est_size_m3h:.1f} m³/h" if event.est_size_m3h else ""))
        store.raise_alarm(alarm("leak", _severity(event), utility_id, title, key=f"{event.start}",
                                zone_id=zone, start=event.start, detail=event.as_dict()))
    return events


def _severity(event: LeakEvent) -> str:
    size = event.est_size_m3h or 0.0
    return "critical" if size >= 10 else "warning"
