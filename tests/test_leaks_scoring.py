"""BattLeDIM and LeakDB scorers against published reference values.

BattLeDIM 2020 reference submissions and truth: KIOS-Research/BattLeDIM (Zenodo 4017659), copied to
``tests/data/battledim2019`` (see its SOURCES.md). The organisers state that the perfect submission scores
EUR 523,153.82 (TP 23, FP 0) and ``test_team_multiple`` EUR 9,547.81 (TP 1, FP 1, FN 22).
LeakDB metrics: definitions of KIOS-Research/LeakDB ``scoring_algorithm.m``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wntr

from suvar.leaks.io import (
    Detection,
    Leak,
    LeakFileError,
    read_leak_truth,
    read_submission,
    read_timeseries_csv,
)
from suvar.leaks.scoring import PipeDistance, battledim_score, early_detection_score, leakdb_metrics

DATA = Path(__file__).parent / "data" / "battledim2019"
LTOWN = Path(__file__).parents[1] / "src" / "suvar" / "data" / "networks" / "L-TOWN.inp"


@pytest.fixture(scope="module")
def ltown_distance() -> PipeDistance:
    return PipeDistance(wntr.network.WaterNetworkModel(str(LTOWN)))


@pytest.fixture(scope="module")
def truth() -> tuple[list[Leak], pd.DataFrame]:
    return read_leak_truth(DATA / "leakages_info.yaml"), read_timeseries_csv(DATA / "leak_flows_m3h.csv.gz")


def test_perfect_reference_submission(ltown_distance: PipeDistance, truth: tuple) -> None:
    leaks, flows = truth
    score = battledim_score(read_submission(DATA / "reference_submission_perfect.txt"), leaks, flows,
                            ltown_distance)
    assert score.total_eur == pytest.approx(523_153.82, abs=0.01)
    assert (score.tp, score.fp, score.fn) == (23, 0, 0)
    assert score.percent_of_perfect == pytest.approx(100.0)


def test_multiple_reference_submission(ltown_distance: PipeDistance, truth: tuple) -> None:
    leaks, flows = truth
    score = battledim_score(read_submission(DATA / "reference_submission_multiple.txt"), leaks, flows,
                            ltown_distance)
    assert score.total_eur == pytest.approx(9_547.81, abs=0.01)
    assert (score.tp, score.fp, score.fn) == (1, 1, 22)
    # p632 detects p653 (started 2019-03-03 13:10) one day late; repeats score 0, the one after its end -500.
    assert score.per_detection_eur[1:] == [0.0, 0.0, 0.0, -500.0]
    assert score.median_delay_h == pytest.approx(24.0)
    assert 0 < score.mean_distance_m <= 300


def test_detections_before_evaluation_year_are_ignored(ltown_distance: PipeDistance, truth: tuple) -> None:
    leaks, flows = truth
    early = [Detection("p257", pd.Timestamp("2018-06-01 00:00"))]
    assert battledim_score(early, leaks, flows, ltown_distance).total_eur == 0.0


def test_pipe_distance_definition(ltown_distance: PipeDistance) -> None:
    wn = wntr.network.WaterNetworkModel(str(LTOWN))
    a = wn.get_link("p632")
    # a pipe sharing an end node with p632: distance is half of each length
    neighbour = next(n for n, lk in wn.links() if n != "p632" and lk.link_type == "Pipe"
                     and {lk.start_node_name, lk.end_node_name} & {a.start_node_name, a.end_node_name})
    expected = a.length / 2 + wn.get_link(neighbour).length / 2
    assert ltown_distance("p632", neighbour) == pytest.approx(expected)
    assert ltown_distance("p632", "p632") == 0.0
    assert ltown_distance("p632", "p653") == pytest.approx(ltown_distance("p653", "p632"))


def test_truth_file_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "leaks.csv"
    bad.write_text("p1, 2019-13-01 00:00, 2019-02-01 00:00\n")
    with pytest.raises(LeakFileError, match="line 1"):
        read_leak_truth(bad)


def test_leakdb_metrics_on_hand_counted_labels() -> None:
    truth = np.array([0, 0, 0, 1, 1, 1, 1, 0, 0, 0])
    pred = np.array([0, 1, 0, 0, 1, 1, 1, 1, 0, 0])
    m = leakdb_metrics(truth, pred)
    # TP 3, FP 2, FN 1, TN 4
    assert m.tpr == pytest.approx(3 / 4)
    assert m.tnr == pytest.approx(4 / 6)
    assert m.f1 == pytest.approx(6 / 9)


def test_early_detection_score() -> None:
    truth = np.zeros(40, dtype=int)
    truth[5:] = 1  # a LeakDB leak runs to the end of the series: window steps 5..39, tau = 34
    assert early_detection_score(truth, truth) == pytest.approx(1.0)  # ideal detector
    late = np.zeros(40, dtype=int)
    late[7:] = 1  # first alarm 2 steps late, persists
    assert early_detection_score(truth, late) == pytest.approx(2 / (1 + np.exp(5 / 34 * 2)))
    short = np.zeros(40, dtype=int)
    short[5:15] = 1  # leak 5..14; window extended by 10 steps: alarms must cover > 75% of 5..24
    assert early_detection_score(short, short) == 0.0
    held = np.zeros(40, dtype=int)
    held[5:25] = 1
    assert early_detection_score(short, held) == pytest.approx(1.0)
    blip = np.zeros(40, dtype=int)
    blip[6] = 1  # a single alarm does not persist over 75% of the rest of the window
    assert early_detection_score(truth, blip) == 0.0
    assert early_detection_score(np.vstack([truth, truth]), np.vstack([truth, blip])) == pytest.approx(0.5)


def test_truth_as_yaml_list_matches_the_battledim_lines(tmp_path: Path) -> None:
    lines = read_leak_truth(DATA / "leakages_info.yaml")
    as_yaml = tmp_path / "leaks.yaml"
    as_yaml.write_text("".join(
        f"- {{linkID: {lk.link_id}, startTime: '{lk.start:%Y-%m-%d %H:%M}', endTime: '{lk.end:%Y-%m-%d %H:%M}', "
        f"leakDiameter: {lk.diameter_m}, leakType: {lk.leak_type}, peakTime: '{lk.peak:%Y-%m-%d %H:%M}'}}\n"
        for lk in lines))
    assert read_leak_truth(as_yaml) == lines
