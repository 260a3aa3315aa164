"""Synthetic semi-arid weather: determinism, climate shape, the dry year, and use by ET0/SPI."""

import warnings

import pandas as pd
import pytest

from suvar.agri.drought import spi
from suvar.agri.et0 import et0_daily
from suvar.agri.weather import synthetic_weather


@pytest.fixture(scope="module")
def weather() -> pd.DataFrame:
    return synthetic_weather("2015-01-01", years=10, seed=3, latitude_deg=39.0, elevation_m=150.0)


def test_deterministic_for_a_seed(weather: pd.DataFrame) -> None:
    again = synthetic_weather("2015-01-01", years=10, seed=3, latitude_deg=39.0, elevation_m=150.0)
    pd.testing.assert_frame_equal(weather, again)
    other = synthetic_weather("2015-01-01", years=10, seed=4, latitude_deg=39.0, elevation_m=150.0)
    assert not other["precip_mm"].equals(weather["precip_mm"])


def test_rain_amount_season_and_dry_year(weather: pd.DataFrame) -> None:
    annual = weather["precip_mm"].groupby(weather.index.year).sum()
    assert len(weather) == 3653 and annual.index.tolist() == list(range(2015, 2025))
    dry = annual.idxmin()
    assert dry == 2020  # default: the middle record year
    assert annual.drop(dry).mean() == pytest.approx(300.0, abs=0.5)
    assert annual[dry] == pytest.approx(120.0, abs=0.5)
    wet_season = weather.index.month.isin([11, 12, 1, 2, 3, 4, 5])
    assert weather.loc[wet_season, "precip_mm"].sum() / weather["precip_mm"].sum() > 0.75


def test_temperature_humidity_are_semi_arid(weather: pd.DataFrame) -> None:
    by_month = weather.groupby(weather.index.month).mean()
    assert by_month.loc[7, "tmax_c"] > 30 and by_month.loc[1, "tmin_c"] < 4
    assert by_month.loc[7, "rhmin_pct"] < 30 and by_month.loc[1, "rhmax_pct"] > 70
    assert (weather["tmax_c"] > weather["tmin_c"]).all()
    assert weather[["rhmin_pct", "rhmax_pct"]].stack().between(0, 100).all()
    assert (weather["sunshine_h"] <= 15.5).all() and (weather["wind_m_s"] > 0).all()


def test_feeds_et0_and_spi(weather: pd.DataFrame) -> None:
    et0 = et0_daily(weather, 39.0, 150.0)
    assert (et0["flags"] == "").all()
    annual_et0 = et0["et0_mm"].groupby(et0.index.year).sum()
    assert annual_et0.between(1000, 1700).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # climate-indices warns that 10 years is a short calibration period
        spi12 = spi(weather["precip_mm"].resample("MS").sum(), scales=(12,))["spi_12"]
    assert spi12.loc["2020-12"].iloc[0] <= -1.5


def test_one_year_record() -> None:
    """A one-year record is normal unless a dry year is named."""
    normal = synthetic_weather("2015-01-01", years=1)["precip_mm"].sum()
    dry = synthetic_weather("2015-01-01", years=1, dry_year=2015)["precip_mm"].sum()
    assert normal == pytest.approx(300.0, abs=0.5) and dry == pytest.approx(120.0, abs=0.5)


def test_bad_dry_year() -> None:
    with pytest.raises(ValueError, match="dry_year 1990 is not a record year"):
        synthetic_weather("2015-01-01", years=3, dry_year=1990)
