"""Yield response to water (FAO-33) and the production and revenue impact of an irrigation shortfall.

The FAO-33 yield response equation (Doorenbos & Kassam 1979; restated in FAO-66, Steduto et al. 2012):

    1 - Ya/Ym = Ky (1 - ETa/ETm)

with Ya, Ym the actual and maximum yield, ETa, ETm the actual and maximum (= ETc) seasonal
evapotranspiration and Ky the seasonal yield response factor (FAO-33 seasonal Ky table; see
:data:`suvar.agri.crops.CROPS`). It holds for water deficits up to about 50 % (1 - ETa/ETm <= 0.5).

When an irrigation allocation covers only a fraction f of the gross requirement, the crop misses
(1 - f) NIR of its net irrigation requirement, so ETa = ETm - (1 - f) NIR (efficiencies unchanged).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from suvar.agri.crops import Crop
from suvar.agri.irrigation import (
    District,
    RainfallMethod,
    district_requirements,
    effective_rainfall_daily_mm,
    field_requirement,
)


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


def district_yield_impact(
    district: District,
    et0_mm: pd.Series,
    precip_mm: pd.Series,
    allocated_m3_per_day: pd.Series,
    economics: dict[str, dict[str, float]],
    u2_m_s: pd.Series | None = None,
    rhmin_pct: pd.Series | None = None,
    method: RainfallMethod = "usda_scs",
) -> pd.DataFrame:
    """Seasonal yield and revenue of each field of a district given its daily allocation.

    On each day the district's allocation covers a fraction f = min(allocated / demand, 1) of its gross
    demand (:func:`suvar.agri.irrigation.district_requirements`); every field receives the same fraction, so
    its ET deficit grows by (1 - f) NIR that day. Over each complete season ETm = sum(Kc ET0),
    ETa = ETm - sum((1 - f) NIR), and the FAO-33 equation gives Ya/Ym.

    Parameters
    ----------
    economics
        Per crop name: ``max_yield_t_per_ha``, ``price_per_t`` and, where FAO-33 gives none, ``ky``.

    Returns
    -------
    pandas.DataFrame
        One row per field and complete season: ``field``, ``crop``, ``season_start``, ``etm_mm``, ``eta_mm``,
        ``supplied_fraction`` (of the season's NIR), ``relative_et_deficit``, ``relative_yield_loss``,
        ``yield_t_per_ha``, ``production_t``, ``revenue`` and ``revenue_loss``.
    """
    index = et0_mm.index
    demand = district_requirements(district, et0_mm, precip_mm, u2_m_s, rhmin_pct, method)["demand_m3_per_day"]
    allocated = allocated_m3_per_day.reindex(index).fillna(0.0)
    covered = (allocated / demand.where(demand > 0)).clip(upper=1.0).fillna(1.0)
    peff = effective_rainfall_daily_mm(precip_mm.reindex(index).fillna(0.0), method)
    rows = []
    for field in district.fields:
        crop = field.crop
        if crop.name not in economics:
            raise ValueError(f"economics has no entry for crop '{crop.name}' (field '{field.name}')")
        econ = economics[crop.name]
        req = field_requirement(field, et0_mm, peff, u2_m_s, rhmin_pct)
        for year in range(index.min().year - 1, index.max().year + 1):
            start = pd.Timestamp(f"{year}-{field.planting}")
            season = pd.date_range(start, periods=crop.season_length_d, freq="D")
            if season[0] < index[0] or season[-1] > index[-1]:
                continue
            etm = float(req.loc[season, "etc_mm"].sum())
            nir = float(req.loc[season, "nir_mm"].sum())
            delivered = float((covered.loc[season] * req.loc[season, "nir_mm"]).sum())
            impact = yield_impact(  # volumes as mm over the field: only their ratio matters
                crop,
                etm,
                nir,
                allocated_m3=delivered,
                required_m3=nir,
                max_yield_t_per_ha=econ["max_yield_t_per_ha"],
                area_ha=field.area_ha,
                price_per_t=econ["price_per_t"],
                ky=econ.get("ky"),
            )
            rows.append({"field": field.name, "crop": crop.name, "season_start": start, **impact.as_dict()})
    columns = [
        "field",
        "crop",
        "season_start",
        "etm_mm",
        "eta_mm",
        "supplied_fraction",
        "relative_et_deficit",
    ]
    columns += ["relative_yield_loss", "yield_t_per_ha", "production_t", "revenue", "revenue_loss"]
    return pd.DataFrame(rows, columns=columns)
