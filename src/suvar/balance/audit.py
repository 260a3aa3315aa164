"""The IWA / AWWA M36 top-down water balance with its indicators and confidence margins.

References
----------
- Alegre, H. et al. (2000/2006). Performance Indicators for Water Supply Services, IWA Publishing
  (IWA standard water balance).
- AWWA (2016). Manual M36: Water Audits and Loss Control Programs, 4th ed.; AWWA Free Water Audit
  Software v5/v6 (water supplied, defaults, data grading).
- Liemberger & Partners / World Bank, WB-EasyCalc (95 % confidence limits by variance propagation).
"""

from __future__ import annotations

from typing import Any, Literal

from suvar.balance import indicators as ind
from suvar.balance.inputs import AuditInputs
from suvar.balance.uncertainty import (
    data_validity_score,
    data_validity_tier,
    margin_m3,
    margin_pct,
    variance,
)

Convention = Literal["iwa", "awwa"]

#: AWWA Free Water Audit Software v5/v6 defaults for inputs the utility cannot quantify.
DEFAULT_UNBILLED_UNMETERED_SHARE = 0.0125  # of water supplied
DEFAULT_UNAUTHORIZED_SHARE = 0.0025  # of water supplied
DEFAULT_DATA_HANDLING_SHARE = 0.0025  # of billed metered consumption

_SYSTEM_KEYS = ("mains_length_km", "service_connections", "avg_private_pipe_length_m", "avg_pressure_m")


def _corrected(volume_m3: float, meter_error_pct: float) -> float:
    """Volume corrected for a master meter error (+ = the meter over-registers): ``V / (1 + e)``."""
    return volume_m3 / (1.0 + meter_error_pct / 100.0)


