"""Localisation on the raw night-time pressure change, as used for night-flow alarms.

A leak lowers every pressure of a zone together; the residual model (each sensor predicted from the others)
cancels most of that, so a minimum-night-flow alarm is localised on the raw change against the nights before.
That change also carries a common offset (tank levels, the night's demand), which the match must ignore.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from suvar.leaks.detect import raw_pressure_change
from suvar.leaks.localise import Localiser, _simulate_candidate
from suvar.leaks.scenarios import network_path, sensor_set


@pytest.mark.parametrize(("pipe", "diameter_m"), [("12", 0.02), ("27", 0.03)])
def test_raw_change_with_a_common_offset_finds_the_pipe_and_size(pipe: str, diameter_m: float) -> None:
    inp = network_path("hanoi")
    sensors = list(sensor_set("hanoi").pressure_nodes)
    loc = Localiser(inp, sensors, [], np.zeros((len(sensors), len(sensors))), np.full(len(sensors), 0.05),
                    n_candidates=34, workers=1)
    base, _ = loc._baseline(2)
    # "Observed": a leak of another size than the reference hole, plus a 0.4 m fall of every pressure and noise.
    _, p, _, leak_m3h = _simulate_candidate((str(inp), pipe, 2, loc.window_h, diameter_m, tuple(sensors), ()))
    rng = np.random.default_rng(7)
    observed = p - base - 0.4 + rng.normal(0, 0.02, len(sensors))
    found = loc.locate(observed, 2, raw=True)
    assert pipe in [c for c, _ in found.candidates[:3]]
    assert found.est_size_m3h == pytest.approx(leak_m3h, rel=0.25)
    assert sum(w for _, w in found.candidates) == pytest.approx(1.0, abs=0.01)


def test_raw_pressure_change_compares_nights_with_nights() -> None:
    hours = pd.date_range("2026-01-01", periods=24 * 10, freq="1h")
    # A daily cycle (40 m at night, 30 m by day) for two sensors; from day 8 the first loses 0.5 m.
    night = hours.hour < 6
    p = pd.DataFrame({"a": np.where(night, 40.0, 30.0), "b": np.where(night, 45.0, 35.0)}, index=hours)
    p.loc[p.index >= "2026-01-08", "a"] -= 0.5
    change = raw_pressure_change(p, pd.Timestamp("2026-01-08"), pd.Timestamp("2026-01-08 06:00"))
    assert change == pytest.approx([-0.5, 0.0])
    assert raw_pressure_change(p, pd.Timestamp("2026-01-01 03:00"), pd.Timestamp("2026-01-01 06:00")) is None


def test_search_radius_ranks_the_area_most_likely_to_hold_the_leak() -> None:
    """One pipe fits the observed shift best, but three pipes close together each fit almost as well: their
    area holds more of the likelihood, so with a search radius that covers them (and not the lone pipe) one of
    them is reported; without it, the lone pipe is. The candidates and likelihoods are the same either way."""
    import wntr

    from suvar.leaks.scoring import PipeDistance

    inp = network_path("hanoi")
    distance = PipeDistance(wntr.network.WaterNetworkModel(str(inp)))
    lone, cluster = "1", ["24", "25", "26"]
    radius_m = max(distance(a, b) for a in cluster for b in cluster)
    assert min(distance(lone, b) for b in cluster) > radius_m
    sensors = list(sensor_set("hanoi").pressure_nodes)
    observed = np.zeros(len(sensors))
    observed[0] = 1.0
    near_miss = observed.copy()
    near_miss[1] = np.sqrt(0.001)  # squared error about 0.001 against 0 for the lone pipe: likelihood e^-0.2
    signatures = {lone: observed, **{p: near_miss for p in cluster}}
    ranked, reported, found = {}, {}, {}
    for radius in (None, radius_m):
        loc = Localiser(inp, sensors, [], np.eye(len(sensors)), np.full(len(sensors), 0.05), workers=1,
                        search_radius_m=radius)
        loc.candidate_pipes = lambda *a, **k: list(signatures)  # type: ignore[method-assign]
        loc.signatures = lambda pipes, hour, raw=False: {p: (signatures[p], 1.0) for p in pipes}  # type: ignore
        found[radius] = loc.locate(observed, 2)
        ranked[radius], reported[radius] = found[radius].candidates, found[radius].pipe
    assert reported[None] == lone
    assert reported[radius_m] in cluster
    assert ranked[None] == ranked[radius_m] and ranked[None][0][0] == lone
    p_lone = 1 / (1 + 3 * np.exp(-0.2))
    assert dict(ranked[None])[lone] == pytest.approx(p_lone, rel=0.01)
    # the survey area is the cluster, with the likelihood the lone pipe does not hold; none without a radius
    assert sorted(found[radius_m].area) == cluster and found[radius_m].radius_m == radius_m
    assert found[radius_m].area_likelihood == pytest.approx(1 - p_lone, rel=0.01)
    assert found[None].area == ()


def test_without_a_candidate_count_every_pipe_of_the_search_area_is_a_candidate() -> None:
    """``n_candidates=None`` searches every pipe (of ``within`` when given); a count keeps the pipes nearest the
    sensors whose residuals fell most (Hanoi has 34 pipes)."""
    inp = network_path("hanoi")
    sensors = list(sensor_set("hanoi").pressure_nodes)
    shift = np.zeros(len(sensors))
    shift[0] = -1.0
    every = Localiser(inp, sensors, [], np.eye(len(sensors)), np.full(len(sensors), 0.05), n_candidates=None,
                      workers=1)
    assert sorted(every.candidate_pipes(shift)) == sorted(every.pipes) and len(every.pipes) == 34
    assert sorted(every.candidate_pipes(shift, within={"3", "7", "30"})) == ["3", "30", "7"]
    few = Localiser(inp, sensors, [], np.eye(len(sensors)), np.full(len(sensors), 0.05), n_candidates=5, workers=1)
    assert len(few.candidate_pipes(shift)) == 5


def test_kept_signatures_are_reused_by_a_later_localiser_of_the_same_network_and_sensors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a ``cache_dir`` the signatures simulated by one localiser are read back by the next one, equal to the
    last bit, and nothing is simulated again; another sensor set has signatures of its own."""
    from suvar.leaks import localise

    inp = network_path("hanoi")
    sensors = list(sensor_set("hanoi").pressure_nodes)

    def localiser(names: list[str]) -> Localiser:
        return Localiser(inp, names, [], np.eye(len(names)), np.full(len(names), 0.05), workers=1,
                         window_h=24, cache_dir=tmp_path)

    first = localiser(sensors).signatures(["3", "12"], 0)
    assert len(list(tmp_path.glob("signatures-*.npz"))) == 1

    def no_simulation(args: tuple) -> None:
        raise AssertionError(f"simulated {args[1]} again")

    monkeypatch.setattr(localise, "_simulate_candidate", no_simulation)
    again = localiser(sensors).signatures(["12", "3"], 0)
    assert all(np.array_equal(first[p][0], again[p][0]) and first[p][1] == again[p][1] for p in first)
    with pytest.raises(AssertionError, match="simulated"):
        localiser(sensors[:-1]).signatures(["3"], 0)
    kept = next(tmp_path.glob("signatures-*.npz"))
    kept.write_bytes(b"not a signature file")  # an unreadable file is simulated again, not trusted
    with pytest.raises(AssertionError, match="simulated"):
        localiser(sensors).signatures(["3"], 0)
