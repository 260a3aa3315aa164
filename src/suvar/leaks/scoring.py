"""BattLeDIM 2020 economic score and LeakDB detection metrics.

BattLeDIM: Vrachimis, S. G. et al. (2022), "Battle of the Leakage Detection and Isolation Methods",
J. Water Resour. Plann. Manage. 148(12); scoring algorithm KIOS-Research/BattLeDIM
(``Scoring Algorithm/Scoring_Algorithm.m``, ``functions/scoring_function.m``), EUPL-1.2.
LeakDB: Vrachimis, S. G. et al. (2018), "LeakDB: a benchmark dataset for leakage diagnosis in water
distribution networks", CCWI/WDSA 2018; scoring KIOS-Research/LeakDB
(``CCWI-WDSA2018/Scoring Function/scoring_algorithm.m``), EUPL-1.2.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd
import wntr

from suvar.leaks.io import Detection, Leak


class ScoringError(ValueError):
    """Inputs to a scorer are inconsistent (unknown pipe, missing leak flow series, shape mismatch)."""


class PipeDistance:
    """Distance in metres between two links of a network, as in the BattLeDIM scorer.

    ``x(a, b) = 0`` if ``a == b``, else ``min over end nodes (u of a, v of b) of d(u, v) + L_a/2 + L_b/2``,
    where ``d`` is the shortest path on the undirected network graph with pipe lengths as weights (pumps and
    valves weigh 0) and ``L`` are pipe lengths (0 for pumps and valves).
    """

    def __init__(self, wn: wntr.network.WaterNetworkModel) -> None:
        self._graph = nx.Graph()
        self._ends: dict[str, tuple[str, str]] = {}
        self._length_m: dict[str, float] = {}
        for name, link in wn.links():
            length = float(link.length) if link.link_type == "Pipe" else 0.0
            self._ends[name] = (link.start_node_name, link.end_node_name)
            self._length_m[name] = length
            u, v = self._ends[name]
            if not self._graph.has_edge(u, v) or self._graph[u][v]["weight"] > length:
                self._graph.add_edge(u, v, weight=length)
        self._cache: dict[str, dict[str, float]] = {}

    def _check(self, link: str) -> None:
        if link not in self._ends:
            raise ScoringError(f"link {link!r} is not in the network")

    def from_link(self, link: str) -> dict[str, float]:
        """Shortest distance (m) from the nearer end node of ``link`` to every node."""
        self._check(link)
        if link not in self._cache:
            self._cache[link] = nx.multi_source_dijkstra_path_length(self._graph, set(self._ends[link]))
        return self._cache[link]

    def __call__(self, a: str, b: str) -> float:
        """Distance in metres between links ``a`` and ``b``."""
        self._check(a)
        self._check(b)
        if a == b:
            return 0.0
        dist = self.from_link(a)
        d_nodes = min(dist.get(n, np.inf) for n in self._ends[b])
        return d_nodes + self._length_m[a] / 2 + self._length_m[b] / 2


@dataclass
class BattLeDIMScore:
    """Result of :func:`battledim_score` (all money in euros)."""

    total_eur: float
    tp: int
    fp: int
    fn: int
    perfect_eur: float
    per_detection_eur: list[float] = field(default_factory=list)
    matched_leak: list[str | None] = field(default_factory=list)
    delays: list[pd.Timedelta] = field(default_factory=list)
    distances_m: list[float] = field(default_factory=list)

    @property
    def percent_of_perfect(self) -> float:
        """Total as a percentage of the perfect submission's score."""
        return 100.0 * float(self.total_eur) / self.perfect_eur if self.perfect_eur else float("nan")

    @property
    def median_delay_h(self) -> float:
        """Median detection delay (h) over true positives; NaN if none."""
        if not self.delays:
            return float("nan")
        return float(np.median([d / pd.Timedelta(hours=1) for d in self.delays]))

    @property
    def mean_distance_m(self) -> float:
        """Mean distance (m) between detected pipe and true leak pipe over true positives; NaN if none."""
        return float(np.mean(self.distances_m)) if self.distances_m else float("nan")

    def as_dict(self) -> dict[str, float | int]:
        """Summary as a JSON-ready mapping."""
        return {"score_eur": round(self.total_eur, 2), "perfect_eur": round(self.perfect_eur, 2),
                "percent_of_perfect": round(self.percent_of_perfect, 2), "tp": self.tp, "fp": self.fp,
                "fn": self.fn, "median_delay_h": round(self.median_delay_h, 2),
                "mean_distance_m": round(self.mean_distance_m, 1)}


