"""Seeded leak scenarios simulated with WNTR's EPANET engine, in the BattLeDIM layout.

A scenario is the "real" network (the nominal model with pipe roughness, pipe diameter and base demands
each perturbed uniformly within ±``uncertainty``, as in LeakDB's generator, Vrachimis et al. 2018) run with
stochastic demands and leaks, observed by a sensor set with Gaussian noise.

Leaks follow BattLeDIM (Vrachimis et al. 2022): a leak on pipe ``p`` is an emitter on a new node made by
splitting ``p`` in the middle (``wntr.morph.split_pipe``), with emitter coefficient
``C = C_d · A · sqrt(2g)`` (WNTR SI units: ``q [m³/s] = C · p^0.5``, ``p`` in m of pressure head,
``A = π d²/4``, ``C_d = 0.75``). WNTR's EPANET engine ignores ``add_leak``, so time variation is emulated by
simulating in chunks (weekly, daily while an incipient leak ramps up, and at every leak start/end): within
a chunk each emitter coefficient is constant; an incipient leak's coefficient ramps linearly from 0 at its
start to the full hole at its peak time, evaluated at each chunk's midpoint (a staircase with daily steps).
Tank levels and pump statuses are carried from one chunk to the next. Chunking also bounds memory: only
sensor columns are kept.

Demands: every junction demand is scaled by a seasonal factor (±10 % yearly cosine) and multiplicative AR(1)
noise (σ 5 %, 1-hour correlation) shared by a random demand group (up to 32 groups), so pressures are not a
function of total demand alone. Networks without patterns (Hanoi) get a synthetic residential diurnal and
weekly profile.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import wntr
from scipy.signal import lfilter

from suvar.leaks.io import Leak, write_battledim_csv, write_leak_truth
from suvar.network.hydraulics import add_leak_node as _add_leak_node
from suvar.network.hydraulics import carry_over_state, emitter_coefficient, run_epanet

NETWORK_DIR = Path(__file__).resolve().parents[1] / "data" / "networks"


class ScenarioError(ValueError):
    """A scenario request is inconsistent with its network (unknown sensor or pipe, bad period)."""


@dataclass(frozen=True)
class SensorSet:
    """Which quantities a scenario observes: junction pressures, link flows, tank levels, metered demands."""

    pressure_nodes: tuple[str, ...]
    flow_links: tuple[str, ...]
    level_tanks: tuple[str, ...] = ()
    demand_nodes: tuple[str, ...] = ()


LTOWN_PRESSURE_SENSORS = tuple(f"n{i}" for i in (
    1, 4, 31, 54, 105, 114, 163, 188, 215, 229, 288, 296, 332, 342, 410, 415, 429, 458, 469, 495, 506, 516,
    519, 549, 613, 636, 644, 679, 722, 726, 740, 752, 769))


def _amr_nodes(inp: Path) -> tuple[str, ...]:
    """Junctions tagged ``;AMR`` in an EPANET file (the BattLeDIM smart meters of L-Town)."""
    text = inp.read_text(encoding="utf-8", errors="replace")
    section = text.split("[JUNCTIONS]", 1)[1].split("[", 1)[0]
    return tuple(m.group(1) for m in re.finditer(r"^\s*(\S+)\s[^\n;]*;[^\n]*AMR", section, re.MULTILINE))


def network_path(name: str) -> Path:
    """Path of a shipped network: ``ltown`` → L-TOWN.inp, ``hanoi`` → Hanoi_CMH.inp, or a file path."""
    shipped = {"ltown": "L-TOWN.inp", "hanoi": "Hanoi_CMH.inp", "net1": "Net1_leakdb.inp"}
    path = NETWORK_DIR / shipped[name.lower()] if name.lower() in shipped else Path(name)
    if not path.is_file():
        raise ScenarioError(f"network {name!r}: no such shipped network or file (shipped: {sorted(shipped)})")
    return path


def sensor_set(name: str) -> SensorSet:
    """The sensor set of a shipped network.

    ``ltown``: the BattLeDIM set (33 pressure nodes, flows at PUMP_1, p227, p235, tank T1 level, 82 AMR
    meters). ``hanoi``: 12 pressure nodes spread over the network and the reservoir outflow (pipe 1), a
    LeakDB-style inlet meter.
    """
    if name.lower() == "ltown":
        return SensorSet(LTOWN_PRESSURE_SENSORS, ("PUMP_1", "p227", "p235"), ("T1",),
                         _amr_nodes(network_path("ltown")))
    if name.lower() == "hanoi":
        return SensorSet(("4", "7", "10", "12", "15", "17", "19", "21", "23", "26", "28", "31"), ("1",))
    raise ScenarioError(f"no sensor set for network {name!r}; expected 'ltown' or 'hanoi'")


@dataclass
class Scenario:
    """A simulated scenario: sensor readings, true leaks, their outflows and per-step leak labels."""

    pressures_m: pd.DataFrame
    flows_m3h: pd.DataFrame
    levels_m: pd.DataFrame
    demands_lph: pd.DataFrame
    leaks: list[Leak]
    leak_flows_m3h: pd.DataFrame
    labels: pd.Series = field(repr=False)


def add_leak_node(wn: wntr.network.WaterNetworkModel, pipe: str) -> str:
    """:func:`suvar.network.hydraulics.add_leak_node`, with this module's error for an unknown pipe."""
    try:
        return _add_leak_node(wn, pipe)
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None


