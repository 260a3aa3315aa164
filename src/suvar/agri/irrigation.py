"""Crop water requirement, effective rainfall and irrigation demand of an irrigation district.

Per field and day (FAO-56 Ch. 6 and FAO Irrigation Water Management Training Manual 3, Brouwer & Heibloem
1986): ETc = Kc ET0 (FAO-56 Eq. 56); net irrigation requirement NIR = max(ETc - Peff, 0); field (gross)
requirement NIR / Ea with Ea the field application efficiency; the district head requirement divides again
by the conveyance efficiency Ec. 1 mm over 1 ha is 10 m3.

Effective rainfall Peff is computed on monthly totals, as CROPWAT does, and spread evenly over the days of
the month that are in the record (so the daily demand is smooth, like CROPWAT's decadal balance):

- ``"usda_scs"`` (default): the USDA Soil Conservation Service formula as simplified in CROPWAT (Smith 1992,
  FAO Irrigation and Drainage Paper 46): Peff = P (125 - 0.2 P)/125 for P <= 250 mm/month, else
  Peff = 125 + 0.1 P;
- ``"fao_aglw"``: the FAO/AGLW dependable rainfall (80 % exceedance) formula: Peff = 0.6 P - 10 for
  P <= 70 mm/month, else Peff = 0.8 P - 24, floored at 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from pyet.meteo_utils import calc_e0

from suvar.agri.crops import Crop, CropDataError, get_crop, kc_curve
from suvar.agri.et0 import WeatherDataError, et0_daily

RainfallMethod = Literal["usda_scs", "fao_aglw"]
M3_PER_MM_HA = 10.0


class DistrictDataError(ValueError):
    """A district description that cannot be used; the message names the source and field."""


@dataclass(frozen=True)
class Field:
    """A cropped area planted on the same month-day every year.

    ``planting`` is ``"MM-DD"``; ``application_efficiency`` overrides the district's field application
    efficiency (e.g. 0.9 for drip, 0.75 sprinkler, 0.6 surface; FAO Training Manual 4).
    """

    name: str
    crop: Crop
    area_ha: float
    planting: str
    application_efficiency: float | None = None


@dataclass(frozen=True)
class District:
    """An irrigation district node: its fields, efficiencies and (for ET0) its weather station location."""

    name: str
    fields: tuple[Field, ...]
    application_efficiency: float
    conveyance_efficiency: float
    latitude_deg: float | None = None
    elevation_m: float | None = None
    wind_height_m: float = 2.0


def rhmin_from_ea(tmax_c: pd.Series, ea_kpa: pd.Series) -> pd.Series:
    """Daily minimum relative humidity [%] from Tmax and ea: RHmin = 100 ea / e0(Tmax) (FAO-56 Eq. 63)."""
    return (100 * ea_kpa / calc_e0(tmax_c)).clip(upper=100.0)


def effective_rainfall_monthly_mm(precip_month_mm: pd.Series, method: RainfallMethod = "usda_scs") -> pd.Series:
    """Monthly effective rainfall [mm/month] by the USDA-SCS (CROPWAT) or FAO/AGLW formula (module doc)."""
    p = precip_month_mm
    if method == "usda_scs":
        peff = np.where(p <= 250, p * (125 - 0.2 * p) / 125, 125 + 0.1 * p)
    elif method == "fao_aglw":
        peff = np.where(p <= 70, 0.6 * p - 10, 0.8 * p - 24)
    else:
        raise ValueError(f"unknown effective rainfall method {method!r}; use 'usda_scs' or 'fao_aglw'")
    return pd.Series(np.clip(peff, 0.0, None), index=p.index, name="peff_mm")


def effective_rainfall_daily_mm(precip_mm: pd.Series, method: RainfallMethod = "usda_scs") -> pd.Series:
    """Daily effective rainfall [mm/day]: monthly Peff spread evenly over the month's days in the record."""
    months = precip_mm.index.to_period("M")
    grouped = precip_mm.groupby(months)
    peff_month = effective_rainfall_monthly_mm(grouped.sum(), method)
    per_day = peff_month / grouped.size()
    return pd.Series(per_day.reindex(months).to_numpy(), index=precip_mm.index, name="peff_mm")


