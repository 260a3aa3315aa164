"""A read-only store over one utility of a Parquet lake written by :mod:`suvar.lake.export`.

:class:`LakeStore` is a :class:`~suvar.store.DuckStore` in memory whose registry tables are loaded from the lake's
``registry/utility_id=U/*.parquet`` files and whose ``readings`` table is replaced by a view over the utility's
``readings/utility_id=U/month=*/`` Parquet files. Every query method of the store (``series``,
``zone_aggregates``, ``customer_volumes`` ...) therefore runs unchanged, in DuckDB, straight over the Parquet
files, and the analyses that take a store (:func:`suvar.balance.zone.zone_balances`,
:func:`suvar.balance.zone.zone_night_flow`, :func:`suvar.allocation.audit.delivered_m3`) give the same answers
over the lake as over the store the lake was exported from.

:meth:`LakeStore.restrict` narrows the view to some sensors (a zone's meters), so that a task reads only the row
groups holding them: the export sorts each month by sensor and time, and DuckDB skips row groups by their
``sensor_id`` and ``ts`` statistics.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from suvar.store import DuckStore

#: Registry tables exported beside the readings, in load order.
REGISTRY_TABLES = ("utilities", "nodes", "links", "zones", "zone_boundary_links", "sensors", "connections",
                   "billing")


def readings_dir(lake_dir: str | Path, utility_id: str) -> Path:
    """The folder of a utility's monthly readings partitions."""
    return Path(lake_dir) / "readings" / f"utility_id={utility_id}"


def registry_dir(lake_dir: str | Path, utility_id: str) -> Path:
    """The folder of a utility's registry tables."""
    return Path(lake_dir) / "registry" / f"utility_id={utility_id}"


def lake_utilities(lake_dir: str | Path) -> list[str]:
    """The utilities a lake holds (those with a registry)."""
    root = Path(lake_dir) / "registry"
    return sorted(p.name.removeprefix("utility_id=") for p in root.glob("utility_id=*") if p.is_dir())


def read_registry(lake_dir: str | Path, utility_id: str, table: str) -> pd.DataFrame:
    """One registry table of a utility, as exported."""
    path = registry_dir(lake_dir, utility_id) / f"{table}.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no {table} table for utility {utility_id!r} in this lake "
                                "(write it with `suvar export parquet`)")
    return pd.read_parquet(path)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class LakeStore(DuckStore):
    """The store's read methods over one utility of a Parquet lake (see the module docstring).

    Parameters
    ----------
    lake_dir : the lake's root folder (holding ``readings/`` and ``registry/``)
    utility_id : the utility to open
    threads : DuckDB threads for this store's queries (1 for a Dask worker running one task per core)
    """

    def __init__(self, lake_dir: str | Path, utility_id: str, *, threads: int = 1) -> None:
        super().__init__(":memory:")
        self.lake_dir, self.utility_id = Path(lake_dir), utility_id
        registry = registry_dir(lake_dir, utility_id)
        if not (registry / "sensors.parquet").is_file():
            raise FileNotFoundError(f"{registry}: no registry for utility {utility_id!r} in this lake "
                                    "(write it with `suvar export parquet`)")
        with self._lock:
            self._con.execute(f"SET threads = {int(threads)}")
            for table in REGISTRY_TABLES:
                path = registry / f"{table}.parquet"
                if path.is_file():
                    self._con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet({_quote(str(path))})")
            self._con.execute("DROP TABLE readings")
        self.restrict(None)

    def restrict(self, sensor_ids: Iterable[str] | None) -> None:
        """Let ``readings`` show only ``sensor_ids`` (None: every sensor of the utility)."""
        files = sorted(readings_dir(self.lake_dir, self.utility_id).glob("month=*/*.parquet"))
        with self._lock:
            con = self._con
            if not files:
                con.execute("CREATE OR REPLACE VIEW readings AS SELECT NULL::TEXT AS sensor_id, "
                            "NULL::TIMESTAMP AS ts, NULL::DOUBLE AS value WHERE false")
                return
            source = f"read_parquet([{', '.join(_quote(str(f)) for f in files)}])"
            if sensor_ids is None:
                con.execute(f"CREATE OR REPLACE VIEW readings AS SELECT sensor_id, ts, value FROM {source}")
                return
            keep = sorted(set(sensor_ids))
            # A constant IN list is pushed into the Parquet scan, which skips the row groups whose sensor_id
            # statistics exclude every listed sensor (files are sorted by sensor). An IN (subquery) is not.
            listed = ", ".join(_quote(k) for k in keep) or "NULL"
            con.execute(f"CREATE OR REPLACE VIEW readings AS SELECT sensor_id, ts, value FROM {source} "
                        f"WHERE sensor_id IN ({listed})")


_local = threading.local()


def lake_store(lake_dir: str | Path, utility_id: str) -> LakeStore:
    """A :class:`LakeStore` kept per thread and reused by the tasks a worker runs (reloaded when the lake's
    registry has been rewritten since)."""
    registry = registry_dir(lake_dir, utility_id)
    stamp = max((os.stat(p).st_mtime_ns for p in registry.glob("*.parquet")), default=0)
    key = (str(Path(lake_dir).resolve()), utility_id)
    cache: dict = _local.__dict__.setdefault("stores", {})
    hit = cache.get(key)
    if hit is None or hit[0] != stamp:
        if hit is not None:
            hit[1].close()
        cache[key] = (stamp, LakeStore(lake_dir, utility_id))
    return cache[key][1]
