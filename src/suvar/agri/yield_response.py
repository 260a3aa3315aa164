"""Yield response to water (FAO-33) and the production and revenue impact of an irrigation shortfall.

The FAO-33 yield response equation (Doorenbos & Kassam 1979, Ch. 2; restated as Eq. 1 of FAO-66,
Steduto et al. 2012):

    1 - Ya/Ym = Ky (1 - ETa/ETm)

with Ya, Ym the actual and maximum yield, ETa, ETm the actual and maximum (= ETc) seasonal
evapotranspiration and Ky the seasonal yield response factor (FAO-33 Table 24; see
:data:`suvar.agri.crops.CROPS`). It holds for water deficits up to about 50 % (1 - ETa/ETm <= 0.5).

When an irrigation allocation covers only a fraction f of the gross requirement, the crop misses
(1 - f) NIR of its net irrigation requirement, so ETa = ETm - (1 - f) NIR (efficiencies unchanged).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from suvar.agri.crops import Crop


def relative_yield(eta_over_etm: float | np.ndarray, ky: float) -> float | np.ndarray:
    """Ya/Ym = 1 - Ky (1 - ETa/ETm), floored at 0 (FAO-33 yield response equation)."""
    ratio = np.clip(eta_over_etm, 0.0, 1.0)
    return np.clip(1.0 - ky * (1.0 - ratio), 0.0, 1.0)


@dataclass(frozen=True)
class YieldImpact:
    """Seasonal outcome of a field given the water allocated to it."""

    supplied_fraction: float
    eta_mm: float
    etm_mm: float
    relative_et_deficit: float
    relative_yield_loss: float
    yield_t_per_ha: float
    production_t: float
    revenue: float
    revenue_loss: float

    def as_dict(self) -> dict[str, float]:
        """The fields as a plain dict (for JSON)."""
        return asdict(self)


def yield_impact(
    crop: Crop,
    etm_mm: float,
    nir_mm: float,
    allocated_m3: float,
    required_m3: float,
    max_yield_t_per_ha: float,
    area_ha: float,
    price_per_t: float,
    ky: float | None = None,
) -> YieldImpact:
    """Expected yield and revenue of a field whose seasonal allocation differs from its requirement.

    Parameters
    ----------
    crop
        The crop; its FAO-33 ``ky`` is used unless ``ky`` is given.
    etm_mm, nir_mm
        Seasonal maximum evapotranspiration ETm = sum(Kc ET0) and net irrigation requirement [mm].
    allocated_m3, required_m3
        Seasonal gross volumes allocated to and required by the field (same point of measure).
    max_yield_t_per_ha, area_ha, price_per_t
        Ym [t/ha], cropped area [ha] and farm-gate price [currency/t].
    """
    ky = crop.ky if ky is None else ky
    if ky is None:
        raise ValueError(f"FAO-33 gives no seasonal Ky for {crop.name}; pass ky explicitly")
    if etm_mm <= 0 or required_m3 < 0 or allocated_m3 < 0 or not 0 <= nir_mm <= etm_mm:
        raise ValueError(
            f"need ETm > 0, 0 <= NIR <= ETm and non-negative volumes; got ETm {etm_mm}, NIR {nir_mm}, "
            f"allocated {allocated_m3}, required {required_m3}"
        )
    supplied = 1.0 if required_m3 == 0 else min(allocated_m3 / required_m3, 1.0)
    eta = etm_mm - (1.0 - supplied) * nir_mm
    deficit = 1.0 - eta / etm_mm
    ya_over_ym = float(relative_yield(eta / etm_mm, ky))
    production = ya_over_ym * max_yield_t_per_ha * area_ha
    return YieldImpact(
        supplied_fraction=supplied,
        eta_mm=eta,
        etm_mm=etm_mm,
        relative_et_deficit=deficit,
        relative_yield_loss=1.0 - ya_over_ym,
        yield_t_per_ha=ya_over_ym * max_yield_t_per_ha,
        production_t=production,
        revenue=production * price_per_t,
        revenue_loss=(1.0 - ya_over_ym) * max_yield_t_per_ha * area_ha * price_per_t,
    )
