"""Reference evapotranspiration ET0 by the FAO-56 Penman-Monteith method.

Daily and monthly ET0 use ``pyet.pm_fao56`` (FAO-56 Eq. 6); hourly ET0 (FAO-56 Eq. 53), which ``pyet`` 1.5
does not provide, is written out here from FAO-56 Eqs. 28-33, 37-39, 45, 46 and 53 using ``pyet``'s
vapour-pressure, psychrometric and solar-geometry helpers.

Missing data are estimated with FAO-56's own procedures (Chapter 3, "Missing data") and each estimate is
flagged per row in the ``flags`` column (``;``-separated):

- ``ea_from_tmin``: no humidity, actual vapour pressure from Tdew = Tmin - ``tdew_offset_c`` (Eq. 48);
- ``rs_hargreaves``: no radiation nor sunshine, Rs = kRs sqrt(Tmax - Tmin) Ra (Eq. 50);
- ``wind_default``: no wind, u2 = 2 m/s (FAO-56 Ch. 3, missing wind speed: the average of 2,000 stations);
- ``g_zero``: monthly step without both neighbouring months, soil heat flux G taken as 0;
- ``rs_rso_night_assumed``: hourly night step without a reading 2-3 h before sunset, so
  Rs/Rso = ``night_rs_rso``.

Source: Allen R.G., Pereira L.S., Raes D., Smith M. (1998), Crop evapotranspiration, FAO Irrigation and
Drainage Paper 56, Rome (FAO-56).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyet
from pyet.meteo_utils import calc_e0, calc_press, calc_psy, calc_vpc, relative_distance, solar_declination

#: Input columns understood by the ET0 functions, with their units. Other columns are ignored.
WEATHER_COLUMNS: dict[str, str] = {
    "tmax_c": "maximum air temperature at 2 m [degC] (monthly: mean of the daily maxima)",
    "tmin_c": "minimum air temperature at 2 m [degC] (monthly: mean of the daily minima)",
    "t_c": "mean air temperature [degC]; required hourly; daily/monthly use (tmax_c + tmin_c)/2 when given",
    "ea_kpa": "actual vapour pressure [kPa]",
    "tdew_c": "dew-point temperature [degC]",
    "rhmax_pct": "maximum relative humidity [%]",
    "rhmin_pct": "minimum relative humidity [%]",
    "rh_pct": "mean relative humidity [%] (hourly: the hour's RH)",
    "wind_m_s": "mean wind speed at the anemometer height (--wind-height) [m/s]",
    "sunshine_h": "actual sunshine duration n [h/day] (daily, monthly)",
    "rs_mj_m2": "measured incoming solar radiation [MJ m-2 per day; monthly: mean daily; hourly: per hour]",
    "g_mj_m2": "soil heat flux G [MJ m-2 day-1] (monthly only; otherwise FAO-56 Eq. 43/44)",
}

_SIGMA_HOUR = 4.903e-9 / 24  # Stefan-Boltzmann constant per hour [MJ K-4 m-2 h-1], FAO-56 Eq. 53 notes
_GSC = 0.0820  # solar constant [MJ m-2 min-1], FAO-56 Eq. 21


class WeatherDataError(ValueError):
    """Weather input that cannot be used; the message names the source, row and column."""


def wind_speed_2m(wind_m_s: pd.Series | float, height_m: float) -> pd.Series | float:
    """Wind speed at 2 m from a measurement at height z (FAO-56 Eq. 47).

    u2 = uz * 4.87 / ln(67.8 z - 5.42), with uz [m/s] measured z [m] above ground.
    """
    if height_m <= 0.1:
        raise WeatherDataError(f"wind height must be above 0.1 m, got {height_m} m")
    return wind_m_s * 4.87 / np.log(67.8 * height_m - 5.42)


def _numeric(weather: pd.DataFrame, source: str) -> pd.DataFrame:
    if not isinstance(weather.index, pd.DatetimeIndex):
        raise WeatherDataError(f"{source}: the index (first column) must hold dates/times")
    if weather.index.has_duplicates:
        raise WeatherDataError(f"{source}: duplicate time {weather.index[weather.index.duplicated()][0]}")
    df = weather[[c for c in WEATHER_COLUMNS if c in weather.columns]].copy()
    for col in df.columns:
        converted = pd.to_numeric(df[col], errors="coerce")
        bad = converted.isna() & df[col].notna()
        if bad.any():
            row = df.index[bad.to_numpy()][0]
            raise WeatherDataError(f"{source}: row {row}: column '{col}' is not a number: {df.loc[row, col]!r}")
        df[col] = converted.astype(float)
    limits = {
        "rhmax_pct": (0, 100),
        "rhmin_pct": (0, 100),
        "rh_pct": (0, 100),
        "wind_m_s": (0, 80),
        "sunshine_h": (0, 24),
        "rs_mj_m2": (0, 60),
        "ea_kpa": (0, 10),
        "tmax_c": (-80, 65),
        "tmin_c": (-80, 65),
        "t_c": (-80, 65),
        "tdew_c": (-90, 40),
    }
    for col, (lo, hi) in limits.items():
        if col in df:
            out = (df[col] < lo) | (df[col] > hi)
            if out.any():
                row = df.index[out.to_numpy()][0]
                raise WeatherDataError(
                    f"{source}: row {row}: column '{col}' = {df.loc[row, col]} outside [{lo}, {hi}]"
                    f" ({WEATHER_COLUMNS[col]})"
                )
    if {"tmax_c", "tmin_c"} <= set(df.columns):
        swapped = df["tmax_c"] < df["tmin_c"]
        if swapped.any():
            row = df.index[swapped.to_numpy()][0]
            raise WeatherDataError(f"{source}: row {row}: 'tmax_c' is below 'tmin_c'")
    return df


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df else pd.Series(np.nan, index=df.index)


def _first_available(candidates: list[pd.Series]) -> pd.Series:
    out = candidates[0]
    for candidate in candidates[1:]:
        out = out.fillna(candidate)
    return out


def _flags(index: pd.Index, masks: dict[str, pd.Series]) -> pd.Series:
    flags = pd.Series("", index=index, dtype=object)
    for name, mask in masks.items():
        flags = flags.where(~mask.to_numpy(), flags + name + ";")
    return flags.str.rstrip(";")


def _temperatures(df: pd.DataFrame, source: str) -> tuple[pd.Series, pd.Series | None, pd.Series | None]:
    if {"tmax_c", "tmin_c"} <= set(df.columns):
        tmax, tmin = df["tmax_c"], df["tmin_c"]
        for name, series in (("tmax_c", tmax), ("tmin_c", tmin)):
            if series.isna().any():
                raise WeatherDataError(f"{source}: row {df.index[series.isna().to_numpy()][0]}: no '{name}'")
        tmean = (tmax + tmin) / 2  # FAO-56 Eq. 9
    elif "t_c" in df:
        tmax = tmin = None
        tmean = df["t_c"]
    else:
        raise WeatherDataError(f"{source}: needs columns 'tmax_c' and 'tmin_c' (or 't_c'); got {list(df.columns)}")
    missing = tmean.isna()
    if missing.any():
        raise WeatherDataError(f"{source}: row {df.index[missing.to_numpy()][0]}: no air temperature")
    return tmean, tmax, tmin


def _vapour_pressure(
    df: pd.DataFrame, tmean: pd.Series, tmax: pd.Series | None, tmin: pd.Series | None, tdew_offset_c: float
) -> tuple[pd.Series, pd.Series]:
    """Actual vapour pressure ea [kPa] by the first available FAO-56 rule, per row.

    ea given; Eq. 14 ea = e0(Tdew); Eq. 17 ea = [e0(Tmin) RHmax/100 + e0(Tmax) RHmin/100]/2; Eq. 18
    ea = e0(Tmin) RHmax/100; Eq. 19 ea = RHmean/100 [e0(Tmax) + e0(Tmin)]/2 (e0(T) with a mean T only);
    last, Eq. 48 ea = e0(Tmin - offset), flagged. Returns (ea, mask of rows that used Eq. 48).
    """
    nan = pd.Series(np.nan, index=df.index)
    es_rh = (calc_e0(tmax) + calc_e0(tmin)) / 2 if tmax is not None else calc_e0(tmean)
    candidates = [_col(df, "ea_kpa"), calc_e0(_col(df, "tdew_c")), _col(df, "rh_pct") / 100 * es_rh]
    if tmax is not None:
        rhmax, rhmin = _col(df, "rhmax_pct"), _col(df, "rhmin_pct")
        candidates[2:2] = [
            (calc_e0(tmin) * rhmax / 100 + calc_e0(tmax) * rhmin / 100) / 2,
            calc_e0(tmin) * rhmax / 100,
        ]
    measured = _first_available(candidates)
    from_tmin = calc_e0(tmin - tdew_offset_c) if tmin is not None else nan
    estimated = measured.isna()
    return measured.fillna(from_tmin), estimated


def _wind(df: pd.DataFrame, wind_height_m: float) -> tuple[pd.Series, pd.Series]:
    u2 = wind_speed_2m(_col(df, "wind_m_s"), wind_height_m)
    missing = u2.isna()
    return u2.fillna(2.0), missing


def _check_complete(out: dict[str, pd.Series], source: str, hint: dict[str, str]) -> None:
    for name, series in out.items():
        if series.isna().any():
            row = series.index[series.isna().to_numpy()][0]
            raise WeatherDataError(f"{source}: row {row}: cannot determine {name}: {hint[name]}")


def _et0_daylike(
    df: pd.DataFrame,
    dates: pd.DatetimeIndex,
    g: pd.Series,
    latitude_deg: float,
    elevation_m: float,
    wind_height_m: float,
    krs: float,
    tdew_offset_c: float,
    source: str,
) -> pd.DataFrame:
    """FAO-56 Eq. 6 for day-like steps (a day, or the mean day of a month dated mid-month)."""
    weather_rows = df.index
    df = df.set_axis(dates)
    g = g.set_axis(dates)
    lat = np.deg2rad(latitude_deg)
    tmean, tmax, tmin = _temperatures(df, source)
    ea, ea_estimated = _vapour_pressure(df, tmean, tmax, tmin, tdew_offset_c)
    u2, wind_missing = _wind(df, wind_height_m)
    ra = pyet.extraterrestrial_r(dates, lat)  # Eq. 21
    sunshine = _col(df, "sunshine_h")
    too_long = sunshine > pyet.daylight_hours(dates, lat) + 0.1  # n <= N (Eq. 34), 0.1 h for rounding
    if too_long.any():
        row = weather_rows[too_long.to_numpy()][0]
        raise WeatherDataError(f"{source}: row {row}: 'sunshine_h' exceeds the day's maximum daylight hours N")
    rs_sunshine = pyet.calc_rad_sol_in(sunshine, lat)  # Eqs. 34, 35 (as = 0.25, bs = 0.5)
    measured_rs = _col(df, "rs_mj_m2").fillna(rs_sunshine)
    rso = (0.75 + 2e-5 * elevation_m) * ra  # Eq. 37
    if tmax is not None:
        hargreaves = np.minimum(krs * np.sqrt(tmax - tmin) * ra, rso)  # Eq. 50, Rs <= Rso
    else:
        hargreaves = pd.Series(np.nan, index=dates)
    rs = measured_rs.fillna(hargreaves)
    _check_complete(
        {"ea_kpa": ea, "rs_mj_m2": rs},
        source,
        {
            "ea_kpa": "give a humidity column or 'tmin_c'",
            "rs_mj_m2": "give 'rs_mj_m2', 'sunshine_h' or tmax/tmin",
        },
    )
    et0 = pyet.pm_fao56(
        tmean, u2, rs=rs, g=g, tmax=tmax, tmin=tmin, ea=ea, elevation=elevation_m, lat=lat
    )  # FAO-56 Eq. 6 with Rn from Eqs. 38-40
    flags = _flags(
        dates,
        {"ea_from_tmin": ea_estimated, "rs_hargreaves": measured_rs.isna(), "wind_default": wind_missing},
    )
    return pd.DataFrame(
        {"et0_mm": et0.to_numpy(), "u2_m_s": u2, "ea_kpa": ea, "rs_mj_m2": rs, "g_mj_m2": g, "flags": flags},
        index=dates,
    )


def et0_daily(
    weather: pd.DataFrame,
    latitude_deg: float,
    elevation_m: float,
    wind_height_m: float = 2.0,
    krs: float = 0.16,
    tdew_offset_c: float = 0.0,
    source: str = "weather",
) -> pd.DataFrame:
    """Daily grass-reference ET0 by FAO-56 Penman-Monteith (Eq. 6), G = 0 (Eq. 42).

    ET0 = [0.408 D (Rn - G) + g 900/(T + 273) u2 (es - ea)] / [D + g (1 + 0.34 u2)]

    Parameters
    ----------
    weather
        One row per day, indexed by date; columns from :data:`WEATHER_COLUMNS`.
    latitude_deg, elevation_m
        Station latitude [deg, north positive] and elevation [m a.s.l.].
    wind_height_m
        Anemometer height; wind is brought to 2 m by Eq. 47.
    krs
        Hargreaves radiation coefficient of Eq. 50: 0.16 interior, 0.19 coastal locations.
    tdew_offset_c
        Tdew = Tmin - offset when humidity is missing (Eq. 48; FAO-56 Annex 6 suggests 2-3 degC in arid
        climates).
    source
        Name of the data (a file name) used in error messages.

    Returns
    -------
    pandas.DataFrame
        ``et0_mm`` [mm/day], ``u2_m_s``, ``ea_kpa``, ``rs_mj_m2`` [MJ m-2 day-1], ``g_mj_m2`` and ``flags``.
    """
    df = _numeric(weather, source)
    g = pd.Series(0.0, index=df.index)
    return _et0_daylike(df, df.index, g, latitude_deg, elevation_m, wind_height_m, krs, tdew_offset_c, source)


def monthly_soil_heat_flux(t_month_c: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Monthly soil heat flux G [MJ m-2 day-1] from mean monthly air temperature.

    FAO-56 Eq. 43: G_i = 0.07 (T_{i+1} - T_{i-1}); Eq. 44 when the next month is unknown:
    G_i = 0.14 (T_i - T_{i-1}). Without the previous month, G = 0 (flagged). The series must be
    consecutive months. Returns (G, mask of rows where G was set to 0).
    """
    prev_t, next_t = t_month_c.shift(1), t_month_c.shift(-1)
    g = (0.07 * (next_t - prev_t)).fillna(0.14 * (t_month_c - prev_t))
    return g.fillna(0.0), g.isna()


