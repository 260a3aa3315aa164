"""Minimum night flow analysis of a zone (DMA), the BABE leakage split and pressure what-ifs.

References
----------
- UK Water Industry (1994). Managing Leakage, Report E: Interpreting measured night flows.
- McKenzie, R.S. (1999). SANFLOW user guide, WRC Report TT 109/99 (6 % of the population active
  in the minimum-night-flow hour, 10 l per use).
- May, J. (1994); Lambert, A.O. (2001). What do we know about pressure: leakage relationships?
  IWA conference "System approach to leakage control" (FAVAD: ``L1/L0 = (P1/P0)^N1``).
- Lambert, A.O. et al. (1999), Table 3: UARL background-leakage components (BABE).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from suvar.balance.indicators import uarl_component_l_per_day


class NightFlowInputError(ValueError):
    """A flow or pressure series that cannot be analysed; the message says what was expected."""


def favad_leakage(leakage_0: float, pressure_0_m: float, pressure_1_m: float, n1: float = 1.0) -> float:
    """Leakage at a new pressure by FAVAD, ``L1 = L0 (P1/P0)^N1`` (any flow unit; pressures in m)."""
    if pressure_0_m <= 0:
        raise ValueError(f"pressure_0_m must be > 0, got {pressure_0_m}")
    return leakage_0 * (max(pressure_1_m, 0.0) / pressure_0_m) ** n1


def legitimate_night_use_m3h(
    households: float,
    persons_per_household: float = 3.0,
    active_share: float = 0.06,
    volume_per_use_l: float = 10.0,
    non_household_m3h: float = 0.0,
    exceptional_m3h: float = 0.0,
) -> float:
    """Legitimate night use in the minimum-night-flow hour, m³/h.

    ``households x persons x active_share x volume_per_use / 1000 + non-household + exceptional``;
    defaults (6 % of people active per hour, 10 l per use) from SANFLOW (McKenzie 1999).
    """
    household = households * persons_per_household * active_share * volume_per_use_l / 1000.0
    return household + non_household_m3h + exceptional_m3h


def night_day_factor(azp_hourly_m: pd.Series | np.ndarray, azp_night_m: float, n1: float = 1.0) -> float:
    """Night-day factor, hours/day: ``NDF = sum_h (P_h / P_night)^N1`` over the 24 hourly AZP values.

    Missing hours are filled by scaling the sum of the available ones to 24 h.
    """
    p = np.asarray(azp_hourly_m, dtype=float)
    p = p[~np.isnan(p)]
    if p.size == 0 or azp_night_m <= 0:
        return float("nan")
    return float(np.sum((np.clip(p, 0.0, None) / azp_night_m) ** n1) * 24.0 / p.size)


def _check_series(series: pd.Series, name: str) -> pd.Series:
    if not isinstance(series, pd.Series):
        raise NightFlowInputError(f"{name}: expected a pandas Series, got {type(series).__name__}")
    if not isinstance(series.index, pd.DatetimeIndex) or series.index.tz is None:
        raise NightFlowInputError(f"{name}: expected a tz-aware DatetimeIndex (local time of the zone)")
    if not pd.api.types.is_numeric_dtype(series):
        raise NightFlowInputError(f"{name}: expected numeric values, got dtype {series.dtype}")
    if (series.dropna() < 0).any():
        raise NightFlowInputError(f"{name}: negative values at {series[series < 0].index[0]}")
    return series.sort_index()


def night_flow_analysis(
    inlet_flow_m3h: pd.Series,
    azp_pressure_m: pd.Series | None = None,
    *,
    households: float = 0.0,
    persons_per_household: float = 3.0,
    active_share: float = 0.06,
    volume_per_use_l: float = 10.0,
    non_household_night_use_m3h: float = 0.0,
    exceptional_night_use_m3h: float = 0.0,
    window: tuple[str, str] = ("02:00", "04:00"),
    n1: float = 1.0,
    default_ndf_h: float = 24.0,
    azp_night_m: float | None = None,
    mains_length_km: float | None = None,
    service_connections: float | None = None,
    avg_private_pipe_length_m: float = 0.0,
    icf: float = 1.0,
    measured_night_use_m3h: pd.Series | None = None,
) -> pd.DataFrame:
    """Daily minimum night flow, net night flow, night-day factor and daily real losses of a zone.

    Parameters
    ----------
    inlet_flow_m3h
        Net inflow of the zone, m³/h, on a tz-aware DatetimeIndex in the zone's local time.
    azp_pressure_m
        Average-zone-point pressure, m (same kind of index), for the night-day factor; without it
        ``default_ndf_h`` is used and ``azp_night_m`` (if given) is the night pressure.
    households, persons_per_household, active_share, volume_per_use_l
        Household legitimate night use (see :func:`legitimate_night_use_m3h`).
    non_household_night_use_m3h, exceptional_night_use_m3h
        Assessed non-household and exceptional night users, m³/h.
    window
        Local ``(start, end)`` of the night window searched for the minimum hour.
    n1
        FAVAD leakage exponent (1.0 for mixed materials).
    measured_night_use_m3h
        Legitimate night use measured per local day (e.g. from AMR customer meters, scaled to all customers),
        m³/h, indexed by date; where given it replaces the assessed use of the household terms.
    mains_length_km, service_connections, avg_private_pipe_length_m, icf
        System data for the BABE split: background leakage = ICF x the UARL background components
        (9.6 l/km mains + 0.6 l/conn + 16 l/km private pipe, per day per m; Lambert et al. 1999).

    Returns
    -------
    pandas.DataFrame
        One row per local day: ``mnf_m3h`` (lowest hourly mean in the window), ``mnf_hour``,
        ``legitimate_night_use_m3h``, ``net_night_flow_m3h`` (NNF), ``azp_night_m``, ``ndf_h``,
        ``real_losses_m3_per_day`` (= NNF x NDF), and with system data
        ``background_leakage_m3_per_day`` and ``unreported_bursts_m3_per_day``.
    """
    flow = _check_series(inlet_flow_m3h, "inlet_flow_m3h")
    hourly_flow = flow.between_time(window[0], window[1], inclusive="left").resample("1h").mean().dropna()
    if hourly_flow.empty:
        raise NightFlowInputError(f"inlet_flow_m3h: no samples in the night window {window[0]}-{window[1]}")
    by_day = hourly_flow.groupby(hourly_flow.index.date)
    mnf_hour = by_day.idxmin()
    lnu = legitimate_night_use_m3h(
        households,
        persons_per_household,
        active_share,
        volume_per_use_l,
        non_household_night_use_m3h,
        exceptional_night_use_m3h,
    )
    out = pd.DataFrame({"mnf_m3h": by_day.min(), "mnf_hour": mnf_hour})
    out.index.name = "date"
    out["legitimate_night_use_m3h"] = lnu
    if measured_night_use_m3h is not None:
        measured = measured_night_use_m3h.reindex(out.index)
        out["legitimate_night_use_m3h"] = measured.fillna(lnu).to_numpy()
    out["net_night_flow_m3h"] = (out["mnf_m3h"] - out["legitimate_night_use_m3h"]).clip(lower=0.0)

    if azp_pressure_m is not None:
        azp = _check_series(azp_pressure_m, "azp_pressure_m").resample("1h").mean()
        p_night = azp.reindex(pd.DatetimeIndex(mnf_hour.to_numpy())).to_numpy()
        out["azp_night_m"] = p_night
        by_date = dict(list(azp.groupby(azp.index.date)))  # one pass, not a scan per day
        empty = azp.iloc[:0]
        out["ndf_h"] = [
            night_day_factor(by_date.get(day, empty), pn, n1)
            for day, pn in zip(out.index, p_night, strict=True)
        ]
    else:
        out["azp_night_m"] = np.nan if azp_night_m is None else azp_night_m
        out["ndf_h"] = default_ndf_h
    out["real_losses_m3_per_day"] = out["net_night_flow_m3h"] * out["ndf_h"]

    if mains_length_km is not None and service_connections is not None:
        background_night_m3h = icf * np.array(
            [
                uarl_component_l_per_day(
                    "background", mains_length_km, service_connections, avg_private_pipe_length_m, p
                )
                / 24.0
                / 1000.0
                for p in out["azp_night_m"]
            ]
        )
        background_night_m3h = np.minimum(background_night_m3h, out["net_night_flow_m3h"].to_numpy())
        out["background_leakage_m3_per_day"] = background_night_m3h * out["ndf_h"]
        out["unreported_bursts_m3_per_day"] = (
            out["real_losses_m3_per_day"] - out["background_leakage_m3_per_day"]
        )
    return out


def pressure_management_whatif(
    azp_hourly_m: pd.Series | np.ndarray,
    net_night_flow_m3h: float,
    cap_m: float,
    n1: float = 1.0,
    azp_night_m: float | None = None,
) -> dict[str, float]:
    """Daily leakage saved by capping the AZP at ``cap_m`` (e.g. a PRV), by FAVAD.

    Hourly leakage is ``NNF (P_h / P_night)^N1``; capping gives ``P'_h = min(P_h, cap)``, so the
    saving is ``NNF x (NDF(P) - NDF(P'))`` m³/day, both factors taken against the same
    ``P_night`` (default: the highest hourly AZP, the usual night pressure).
    """
    p = np.asarray(azp_hourly_m, dtype=float)
    if cap_m <= 0:
        raise ValueError(f"cap_m must be > 0, got {cap_m}")
    p_night = float(np.nanmax(p)) if azp_night_m is None else azp_night_m
    ndf_before = night_day_factor(p, p_night, n1)
    ndf_after = night_day_factor(np.minimum(p, cap_m), p_night, n1)
    before = net_night_flow_m3h * ndf_before
    after = net_night_flow_m3h * ndf_after
    return {
        "azp_night_m": p_night,
        "ndf_before_h": ndf_before,
        "ndf_after_h": ndf_after,
        "leakage_before_m3_per_day": before,
        "leakage_after_m3_per_day": after,
        "leakage_saved_m3_per_day": before - after,
        "leakage_saved_pct": 100.0 * (before - after) / before if before else 0.0,
    }