def battledim_score(detections: Iterable[Detection], leaks: list[Leak], leak_flows_m3h: pd.DataFrame,
                    distance: PipeDistance, x_max_m: float = 300.0, water_eur_per_m3: float = 0.80,
                    crew_eur: float = 500.0) -> BattLeDIMScore:
    """BattLeDIM 2020 economic score of a list of detections.

    The evaluation period is ``leak_flows_m3h.index`` (regular steps, 5 min in BattLeDIM); times are
    converted to steps ``k = round((t - t0)/Δt)`` from its first time ``t0``. Detections with ``k < 0`` are
    dropped, the rest sorted by time (stable). For each detection the leaks with ``start <= t_d <= end`` and
    ``x <= x_max`` qualify (``x``: :class:`PipeDistance`). The nearest qualifying leak not yet detected
    scores ``0.80 €/m³ · V − (x/x_max) · 500 €``, where ``V = Σ q_i Δt`` (m³) is the leak's outflow from
    sample ``max(k, 1)`` on, counted one-based as in the organisers' MATLAB code (so the sample one step
    before ``t_d`` is included); if all qualifying leaks are already detected the detection scores 0; if none
    qualifies it is a false positive (−500 €). A perfect submission scores ``0.80 · Σ V_total``.

    Parameters
    ----------
    detections : detections (pipe, estimated start time)
    leaks : the true leaks
    leak_flows_m3h : each leak's outflow (m³/h), one column per leak pipe, over the evaluation period
    distance : pipe distance on the network
    """
    index = pd.DatetimeIndex(leak_flows_m3h.index)
    if len(index) < 2:
        raise ScoringError("leak flow series needs at least two time steps")
    t0, step = index[0], index[1] - index[0]
    step_h = step / pd.Timedelta(hours=1)
    missing = [lk.link_id for lk in leaks if lk.link_id not in leak_flows_m3h.columns]
    if missing:
        raise ScoringError(f"leak flow series lacks a column for leak pipe(s) {missing}")
    flows = {lk.link_id: leak_flows_m3h[lk.link_id].to_numpy(dtype=float) for lk in leaks}

    def steps(t: pd.Timestamp) -> int:
        return int(round((t - t0) / step))

    dets = sorted((d for d in detections if steps(d.time) >= 0), key=lambda d: d.time)
    leak_steps = [(steps(lk.start), steps(lk.end)) for lk in leaks]
    result = BattLeDIMScore(0.0, 0, 0, len(leaks), 0.0)
    detected: set[int] = set()
    for det in dets:
        k = steps(det.time)
        x = np.array([distance(det.link_id, lk.link_id) for lk in leaks])
        qualify = [j for j, (s, e) in enumerate(leak_steps) if s <= k <= e and abs(x[j]) <= x_max_m]
        fresh = [j for j in qualify if j not in detected]
        if not qualify:
            score, matched = -crew_eur, None
            result.fp += 1
        elif not fresh:
            score, matched = 0.0, None
        else:
            j = min(fresh, key=lambda i: x[i])
            volume_m3 = flows[leaks[j].link_id][max(k, 1) - 1:].sum() * step_h
            score = volume_m3 * water_eur_per_m3 - x[j] / x_max_m * crew_eur
            detected.add(j)
            matched = leaks[j].link_id
            result.delays.append(det.time - leaks[j].start)
            result.distances_m.append(float(x[j]))
        result.per_detection_eur.append(float(score))
        result.matched_leak.append(matched)
    result.total_eur = round(sum(result.per_detection_eur), 2)
    result.tp = len(detected)
    result.fn = len(leaks) - result.tp
    result.perfect_eur = round(float(sum(f.sum() for f in flows.values()) * step_h * water_eur_per_m3), 2)
    return result


