"""Ingest: reader -> validation -> store, the same pipeline for files, HTTP and MQTT."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa

from suvar.config import Settings, load_settings
from suvar.security.audit_log import record
from suvar.store import IngestCounts, Store
from suvar.telemetry.readers import BATTLEDIM_FILES, FormatError, read_battledim, read_long
from suvar.telemetry.validate import SensorInfo, validate


def sensor_index(store: Store) -> dict[str, SensorInfo]:
    """The registry as validation needs it: sensor id -> kind and default unit."""
    df = store.sensors()
    return {s: SensorInfo(k, u) for s, k, u in zip(df["sensor_id"], df["kind"], df["unit"], strict=True)}


def ingest_batch(
    store: Store,
    batch: pa.Table,
    source: str,
    *,
    sensors: dict[str, SensorInfo] | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
    who: str = "system",
    where: str | None = None,
) -> IngestCounts:
    """Validate ``batch`` and store it in one transaction; returns the counts. The batch is recorded in the
    audit log as written by ``who`` from ``where``."""
    settings = settings or load_settings()
    checked = validate(
        batch,
        sensors if sensors is not None else sensor_index(store),
        limits=settings.limits,
        future_tolerance_s=settings.future_tolerance_s,
        now=now,
    )
    counts = store.write_batch(source, checked.accepted, checked.rejected, unique_keys=checked.unique_keys)
    record(store, who, "ingest", {"source": source, "batch_id": counts.batch_id, **counts.as_dict()}, where)
    return counts


def ingest_file(
    store: Store,
    path: str | Path,
    *,
    fmt: str = "long",
    utility_id: str | None = None,
    tz: str = "UTC",
    settings: Settings | None = None,
    now: datetime | None = None,
    who: str = "system",
) -> IngestCounts:
    """Ingest one file, or for ``fmt='battledim'`` a file or a directory of BattLeDIM files."""
    path = Path(path)
    if not path.exists():
        raise FormatError(f"{path}: no such file or directory")
    if fmt == "long":
        return ingest_batch(store, read_long(path), f"file:{path.name}", settings=settings, now=now, who=who,
                            where=str(path))
    if fmt != "battledim":
        raise FormatError(f"{path}: unknown format {fmt!r}; expected long or battledim")
    if not utility_id:
        raise FormatError(f"{path}: the BattLeDIM layout needs --utility to map its columns to sensors")
    files = sorted(p for p in path.iterdir() if p.name in BATTLEDIM_FILES) if path.is_dir() else [path]
    if not files:
        raise FormatError(f"{path}: holds none of {', '.join(BATTLEDIM_FILES)}")
    sensors_df = store.sensors(utility_id)
    total = IngestCounts()
    for file in files:
        batch = read_battledim(file, sensors_df, utility_id, tz=tz)
        total += ingest_batch(store, batch, f"file:{file.name}", settings=settings, now=now, who=who, where=str(file))
    return total
