"""Scenario runs (inflows scaled against the basin's normal series) and side-by-side comparison of plans."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .model import Basin, series_m3
from .solve import AllocationResult, allocate


def scale_inflows(basin: Basin, factor: float) -> Basin:
    """The basin with every catchment inflow multiplied by ``factor`` (e.g. 0.6 for a 60 %-of-normal year)."""
    if not np.isfinite(factor) or factor < 0:
        raise ValueError(f"inflow factor must be finite and >= 0, got {factor}")
    catchments = [
        c.model_copy(update={"inflow_m3": (series_m3(c.inflow_m3, basin.n_steps) * factor).tolist()})
        for c in basin.catchments
    ]
    return basin.model_copy(update={"catchments": catchments})


def allocate_scaled(item: tuple[Basin, float]) -> AllocationResult:
    """Allocate ``basin`` with its inflows scaled by ``factor`` (``item = (basin, factor)``): one scenario run."""
    basin, factor = item
    return allocate(scale_inflows(basin, factor))


def run_scenarios(basin: Basin, factors: dict[str, float],
                  mapper: Callable[[Callable, list], list] | None = None) -> dict[str, AllocationResult]:
    """Allocate the basin under each named inflow factor.

    ``mapper(fn, items)`` (returning ``[fn(item) for item in items]``, e.g. :func:`suvar.lake.cluster.dask_mapper`)
    runs the scenarios elsewhere, one task each; every scenario is an independent deterministic LP run, so the
    results are those of the serial loop.
    """
    items = [(basin, f) for f in factors.values()]
    results = mapper(allocate_scaled, items) if mapper is not None else [allocate_scaled(i) for i in items]
    return dict(zip(factors, results, strict=True))


def compare_users(results: dict[str, AllocationResult]) -> pd.DataFrame:
    """Per scenario and user over the whole run: requirement, allocation, shortfall (m³), volumetric coverage
    ``sum(allocation) / sum(requirement)`` and the worst step's coverage."""
    rows = []
    for name, r in results.items():
        meta = {d.id: d for d in r.basin.demands}
        for user in r.delivered_m3.columns:
            req, got = float(r.requirement_m3[user].sum()), float(r.delivered_m3[user].sum())
            rows.append(
                {
                    "scenario": name,
                    "user": user,
                    "priority": meta[user].priority,
                    "body": meta[user].body,
                    "requirement_m3": req,
                    "allocation_m3": got,
                    "shortfall_m3": max(req - got, 0.0),
                    "coverage": got / req if req > 0 else np.nan,
                    "worst_step_coverage": float(r.coverage[user].min()),
                }
            )
    return pd.DataFrame(rows)


def compare_system(results: dict[str, AllocationResult]) -> pd.DataFrame:
    """Per scenario: total shortfall (m³), end and minimum total reservoir storage (m³), and environmental
    flow compliance: the share of (link, step) pairs with a minimum flow that met it, and the volumetric ratio
    ``sum(min(flow, min_flow)) / sum(min_flow)``."""
    rows = []
    for name, r in results.items():
        storage = r.storage_m3.sum(axis=1)
        need = r.min_flow_m3
        flow = r.link_flow_m3[need.columns]
        has = need > 0
        met = (flow >= need * (1 - 1e-6)) & has
        rows.append(
            {
                "scenario": name,
                "shortfall_m3": float((r.requirement_m3 - r.delivered_m3).clip(lower=0).to_numpy().sum()),
                "end_storage_m3": float(storage.iloc[-1])
                if len(storage.index) and r.storage_m3.shape[1]
                else 0.0,
                "min_storage_m3": float(storage.min()) if r.storage_m3.shape[1] else 0.0,
                "env_flow_steps_met": float(met.to_numpy().sum() / has.to_numpy().sum())
                if has.any().any()
                else np.nan,
                "env_flow_volume_ratio": float(
                    np.minimum(flow, need).to_numpy().sum() / need.to_numpy().sum()
                )
                if has.any().any()
                else np.nan,
            }
        )
    return pd.DataFrame(rows).set_index("scenario")
