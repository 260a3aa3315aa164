"""Yield response to water, 1 - Ya/Ym = Ky (1 - ETa/ETm) (FAO-33, Doorenbos & Kassam 1979).

Expected values are hand-computed from the equation with FAO-33 seasonal Ky values
(maize 1.25, cotton 0.85).
"""

import pandas as pd
import pytest

from suvar.agri.crops import get_crop
from suvar.agri.irrigation import District, Field, district_demand_m3_per_day
from suvar.agri.yield_response import district_yield_impact, relative_yield, yield_impact


def test_relative_yield_equation() -> None:
    assert relative_yield(0.8, 1.25) == pytest.approx(0.75)  # maize: 20 % ET deficit -> 25 % loss
    assert relative_yield(0.8, 0.85) == pytest.approx(0.83)  # cotton is less sensitive
    assert relative_yield(1.0, 1.25) == 1.0
    assert relative_yield(0.1, 1.25) == 0.0  # floored


def test_yield_impact_of_half_allocation() -> None:
    """Maize ETm 700 mm, NIR 600 mm, 50 % of the water: ETa = 700 - 300 = 400, ET deficit 3/7,
    loss = 1.25 x 3/7 = 0.5357; Ym 10 t/ha on 100 ha at 200 per t."""
    out = yield_impact(get_crop("maize"), 700, 600, 0.5e6, 1.0e6, 10.0, 100.0, 200.0)
    assert out.eta_mm == 400
    assert out.relative_yield_loss == pytest.approx(1.25 * 3 / 7)
    assert out.production_t == pytest.approx((1 - 1.25 * 3 / 7) * 1000)
    assert out.revenue + out.revenue_loss == pytest.approx(10.0 * 100 * 200)


def test_full_allocation_and_missing_ky() -> None:
    out = yield_impact(get_crop("cotton"), 800, 700, 2e6, 1.5e6, 4.0, 10.0, 500.0)
    assert out.supplied_fraction == 1.0 and out.relative_yield_loss == 0.0
    with pytest.raises(ValueError, match="FAO-33 gives no seasonal Ky for apple"):
        yield_impact(get_crop("apple"), 800, 700, 1e6, 2e6, 40.0, 10.0, 300.0)
    assert yield_impact(get_crop("apple"), 800, 400, 1e6, 2e6, 40.0, 10.0, 300.0, ky=1.0).yield_t_per_ha == 30.0


def _district() -> District:
    fields = (
        Field("maize_a", get_crop("maize"), 100.0, "04-01"),
        Field("apple_b", get_crop("apple"), 10.0, "03-01"),
    )
    return District("plain", fields, application_efficiency=0.6, conveyance_efficiency=0.8)


ECONOMICS = {
    "maize": {"max_yield_t_per_ha": 10.0, "price_per_t": 200.0},
    "apple": {"max_yield_t_per_ha": 40.0, "price_per_t": 300.0, "ky": 1.0},
}


def test_district_yield_impact_of_a_half_allocation() -> None:
    """No rain, so NIR = ETm; half the demand every day halves ETa: maize loses 1.25 x 0.5 = 62.5 %,
    apple (Ky 1.0 given) 50 %."""
    dates = pd.date_range("2021-01-01", "2021-12-31")
    et0, rain = pd.Series(5.0, dates), pd.Series(0.0, dates)
    demand = district_demand_m3_per_day(_district(), et0, rain)
    out = district_yield_impact(_district(), et0, rain, 0.5 * demand, ECONOMICS)
    assert out["field"].tolist() == ["maize_a", "apple_b"]
    maize = out.iloc[0]
    assert maize["season_start"] == pd.Timestamp("2021-04-01")
    assert maize["etm_mm"] == pytest.approx(122.275 * 5)  # sum of Kc over the season x ET0
    assert maize["relative_yield_loss"] == pytest.approx(0.625)
    assert maize["revenue_loss"] == pytest.approx(0.625 * 10 * 100 * 200)
    assert out.iloc[1]["relative_yield_loss"] == pytest.approx(0.5)
    full = district_yield_impact(_district(), et0, rain, demand, ECONOMICS)
    assert (full["relative_yield_loss"] == 0).all()
    with pytest.raises(ValueError, match="economics has no entry for crop 'apple'"):
        district_yield_impact(_district(), et0, rain, demand, {"maize": ECONOMICS["maize"]})