def water_balance(
    inputs: AuditInputs | dict[str, Any],
    convention: Convention = "iwa",
    *,
    income_group: ind.IncomeGroup = "high",
    real_losses_at_retail: bool = False,
) -> dict[str, Any]:
    """Compute the annual water balance, its performance indicators and 95 % margins.

    Parameters
    ----------
    inputs
        :class:`AuditInputs` or a dict of its keys (validated; bad keys raise
        :class:`~suvar.balance.inputs.AuditInputError` naming each field).
    convention
        ``"iwa"``: system input volume = own sources + imported, and water exported is billed
        authorised consumption (IWA standard balance). ``"awwa"``: water supplied = own sources +
        imported - exported is the top of the balance (AWWA M36 / Free Water Audit Software). Water
        losses, apparent and real losses are the same in both; NRW % differs in its denominator.
    income_group
        ``"high"`` or ``"low_middle"`` income country, for the World Bank Institute bands.
    real_losses_at_retail
        Value real losses at the customer retail unit cost instead of the variable production cost
        (when water is scarce and each lost m³ is a lost sale).

    Returns
    -------
    dict
        Flat dict of volumes (``_m3``, for the audit period), indicators, margins
        (``<name>_margin_m3`` / ``<name>_margin_pct``), ``defaults_applied`` and ``warnings``; every
        key is described in ``docs/balance.md``.

    Notes
    -----
    Master meter error ``e`` (% , + = over-registration) corrects ``V / (1 + e/100)``. Customer
    metering inaccuracy from under-registration ``u`` (fraction of true use) is
    ``metered x u / (1 - u)`` over billed + unbilled metered consumption. Water losses = system
    input - authorised consumption; real losses = water losses - apparent losses;
    NRW = system input - billed authorised consumption.
    """
    if convention not in ("iwa", "awwa"):
        raise ValueError(f"convention must be 'iwa' or 'awwa', got {convention!r}")
    x = AuditInputs.parse(inputs)
    m = x.margin
    own = _corrected(x.volume_from_own_sources_m3, x.volume_from_own_sources_meter_error_pct)
    imported = _corrected(x.water_imported_m3, x.water_imported_meter_error_pct)
    exported = _corrected(x.water_exported_m3, x.water_exported_meter_error_pct)
    supplied = own + imported - exported
    warnings: list[str] = []
    if supplied <= 0:
        raise ValueError(
            f"water supplied (own {own:.0f} + imported {imported:.0f} - exported {exported:.0f} m3) "
            "must be > 0"
        )

    defaults: dict[str, str] = {}
    unbilled_unmetered = x.unbilled_unmetered_m3
    if unbilled_unmetered is None:
        unbilled_unmetered = DEFAULT_UNBILLED_UNMETERED_SHARE * supplied
        defaults["unbilled_unmetered_m3"] = "1.25% of water supplied (AWWA Free Water Audit Software default)"
    unauthorized = x.unauthorized_consumption_m3
    if unauthorized is None:
        unauthorized = DEFAULT_UNAUTHORIZED_SHARE * supplied
        defaults["unauthorized_consumption_m3"] = (
            "0.25% of water supplied (AWWA Free Water Audit Software default)"
        )
    data_handling = x.systematic_data_handling_error_m3
    if data_handling is None:
        data_handling = DEFAULT_DATA_HANDLING_SHARE * x.billed_metered_m3
        defaults["systematic_data_handling_error_m3"] = (
            "0.25% of billed metered consumption (AWWA Free Water Audit Software default)"
        )

    # Variances of the inputs (WB-EasyCalc): sigma = V x margin / 1.96.
    v_own = variance(own, m("volume_from_own_sources_m3"))
    v_imp = variance(imported, m("water_imported_m3"))
    v_exp = variance(exported, m("water_exported_m3"))
    v_bm = variance(x.billed_metered_m3, m("billed_metered_m3"))
    v_bu = variance(x.billed_unmetered_m3, m("billed_unmetered_m3"))
    v_um = variance(x.unbilled_metered_m3, m("unbilled_metered_m3"))
    v_uu = variance(unbilled_unmetered, m("unbilled_unmetered_m3"))
    v_ua = variance(unauthorized, m("unauthorized_consumption_m3"))
    v_dh = variance(data_handling, m("systematic_data_handling_error_m3"))

    u = x.customer_meter_under_registration_pct / 100.0
    metered = x.billed_metered_m3 + x.unbilled_metered_m3
    meter_inaccuracy = metered * u / (1.0 - u)
    v_cmi = (u / (1.0 - u)) ** 2 * (v_bm + v_um) + (metered / (1.0 - u) ** 2) ** 2 * variance(
        u, m("customer_meter_under_registration_pct")
    )

    iwa = convention == "iwa"
    siv, v_siv = (own + imported, v_own + v_imp) if iwa else (supplied, v_own + v_imp + v_exp)
    billed = x.billed_metered_m3 + x.billed_unmetered_m3 + (exported if iwa else 0.0)
    v_billed = v_bm + v_bu + (v_exp if iwa else 0.0)
    unbilled = x.unbilled_metered_m3 + unbilled_unmetered
    v_unbilled = v_um + v_uu
    authorized, v_auth = billed + unbilled, v_billed + v_unbilled
    losses, v_losses = siv - authorized, v_siv + v_auth
    apparent, v_apparent = unauthorized + meter_inaccuracy + data_handling, v_ua + v_cmi + v_dh
    real, v_real = losses - apparent, v_losses + v_apparent
    nrw, v_nrw = siv - billed, v_siv + v_billed
    if losses < 0:
        warnings.append("authorised consumption exceeds system input: check meters and billing data")
    if real < 0:
        warnings.append("apparent losses exceed water losses: real losses are negative")

    out: dict[str, Any] = {"convention": convention, "period_days": x.period_days}
    for name, value, var in (
        ("system_input_volume", siv, v_siv),
        ("water_supplied", supplied, v_own + v_imp + v_exp),
        ("billed_authorized_consumption", billed, v_billed),
        ("unbilled_authorized_consumption", unbilled, v_unbilled),
        ("authorized_consumption", authorized, v_auth),
        ("water_losses", losses, v_losses),
        ("apparent_losses", apparent, v_apparent),
        ("real_losses", real, v_real),
        ("non_revenue_water", nrw, v_nrw),
    ):
        out[f"{name}_m3"] = value
        out[f"{name}_margin_m3"] = margin_m3(var)
        out[f"{name}_margin_pct"] = margin_pct(value, var)
    out |= {
        "volume_from_own_sources_corrected_m3": own,
        "water_imported_corrected_m3": imported,
        "water_exported_corrected_m3": exported,
        "revenue_water_m3": billed,
        "billed_metered_m3": x.billed_metered_m3,
        "billed_unmetered_m3": x.billed_unmetered_m3,
        "unbilled_metered_m3": x.unbilled_metered_m3,
        "unbilled_unmetered_m3": unbilled_unmetered,
        "unauthorized_consumption_m3": unauthorized,
        "customer_metering_inaccuracies_m3": meter_inaccuracy,
        "systematic_data_handling_error_m3": data_handling,
        "nrw_pct_volume": 100.0 * nrw / siv,
        "water_losses_pct_volume": 100.0 * losses / siv,
    }
    out |= _real_loss_indicators(x, real, v_real, apparent, income_group, warnings)
    out |= _cost_indicators(x, unbilled, real, apparent, real_losses_at_retail)
    weights = _grade_weights(
        x,
        own,
        imported,
        exported,
        unbilled_unmetered,
        unauthorized,
        data_handling,
        meter_inaccuracy,
        real,
        apparent,
        nrw,
    )
    score = data_validity_score(x.grades, weights)
    out["data_validity_score"] = score
    out["data_validity_tier"] = None if score is None else data_validity_tier(score)
    out["defaults_applied"] = defaults
    out["warnings"] = warnings
    return out


