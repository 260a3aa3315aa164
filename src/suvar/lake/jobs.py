"""Batch analyses over a Parquet lake as many independent tasks, run by any mapper (serial or Dask).

Each task opens the lake through :class:`~suvar.lake.store.LakeStore` (cached per worker thread), narrows it to
the sensors it needs, and calls the *same* function as the single-machine path on it:

==========================  ==========================================  ===============================
job                         one task per                                function called in the task
==========================  ==========================================  ===============================
:func:`lake_zone_balances`  (utility, zone), over the whole period      :func:`~suvar.balance.zone.zone_balances`
:func:`lake_night_flow`     (utility, zone, local calendar month)       :func:`~suvar.balance.zone.zone_night_flow`
:func:`lake_delivery_audit` (utility, chunk of users)                   :func:`~suvar.allocation.audit.delivered_m3`
==========================  ==========================================  ===============================

Why these cuts keep the answers identical to one ``zone_balances(store, utility, None, ...)`` call:

- A zone balance uses period-wide quantities of its own zone only: a missing meter-day is estimated from that
  meter's mean over the complete days of the *whole* requested period, and the average pressure behind the UARL
  is the zone's mean over the whole period. Cutting the period by month would change both; cutting by zone
  changes nothing (every zone's rows depend on that zone's meters, pressures, customers and billing alone).
- Night-flow results are per local day and each day uses only that day's samples, so the period is cut at
  local midnights (month starts in the zone's time zone) and the pieces are concatenated.
- A user's delivered volume is the sum of its own meter's readings, so users are independent.

The pieces are gathered in the single-machine path's order (zones sorted, days ascending, users sorted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial

import pandas as pd

from suvar.allocation.audit import DeliveryAudit, delivered_m3, delivery_audit
from suvar.balance.nightflow import NightFlowInputError
from suvar.balance.zone import zone_balances, zone_meters, zone_night_flow
from suvar.lake.cluster import Mapper, serial_map
from suvar.lake.store import lake_store, read_registry


def zone_sensor_ids(sensors: pd.DataFrame, boundary: pd.DataFrame, zone_id: str) -> list[str]:
    """The sensors a zone's analyses read: those registered in the zone and the flow meters on its boundary
    (which may be registered in a neighbouring zone)."""
    own = sensors.loc[sensors["zone_id"] == zone_id, "sensor_id"]
    return sorted(set(own) | set(zone_meters(boundary, sensors, zone_id).signs))


def _zone_store(lake_dir: str, utility_id: str, zone_id: str):  # noqa: ANN202
    store = lake_store(lake_dir, utility_id)
    store.restrict(zone_sensor_ids(store.sensors(utility_id), store.boundary_links(utility_id), zone_id))
    return store


def _balance_task(zone_id: str, *, lake_dir: str, utility_id: str, start: pd.Timestamp, end: pd.Timestamp,
                  options: dict) -> pd.DataFrame:
    return zone_balances(_zone_store(lake_dir, utility_id, zone_id), utility_id, zone_id, start, end, **options)


def _zone_ids(lake_dir: str, utility_id: str, zones: list[str] | None) -> list[str]:
    known = sorted(read_registry(lake_dir, utility_id, "zones")["zone_id"])
    if zones is None:
        return known
    unknown = sorted(set(zones) - set(known))
    if unknown:
        raise ValueError(f"utility {utility_id!r} has no zones {unknown} in the lake (zones: {known})")
    return sorted(set(zones))


def lake_zone_balances(
    lake_dir: str, utility_id: str, start: str | pd.Timestamp, end: str | pd.Timestamp, *,
    freq: str | None = "D", consumption: str = "billing", convention: str = "iwa",
    assumptions: dict[str, float] | None = None, step_s: int | None = None, zones: list[str] | None = None,
    mapper: Mapper = serial_map,
) -> pd.DataFrame:
    """:func:`~suvar.balance.zone.zone_balances` of every zone (or of ``zones``) over the lake, one task per zone:
    the same rows, in the same order, as ``zone_balances(store, utility_id, None, start, end, ...)``."""
    options = {"freq": freq, "consumption": consumption, "convention": convention, "assumptions": assumptions,
               "step_s": step_s}
    task = partial(_balance_task, lake_dir=str(lake_dir), utility_id=utility_id, start=pd.Timestamp(start),
                   end=pd.Timestamp(end), options=options)
    frames = mapper(task, _zone_ids(lake_dir, utility_id, zones))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def local_month_pieces(start: str | pd.Timestamp, end: str | pd.Timestamp, tz: str = "UTC"
                       ) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """``[start, end)`` (naive UTC) cut at the starts of the calendar months in time zone ``tz``."""
    start, end = pd.Timestamp(start).tz_localize(None), pd.Timestamp(end).tz_localize(None)
    first = start.tz_localize("UTC").tz_convert(tz).tz_localize(None).to_period("M").to_timestamp()
    cuts = [c.tz_localize(tz).tz_convert("UTC").tz_localize(None)
            for c in pd.date_range(first, end + pd.Timedelta(days=32), freq="MS")]
    edges = [start, *[c for c in cuts if start < c < end], end]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _night_task(item: tuple[str, pd.Timestamp, pd.Timestamp], *, lake_dir: str, utility_id: str,
                options: dict) -> pd.DataFrame | None:
    zone_id, p0, p1 = item
    store = _zone_store(lake_dir, utility_id, zone_id)
    meters = zone_meters(store.boundary_links(utility_id), store.sensors(utility_id), zone_id)
    if store.series(sorted(meters.signs), p0, p1).empty:
        return None
    try:
        return zone_night_flow(store, utility_id, zone_id, p0, p1, **options)
    except NightFlowInputError as exc:
        if "no samples in the night window" in str(exc):  # a piece without a night, e.g. an afternoon
            return None
        raise


@dataclass
class ZoneNightFlows:
    """Result of :func:`lake_night_flow`: per zone, the frame :func:`~suvar.balance.zone.zone_night_flow` gives
    for the whole period; zones that could not be analysed, with the reason."""

    zones: dict[str, pd.DataFrame] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def long(self) -> pd.DataFrame:
        """All zones in one frame with ``zone_id`` and ``date`` columns."""
        if not self.zones:
            return pd.DataFrame(columns=["zone_id", "date"])
        return pd.concat({z: f for z, f in self.zones.items()}, names=["zone_id", "date"]).reset_index()


def lake_night_flow(
    lake_dir: str, utility_id: str, start: str | pd.Timestamp, end: str | pd.Timestamp, *, tz: str = "UTC",
    window: tuple[str, str] = ("02:00", "04:00"), zones: list[str] | None = None, mapper: Mapper = serial_map,
) -> ZoneNightFlows:
    """Night-flow analysis of every DMA (or of ``zones``) over the lake, one task per (zone, local month).

    Zones without a metered boundary are skipped with the reason; a zone's frame equals
    ``zone_night_flow(store, utility_id, zone, start, end, tz=tz, window=window)``.
    """
    sensors = read_registry(lake_dir, utility_id, "sensors")
    boundary = read_registry(lake_dir, utility_id, "zone_boundary_links")
    out = ZoneNightFlows()
    zone_ids = []
    for z in _zone_ids(lake_dir, utility_id, zones):
        if zone_meters(boundary, sensors, z).signs:
            zone_ids.append(z)
        else:
            out.skipped[z] = f"zone {z!r} has no flow meter on its boundary links"
    pieces = local_month_pieces(start, end, tz)
    items = [(z, p0, p1) for z in zone_ids for p0, p1 in pieces]
    task = partial(_night_task, lake_dir=str(lake_dir), utility_id=utility_id,
                   options={"tz": tz, "window": window})
    results = mapper(task, items)
    for z in zone_ids:
        frames = [f for (zz, _, _), f in zip(items, results, strict=True) if zz == z and f is not None]
        if frames:
            out.zones[z] = pd.concat(frames)
        else:
            out.skipped[z] = f"no samples in the night window {window[0]}-{window[1]}"
    return out


def _deliveries_task(chunk: dict[str, str], *, lake_dir: str, utility_id: str, start: pd.Timestamp,
                     end: pd.Timestamp) -> pd.Series:
    store = lake_store(lake_dir, utility_id)
    store.restrict(chunk.values())
    return delivered_m3(store, chunk, start, end)


def lake_delivery_audit(
    lake_dir: str, utility_id: str, plan: pd.DataFrame, meters: Mapping[str, str],
    start: str | pd.Timestamp, end: str | pd.Timestamp, *, tolerance: float = 0.05, users_per_task: int = 500,
    mapper: Mapper = serial_map,
) -> DeliveryAudit:
    """The delivery audit over the lake: metered deliveries summed per chunk of users (one task each), then
    :func:`~suvar.allocation.audit.delivery_audit` of the plan against them. Equal to
    ``delivery_audit(plan, delivered_m3(store, meters, start, end), tolerance)``."""
    users = sorted(meters)
    chunks = [{u: meters[u] for u in users[i:i + users_per_task]} for i in range(0, len(users), users_per_task)]
    task = partial(_deliveries_task, lake_dir=str(lake_dir), utility_id=utility_id, start=pd.Timestamp(start),
                   end=pd.Timestamp(end))
    parts = [p for p in mapper(task, chunks) if len(p)]
    metered = pd.concat(parts) if parts else pd.Series(dtype=float, name="metered_m3")
    return delivery_audit(plan, metered, tolerance)
