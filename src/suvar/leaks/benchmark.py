"""Benchmark Suvar's leak detector against the LeakDB minimum-night-flow baseline on generated scenarios.

For each seed: one scenario of ``train_days + days`` (:func:`suvar.leaks.scenarios.generate_scenario`),
leak-free during training, with random leaks (abrupt and incipient) in the test period, repaired as in
BattLeDIM 2019 on L-Town (:func:`suvar.leaks.scenarios.repair_large_leaks`) and LeakDB-style on Hanoi.
Both detectors are scored on the test period with the BattLeDIM economic score (the MNF baseline's daily
alarms are localised with the same localiser, so the comparison isolates detection) and the LeakDB
per-step metrics; figures are pooled over seeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import wntr

from suvar.leaks.detect import LeakEvent, events_to_labels, labels_to_events, mnf_baseline_labels
from suvar.leaks.io import Detection, Leak
from suvar.leaks.pipeline import CANDIDATES, MIN_COSINE, LeakDetector
from suvar.leaks.scenarios import (
    Scenario,
    generate_scenario,
    network_path,
    random_leaks,
    repair_large_leaks,
    sensor_set,
    tank_empty_share,
)
from suvar.leaks.scoring import BattLeDIMScore, PipeDistance, battledim_score, leakdb_metrics
from suvar.progress import throttled

#: Leak hole diameters (mm) per shipped network: BattLeDIM's range on L-Town; on Hanoi (about 30 times
#: L-Town's demand per node) LeakDB draws 20-200 mm holes, capped here at 60 mm to keep the network pressurised.
DIAMETER_MM = {"ltown": (9.0, 20.0), "hanoi": (20.0, 60.0)}
START = pd.Timestamp("2019-01-01")


@dataclass
class Tally:
    """Pooled results of one detector over seeds."""

    scores: list[BattLeDIMScore]
    truth_labels: list[np.ndarray]
    labels: list[np.ndarray]
    abrupt_delays_h: list[float]

    def summary(self, test_days: float) -> dict[str, float | int]:
        """BattLeDIM (pooled) and LeakDB figures; false alarms per year of test data."""
        total = sum(s.total_eur for s in self.scores)
        perfect = sum(s.perfect_eur for s in self.scores)
        delays = [d / pd.Timedelta(hours=1) for s in self.scores for d in s.delays]
        dists = [x for s in self.scores for x in s.distances_m]
        fp = sum(s.fp for s in self.scores)
        metrics = leakdb_metrics(np.concatenate(self.truth_labels), np.concatenate(self.labels))
        return {"score_eur": round(total, 2), "perfect_eur": round(perfect, 2),
                "percent_of_perfect": round(100 * total / perfect, 1) if perfect else float("nan"),
                "tp": sum(s.tp for s in self.scores), "fp": fp, "fn": sum(s.fn for s in self.scores),
                "false_alarms_per_year": round(fp / (test_days * len(self.scores) / 365), 2),
                "median_delay_h": round(float(np.median(delays)), 1) if delays else float("nan"),
                "median_delay_abrupt_h": round(float(np.median(self.abrupt_delays_h)), 1)
                if self.abrupt_delays_h else float("nan"),
                "mean_distance_m": round(float(np.mean(dists)), 1) if dists else float("nan"),
                **{f"leakdb_{k}_pct": v for k, v in metrics.as_dict().items()}}


def inlet_flow_m3h(flows_m3h: pd.DataFrame, wn: wntr.network.WaterNetworkModel) -> pd.Series:
    """System inflow: the sum of the metered links attached to reservoirs, positive out of the reservoir."""
    total = pd.Series(0.0, index=flows_m3h.index)
    for res in wn.reservoir_name_list:
        for link in wn.get_links_for_node(res):
            if link in flows_m3h.columns:
                sign = 1.0 if wn.get_link(link).start_node_name == res else -1.0
                total += sign * flows_m3h[link]
    return total


def _submission(events: list[LeakEvent]) -> list[Detection]:
    return [Detection(e.pipe, e.start) for e in events if e.pipe]


def _abrupt_delays(score: BattLeDIMScore, leaks: list[Leak]) -> list[float]:
    kind = {lk.link_id: lk.leak_type for lk in leaks}
    matched = [m for m in score.matched_leak if m is not None]
    return [d / pd.Timedelta(hours=1) for m, d in zip(matched, score.delays, strict=True) if kind[m] == "abrupt"]


def seed_leaks(network: str, wn: wntr.network.WaterNetworkModel, seed: int, start: pd.Timestamp,
               end: pd.Timestamp, n_leaks: int) -> list[Leak]:
    """The leaks of a benchmark seed in ``[start, end)``: on L-Town repaired as in BattLeDIM 2019 (large leaks
    within weeks, small ones never: :func:`suvar.leaks.scenarios.repair_large_leaks`), elsewhere LeakDB-style
    (half the leaks repaired after 20-80 % of the rest of the period)."""
    rng = np.random.default_rng(10_000 + seed)
    diameter_mm = DIAMETER_MM.get(network, (9.0, 20.0))
    if network == "ltown":
        return repair_large_leaks(random_leaks(wn, rng, start, end, n_leaks, diameter_mm, repair_share=0.0), rng)
    return random_leaks(wn, rng, start, end, n_leaks, diameter_mm)


def run_seed(seed: int, *, network: str, days: float, train_days: float, n_leaks: int, workers: int,
             n_candidates: int | None, min_cosine: float = MIN_COSINE, log: Callable[[str], None] | None = None
             ) -> dict[str, object]:
    """One seed of :func:`run_benchmark`: generate its scenario, train, detect and localise, run the MNF
    baseline and score both. A pure function of its arguments (the scenario's randomness comes from ``seed``),
    so seeds can run anywhere (one Dask task each) with the same results.

    Returns :func:`evaluate_scenario`'s mapping with ``"seed"`` added and ``"simulate"`` in ``"wall"``.
    """
    say = log or (lambda _msg: None)
    inp = network_path(network)
    wn = wntr.network.WaterNetworkModel(str(inp))
    test_start = START + pd.Timedelta(days=train_days)
    end = test_start + pd.Timedelta(days=days) - pd.Timedelta(minutes=5)
    t0 = time.perf_counter()
    leaks = seed_leaks(network, wn, seed, test_start, end, n_leaks)
    sc = generate_scenario(inp, sensor_set(network), START, train_days + days, seed, leaks=leaks,
                           progress=throttled(say, f"seed {seed}: simulating"))
    simulate_s = time.perf_counter() - t0
    out = evaluate_scenario(sc, network, test_start, workers=workers, n_candidates=n_candidates,
                            min_cosine=min_cosine)
    out["seed"] = seed
    out["wall"] = {"simulate": simulate_s, **out["wall"]}
    return out


def evaluate_scenario(sc: Scenario, network: str, test_start: pd.Timestamp, *, workers: int = 2,
                      n_candidates: int | None = CANDIDATES, min_cosine: float = MIN_COSINE
                      ) -> dict[str, object]:
    """Train on a scenario's readings before ``test_start``, detect and localise after it, run the MNF baseline
    and score both (the second half of :func:`run_seed`, for scenarios simulated once and kept). ``min_cosine``
    is :func:`suvar.leaks.detect.detect`'s: the operating point between leaks found and false alarms.

    Returns ``{"leaks", "truth", "events", "tank_empty_pct", "wall": {...}, "suvar": (score, labels),
    "mnf_baseline": (...)}``; ``tank_empty_pct`` is the share of the test period with a tank run dry
    (:func:`suvar.leaks.scenarios.tank_empty_share`).
    """
    inp = network_path(network)
    wn = wntr.network.WaterNetworkModel(str(inp))
    distance = PipeDistance(wn)
    t1 = time.perf_counter()
    tr, te = slice(None, test_start - pd.Timedelta(minutes=5)), slice(test_start, None)
    data = {"pressures": sc.pressures_m, "flows": sc.flows_m3h, "levels": sc.levels_m, "demands": sc.demands_lph}
    detector = LeakDetector.fit({k: v[tr] for k, v in data.items()}, inp, workers=workers,
                                n_candidates=n_candidates, min_cosine=min_cosine)
    t2 = time.perf_counter()
    events = detector.detect({k: v[te] for k, v in data.items()})
    t3 = time.perf_counter()
    inflow = inlet_flow_m3h(sc.flows_m3h, wn)
    mnf_labels = mnf_baseline_labels(inflow[te], history_m3h=inflow[tr])
    mnf_events = labels_to_events(detector.model, mnf_labels, sc.pressures_m, sc.flows_m3h, detector.locate)
    t4 = time.perf_counter()
    flows = sc.leak_flows_m3h[te]
    out: dict[str, object] = {"leaks": sc.leaks, "truth": sc.labels[te].to_numpy(), "events": events,
                              "tank_empty_pct": round(100 * tank_empty_share(sc.levels_m[te], wn), 1),
                              "wall": {"train": t2 - t1, "detect_localise": t3 - t2, "baseline": t4 - t3}}
    for name, evs, labels in (("suvar", events, events_to_labels(events, flows.index).to_numpy()),
                              ("mnf_baseline", mnf_events, mnf_labels.to_numpy())):
        out[name] = (battledim_score(_submission(evs), sc.leaks, flows, distance), labels)
    return out


def run_benchmark(network: str, seeds: list[int], days: float, train_days: float = 14, n_leaks: int | None = None,
                  workers: int = 2, n_candidates: int | None = CANDIDATES, min_cosine: float = MIN_COSINE,
                  log: Callable[[str], None] | None = None,
                  mapper: Callable[[Callable, list], list] | None = None) -> dict[str, object]:
    """Generate a scenario per seed, run Suvar's detector and the MNF baseline, score both.

    ``mapper(fn, items)`` (returning ``[fn(item) for item in items]``, e.g. :func:`suvar.lake.cluster.dask_mapper`)
    runs the seeds as separate tasks; each then simulates its candidates in its own process (``workers`` is
    ignored). The figures are pooled in seed order either way, so they equal the serial run's.

    Returns ``{"network", "seeds", "days", "train_days", "min_cosine", "tank_empty_pct", "suvar": {...},
    "mnf_baseline": {...}, "wall_s": {...}}`` with the figures of :meth:`Tally.summary` (``wall_s`` sums the
    seeds' own times; ``tank_empty_pct`` maps each seed to the share of its test period with a tank run dry).
    """
    say = log or (lambda _msg: None)
    n_leaks = n_leaks if n_leaks is not None else max(1, round(days / 15)) if network == "ltown" else 1
    spec = {"network": network, "days": days, "train_days": train_days, "n_leaks": n_leaks,
            "n_candidates": n_candidates, "min_cosine": min_cosine}
    if mapper is None:
        results = [run_seed(seed, **spec, workers=workers, log=say) for seed in seeds]
    else:
        results = mapper(partial(run_seed, **spec, workers=1), list(seeds))
    tallies = {k: Tally([], [], [], []) for k in ("suvar", "mnf_baseline")}
    tank_empty = {}
    wall = {"simulate": 0.0, "train": 0.0, "detect_localise": 0.0, "baseline": 0.0}
    for res in results:
        for k, v in res["wall"].items():
            wall[k] += v
        for name in tallies:
            score, labels = res[name]
            tally = tallies[name]
            tally.scores.append(score)
            tally.truth_labels.append(res["truth"])
            tally.labels.append(labels)
            tally.abrupt_delays_h.extend(_abrupt_delays(score, res["leaks"]))
        tank_empty[res["seed"]] = res["tank_empty_pct"]
        say(f"seed {res['seed']}: {len(res['leaks'])} leaks; tank empty {res['tank_empty_pct']} % of the time; "
            f"suvar {res['suvar'][0].as_dict()}; {res['wall']['detect_localise']:.1f} s detect+localise")
    return {"network": network, "seeds": seeds, "days": days, "train_days": train_days, "leaks_per_seed": n_leaks,
            "min_cosine": min_cosine, "tank_empty_pct": tank_empty,
            "suvar": tallies["suvar"].summary(days), "mnf_baseline": tallies["mnf_baseline"].summary(days),
            "wall_s": {k: round(v, 1) for k, v in wall.items()}}
