"""Minimum night flow, night-day factor, BABE split and FAVAD pressure what-ifs.

Method: UK Water Industry, Managing Leakage Report E (1994); SANFLOW defaults (McKenzie 1999);
FAVAD L1/L0 = (P1/P0)^N1 (May 1994, Lambert 2001); UARL background components (Lambert et al. 1999).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from suvar.balance import favad_leakage, night_flow_analysis, pressure_management_whatif
from suvar.balance.nightflow import NightFlowInputError, legitimate_night_use_m3h, night_day_factor

TZ = "Europe/Istanbul"
#: Hourly AZP profile of a gravity zone: 50 m from 00:00 to 05:59, 40 m the rest of the day.
AZP_PROFILE = np.where(np.arange(24) < 6, 50.0, 40.0)
#: Hourly inflow: minimum 20 m3/h at 03:00, 24 m3/h elsewhere at night, 80 m3/h by day.
FLOW_PROFILE = np.where(np.arange(24) < 6, 24.0, 80.0)
FLOW_PROFILE[3] = 20.0


def _series(hourly: np.ndarray, days: int = 3, freq: str = "15min") -> pd.Series:
    index = pd.date_range("2026-06-01", periods=days * 24 * 4, freq=freq, tz=TZ)
    return pd.Series(hourly[index.hour], index=index)


def test_daily_mnf_nnf_ndf_and_real_losses() -> None:
    flow, azp = _series(FLOW_PROFILE), _series(AZP_PROFILE)
    out = night_flow_analysis(flow, azp, households=1000, persons_per_household=3.0)
    assert len(out) == 3
    lnu = 1000 * 3 * 0.06 * 10 / 1000  # 1.8 m3/h (SANFLOW: 6 % active, 10 l per use)
    ndf = 6 * 1.0 + 18 * 40 / 50  # 20.4 h with N1 = 1
    row = out.iloc[0]
    assert row["mnf_m3h"] == pytest.approx(20.0)
    assert row["mnf_hour"].hour == 3
    assert row["legitimate_night_use_m3h"] == pytest.approx(lnu)
    assert row["net_night_flow_m3h"] == pytest.approx(20.0 - lnu)
    assert row["azp_night_m"] == pytest.approx(50.0)
    assert row["ndf_h"] == pytest.approx(ndf)
    assert row["real_losses_m3_per_day"] == pytest.approx((20.0 - lnu) * ndf)


def test_ndf_with_n1_and_without_pressure() -> None:
    assert night_day_factor(AZP_PROFILE, 50.0, n1=1.5) == pytest.approx(6 + 18 * 0.8**1.5)
    assert night_day_factor(np.full(24, 37.0), 37.0, n1=0.5) == pytest.approx(24.0)
    out = night_flow_analysis(_series(FLOW_PROFILE), None, default_ndf_h=22.0)
    assert (out["ndf_h"] == 22.0).all()
    assert out["real_losses_m3_per_day"].iloc[0] == pytest.approx(20.0 * 22.0)


def test_window_is_configurable() -> None:
    out = night_flow_analysis(_series(FLOW_PROFILE), None, window=("04:00", "06:00"))
    assert out["mnf_m3h"].iloc[0] == pytest.approx(24.0)


def test_babe_split_background_and_bursts() -> None:
    flow, azp = _series(FLOW_PROFILE), _series(AZP_PROFILE)
    out = night_flow_analysis(
        flow, azp, mains_length_km=20, service_connections=2000, avg_private_pipe_length_m=5, icf=2.0
    )
    # Background at 50 m: ICF x (9.6*20 + 0.6*2000 + 16*10) x 50 l/day / 24 -> m3/h at night.
    bg_night = 2.0 * (9.6 * 20 + 0.6 * 2000 + 16 * 10) * 50 / 24 / 1000
    row = out.iloc[0]
    assert row["background_leakage_m3_per_day"] == pytest.approx(bg_night * row["ndf_h"])
    assert row["background_leakage_m3_per_day"] + row["unreported_bursts_m3_per_day"] == pytest.approx(
        row["real_losses_m3_per_day"]
    )


@pytest.mark.parametrize(("n1", "saved_pct"), [(0.5, 10.56), (1.0, 20.0), (1.5, 28.45)])
def test_favad_20pct_pressure_cut(n1: float, saved_pct: float) -> None:
    """A 20 % pressure reduction saves 1 - 0.8^N1 of leakage: ~11 %, 20 %, ~28 % for N1 = 0.5, 1, 1.5
    (the FAVAD table of Thornton & Lambert / Lambert 2001)."""
    assert 100 * (1 - favad_leakage(1.0, 50.0, 40.0, n1)) == pytest.approx(saved_pct, abs=0.01)


def test_pressure_management_whatif() -> None:
    res = pressure_management_whatif(np.full(24, 60.0), net_night_flow_m3h=10.0, cap_m=45.0, n1=1.0)
    assert res["leakage_before_m3_per_day"] == pytest.approx(240.0)
    assert res["leakage_saved_m3_per_day"] == pytest.approx(60.0)
    assert res["leakage_saved_pct"] == pytest.approx(25.0)
    # A cap above the highest pressure saves nothing; only capped hours save.
    assert pressure_management_whatif(AZP_PROFILE, 10.0, 55.0)["leakage_saved_m3_per_day"] == 0.0
    capped = pressure_management_whatif(AZP_PROFILE, 10.0, 45.0, n1=1.0)
    assert capped["leakage_saved_m3_per_day"] == pytest.approx(10.0 * 6 * (1 - 45 / 50))


def test_legitimate_night_use_sums_users() -> None:
    assert legitimate_night_use_m3h(500, 2.0, 0.05, 12.0, 0.4, 1.1) == pytest.approx(0.6 + 0.4 + 1.1)


def test_bad_series_are_rejected_with_reasons() -> None:
    naive = pd.Series([1.0, 2.0], index=pd.date_range("2026-01-01", periods=2, freq="h"))
    with pytest.raises(NightFlowInputError, match="tz-aware"):
        night_flow_analysis(naive)
    with pytest.raises(NightFlowInputError, match="pandas Series"):
        night_flow_analysis([1.0, 2.0])  # type: ignore[arg-type]
    daytime = pd.Series(5.0, index=pd.date_range("2026-01-01 10:00", periods=8, freq="h", tz=TZ))
    with pytest.raises(NightFlowInputError, match="no samples in the night window"):
        night_flow_analysis(daytime)
    negative = _series(FLOW_PROFILE) * -1
    with pytest.raises(NightFlowInputError, match="negative"):
        night_flow_analysis(negative)