def leak_coefficient_at(leak: Leak, t: pd.Timestamp) -> float:
    """Emitter coefficient (SI) of ``leak`` at time ``t``: 0 outside [start, end]; incipient leaks ramp."""
    if t < leak.start or t > leak.end:
        return 0.0
    full = emitter_coefficient(leak.diameter_m)
    if leak.leak_type == "incipient" and leak.peak is not None and leak.peak > leak.start:
        return full * min(1.0, (t - leak.start) / (leak.peak - leak.start))
    return full


def perturb_network(wn: wntr.network.WaterNetworkModel, rng: np.random.Generator, uncertainty: float) -> None:
    """Scale each pipe's roughness and diameter and each base demand by U(1−u, 1+u), in place."""
    for _, pipe in wn.pipes():
        pipe.roughness *= rng.uniform(1 - uncertainty, 1 + uncertainty)
        pipe.diameter *= rng.uniform(1 - uncertainty, 1 + uncertainty)
    for _, junction in wn.junctions():
        for demand in junction.demand_timeseries_list:
            demand.base_value *= rng.uniform(1 - uncertainty, 1 + uncertainty)


def residential_profile(index: pd.DatetimeIndex) -> np.ndarray:
    """Synthetic residential demand multiplier (mean ≈ 1): night low, morning and evening peaks, weekends."""
    h = np.asarray(index.hour + index.minute / 60.0)
    weekend = np.asarray(index.dayofweek >= 5)
    morning_h = np.where(weekend, 9.0, 7.5)
    def bump(centre: np.ndarray | float, width: float) -> np.ndarray:
        return np.exp(-0.5 * ((h - centre) / width) ** 2)

    diurnal = 0.45 + 0.85 * bump(morning_h, 1.6) + 0.75 * bump(19.5, 2.2) + 0.35 * bump(13.0, 2.5)
    return diurnal / 0.95


def _ar1(rng: np.random.Generator, n: int, sigma: float, step_h: float, tau_h: float = 1.0) -> np.ndarray:
    """Stationary AR(1) series of standard deviation ``sigma`` and correlation time ``tau_h``."""
    phi = np.exp(-step_h / tau_h)
    e = rng.normal(0.0, sigma * np.sqrt(1 - phi**2), n)
    x0 = rng.normal(0.0, sigma)
    return lfilter([1.0], [1.0, -phi], e, zi=[phi * x0])[0]


def random_leaks(wn: wntr.network.WaterNetworkModel, rng: np.random.Generator, start: pd.Timestamp,
                 end: pd.Timestamp, n_leaks: int, diameter_mm: tuple[float, float] = (9.0, 20.0),
                 incipient_share: float = 0.5, repair_share: float = 0.5,
                 step: pd.Timedelta = pd.Timedelta("5min"),
                 warmup: pd.Timedelta = pd.Timedelta(days=1)) -> list[Leak]:
    """Draw ``n_leaks`` leaks on distinct pipes, starting uniformly in ``[start + warmup, end)``.

    Diameter U(``diameter_mm``); a share are incipient (peak uniformly between start and end); a share are
    repaired after 20–80 % of the remaining period, the rest run to ``end``. Times fall on ``step``.
    """
    pipes = rng.choice(wn.pipe_name_list, size=n_leaks, replace=False)
    warmup = min(warmup, (end - start) / 4)
    leaks = []
    span = (end - start - warmup) / step
    for pipe in pipes:
        t0 = start + warmup + int(rng.uniform(0, span)) * step
        t_end = end
        if rng.uniform() < repair_share:
            t_end = t0 + int(rng.uniform(0.2, 0.8) * (end - t0) / step) * step
        incipient = rng.uniform() < incipient_share
        peak = t0 + int(rng.uniform(0.3, 1.0) * (t_end - t0) / step) * step if incipient else t0
        leaks.append(Leak(str(pipe), t0, t_end, float(rng.uniform(*diameter_mm)) / 1000,
                          "incipient" if incipient else "abrupt", peak))
    return sorted(leaks, key=lambda lk: lk.start)