@dataclass(frozen=True)
class LeakDBMetrics:
    """Per-time-step detection metrics of LeakDB (fractions in [0, 1])."""

    tpr: float
    tnr: float
    f1: float
    early_detection: float

    def as_dict(self) -> dict[str, float]:
        """Metrics in percent, as LeakDB reports them."""
        return {k: round(100 * v, 2) for k, v in self.__dict__.items()}


def _spans(labels: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of ones in a 0/1 vector."""
    padded = np.concatenate([[0], labels.astype(int), [0]])
    d = np.diff(padded)
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1, strict=True))


def early_detection_score(truth: np.ndarray, predicted: np.ndarray, extra_steps: int = 10,
                          persistence: float = 0.75, alpha: float = 5.0) -> float:
    """LeakDB early-detection score (SED) of per-step labels, normalised to the ideal detector (1 = ideal).

    For each leak window ``[t_f, t_e]`` extended by ``extra_steps`` (clipped to the series), with
    ``τ_w = t_e − t_f + extra``: the first alarm at offset ``D`` counts only if alarms hold for more than
    ``persistence`` of the window from ``D`` on; it scores ``σ(D) = 2 / (1 + exp(α D / τ_w))``, else 0.
    The total is divided by the number of leaks (each ideally scores σ(0) = 1). ``truth`` and ``predicted``
    are 1-D (one scenario) or 2-D (scenarios × steps). Leaks running to the end of the series end there.
    """
    truth, predicted = np.atleast_2d(truth), np.atleast_2d(predicted)
    scores, n_leaks = 0.0, 0
    for lab, alg in zip(truth, predicted, strict=True):
        n = lab.size
        for first, last in _spans(lab):
            n_leaks += 1
            extra = min(extra_steps, n - 1 - last)
            tau = last - first + extra
            window = alg[first:first + tau + 1]
            hits = np.flatnonzero(window == 1)
            if hits.size == 0:
                continue
            d = int(hits[0])
            if window[d:].mean() > persistence:
                scores += 2.0 / (1.0 + np.exp(alpha / max(tau, 1) * d))
    return scores / n_leaks if n_leaks else float("nan")


def leakdb_metrics(truth: np.ndarray, predicted: np.ndarray) -> LeakDBMetrics:
    """LeakDB per-time-step metrics: TPR = TP/(TP+FN), TNR = TN/(TN+FP), F1 = 2TP/(2TP+FP+FN), SED.

    ``truth`` and ``predicted`` are 0/1 arrays of the same shape (steps, or scenarios × steps), pooled over
    all scenarios as in LeakDB's ``scoring_algorithm.m``. Ratios with an empty denominator are NaN.
    """
    truth, predicted = np.asarray(truth).astype(int), np.asarray(predicted).astype(int)
    if truth.shape != predicted.shape:
        raise ScoringError(f"label shapes differ: truth {truth.shape}, predicted {predicted.shape}")
    tp = int(((truth == 1) & (predicted == 1)).sum())
    tn = int(((truth == 0) & (predicted == 0)).sum())
    fp = int(((truth == 0) & (predicted == 1)).sum())
    fn = int(((truth == 1) & (predicted == 0)).sum())

    def ratio(a: int, b: int) -> float:
        return a / b if b else float("nan")

    return LeakDBMetrics(tpr=ratio(tp, tp + fn), tnr=ratio(tn, tn + fp), f1=ratio(2 * tp, 2 * tp + fp + fn),
                         early_detection=early_detection_score(truth, predicted))
