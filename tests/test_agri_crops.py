"""Crop coefficients (FAO-56 Eqs. 62, 65, 66), effective rainfall and district irrigation demand.

Expected values are computed by hand from the published formulas: FAO-56 (Allen et al. 1998) Eq. 66 for the
Kc curve and Eq. 62 for the climate adjustment; the CROPWAT USDA-SCS and FAO/AGLW effective rainfall
formulas (Smith 1992, FAO Irrigation and Drainage Paper 46).
"""

import pandas as pd
import pytest

from suvar.agri.crops import CROPS, climate_adjusted_kc, get_crop, kc_curve
from suvar.agri.et0 import et0_daily
from suvar.agri.irrigation import (
    District,
    DistrictDataError,
    Field,
    district_demand_m3_per_day,
    district_from_dict,
    district_requirements,
    district_requirements_from_weather,
    effective_rainfall_monthly_mm,
    field_requirement,
    rhmin_from_ea,
)
from suvar.agri.weather import synthetic_weather


def test_crop_table_is_consistent() -> None:
    assert set(CROPS) >= {"wheat", "cotton", "maize", "tomato", "apple", "citrus", "grapes", "rice"}
    for crop in CROPS.values():
        assert crop.season_length_d <= 365
        assert 0.1 <= crop.kc_ini <= 1.3 and 0.3 <= crop.kc_mid <= 1.3
        assert "Table 11" in crop.source and "Table 12" in crop.source
    assert CROPS["maize"].stage_lengths_d == (30, 40, 50, 30) and CROPS["maize"].kc_mid == 1.20


def test_kc_curve_eq_66_winter_wheat() -> None:
    """Wheat 30/140/40/30 d, Kc 0.7/1.15/0.25: day 100 lies half-way through development."""
    kc = kc_curve(get_crop("Wheat"), "2020-11-01")
    assert len(kc) == 240 and kc.index[-1] == pd.Timestamp("2021-06-28")
    assert kc.iloc[0] == kc.iloc[29] == 0.7
    assert kc.iloc[99] == pytest.approx(0.7 + 70 / 140 * (1.15 - 0.7))
    assert kc.iloc[170:210].eq(1.15).all()
    assert kc.iloc[224] == pytest.approx(1.15 + 15 / 30 * (0.25 - 1.15))
    assert kc.iloc[-1] == pytest.approx(0.25)


def test_climate_adjustment_eq_62_and_limits() -> None:
    """Kc = Kc_tab + [0.04 (u2 - 2) - 0.004 (RHmin - 45)] (h/3)^0.3; u2 limited to [1, 6] m/s."""
    assert climate_adjusted_kc(1.15, 3.0, 30.0, 0.6) == pytest.approx(1.15 + 0.10 * 0.2**0.3)
    assert climate_adjusted_kc(1.15, 2.0, 45.0, 2.0) == 1.15
    assert climate_adjusted_kc(1.2, 9.0, 45.0, 2.0) == climate_adjusted_kc(1.2, 6.0, 45.0, 2.0)


def test_kc_curve_adjusts_mid_and_end_only_above_045() -> None:
    """Eq. 65 adjusts Kc_end only when the tabulated value exceeds 0.45 (maize Kc_end 0.35 stays)."""
    dates = pd.date_range("2020-01-01", "2021-12-31")
    u2, rhmin = pd.Series(3.0, dates), pd.Series(25.0, dates)
    maize = kc_curve(get_crop("maize"), "2020-04-01", u2, rhmin)
    assert maize.iloc[100] == pytest.approx(climate_adjusted_kc(1.20, 3.0, 25.0, 2.0))
    assert maize.iloc[-1] == pytest.approx(0.35)
    cotton = kc_curve(get_crop("cotton"), "2020-04-01", u2, rhmin)
    assert cotton.iloc[-1] == pytest.approx(climate_adjusted_kc(0.60, 3.0, 25.0, 1.35))


def test_kc_curve_keeps_table_values_outside_the_weather_record() -> None:
    """A season running past the end of the weather record: Kc_mid cannot be adjusted and stays tabulated."""
    dates = pd.date_range("2020-01-01", "2020-12-31")
    kc = kc_curve(get_crop("wheat"), "2020-11-01", pd.Series(4.0, dates), pd.Series(20.0, dates))
    assert kc.notna().all() and kc.max() == 1.15


def test_perennial_season_covers_leap_years() -> None:
    """Citrus (365-day season from 1 January) must have Kc on 31 December of a leap year too."""
    dates = pd.date_range("2020-01-01", "2021-12-31")
    field = Field("orchard", get_crop("citrus"), 10.0, "01-01")
    req = field_requirement(field, pd.Series(5.0, dates), pd.Series(0.0, dates))
    assert (req["kc"] > 0).all() and req.loc["2020-12-31", "kc"] == 0.70


def test_effective_rainfall_formulas() -> None:
    p = pd.Series([10.0, 50.0, 100.0, 250.0, 300.0])
    assert effective_rainfall_monthly_mm(p, "usda_scs").tolist() == pytest.approx([9.84, 46.0, 84.0, 150.0, 155.0])
    assert effective_rainfall_monthly_mm(p, "fao_aglw").tolist() == pytest.approx([0.0, 20.0, 56.0, 176.0, 216.0])


