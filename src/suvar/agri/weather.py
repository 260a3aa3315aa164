"""Seeded synthetic daily weather for a semi-arid lowland (Mediterranean-continental climate).

The generator is deterministic for a given seed. Its ingredients, in the spirit of WGEN (Richardson 1981):

- rain occurrence: a first-order two-state Markov chain with monthly wet-day probabilities and persistence;
  amounts: gamma (shape 0.8) with a monthly mean set so each month gets its share of the annual total;
  about 85 % of the rain falls November-May; each record year is rescaled so that the non-dry years average
  exactly ``annual_rain_mm`` and the dry year gets 40 % of it;
- air temperature: an annual cosine (warmest about 19 July) with a lapse rate of 6.5 K/km, an AR(1) daily
  anomaly, a seasonal diurnal range narrowed on wet days; the dry year is 0.8 K warmer;
- humidity: dew point = Tmin minus a seasonal depression (larger in summer, near zero on wet days), giving
  RHmax = 100 e0(Tdew)/e0(Tmin) and RHmin = 100 e0(Tdew)/e0(Tmax) (FAO-56 Eqs. 11, 14);
- wind at 2 m: log-normal around a seasonal mean (windier in summer);
- sunshine: a seasonal clear-sky fraction of the FAO-56 daylight hours N (Eq. 34), low on wet days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyet
from pyet.meteo_utils import calc_e0

# Share of the annual rain and wet-day probability per calendar month (January first).
_RAIN_SHARE = np.array([0.13, 0.12, 0.13, 0.12, 0.08, 0.03, 0.01, 0.01, 0.03, 0.07, 0.12, 0.15])
_WET_PROBABILITY = np.array([0.30, 0.28, 0.28, 0.25, 0.18, 0.07, 0.03, 0.03, 0.08, 0.16, 0.25, 0.30])
_DRY_YEAR_FACTOR = 0.4


def synthetic_weather(
    start: str | pd.Timestamp = "2015-01-01",
    years: int = 10,
    seed: int = 0,
    latitude_deg: float = 39.0,
    elevation_m: float = 200.0,
    annual_rain_mm: float = 300.0,
    dry_year: int | None = None,
) -> pd.DataFrame:
    """Daily weather record of ``years`` years from ``start``.

    Parameters
    ----------
    start, years
        First day and length of the record; record year k runs from the k-th anniversary of ``start``.
    seed
        Seed of the random generator; the same arguments give the same record.
    latitude_deg, elevation_m
        Site (daylight hours, temperature lapse).
    annual_rain_mm
        Mean precipitation of the normal years [mm/year].
    dry_year
        Calendar year in which the dry record year starts (40 % of normal rain); default the middle record
        year of a record of two years or more (a one-year record has no dry year unless one is named).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``date``: ``tmax_c``, ``tmin_c``, ``rhmax_pct``, ``rhmin_pct``, ``wind_m_s`` (at 2 m),
        ``sunshine_h`` and ``precip_mm``, ready for :func:`suvar.agri.et0.et0_daily`.
    """
    if years < 1 or annual_rain_mm <= 0:
        raise ValueError(f"need years >= 1 and annual_rain_mm > 0, got {years} and {annual_rain_mm}")
    first = pd.Timestamp(start).normalize()
    anniversaries = [first + pd.DateOffset(years=k) for k in range(years + 1)]
    dates = pd.date_range(first, anniversaries[-1] - pd.Timedelta(days=1), freq="D", name="date")
    record_year = pd.DatetimeIndex(anniversaries[1:]).searchsorted(dates, side="right")
    labels = [a.year for a in anniversaries[:-1]]
    if dry_year is None:
        dry_year = labels[years // 2] if years >= 2 else None
    elif dry_year not in labels:
        raise ValueError(f"dry_year {dry_year} is not a record year; choose one of {labels}")
    dry = np.asarray(labels)[record_year] == dry_year

    rng = np.random.default_rng(seed)
    n = len(dates)
    month = dates.month.to_numpy() - 1
    season = np.cos(2 * np.pi * (dates.dayofyear.to_numpy() - 200) / 365.25)  # +1 mid-July, -1 mid-January

    # Rain: Markov-chain occurrence, gamma amounts, rescaled per record year.
    p_wet = _WET_PROBABILITY[month]
    p11 = np.minimum(p_wet + 0.25, 0.9)
    p01 = p_wet * (1 - p11) / (1 - p_wet)
    draws = rng.random(n)
    wet = np.zeros(n, dtype=bool)
    for i in range(n):
        wet[i] = draws[i] < (p11[i] if i and wet[i - 1] else p01[i])
    mean_amount = annual_rain_mm * _RAIN_SHARE[month] / (dates.days_in_month.to_numpy() * p_wet)
    rain = np.where(wet, rng.gamma(0.8, mean_amount / 0.8), 0.0)
    factors = np.clip(rng.normal(1.0, 0.2, years), 0.65, 1.4)
    normal = np.asarray(labels) != dry_year
    if normal.any():
        factors[normal] /= factors[normal].mean()
    factors[~normal] = _DRY_YEAR_FACTOR
    totals = np.bincount(record_year, weights=rain, minlength=years)
    rain *= (annual_rain_mm * factors / np.where(totals > 0, totals, 1.0))[record_year]

    # Temperature with an AR(1) anomaly.
    anomaly = np.zeros(n)
    shocks = rng.normal(0.0, 1.8, n)
    for i in range(1, n):
        anomaly[i] = 0.7 * anomaly[i - 1] + shocks[i]
    tmean = 16.5 - 0.0065 * elevation_m + 10.5 * season + anomaly + np.where(dry, 0.8, 0.0) - np.where(wet, 1.5, 0)
    dtr = (12.0 + 4.0 * season) * np.where(wet, 0.6, 1.0)
    tmax, tmin = tmean + dtr / 2, tmean - dtr / 2

    # Humidity from a dew-point depression below Tmin.
    depression = np.where(wet, 0.5, 6.5 + 2.5 * season) + rng.normal(0.0, 1.0, n)
    ea = calc_e0(tmin - np.clip(depression, 0.0, None))
    rhmax = np.minimum(100.0, 100 * ea / calc_e0(tmin))
    rhmin = np.minimum(rhmax, 100 * ea / calc_e0(tmax))

    wind = (2.2 + 0.6 * season) * np.exp(rng.normal(-0.06, 0.35, n))
    daylight = pyet.daylight_hours(dates, np.deg2rad(latitude_deg))
    clear = np.clip(0.72 + 0.2 * season + rng.normal(0.0, 0.08, n), 0.2, 0.97)
    sunshine = np.where(wet, rng.uniform(0.0, 0.35, n), clear) * np.asarray(daylight)

    return pd.DataFrame(
        {
            "tmax_c": tmax,
            "tmin_c": tmin,
            "rhmax_pct": rhmax,
            "rhmin_pct": rhmin,
            "wind_m_s": np.clip(wind, 0.3, 12.0),
            "sunshine_h": sunshine,
            "precip_mm": rain,
        },
        index=dates,
    ).round(2)
