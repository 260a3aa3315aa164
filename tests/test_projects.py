"""Loss-reduction project economics (CRF, EAC, NPV, B/C, cost per m3), ranking, EIF and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scipy.optimize import minimize_scalar
from typer.testing import CliRunner

from suvar.projects import (
    Portfolio,
    ProjectInputError,
    capital_recovery_factor,
    economic_intervention_frequency,
    equivalent_annual_cost,
    rank_projects,
)
from suvar.projects.cli import app

PORTFOLIO = Path(__file__).parent / "data" / "balance" / "example_projects.json"


@pytest.mark.parametrize(
    ("rate", "years", "crf"),
    # Compound-interest tables (A/P, i, n), e.g. Grant, Ireson & Leavenworth, Principles of
    # Engineering Economy: 6 %/10 y 0.13587, 8 %/20 y 0.10185, 10 %/5 y 0.26380.
    [(0.06, 10, 0.13587), (0.08, 20, 0.10185), (0.10, 5, 0.26380), (0.0, 8, 0.125)],
)
def test_capital_recovery_factor_matches_interest_tables(rate: float, years: float, crf: float) -> None:
    assert capital_recovery_factor(rate, years) == pytest.approx(crf, abs=5e-6)


def test_eac_and_npv_equal_explicit_discounted_cash_flows() -> None:
    rows = {r["name"]: r for r in rank_projects(json.loads(PORTFOLIO.read_text()))}
    prv = rows["PRV zone North"]
    # 120 000 capex, 15 y, 4 000 opex/y, 350 000 m3/y valued at 0.25.
    pv = sum((350_000 * 0.25 - 4_000) / 1.06**t for t in range(1, 16)) - 120_000
    assert prv["npv"] == pytest.approx(pv)
    assert prv["eac_per_year"] == pytest.approx(equivalent_annual_cost(120_000, 0.06, 15, 4_000))
    assert prv["bc_ratio"] == pytest.approx(87_500 / prv["eac_per_year"])
    assert prv["cost_per_m3_saved"] == pytest.approx(prv["eac_per_year"] / 350_000)
    meters = rows["Replace 5000 meters"]
    assert meters["loss_type"] == "apparent" and meters["unit_value_per_m3"] == pytest.approx(1.10)


@pytest.mark.parametrize(
    ("metric", "first", "last"),
    [
        ("bc_ratio", "PRV zone North", "Mains renewal 12 km"),
        ("npv", "PRV zone North", "Mains renewal 12 km"),
        ("cost_per_m3_saved", "PRV zone North", "Mains renewal 12 km"),
    ],
)
def test_ranking_by_metric(metric: str, first: str, last: str) -> None:
    rows = rank_projects(json.loads(PORTFOLIO.read_text()), metric)  # type: ignore[arg-type]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4]
    assert rows[0]["name"] == first and rows[-1]["name"] == last
    values = [r[metric] for r in rows]
    assert values == sorted(values, reverse=metric != "cost_per_m3_saved")
    assert all(r["ranked_by"] == metric for r in rows)


def test_real_losses_at_retail_changes_value() -> None:
    data = json.loads(PORTFOLIO.read_text())
    rows = {r["name"]: r for r in rank_projects({**data, "real_losses_at_retail": True})}
    assert rows["PRV zone North"]["unit_value_per_m3"] == pytest.approx(1.10)


def test_missing_unit_value_names_the_project() -> None:
    data = json.loads(PORTFOLIO.read_text())
    del data["customer_retail_unit_cost_per_m3"]
    with pytest.raises(ProjectInputError, match=r"Replace 5000 meters.*customer_retail_unit_cost_per_m3"):
        Portfolio.parse(data)
    with pytest.raises(ProjectInputError, match="projects.0.life_years"):
        Portfolio.parse({**data, "projects": [{**data["projects"][0], "life_years": 0}]})


def test_economic_intervention_frequency_is_the_cost_minimum() -> None:
    """Lambert & Fantozzi (2005): EIF = sqrt(0.789 CI / (CV RR)) months minimises yearly survey cost
    plus the cost of unreported losses that rise at RR between surveys; at the optimum the annual
    budget for intervention equals the yearly cost of the economic unreported real losses."""
    ci, cv, rr = 30_000.0, 0.40, 50.0  # survey cost, $/m3, m3/day per year
    res = economic_intervention_frequency(ci, cv, rr)
    assert res["eif_months"] == pytest.approx((0.789 * ci / (cv * rr)) ** 0.5)

    def yearly_cost(t_months: float) -> float:
        return ci * 12 / t_months + 365 * cv * rr * t_months / 24

    best = minimize_scalar(yearly_cost, bounds=(0.1, 240), method="bounded")
    assert res["eif_months"] == pytest.approx(best.x, rel=1e-3)
    assert res["annual_budget_for_intervention"] == pytest.approx(
        cv * res["economic_unreported_real_losses_m3_per_year"], rel=1e-3
    )
    assert res["survey_share_per_year_pct"] == pytest.approx(100 * 12 / res["eif_months"])
    with pytest.raises(ValueError, match="rate_of_rise"):
        economic_intervention_frequency(ci, cv, 0.0)


def test_cli_rank_table_and_json(tmp_path: Path) -> None:
    runner = CliRunner()
    table = runner.invoke(app, ["rank", str(PORTFOLIO)])
    assert table.exit_code == 0, table.output
    assert "ranked by bc_ratio" in table.output
    lines = table.output.splitlines()
    assert "PRV zone North" in lines[2] and "Mains renewal 12 km" in lines[-1]
    as_json = runner.invoke(app, ["rank", str(PORTFOLIO), "--json", "--metric", "npv"])
    rows = json.loads(as_json.output)
    assert [r["rank"] for r in rows] == [1, 2, 3, 4] and rows[0]["ranked_by"] == "npv"
    bad = tmp_path / "plan.json"
    bad.write_text(json.dumps({"discount_rate": 0.05, "projects": [{"name": "x", "kind": "dredging"}]}))
    res = runner.invoke(app, ["rank", str(bad)])
    assert res.exit_code == 2 and "plan.json" in res.output and "projects.0.kind" in res.output
