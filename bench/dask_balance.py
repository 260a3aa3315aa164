"""A year of zone balances on Dask (1 and 2 worker processes) against the DuckDB path on the same data.

The data are ``bench/balance.py``'s (its generator is reused: ``--zones`` DMAs of ``--meters-per-zone`` AMR meters,
an inlet meter and a pressure sensor each, 15-minute readings). The DuckDB path is ``zone_balances(store, "bench",
None, ...)`` on the store (DuckDB with its default threads); the Dask path exports the store to the Parquet lake
(``suvar export parquet``, timed) and runs :func:`suvar.lake.jobs.lake_zone_balances` on a LocalCluster, one task
per zone over the whole year, one thread per worker. Both compute daily and monthly balances with AMR
consumption (the workers have imported Suvar before the clock starts); the answers are compared (DuckDB adds
floating-point sums in its own order, so they agree to the last bits rather than exactly). The machine's load
average is recorded around each measurement.

Run: ``.venv/bin/python bench/dask_balance.py [--zones 100] [--meters-per-zone 100] [--days 365]``. Prints JSON
and writes ``bench/out/dask_balance.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

OUT = Path(__file__).parent / "out"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load() -> float:
    """One-minute load average of the machine."""
    return round(os.getloadavg()[0], 2)


def timed(label: str, fn):  # noqa: ANN001, ANN201
    before = load()
    t0 = time.perf_counter()
    value = fn()
    wall = time.perf_counter() - t0
    log(f"{label}: {wall:.1f} s (load {before} -> {load()})")
    return value, {"wall_s": round(wall, 2), "load_before": before, "load_after": load()}


def task_seconds(stream: list[dict]) -> list[float]:
    """Compute time of each task in a Dask task stream."""
    return [sum(s["stop"] - s["start"] for s in t["startstops"] if s["action"] == "compute") for t in stream]


def max_rel_diff(a: pd.DataFrame, b: pd.DataFrame, col: str) -> float:
    x, y = a[col].astype(float).to_numpy(), b[col].astype(float).to_numpy()
    return float((abs(x - y) / abs(x).clip(min=1e-12)).max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--zones", type=int, default=100)
    ap.add_argument("--meters-per-zone", type=int, default=100)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--workdir", default=None, help="folder for the store and lake (default: a temporary one)")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from distributed import get_task_stream

    from balance import START, build  # the generator of bench/balance.py
    from suvar.balance.zone import zone_balances
    from suvar.lake.cluster import dask_client, dask_mapper
    from suvar.lake.export import export_parquet
    from suvar.lake.jobs import lake_zone_balances
    from suvar.store import DuckStore

    end = START + pd.Timedelta(days=args.days)
    result: dict = {"machine": f"{os.cpu_count()} cores", "meters": args.zones * args.meters_per_zone,
                    "zones": args.zones, "days": args.days}
    with tempfile.TemporaryDirectory(prefix="suvar-bench-dask-", dir=args.workdir) as tmp:
        path, lake = Path(tmp) / "bench.duckdb", Path(tmp) / "lake"
        result["readings"] = build(path, args.zones, args.meters_per_zone, args.days)
        store = DuckStore(path)
        summary, result["export"] = timed("export parquet", lambda: export_parquet(store, lake))
        result["export"]["parquet_bytes"] = sum(f.stat().st_size for f in (lake / "readings").rglob("*.parquet"))
        result["export"]["bytes_per_reading"] = round(result["export"]["parquet_bytes"] / result["readings"], 2)
        result["export"]["months"] = len(summary["bench"])
        result["duckdb"] = {}
        ref = {}
        for freq in ("D", "MS"):
            ref[freq], result["duckdb"][freq] = timed(f"duckdb {freq}", lambda f=freq: zone_balances(
                store, "bench", None, START, end, freq=f, consumption="amr"))
            result["duckdb"][freq]["rows"] = len(ref[freq])
        store.close()
        result["dask"] = {}
        for n in [int(w) for w in args.workers.split(",")]:
            with dask_client(workers=n) as client:
                client.run(lambda: __import__("suvar.lake.jobs"))  # imports done before the clock starts
                runs = {}
                for freq in ("D", "MS"):
                    with get_task_stream(client) as stream:
                        frame, runs[freq] = timed(f"dask {n} workers {freq}", lambda f=freq: lake_zone_balances(
                            str(lake), "bench", START, end, freq=f, consumption="amr", mapper=dask_mapper(client)))
                    seconds = sorted(task_seconds(stream.data))
                    runs[freq].update({
                        "rows": len(frame), "tasks": len(seconds),
                        "task_s_median": round(seconds[len(seconds) // 2], 3), "task_s_max": round(seconds[-1], 3),
                        "ratio_duckdb_time_over_dask_time": round(result["duckdb"][freq]["wall_s"]
                                                                  / runs[freq]["wall_s"], 3),
                        "max_rel_diff_real_losses": max_rel_diff(ref[freq], frame, "real_losses_m3"),
                        "same_rows": bool((ref[freq][["zone_id", "period_start"]].to_numpy()
                                           == frame[["zone_id", "period_start"]].to_numpy()).all()),
                    })
                result["dask"][f"{n}_workers"] = runs
    OUT.mkdir(exist_ok=True)
    (OUT / "dask_balance.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
