"""Zones a sensor set can balance: net flow from boundary meters, tank levels and smart meters.

Cutting the network at its metered links splits it into parts. A part whose every source is measured (no
reservoir inside, every tank inside with a level sensor) can be balanced: its unmetered use plus its leakage is

    Q_net(t) = Σ_b s_b · q_b(t) − Σ_k A_k · dh_k/dt − Σ_m d_m(t)

with ``q_b`` the boundary flows (m³/h; ``s_b = +1`` if the link's flow direction enters the part, −1 if it
leaves), ``A_k`` a tank's surface area (m², ``π D²/4`` for a cylindrical tank), ``h_k`` its level (m) and
``d_m`` the smart-metered demands inside (L/h ÷ 1000). This is the IWA water balance of a DMA (AWWA M36,
system input less billed metered consumption) at the telemetry's time step. A new leak raises ``Q_net`` by
its outflow, independently of pumps switching and tanks filling. Where smart meters cover nearly all
customers (BattLeDIM's area C: 82 AMR meters, fed from tank T1 filled by PUMP_1) ``Q_net`` is the leakage
itself and a leak of a few tenths of a m³/h shows within a day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
import wntr


@dataclass(frozen=True)
class BalanceZone:
    """A part of the network bounded by metered links whose net flow can be computed.

    ``inflow_sign``: flow sensor → +1 if its positive direction enters the zone, −1 if it leaves;
    ``tank_area_m2``: level sensor → tank surface area; ``metered_nodes``: demand sensors inside;
    ``pipes``: the zone's pipes (the localisation search space).
    """

    name: str
    inflow_sign: dict[str, float]
    tank_area_m2: dict[str, float]
    metered_nodes: tuple[str, ...]
    pipes: frozenset[str]


def balance_zones(wn: wntr.network.WaterNetworkModel, flow_links: Sequence[str], level_tanks: Sequence[str] = (),
                  demand_nodes: Sequence[str] = ()) -> list[BalanceZone]:
    """The zones of ``wn`` that the given sensors can balance (see the module docs).

    A part is left out if it has no pipe, holds a reservoir (an unmetered source), holds a tank without a
    level sensor or with a volume curve, or has no metered boundary. Zones are named after their boundary
    meters, e.g. ``"+p227+p235-PUMP_1"``.
    """
    metered = {name for name in flow_links if name in wn.link_name_list}
    graph = nx.MultiGraph()  # parallel pipes between two nodes stay two edges
    graph.add_nodes_from(wn.node_name_list)
    for name, link in wn.links():
        if name not in metered:
            graph.add_edge(link.start_node_name, link.end_node_name, name=name)
    reservoirs, tanks = set(wn.reservoir_name_list), set(wn.tank_name_list)
    zones = []
    for part in nx.connected_components(graph):
        pipes = frozenset(d["name"] for u, v, d in graph.subgraph(part).edges(data=True)
                          if d["name"] in wn.pipe_name_list)
        sign = {}
        for name in sorted(metered):
            link = wn.get_link(name)
            into, out_of = link.end_node_name in part, link.start_node_name in part
            if into != out_of:
                sign[name] = 1.0 if into else -1.0
        part_tanks = sorted(part & tanks)
        if (not pipes or part & reservoirs or not sign
                or any(t not in level_tanks or wn.get_node(t).vol_curve is not None for t in part_tanks)):
            continue
        area = {t: float(np.pi * wn.get_node(t).diameter ** 2 / 4) for t in part_tanks}
        name = "".join(f"{'+' if s > 0 else '-'}{link}" for link, s in sign.items())
        zones.append(BalanceZone(name, sign, area, tuple(n for n in demand_nodes if n in part), pipes))
    return sorted(zones, key=lambda z: z.name)


def zone_net_flow_m3h(zone: BalanceZone, flows_m3h: pd.DataFrame, levels_m: pd.DataFrame | None = None,
                      demands_lph: pd.DataFrame | None = None) -> pd.Series:
    """``Q_net`` (m³/h) of ``zone`` at the readings' time step (module docs); NaN where a term is missing.

    The storage term uses the level change over each step, ``A · (h_t − h_{t−1}) / Δt``, so the first step
    is NaN.
    """
    index = pd.DatetimeIndex(flows_m3h.index)
    missing = [c for c in zone.inflow_sign if c not in flows_m3h.columns]
    missing += [c for c in zone.tank_area_m2 if levels_m is None or c not in levels_m.columns]
    if missing:
        raise ValueError(f"zone {zone.name}: telemetry lacks column(s) {missing}")
    net = sum(s * flows_m3h[c].astype(float) for c, s in zone.inflow_sign.items())
    if zone.tank_area_m2:
        step_h = (index[1] - index[0]) / pd.Timedelta(hours=1)
        levels = levels_m.reindex(index)
        for tank, area in zone.tank_area_m2.items():
            net = net - area * levels[tank].astype(float).diff() / step_h
    if zone.metered_nodes and demands_lph is not None:
        cols = [n for n in zone.metered_nodes if n in demands_lph.columns]
        net = net - demands_lph[cols].reindex(index).sum(axis=1, min_count=len(cols)) / 1000
    return pd.Series(net, index=index, name=zone.name)


def zone_net_flows_m3h(zones: Sequence[BalanceZone], data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Net flows of several zones from BattLeDIM-layout tables (keys ``flows``, ``levels``, ``demands``)."""
    return pd.concat([zone_net_flow_m3h(z, data["flows"], data.get("levels"), data.get("demands"))
                      for z in zones], axis=1)


def watched_zones(wn: wntr.network.WaterNetworkModel, data: dict[str, pd.DataFrame]
                  ) -> tuple[list[BalanceZone], pd.DataFrame | None]:
    """The balance zones of BattLeDIM-layout telemetry (keys ``flows`` and optionally ``levels``, ``demands``)
    and their net flows, for :func:`suvar.leaks.detect.train` and :func:`~suvar.leaks.detect.detect`.

    Zones are kept only if at least one holds a tank or smart meters: otherwise every balance is one inlet
    meter's flow, which the detector already watches as that inlet's night flow. Returns ``([], None)`` then.
    """
    empty = pd.DataFrame()
    zones = balance_zones(wn, list(data["flows"].columns), list(data.get("levels", empty).columns),
                          list(data.get("demands", empty).columns))
    if not any(z.tank_area_m2 or z.metered_nodes for z in zones):
        return [], None
    return zones, zone_net_flows_m3h(zones, data)
