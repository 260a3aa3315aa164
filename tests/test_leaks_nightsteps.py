"""Leak detection from a zone's flow balance: steps in its net night flow (``suvar.leaks.nightsteps``)."""

import numpy as np
import pandas as pd
import pytest

from suvar.leaks.nightsteps import night_flow_steps


def _nights(values: list[float]) -> pd.Series:
    return pd.Series(values, index=pd.date_range("2026-10-01", periods=len(values), freq="D").date)


def test_a_leak_is_a_step_and_a_second_leak_a_second_step() -> None:
    rng = np.random.default_rng(3)
    nnf = 1.2 + rng.normal(0, 0.15, 40)
    nnf[18] += 7.7  # a leak from the small hours of night 18 (the window saw part of it)
    nnf[19:] += 8.5  # about 8.5 m³/h from then on, as in the demo's zone A
    nnf[30:] += 3.0  # a second, smaller leak
    steps = night_flow_steps(_nights(list(nnf)), 7)
    assert [s.night for s in steps] == [pd.Timestamp("2026-10-19"), pd.Timestamp("2026-10-31")]
    assert steps[0].last_normal_night == pd.Timestamp("2026-10-18")
    assert steps[0].rise_m3h == pytest.approx(8.5, abs=0.4)
    assert steps[1].rise_m3h == pytest.approx(3.0, abs=0.4)


def test_leak_free_noise_and_a_repair_raise_nothing() -> None:
    rng = np.random.default_rng(4)
    quiet = 5.0 + rng.normal(0, 0.2, 60)
    assert night_flow_steps(_nights(list(quiet)), 14) == []
    leak_then_repair = quiet.copy()
    leak_then_repair[:10] += 4.0  # a leak running through training's end ... repaired on night 20
    leak_then_repair[10:20] += 4.0
    assert night_flow_steps(_nights(list(leak_then_repair)), 10) == []


def test_too_few_training_nights_or_gaps() -> None:
    assert night_flow_steps(_nights([1.0, 1.1]), 2) == []
    values = [1.0, 1.1, np.nan, 0.9, 1.0, 1.05, 6.0, 6.1, 6.0, 6.2]
    steps = night_flow_steps(_nights(values), 5)
    assert [s.night for s in steps] == [pd.Timestamp("2026-10-07")]  # the NaN night is skipped, not a step
