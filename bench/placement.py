"""Sensor placement benchmark: do the loggers that :func:`suvar.leaks.placement.rank_sites` picks help localise leaks?

Run (about 2 minutes on 2 cores, most of it simulating a leak on every L-Town pipe once)::

    .venv/bin/python bench/placement.py                      # leaks around the demo's p654, 4 added loggers
    .venv/bin/python bench/placement.py --around none        # leaks anywhere on L-Town
    .venv/bin/python bench/placement.py --around p639 --radius-m 300 --sites 3   # the demo alarm's survey area

Leaks of 9-20 mm on random pipes (those the BattLeDIM sensors cannot tell from ``--around``, those within
``--radius-m`` of it as an alarm's survey area, or any pipe) are
simulated on a model perturbed by ±10 % (roughness, diameter, base demand; :func:`perturb_network`), as day-mean
pressure changes with 0.01 m of noise, and matched to the nominal model's signatures by least squares with a free
offset (the raw match of :meth:`suvar.leaks.localise.Localiser.locate`). The rank of the true pipe is reported for
the BattLeDIM sensors alone, with the ranked sites added, and with as many randomly chosen junctions added (the
baseline, in the same run).
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import wntr

from suvar.config import load_settings
from suvar.leaks.localise import _configure, _readings
from suvar.leaks.placement import confusable_with, node_signatures, rank_sites
from suvar.leaks.scenarios import network_path, perturb_network, sensor_set
from suvar.leaks.scoring import PipeDistance
from suvar.network.hydraulics import add_leak_node, emitter_coefficient

INP = str(network_path("ltown"))


def observe(task: tuple[int, str, float, tuple[str, ...]]) -> np.ndarray:
    """Day-mean pressure change (m) at ``nodes`` from a leak on ``pipe`` on a perturbed model (seeded by ``i``)."""
    i, pipe, diameter_mm, nodes = task
    readings = []
    for leak in (False, True):
        wn = wntr.network.WaterNetworkModel(INP)
        perturb_network(wn, np.random.default_rng(1000 + i), 0.10)
        _configure(wn, 0, 24)
        node = None
        if leak:
            node = add_leak_node(wn, pipe)
            wn.get_node(node).emitter_coefficient = emitter_coefficient(diameter_mm / 1000)
        readings.append(_readings(wn, list(nodes), [], node)[0])
    return readings[1] - readings[0] + np.random.default_rng(i).normal(0, 0.01, len(nodes))


def true_rank(sig: pd.DataFrame, sensors: list[str], pipe: str, change: pd.Series) -> int:
    """Rank of ``pipe`` among all pipes by the least-squares misfit (non-negative scale, free offset)."""
    x = sig[sensors].to_numpy()
    x = x - x.mean(axis=1, keepdims=True)
    o = change[sensors].to_numpy()
    o = o - o.mean()
    ss, so = (x ** 2).sum(axis=1), x @ o
    sse = o @ o - np.clip(so / ss, 0, None) * so
    return int((sse < sse[sig.index.get_loc(pipe)]).sum()) + 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--around", default="p654", help="pipe whose confusable pipes get the leaks ('none': all)")
    parser.add_argument("--radius-m", type=float, default=None,
                        help="the pipes within this distance of --around (an alarm's survey area) instead")
    parser.add_argument("--sites", type=int, default=4)
    parser.add_argument("--leaks", type=int, default=80)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    sensors = list(sensor_set("ltown").pressure_nodes)
    sig = node_signatures(INP, workers=args.workers, cache_dir=load_settings().cache_dir or None)
    t1 = time.perf_counter()
    if args.around == "none":
        pipes = list(sig.index)
    elif args.radius_m is not None:
        distance = PipeDistance(wntr.network.WaterNetworkModel(INP))
        pipes = [p for p in sig.index if distance(args.around, p) <= args.radius_m]
    else:
        pipes = [args.around, *confusable_with(sig, sensors, args.around)]
    sites = list(rank_sites(sig.loc[pipes], sensors, args.sites).node)
    t2 = time.perf_counter()
    rng = np.random.default_rng(5)
    tasks = [(i, pipes[rng.integers(len(pipes))], float(rng.uniform(9, 20)), tuple(sig.columns))
             for i in range(args.leaks)]
    with ProcessPoolExecutor(args.workers) as pool:
        changes = [pd.Series(c, index=sig.columns) for c in pool.map(observe, tasks)]
    others = [n for n in sig.columns if n not in sensors]
    random_sites = [str(n) for n in np.random.default_rng(9).choice(others, args.sites, replace=False)]
    result: dict[str, object] = {"around": args.around, "pipes": len(pipes), "leaks": args.leaks, "sites": sites,
                                 "random_sites": random_sites}
    for name, chosen in (("battledim", sensors), ("with_sites", sensors + sites),
                         ("with_random_sites", sensors + random_sites)):
        ranks = np.array([true_rank(sig, chosen, task[1], c) for task, c in zip(tasks, changes, strict=True)])
        result[name] = {"top1_pct": round(100 * float(np.mean(ranks == 1)), 1),
                        "top10_pct": round(100 * float(np.mean(ranks <= 10)), 1),
                        "median_rank": float(np.median(ranks)), "mean_rank": round(float(ranks.mean()), 1)}
    result["top10_ratio_sites_vs_random"] = round(result["with_sites"]["top10_pct"]
                                                  / max(result["with_random_sites"]["top10_pct"], 1e-9), 2)
    result["wall_s"] = {"signatures": round(t1 - t0, 1), "rank_sites": round(t2 - t1, 1),
                        "leaks": round(time.perf_counter() - t2, 1)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
