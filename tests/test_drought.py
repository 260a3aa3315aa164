"""SPI/SPEI (climate-indices), WMO classes, McKee drought events and inflow scenarios.

References: McKee, Doesken & Kleist (1993); Edwards & McKee (1997) for the SPI fitting procedure (gamma by
Thom's approximation per calendar month, H(x) = q + (1 - q) G(x) with q the probability of zero,
SPI = Phi^-1(H)); WMO-No. 1090 (2012) Table 1 for the classes and the event definition.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from suvar.agri.drought import (
    DroughtDataError,
    annual_precipitation,
    classify_spi,
    drought_events,
    drought_status,
    inflow_scenarios,
    spei,
    spi,
)

MONTHS = pd.date_range("1981-01-01", periods=40 * 12, freq="MS")


def _synthetic_precip(seed: int = 7) -> pd.Series:
    """40 years of monthly gamma precipitation with a seasonal scale (wet winters, dry summers)."""
    rng = np.random.default_rng(seed)
    scale = 10 + 25 * (1 + np.cos(2 * np.pi * (MONTHS.month.to_numpy() - 1) / 12))
    return pd.Series(rng.gamma(2.5, scale), index=MONTHS)


def _thom_spi(values: np.ndarray) -> np.ndarray:
    """SPI-1 of one calendar month by the Edwards & McKee (1997) procedure, without climate-indices."""
    nonzero = values[values > 0]
    q = 1 - len(nonzero) / len(values)
    a = np.log(nonzero.mean()) - np.log(nonzero).mean()
    alpha = (1 + np.sqrt(1 + 4 * a / 3)) / (4 * a)
    beta = nonzero.mean() / alpha
    h = q + (1 - q) * stats.gamma.cdf(values, alpha, scale=beta)
    return np.clip(stats.norm.ppf(h), -3.09, 3.09)


def test_spi_1_matches_the_published_procedure() -> None:
    precip = _synthetic_precip()
    precip[(precip.index.month == 7) & (precip.index.year % 4 == 0)] = 0.0  # dry Julys: probability of zero
    result = spi(precip, scales=(1,))["spi_1"]
    for month in range(1, 13):
        sel = precip.index.month == month
        np.testing.assert_allclose(result[sel], _thom_spi(precip[sel].to_numpy()), atol=1e-6)
    july_zero = result[(result.index.month == 7) & (result.index.year % 4 == 0)]
    assert july_zero.iloc[0] == pytest.approx(stats.norm.ppf(10 / 40))


def test_spi_of_gamma_series_is_standard_normal() -> None:
    result = spi(_synthetic_precip(), scales=(1, 3, 6, 12))
    assert list(result.columns) == ["spi_1", "spi_3", "spi_6", "spi_12"]
    assert result["spi_3"].iloc[:2].isna().all() and result["spi_12"].iloc[:11].isna().all()
    for col in result:
        values = result[col].dropna()
        assert abs(values.mean()) < 0.05 and values.std() == pytest.approx(1.0, abs=0.05)
    assert stats.kstest(result["spi_1"].dropna(), "norm").pvalue > 0.05


def test_spi_calibration_period_matters_and_is_checked() -> None:
    precip = _synthetic_precip()
    precip.loc["2011":] *= 0.6  # a drier recent climate
    full = spi(precip, scales=(3,))["spi_3"]
    early = spi(precip, scales=(3,), calibration_years=(1981, 2010))["spi_3"]
    assert abs(early.loc[:"2010"].mean()) < 0.1  # standard within its own calibration period
    assert full.loc[:"2010"].mean() > 0.1  # against the drier full record the early years look wet
    assert early.loc["2011":].mean() < full.loc["2011":].mean() - 0.15
    with pytest.raises(DroughtDataError, match="calibration period 1971-2000 must lie within the data, 1981-2020"):
        spi(precip, calibration_years=(1971, 2000))


def test_spei_with_constant_pet_ranks_like_spi() -> None:
    precip = _synthetic_precip()
    pet = pd.Series(80.0, index=precip.index)
    both = pd.concat([spi(precip, scales=(3,)), spei(precip, pet, scales=(3,))], axis=1).dropna()
    assert stats.spearmanr(both["spi_3"], both["spei_3"]).statistic > 0.97


def test_wmo_classes() -> None:
    """WMO-No. 1090 Table 1 boundaries."""
    values = pd.Series([2.0, 1.99, 1.5, 1.0, 0.99, 0.0, -0.99, -1.0, -1.49, -1.5, -1.99, -2.0, np.nan])
    assert classify_spi(values).tolist()[:-1] == [
        "extremely wet",
        "very wet",
        "very wet",
        "moderately wet",
        "near normal",
        "near normal",
        "near normal",
        "moderately dry",
        "moderately dry",
        "severely dry",
        "severely dry",
        "extremely dry",
    ]
    assert pd.isna(classify_spi(values).iloc[-1])


def test_drought_events_mckee() -> None:
    """Hand case: run -0.3, -1.2, -0.8 is an event (reaches -1); -0.5, -0.9 is not; the last is ongoing."""
    months = pd.date_range("2000-01-01", periods=10, freq="MS")
    values = pd.Series([0.5, -0.3, -1.2, -0.8, 0.2, -0.5, -0.9, 0.1, -1.5, -2.1], index=months)
    events = drought_events(values)
    assert len(events) == 2
    first, last = events.iloc[0], events.iloc[1]
    assert (first["start"], first["end"]) == (months[1], months[3])
    assert first["duration_months"] == 3 and first["magnitude"] == pytest.approx(2.3)
    assert first["peak"] == -1.2 and first["peak_month"] == months[2] and not first["ongoing"]
    assert last["magnitude"] == pytest.approx(3.6) and last["ongoing"]
    late = drought_events(values, start_at_first_negative=False).iloc[0]
    assert late["start"] == months[2] and late["duration_months"] == 2 and late["magnitude"] == pytest.approx(2.0)
    gap = values.copy()
    gap.iloc[3] = np.nan  # a missing month ends the run
    assert drought_events(gap).iloc[0]["end"] == months[2]


def test_drought_status_per_basin() -> None:
    months = pd.date_range("2020-01-01", periods=3, freq="MS")
    table = pd.DataFrame({"north": [0.2, -0.4, -1.6], "south": [1.2, 0.3, np.nan]}, index=months)
    status = drought_status(table)
    assert status.loc["north", "class"] == "severely dry" and status.loc["north", "in_drought"]
    assert status.loc["south", "month"] == months[1] and status.loc["south", "class"] == "near normal"


def test_inflow_scenarios_from_water_years() -> None:
    """Water years Oct-Sep of 20, 10 and 30 mm every month: 240, 120 and 360 mm; the driest, 2002, is
    120 / 240 = 0.5 of the mean."""
    months = pd.date_range("2000-10-01", periods=36, freq="MS")
    monthly = pd.Series(np.repeat([20.0, 10.0, 30.0], 12), index=months)
    annual = annual_precipitation(monthly)
    assert annual.to_dict() == {2001: 240.0, 2002: 120.0, 2003: 360.0}
    scen = inflow_scenarios(monthly, percentiles=(50,), elasticity=1.0)
    assert scen.loc["driest_year", "water_year"] == 2002
    assert scen.loc["driest_year", "inflow_scale"] == pytest.approx(0.5)
    assert scen.loc["p50", "inflow_scale"] == pytest.approx(1.0)
    assert inflow_scenarios(monthly, elasticity=2.0).loc["driest_year", "inflow_scale"] == pytest.approx(0.0)
    daily = pd.Series(1.0, index=pd.date_range("2000-10-01", "2002-09-30"))
    assert annual_precipitation(daily.iloc[:-1]).to_dict() == {2001: 365.0}  # 2002 lacks a day
