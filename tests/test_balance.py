"""Water balance (IWA / AWWA M36): components, conventions, defaults, margins, grades and the CLI.

Arithmetic follows the IWA standard balance (Alegre et al. 2000/2006), AWWA M36 4th ed. and the AWWA
Free Water Audit Software v5/v6 (defaults: unbilled unmetered 1.25 % and unauthorised consumption
0.25 % of water supplied, systematic data handling 0.25 % of billed metered). Margins follow
WB-EasyCalc: sigma = V m / 1.96, variances add.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from suvar.balance import AuditInputError, AuditInputs, water_balance
from suvar.balance.cli import app
from suvar.balance.inputs import NUMERIC_KEYS

DATA = Path(__file__).parent / "data" / "balance"
DOC = Path(__file__).parents[1] / "docs" / "balance.md"

BASE = {
    "volume_from_own_sources_m3": 10_000_000,
    "water_imported_m3": 500_000,
    "water_exported_m3": 300_000,
    "billed_metered_m3": 7_350_000,
    "billed_unmetered_m3": 100_000,
    "unbilled_metered_m3": 0,
    "unbilled_unmetered_m3": 150_000,
    "unauthorized_consumption_m3": 30_000,
    "customer_meter_under_registration_pct": 2.0,
    "systematic_data_handling_error_m3": 20_000,
    "mains_length_km": 400,
    "service_connections": 25_000,
    "avg_private_pipe_length_m": 0,
    "avg_pressure_m": 50,
}


def test_iwa_balance_hand_computed() -> None:
    r = water_balance(BASE, "iwa")
    # SIV = 10.0e6 + 0.5e6; billed authorised includes the 0.3e6 exported (IWA).
    assert r["system_input_volume_m3"] == pytest.approx(10_500_000)
    assert r["billed_authorized_consumption_m3"] == pytest.approx(7_750_000)
    assert r["authorized_consumption_m3"] == pytest.approx(7_900_000)
    assert r["water_losses_m3"] == pytest.approx(2_600_000)
    # Customer metering inaccuracy = 7.35e6 x 0.02 / 0.98 = 150 000.
    assert r["customer_metering_inaccuracies_m3"] == pytest.approx(150_000)
    assert r["apparent_losses_m3"] == pytest.approx(200_000)
    assert r["real_losses_m3"] == pytest.approx(2_400_000)
    assert r["non_revenue_water_m3"] == pytest.approx(2_750_000)
    assert r["nrw_pct_volume"] == pytest.approx(100 * 2_750_000 / 10_500_000)
    assert r["convention"] == "iwa"
    assert r["defaults_applied"] == {}


def test_awwa_convention_same_losses_different_denominator() -> None:
    iwa, awwa = water_balance(BASE, "iwa"), water_balance(BASE, "awwa")
    assert awwa["system_input_volume_m3"] == pytest.approx(10_200_000)  # water supplied
    assert awwa["billed_authorized_consumption_m3"] == pytest.approx(7_450_000)  # exports excluded
    for key in ("water_losses_m3", "apparent_losses_m3", "real_losses_m3", "non_revenue_water_m3", "ili"):
        assert awwa[key] == pytest.approx(iwa[key])
    assert awwa["nrw_pct_volume"] == pytest.approx(100 * 2_750_000 / 10_200_000)
    assert awwa["convention"] == "awwa"


def test_awwa_defaults_are_applied_and_marked() -> None:
    inputs = {
        k: v
        for k, v in BASE.items()
        if k
        not in ("unbilled_unmetered_m3", "unauthorized_consumption_m3", "systematic_data_handling_error_m3")
    }
    r = water_balance(inputs, "awwa")
    supplied = 10_200_000
    assert r["unbilled_unmetered_m3"] == pytest.approx(0.0125 * supplied)
    assert r["unauthorized_consumption_m3"] == pytest.approx(0.0025 * supplied)
    assert r["systematic_data_handling_error_m3"] == pytest.approx(0.0025 * 7_350_000)
    assert set(r["defaults_applied"]) == {
        "unbilled_unmetered_m3",
        "unauthorized_consumption_m3",
        "systematic_data_handling_error_m3",
    }


def test_master_meter_error_correction() -> None:
    # A source meter over-registering by 1.5 % reads 10 150 000 for a true 10 000 000 m3.
    r = water_balance(
        {**BASE, "volume_from_own_sources_m3": 10_150_000, "volume_from_own_sources_meter_error_pct": 1.5}
    )
    assert r["volume_from_own_sources_corrected_m3"] == pytest.approx(10_000_000)
    assert r["real_losses_m3"] == pytest.approx(2_400_000)


def test_margins_propagate_as_summed_variances() -> None:
    r = water_balance(
        {
            **BASE,
            "volume_from_own_sources_m3_margin_pct": 2.0,
            "billed_metered_m3_margin_pct": 1.0,
            "customer_meter_under_registration_pct_margin_pct": 50.0,
        }
    )
    own, billed = 0.02 * 10_000_000, 0.01 * 7_350_000
    assert r["system_input_volume_margin_m3"] == pytest.approx(own)
    assert r["water_losses_margin_m3"] == pytest.approx(math.hypot(own, billed))
    # Metering inaccuracy: from billed metered (x u/(1-u)) and from u itself (d/du = M/(1-u)^2).
    cmi = math.hypot(billed * 0.02 / 0.98, 7_350_000 / 0.98**2 * 0.01)
    assert r["apparent_losses_margin_m3"] == pytest.approx(cmi)
    assert r["real_losses_margin_m3"] == pytest.approx(math.sqrt(own**2 + billed**2 + cmi**2))
    assert r["real_losses_margin_pct"] == pytest.approx(100 * r["real_losses_margin_m3"] / 2_400_000)
    # ILI margin = real-loss margin when the system data are exact.
    assert r["ili_margin_pct"] == pytest.approx(r["real_losses_margin_pct"])


def test_data_validity_score_is_volume_weighted() -> None:
    r = water_balance({**BASE, "volume_from_own_sources_m3_grade": 7, "billed_metered_m3_grade": 9})
    expected = 10 * (7 * 10_000_000 + 9 * 7_350_000) / (10_000_000 + 7_350_000)
    assert r["data_validity_score"] == pytest.approx(expected)
    assert r["data_validity_tier"] == "III"  # 78.5: tier III is 71-80 (AWWA FWAS v5)
    assert water_balance(BASE)["data_validity_score"] is None


def test_cost_indicators() -> None:
    costs = {
        "variable_production_cost_per_m3": 0.2,
        "customer_retail_unit_cost_per_m3": 1.0,
        "annual_operating_cost": 5_000_000,
    }
    r = water_balance({**BASE, **costs})
    value = 150_000 * 0.2 + 2_400_000 * 0.2 + 200_000 * 1.0
    assert r["nrw_value_per_year"] == pytest.approx(value)
    assert r["nrw_pct_cost"] == pytest.approx(100 * value / 5_000_000)
    retail = water_balance({**BASE, **costs}, real_losses_at_retail=True)
    assert retail["real_losses_value_per_year"] == pytest.approx(2_400_000 * 1.0)
    # A 91-day period is annualised.
    quarter = water_balance({**BASE, **costs, "period_days": 91.25})
    assert quarter["nrw_value_per_year"] == pytest.approx(4 * value)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"billed_metered_m3": -1}, "billed_metered_m3"),
        ({"avg_pressure_m": 0}, "avg_pressure_m"),
        ({"supply_hours_per_day": 30}, "supply_hours_per_day"),
        ({"water_imported_m3_grade": 11}, "water_imported_m3_grade"),
        ({"billed_metered_m3_margin_pct": 150}, "billed_metered_m3_margin_pct"),
        ({"volume_from_own_source_m3": 5}, "volume_from_own_source_m3"),
    ],
)
def test_bad_inputs_name_the_field(bad: dict, field: str) -> None:
    with pytest.raises(AuditInputError, match=field):
        AuditInputs.parse({**BASE, **bad})


def test_missing_required_input_is_named() -> None:
    inputs = {k: v for k, v in BASE.items() if k != "mains_length_km"}
    with pytest.raises(AuditInputError, match="mains_length_km: Field required"):
        water_balance(inputs)


volume = st.floats(min_value=0, max_value=1e9, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(
    own=volume,
    imported=volume,
    exported=volume,
    bm=volume,
    bu=volume,
    um=volume,
    uu=st.none() | volume,
    ua=st.none() | volume,
    dh=st.none() | volume,
    u=st.floats(min_value=0, max_value=50),
    nc=st.floats(min_value=0, max_value=1e6),
    lm=st.floats(min_value=0.1, max_value=1e5),
    p=st.floats(min_value=1, max_value=150),
    convention=st.sampled_from(["iwa", "awwa"]),
)
def test_components_always_sum_to_system_input(
    own: float,
    imported: float,
    exported: float,
    bm: float,
    bu: float,
    um: float,
    uu: float | None,
    ua: float | None,
    dh: float | None,
    u: float,
    nc: float,
    lm: float,
    p: float,
    convention: str,
) -> None:
    inputs = {
        "volume_from_own_sources_m3": own,
        "water_imported_m3": imported,
        "water_exported_m3": exported,
        "billed_metered_m3": bm,
        "billed_unmetered_m3": bu,
        "unbilled_metered_m3": um,
        "unbilled_unmetered_m3": uu,
        "unauthorized_consumption_m3": ua,
        "systematic_data_handling_error_m3": dh,
        "customer_meter_under_registration_pct": u,
        "service_connections": nc,
        "mains_length_km": lm,
        "avg_pressure_m": p,
    }
    try:
        r = water_balance(inputs, convention)  # type: ignore[arg-type]
    except AuditInputError:
        assert own + imported == 0
        return
    except ValueError as err:
        assert "water supplied" in str(err)
        return
    siv = r["system_input_volume_m3"]
    parts = (
        r["billed_authorized_consumption_m3"]
        + r["unbilled_authorized_consumption_m3"]
        + r["apparent_losses_m3"]
        + r["real_losses_m3"]
    )
    assert parts == pytest.approx(siv, rel=1e-9, abs=1e-6)
    assert r["revenue_water_m3"] + r["non_revenue_water_m3"] == pytest.approx(siv, rel=1e-9, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(
    margins=st.dictionaries(st.sampled_from(NUMERIC_KEYS), st.floats(min_value=0, max_value=100), max_size=8),
    grades=st.dictionaries(st.sampled_from(NUMERIC_KEYS), st.integers(min_value=1, max_value=10), max_size=8),
    meter_error=st.floats(min_value=-50, max_value=50),
    hours=st.floats(min_value=0.5, max_value=24),
    private_m=st.floats(min_value=0, max_value=100),
    cost=st.none() | st.floats(min_value=0, max_value=10),
)
def test_margins_grades_and_costs_never_crash(
    margins: dict, grades: dict, meter_error: float, hours: float, private_m: float, cost: float | None
) -> None:
    inputs = {
        **BASE,
        "volume_from_own_sources_meter_error_pct": meter_error,
        "supply_hours_per_day": hours,
        "avg_private_pipe_length_m": private_m,
        "variable_production_cost_per_m3": cost,
        "customer_retail_unit_cost_per_m3": cost,
        "annual_operating_cost": 1e6,
        **{f"{k}_margin_pct": v for k, v in margins.items()},
        **{f"{k}_grade": v for k, v in grades.items()},
    }
    r = water_balance(inputs)
    for key, value in r.items():
        if key.endswith("_margin_m3"):
            assert value >= 0 and math.isfinite(value)
    score = r["data_validity_score"]
    assert score is None or 10 - 1e-9 <= score <= 100 + 1e-9


@settings(max_examples=50, deadline=None)
@given(p=st.floats(min_value=5, max_value=120), k=st.floats(min_value=0.2, max_value=5))
def test_ili_scales_as_one_over_pressure_for_fixed_carl(p: float, k: float) -> None:
    """UARL is linear in P (Lambert et al. 1999), so ILI x P is constant for fixed real losses."""
    a = water_balance({**BASE, "avg_pressure_m": p})["ili"]
    b = water_balance({**BASE, "avg_pressure_m": p * k})["ili"]
    assert b == pytest.approx(a / k, rel=1e-9)


def test_doc_lists_every_input_and_output_key() -> None:
    documented = set(re.findall(r"`([a-z0-9_]+)`", DOC.read_text(encoding="utf-8")))
    missing_inputs = set(AuditInputs.model_fields) - documented
    assert not missing_inputs, f"inputs missing from docs/balance.md: {sorted(missing_inputs)}"
    result = water_balance(json.loads((DATA / "example_audit.json").read_text()))
    missing_outputs = set(result) - documented
    assert not missing_outputs, f"outputs missing from docs/balance.md: {sorted(missing_outputs)}"


def test_cli_run_prints_json() -> None:
    res = CliRunner().invoke(app, ["run", str(DATA / "example_audit.json"), "--convention", "awwa"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["convention"] == "awwa"
    direct = water_balance(json.loads((DATA / "example_audit.json").read_text()), "awwa")
    assert out["real_losses_m3"] == pytest.approx(direct["real_losses_m3"])


def test_cli_bad_files_name_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "zone7.json"
    bad.write_text(json.dumps({**BASE, "billed_metered_m3": "lots"}))
    res = CliRunner().invoke(app, ["run", str(bad)])
    assert res.exit_code == 2
    assert "zone7.json" in res.output and "billed_metered_m3" in res.output
    bad.write_text('{"billed_metered_m3": 1,,}')
    res = CliRunner().invoke(app, ["run", str(bad)])
    assert res.exit_code == 2 and "invalid JSON at line 1" in res.output
    res = CliRunner().invoke(app, ["run", str(tmp_path / "nope.json")])
    assert res.exit_code == 2 and "file not found" in res.output
