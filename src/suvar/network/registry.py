"""Sensors and customer meters: the registry rows and their CSV import.

Sensor CSV columns: ``sensor_id, utility_id, kind, unit`` and optionally ``node_id, link_id, zone_id,
connection_id, customer_class, billed, description``. A sensor's zone, when not given, is its node's zone, or
for a link sensor the zone that holds the link. ``kind`` is one of pressure, flow, level, volume, quality.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from suvar.store import Store
from suvar.telemetry.units import KINDS, UnitError, conversion

SENSOR_COLUMNS = ["sensor_id", "utility_id", "kind", "unit", "node_id", "link_id", "zone_id", "connection_id",
                  "customer_class", "billed", "description"]


class RegistryError(ValueError):
    """A bad registry row; the message names the file, line and field."""


def check_sensors(frame: pd.DataFrame, store: Store, source: str = "sensors") -> pd.DataFrame:
    """Validate sensor rows against the network and fill each missing zone; returns the rows to store."""
    missing = [c for c in SENSOR_COLUMNS[:4] if c not in frame.columns]
    if missing:
        raise RegistryError(f"{source}: missing column(s) {', '.join(missing)}")
    frame = frame.reindex(columns=SENSOR_COLUMNS).copy()
    frame = frame.astype({c: object for c in SENSOR_COLUMNS}).where(frame.notna(), None)
    cache: dict[str, tuple[dict, dict]] = {}
    for i, row in enumerate(frame.itertuples(index=False), start=2):
        where = f"{source}, line {i}"
        for col in SENSOR_COLUMNS[:4]:
            if not getattr(row, col):
                raise RegistryError(f"{where}: empty {col}")
        if row.kind not in KINDS:
            raise RegistryError(f"{where}: kind {row.kind!r} is not one of {', '.join(KINDS)}")
        try:
            conversion(row.kind, row.unit)
        except UnitError as exc:
            raise RegistryError(f"{where}: unit: {exc}") from None
        if row.utility_id not in cache:
            nodes, links = store.nodes(row.utility_id), store.links(row.utility_id)
            cache[row.utility_id] = (dict(zip(nodes["node_id"], nodes["zone_id"], strict=True)),
                                     dict(zip(links["link_id"], links["zone_id"], strict=True)))
        node_zone, link_zone = cache[row.utility_id]
        if row.node_id and row.node_id not in node_zone:
            raise RegistryError(f"{where}: node {row.node_id!r} is not in utility {row.utility_id!r}")
        if row.link_id and row.link_id not in link_zone:
            raise RegistryError(f"{where}: link {row.link_id!r} is not in utility {row.utility_id!r}")
        if not row.zone_id:
            zone = node_zone.get(row.node_id) if row.node_id else link_zone.get(row.link_id)
            frame.iat[i - 2, SENSOR_COLUMNS.index("zone_id")] = zone if pd.notna(zone) else None
    frame["billed"] = frame["billed"].map(_truth)
    return frame


def import_sensors(store: Store, path: str | Path) -> int:
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False).replace("", None)
    except (OSError, ValueError) as exc:  # ValueError: pandas' parser errors and UnicodeDecodeError
        raise RegistryError(f"{path}: not a readable UTF-8 CSV: {exc}") from exc
    return store.upsert_sensors(check_sensors(frame, store, str(path)))


def _truth(v: object) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    text = str(v).strip().lower()
    if text in ("1", "true", "yes", "billed", "y"):
        return True
    if text in ("0", "false", "no", "unbilled", "n"):
        return False
    raise RegistryError(f"billed must be true or false, not {v!r}")
