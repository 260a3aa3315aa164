"""Sensor faults and data quality: gaps and stuck values in stored SCADA telemetry, quarantined input.

A *gap* is a run of missing reporting steps at least ``gap_h`` long; a *stuck* sensor repeats exactly the same
non-zero value for at least ``stuck_h`` hours (a live pressure, level or flow signal always carries some noise;
an exact zero is a stopped pump or a closed valve). Customer meters are left out of the stuck test, since a
household legitimately uses nothing for hours at night. Each
fault and each batch with quarantined rows becomes an alarm (``sensor_fault`` and ``data_quality``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from suvar.alarms import alarm
from suvar.store import Store


def sensor_faults(readings: pd.DataFrame, step_s: int, *, gap_h: float = 1.0, stuck_h: float = 6.0,
                  start: pd.Timestamp | None = None, end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Gaps and stuck runs per sensor.

    Parameters
    ----------
    readings : ``sensor_id, ts, value`` (one sensor or many; ``ts`` naive UTC).
    step_s : the nominal reporting interval, s.
    start, end : the period the sensors should cover (default: each sensor's first and last reading).

    Returns
    -------
    DataFrame of ``sensor_id, fault ('gap' or 'stuck'), start, end, hours, value`` (the stuck value).
    """
    rows = []
    step = pd.Timedelta(seconds=step_s)
    for sid, g in readings.sort_values("ts").groupby("sensor_id"):
        ts = pd.DatetimeIndex(g["ts"])
        lo, hi = start if start is not None else ts[0], end if end is not None else ts[-1] + step
        edges = ts.insert(0, pd.Timestamp(lo) - step).append(pd.DatetimeIndex([pd.Timestamp(hi)]))
        missing = (np.diff(edges.asi8) // step.value) - 1  # steps missing between consecutive readings
        for i in np.flatnonzero(missing * step_s >= gap_h * 3600):
            rows.append((sid, "gap", edges[i] + step, edges[i + 1], missing[i] * step_s / 3600, np.nan))
        values = g["value"].to_numpy()
        change = np.flatnonzero(np.diff(values) != 0) + 1
        bounds = np.concatenate([[0], change, [len(values)]])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            hours = (b - a) * step_s / 3600  # the time the repeated samples stand for
            if hours >= stuck_h and values[a] != 0.0:  # exact zero is a stopped pump or a closed valve
                rows.append((sid, "stuck", ts[a], ts[b - 1] + step, hours, float(values[a])))
    return pd.DataFrame(rows, columns=["sensor_id", "fault", "start", "end", "hours", "value"])


def scan_data_quality(store: Store, utility_id: str, start: str | None = None, end: str | None = None,
                      *, step_s: int | None = None) -> pd.DataFrame:
    """Find the utility's SCADA sensor faults and raise one alarm each; raise a data-quality alarm for each
    ingest source that had rows quarantined. Returns the faults."""
    sensors = store.sensors(utility_id)
    scada = sensors[sensors["connection_id"].isna() & sensors["kind"].isin(["pressure", "level", "flow"])]
    readings = store.series(scada["sensor_id"].tolist(), start, end)
    if readings.empty:
        return sensor_faults(readings, step_s or 300)
    if step_s is None:
        first = readings[readings["sensor_id"] == readings["sensor_id"].iloc[0]]["ts"]
        step_s = int(first.diff().median().total_seconds())
    lo = pd.Timestamp(start) if start else readings["ts"].min()
    hi = pd.Timestamp(end) if end else readings["ts"].max() + pd.Timedelta(seconds=step_s)
    faults = sensor_faults(readings, step_s, start=lo, end=hi)
    zones = dict(zip(scada["sensor_id"], scada["zone_id"], strict=True))
    for f in faults.itertuples():
        what = "no readings" if f.fault == "gap" else f"stuck at {f.value:g}"
        title = f"{f.sensor_id}: {what} for {f.hours:.1f} h from {f.start:%Y-%m-%d %H:%M}"
        store.raise_alarm(alarm(
            "sensor_fault", "warning", utility_id, title,
            key=f"{f.sensor_id}:{f.fault}:{f.start}", zone_id=zones.get(f.sensor_id), start=f.start,
            detail={"sensor_id": f.sensor_id, "fault": f.fault, "end": str(f.end), "hours": f.hours}))
    quarantined = store.quarantine(limit=1_000_000)
    ids = set(sensors["sensor_id"])
    mine = quarantined[quarantined["sensor_id"].isin(ids) | quarantined["sensor_id"].isna()]
    for (batch, source), g in mine.groupby(["batch_id", "source"]):
        counts = g["reason"].value_counts().to_dict()
        if not g["sensor_id"].isin(ids).any():
            continue  # a batch of rows that name none of this utility's sensors belongs to nobody here
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(counts.items()))
        store.raise_alarm(alarm(
            "data_quality", "info", utility_id, f"{source}: {len(g)} rows quarantined ({reasons})",
            key=f"batch:{batch}",
            detail={"batch_id": int(batch), "source": source, "reasons": counts}))
    return faults
