"""Meteorological drought monitoring: SPI, SPEI, WMO classes, drought events and allocation scenarios.

- SPI (McKee et al. 1993; WMO-No. 1090, 2012): monthly precipitation summed over 1, 3, 6, 12 ... months,
  a gamma distribution fitted per calendar month over a calibration period (Thom's maximum-likelihood
  approximation, with the probability of zero mixed in), transformed to a standard normal deviate. Computed
  by ``climate_indices.indices.spi``.
- SPEI (Vicente-Serrano et al. 2010): the same on the climatic water balance P - PET, by
  ``climate_indices.indices.spei`` (log-logistic distribution by default, as in the original SPEI).
- Classes: WMO-No. 1090 Table 1 (:data:`WMO_SPI_CLASSES`).
- Events: McKee et al. (1993), as restated in WMO-No. 1090: a drought event is a period in which SPI is
  continuously negative and reaches -1.0 or less; it begins when SPI first falls below zero and ends with
  the first positive value; magnitude DM = -sum(SPI) over the event's months.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import pandas as pd


def _climate_indices():  # noqa: ANN202
    """``(compute, indices)`` of climate-indices, imported on first use (it takes seconds, which every ``suvar``
    command would pay otherwise) with the root logger it reconfigures on import put back."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    from climate_indices import compute, indices

    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logging.getLogger("climate_indices").setLevel(logging.WARNING)
    return compute, indices

#: WMO-No. 1090 (2012) Table 1 SPI classes as (lower bound inclusive, upper bound exclusive, label).
WMO_SPI_CLASSES: tuple[tuple[float, float, str], ...] = (
    (2.0, np.inf, "extremely wet"),
    (1.5, 2.0, "very wet"),
    (1.0, 1.5, "moderately wet"),
    (-1.0, 1.0, "near normal"),
    (-1.5, -1.0, "moderately dry"),
    (-2.0, -1.5, "severely dry"),
    (-np.inf, -2.0, "extremely dry"),
)


class DroughtDataError(ValueError):
    """Precipitation or PET series that cannot be used."""


def _monthly(series: pd.Series, name: str) -> pd.Series:
    """Regular monthly series (Period index) from January of the first year to December of the last."""
    if isinstance(series.index, pd.DatetimeIndex):
        months = series.index.to_period("M")
    elif isinstance(series.index, pd.PeriodIndex):
        months = series.index.asfreq("M")
    else:
        raise DroughtDataError(f"{name}: the index must hold dates (one row per month)")
    if months.has_duplicates:
        raise DroughtDataError(f"{name}: more than one value for month {months[months.duplicated()][0]}")
    values = pd.to_numeric(pd.Series(series.to_numpy(), index=months), errors="coerce")
    bad = values.isna() & series.notna().to_numpy()
    if bad.any():
        raise DroughtDataError(f"{name}: month {values.index[bad.to_numpy()][0]}: value is not a number")
    if (values < 0).any():
        raise DroughtDataError(f"{name}: month {values.index[(values < 0).to_numpy()][0]}: negative value")
    full = pd.period_range(f"{months.min().year}-01", f"{months.max().year}-12", freq="M")
    return values.reindex(full)


def _calibration(monthly: pd.Series, calibration_years: tuple[int, int] | None) -> tuple[int, int, int]:
    first, last = monthly.index[0].year, monthly.index[-1].year
    cal_start, cal_end = calibration_years or (first, last)
    if not first <= cal_start < cal_end <= last:
        raise DroughtDataError(f"calibration period {cal_start}-{cal_end} must lie within the data, {first}-{last}")
    return first, cal_start, cal_end


