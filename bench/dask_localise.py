"""Leak-localisation sweep: candidate leak simulations in one process, in the process pool and on Dask (1 and 2
worker processes), with the signatures compared for equality.

The sweep is what :class:`suvar.leaks.localise.Localiser` runs for alarms: for each of ``--candidates`` pipes
(those nearest to a shifted sensor) and each hour of ``--hours``, a reference leak is simulated with WNTR's
EPANET engine over a 3-hour window and its mean sensor readings are kept. Each candidate is one task. The machine's
load average is recorded around each measurement. Dask workers import Suvar and WNTR before the clock starts, as a
long-running cluster's workers would have.

Run: ``.venv/bin/python bench/dask_localise.py [--network ltown] [--candidates 48] [--hours 2,14]``. Prints JSON
and writes ``bench/out/dask_localise.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "out"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load() -> float:
    return round(os.getloadavg()[0], 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--network", default="ltown")
    ap.add_argument("--candidates", type=int, default=48)
    ap.add_argument("--hours", default="2,14")
    ap.add_argument("--workers", default="1,2", help="comma-separated Dask worker counts")
    args = ap.parse_args()
    from distributed import get_task_stream

    from suvar.lake.cluster import dask_client, dask_mapper
    from suvar.leaks.localise import Localiser
    from suvar.leaks.scenarios import network_path, sensor_set

    inp, sensors = network_path(args.network), sensor_set(args.network)
    pressure, flow = list(sensors.pressure_nodes), list(sensors.flow_links)
    transform = np.hstack([np.eye(len(pressure)), np.zeros((len(pressure), len(flow)))])
    hours = [int(h) for h in args.hours.split(",")]
    shift = np.zeros(len(pressure))
    shift[len(pressure) // 2] = -1.0

    def sweep(**kw) -> tuple[dict, dict]:  # noqa: ANN003
        loc = Localiser(inp, pressure, flow, transform, np.ones(len(pressure)), n_candidates=args.candidates, **kw)
        pipes = loc.candidate_pipes(shift)
        before, t0 = load(), time.perf_counter()
        sigs = {h: loc.signatures(pipes, h) for h in hours}
        wall = time.perf_counter() - t0
        return sigs, {"wall_s": round(wall, 2), "load_before": before, "load_after": load(),
                      "simulations": len(pipes) * len(hours)}

    def same(a: dict, b: dict) -> bool:
        return all(list(a[h]) == list(b[h]) and all(np.array_equal(a[h][p][0], b[h][p][0]) and a[h][p][1]
                                                    == b[h][p][1] for p in a[h]) for h in hours)

    result: dict = {"machine": f"{os.cpu_count()} cores", "network": args.network, "candidates": args.candidates,
                    "hours": hours}
    ref, result["serial"] = sweep(workers=1)
    log(f"serial: {result['serial']}")
    pool, result["process_pool_2"] = sweep(workers=2)
    result["process_pool_2"]["identical"] = same(ref, pool)
    log(f"process pool, 2: {result['process_pool_2']}")
    for n in [int(w) for w in args.workers.split(",")]:
        with dask_client(workers=n) as client:
            client.run(lambda: __import__("suvar.leaks.localise"))  # workers import WNTR before the clock starts
            with get_task_stream(client) as stream:
                sigs, run = sweep(mapper=dask_mapper(client))
            seconds = sorted(sum(s["stop"] - s["start"] for s in t["startstops"] if s["action"] == "compute")
                             for t in stream.data)
            run.update({"identical": same(ref, sigs), "task_s_median": round(seconds[len(seconds) // 2], 3),
                        "ratio_serial_time_over_dask_time": round(result["serial"]["wall_s"] / run["wall_s"], 3)})
            result[f"dask_{n}_workers"] = run
            log(f"dask, {n} workers: {run}")
    OUT.mkdir(exist_ok=True)
    (OUT / "dask_localise.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