def et0_monthly(
    weather: pd.DataFrame,
    latitude_deg: float,
    elevation_m: float,
    wind_height_m: float = 2.0,
    krs: float = 0.16,
    tdew_offset_c: float = 0.0,
    source: str = "weather",
) -> pd.DataFrame:
    """Monthly ET0 by FAO-56 Penman-Monteith (Eq. 6) for the mean day of each month.

    Rows hold monthly means of daily values (one row per calendar month, any date within it). Radiation terms
    are evaluated on the 15th of the month (FAO-56 Table 2.6 uses the 15th as representative); G comes from
    a ``g_mj_m2`` column or from Eqs. 43/44 over consecutive months (:func:`monthly_soil_heat_flux`).

    Returns
    -------
    pandas.DataFrame
        Indexed by month start: ``et0_mm_per_day``, ``et0_mm`` (month total) and the columns of
        :func:`et0_daily`.
    """
    df = _numeric(weather, source)
    months = df.index.to_period("M")
    if months.has_duplicates:
        raise WeatherDataError(f"{source}: more than one row for month {months[months.duplicated()][0]}")
    tmean, _, _ = _temperatures(df, source)
    regular = pd.Series(tmean.to_numpy(), index=months).reindex(pd.period_range(months.min(), months.max()))
    g_eq, g_zero = (s.reindex(months).set_axis(df.index) for s in monthly_soil_heat_flux(regular))
    given_g = _col(df, "g_mj_m2")
    g = given_g.fillna(g_eq)
    mid_month = months.to_timestamp() + pd.Timedelta(days=14)
    out = _et0_daylike(df, mid_month, g, latitude_deg, elevation_m, wind_height_m, krs, tdew_offset_c, source)
    out.index = months.to_timestamp()
    zero = (given_g.isna() & g_zero).to_numpy()
    out["flags"] = [";".join(filter(None, (f, "g_zero" if z else ""))) for f, z in zip(out["flags"], zero, strict=True)]
    out.insert(0, "et0_mm_per_day", out.pop("et0_mm"))
    out.insert(1, "et0_mm", out["et0_mm_per_day"] * months.days_in_month.to_numpy())
    return out