def spi(
    precip_mm: pd.Series,
    scales: tuple[int, ...] = (1, 3, 6, 12),
    calibration_years: tuple[int, int] | None = None,
    distribution: Literal["gamma", "pearson"] = "gamma",
) -> pd.DataFrame:
    """Standardized Precipitation Index at several time scales (McKee et al. 1993; WMO-No. 1090).

    Parameters
    ----------
    precip_mm
        Monthly precipitation totals [mm], indexed by month (dates or periods); gaps become NaN.
    scales
        Accumulation periods in months.
    calibration_years
        First and last year of the reference period (default: all years of data; WMO recommends >= 30).
    distribution
        ``"gamma"`` (McKee's choice) or ``"pearson"`` (Pearson type III).

    Returns
    -------
    pandas.DataFrame
        Columns ``spi_<scale>`` indexed by month start; the first ``scale - 1`` months are NaN.
    """
    monthly = _monthly(precip_mm, "precipitation")
    first, cal_start, cal_end = _calibration(monthly, calibration_years)
    compute, indices = _climate_indices()
    dist = indices.Distribution[distribution]
    out = {
        f"spi_{k}": indices.spi(monthly.to_numpy(), k, dist, first, cal_start, cal_end, compute.Periodicity.monthly)
        for k in scales
    }
    return _trim(pd.DataFrame(out, index=monthly.index.to_timestamp()), precip_mm)


def spei(
    precip_mm: pd.Series,
    pet_mm: pd.Series,
    scales: tuple[int, ...] = (1, 3, 6, 12),
    calibration_years: tuple[int, int] | None = None,
    distribution: Literal["loglogistic", "gamma", "pearson"] = "loglogistic",
) -> pd.DataFrame:
    """Standardized Precipitation-Evapotranspiration Index (Vicente-Serrano et al. 2010).

    Same as :func:`spi` on the monthly climatic water balance D = P - PET [mm] (``pet_mm`` e.g. the monthly
    ET0 total from :func:`suvar.agri.et0.et0_monthly`). Columns ``spei_<scale>``.
    """
    monthly_p = _monthly(precip_mm, "precipitation")
    monthly_pet = _monthly(pet_mm, "PET").reindex(monthly_p.index)
    first, cal_start, cal_end = _calibration(monthly_p, calibration_years)
    compute, indices = _climate_indices()
    dist = indices.Distribution[distribution]
    out = {
        f"spei_{k}": indices.spei(
            monthly_p.to_numpy(),
            monthly_pet.to_numpy(),
            k,
            dist,
            compute.Periodicity.monthly,
            first,
            cal_start,
            cal_end,
        )
        for k in scales
    }
    return _trim(pd.DataFrame(out, index=monthly_p.index.to_timestamp()), precip_mm)


def _trim(frame: pd.DataFrame, original: pd.Series) -> pd.DataFrame:
    months = original.index.to_period("M") if isinstance(original.index, pd.DatetimeIndex) else original.index
    start, end = months.min().to_timestamp(), months.max().to_timestamp()
    return frame.loc[start:end].rename_axis("month")


def classify_spi(values: pd.Series) -> pd.Series:
    """WMO-No. 1090 class of each SPI/SPEI value: SPI >= 2 extremely wet, 1.5 to 1.99 very wet, 1.0 to 1.49
    moderately wet, -0.99 to 0.99 near normal, -1.0 to -1.49 moderately dry, -1.5 to -1.99 severely dry,
    <= -2 extremely dry. NaN stays NaN."""
    x = values.to_numpy(dtype=float)
    conditions = [x >= 2, x >= 1.5, x >= 1, x > -1, x > -1.5, x > -2, x <= -2]
    labels = [c[2] for c in WMO_SPI_CLASSES]
    classes = np.select(conditions, labels, default="")
    return pd.Series(classes, index=values.index, name="class").replace("", np.nan)