def _real_loss_indicators(
    x: AuditInputs,
    real: float,
    v_real: float,
    apparent: float,
    income_group: ind.IncomeGroup,
    warnings: list[str],
) -> dict[str, Any]:
    """UARL, ILI (with validity), per-connection and per-km indicators and the WBI bands."""
    days, nc, lm, p = x.period_days, x.service_connections, x.mains_length_km, x.avg_pressure_m
    pressurised = x.supply_hours_per_day / 24.0
    uarl_lpd = pressurised * ind.uarl_l_per_day(lm, nc, x.avg_private_pipe_length_m, p)
    uarl = uarl_lpd * days / 1000.0
    ili_value = ind.ili(real, uarl)
    valid, notes = ind.ili_validity(nc, lm, p)
    if pressurised < 1.0:
        notes.append(f"intermittent supply ({x.supply_hours_per_day:g} h/day): UARL scaled by hours/24")
    if ili_value < 1.0:
        warnings.append(
            f"ILI {ili_value:.2f} < 1: real losses below the unavoidable level; check the audit data"
        )

    # ILI margin: relative variances of CARL and UARL add (first order; UARL linear in its inputs).
    lp_m = x.avg_private_pipe_length_m
    d_uarl = {
        "mains_length_km": ind.UARL_COEFFS_METRIC[0] * p,
        "service_connections": (ind.UARL_COEFFS_METRIC[1] + ind.UARL_COEFFS_METRIC[2] * lp_m / 1000.0) * p,
        "avg_private_pipe_length_m": ind.UARL_COEFFS_METRIC[2] * nc / 1000.0 * p,
        "avg_pressure_m": uarl_lpd / pressurised / p,
    }
    rel_var_uarl = sum(
        (d_uarl[k] * pressurised / uarl_lpd) ** 2 * variance(getattr(x, k), x.margin(k)) for k in _SYSTEM_KEYS
    )
    rel_var_ili = rel_var_uarl + ((v_real**0.5 / abs(real)) ** 2 if real else 0.0)

    per_conn = nc > 0
    rl_lcd = real * 1000.0 / (nc * days) if per_conn else None
    rl_lcd_wsp = rl_lcd / pressurised if per_conn else None
    return {
        "uarl_l_per_day": uarl_lpd,
        "uarl_m3": uarl,
        "carl_m3_per_year": real * 365.0 / days,
        "uarl_m3_per_year": uarl * 365.0 / days,
        "ili": ili_value,
        "ili_margin_pct": 100.0 * margin_m3(rel_var_ili),
        "ili_valid": valid,
        "ili_validity_notes": notes,
        "connection_density_per_km": nc / lm,
        "real_losses_l_per_conn_per_day": rl_lcd,
        "real_losses_l_per_conn_per_day_wsp": rl_lcd_wsp,
        "real_losses_l_per_conn_per_day_per_m": rl_lcd_wsp / p if per_conn else None,
        "real_losses_m3_per_km_mains_per_day": real / (lm * days),
        "real_losses_m3_per_km_mains_per_day_wsp": real / (lm * days * pressurised),
        "apparent_losses_l_per_conn_per_day": apparent * 1000.0 / (nc * days) if per_conn else None,
        "real_loss_indicator_recommended": (
            "per_km_mains_per_day" if nc / lm < ind.ILI_MIN_DENSITY_PER_KM else "per_connection_per_day"
        ),
        "income_group": income_group,
        "band_wbi_original": ind.wbi_band_original(ili_value, income_group),
        "band_wbi_current": ind.wbi_band_current(rl_lcd_wsp, p, income_group) if per_conn else None,
        "band_wbi_current_by_ili": ind.wbi_band_current_by_ili(ili_value, income_group),
    }