def repair_large_leaks(leaks: list[Leak], rng: np.random.Generator, from_diameter_m: float = 0.015,
                       after_days: tuple[float, float] = (14.0, 63.0),
                       step: pd.Timedelta = pd.Timedelta("5min")) -> list[Leak]:
    """Repair every leak of ``from_diameter_m`` or more ``after_days`` (uniform) after it starts, as in BattLeDIM 2019.

    BattLeDIM 2019's ground truth (23 leaks, ``leakages_info.yaml`` of the competition): 7 of the 9 leaks of
    15 mm or more were repaired 14–63 days after they began (the other two began in October and ran to the
    year's end), and none of the smaller ones was repaired within the year. Its leaks' outflow peaked at
    141 m³/h in all. A leak that ends earlier keeps its own end; an incipient leak's peak keeps its place in
    the leak's life (the same fraction of the way from start to end).
    """
    out = []
    for lk in leaks:
        if lk.diameter_m >= from_diameter_m:
            repaired = lk.start + int(rng.uniform(*after_days) * pd.Timedelta(days=1) / step) * step
            if repaired < lk.end:
                peak = lk.peak
                if lk.leak_type == "incipient" and lk.peak is not None and lk.end > lk.start:
                    share = (lk.peak - lk.start) / (lk.end - lk.start)
                    peak = lk.start + int(share * (repaired - lk.start) / step) * step
                lk = replace(lk, end=repaired, peak=peak)
        out.append(lk)
    return out


def _chunks(index: pd.DatetimeIndex, leaks: list[Leak], chunk: pd.Timedelta,
            ramp_chunk: pd.Timedelta) -> list[tuple[int, int]]:
    """Index ranges [i, j) cut every ``chunk``, every ``ramp_chunk`` while an incipient leak ramps up, and at
    each leak start and end (+1 step)."""
    step = index[1] - index[0]

    def k(t: pd.Timestamp) -> int:
        return int(np.ceil((t - index[0]) / step))

    cuts = {0, len(index)}
    cuts.update(range(0, len(index), max(1, int(chunk / step))))
    for lk in leaks:
        cuts.update({k(lk.start), k(lk.end + step)})
        if lk.leak_type == "incipient" and lk.peak is not None:
            cuts.update(range(k(lk.start), k(lk.peak), max(1, int(ramp_chunk / step))))
    cuts = {c for c in cuts if 0 <= c <= len(index)}
    edges = sorted(cuts)
    return list(zip(edges[:-1], edges[1:], strict=True))