def drought_events(
    spi_values: pd.Series, threshold: float = -1.0, start_at_first_negative: bool = True
) -> pd.DataFrame:
    """Drought events of an SPI series by run theory (McKee et al. 1993).

    A run is a stretch of consecutive months with SPI <= 0 (a positive value or a missing month ends it);
    a run whose minimum reaches ``threshold`` is an event. It starts at the run's first month (McKee) or, with
    ``start_at_first_negative=False``, at the first month with SPI <= ``threshold``. Magnitude = -sum(SPI)
    over the event's months, intensity = magnitude / duration, peak = minimum SPI.

    Returns
    -------
    pandas.DataFrame
        One row per event: ``start``, ``end`` (last month in drought), ``duration_months``, ``magnitude``,
        ``intensity``, ``peak``, ``peak_month`` and ``ongoing`` (the run reaches the end of the series).
    """
    values = spi_values.to_numpy(dtype=float)
    in_run = np.nan_to_num(values, nan=1.0) <= 0
    rows = []
    i, n = 0, len(values)
    while i < n:
        if not in_run[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and in_run[j + 1]:
            j += 1
        run = values[i : j + 1]
        if run.min() <= threshold:
            start = i if start_at_first_negative else i + int(np.argmax(run <= threshold))
            event = values[start : j + 1]
            peak = start + int(np.argmin(event))
            magnitude = -float(event.sum())
            rows.append(
                {
                    "start": spi_values.index[start],
                    "end": spi_values.index[j],
                    "duration_months": j - start + 1,
                    "magnitude": magnitude,
                    "intensity": magnitude / (j - start + 1),
                    "peak": float(values[peak]),
                    "peak_month": spi_values.index[peak],
                    "ongoing": j == n - 1,
                }
            )
        i = j + 1
    columns = ["start", "end", "duration_months", "magnitude", "intensity", "peak", "peak_month", "ongoing"]
    return pd.DataFrame(rows, columns=columns)


def drought_status(spi_by_basin: pd.DataFrame) -> pd.DataFrame:
    """Latest drought status per basin: for each column (basin) of an SPI table, its last non-missing month,
    value and WMO class, and whether it is in drought (SPI <= -1)."""
    rows = {}
    for basin, series in spi_by_basin.items():
        valid = series.dropna()
        if valid.empty:
            rows[basin] = {"month": pd.NaT, "spi": np.nan, "class": np.nan, "in_drought": False}
            continue
        value = float(valid.iloc[-1])
        rows[basin] = {
            "month": valid.index[-1],
            "spi": value,
            "class": classify_spi(pd.Series([value])).iloc[0],
            "in_drought": value <= -1.0,
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("basin")


def annual_precipitation(precip_mm: pd.Series, water_year_start_month: int = 10) -> pd.Series:
    """Precipitation total [mm] of each complete water year, labelled by the calendar year it ends in.

    With ``water_year_start_month=10`` the 2021 water year runs from October 2020 to September 2021; 1 gives
    calendar years. Daily or monthly input; a water year with missing data or not fully covered is dropped.
    """
    periods = precip_mm.index.to_period("M")
    grouped = precip_mm.groupby(periods)
    monthly, count = grouped.sum(min_count=1), grouped.count()
    days_needed = monthly.index.days_in_month if (count > 1).any() else 1  # daily or monthly input
    monthly = monthly.where(count == days_needed)
    label = monthly.index.year
    if water_year_start_month > 1:
        label = label + (monthly.index.month >= water_year_start_month).astype(int)
    totals = monthly.groupby(np.asarray(label)).sum(min_count=12).dropna()
    return totals.rename("precip_mm").rename_axis("water_year")


def inflow_scenarios(
    precip_mm: pd.Series,
    percentiles: tuple[float, ...] = (10, 20, 50),
    water_year_start_month: int = 10,
    elasticity: float = 1.0,
) -> pd.DataFrame:
    """Drought scenarios for allocation as scale factors on inflow, from historical water-year precipitation.

    Scenario ``driest_year`` uses the driest complete water year on record, ``p<q>`` the q-th percentile of
    water-year totals. The inflow scale factor is 1 + e (P / mean(P) - 1), floored at 0, with e the
    precipitation elasticity of streamflow (Sankarasubramanian et al. 2001; e = 1 gives the plain ratio
    P / mean, typical semi-arid basins show e of about 1.5 to 3).

    Returns
    -------
    pandas.DataFrame
        Indexed by scenario: ``water_year`` (driest year only), ``precip_mm``, ``precip_ratio`` and
        ``inflow_scale``.
    """
    annual = annual_precipitation(precip_mm, water_year_start_month)
    if len(annual) < 2:
        raise DroughtDataError(f"need at least two complete water years, got {len(annual)}")
    mean = annual.mean()
    rows = {"driest_year": {"water_year": int(annual.idxmin()), "precip_mm": float(annual.min())}}
    for q in percentiles:
        rows[f"p{q:g}"] = {"water_year": np.nan, "precip_mm": float(np.percentile(annual, q))}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out["precip_ratio"] = out["precip_mm"] / mean
    out["inflow_scale"] = (1 + elasticity * (out["precip_ratio"] - 1)).clip(lower=0.0)
    return out.rename_axis("scenario")
