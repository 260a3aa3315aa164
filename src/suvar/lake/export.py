"""Export of telemetry to a Parquet dataset partitioned by utility and month, with the registry beside it.

Layout (Hive style, readable by DuckDB, pyarrow.dataset, Spark, Dask, Polars)::

    OUT/readings/utility_id=U/month=YYYY-MM/part-00000.parquet   sensor_id, ts (UTC), value (canonical unit)
    OUT/registry/utility_id=U/{utilities,nodes,links,zones,zone_boundary_links,sensors,connections,billing}.parquet

Each month's file is sorted by ``(sensor_id, ts)`` and compressed with zstd, so a reader asking for some sensors
skips the other row groups by their statistics. Months are whole UTC calendar months: ``start``/``end`` are
widened to month boundaries. Exporting a month again **replaces** its partition (written to a staging folder
beside it, then swapped in by renames), so a re-export is idempotent and a reader never sees half a month.

A :class:`~suvar.store.DuckStore` is exported by DuckDB's own ``COPY ... TO (FORMAT PARQUET)``; any other store
through its ``series`` method and pyarrow, sensor by sensor in chunks.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from suvar.lake.store import REGISTRY_TABLES, readings_dir, registry_dir
from suvar.store import DuckStore

SCHEMA = pa.schema([("sensor_id", pa.string()), ("ts", pa.timestamp("us")), ("value", pa.float64())])
#: Rows per Parquet row group: the unit a reader can skip.
ROW_GROUP_ROWS = 122_880
FAR_PAST, FAR_FUTURE = pd.Timestamp("1900-01-01"), pd.Timestamp("2200-01-01")


def month_floor(ts: pd.Timestamp) -> pd.Timestamp:
    """The start of ``ts``'s month (naive UTC)."""
    return pd.Timestamp(ts).tz_localize(None).to_period("M").to_timestamp()


def month_ceil(ts: pd.Timestamp) -> pd.Timestamp:
    """The first month start at or after ``ts``."""
    floor = month_floor(ts)
    return floor if floor == pd.Timestamp(ts).tz_localize(None) else floor + pd.offsets.MonthBegin(1)


