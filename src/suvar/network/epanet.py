"""EPANET ``.inp`` import through WNTR.

WNTR holds a network in SI units whatever the file's flow units: lengths, diameters and elevations in m, base
demands in m³/s. Suvar stores base demand in m³/h.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import wntr

from suvar.store import Store


class NetworkError(ValueError):
    """An EPANET file that cannot be read; the message names the file and the problem."""


def read_inp(path: str | Path) -> wntr.network.WaterNetworkModel:
    """Read an EPANET file; the model keeps no reference to other files (see :func:`without_file_references`)."""
    path = Path(path)
    if not path.is_file():
        raise NetworkError(f"{path}: no such EPANET file")
    try:
        return without_file_references(wntr.network.WaterNetworkModel(str(path)))
    except Exception as exc:  # noqa: BLE001 - WNTR raises many types for a bad file
        raise NetworkError(f"{path}: not a valid EPANET .inp file: {type(exc).__name__}: {exc}") from exc


def without_file_references(wn: wntr.network.WaterNetworkModel) -> wntr.network.WaterNetworkModel:
    """Drop the options by which an EPANET file names other files (in place; returns ``wn``).

    ``[OPTIONS] HYDRAULICS SAVE|USE path`` makes the EPANET engine write (overwriting) or read a hydraulics file at
    any path the file's author chose, every time the model is simulated, and WNTR writes the option back into the
    file it hands the engine; ``MAP`` and ``[BACKDROP] FILE`` name files too. None of them carries network data.
    """
    wn.options.hydraulic.hydraulics = None
    wn.options.hydraulic.hydraulics_filename = None
    wn.options.graphics.map_filename = None
    wn.options.graphics.image_filename = None
    return wn


def network_tables(wn: wntr.network.WaterNetworkModel) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Nodes, links and patterns of a WNTR model as plain tables in SI units (base demand in m³/h)."""
    nodes = []
    for name, node in wn.nodes():
        demand_m3h, pattern = None, None
        if node.node_type == "Junction":
            demand_m3h = sum(d.base_value for d in node.demand_timeseries_list) * 3600.0
            pats = [d.pattern_name for d in node.demand_timeseries_list if d.pattern_name]
            pattern = pats[0] if pats else None
        elevation = node.elevation if node.node_type != "Reservoir" else node.base_head
        x, y = node.coordinates if node.coordinates else (None, None)
        nodes.append((name, node.node_type, x, y, elevation, demand_m3h, pattern))
    links = []
    for name, link in wn.links():
        is_pipe = link.link_type == "Pipe"
        links.append((
            name, link.link_type, link.start_node_name, link.end_node_name,
            link.length if is_pipe else 0.0,
            getattr(link, "diameter", None),
            link.roughness if is_pipe else None,
        ))
    step = int(wn.options.time.pattern_timestep)
    patterns = [
        (pid, step, i, float(m)) for pid, pat in wn.patterns() for i, m in enumerate(pat.multipliers)
    ]
    return (
        pd.DataFrame(nodes, columns=["node_id", "node_type", "x", "y", "elevation_m", "base_demand_m3h",
                                     "demand_pattern"]),
        pd.DataFrame(links, columns=["link_id", "link_type", "start_node", "end_node", "length_m", "diameter_m",
                                     "roughness"]),
        pd.DataFrame(patterns, columns=["pattern_id", "step_s", "position", "multiplier"]),
    )


def import_network(
    store: Store, path: str | Path, utility_id: str, *, name: str | None = None, kind: str | None = None,
    country: str | None = None, model_start: pd.Timestamp | None = None,
) -> dict[str, object]:
    """Read an EPANET file and store it as ``utility_id``'s network; returns a summary. ``model_start``: when
    (UTC) the model's demand patterns begin, so that the model can be run for a given day (a logger survey)."""
    wn = read_inp(path)
    nodes, links, patterns = network_tables(wn)
    if model_start is not None:
        model_start = pd.Timestamp(model_start)
        model_start = (model_start if model_start.tzinfo is None else model_start.tz_convert("UTC").tz_localize(None)
                       ).to_pydatetime()  # stored as naive UTC, as every timestamp
    store.upsert_utility(
        utility_id, name or utility_id, kind=kind, country=country,
        flow_units=str(wn.options.hydraulic.inpfile_units), source_file=Path(path).name, model_start=model_start,
    )
    store.replace_network(utility_id, nodes, links, patterns)
    pipes = links[links["link_type"] == "Pipe"]
    return {
        "utility_id": utility_id,
        "junctions": int((nodes["node_type"] == "Junction").sum()),
        "reservoirs": int((nodes["node_type"] == "Reservoir").sum()),
        "tanks": int((nodes["node_type"] == "Tank").sum()),
        "pipes": len(pipes),
        "pumps": int((links["link_type"] == "Pump").sum()),
        "valves": int((links["link_type"] == "Valve").sum()),
        "mains_length_km": round(float(pipes["length_m"].sum()) / 1000.0, 3),
        "patterns": int(patterns["pattern_id"].nunique()) if len(patterns) else 0,
    }
