"""``suvar leaks`` commands, run through Typer's test runner on the sub-app.

Reference score: BattLeDIM 2020 organisers' ``test_team_multiple`` submission, EUR 9,547.81 (TP 1, FP 1,
FN 22); data in ``tests/data/battledim2019`` (see its SOURCES.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from suvar.leaks.cli import app
from suvar.leaks.io import Leak, read_submission, write_battledim_csv, write_leak_truth
from suvar.leaks.scenarios import generate_scenario, network_path, sensor_set

DATA = Path(__file__).parent / "data" / "battledim2019"
runner = CliRunner()


def test_score_reproduces_the_reference_submission() -> None:
    result = runner.invoke(app, ["score", "--network", str(network_path("ltown")),
                                 "--truth", str(DATA / "leakages_info.yaml"),
                                 "--flows", str(DATA / "leak_flows_m3h.csv.gz"),
                                 "--submission", str(DATA / "reference_submission_multiple.txt")])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert abs(out["score_eur"] - 9547.81) < 0.01 and (out["tp"], out["fp"], out["fn"]) == (1, 1, 22)


def test_detect_writes_submission_and_evidence(tmp_path: Path) -> None:
    t0 = pd.Timestamp("2024-01-01")
    leak = Leak("12", t0 + pd.Timedelta(days=9, hours=10), t0 + pd.Timedelta(days=12, minutes=-5), 0.03)
    sc = generate_scenario(network_path("hanoi"), sensor_set("hanoi"), t0, 12, seed=1, leaks=[leak])
    cut = t0 + pd.Timedelta(days=7)
    for name, frames in (("train", slice(None, cut - pd.Timedelta(minutes=5))), ("data", slice(cut, None))):
        (tmp_path / name).mkdir()
        write_battledim_csv(sc.pressures_m[frames], tmp_path / name / "Pressures.csv")
        write_battledim_csv(sc.flows_m3h[frames], tmp_path / name / "Flows.csv")
    # a repaired leak in the training period is left out of training
    write_leak_truth([Leak("3", t0 + pd.Timedelta(days=1), t0 + pd.Timedelta(days=1, hours=6))],
                     tmp_path / "train" / "repaired_leaks.csv")
    out = tmp_path / "submission.txt"
    result = runner.invoke(app, ["detect", "--network", str(network_path("hanoi")), "--train", str(tmp_path / "train"),
                                 "--data", str(tmp_path / "data"), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    first, *repeats = read_submission(out)
    assert abs(first.time - leak.start) <= pd.Timedelta(hours=8)
    evidence = json.loads(Path(f"{out}.json").read_text())
    assert evidence["excluded_training_periods"] == 1
    candidates = [c[0] for c in evidence["events"][0]["candidates"]]
    assert "12" in candidates[:3]
    # the leak may alarm once more as the detector re-baselines, never on its own pipe again, and only nearby
    assert len(repeats) <= 1 and all(d.link_id != first.link_id and d.link_id in candidates for d in repeats)
    assert evidence["events"][0]["est_size_m3h"] > 0


def test_detect_reports_missing_files(tmp_path: Path) -> None:
    result = runner.invoke(app, ["detect", "--network", str(network_path("hanoi")), "--train", str(tmp_path),
                                 "--data", str(tmp_path), "--out", str(tmp_path / "o.txt")])
    assert result.exit_code == 2 and "Pressures.csv" in result.output


def test_bench_prints_both_detectors() -> None:
    result = runner.invoke(app, ["bench", "--network", "hanoi", "--seeds", "1", "--days", "3", "--train-days", "7",
                                 "--workers", "1"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    for name in ("suvar", "mnf_baseline"):
        assert {"percent_of_perfect", "tp", "fp", "fn", "leakdb_f1_pct", "median_delay_h"} <= set(out[name])
        assert out[name]["tp"] + out[name]["fn"] == 1


def test_bench_rejects_bad_seeds() -> None:
    result = runner.invoke(app, ["bench", "--seeds", "one,two"])
    assert result.exit_code == 2 and "--seeds" in result.output


def test_generate_writes_the_battledim_layout(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--network", "hanoi", "--days", "1", "--seed", "5", "--out",
                                 str(tmp_path / "sc")])
    assert result.exit_code == 0, result.output
    names = {p.name for p in (tmp_path / "sc").iterdir()}
    assert {"Pressures.csv", "Flows.csv", "Levels.csv", "Demands.csv", "leaks.csv", "leak_flows_m3h.csv"} <= names
    assert len(json.loads(result.stdout)["leaks"]) == 1
