"""Model-based leak localisation by matching simulated leak signatures to observed pressure residuals.

For each candidate pipe a leak (emitter ``C = C_d·A·sqrt(2g)`` of a reference hole on a node made by
splitting the pipe, as in :mod:`suvar.leaks.scenarios`) is simulated with WNTR's EPANET engine over a short
window (``window_h`` hours, hourly steps) starting at the hour of day of the observation; the signature is
the mean change of the sensor readings, ``Δp`` (m) and ``Δq`` (m³/h), against the leak-free run. It is
mapped into the detector's residual space (``Δr = T·[Δp; Δq]``, the linear residual model of
:mod:`suvar.leaks.detect`) and matched to the observed residual shift ``o`` by least squares with a
non-negative scale: ``a_c = max(0, s_c·o / s_c·s_c)``, ``SSE_c = |o − a_c s_c|²``. Likelihoods are
``exp(−(SSE_c − min SSE)/(2σ²))`` normalised to one (σ²: the mean residual variance per sensor); the leak
size estimate is ``a_c`` times the reference leak's outflow. This is the sensitivity-matrix approach of
Pérez et al. (2011, Control Eng. Pract. 19(10)) with simulated rather than linearised sensitivities.

Candidates are every pipe (of the alarmed zone, when the balances name one), or the ``n_candidates`` pipes nearest
(network distance) to the sensors with the strongest negative shift, so that a large network needs only tens of
simulations per alarm (on L-Town this often missed the leak's own cluster of best-fitting pipes). They run in
parallel processes (``concurrent.futures.ProcessPoolExecutor``), or as tasks of any ``mapper`` (e.g. a Dask
cluster's, :func:`suvar.lake.cluster.dask_mapper`), and are cached per (pipe, hour of day). Each simulation is a
pure function of its arguments, so every way of running them gives the same signatures.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import zipfile
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import networkx as nx
import numpy as np
import wntr

from suvar.leaks.scoring import PipeDistance
from suvar.network.hydraulics import add_leak_node, emitter_coefficient, run_epanet

SIGNATURE_HOURS = (2, 8, 14, 20)
#: Part of the key of kept signatures (``cache_dir``): raise it whenever the simulation of a candidate changes, so
#: that signatures kept by an earlier version are not used.
SIGNATURE_FORMAT = 1
#: The ``search_radius_m`` of the BattLeDIM interface and of ``leaks scan``: the reported pipe is the centre of the
#: 300 m area most likely to hold the leak (BattLeDIM credits a detection within 300 m of the leak's pipe, and a
#: crew's acoustic survey covers an area, not a pipe). Most false alarms are real leaks placed 300-600 m away; with the
#: best-fitting pipe instead, seeds 61-66 gave 52.8 % of the perfect score with 3.5 false alarms a year (with the
#: area's centre: 52.3 %, 2.8) and the held-out seeds 67-74 41.6 % with 4.6 (42.3 %, 3.75).
SEARCH_RADIUS_M = 300.0


@dataclass(frozen=True)
class Localisation:
    """Result of :meth:`Localiser.locate`: (pipe, likelihood) ranked by likelihood, size estimate, fit quality,
    and the pipe to report: the best-fitting one, or with a search radius the centre of the likeliest area. With
    a search radius, ``area`` holds the candidates within it of the reported pipe (most likely first), the area
    a crew would survey, and ``area_likelihood`` their summed likelihood."""

    candidates: list[tuple[str, float]]
    est_size_m3h: float
    cosine: float
    pipe: str | None = None
    area: tuple[str, ...] = ()
    area_likelihood: float = float("nan")
    radius_m: float | None = None


def _configure(wn: wntr.network.WaterNetworkModel, hour: int, window_h: int) -> None:
    wn.options.time.duration = (window_h - 1) * 3600
    wn.options.time.hydraulic_timestep = 3600
    wn.options.time.report_timestep = 3600
    wn.options.time.pattern_start = hour * 3600
    wn.options.time.start_clocktime = hour * 3600
    wn.options.quality.parameter = "NONE"


def _readings(wn: wntr.network.WaterNetworkModel, pressure: Sequence[str], flow: Sequence[str],
              leak_node: str | None) -> tuple[np.ndarray, np.ndarray, float]:
    res = run_epanet(wn)
    p = res.node["pressure"][list(pressure)].mean().to_numpy()
    q = (res.link["flowrate"][list(flow)] * 3600).mean().to_numpy()
    leak = float(res.node["demand"][leak_node].mean() * 3600) if leak_node else 0.0
    return p, q, leak


def _simulate_candidate(args: tuple[str, str, int, int, float, tuple[str, ...], tuple[str, ...]]
                        ) -> tuple[str, np.ndarray, np.ndarray, float]:
    """Worker: readings with a reference leak on one pipe (network file re-read per call, no copies)."""
    inp, pipe, hour, window_h, diameter_m, pressure, flow = args
    wn = wntr.network.WaterNetworkModel(inp)
    _configure(wn, hour, window_h)
    node = add_leak_node(wn, pipe)
    wn.get_node(node).emitter_coefficient = emitter_coefficient(diameter_m)
    p, q, leak = _readings(wn, pressure, flow, node)
    return pipe, p, q, leak


class Localiser:
    """Locate leaks on a network from a residual shift at its pressure sensors.

    Parameters
    ----------
    inp : EPANET file of the nominal network model
    pressure_sensors, flow_sensors : sensor names, in the order of the residual and flow vectors
    transform : ``S × (S + F)`` matrix mapping ``[Δp; Δq]`` to residual changes (``DetectorModel.transform``)
    sigma_m : per-sensor residual standard deviation (m)
    n_candidates : pipes simulated per alarm, those nearest the sensors whose residuals fell most; None: every pipe
        (of the search area, when given one); signatures are cached, so a network's pipes are simulated once
    workers : processes for candidate simulations (1: in this process)
    mapper : runs the candidate simulations instead of the process pool when given: ``mapper(fn, items)``
        returns ``[fn(item) for item in items]`` (e.g. :func:`suvar.lake.cluster.dask_mapper`)
    diameter_m : reference hole diameter of the signatures
    window_h : simulation window (h)
    cache_dir : folder where signatures are kept between runs (None: only for this object's life): one file
        per network file content, sensor set, window, reference hole and hour, so a later scan of the same network
        simulates only the pipes no earlier one did
    search_radius_m : when given, the pipe reported (``Localisation.pipe``) is the centre of the search area most
        likely to hold the leak: the candidate with the most likelihood within this network distance of it (the
        summed likelihood of the candidates that near; distance as :class:`~suvar.leaks.scoring.PipeDistance`),
        then with the most of its own. A leak's signature fits its neighbours' pipes almost as well, so the
        likelihood is often spread over a cluster of pipes, and a lone pipe that fits a little better lies
        outside it. The candidate list stays ranked by each pipe's own likelihood.
    """

    def __init__(self, inp: str | Path, pressure_sensors: Sequence[str], flow_sensors: Sequence[str],
                 transform: np.ndarray, sigma_m: np.ndarray, n_candidates: int | None = 40, workers: int = 2,
                 diameter_m: float = 0.015, window_h: int = 3,
                 mapper: Callable[[Callable, list], list] | None = None, search_radius_m: float | None = None,
                 cache_dir: str | Path | None = None) -> None:
        self.inp = str(inp)
        self.pressure = tuple(pressure_sensors)
        self.flow = tuple(flow_sensors)
        self.transform = transform
        self.sigma_m = np.asarray(sigma_m, dtype=float)
        self.n_candidates = n_candidates
        self.workers = workers
        self.diameter_m = diameter_m
        self.window_h = window_h
        self.mapper = mapper
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self._cache_key = None if cache_dir is None else [  # what the signatures depend on, but for the hour
            SIGNATURE_FORMAT, wntr.__version__, hashlib.sha256(Path(self.inp).read_bytes()).hexdigest(),
            self.pressure, self.flow, self.window_h, self.diameter_m]
        wn = wntr.network.WaterNetworkModel(self.inp)
        self.pipes = list(wn.pipe_name_list)
        graph = nx.Graph()
        for _, link in wn.links():
            graph.add_edge(link.start_node_name, link.end_node_name,
                           weight=float(link.length) if link.link_type == "Pipe" else 0.0)
        self._graph = graph
        self._ends = {p: (wn.get_link(p).start_node_name, wn.get_link(p).end_node_name) for p in self.pipes}
        self._scale_m = float(np.median([wn.get_link(p).length for p in self.pipes])) * 3
        self._base: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._sig: dict[tuple[str, int], tuple[np.ndarray, float]] = {}
        self._loaded: set[int] = set()
        self.search_radius_m = search_radius_m
        self._distance = PipeDistance(wn)
        self._index = {p: i for i, p in enumerate(self.pipes)}
        self._near: dict[str, np.ndarray] = {}

    @functools.cached_property
    def _pipe_sensor_m(self) -> np.ndarray:
        """Network distance (m) from each pipe's nearer end to each pressure sensor (pipes × sensors), worked out
        when first needed: only a search limited to ``n_candidates`` pipes uses it."""
        out = np.full((len(self.pipes), len(self.pressure)), np.inf)
        for j, sensor in enumerate(self.pressure):
            dist = nx.single_source_dijkstra_path_length(self._graph, sensor)
            for i, pipe in enumerate(self.pipes):
                out[i, j] = min(dist.get(n, np.inf) for n in self._ends[pipe])
        return out

    def _near_row(self, pipe: str) -> np.ndarray:
        """Whether each of the network's pipes lies within ``search_radius_m`` of ``pipe`` (cached)."""
        if pipe not in self._near:
            radius = self.search_radius_m or 0.0
            self._near[pipe] = np.array([self._distance(pipe, b) <= radius for b in self.pipes])
        return self._near[pipe]

    def candidate_pipes(self, shift_m: np.ndarray, *, raw: bool = False,
                        within: Collection[str] | None = None) -> list[str]:
        """The pipes nearest to the sensors whose residual dropped most (weights ``max(0, −shift/σ)``; for a raw
        pressure change, ``max(0, −Δp)``: the residual σ does not measure its noise), among ``within`` (e.g. the
        alarmed zone's pipes) when given."""
        allowed = np.array([within is None or p in within for p in self.pipes])
        if self.n_candidates is None or allowed.sum() <= self.n_candidates:
            return [p for p, ok in zip(self.pipes, allowed, strict=True) if ok]
        scale = 1.0 if raw else self.sigma_m
        w = np.clip(-np.nan_to_num(shift_m) / scale, 0, None)
        if not w.any():
            w = np.abs(np.nan_to_num(shift_m)) / scale
        proximity = np.where(allowed, (np.exp(-self._pipe_sensor_m / self._scale_m) * w).sum(axis=1), -np.inf)
        order = np.argsort(-proximity, kind="stable")[: self.n_candidates]
        return [self.pipes[i] for i in order]

    def _cache_file(self, hour: int) -> Path | None:
        if self.cache_dir is None:
            return None
        key = json.dumps([*self._cache_key, hour])
        return self.cache_dir / f"signatures-{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"

    def _load(self, hour: int) -> None:
        """Take the kept signatures of ``hour`` (once per hour and object)."""
        path = self._cache_file(hour)
        if path is None or hour in self._loaded or not path.is_file():
            return
        self._loaded.add(hour)
        try:
            with np.load(path) as kept:
                rows = list(zip(kept["pipes"], kept["changes"], kept["leaks"], strict=True))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):  # unreadable: simulate again, then rewrite it
            return
        for pipe, change, leak in rows:
            self._sig.setdefault((str(pipe), hour), (change, float(leak)))

    def _save(self, hour: int) -> None:
        """Keep every signature of ``hour`` (written to a new file, then renamed over the old one)."""
        path = self._cache_file(hour)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        pipes = sorted(p for p, h in self._sig if h == hour)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, pipes=np.array(pipes), changes=np.array([self._sig[(p, hour)][0] for p in pipes]),
                 leaks=np.array([self._sig[(p, hour)][1] for p in pipes]))
        os.replace(tmp, path)

    def _baseline(self, hour: int) -> tuple[np.ndarray, np.ndarray]:
        if hour not in self._base:
            wn = wntr.network.WaterNetworkModel(self.inp)
            _configure(wn, hour, self.window_h)
            p, q, _ = _readings(wn, self.pressure, self.flow, None)
            self._base[hour] = (p, q)
        return self._base[hour]

    def signatures(self, pipes: Sequence[str], hour: int, *, raw: bool = False
                   ) -> dict[str, tuple[np.ndarray, float]]:
        """Residual-space signature (with ``raw``: the pressure change itself, m) and reference outflow (m³/h)
        of a leak on each pipe at ``hour``."""
        p0, q0 = self._baseline(hour)
        self._load(hour)
        todo = [p for p in pipes if (p, hour) not in self._sig]
        tasks = [(self.inp, p, hour, self.window_h, self.diameter_m, self.pressure, self.flow) for p in todo]
        if self.mapper is not None:
            results = list(self.mapper(_simulate_candidate, tasks))
        elif self.workers > 1 and len(tasks) > 4:
            with ProcessPoolExecutor(self.workers) as pool:
                results = list(pool.map(_simulate_candidate, tasks, chunksize=max(1, len(tasks) // 8)))
        else:
            results = [_simulate_candidate(t) for t in tasks]
        for pipe, p, q, leak in results:
            self._sig[(pipe, hour)] = (np.concatenate([p - p0, q - q0]), leak)
        if results:
            self._save(hour)
        out = {}
        for pipe in pipes:
            change, leak = self._sig[(pipe, hour)]  # [Δp; Δq] against the leak-free run
            out[pipe] = (change[: len(self.pressure)] if raw else self.transform @ change, leak)
        return out

    def locate(self, shift_m: np.ndarray, hour: int, top: int = 10, *, raw: bool = False,
               within: Collection[str] | None = None, groups: np.ndarray | None = None) -> Localisation:
        """Rank candidate pipes for an observed residual shift (m, one value per pressure sensor), or, with
        ``raw``, for the observed change of the pressures themselves against their usual value at those hours.

        The raw change suits a leak that shifts every pressure together (an alarm from the inlet's night flow):
        the residual model, which predicts each sensor from the others, cancels most of such a shift. A raw
        change also carries a common offset (tank levels, the night's demand), so it is matched with a free
        offset, ``o ≈ a·s + b`` (both vectors centred), and likelihoods use the best fit's residual variance;
        ``groups`` (a label per sensor) gives each group of sensors an offset of its own (temporary loggers
        whose datum against the model is unknown, :mod:`suvar.leaks.survey`).
        ``hour`` (of day) is rounded to the nearest of ``SIGNATURE_HOURS`` (to 0 for a window of a day or more) so
        signatures are reused; ``within`` restricts the search to those pipes (the alarmed zone's). Candidates come
        ranked by likelihood; the pipe to report is the first, or with ``search_radius_m`` the centre of the
        likeliest area (class docs). The size and the fit are the best-fitting pipe's either way.
        """
        gaps = [min(abs(hour - h), 24 - abs(hour - h)) for h in SIGNATURE_HOURS]
        hour = SIGNATURE_HOURS[int(np.argmin(gaps))] if self.window_h < 24 else 0  # a day covers every hour
        obs = np.asarray(shift_m, dtype=float)
        ok = np.isfinite(obs)
        labels = (np.zeros(len(obs), dtype=int) if groups is None else np.asarray(groups))[ok]
        offsets = [labels == g for g in np.unique(labels)] if raw else []

        def centred(x: np.ndarray) -> np.ndarray:
            for member in offsets:
                x[member] -= x[member].mean()
            return x

        sigs = self.signatures(self.candidate_pipes(obs, raw=raw, within=within), hour, raw=raw)
        o = centred(obs[ok])
        rows = []
        for pipe, (sig, leak_m3h) in sigs.items():
            s = centred(sig[ok])
            ss = float(s @ s)
            a = max(0.0, float(s @ o) / ss) if ss > 0 else 0.0
            sse = float(((o - a * s) ** 2).sum())
            cos = float(s @ o) / np.sqrt(ss * float(o @ o)) if ss > 0 and o.any() else 0.0
            rows.append((pipe, sse, a * leak_m3h, cos))
        rows.sort(key=lambda r: r[1])
        var = rows[0][1] / max(1, int(ok.sum()) - 1 - len(offsets)) if raw else float(np.mean(self.sigma_m[ok] ** 2))
        var = max(var, 1e-6)
        weights = np.exp(-(np.array([r[1] for r in rows]) - rows[0][1]) / (2 * var))
        weights /= weights.sum()
        pipes = [r[0] for r in rows]
        cands = [(pipes[i], float(weights[i])) for i in range(min(top, len(rows)))]
        best = Localisation(cands, float(rows[0][2]), float(rows[0][3]), pipes[0])
        if not self.search_radius_m:
            return best
        # the most likelihood within the radius, then the most of its own
        cols = [self._index[p] for p in pipes]
        near = np.array([self._near_row(a)[cols] for a in pipes])
        in_area = np.round(near.astype(float) @ weights, 9)
        centre = int(np.lexsort((-weights, -in_area))[0])
        area = tuple(p for p, ok in zip(pipes, near[centre], strict=True) if ok)
        return replace(best, pipe=pipes[centre], area=area, area_likelihood=float(in_area[centre]),
                       radius_m=self.search_radius_m)
