"""Zones (DMAs): from a node file, or derived from the metered boundary links of each zone.

Boundary derivation: remove every boundary link from the network graph; each connected part that an inlet
link enters (its end node) or an outlet link leaves (its start node) belongs to that link's zone. A part claimed
by two zones, or a zone that claims no part, is an error naming the zone and links.
"""

from __future__ import annotations

import csv
from pathlib import Path

import networkx as nx
import pandas as pd

from suvar.store import Store

ROLES = ("inlet", "outlet")


class ZoneError(ValueError):
    """Bad zone definition; the message names the file, row or zone."""


def read_zone_csv(path: str | Path, columns: tuple[str, ...]) -> pd.DataFrame:
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ZoneError(f"{path}: cannot read as a UTF-8 CSV file: {exc}") from exc
    if not rows or not set(columns) <= set(rows[0]):
        raise ZoneError(f"{path}: expected a CSV with header {','.join(columns)}")
    for i, row in enumerate(rows, start=2):
        for col in columns:
            if not (row.get(col) or "").strip():
                raise ZoneError(f"{path}, line {i}: empty {col}")
        if "role" in columns and row["role"].strip() not in ROLES:
            raise ZoneError(f"{path}, line {i}: role must be inlet or outlet, not {row['role']!r}")
    return pd.DataFrame([{c: row[c].strip() for c in columns} for row in rows])


def check_node_zones(node_zone: pd.DataFrame, nodes: pd.DataFrame, source: str) -> pd.DataFrame:
    """The node-to-zone table, checked: every node exists, and none is put in two zones (a repeated identical row
    is harmless and dropped). Lines are counted as in a file with a header line."""
    unknown = sorted(set(node_zone["node_id"]) - set(nodes["node_id"]))
    if unknown:
        raise ZoneError(f"{source}: unknown node(s) {', '.join(unknown[:10])}")
    zones_of = node_zone.groupby("node_id")["zone_id"].nunique()
    torn = zones_of[zones_of > 1].index
    if len(torn):
        node = torn[0]
        rows = node_zone.reset_index(drop=True)
        lines = [f"line {i + 2}: {z}" for i, z in rows.loc[rows["node_id"] == node, "zone_id"].items()]
        raise ZoneError(f"{source}: node {node} is put in more than one zone ({'; '.join(lines)})"
                        + (f", and {len(torn) - 1} more node(s) too" if len(torn) > 1 else ""))
    return node_zone.drop_duplicates(["node_id", "zone_id"])


def zones_from_boundary(nodes: pd.DataFrame, links: pd.DataFrame, boundary: pd.DataFrame) -> pd.DataFrame:
    """Assign nodes to zones from each zone's inlet and outlet links (see module docstring).

    Parameters
    ----------
    nodes, links : the network tables (``node_id``; ``link_id, start_node, end_node``).
    boundary : ``zone_id, link_id, role`` with role ``inlet`` or ``outlet``.

    Returns
    -------
    DataFrame of ``node_id, zone_id`` for the nodes inside a zone.
    """
    by_id = links.set_index("link_id")
    unknown = sorted(set(boundary["link_id"]) - set(by_id.index))
    if unknown:
        raise ZoneError(f"boundary links not in the network: {', '.join(unknown)}")
    cut = set(boundary["link_id"])
    graph = nx.Graph()
    graph.add_nodes_from(nodes["node_id"])
    inner = links[~links["link_id"].isin(cut)]
    graph.add_edges_from(zip(inner["start_node"], inner["end_node"], strict=True))
    part_of = {}
    for i, comp in enumerate(nx.connected_components(graph)):
        for n in comp:
            part_of[n] = i
    claims: dict[int, str] = {}
    for zone, link, role in boundary[["zone_id", "link_id", "role"]].itertuples(index=False):
        row = by_id.loc[link]
        node = row["end_node"] if role == "inlet" else row["start_node"]
        part = part_of[node]
        if claims.get(part, zone) != zone:
            raise ZoneError(f"zones {claims[part]} and {zone} both claim the area around node {node} (link {link}): "
                            "a boundary link is missing between them")
        claims[part] = zone
    missing = sorted(set(boundary["zone_id"]) - set(claims.values()))
    if missing:
        raise ZoneError(f"zone(s) {', '.join(missing)} enclose no nodes")
    rows = [(n, claims[p]) for n, p in part_of.items() if p in claims]
    return pd.DataFrame(sorted(rows), columns=["node_id", "zone_id"])


def apply_zones(
    store: Store, utility_id: str, *, node_file: str | Path | None = None, boundary_file: str | Path | None = None,
    boundary: pd.DataFrame | None = None,
) -> list[str]:
    """Define a utility's zones from a node file, a boundary-link file or a boundary table; returns the zones."""
    nodes, links = store.nodes(utility_id), store.links(utility_id)
    if node_file is not None:
        node_zone = read_zone_csv(node_file, ("node_id", "zone")).rename(columns={"zone": "zone_id"})
        node_zone = check_node_zones(node_zone, nodes, str(node_file))
    else:
        if boundary is None:
            if boundary_file is None:
                raise ZoneError("give a node file or the boundary links of each zone")
            boundary = read_zone_csv(boundary_file, ("zone", "link_id", "role")).rename(columns={"zone": "zone_id"})
        node_zone = zones_from_boundary(nodes, links, boundary)
    store.set_zones(utility_id, node_zone, boundary)
    return sorted(node_zone["zone_id"].unique())