def _cost_indicators(
    x: AuditInputs, unbilled: float, real: float, apparent: float, real_at_retail: bool
) -> dict[str, Any]:
    """Annual value of NRW components and NRW as % of the annual operating cost (AWWA M36)."""
    production, retail = x.variable_production_cost_per_m3, x.customer_retail_unit_cost_per_m3
    if production is None or retail is None:
        return {
            "real_losses_value_per_year": None,
            "apparent_losses_value_per_year": None,
            "unbilled_authorized_value_per_year": None,
            "nrw_value_per_year": None,
            "nrw_pct_cost": None,
        }
    per_year = 365.0 / x.period_days
    real_value = real * (retail if real_at_retail else production) * per_year
    apparent_value = apparent * retail * per_year
    unbilled_value = unbilled * production * per_year
    total = real_value + apparent_value + unbilled_value
    return {
        "real_losses_value_per_year": real_value,
        "apparent_losses_value_per_year": apparent_value,
        "unbilled_authorized_value_per_year": unbilled_value,
        "nrw_value_per_year": total,
        "nrw_pct_cost": None if x.annual_operating_cost is None else 100.0 * total / x.annual_operating_cost,
    }


def _grade_weights(
    x: AuditInputs,
    own: float,
    imported: float,
    exported: float,
    unbilled_unmetered: float,
    unauthorized: float,
    data_handling: float,
    meter_inaccuracy: float,
    real: float,
    apparent: float,
    nrw: float,
) -> dict[str, float]:
    """Weight of each graded input = the volume (m³) it governs in the balance."""
    system_share = abs(real) / len(_SYSTEM_KEYS)
    return {
        "volume_from_own_sources_m3": own,
        "volume_from_own_sources_meter_error_pct": own,
        "water_imported_m3": imported,
        "water_imported_meter_error_pct": imported,
        "water_exported_m3": exported,
        "water_exported_meter_error_pct": exported,
        "billed_metered_m3": x.billed_metered_m3,
        "billed_unmetered_m3": x.billed_unmetered_m3,
        "unbilled_metered_m3": x.unbilled_metered_m3,
        "unbilled_unmetered_m3": unbilled_unmetered,
        "unauthorized_consumption_m3": unauthorized,
        "customer_meter_under_registration_pct": meter_inaccuracy,
        "systematic_data_handling_error_m3": data_handling,
        **dict.fromkeys(_SYSTEM_KEYS, system_share),
        "supply_hours_per_day": abs(real),
        "variable_production_cost_per_m3": abs(real),
        "customer_retail_unit_cost_per_m3": apparent,
        "annual_operating_cost": nrw,
    }