def test_rhmin_eq_63() -> None:
    """RHmin = 100 ea / e0(Tmax); e0(30 degC) = 4.243 kPa (FAO-56 Table 2.3)."""
    assert rhmin_from_ea(pd.Series([30.0]), pd.Series([1.0])).iloc[0] == pytest.approx(100 / 4.243, abs=0.02)


def _maize_district(area_ha: float = 100.0) -> District:
    field = Field("maize_a", get_crop("maize"), area_ha, "04-01")
    return District("plain", (field,), application_efficiency=0.6, conveyance_efficiency=0.8)


def test_district_demand_hand_computed() -> None:
    """Constant ET0 5 mm/day, no rain, maize 100 ha, Ea 0.6, Ec 0.8: sum of Kc over the 150-day season is
    30(0.3) + [40(0.3) + 0.9/40 (820)] + 50(1.2) + [30(1.2) - 0.85/30 (465)] = 122.275."""
    dates = pd.date_range("2021-01-01", "2021-12-31")
    demand = district_demand_m3_per_day(_maize_district(), pd.Series(5.0, dates), pd.Series(0.0, dates))
    assert demand.name == "plain"
    assert demand["2021-03-31"] == 0.0 and demand["2021-08-29"] == 0.0
    assert demand["2021-07-01"] == pytest.approx(1.2 * 5 * 100 * 10 / (0.6 * 0.8))
    assert demand.sum() == pytest.approx(122.275 * 5 * 100 * 10 / 0.48)


def test_rain_reduces_net_requirement() -> None:
    """100 mm in June gives USDA-SCS Peff 84 mm, i.e. 2.8 mm/day off ETc = 1.2 x 5 = 6 mm/day."""
    dates = pd.date_range("2021-01-01", "2021-12-31")
    rain = pd.Series(0.0, dates)
    rain["2021-06-10"] = 100.0
    req = district_requirements(_maize_district(), pd.Series(5.0, dates), rain)
    assert req.loc["2021-06-15", "net_m3_per_day"] == pytest.approx((6.0 - 2.8) * 100 * 10)
    assert req.loc["2021-06-15", "maize_a"] == pytest.approx((6.0 - 2.8) * 1000 / 0.48)


def test_district_from_dict_and_errors() -> None:
    data = {
        "name": "lower plain",
        "application_efficiency": 0.6,
        "conveyance_efficiency": 0.85,
        "latitude_deg": 39.0,
        "elevation_m": 150,
        "fields": [
            {"crop": "wheat", "area_ha": 1000, "planting": "11-01"},
            {"crop": "tomato", "area_ha": 200, "planting": "04-15", "application_efficiency": 0.9},
        ],
    }
    district = district_from_dict(data, "d.json")
    assert [f.name for f in district.fields] == ["wheat_1", "tomato_2"]
    assert district.fields[1].application_efficiency == 0.9
    bad = dict(data, fields=[{"crop": "banana", "area_ha": 1, "planting": "01-01"}])
    with pytest.raises(DistrictDataError, match=r"d.json: fields\[0\]: unknown crop 'banana'; known crops: wheat"):
        district_from_dict(bad, "d.json")
    with pytest.raises(DistrictDataError, match=r"d.json: fields\[0\]: 'planting' must be 'MM-DD'"):
        district_from_dict(dict(data, fields=[{"crop": "maize", "area_ha": 1, "planting": "April"}]), "d.json")
    with pytest.raises(DistrictDataError, match="d.json: 'conveyance_efficiency' must be a number in"):
        district_from_dict(dict(data, conveyance_efficiency=85), "d.json")


def test_requirements_from_weather_compose_et0_and_climate_adjustment() -> None:
    """The one-call path equals ET0 (FAO-56) + district_requirements with u2 and the record's RHmin; in this
    dry, windy summer (RHmin < 45 %) the Eq. 62 adjustment raises maize's mid-season demand."""
    weather = synthetic_weather("2020-01-01", years=1, seed=1, latitude_deg=39.0, elevation_m=150.0)
    district = District("plain", (Field("m", get_crop("maize"), 100.0, "04-15"),), 0.6, 0.8, 39.0, 150.0)
    got = district_requirements_from_weather(district, weather)
    et0 = et0_daily(weather, 39.0, 150.0)
    expected = district_requirements(district, et0["et0_mm"], weather["precip_mm"], et0["u2_m_s"], weather["rhmin_pct"])
    pd.testing.assert_frame_equal(got, expected)
    plain = district_requirements_from_weather(district, weather, climate_adjust=False)
    assert got.loc["2020-07-01", "m"] > plain.loc["2020-07-01", "m"]
    with pytest.raises(DistrictDataError, match="district 'plain': needs 'latitude_deg' and 'elevation_m'"):
        district_requirements_from_weather(District("plain", district.fields, 0.6, 0.8), weather)
