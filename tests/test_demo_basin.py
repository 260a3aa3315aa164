"""The demo basin: weather and crops -> irrigation demand, drought -> inflow, a published plan, a caught favourite."""

import json
from pathlib import Path

import pandas as pd
import pytest

from suvar.demo.basin import FAVOURED, GAIN, VICTIM, build_demo_basin
from suvar.ledger import JsonlLedgerStore, verify


@pytest.fixture(scope="module")
def basin(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("basin")
    return build_demo_basin(out), out


def test_drought_scenario_from_the_weather_record(basin: tuple[dict, Path]) -> None:
    summary, _ = basin
    # The synthetic record's dry year has 40 % of normal rain: its water year is the driest, and its inflow
    # factor (P / mean P, elasticity 1) is well below one.
    assert 0.3 < summary["inflow_factor"] < 0.8
    assert summary["spi12_class_dry_year_september"] in {"moderately dry", "severely dry", "extremely dry"}


def test_plan_shares_the_shortage_and_explains_it(basin: tuple[dict, Path]) -> None:
    summary, out = basin
    cov = pd.DataFrame(summary["coverage"]).set_index(["scenario", "user"])["coverage"]
    for user in ("ltown", "capital"):  # priority 1 is served in full even in drought
        assert cov[("drought", user)] == pytest.approx(1.0)
    for user in (FAVOURED, VICTIM):  # irrigation takes the shortfall, and less than at normal inflow
        assert cov[("drought", user)] < cov[("normal", user)]
    explained = pd.read_csv(out / "drought_plan_explained.csv")
    short = explained[(explained["user"] == FAVOURED) & (explained["allocation_m3"] < explained["requirement_m3"])]
    assert len(short) and short["reason"].notna().all()


def test_published_plan_is_verified_and_tamper_evident(basin: tuple[dict, Path]) -> None:
    summary, out = basin
    assert summary["ledger"]["verified"]
    lines = (out / "ledger.jsonl").read_text().splitlines()
    entry = json.loads(lines[0])
    entry["content"]["plan"]["users"][FAVOURED]["allocation_m3"][6] *= 1.2  # quietly give July more water
    tampered = out / "tampered.jsonl"
    tampered.write_text(json.dumps(entry) + "\n")
    assert not verify(JsonlLedgerStore(tampered))["ok"]


def test_audit_catches_the_favoured_district(basin: tuple[dict, Path]) -> None:
    summary, out = basin
    assert summary["audit_over_delivered"] == [FAVOURED]
    (transfer,) = summary["audit_transfers"]
    plan = json.loads((out / "drought_plan.json").read_text())
    planned = sum(plan["users"][FAVOURED]["allocation_m3"])
    assert (transfer["gainer"], transfer["loser"]) == (FAVOURED, VICTIM)
    assert transfer["volume_m3"] == pytest.approx(GAIN * planned, rel=1e-6)


def test_yield_impact(basin: tuple[dict, Path]) -> None:
    summary, out = basin
    yields = pd.read_csv(out / "drought_yield_impact.csv")
    assert set(yields["district"]) == {FAVOURED, VICTIM}
    # FAO-33: 1 - Ya/Ym = Ky (1 - ETa/ETm); cotton Ky = 0.85 (FAO-33 Table 24).
    cotton = yields[yields["crop"] == "cotton"]
    assert cotton["relative_yield_loss"].to_numpy() == pytest.approx(0.85 * cotton["relative_et_deficit"].to_numpy())
    assert summary["revenue_loss"] > 0


def test_report_shows_plan_audit_and_yield(basin: tuple[dict, Path]) -> None:
    _, out = basin
    html = (out / "report.html").read_text()
    for heading in ("Plans side by side", "Why the shortfalls", "Publication", "Delivery audit",
                    "Expected yield impact (FAO-33)"):
        assert f"<h2>{heading}" in html
    assert "left-bank-wua" in html and html.count("<svg") == 2