def extraterrestrial_radiation_hourly(
    times: pd.DatetimeIndex, latitude_deg: float, longitude_deg: float, utc_offset_h: float
) -> tuple[pd.Series, pd.Series]:
    """Extraterrestrial radiation Ra [MJ m-2 h-1] for the hour starting at each time (FAO-56 Eq. 28).

    Ra = 12 (60)/pi Gsc dr [(w2 - w1) sin(phi) sin(d) + cos(phi) cos(d) (sin(w2) - sin(w1))], with the solar
    time angle at the hour's midpoint w = pi/12 [(t + 0.06667 (Lz - Lm) + Sc) - 12] (Eq. 31), the seasonal
    correction Sc = 0.1645 sin(2b) - 0.1255 cos(b) - 0.025 sin(b), b = 2 pi (J - 81)/364 (Eqs. 32, 33),
    w1,2 = w -/+ pi/24 (Eqs. 29, 30) limited to the sunset angle +/-ws (Eq. 25). Lz and Lm are FAO-56's
    longitudes in degrees west: Lz - Lm = longitude_deg (east positive) - 15 utc_offset_h.

    Returns (Ra, mid-hour angle to sunset ws - w [rad]; negative when the sun is down at mid-hour).
    """
    doy = pd.Series(times.dayofyear, index=times, dtype=float)
    lat = np.deg2rad(latitude_deg)
    t_mid = times.hour + times.minute / 60 + 0.5
    b = 2 * np.pi * (doy - 81) / 364
    sc = 0.1645 * np.sin(2 * b) - 0.1255 * np.cos(b) - 0.025 * np.sin(b)
    omega = np.pi / 12 * ((t_mid + 0.06667 * (longitude_deg - 15 * utc_offset_h) + sc) - 12)
    delta = solar_declination(doy)  # Eq. 24
    omega_s = np.arccos(np.clip(-np.tan(lat) * np.tan(delta), -1, 1))  # Eq. 25
    w1 = np.clip(omega - np.pi / 24, -omega_s, omega_s)
    w2 = np.clip(omega + np.pi / 24, -omega_s, omega_s)
    dr = relative_distance(doy)  # Eq. 23
    ra = (
        12
        * 60
        / np.pi
        * _GSC
        * dr
        * ((w2 - w1) * np.sin(lat) * np.sin(delta) + np.cos(lat) * np.cos(delta) * (np.sin(w2) - np.sin(w1)))
    )
    return ra.clip(lower=0.0), omega_s - omega.abs()


