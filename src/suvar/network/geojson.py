"""GeoJSON of a utility's network for the map: nodes, pipes and zone outlines.

Coordinates are the EPANET file's own planar coordinates; the panel draws them in Leaflet's simple (flat)
reference system, so no tile server is needed. A zone's outline is the convex hull of its nodes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import ConvexHull, QhullError


def network_geojson(nodes: pd.DataFrame, links: pd.DataFrame, sensors: pd.DataFrame | None = None) -> dict:
    """A FeatureCollection: Point per node, LineString per link, Polygon per zone, Point per located sensor."""
    xy = nodes.set_index("node_id")[["x", "y"]]
    features: list[dict] = []
    for row in nodes.itertuples(index=False):
        if pd.notna(row.x):
            features.append(_feature("Point", [row.x, row.y], layer="node", id=row.node_id, type=row.node_type,
                                     zone=_val(row.zone_id), elevation_m=_val(row.elevation_m)))
    for row in links.itertuples(index=False):
        if row.start_node in xy.index and row.end_node in xy.index:
            a, b = xy.loc[row.start_node], xy.loc[row.end_node]
            if pd.notna(a.x) and pd.notna(b.x):
                features.append(_feature("LineString", [[a.x, a.y], [b.x, b.y]], layer="link", id=row.link_id,
                                         type=row.link_type, zone=_val(row.zone_id),
                                         diameter_m=_val(row.diameter_m), length_m=_val(row.length_m)))
    for zone, group in nodes.dropna(subset=["zone_id", "x"]).groupby("zone_id"):
        ring = zone_outline(group[["x", "y"]].to_numpy(float))
        if ring:
            features.append(_feature("Polygon", [ring], layer="zone", id=zone, nodes=len(group)))
    if sensors is not None:
        for row in sensors.itertuples(index=False):
            where = row.node_id if pd.notna(row.node_id) else None
            if where is None and pd.notna(row.link_id):
                link = links[links["link_id"] == row.link_id]
                where = link["start_node"].iloc[0] if len(link) else None
            if where in xy.index and pd.notna(xy.loc[where].x):
                p = xy.loc[where]
                features.append(_feature("Point", [p.x, p.y], layer="sensor", id=row.sensor_id, kind=row.kind,
                                         zone=_val(row.zone_id)))
    return {"type": "FeatureCollection", "features": features}


def zone_outline(points: np.ndarray) -> list[list[float]]:
    """Closed convex-hull ring around the points (empty for fewer than three distinct points)."""
    pts = np.unique(points, axis=0)
    if len(pts) < 3:
        return []
    try:
        hull = ConvexHull(pts)
    except QhullError:  # collinear points
        return []
    ring = pts[hull.vertices].tolist()
    return ring + [ring[0]]


def _feature(geometry: str, coords: list, **props: object) -> dict:
    return {"type": "Feature", "geometry": {"type": geometry, "coordinates": coords}, "properties": props}


def _val(v: object) -> object:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else v
