"""Scenario generator: leak hydraulics, chunked simulation and the BattLeDIM file layout.

Emitter law: EPANET 2.2 manual, section 3.1 (q = C p^0.5); orifice coefficient C = Cd·A·sqrt(2g).
File layout: BattLeDIM 2020 dataset description (Vrachimis et al. 2022, Zenodo 4017659).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wntr

from suvar.leaks.io import Leak, read_battledim_dir, read_leak_truth, read_timeseries_csv
from suvar.leaks.scenarios import (
    ScenarioError,
    generate_scenario,
    leak_coefficient_at,
    network_path,
    repair_large_leaks,
    sensor_set,
    tank_empty_share,
    write_scenario,
)
from suvar.network.hydraulics import emitter_coefficient

T0 = pd.Timestamp("2024-03-01")


def test_emitter_coefficient_of_a_15_mm_hole() -> None:
    # A = pi/4 * 0.015^2 = 1.76715e-4 m2; sqrt(2 * 9.80665) = 4.42869 (standard gravity); Cd = 0.75
    assert emitter_coefficient(0.015) == pytest.approx(0.75 * 1.76715e-4 * 4.42869, rel=1e-5)


def test_incipient_leak_ramps_to_its_peak() -> None:
    leak = Leak("p1", T0, T0 + pd.Timedelta(days=10), 0.02, "incipient", T0 + pd.Timedelta(days=4))
    full = emitter_coefficient(0.02)
    assert leak_coefficient_at(leak, T0 - pd.Timedelta(hours=1)) == 0.0
    assert leak_coefficient_at(leak, T0 + pd.Timedelta(days=2)) == pytest.approx(full / 2)
    assert leak_coefficient_at(leak, T0 + pd.Timedelta(days=6)) == pytest.approx(full)
    assert leak_coefficient_at(leak, T0 + pd.Timedelta(days=11)) == 0.0


def test_ltown_sensor_set_is_the_battledim_one() -> None:
    s = sensor_set("ltown")
    assert len(s.pressure_nodes) == 33 and s.flow_links == ("PUMP_1", "p227", "p235")
    assert s.level_tanks == ("T1",) and len(s.demand_nodes) == 82


@pytest.fixture(scope="module")
def hanoi_scenario() -> tuple:
    leak = Leak("12", T0 + pd.Timedelta(hours=30), T0 + pd.Timedelta(hours=60), 0.03, "abrupt")
    creeping = Leak("30", T0 + pd.Timedelta(hours=12), T0 + pd.Timedelta(days=3) - pd.Timedelta(minutes=5),
                    0.03, "incipient", T0 + pd.Timedelta(days=2))
    return generate_scenario(network_path("hanoi"), sensor_set("hanoi"), T0, 3, seed=7,
                             leaks=[leak, creeping]), leak, creeping


def test_leak_outflow_follows_the_schedule(hanoi_scenario: tuple) -> None:
    sc, leak, creeping = hanoi_scenario
    q = sc.leak_flows_m3h
    assert (q.loc[: leak.start - pd.Timedelta(minutes=5), "12"] == 0).all()
    assert (q.loc[leak.start: leak.end, "12"] > 10).all()
    assert (q.loc[leak.end + pd.Timedelta(minutes=5):, "12"] == 0).all()
    daily = q["30"].resample("12h").mean()
    assert daily.iloc[1] < daily.iloc[2] < daily.iloc[3] < daily.iloc[4]  # ramps until its peak
    idx = sc.labels.index
    expected = ((idx >= leak.start) & (idx <= leak.end)) | ((idx >= creeping.start) & (idx <= creeping.end))
    assert (sc.labels.to_numpy() == expected).all()


def test_same_seed_same_scenario() -> None:
    a = generate_scenario(network_path("hanoi"), sensor_set("hanoi"), T0, 0.5, seed=3, n_leaks=1)
    b = generate_scenario(network_path("hanoi"), sensor_set("hanoi"), T0, 0.5, seed=3, n_leaks=1)
    pd.testing.assert_frame_equal(a.pressures_m, b.pressures_m)
    assert a.leaks == b.leaks
    assert 9 <= a.leaks[0].diameter_m * 1000 <= 20


def test_battledim_layout_round_trip(hanoi_scenario: tuple, tmp_path: Path) -> None:
    sc, leak, _ = hanoi_scenario
    write_scenario(sc, tmp_path)
    text = (tmp_path / "Pressures.csv").read_text().splitlines()
    assert text[0].startswith("Timestamp;") and text[1].startswith("2024-03-01 00:00;")
    assert "," in text[1].split(";")[1]  # decimal comma
    data = read_battledim_dir(tmp_path)
    np.testing.assert_allclose(data["pressures"].to_numpy(), sc.pressures_m.to_numpy(), atol=1e-4)
    assert read_leak_truth(tmp_path / "leaks.csv")[0].link_id == leak.link_id
    assert read_timeseries_csv(tmp_path / "leak_flows_m3h.csv").shape == sc.leak_flows_m3h.shape


def test_unknown_sensor_is_reported() -> None:
    bad = sensor_set("hanoi").__class__(("no-such-node",), ("1",))
    with pytest.raises(ScenarioError, match="no-such-node"):
        generate_scenario(network_path("hanoi"), bad, T0, 0.1, seed=1)


def test_tank_empty_share_counts_the_steps_a_tank_ran_dry() -> None:
    # L-Town's T1 has a minimum level of 0 m (L-TOWN.inp, [TANKS]); levels within 5 cm of it count as empty.
    wn = wntr.network.WaterNetworkModel(str(network_path("ltown")))
    levels = pd.DataFrame({"T1": [3.1, 0.01, 0.0, 2.4, 0.049, 0.051, 4.0, 3.5]})
    assert tank_empty_share(levels, wn) == pytest.approx(3 / 8)
    assert tank_empty_share(levels.iloc[:0], wn) == 0.0


def test_large_leaks_are_repaired_within_weeks_as_in_battledim_2019() -> None:
    # BattLeDIM 2019 ground truth: leaks of 15 mm or more were repaired 14-63 days after they began, smaller ones
    # ran to the year's end.
    end = pd.Timestamp("2020-12-31 23:55")
    small = Leak("p1", pd.Timestamp("2020-02-01"), end, 0.012, "abrupt", pd.Timestamp("2020-02-01"))
    large = Leak("p2", pd.Timestamp("2020-03-01"), end, 0.018, "incipient", pd.Timestamp("2020-09-30 12:00"))
    short = Leak("p3", pd.Timestamp("2020-12-20"), end, 0.019, "abrupt", pd.Timestamp("2020-12-20"))
    rng = np.random.default_rng(7)
    for _ in range(20):
        kept, repaired, ran_out = repair_large_leaks([small, large, short], rng)
        assert kept == small
        assert pd.Timedelta(days=14) <= repaired.end - large.start <= pd.Timedelta(days=63)
        share = (repaired.peak - repaired.start) / (repaired.end - repaired.start)
        assert share == pytest.approx((large.peak - large.start) / (large.end - large.start), abs=0.01)
        assert ran_out == short  # the period ends before any repair
