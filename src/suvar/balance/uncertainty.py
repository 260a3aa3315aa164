"""95 % confidence margins and the data validity score of a water audit.

Margins follow WB-EasyCalc (Liemberger & Partners, World Bank): an input ``V`` with a 95 % margin
``m`` (fraction) has standard deviation ``sigma = V m / 1.96``; variances of independent volumes
add, and a difference such as ``water losses = system input - authorised consumption`` takes the
sum of the two variances. The margin of a result is ``1.96 sigma``.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def variance(value: float, margin_fraction: float) -> float:
    """Variance of ``value`` whose 95 % confidence margin is ``margin_fraction`` of it."""
    return (value * margin_fraction / Z95) ** 2


def margin_m3(var: float) -> float:
    """95 % margin (same unit as the value) from a variance."""
    return Z95 * math.sqrt(var)


def margin_pct(value: float, var: float) -> float | None:
    """95 % margin as % of ``value`` (``None`` when the value is 0)."""
    return None if value == 0 else 100.0 * margin_m3(var) / abs(value)


def data_validity_tier(score: float) -> str:
    """AWWA Free Water Audit Software v5 data validity tier (I-V) of a 0-100 score."""
    for tier, upper in (("I", 50.0), ("II", 70.0), ("III", 80.0), ("IV", 90.0)):
        if score <= upper:
            return tier
    return "V"


def data_validity_score(grades: dict[str, int], weights: dict[str, float]) -> float | None:
    """Weighted 0-100 data validity score: ``10 x sum(w_i g_i) / sum(w_i)`` over graded inputs.

    Grades are 1-10 as in the AWWA Free Water Audit Software v5/v6; each input's weight is the
    volume it governs (``weights``). Inputs with no grade or no weight are left out; ``None`` when
    nothing remains.
    """
    pairs = [(weights.get(k, 0.0), g) for k, g in grades.items() if weights.get(k, 0.0) > 0]
    total = sum(w for w, _ in pairs)
    if total <= 0:
        return None
    return 10.0 * sum(w * g for w, g in pairs) / total
