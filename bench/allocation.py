"""Benchmark: allocation on a synthetic national network, against Pywr on the same network when available.

Full size: 10,000 nodes (3,000 demands in 4 priority classes), 1,000 lossy canals, 365 daily steps, equal
coverage sharing; target < 60 s on 2 cores. ``--small`` runs a tenth of it. With ``--pywr PYTHON`` (a Python
that has ``pywr==1.31.1``, e.g. ``/tmp/pywrvenv/bin/python``), the same network is written as a Pywr JSON
model (demand costs ranked by class, equal costs within a class) and run there in a subprocess; the ratio of
wall times is printed. Pywr solves one LP per step and returns an arbitrary vertex among equal-cost demands;
Suvar solves a sequence of LPs per step for leximin equal coverage, so the ratio prices fairness.

Measured on the shared 2-core machine, loaded by other jobs (load average 3-7): full size 89 s of CPU over
the 2 worker processes, i.e. about 45-50 s wall on 2 idle cores, but 169 s wall as measured under that load.
``--small``: 10.0 s against Pywr 1.31.1's 39.4 s run (ratio 0.25), plus 220 s of Pywr load/setup, which
enumerates routes and grows faster than the network; not attempted at full size, so compare with ``--small``.

Usage: ``python bench/allocation.py [--small] [--steps N] [--workers N] [--pywr /tmp/pywrvenv/bin/python]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from suvar.allocation.model import parse_basin
from suvar.allocation.solve import allocate


def synthetic_basin(scale: float = 1.0, n_steps: int = 365, seed: int = 0) -> dict:
    """A national network of independent rivers: stems of junctions with on-stream reservoirs, lateral
    catchments, lossy canals feeding demands, aquifers feeding canal commands. Volumes m³/day."""
    rng = np.random.default_rng(seed)
    n_rivers = max(2, round(50 * scale))
    n_dem, n_canal = round(3000 * scale), round(1000 * scale)
    n_cat, n_res, n_gw = round(500 * scale), round(100 * scale), round(200 * scale)
    n_stem = round(10000 * scale) - n_dem - n_canal - n_cat - n_res - n_gw - n_rivers
    day = np.arange(n_steps)
    season = 1 + 0.6 * np.cos(2 * np.pi * (day - 30) / 365)  # wet winter, dry summer
    summer = 1 + 0.8 * np.sin(np.pi * np.clip((day - 90) / 180, 0, 1))  # irrigation peak
    parts: dict[str, list] = {
        k: [] for k in ("catchments", "reservoirs", "groundwater", "junctions", "outlets", "links", "demands")
    }
    river_of_stem = np.sort(rng.integers(0, n_rivers, n_stem))
    stems = [np.flatnonzero(river_of_stem == r) for r in range(n_rivers)]
    for r, stem in enumerate(stems):
        parts["outlets"].append({"id": f"sea{r}"})
        for k, j in enumerate(stem):
            parts["junctions"].append({"id": f"s{j}"})
            to = f"s{stem[k + 1]}" if k + 1 < len(stem) else f"sea{r}"
            parts["links"].append(
                {"id": f"reach{j}", "from": f"s{j}", "to": to, "kind": "river", "loss_fraction": 0.01}
            )
    link_of = {lk["from"]: lk for lk in parts["links"]}
    for i, j in enumerate(rng.choice(n_stem, n_res, replace=False)):
        reach = link_of[f"s{j}"]  # put the dam on this reach: s_j -> dam -> downstream
        parts["reservoirs"].append(
            {
                "id": f"dam{i}",
                "capacity_m3": 4e6,
                "dead_storage_m3": 2e5,
                "initial_storage_m3": 2e6,
                "evaporation_m3": 2e3,
            }
        )
        parts["links"].append({"id": f"release{i}", "from": f"dam{i}", "to": reach["to"], "kind": "river"})
        reach["to"] = f"dam{i}"
    heads = [stem[0] for stem in stems if len(stem)]
    for i in range(n_cat):
        j = heads[i] if i < len(heads) else rng.integers(0, n_stem)
        base = rng.uniform(6e4, 2e5)
        parts["catchments"].append({"id": f"c{i}", "inflow_m3": np.round(base * season, 1).tolist()})
        parts["links"].append({"id": f"runoff{i}", "from": f"c{i}", "to": f"s{j}", "kind": "river"})
    for i in range(n_canal):
        parts["junctions"].append({"id": f"cmd{i}"})
        parts["links"].append(
            {
                "id": f"canal{i}",
                "from": f"s{rng.integers(0, n_stem)}",
                "to": f"cmd{i}",
                "capacity_m3": float(rng.uniform(3e4, 1.2e5)),
                "loss_fraction": float(rng.uniform(0.05, 0.3)),
            }
        )
    for i in range(n_gw):
        parts["groundwater"].append({"id": f"aq{i}", "sustainable_yield_m3": float(rng.uniform(2e3, 1e4))})
        parts["links"].append(
            {"id": f"well{i}", "from": f"aq{i}", "to": f"cmd{rng.integers(0, n_canal)}", "kind": "pipe"}
        )
    kinds = ["city", "industry", "irrigation", "environment"]
    for i in range(n_dem):
        p = int(rng.integers(1, 5))
        src = f"cmd{i % n_canal}" if i < 0.8 * n_dem else f"s{rng.integers(0, n_stem)}"
        base = rng.uniform(3e3, 2e4)
        series = base * (summer if kinds[p - 1] == "irrigation" else np.ones(n_steps))
        parts["demands"].append(
            {
                "id": f"d{i}",
                "kind": kinds[p - 1],
                "demand_m3": np.round(series, 1).tolist(),
                "priority": p,
                "body": f"body{i % 97}",
            }
        )
        parts["links"].append({"id": f"offtake{i}", "from": src, "to": f"d{i}", "kind": "pipe", "loss_fraction": 0.02})
    return {
        "name": "synthetic-national",
        "time_step": "day",
        "start": "2025-01-01",
        "n_steps": n_steps,
        "sharing": {p: "equal_coverage" for p in range(1, 5)},
        **parts,
    }


def to_pywr(spec: dict) -> dict:
    """The same network as a Pywr 1.x model (costs rank the classes; losses as LossLink)."""
    n = spec["n_steps"]
    nodes, edges = [], []
    params = {}

    def value(name: str, v: float | list) -> float | str:
        if isinstance(v, list):
            params[name] = {"type": "arrayindexed", "values": v}
            return name
        return v

    for c in spec["catchments"]:
        nodes.append({"name": c["id"], "type": "catchment", "flow": value(f"{c['id']}_q", c["inflow_m3"])})
    for r in spec["reservoirs"]:
        nodes.append(
            {
                "name": r["id"],
                "type": "storage",
                "max_volume": r["capacity_m3"],
                "min_volume": r["dead_storage_m3"],
                "initial_volume": r["initial_storage_m3"],
                "cost": -1,
            }
        )
    for g in spec["groundwater"]:
        nodes.append({"name": g["id"], "type": "input", "max_flow": g["sustainable_yield_m3"]})
    for j in spec["junctions"]:
        nodes.append({"name": j["id"], "type": "link"})
    for o in spec["outlets"]:
        nodes.append({"name": o["id"], "type": "output"})
    for d in spec["demands"]:
        nodes.append(
            {
                "name": d["id"],
                "type": "output",
                "max_flow": value(f"{d['id']}_q", d["demand_m3"]),
                "cost": -10.0 * (5 - d["priority"]),
            }
        )
    for lk in spec["links"]:
        loss = lk.get("loss_fraction", 0.0)
        node = {"name": lk["id"], "type": "losslink" if loss else "link"}
        if loss:
            node |= {"loss_factor": loss, "loss_factor_type": "gross"}
        if "capacity_m3" in lk:
            node["max_flow"] = lk["capacity_m3"] * (1 - loss)
        nodes.append(node)
        edges += [[lk["from"], lk["id"]], [lk["id"], lk["to"]]]
    return {
        "metadata": {"title": spec["name"], "minimum_version": "1.11"},
        "timestepper": {"start": spec["start"], "end": str(np.datetime64(spec["start"]) + n - 1), "timestep": 1},
        "nodes": nodes,
        "edges": edges,
        "parameters": params,
    }


_PYWR_RUN = """
import sys, time
from pywr.model import Model
t0 = time.perf_counter()
m = Model.load(sys.argv[1])
m.setup()
t1 = time.perf_counter()
m.run()
print(t1 - t0, time.perf_counter() - t1)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="a tenth of the network")
    ap.add_argument("--steps", type=int, default=365)
    ap.add_argument("--workers", type=int, default=2, help="processes for independent parts of the network")
    ap.add_argument("--pywr", default=None, help="python with pywr installed, to compare")
    args = ap.parse_args()
    spec = synthetic_basin(0.1 if args.small else 1.0, args.steps)
    basin = parse_basin(spec)
    n_nodes = sum(len(spec[k]) for k in ("catchments", "reservoirs", "groundwater", "junctions", "outlets", "demands"))
    canals = sum(1 for lk in spec["links"] if lk["id"].startswith("canal"))
    print(
        f"network: {n_nodes} nodes, {len(spec['demands'])} demands, {canals} lossy canals, "
        f"{len(spec['links'])} links, {args.steps} daily steps, {args.workers} workers"
    )
    t0 = time.perf_counter()
    result = allocate(basin, workers=args.workers)
    suvar_s = time.perf_counter() - t0
    print(
        f"suvar: {suvar_s:.2f} s ({1000 * suvar_s / args.steps:.1f} ms/step); "
        f"mean coverage {np.nanmean(result.coverage.to_numpy()):.3f}"
    )
    if args.pywr:
        with tempfile.TemporaryDirectory() as tmp:
            model = Path(tmp) / "model.json"
            model.write_text(json.dumps(to_pywr(spec)))
            out = subprocess.run([args.pywr, "-c", _PYWR_RUN, str(model)], capture_output=True, text=True)
            if out.returncode:
                print("pywr failed:", out.stderr[-2000:], file=sys.stderr)
                return
            load_s, run_s = map(float, out.stdout.split()[-2:])
        print(
            f"pywr: {run_s:.2f} s run (+{load_s:.2f} s load/setup); suvar/pywr = {suvar_s / run_s:.2f} "
            f"({suvar_s / (run_s + load_s):.2f} including Pywr's load)"
        )


if __name__ == "__main__":
    main()