def _quote(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _replace_dir(staged: Path, target: Path) -> None:
    """Swap ``staged`` in at ``target`` by renames (the old folder, if any, is removed afterwards)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(f".old-{target.name}-{uuid.uuid4().hex[:8]}")
    if target.exists():
        os.replace(target, old)
    os.replace(staged, target)
    shutil.rmtree(old, ignore_errors=True)


def export_registry(store: DuckStore, utility_id: str, out_dir: str | Path) -> dict[str, int]:
    """Write a utility's registry tables (read through the store's methods) beside the readings."""
    frames = {
        "utilities": store.utilities().query("utility_id == @utility_id"),
        "nodes": store.nodes(utility_id),
        "links": store.links(utility_id),
        "zones": store.zones(utility_id)[["utility_id", "zone_id", "name"]],
        "zone_boundary_links": store.boundary_links(utility_id).assign(utility_id=utility_id),
        "sensors": store.sensors(utility_id),
        "connections": store.connections(utility_id),
        "billing": store.billing(utility_id, FAR_PAST, FAR_FUTURE),
    }
    target = registry_dir(out_dir, utility_id)
    staged = target.with_name(f".staging-{target.name}-{uuid.uuid4().hex[:8]}")
    staged.mkdir(parents=True)
    for table in REGISTRY_TABLES:
        frames[table].reset_index(drop=True).to_parquet(staged / f"{table}.parquet", index=False)
    _replace_dir(staged, target)
    return {t: len(f) for t, f in frames.items()}


def _months_duck(store: DuckStore, utility_id: str, start: pd.Timestamp, end: pd.Timestamp) -> list[pd.Timestamp]:
    with store.lock:
        rows = store._con.execute(  # noqa: SLF001 - the DuckDB fast path of this exporter
            """SELECT DISTINCT date_trunc('month', r.ts) FROM readings r JOIN sensors s USING (sensor_id)
               WHERE s.utility_id = ? AND r.ts >= ? AND r.ts < ? ORDER BY 1""",
            [utility_id, start, end]).fetchall()
    return [pd.Timestamp(r[0]) for r in rows]


def _write_month_duck(store: DuckStore, utility_id: str, m0: pd.Timestamp, m1: pd.Timestamp, folder: Path) -> int:
    query = (f"SELECT r.sensor_id, r.ts, r.value FROM readings r JOIN sensors s USING (sensor_id) "
             f"WHERE s.utility_id = {_quote(utility_id)} AND r.ts >= TIMESTAMP {_quote(m0)} "
             f"AND r.ts < TIMESTAMP {_quote(m1)} ORDER BY r.sensor_id, r.ts")
    with store.lock:
        con = store._con  # noqa: SLF001 - the DuckDB fast path of this exporter
        con.execute(f"COPY ({query}) TO {_quote(folder / 'part-00000.parquet')} "
                    f"(FORMAT PARQUET, COMPRESSION ZSTD, ROW_GROUP_SIZE {ROW_GROUP_ROWS})")
        return int(pq.ParquetFile(folder / "part-00000.parquet").metadata.num_rows)


def _write_month_generic(store: DuckStore, sensor_ids: list[str], m0: pd.Timestamp, m1: pd.Timestamp,
                         folder: Path, chunk: int) -> int:
    rows = 0
    for i in range(0, len(sensor_ids), chunk):
        frame = store.series(sensor_ids[i:i + chunk], m0, m1)
        if frame.empty:
            continue
        table = pa.Table.from_pandas(frame[["sensor_id", "ts", "value"]], preserve_index=False).cast(SCHEMA)
        pq.write_table(table, folder / f"part-{i // chunk:05d}.parquet", compression="zstd",
                       row_group_size=ROW_GROUP_ROWS)
        rows += table.num_rows
    return rows


def export_parquet(
    store: DuckStore, out_dir: str | Path, *, utility_id: str | None = None,
    start: str | pd.Timestamp | None = None, end: str | pd.Timestamp | None = None,
    fast: bool = True, chunk_sensors: int = 500, progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, int]]:
    """Export telemetry (and the registry) of one utility, or of all, to the lake at ``out_dir``.

    ``[start, end)`` is widened to whole months; without it every month holding readings is exported (the
    generic path, for stores other than DuckDB or ``fast=False``, needs both). Returns ``{utility: {month:
    rows}}``; a month of the range with no readings has its partition removed.
    """
    out_dir = Path(out_dir)
    say = progress or (lambda _msg: None)
    known = store.utilities()["utility_id"].tolist()
    if utility_id is not None and utility_id not in known:
        raise ValueError(f"no utility {utility_id!r} in the store (utilities: {known})")
    lo = month_floor(pd.Timestamp(start)) if start is not None else FAR_PAST
    hi = month_ceil(pd.Timestamp(end)) if end is not None else FAR_FUTURE
    if lo >= hi:
        raise ValueError(f"empty export range: from {start} to {end}")
    duck = fast and type(store) is DuckStore
    if not duck and (start is None or end is None):
        raise ValueError("exporting from this store needs both --from and --to")
    summary: dict[str, dict[str, int]] = {}
    for u in [utility_id] if utility_id is not None else known:
        export_registry(store, u, out_dir)
        sensor_ids = sorted(store.sensors(u)["sensor_id"])
        if duck:
            months = _months_duck(store, u, lo, hi)
            clear = pd.date_range(lo, hi, freq="MS", inclusive="left") if start is not None and end is not None \
                else pd.DatetimeIndex([])
        else:
            months = list(pd.date_range(lo, hi, freq="MS", inclusive="left"))
            clear = pd.DatetimeIndex([])
        base = readings_dir(out_dir, u)
        base.mkdir(parents=True, exist_ok=True)
        done: dict[str, int] = {}
        for m0 in months:
            m1 = m0 + pd.offsets.MonthBegin(1)
            name = f"month={m0:%Y-%m}"
            staged = base / f".staging-{name}-{uuid.uuid4().hex[:8]}"
            staged.mkdir()
            try:
                n = (_write_month_duck(store, u, m0, m1, staged) if duck
                     else _write_month_generic(store, sensor_ids, m0, m1, staged, chunk_sensors))
            except BaseException:
                shutil.rmtree(staged, ignore_errors=True)
                raise
            if n:
                _replace_dir(staged, base / name)
                done[f"{m0:%Y-%m}"] = n
                say(f"{u} {m0:%Y-%m}: {n:,} readings")
            else:
                shutil.rmtree(staged)
                shutil.rmtree(base / name, ignore_errors=True)
        for m0 in clear:  # months of an explicit range that now hold nothing
            if f"{m0:%Y-%m}" not in done:
                shutil.rmtree(base / f"month={m0:%Y-%m}", ignore_errors=True)
        summary[u] = done
    return summary
