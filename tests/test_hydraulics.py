"""Leaks as emitters in WNTR's EPANET engine, switched on mid-run by chunked simulation."""

import math
import os
import threading

import pytest
import wntr
from wntr.epanet.exceptions import EpanetException

from conftest import NETWORKS
from suvar.network.hydraulics import Leak, carry_over_state, emitter_coefficient, run_epanet, simulate


def test_emitter_coefficient_is_torricelli() -> None:
    # Q = Cd·A·sqrt(2 g p): a 10 mm hole, Cd 0.75, at 50 m → 0.75 · 7.854e-5 m² · 31.32 m/s = 1.845e-3 m³/s.
    assert emitter_coefficient(0.010) * math.sqrt(50) == pytest.approx(1.845e-3, rel=1e-3)


def test_leak_switches_on_and_discharges_as_an_orifice() -> None:
    wn = wntr.network.WaterNetworkModel(str(NETWORKS / "Hanoi_CMH.inp"))
    wn.options.time.hydraulic_timestep = wn.options.time.report_timestep = 900
    start = 6 * 3600
    res = simulate(wn, 12 * 3600, leaks=[Leak("10", start, 0.02)], chunk_s=4 * 3600)
    q = res["demand"]["LEAK_10"]
    p = res["pressure"]["LEAK_10"]
    assert len(q) == 48 and q.index[-1] == 12 * 3600 - 900  # [0, duration) at the report step
    assert (q.loc[: start - 900] == 0).all()
    after = q.loc[start:]
    assert (after > 0).all()
    expected = emitter_coefficient(0.02) * p.loc[start:].clip(lower=0) ** 0.5
    assert after.to_numpy() == pytest.approx(expected.to_numpy(), rel=0.01)
    # The leak draws down pressure nearby.
    assert res["pressure"]["11"].loc[start:].mean() < res["pressure"]["11"].loc[: start - 900].mean()


def test_repair_ends_the_leak() -> None:
    wn = wntr.network.WaterNetworkModel(str(NETWORKS / "Hanoi_CMH.inp"))
    res = simulate(wn, 10 * 3600, leaks=[Leak("10", 2 * 3600, 0.02, end_s=6 * 3600)], chunk_s=86400)
    q = res["demand"]["LEAK_10"]
    assert (q.loc[2 * 3600: 5 * 3600] > 0).all() and (q.loc[6 * 3600:] == 0).all()


def test_a_chunk_that_ends_with_an_empty_tank_starts_the_next_one() -> None:
    # EPANET writes heads in single precision: on an L-Town scenario (seed 53) tank T1 (min level 0) ended a chunk
    # empty and came back at level -1.5259e-05 m, and EPANET refused the next chunk's file (Error 209 in [TANKS]).
    wn = wntr.network.WaterNetworkModel(str(NETWORKS / "L-TOWN.inp"))
    wn.options.time.duration = 3600
    res = run_epanet(wn)
    tank = wn.get_node("T1")
    tank.init_level = -1.5259e-05
    with pytest.raises(EpanetException, match="200"):
        run_epanet(wn)
    head = res.node["head"]
    head.iloc[-1, head.columns.get_loc("T1")] = tank.elevation + tank.min_level - 1.5259e-05
    carry_over_state(wn, res)
    assert tank.init_level == tank.min_level
    assert run_epanet(wn).node["head"].index[-1] == 3600  # the next chunk runs
    head.iloc[-1, head.columns.get_loc("T1")] = tank.elevation + tank.max_level + 1.5259e-05
    carry_over_state(wn, res)
    assert tank.init_level == tank.max_level


def test_epanet_writes_no_hydraulics_into_the_working_directory(tmp_path, monkeypatch) -> None:
    # EPANET 2.2 writes its hydraulics scratch file as enXXXXXX in the working directory unless it is named; a killed
    # run left one of 28 MB behind in the repository. It still reserves its scratch names there (empty files,
    # removed when it closes), but nothing may be written into them.
    monkeypatch.chdir(tmp_path)
    wn = wntr.network.WaterNetworkModel(str(NETWORKS / "L-TOWN.inp"))
    wn.options.time.duration = 86400
    largest: dict[str, int] = {}
    running = threading.Event()
    running.set()

    def watch() -> None:
        while running.is_set():
            for name in os.listdir(tmp_path):
                try:
                    largest[name] = max(largest.get(name, 0), (tmp_path / name).stat().st_size)
                except FileNotFoundError:
                    largest.setdefault(name, 0)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        run_epanet(wn)
    finally:
        running.clear()
        watcher.join()
    assert all(size == 0 for size in largest.values()), largest
    assert os.listdir(tmp_path) == []
    assert wn.options.hydraulic.hydraulics is None  # no path to a deleted folder stays in the model