def et0_hourly(
    weather: pd.DataFrame,
    latitude_deg: float,
    longitude_deg: float,
    elevation_m: float,
    utc_offset_h: float = 0.0,
    wind_height_m: float = 2.0,
    night_rs_rso: float = 0.8,
    source: str = "weather",
) -> pd.DataFrame:
    """Hourly grass-reference ET0 by FAO-56 Penman-Monteith (Eq. 53).

    ET0 = [0.408 D (Rn - G) + g 37/(Thr + 273) u2 (e0(Thr) - ea)] / [D + g (1 + 0.34 u2)]

    Each row is the hour *starting* at its timestamp (local standard time, UTC + ``utc_offset_h``). Needs
    ``t_c``, humidity (``ea_kpa``, ``tdew_c`` or ``rh_pct``, Eq. 54: ea = e0(Thr) RHhr/100) and ``rs_mj_m2``
    [MJ m-2 h-1]. Rn = 0.77 Rs - Rnl (Eqs. 38-40) with Rnl = s Thr,K^4 (0.34 - 0.14 sqrt(ea))
    (1.35 Rs/Rso - 0.35), s = 2.043e-10 MJ K-4 m-2 h-1, Rso = (0.75 + 2e-5 z) Ra (Eq. 37). G = 0.1 Rn with
    the sun up and 0.5 Rn at night (Eqs. 45, 46). At night Rs/Rso is the value 2-3 hours before sunset
    (FAO-56 Ch. 4, hourly time steps) or, if there is none, ``night_rs_rso`` (FAO-56: 0.4-0.6 humid,
    0.7-0.8 arid climates; flagged).

    Returns
    -------
    pandas.DataFrame
        ``et0_mm`` [mm/hour], ``u2_m_s``, ``ea_kpa``, ``ra_mj_m2``, ``rn_mj_m2``, ``g_mj_m2``, ``flags``.
    """
    df = _numeric(weather, source)
    for col in ("t_c", "rs_mj_m2"):
        if col not in df:
            raise WeatherDataError(f"{source}: hourly ET0 needs column '{col}' ({WEATHER_COLUMNS[col]})")
    times = df.index
    _check_complete(
        {"t_c": df["t_c"], "rs_mj_m2": df["rs_mj_m2"]},
        source,
        {"t_c": "the hour's air temperature is missing", "rs_mj_m2": "the hour's solar radiation is missing"},
    )
    t = df["t_c"]
    ea = _first_available([_col(df, "ea_kpa"), calc_e0(_col(df, "tdew_c")), _col(df, "rh_pct") / 100 * calc_e0(t)])
    _check_complete({"ea_kpa": ea}, source, {"ea_kpa": "hourly ET0 needs 'ea_kpa', 'tdew_c' or 'rh_pct'"})
    u2, wind_missing = _wind(df, wind_height_m)
    ra, to_sunset = extraterrestrial_radiation_hourly(times, latitude_deg, longitude_deg, utc_offset_h)
    rso = (0.75 + 2e-5 * elevation_m) * ra
    rs = df["rs_mj_m2"]
    sun_up = to_sunset > 0
    ratio = (rs / rso.where(rso > 0)).clip(0.3, 1.0).where(sun_up)
    before_sunset = ratio.where((to_sunset >= 2 * np.pi / 12) & (to_sunset <= 3 * np.pi / 12))
    night_ratio = before_sunset.ffill(limit=24).where(~sun_up)
    assumed = ~sun_up & night_ratio.isna()
    ratio = ratio.fillna(night_ratio).fillna(night_rs_rso)
    tk = t + 273.16
    rnl = _SIGMA_HOUR * tk**4 * (0.34 - 0.14 * np.sqrt(ea)) * (1.35 * ratio - 0.35)  # Eq. 39 (hourly)
    rn = 0.77 * rs - rnl  # Eqs. 38, 40
    g = np.where(sun_up, 0.1 * rn, 0.5 * rn)  # Eqs. 45, 46
    gamma = calc_psy(calc_press(elevation_m))  # Eqs. 7, 8
    delta = calc_vpc(t)  # Eq. 13
    et0 = (0.408 * delta * (rn - g) + gamma * 37 / (t + 273) * u2 * (calc_e0(t) - ea)) / (
        delta + gamma * (1 + 0.34 * u2)
    )
    flags = _flags(times, {"wind_default": wind_missing, "rs_rso_night_assumed": assumed})
    return pd.DataFrame(
        {
            "et0_mm": et0.clip(lower=0.0),
            "u2_m_s": u2,
            "ea_kpa": ea,
            "ra_mj_m2": ra,
            "rn_mj_m2": rn,
            "g_mj_m2": g,
            "flags": flags,
        },
        index=times,
    )