def _season_kc(
    field: Field, index: pd.DatetimeIndex, u2_m_s: pd.Series | None, rhmin_pct: pd.Series | None
) -> pd.Series:
    """Kc on each day of ``index``; seasons repeat yearly from the planting month-day, 0 off-season.

    A perennial whose season fills the year (365 days) keeps Kc_end up to the next planting (leap years)."""
    kc = pd.Series(0.0, index=index)
    for year in range(index.min().year - 1, index.max().year + 1):
        start = pd.Timestamp(f"{year}-{field.planting}")
        days = (start + pd.DateOffset(years=1) - start).days if field.crop.season_length_d >= 365 else None
        season = kc_curve(field.crop, start, u2_m_s, rhmin_pct, days)
        inside = season.index.intersection(index)
        kc.loc[inside] = season.loc[inside]
    return kc


def field_requirement(
    field: Field,
    et0_mm: pd.Series,
    peff_mm: pd.Series,
    u2_m_s: pd.Series | None = None,
    rhmin_pct: pd.Series | None = None,
) -> pd.DataFrame:
    """Daily water requirement of one field.

    Returns ``kc``, ``etc_mm`` = Kc ET0 (FAO-56 Eq. 56), ``peff_mm`` (in season), ``nir_mm`` =
    max(ETc - Peff, 0) and ``net_m3`` = 10 NIR area_ha, all per day.
    """
    kc = _season_kc(field, et0_mm.index, u2_m_s, rhmin_pct)
    etc = kc * et0_mm
    peff = peff_mm.reindex(et0_mm.index).fillna(0.0).where(kc > 0, 0.0)
    nir = (etc - peff).clip(lower=0.0)
    return pd.DataFrame(
        {
            "kc": kc,
            "etc_mm": etc,
            "peff_mm": peff,
            "nir_mm": nir,
            "net_m3": nir * field.area_ha * M3_PER_MM_HA,
        }
    )


def district_requirements(
    district: District,
    et0_mm: pd.Series,
    precip_mm: pd.Series,
    u2_m_s: pd.Series | None = None,
    rhmin_pct: pd.Series | None = None,
    method: RainfallMethod = "usda_scs",
) -> pd.DataFrame:
    """Daily irrigation requirement of a district at its head works.

    Each field's gross requirement at the district head is NIR area / (Ea Ec) [m3/day] (one column per field,
    named after it); ``net_m3_per_day`` sums the fields' net requirements and ``demand_m3_per_day`` the gross.
    ``u2_m_s`` and ``rhmin_pct`` (daily) switch on the FAO-56 Eq. 62/65 climate adjustment of Kc.
    """
    peff = effective_rainfall_daily_mm(precip_mm.reindex(et0_mm.index).fillna(0.0), method)
    columns: dict[str, pd.Series] = {}
    net_total = pd.Series(0.0, index=et0_mm.index)
    for field in district.fields:
        req = field_requirement(field, et0_mm, peff, u2_m_s, rhmin_pct)
        ea = field.application_efficiency or district.application_efficiency
        columns[field.name] = req["net_m3"] / (ea * district.conveyance_efficiency)
        net_total += req["net_m3"]
    out = pd.DataFrame(columns, index=et0_mm.index)
    out["net_m3_per_day"] = net_total
    out["demand_m3_per_day"] = out[[f.name for f in district.fields]].sum(axis=1)
    return out


def district_demand_m3_per_day(
    district: District,
    et0_mm: pd.Series,
    precip_mm: pd.Series,
    u2_m_s: pd.Series | None = None,
    rhmin_pct: pd.Series | None = None,
    method: RainfallMethod = "usda_scs",
) -> pd.Series:
    """Daily gross irrigation demand [m3/day] of a district node (see :func:`district_requirements`)."""
    demand = district_requirements(district, et0_mm, precip_mm, u2_m_s, rhmin_pct, method)["demand_m3_per_day"]
    return demand.rename(district.name)


