"""Claims (bankruptcy) rules against published and hand-computed divisions."""

import numpy as np
import pandas as pd
import pytest

from suvar.allocation.rules import (
    ClaimsError,
    constrained_equal_awards,
    constrained_equal_losses,
    proportional,
    talmud,
)

CLAIMS = [100.0, 200.0, 300.0]


@pytest.mark.parametrize(
    ("estate", "expected"),
    [(100.0, [100 / 3] * 3), (200.0, [50.0, 75.0, 75.0]), (300.0, [50.0, 100.0, 150.0])],
)
def test_talmud_aumann_maschler_1985(estate: float, expected: list[float]) -> None:
    """The three Mishnah divisions (Ketubot 93a) reproduced in Aumann & Maschler (1985), Table 1."""
    np.testing.assert_allclose(talmud(estate, CLAIMS), expected, rtol=1e-12)


def test_talmud_above_half_uses_equal_losses_on_half_claims() -> None:
    # E = 500 > C/2 = 300: losses 100 shared CEA over half-claims 50/100/150 -> 33.3 each
    np.testing.assert_allclose(talmud(500.0, CLAIMS), [100 - 100 / 3, 200 - 100 / 3, 300 - 100 / 3])


def test_cea_hand_case() -> None:
    # E = 250: lam = 250/3 = 83.3 is below every claim, so all three get 83.3
    np.testing.assert_allclose(constrained_equal_awards(250.0, CLAIMS), [250 / 3] * 3)
    # E = 400: smallest claim paid in full (100), the others share 300 equally -> 150 each
    np.testing.assert_allclose(constrained_equal_awards(400.0, CLAIMS), [100.0, 150.0, 150.0])


def test_cel_hand_case() -> None:
    # E = 300: deficit 300, mu = 100 -> awards 0, 100, 200
    np.testing.assert_allclose(constrained_equal_losses(300.0, CLAIMS), [0.0, 100.0, 200.0])
    # E = 100: mu = 200 -> smallest two get nothing, largest gets 100
    np.testing.assert_allclose(constrained_equal_losses(100.0, CLAIMS), [0.0, 0.0, 100.0])


def test_proportional_hand_case_and_series_index() -> None:
    claims = pd.Series(CLAIMS, index=["a", "b", "c"])
    awards = proportional(300.0, claims)
    assert list(awards.index) == ["a", "b", "c"]
    np.testing.assert_allclose(awards, [50.0, 100.0, 150.0])


@pytest.mark.parametrize("rule", [proportional, constrained_equal_awards, constrained_equal_losses, talmud])
def test_rules_exhaust_estate_and_respect_claims(rule) -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        claims = rng.uniform(0, 100, size=6)
        estate = rng.uniform(0, claims.sum())
        awards = np.asarray(rule(estate, claims))
        assert awards.sum() == pytest.approx(estate, rel=1e-9, abs=1e-9)
        assert np.all(awards >= -1e-12) and np.all(awards <= claims + 1e-9)


def test_estate_above_claims_rejected() -> None:
    with pytest.raises(ClaimsError, match="exceeds the sum of claims"):
        talmud(700.0, CLAIMS)
