"""Scenarios, side-by-side comparison, explanations and the `suvar allocate` CLI."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from suvar.allocation.cli import app
from suvar.allocation.explain import explain
from suvar.allocation.model import load_basin
from suvar.allocation.scenario import compare_system, compare_users, run_scenarios
from suvar.ledger.cli import app as ledger_app

DATA = Path(__file__).parent / "data" / "allocation"


@pytest.fixture(scope="module")
def scenarios():
    return run_scenarios(load_basin(DATA / "valley.yaml"), {"normal": 1.0, "dry60": 0.6})


def test_drier_year_never_improves_anyone(scenarios) -> None:
    users = compare_users(scenarios).pivot(index="user", columns="scenario", values="coverage")
    assert (users["dry60"] <= users["normal"] + 1e-9).all()
    # the town on the aquifer is untouched by river inflows; class 1 keeps full coverage in a normal year
    assert users.loc["market_town", "dry60"] == pytest.approx(1.0)
    assert users.loc["capital", "normal"] == pytest.approx(1.0)
    system = compare_system(scenarios)
    assert system.loc["normal", "env_flow_volume_ratio"] == pytest.approx(1.0)
    assert system.loc["dry60", "env_flow_volume_ratio"] < 1.0
    assert system.loc["dry60", "shortfall_m3"] > system.loc["normal", "shortfall_m3"]


def test_explanation_rows_are_consistent(scenarios) -> None:
    table = explain(scenarios["dry60"])
    assert len(table) == 6 * 12
    met = table["reason"] == "met"
    np.testing.assert_allclose(table.loc[met, "allocation_m3"], table.loc[met, "requirement_m3"], rtol=1e-6)
    short = table[~met & (table["reason"] != "no_requirement")]
    assert (short["allocation_m3"] < short["requirement_m3"]).all()
    assert short["explanation"].str.match(r"^\d+% of requirement: ").all()
    # class 3 farms are never served while the dam is below its carry-over target without saying so
    farms = short[short["priority"] == 3]
    assert farms["reasons"].str.contains("carry_over:high_dam|priority:class|supply").all()


def test_cli_run_publish_verify_and_audit(tmp_path: Path) -> None:
    runner = CliRunner()
    plan, ledger = tmp_path / "plan.json", tmp_path / "ledger.jsonl"
    run = runner.invoke(app, ["run", str(DATA / "valley.yaml"), "--inflow-factor", "0.6", "--out", str(plan)])
    assert run.exit_code == 0, run.output
    summary = json.loads(run.stdout)
    assert summary["users"]["market_town"]["coverage"] == pytest.approx(1.0)
    assert summary["users"]["left_farms"]["coverage"] < 0.5
    for author in ("ana", "bo"):
        pub = runner.invoke(app, ["publish", str(plan), "--author", author, "--ledger", str(ledger)])
        assert pub.exit_code == 0, pub.output
    assert json.loads(pub.stdout)["index"] == 1
    assert runner.invoke(ledger_app, ["verify", "--ledger", str(ledger)]).exit_code == 0
    # meter readings: left_farms got 20 % more than planned over the summer, right_farms correspondingly less
    record = json.loads(plan.read_text())
    rows = []
    for user, u in record["users"].items():
        for date, v in zip(record["dates"], u["allocation_m3"], strict=True):
            factor = {"left_farms": 1.2, "right_farms": 0.8}.get(user, 1.0)
            rows.append({"date": date, "user": user, "metered_m3": v * factor})
    pd.DataFrame(rows).to_csv(tmp_path / "meters.csv", index=False)
    audit = runner.invoke(app, ["deliveries", str(plan), str(tmp_path / "meters.csv")])
    assert audit.exit_code == 0, audit.output
    transfers = json.loads(audit.stdout)["transfers"]
    assert [(t["gainer"], t["loser"]) for t in transfers] == [("left_farms", "right_farms")]


def test_cli_compare_and_infeasible(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(
        app, ["compare", str(DATA / "small_river.yaml"), "--scenario", "n=1", "--scenario", "d=0.5"]
    )
    assert out.exit_code == 0, out.output
    users = {(r["scenario"], r["user"]): r["coverage"] for r in json.loads(out.stdout)["users"]}
    assert users[("d", "town_a")] == pytest.approx(0.5 * users[("n", "town_a")])
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: b\ntime_step: day\nstart: 2025-01-01\nn_steps: 1\ncatchments: [{id: c, inflow_m3: 5}]\n"
        "outlets: [{id: o}]\nlinks: [{id: l, from: c, to: o, capacity_m3: 2}]\n"
    )
    res = runner.invoke(app, ["run", str(bad)])
    assert res.exit_code == 1
    assert "links.l.capacity_m3" in res.output