def district_requirements_from_weather(
    district: District,
    weather: pd.DataFrame,
    latitude_deg: float | None = None,
    elevation_m: float | None = None,
    method: RainfallMethod = "usda_scs",
    climate_adjust: bool = True,
    source: str = "weather",
) -> pd.DataFrame:
    """:func:`district_requirements` straight from a daily station record.

    ET0 by :func:`suvar.agri.et0.et0_daily` (``weather`` as documented there, plus ``precip_mm``) at the
    district's location unless ``latitude_deg``/``elevation_m`` are given; with ``climate_adjust`` Kc_mid and
    Kc_end follow FAO-56 Eq. 62 using u2 and RHmin (``rhmin_pct``, else Eq. 63 from ea and Tmax).
    """
    latitude = district.latitude_deg if latitude_deg is None else latitude_deg
    elevation = district.elevation_m if elevation_m is None else elevation_m
    if latitude is None or elevation is None:
        raise DistrictDataError(
            f"district '{district.name}': needs 'latitude_deg' and 'elevation_m' for its ET0, or explicit ones"
        )
    if "precip_mm" not in weather:
        raise WeatherDataError(f"{source}: no column 'precip_mm' (daily precipitation [mm])")
    precip = pd.to_numeric(weather["precip_mm"], errors="coerce")
    bad = (precip.isna() & weather["precip_mm"].notna()) | (precip < 0)
    if bad.any():
        raise WeatherDataError(f"{source}: row {weather.index[bad.to_numpy()][0]}: 'precip_mm' must be a number >= 0")
    et0 = et0_daily(weather, latitude, elevation, district.wind_height_m, source=source)
    u2 = rhmin = None
    if climate_adjust:
        u2 = et0["u2_m_s"]
        rhmin = pd.to_numeric(weather["rhmin_pct"]) if "rhmin_pct" in weather else pd.Series(np.nan, weather.index)
        if "tmax_c" in weather:
            rhmin = rhmin.fillna(rhmin_from_ea(weather["tmax_c"], et0["ea_kpa"]))  # FAO-56 Eq. 63
    return district_requirements(district, et0["et0_mm"], precip.fillna(0.0), u2, rhmin, method)


def _number(data: dict[str, Any], key: str, where: str, lo: float, hi: float, default: Any = ...) -> Any:
    if key not in data:
        if default is ...:
            raise DistrictDataError(f"{where}: missing '{key}'")
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise DistrictDataError(f"{where}: '{key}' must be a number in [{lo}, {hi}], got {value!r}")
    return float(value)


def district_from_dict(data: dict[str, Any], source: str = "district") -> District:
    """Build a :class:`District` from its JSON form.

    ``{"name", "application_efficiency", "conveyance_efficiency", "latitude_deg"?, "elevation_m"?,
    "wind_height_m"?, "fields": [{"crop", "area_ha", "planting": "MM-DD", "name"?,
    "application_efficiency"?}]}``; efficiencies are fractions in (0, 1].
    """
    if not isinstance(data, dict):
        raise DistrictDataError(f"{source}: expected a JSON object")
    fields_data = data.get("fields")
    if not isinstance(fields_data, list) or not fields_data:
        raise DistrictDataError(f"{source}: 'fields' must be a non-empty list")
    fields = []
    for i, item in enumerate(fields_data):
        where = f"{source}: fields[{i}]"
        if not isinstance(item, dict):
            raise DistrictDataError(f"{where}: expected an object")
        try:
            crop = get_crop(str(item.get("crop", "")))
        except CropDataError as exc:
            raise DistrictDataError(f"{where}: {exc}") from None
        planting = str(item.get("planting", ""))
        try:
            datetime.strptime(f"2001-{planting}", "%Y-%m-%d")
        except ValueError:
            raise DistrictDataError(f"{where}: 'planting' must be 'MM-DD', got {planting!r}") from None
        fields.append(
            Field(
                name=str(item.get("name", f"{crop.name}_{i + 1}")),
                crop=crop,
                area_ha=_number(item, "area_ha", where, 0, 1e7),
                planting=planting,
                application_efficiency=_number(item, "application_efficiency", where, 0.01, 1, None),
            )
        )
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise DistrictDataError(f"{source}: field names must be unique, got {names}")
    return District(
        name=str(data.get("name", "district")),
        fields=tuple(fields),
        application_efficiency=_number(data, "application_efficiency", source, 0.01, 1),
        conveyance_efficiency=_number(data, "conveyance_efficiency", source, 0.01, 1),
        latitude_deg=_number(data, "latitude_deg", source, -90, 90, None),
        elevation_m=_number(data, "elevation_m", source, -450, 9000, None),
        wind_height_m=_number(data, "wind_height_m", source, 0.5, 100, 2.0),
    )
