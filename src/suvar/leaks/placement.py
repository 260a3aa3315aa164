"""Where to add pressure loggers so that leaks on neighbouring pipes can be told apart.

The localiser (:mod:`suvar.leaks.localise`) matches an observed pressure change to each pipe's simulated leak
signature up to the leak's size, so two pipes whose signatures at the sensors point the same way cannot be told
apart however good the data. With ``s_p`` the change of the day-mean pressures (m) that a reference leak on pipe
``p`` causes at the sensors, centred over the sensors (a common shift of every pressure says nothing of where the
leak is: the raw match takes it out as a free offset, the residual model cancels it), pipes ``p`` and ``q`` are
*confusable* when

    cos(s_p, s_q) = s_p·s_q / (|s_p| |s_q|) > τ

(a pipe whose leak moves no sensor, ``|s_p| ≈ 0``, is confusable with every other such pipe). The number of
confusable pairs is the (inverse) isolability index of Casillas, Puig, Garza-Castañón and Rosich (2013,
"Optimal sensor placement for leak location in water distribution networks using genetic algorithms", Sensors
13(11), 14984-15005), which thresholds the angle between sensitivity vectors the same way. :func:`rank_sites`
adds sensors greedily, each time the node that leaves the fewest confusable pairs; adding a node to the
centred Gram matrix is a rank-one update, so every node of a network is tried at each step.

``τ`` = 0.99: on the demo's p654 leak (28-day Lakeside Town), the fifteen best-fitting pipes, which the
localiser could not tell apart, had cosines with the observed change of 0.989-0.991.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import wntr

from suvar.leaks.localise import Localiser

CONFUSABLE_COSINE = 0.99
#: Below this norm (m) a centred signature is taken as no signal at all.
SILENT_M = 1e-6


def node_signatures(inp: str | Path, pipes: Sequence[str] | None = None, nodes: Sequence[str] | None = None, *,
                    workers: int = 2, window_h: int = 24, diameter_m: float = 0.015,
                    cache_dir: str | Path | None = None) -> pd.DataFrame:
    """Change of the mean pressure (m) at ``nodes`` (default: every junction) over ``window_h`` hours from midnight
    with a reference leak (hole ``diameter_m``) on each of ``pipes`` (default: every pipe): one row per pipe,
    simulated as the localiser's signatures are (:class:`~suvar.leaks.localise.Localiser`, in parallel, kept in
    ``cache_dir`` when given)."""
    loc = junction_localiser(inp, nodes, workers=workers, window_h=window_h, diameter_m=diameter_m,
                             cache_dir=cache_dir)
    pipes = list(loc.pipes if pipes is None else pipes)
    sigs = loc.signatures(pipes, 0, raw=True)
    return pd.DataFrame([sigs[p][0] for p in pipes], index=pd.Index(pipes, name="pipe"), columns=list(loc.pressure))


def junction_localiser(inp: str | Path, nodes: Sequence[str] | None = None, *, workers: int = 2, window_h: int = 24,
                       diameter_m: float = 0.015, cache_dir: str | Path | None = None) -> Localiser:
    """A localiser on raw pressure changes with ``nodes`` (default: every junction) as its sensors, every pipe a
    candidate: the one :func:`node_signatures` simulates with, so both share kept signatures."""
    if nodes is None:
        nodes = wntr.network.WaterNetworkModel(str(inp)).junction_name_list
    nodes = list(nodes)
    return Localiser(inp, nodes, [], np.eye(len(nodes)), np.ones(len(nodes)), n_candidates=None, workers=workers,
                     window_h=window_h, diameter_m=diameter_m, cache_dir=cache_dir)


def _confusable_count(gram: np.ndarray, sums: np.ndarray, m: int, threshold: float) -> int:
    """Confusable pairs from the raw Gram matrix ``X Xᵀ`` and row sums of ``m`` sensors' signatures ``X``:
    centred ``C = X Xᵀ − u uᵀ/m``, ``cos_pq = C_pq / √(C_pp C_qq)``."""
    c = gram - np.outer(sums, sums) / m
    norm = np.sqrt(np.clip(np.diag(c), 0, None))
    silent = norm < SILENT_M
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = c / np.outer(norm, norm)
    same = (cos > threshold) | (silent[:, None] & silent[None, :])
    return int((np.triu(same, k=1)).sum())


def confusable_pairs(signatures: pd.DataFrame, sensors: Sequence[str], threshold: float = CONFUSABLE_COSINE) -> int:
    """Number of pipe pairs (rows of ``signatures``) that the ``sensors`` (columns) cannot tell apart (module
    docs)."""
    x = signatures[list(sensors)].to_numpy(dtype=float)
    return _confusable_count(x @ x.T, x.sum(axis=1), x.shape[1], threshold)


def confusable_with(signatures: pd.DataFrame, sensors: Sequence[str], pipe: str,
                    threshold: float = CONFUSABLE_COSINE) -> list[str]:
    """The pipes that ``sensors`` cannot tell from ``pipe`` (centred cosine above ``threshold``), most alike
    first."""
    x = signatures[list(sensors)].to_numpy(dtype=float)
    x = x - x.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(x, axis=1)
    i = signatures.index.get_loc(pipe)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.nan_to_num(x @ x[i] / (norm * norm[i]))
    order = np.argsort(-cos, kind="stable")
    return [signatures.index[j] for j in order if j != i and cos[j] > threshold]


def rank_sites(signatures: pd.DataFrame, sensors: Sequence[str], n_sites: int = 3,
               candidates: Sequence[str] | None = None, threshold: float = CONFUSABLE_COSINE) -> pd.DataFrame:
    """Greedy sensor placement: ``n_sites`` nodes to add to ``sensors``, each the candidate node (default: every
    column of ``signatures`` not yet a sensor) that leaves the fewest confusable pipe pairs; fewer when no node
    would tell another pair apart.

    Returns one row per added node, in order: ``node``, ``confusable_pairs`` (left with it and those before it)
    and ``resolved_pairs`` (fewer than before it).
    """
    chosen = list(sensors)
    pool = [n for n in (signatures.columns if candidates is None else candidates) if n not in chosen]
    x = signatures[chosen].to_numpy(dtype=float)
    gram, sums = x @ x.T, x.sum(axis=1)
    before = _confusable_count(gram, sums, len(chosen), threshold)
    rows = []
    for _ in range(n_sites):
        if not pool:
            break
        counts = []
        for node in pool:
            v = signatures[node].to_numpy(dtype=float)
            counts.append(_confusable_count(gram + np.outer(v, v), sums + v, len(chosen) + 1, threshold))
        k = int(np.argmin(counts))
        if counts[k] == before:
            break  # no node tells another pair apart
        node = pool.pop(k)
        v = signatures[node].to_numpy(dtype=float)
        gram, sums = gram + np.outer(v, v), sums + v
        chosen.append(node)
        rows.append({"node": node, "confusable_pairs": counts[k], "resolved_pairs": before - counts[k]})
        before = counts[k]
    return pd.DataFrame(rows, columns=["node", "confusable_pairs", "resolved_pairs"])


def survey_sites(inp: str | Path, pipes: Sequence[str], sensors: Sequence[str], n_sites: int = 3, *,
                 workers: int = 2, cache_dir: str | Path | None = None) -> dict[str, object] | None:
    """Where temporary loggers would best tell ``pipes`` (an alarm's survey area) apart, given the pressure
    ``sensors``: ``{"nodes": [...], "confusable_pairs": [before, after]}`` (:func:`rank_sites` over every
    junction), or None when the sensors already tell every pair apart or no logger would tell another apart."""
    sig = node_signatures(inp, pipes, workers=workers, cache_dir=cache_dir)
    sensors = [s for s in sensors if s in sig.columns]
    ranked = rank_sites(sig, sensors, n_sites)
    if ranked.empty:
        return None
    before = int(ranked.confusable_pairs.iloc[0] + ranked.resolved_pairs.iloc[0])
    return {"nodes": list(ranked.node), "confusable_pairs": [before, int(ranked.confusable_pairs.iloc[-1])]}