def simulate(wn: wntr.network.WaterNetworkModel, index: pd.DatetimeIndex, multipliers: dict[str, np.ndarray],
             leaks: list[Leak], sensors: SensorSet, chunk: pd.Timedelta = pd.Timedelta(days=7),
             ramp_chunk: pd.Timedelta = pd.Timedelta(days=1),
             progress: Callable[[float], None] | None = None) -> dict[str, pd.DataFrame]:
    """Run the network over ``index`` in chunks; return noise-free sensor series and leak outflows.

    ``multipliers`` maps every pattern name used by the network's demands to its multiplier series over
    ``index``. Leaks are split into the network here (in place). Returns DataFrames ``pressures_m``,
    ``flows_m3h``, ``levels_m``, ``demands_lph``, ``leak_flows_m3h``.
    """
    step = index[1] - index[0]
    step_s = int(step.total_seconds())
    nodes = {lk.link_id: add_leak_node(wn, lk.link_id) for lk in leaks}
    wn.options.time.hydraulic_timestep = step_s
    wn.options.time.report_timestep = step_s
    wn.options.time.pattern_timestep = step_s
    wn.options.time.quality_timestep = 0
    wn.options.quality.parameter = "NONE"
    parts: dict[str, list[pd.DataFrame]] = {k: [] for k in ("p", "q", "lv", "d", "leak")}
    chunks = _chunks(index, leaks, chunk, ramp_chunk)
    for n_done, (i, j) in enumerate(chunks, 1):
        wn.options.time.duration = (j - i) * step_s
        for name, series in multipliers.items():
            ext = series[i:j + 1] if j < len(series) else np.append(series[i:j], series[j - 1])
            wn.get_pattern(name).multipliers = ext
        mid = index[i] + (index[j - 1] - index[i]) / 2
        for lk in leaks:
            wn.get_node(nodes[lk.link_id]).emitter_coefficient = leak_coefficient_at(lk, mid)
        res = run_epanet(wn)
        pressure = res.node["pressure"]
        demand, flow = res.node["demand"], res.link["flowrate"]
        times = index[i:j]
        parts["p"].append(pressure[list(sensors.pressure_nodes)].iloc[: j - i].set_axis(times))
        parts["q"].append(flow[list(sensors.flow_links)].iloc[: j - i].set_axis(times) * 3600)
        parts["lv"].append(pressure[list(sensors.level_tanks)].iloc[: j - i].set_axis(times))
        parts["d"].append(demand[list(sensors.demand_nodes)].iloc[: j - i].set_axis(times) * 3.6e6)
        leak_cols = demand[[nodes[lk.link_id] for lk in leaks]].iloc[: j - i].set_axis(times) * 3600
        parts["leak"].append(leak_cols.set_axis([lk.link_id for lk in leaks], axis=1))
        carry_over_state(wn, res)
        if progress:
            progress(n_done / len(chunks))
    keys = {"p": "pressures_m", "q": "flows_m3h", "lv": "levels_m", "d": "demands_lph",
            "leak": "leak_flows_m3h"}
    out = {keys[k]: pd.concat(v) for k, v in parts.items()}
    out["leak_flows_m3h"] = out["leak_flows_m3h"].clip(lower=0.0)
    return out


