"""Discounting and the economics of leakage intervention.

References
----------
- Grant, E.L., Ireson, W.G., Leavenworth, R.S. (1990). Principles of Engineering Economy, 8th ed.
  (capital recovery factor, equivalent annual cost).
- Lambert, A.O., Fantozzi, M. (2005). Recent advances in calculating economic intervention
  frequency for active leakage control, and implications for calculation of economic leakage
  levels. Water Science & Technology: Water Supply 5(6), 263-271.
- Lambert, A.O., Lalonde, A. (2005). Using practical predictions of Economic Intervention Frequency
  to calculate Short-run Economic Leakage Level, with or without Pressure Management. IWA Leakage
  2005, Halifax.
"""

from __future__ import annotations

import math


def capital_recovery_factor(rate: float, years: float) -> float:
    """``CRF = i (1+i)^n / ((1+i)^n - 1)``; ``1/n`` when ``i = 0``.

    Parameters
    ----------
    rate
        Discount rate ``i`` per year (fraction, e.g. 0.06).
    years
        Life ``n`` in years (> 0).
    """
    if years <= 0:
        raise ValueError(f"life must be > 0 years, got {years}")
    if rate <= -1:
        raise ValueError(f"discount rate must be > -1, got {rate}")
    if rate == 0:
        return 1.0 / years
    growth = (1.0 + rate) ** years
    return rate * growth / (growth - 1.0)


def equivalent_annual_cost(capex: float, rate: float, years: float, opex_per_year: float = 0.0) -> float:
    """Equivalent annual cost, ``EAC = capex x CRF(i, n) + opex`` (currency/year)."""
    return capex * capital_recovery_factor(rate, years) + opex_per_year


def economic_intervention_frequency(
    intervention_cost: float,
    variable_cost_per_m3: float,
    rate_of_rise_m3_per_day_per_year: float,
) -> dict[str, float]:
    """Economic Intervention Frequency of regular leak-detection survey (Lambert & Fantozzi 2005).

    With ``CI`` the cost of one survey of the system (or of a unit such as a km of mains), ``CV``
    the variable cost of water and ``RR`` the rate of rise of unreported real losses of the same
    system or unit (m³/day per year), unreported losses rise from 0 to ``RR x T/12`` between
    surveys every ``T`` months. Minimising ``CI x 12/T + 365 CV RR T/24`` gives

    ``EIF = sqrt(0.789 x CI / (CV x RR))`` months (0.789 = 288/365),

    the economic share of the system surveyed per year ``12/EIF``, the annual budget for
    intervention ``ABI = CI x 12/EIF`` and the economic unreported real losses (average)
    ``EURL = RR x EIF/24`` m³/day; at the optimum ``ABI`` equals the yearly cost of ``EURL``.
    """
    for name, value in (
        ("intervention_cost", intervention_cost),
        ("variable_cost_per_m3", variable_cost_per_m3),
        ("rate_of_rise_m3_per_day_per_year", rate_of_rise_m3_per_day_per_year),
    ):
        if value <= 0:
            raise ValueError(f"{name} must be > 0, got {value}")
    eif = math.sqrt(0.789 * intervention_cost / (variable_cost_per_m3 * rate_of_rise_m3_per_day_per_year))
    eurl = rate_of_rise_m3_per_day_per_year * eif / 24.0
    return {
        "eif_months": eif,
        "survey_share_per_year_pct": 100.0 * 12.0 / eif,
        "annual_budget_for_intervention": intervention_cost * 12.0 / eif,
        "economic_unreported_real_losses_m3_per_day": eurl,
        "economic_unreported_real_losses_m3_per_year": 365.0 * eurl,
    }
