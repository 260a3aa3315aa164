"""Import Pywr 1.x JSON models into the basin model.

Pywr ranks water by linear costs; Suvar by priority classes and sharing rules. The mapping:

==========================  ===========================================================================
Pywr node                   basin model
==========================  ===========================================================================
``Input``                   catchment if ``min_flow == max_flow`` (a forced inflow), else groundwater with
                            ``sustainable_yield = max_flow`` (an unbounded Input gets the sum of all Outputs'
                            ``max_flow``, enough for every demand); its cost is ignored
``Catchment``               catchment with ``inflow = flow``
``Output`` with cost < 0    demand; priority classes rank the costs (most negative = class 1, equal costs
and ``max_flow``            share a class and split it by equal coverage, where Pywr returns an arbitrary
                            vertex: pywr/pywr issue #962)
other ``Output``            outlet
``Link``, ``River``         junction, or with ``max_flow`` a junction pair joined by a link of that capacity
``LossLink``                a link with the loss as a share of the inflow: ``f/(1+f)`` for Pywr's default
                            ``loss_factor_type: net``, ``f`` for ``gross``; Pywr's ``max_flow`` bounds the net
                            flow, so the link's capacity is ``max_flow`` divided by ``1 - loss``
``RiverGauge``              a link whose ``min_flow`` is the ``mrf`` (held before all demands, i.e. the
                            usual ``mrf_cost`` below every demand cost)
``Storage``, ``Reservoir``  reservoir: ``max_volume`` capacity, ``min_volume`` dead storage,
                            ``initial_volume`` (or ``initial_volume_pc``); unreleased water is stored
==========================  ===========================================================================

Parameters: numbers, ``constant``, ``monthlyprofile``, ``dataframe`` (a column of a CSV file, path relative to
the model file) and ``aggregated`` (``product``, ``sum``, ``min``, ``max``), inline or named in
``parameters``. Pywr is unitless (often Ml/d); values are multiplied by ``scale_m3`` into m³ per step. Only
daily time steps (``timestep: 1``) are supported. Anything else raises :class:`PywrImportError` naming the
node.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .model import Basin, parse_basin


class PywrImportError(ValueError):
    """A Pywr model using a feature the import does not support."""


class _Params:
    def __init__(self, data: dict, dates: pd.DatetimeIndex, base_dir: Path | None) -> None:
        self.named = {k.lower(): v for k, v in data.get("parameters", {}).items()}
        self.dates = dates
        self.base_dir = base_dir

    def series(self, spec: Any, where: str) -> np.ndarray:
        n = len(self.dates)
        if isinstance(spec, int | float):
            return np.full(n, float(spec))
        if isinstance(spec, str):
            if spec.lower() not in self.named:
                raise PywrImportError(f"{where}: unknown parameter {spec!r}")
            return self.series(self.named[spec.lower()], f"{where} -> {spec}")
        if not isinstance(spec, dict) or "type" not in spec:
            raise PywrImportError(f"{where}: cannot read parameter {spec!r}")
        kind = spec["type"].lower().removesuffix("parameter")
        if kind == "constant":
            return np.full(n, float(spec.get("value", spec.get("values"))))
        if kind == "monthlyprofile":
            values = np.asarray(spec["values"], dtype=float)
            if values.size != 12:
                raise PywrImportError(f"{where}: monthlyprofile needs 12 values, got {values.size}")
            return values[self.dates.month - 1]
        if kind == "dataframe":
            if self.base_dir is None:
                raise PywrImportError(f"{where}: dataframe parameter needs the model file's directory")
            # The data file must lie in the model's directory: a model from elsewhere must not read other files.
            data_file = (self.base_dir / str(spec["url"])).resolve()
            if not data_file.is_relative_to(self.base_dir.resolve()):
                raise PywrImportError(f"{where}: data file {spec['url']!r} lies outside the model's directory")
            try:
                frame = pd.read_csv(data_file, index_col=spec.get("index_col"), parse_dates=True)
            except (OSError, ValueError) as exc:
                raise PywrImportError(f"{where}: cannot read data file {spec['url']!r}: {exc}") from None
            column = frame[spec["column"]] if "column" in spec else frame.iloc[:, 0]
            values = column.reindex(self.dates)
            if values.isna().any():
                raise PywrImportError(
                    f"{where}: {spec['url']} does not cover {self.dates[0]}..{self.dates[-1]}"
                )
            return values.to_numpy(dtype=float)
        if kind == "aggregated":
            parts = [self.series(p, where) for p in spec["parameters"]]
            funcs = {"product": np.prod, "sum": np.sum, "min": np.min, "max": np.max}
            if spec.get("agg_func") not in funcs:
                raise PywrImportError(f"{where}: aggregated agg_func {spec.get('agg_func')!r} not supported")
            return funcs[spec["agg_func"]](np.vstack(parts), axis=0)
        raise PywrImportError(f"{where}: parameter type {spec['type']!r} not supported")


def _values(x: np.ndarray, scale: float) -> float | list[float]:
    x = np.asarray(x, dtype=float) * scale
    return float(x[0]) if np.all(x == x[0]) else x.tolist()


def import_pywr(
    data: dict, base_dir: Path | None = None, n_steps: int | None = None, scale_m3: float = 1.0
) -> Basin:
    """Build a :class:`~suvar.allocation.model.Basin` from a parsed Pywr 1.x JSON model (see module doc).

    ``n_steps`` shortens the run (default: the whole timestepper); ``base_dir`` resolves relative data files.
    """
    ts = data.get("timestepper", {})
    if int(ts.get("timestep", 1)) != 1:
        raise PywrImportError(f"timestepper.timestep = {ts.get('timestep')}: only daily steps are supported")
    dates = pd.date_range(ts["start"], ts["end"], freq="D")
    if n_steps is not None:
        dates = dates[:n_steps]
    params = _Params(data, dates, base_dir)
    nodes = {n["name"]: n for n in data["nodes"]}
    parts: dict[str, list[dict]] = {
        k: [] for k in ("catchments", "reservoirs", "groundwater", "junctions", "outlets", "links", "demands")
    }
    entry: dict[str, str] = {}  # Pywr node -> basin node that its incoming edges reach
    leave: dict[str, str] = {}  # Pywr node -> basin node that its outgoing edges leave from
    costs: dict[str, float] = {}
    unbounded_inputs: list[str] = []

    def get(node: dict, key: str) -> np.ndarray | None:
        return None if node.get(key) is None else params.series(node[key], f"nodes.{node['name']}.{key}")

    for name, node in nodes.items():
        kind = node["type"].lower()
        where = f"nodes.{name}"
        entry[name] = leave[name] = name
        if kind == "input":
            hi, lo = get(node, "max_flow"), get(node, "min_flow")
            if hi is not None and lo is not None and np.array_equal(hi, lo):
                parts["catchments"].append({"id": name, "inflow_m3": _values(hi, scale_m3)})
            elif hi is None:
                unbounded_inputs.append(name)
            else:
                parts["groundwater"].append({"id": name, "sustainable_yield_m3": _values(hi, scale_m3)})
        elif kind == "catchment":
            parts["catchments"].append({"id": name, "inflow_m3": _values(get(node, "flow"), scale_m3)})
        elif kind == "output":
            cost, hi = float(node.get("cost", 0.0)), get(node, "max_flow")
            if cost < 0 and hi is not None:
                costs[name] = cost
                parts["demands"].append(
                    {
                        "id": name,
                        "kind": "city",
                        "demand_m3": _values(hi, scale_m3),
                        "priority": 0,
                        "body": "pywr",
                    }
                )
            else:
                parts["outlets"].append({"id": name})
        elif kind in ("storage", "reservoir"):
            cap = get(node, "max_volume")
            if cap is None or not np.all(cap == cap[0]):
                raise PywrImportError(f"{where}.max_volume: a constant is required")
            dead = get(node, "min_volume")
            initial = node.get("initial_volume")
            if initial is None:
                initial = float(node.get("initial_volume_pc", 1.0)) * cap[0]
            parts["reservoirs"].append(
                {
                    "id": name,
                    "capacity_m3": cap[0] * scale_m3,
                    "dead_storage_m3": 0.0 if dead is None else float(dead[0]) * scale_m3,
                    "initial_storage_m3": float(initial) * scale_m3,
                }
            )
        elif kind in ("link", "river", "losslink", "rivergauge"):
            hi, mrf = get(node, "max_flow"), get(node, "mrf") if kind == "rivergauge" else None
            factor = float(node.get("loss_factor", 0.0)) if kind == "losslink" else 0.0
            loss = factor if node.get("loss_factor_type", "net") == "gross" else factor / (1 + factor)
            if hi is None and mrf is None and loss == 0:
                parts["junctions"].append({"id": name})
                continue
            entry[name], leave[name] = f"{name}:in", name
            parts["junctions"] += [{"id": f"{name}:in"}, {"id": name}]
            link: dict[str, Any] = {
                "id": f"{name}:link",
                "from": f"{name}:in",
                "to": name,
                "loss_fraction": loss,
                "kind": "river" if kind in ("river", "rivergauge") else "canal",
            }
            if hi is not None:
                link["capacity_m3"] = _values(hi / (1 - loss), scale_m3)
            if mrf is not None:
                link["min_flow_m3"] = _values(mrf, scale_m3)
            parts["links"].append(link)
        else:
            raise PywrImportError(f"{where}: node type {node['type']!r} not supported")
    total_demand = sum(float(np.max(np.atleast_1d(d["demand_m3"]))) for d in parts["demands"])
    for name in unbounded_inputs:
        parts["groundwater"].append({"id": name, "sustainable_yield_m3": total_demand})
    for i, edge in enumerate(data["edges"]):
        if len(edge) > 2 and any(e is not None for e in edge[2:]):
            raise PywrImportError(f"edges[{i}]: slots are not supported ({edge})")
        a, b = edge[0], edge[1]
        for end in (a, b):
            if end not in nodes:
                raise PywrImportError(f"edges[{i}]: unknown node {end!r}")
        parts["links"].append({"id": f"{a}->{b}", "from": leave[a], "to": entry[b], "kind": "canal"})
    ranks = {c: k + 1 for k, c in enumerate(sorted(set(costs.values())))}
    for d in parts["demands"]:
        d["priority"] = ranks[costs[d["id"]]]
    title = data.get("metadata", {}).get("title", "pywr model")
    return parse_basin(
        {"name": title, "time_step": "day", "start": dates[0].date(), "n_steps": len(dates), **parts},
        source=f"pywr:{title}",
    )


def load_pywr(path: str | Path, n_steps: int | None = None, scale_m3: float = 1.0) -> Basin:
    """Read a Pywr 1.x JSON file and import it (see :func:`import_pywr`)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PywrImportError(f"{path}: cannot read Pywr model: {exc}") from None
    try:
        return import_pywr(data, base_dir=path.parent, n_steps=n_steps, scale_m3=scale_m3)
    except PywrImportError as exc:
        raise PywrImportError(f"{path}: {exc}") from None
