"""Bankruptcy (claims) rules: divide an estate ``E`` among claims ``c`` when ``E <= sum(c)``.

Every rule is a pure function ``(estate, claims) -> awards`` with ``0 <= award_i <= claim_i`` and
``sum(awards) == estate``. Units are whatever the caller uses (here m³ per step); the rules are scale-free.

References
----------
Aumann, R. J. & Maschler, M. (1985). Game theoretic analysis of a bankruptcy problem from the Talmud.
*Journal of Economic Theory* 36(2), 195-213.
Thomson, W. (2003). Axiomatic and game-theoretic analysis of bankruptcy and taxation problems: a survey.
*Mathematical Social Sciences* 45(3), 249-297.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

ClaimsLike = Sequence[float] | np.ndarray | pd.Series


class ClaimsError(ValueError):
    """Estate or claims outside the domain of a claims problem."""


def _check(estate: float, claims: ClaimsLike) -> np.ndarray:
    c = np.asarray(claims, dtype=float)
    if c.ndim != 1:
        raise ClaimsError(f"claims must be one-dimensional, got shape {c.shape}")
    if not np.all(np.isfinite(c)) or np.any(c < 0):
        raise ClaimsError(f"claims must be finite and >= 0, got {c.tolist()}")
    if not np.isfinite(estate) or estate < 0:
        raise ClaimsError(f"estate must be finite and >= 0, got {estate}")
    total = float(c.sum())
    if estate > total * (1 + 1e-12) + 1e-12:
        raise ClaimsError(f"estate {estate} exceeds the sum of claims {total}; nothing to ration")
    return c


def _like(claims: ClaimsLike, awards: np.ndarray) -> np.ndarray | pd.Series:
    if isinstance(claims, pd.Series):
        return pd.Series(awards, index=claims.index, name=claims.name)
    return awards


def _cea(estate: float, c: np.ndarray) -> np.ndarray:
    """Award ``min(c_i, lam)`` with ``lam`` solving ``sum(min(c_i, lam)) = estate``."""
    if c.size == 0:
        return c.copy()
    order = np.sort(c)
    n = c.size
    spent = 0.0
    for k, ck in enumerate(order):
        # all claims below ck are fully paid; the n - k others get ck each
        if spent + ck * (n - k) >= estate:
            lam = (estate - spent) / (n - k)
            return np.minimum(c, lam)
        spent += ck
    return c.copy()


def proportional(estate: float, claims: ClaimsLike) -> np.ndarray | pd.Series:
    """Proportional rule: ``a_i = E * c_i / sum(c)`` (Thomson 2003, sec. 2.1)."""
    c = _check(estate, claims)
    total = c.sum()
    return _like(claims, np.zeros_like(c) if total == 0 else estate * c / total)


def constrained_equal_awards(estate: float, claims: ClaimsLike) -> np.ndarray | pd.Series:
    """Constrained equal awards (CEA): ``a_i = min(c_i, lam)``, ``sum(a) = E`` (Thomson 2003, sec. 2.1)."""
    c = _check(estate, claims)
    return _like(claims, _cea(estate, c))


def constrained_equal_losses(estate: float, claims: ClaimsLike) -> np.ndarray | pd.Series:
    """Constrained equal losses (CEL): ``a_i = max(0, c_i - mu)``, ``sum(a) = E``.

    The losses ``c_i - a_i = min(c_i, mu)`` are themselves the CEA division of the deficit ``sum(c) - E``.
    """
    c = _check(estate, claims)
    return _like(claims, c - _cea(float(c.sum()) - estate, c))


def talmud(estate: float, claims: ClaimsLike) -> np.ndarray | pd.Series:
    """Talmud rule (Aumann & Maschler 1985): CEA on half-claims up to ``sum(c)/2``, then CEL on half-claims.

    ``a = CEA(E, c/2)`` if ``E <= sum(c)/2``, else ``a = c/2 + CEL(E - sum(c)/2, c/2)``.
    Claims 100/200/300 give 33⅓ each for ``E = 100``, 50/75/75 for 200 and 50/100/150 for 300.
    """
    c = _check(estate, claims)
    half = c / 2
    half_total = float(half.sum())
    if estate <= half_total:
        return _like(claims, _cea(estate, half))
    rest = estate - half_total
    return _like(claims, half + half - _cea(half_total - rest, half))


RULES: dict[str, Callable[[float, ClaimsLike], np.ndarray | pd.Series]] = {
    "proportional": proportional,
    "cea": constrained_equal_awards,
    "cel": constrained_equal_losses,
    "talmud": talmud,
}
