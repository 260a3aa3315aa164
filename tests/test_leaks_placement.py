"""Sensor placement for leak localisation: which added pressure loggers let the localiser tell pipes apart.

Pairs of pipes are confusable when their centred leak signatures at the sensors are nearly parallel (the
isolability index of Casillas et al. 2013, Sensors 13(11) 14984-15005, with an angle threshold).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from suvar.cli import app
from suvar.leaks.placement import confusable_pairs, confusable_with, node_signatures, rank_sites, survey_sites
from suvar.leaks.scenarios import network_path, sensor_set


def _toy() -> pd.DataFrame:
    # Pipes a and b move sensors s1-s3 the same way (b twice as much, plus a common shift, which says nothing of
    # where a leak is); only node n1 tells them apart. Node n2 sees a and b alike. Pipe c points elsewhere.
    return pd.DataFrame({"s1": [1.0, 2.5, 0.0], "s2": [0.0, 0.5, 1.0], "s3": [0.0, 0.5, 0.0],
                         "n1": [0.0, 1.0, 0.0], "n2": [1.0, 2.5, 0.0]}, index=["a", "b", "c"])


def test_pipes_whose_signatures_are_parallel_after_centring_are_confusable() -> None:
    sig = _toy()
    assert confusable_pairs(sig, ["s1", "s2", "s3"]) == 1
    assert confusable_with(sig, ["s1", "s2", "s3"], "a") == ["b"]
    assert confusable_with(sig, ["s1", "s2", "s3"], "c") == []


def test_rank_sites_adds_the_node_that_separates_the_pair() -> None:
    ranked = rank_sites(_toy(), ["s1", "s2", "s3"], n_sites=1)
    assert ranked.to_dict(orient="records") == [{"node": "n1", "confusable_pairs": 0, "resolved_pairs": 1}]
    assert confusable_with(_toy(), ["s1", "s2", "s3", "n1"], "a") == []
    # a node that sees a and b alike tells nothing apart: no site is named
    assert rank_sites(_toy(), ["s1", "s2", "s3"], n_sites=2, candidates=["n2"]).empty


def test_rank_one_updates_count_as_the_direct_computation() -> None:
    rng = np.random.default_rng(3)
    # 60 pipes in 6 families of nearly parallel signatures, 20 nodes
    base = rng.normal(size=(6, 20))
    sig = pd.DataFrame(np.repeat(base, 10, axis=0) + rng.normal(0, 0.05, (60, 20)),
                       index=[f"p{i}" for i in range(60)], columns=[f"n{j}" for j in range(20)])
    sensors = ["n0", "n1", "n2"]
    ranked = rank_sites(sig, sensors, n_sites=3, threshold=0.95)
    assert list(ranked.confusable_pairs) == [confusable_pairs(sig, sensors + list(ranked.node[:k + 1]), 0.95)
                                             for k in range(len(ranked))]
    assert ranked.resolved_pairs.sum() == confusable_pairs(sig, sensors, 0.95) - ranked.confusable_pairs.iloc[-1]
    assert ranked.resolved_pairs[0] > 0
    best_single = min(confusable_pairs(sig, [*sensors, n], 0.95) for n in sig.columns if n not in sensors)
    assert ranked.confusable_pairs[0] == best_single


def test_survey_sites_for_an_alarm_area_on_l_town() -> None:
    """Five pipes around p654 (the browser tests' seeded alarm carries this result): the BattLeDIM sensors tell
    only one of their ten pairs apart; loggers at two junctions tell five more, and no third junction adds any."""
    sites = survey_sites(network_path("ltown"), ["p654", "p653", "p655", "p652", "p656"],
                         sensor_set("ltown").pressure_nodes, workers=1)
    assert sites == {"nodes": ["n611", "n609"], "confusable_pairs": [9, 4]}
    # sensors that already tell every pair apart need no logger
    assert survey_sites(network_path("hanoi"), ["12", "13", "14"], ["4", "19", "28"], workers=1) is None


def test_hanoi_signatures_and_sites_from_the_command_line(tmp_path) -> None:
    inp = network_path("hanoi")
    sig = node_signatures(inp, workers=1)
    assert sig.shape == (34, 31)
    # a leak lowers pressures, most near it: the reference 15 mm leak on pipe 12 (nodes 12-13) lowers node 13 most
    assert (sig.to_numpy() <= 1e-9).all()
    assert sig.loc["12"].idxmin() == "13"
    runner = CliRunner()
    bad = runner.invoke(app, ["leaks", "sites", "--network", str(inp), "--sensors", "4,nowhere"])
    assert bad.exit_code == 2 and "unknown: nowhere" in bad.output
    res = runner.invoke(app, ["leaks", "sites", "--network", str(inp), "--sensors", "4,19,28", "--sites", "2",
                              "--workers", "1"], env={"SUVAR_CACHE_DIR": str(tmp_path)})
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["pipes"] == 34
    before = confusable_pairs(sig, ["4", "19", "28"])
    assert out["confusable_pairs"] == before > 0
    assert out["sites"][-1]["confusable_pairs"] == confusable_pairs(sig, ["4", "19", "28",
                                                                          *[s["node"] for s in out["sites"]]])
    assert out["sites"][0]["resolved_pairs"] == pytest.approx(before - out["sites"][0]["confusable_pairs"])
    around = runner.invoke(app, ["leaks", "sites", "--network", str(inp), "--sensors", "4,19,28", "--around", "12",
                                 "--workers", "1"], env={"SUVAR_CACHE_DIR": str(tmp_path)})
    found = json.loads(around.output)["around"]
    alike = confusable_with(sig, ["4", "19", "28"], "12")
    assert found["confusable_before"] == len(alike) > 0
    assert found["confusable_after"] < found["confusable_before"]
