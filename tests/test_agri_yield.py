"""Yield response to water, 1 - Ya/Ym = Ky (1 - ETa/ETm) (FAO-33, Doorenbos & Kassam 1979).

Expected values are hand-computed from the equation with FAO-33 Table 24 seasonal Ky values
(maize 1.25, cotton 0.85).
"""

import pytest

from suvar.agri.crops import get_crop
from suvar.agri.yield_response import relative_yield, yield_impact


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
    assert (
        yield_impact(get_crop("apple"), 800, 400, 1e6, 2e6, 40.0, 10.0, 300.0, ky=1.0).yield_t_per_ha == 30.0
    )
