"""Hydraulic simulation with WNTR's EPANET engine: leaks as emitters, long periods in chunks.

WNTR's EPANET engine ignores ``Junction.add_leak`` (that belongs to its own WNTRSimulator), so a leak here is an
emitter on a node made by splitting the pipe in two. The emitter discharge follows the orifice equation

    Q = Cd · A · sqrt(2 g p)  =  C · p^0.5,   C = Cd · A · sqrt(2 g)

with Q in m³/s, p the pressure head in m, A = π d²/4 the hole area in m² and g = 9.80665 m/s² (Torricelli; the
form used for BattLeDIM and LeakDB leaks). WNTR holds emitter coefficients in these SI units and converts them to
the file's units when it writes the EPANET input.

A long run is cut into chunks at each leak's start and end and at least every ``chunk_s`` seconds: each chunk
starts from the previous one's final tank levels and link statuses, and its demand patterns resume at the right
place (``pattern_start``). That bounds memory (a year at 5-minute steps on L-Town in one run needs about 13 GB)
and lets a leak begin at any report step.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
import wntr

G = 9.80665


@dataclass(frozen=True)
class Leak:
    """A leak on a pipe: a hole of ``diameter_m`` from ``start_s`` (to ``end_s``, when repaired)."""

    pipe_id: str
    start_s: int
    diameter_m: float
    end_s: int | None = None
    cd: float = 0.75

    @property
    def node_id(self) -> str:
        return leak_node_name(self.pipe_id)


def emitter_coefficient(diameter_m: float, cd: float = 0.75) -> float:
    """Emitter coefficient C = Cd·A·√(2g) in m³/s per m^0.5 for a round hole of ``diameter_m``.

    >>> round(emitter_coefficient(0.01) * math.sqrt(50) * 3600, 2)  # m³/h from a 10 mm hole at 50 m
    6.63
    """
    return cd * math.pi * diameter_m**2 / 4.0 * math.sqrt(2.0 * G)


def leak_node_name(pipe: str) -> str:
    """Name of the node made by splitting ``pipe`` for a leak."""
    return f"LEAK_{pipe}"


def add_leak_node(wn: wntr.network.WaterNetworkModel, pipe: str) -> str:
    """Split ``pipe`` in the middle (in place) and return the new junction, which will carry the emitter."""
    if pipe not in wn.pipe_name_list:
        raise ValueError(f"pipe {pipe!r} is not a pipe of network {wn.name!r}")
    node = leak_node_name(pipe)
    if node not in wn.node_name_list:
        wntr.morph.split_pipe(wn, pipe, f"{pipe}_B", node, split_at_point=0.5, return_copy=False)
    return node


def run_epanet(wn: wntr.network.WaterNetworkModel) -> wntr.sim.results.SimulationResults:
    """Run WNTR's EPANET engine with its scratch files in a private temporary folder (safe in parallel).

    Options by which a network file names files for the engine to write or read (``HYDRAULICS SAVE|USE``,
    ``MAP``) are dropped first, so that no file chosen by a file's author is ever written. The engine's
    hydraulics file is then saved in the private folder: left unnamed, EPANET 2.2 writes it (tens of MB for a
    week of L-Town) into an ``enXXXXXX`` file in the working directory, where a killed run leaves it behind. EPANET
    still reserves its scratch names there as empty files while it runs.
    """
    from suvar.network.epanet import without_file_references

    without_file_references(wn)
    with tempfile.TemporaryDirectory(prefix="suvar-epanet-") as tmp:
        wn.options.hydraulic.hydraulics = "SAVE"
        wn.options.hydraulic.hydraulics_filename = f"{tmp}/run.hyd"
        try:
            return wntr.sim.EpanetSimulator(wn).run_sim(file_prefix=f"{tmp}/run")
        finally:
            without_file_references(wn)


def carry_over_state(wn: wntr.network.WaterNetworkModel, res: wntr.sim.results.SimulationResults) -> None:
    """Start the next chunk of a long run where ``res`` ended: tank levels and pump statuses (in place).

    EPANET's binary output holds heads in single precision, so a tank that ended empty or full can come back a
    few 1e-5 m outside ``[min_level, max_level]``; EPANET then refuses the next input file (Error 209, illegal
    node property value, in ``[TANKS]``). The level is therefore clipped to the tank's range. Valves keep their
    own setting: an "open" PRV would stop regulating.
    """
    head = res.node["head"].iloc[-1]
    for name in wn.tank_name_list:
        tank = wn.get_node(name)
        level_m = float(head[name]) - tank.elevation
        tank.init_level = min(max(level_m, tank.min_level), tank.max_level)
    status = res.link["status"].iloc[-1]
    for name in wn.pump_name_list:
        opened = status[name] > 0
        wn.get_link(name).initial_status = wntr.network.LinkStatus.Open if opened else wntr.network.LinkStatus.Closed


def simulate(
    wn: wntr.network.WaterNetworkModel,
    duration_s: int,
    *,
    leaks: Sequence[Leak] = (),
    chunk_s: int = 7 * 86400,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, pd.DataFrame]:
    """Run EPANET over ``duration_s`` seconds in chunks, with leaks switched on and off at their times.

    Returns node ``pressure`` (m), node ``demand`` (m³/s, leak outflow included at ``LEAK_<pipe>`` nodes), link
    ``flowrate`` (m³/s) and tank ``level`` (m), indexed by seconds in [0, duration_s). ``wn`` is changed
    (leak nodes added, initial conditions moved on). ``progress(done_s, duration_s)`` is called after each chunk.
    """
    for leak in leaks:
        add_leak_node(wn, leak.pipe_id)
    step = int(wn.options.time.report_timestep)
    cuts = {0, duration_s}
    cuts |= set(range(0, duration_s, chunk_s))
    for leak in leaks:
        for t in (leak.start_s, leak.end_s):
            if t is not None and 0 < t < duration_s:
                cuts.add(int(t) // step * step)
    bounds = sorted(cuts)
    parts: dict[str, list[pd.DataFrame]] = {"pressure": [], "demand": [], "flowrate": [], "level": []}
    for begin, end in zip(bounds[:-1], bounds[1:], strict=True):
        for leak in leaks:
            active = leak.start_s <= begin and (leak.end_s is None or begin < leak.end_s)
            wn.get_node(leak.node_id).emitter_coefficient = (
                emitter_coefficient(leak.diameter_m, leak.cd) if active else 0.0)
        wn.options.time.duration = end - begin
        wn.options.time.pattern_start = begin
        res = run_epanet(wn)
        last = end - begin
        for key, frame in (("pressure", res.node["pressure"]), ("demand", res.node["demand"]),
                           ("flowrate", res.link["flowrate"])):
            keep = frame.loc[frame.index < last]
            parts[key].append(keep.set_axis(keep.index + begin))
        tanks = wn.tank_name_list
        level = res.node["head"][tanks] - pd.Series({t: wn.get_node(t).elevation for t in tanks})
        keep = level.loc[level.index < last]
        parts["level"].append(keep.set_axis(keep.index + begin))
        carry_over_state(wn, res)
        if progress:
            progress(end, duration_s)
    return {k: pd.concat(v) for k, v in parts.items()}