def demand_multipliers(wn: wntr.network.WaterNetworkModel, index: pd.DatetimeIndex,
                       rng: np.random.Generator, groups: int = 32,
                       noise_sigma: float = 0.05) -> dict[str, np.ndarray]:
    """Give each junction demand a group-specific pattern over ``index`` (in place); return the multipliers.

    Each junction joins one of ``groups`` random demand groups; its demands' patterns (periodically
    extended, or :func:`residential_profile` where a demand has none) are multiplied by a yearly seasonal
    factor ``1 + 0.1 cos(2π (doy − 200)/365)`` and the group's AR(1) noise ``1 + ε``.
    """
    step = index[1] - index[0]
    step_h = step / pd.Timedelta(hours=1)
    pattern_step = pd.Timedelta(seconds=wn.options.time.pattern_timestep)
    offsets = np.asarray((index - index[0].normalize() + pd.Timedelta(0)) // pattern_step)
    seasonal = 1 + 0.1 * np.cos(2 * np.pi * (np.asarray(index.dayofyear) - 200) / 365)
    junctions = wn.junction_name_list
    n_groups = min(groups, len(junctions))
    member = rng.integers(0, n_groups, len(junctions))
    noise = [1 + _ar1(rng, len(index), noise_sigma, step_h) for _ in range(n_groups)]
    base_cache: dict[str | None, np.ndarray] = {}
    out: dict[str, np.ndarray] = {}
    for junction, g in zip(junctions, member, strict=True):
        for demand in wn.get_node(junction).demand_timeseries_list:
            source = demand.pattern_name or wn.options.hydraulic.pattern
            if source not in base_cache:
                if source and source in wn.pattern_name_list:
                    mult = np.asarray(wn.get_pattern(source).multipliers, dtype=float)
                    base_cache[source] = mult[offsets % len(mult)]
                else:
                    base_cache[source] = residential_profile(index)
            name = f"G{g}_{source or 'RES'}"
            if name not in out:
                out[name] = base_cache[source] * seasonal * noise[g]
                wn.add_pattern(name, wntr.network.elements.Pattern(name, out[name][:2]))
            demand.pattern_name = name
    return out


def generate_scenario(inp: str | Path, sensors: SensorSet, start: str | pd.Timestamp, days: float, seed: int,
                      leaks: list[Leak] | None = None, n_leaks: int = 0, step_min: int = 5,
                      uncertainty: float = 0.10, pressure_noise_m: float = 0.05,
                      flow_noise_rel: float = 0.005,
                      diameter_mm: tuple[float, float] = (9.0, 20.0),
                      progress: Callable[[float], None] | None = None) -> Scenario:
    """Simulate one seeded scenario.

    Parameters
    ----------
    inp : EPANET file of the nominal network
    sensors : what is observed
    start, days : period simulated, at ``step_min`` minutes
    seed : random seed (model uncertainty, demands, leaks, noise)
    leaks : leaks to place; if None, ``n_leaks`` random leaks (:func:`random_leaks`, ``diameter_mm``)
    uncertainty : half-width of the uniform perturbation of roughness, diameter and base demand
    pressure_noise_m, flow_noise_rel : Gaussian sensor noise (σ, m; σ relative to the reading)
    """
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(start)
    index = pd.date_range(start, periods=int(round(days * 1440 / step_min)), freq=f"{step_min}min")
    if len(index) < 2:
        raise ScenarioError(f"period of {days} days at {step_min} min has fewer than two steps")
    wn = wntr.network.WaterNetworkModel(str(inp))
    for kind, names, have in (("pressure node", sensors.pressure_nodes, wn.node_name_list),
                              ("flow link", sensors.flow_links, wn.link_name_list),
                              ("tank", sensors.level_tanks, wn.tank_name_list)):
        unknown = sorted(set(names) - set(have))
        if unknown:
            raise ScenarioError(f"{inp}: {kind}(s) {unknown[:5]} not in the network")
    perturb_network(wn, rng, uncertainty)
    multipliers = demand_multipliers(wn, index, rng)
    if leaks is None:
        leaks = random_leaks(wn, rng, index[0], index[-1], n_leaks, diameter_mm, step=index[1] - index[0])
    sim = simulate(wn, index, multipliers, leaks, sensors, progress=progress)
    p = sim["pressures_m"] + rng.normal(0, pressure_noise_m, sim["pressures_m"].shape)
    q = sim["flows_m3h"] * (1 + rng.normal(0, flow_noise_rel, sim["flows_m3h"].shape))
    labels = pd.Series(0, index=index, name="Label")
    for lk in leaks:
        labels[(index >= lk.start) & (index <= lk.end)] = 1
    return Scenario(p.round(3), q.round(3), sim["levels_m"].round(3), sim["demands_lph"].round(1), leaks,
                    sim["leak_flows_m3h"].round(4), labels)


def tank_empty_share(levels_m: pd.DataFrame, wn: wntr.network.WaterNetworkModel, tolerance_m: float = 0.05) -> float:
    """Share of time steps (0–1) at which any tank in ``levels_m`` (one column per tank, m) was empty.

    A tank counts as empty within ``tolerance_m`` of its minimum level. An empty tank means the leaks exceed
    what the network can supply: its zone is fed straight from the pump and its pressures leave the range a
    detector learned in training. BattLeDIM 2019's leaks peaked at 141 m³/h in all (``leak_flows_m3h.csv.gz``
    of the competition's ground truth); 24 random leaks a year can reach twice that and drain L-Town's T1.
    """
    if levels_m.empty:
        return 0.0
    floor = pd.Series({t: wn.get_node(t).min_level + tolerance_m for t in levels_m.columns})
    return float(levels_m.lt(floor, axis=1).any(axis=1).mean())


def write_scenario(scenario: Scenario, directory: str | Path) -> None:
    """Write a scenario in the BattLeDIM layout with ``leaks.csv``, ``leak_flows_m3h.csv``, ``labels.csv``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_battledim_csv(scenario.pressures_m, directory / "Pressures.csv")
    write_battledim_csv(scenario.flows_m3h, directory / "Flows.csv")
    write_battledim_csv(scenario.levels_m, directory / "Levels.csv")
    write_battledim_csv(scenario.demands_lph, directory / "Demands.csv")
    write_leak_truth(scenario.leaks, directory / "leaks.csv")
    flows = scenario.leak_flows_m3h.copy()
    flows.index = flows.index.strftime("%Y-%m-%d %H:%M")
    flows.index.name = "Timestamp"
    flows.to_csv(directory / "leak_flows_m3h.csv")
    scenario.labels.rename_axis("Timestamp").to_csv(directory / "labels.csv", date_format="%Y-%m-%d %H:%M")
