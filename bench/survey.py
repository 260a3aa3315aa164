"""Logger survey benchmark: do the loggers an alarm names, once in, rank its survey area's pipes better?

Run (about 4 minutes on 2 cores for 2 × 20 leaks)::

    .venv/bin/python bench/survey.py                  # the demo alarms' areas: 300 m around p639 (A), p258 (C)
    .venv/bin/python bench/survey.py --around p639 --leaks 40

For each area (the pipes within 300 m of ``--around``, as a leak alarm's survey area), leaks of 9-20 mm on random
pipes of it are simulated on L-Town perturbed by ±10 % (roughness, diameter, base demand;
:func:`~suvar.leaks.scenarios.perturb_network`) for 12 days at 5 min: the leak starts at a random time of day 7,
temporary loggers go in at 10:00 the day after, and every reading carries 0.05 m of noise. The survey
(:mod:`suvar.leaks.survey`) then compares the readings with the nominal model and ranks the area's pipes:

* ``no_loggers``: the BattLeDIM sensors alone (the leak's change against the week before, each zone its offset);
* ``with_sites``: plus the loggers :func:`~suvar.leaks.placement.survey_sites` names for the area;
* ``with_random``: plus as many junctions drawn at random in the area's zone (the baseline, in the same run).
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
from suvar.demo.build import LTOWN_BOUNDARY
from suvar.leaks.placement import survey_sites
from suvar.leaks.scenarios import network_path, perturb_network, sensor_set
from suvar.leaks.scoring import PipeDistance
from suvar.leaks.survey import model_residuals, survey_locate, survey_shift
from suvar.network.epanet import network_tables
from suvar.network.hydraulics import Leak, simulate
from suvar.network.zones import zones_from_boundary

INP = str(network_path("ltown"))
T0 = pd.Timestamp("2026-10-01", tz="UTC")
DAYS, LEAK_DAY, STEP_S = 12, 7, 300


def observe(task: tuple[int, str, float, int, tuple[str, ...], tuple[str, ...]]) -> pd.DataFrame:
    """Daily model errors (m) at ``nodes`` with a leak on ``pipe`` from ``start_s`` on a perturbed model (seeded
    by ``i``); the ``loggers`` among them report from 10:00 the day after."""
    i, pipe, diameter_mm, start_s, nodes, loggers = task
    wn = wntr.network.WaterNetworkModel(INP)
    wn.options.time.hydraulic_timestep = wn.options.time.report_timestep = STEP_S
    perturb_network(wn, np.random.default_rng(2000 + i), 0.10)
    res = simulate(wn, DAYS * 86400, leaks=[Leak(pipe, start_s, diameter_mm / 1000)], chunk_s=86400)
    index = T0 + pd.to_timedelta(res["pressure"].index, unit="s")
    rng = np.random.default_rng(i)
    p = res["pressure"][list(nodes)].set_axis(index) + rng.normal(0, 0.05, (len(index), len(nodes)))
    installed = (T0 + pd.Timedelta(seconds=start_s)).floor("D") + pd.Timedelta(days=1, hours=10)
    p.loc[p.index < installed, list(loggers)] = np.nan
    return model_residuals(INP, p, STEP_S, T0, res["level"].set_axis(index))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--around", default="p639,p258", help="centres of the survey areas, comma-separated")
    parser.add_argument("--radius-m", type=float, default=300.0)
    parser.add_argument("--leaks", type=int, default=20, help="leaks per area")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    cache = load_settings().cache_dir or None
    wn = wntr.network.WaterNetworkModel(INP)
    nodes, links, _ = network_tables(wn)
    zone_of = zones_from_boundary(nodes, links, LTOWN_BOUNDARY).set_index("node_id")["zone_id"].to_dict()
    ends = {p: (wn.get_link(p).start_node_name, wn.get_link(p).end_node_name) for p in wn.pipe_name_list}
    distance = PipeDistance(wn)
    permanent = list(sensor_set("ltown").pressure_nodes)
    results: dict[str, object] = {}
    for a, around in enumerate(args.around.split(",")):
        t0 = time.perf_counter()
        area = [p for p in wn.pipe_name_list if distance(around, p) <= args.radius_m]
        zone = zone_of[ends[around][0]]
        sites = list((survey_sites(INP, area, permanent, workers=args.workers, cache_dir=cache) or {})["nodes"])
        pool_nodes = [n for n, z in zone_of.items() if z == zone and n not in permanent and n not in sites
                      and n in wn.junction_name_list]
        rng = np.random.default_rng(11 + a)
        drawn = [tuple(str(n) for n in rng.choice(pool_nodes, len(sites), replace=False)) for _ in range(args.leaks)]
        tasks = [(100 * a + i, area[rng.integers(len(area))], float(rng.uniform(9, 20)),
                  LEAK_DAY * 86400 + int(rng.integers(288)) * STEP_S, tuple(permanent + sites + list(drawn[i])),
                  tuple(sites + list(drawn[i]))) for i in range(args.leaks)]
        with ProcessPoolExecutor(args.workers) as pool:
            errors = list(pool.map(observe, tasks))
        t1 = time.perf_counter()
        ranks: dict[str, list[int]] = {"no_loggers": [], "with_sites": [], "with_random": []}
        for task, err, random_sites in zip(tasks, errors, drawn, strict=True):
            start = T0 + pd.Timedelta(seconds=task[3])
            for name, loggers in (("no_loggers", []), ("with_sites", sites), ("with_random", list(random_sites))):
                shift = survey_shift(err, loggers or sites, start)[0][permanent + loggers]  # days the loggers saw
                zones = {n: z for n, z in zone_of.items() if z == zone} if loggers else zone_of  # as survey_alarm
                found = survey_locate(INP, area, shift, loggers, zones=zones, top=len(area), workers=args.workers,
                                      cache_dir=cache)
                ranked = [p for p, _ in found.candidates]
                ranks[name].append(ranked.index(task[1]) + 1)
        summary = {name: {"top1_pct": round(100 * float(np.mean(np.array(r) == 1)), 1),
                          "top10_pct": round(100 * float(np.mean(np.array(r) <= 10)), 1),
                          "median_rank": float(np.median(r))} for name, r in ranks.items()}
        results[around] = {"zone": zone, "pipes": len(area), "leaks": args.leaks, "sites": sites, **summary,
                           "top10_ratio_sites_vs_random": round(summary["with_sites"]["top10_pct"]
                                                                / max(summary["with_random"]["top10_pct"], 1e-9), 2),
                           "wall_s": {"simulate_and_model": round(t1 - t0, 1),
                                      "surveys": round(time.perf_counter() - t1, 1)}}
        print(json.dumps({around: results[around]}, indent=1), flush=True)


if __name__ == "__main__":
    main()
