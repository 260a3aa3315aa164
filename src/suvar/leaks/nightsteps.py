"""Leak detection from a zone's flow balance: steps in its net night flow (inlets − outlets − measured night use).

A new leak runs day and night, so it shows most clearly at night, when legitimate use is smallest: the zone's
net night flow (NNF, :func:`suvar.balance.zone.zone_night_flow`: minimum night inflow less the night use the
zone's smart meters measure) steps up by the leak's outflow and stays there. Unlike the raw inlet flow, the NNF
is not moved by tanks filling or pumps switching, because the zone balance counts every boundary meter.

:func:`night_flow_steps` learns the NNF's mean and spread over leak-free training nights and flags the first
night that rises above ``baseline + max(k·σ, min_rise_m3h, rel_rise·baseline)``; the level of the following
nights becomes the new baseline, so a second leak in the same zone is a second step. A fall by as much is a repair:
the baseline follows it silently. This is the minimum-night-flow rule of LeakDB's baseline (Vrachimis et al.
2018) applied to the zone balance instead of the inlet flow, with a threshold from the training spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class NightStep:
    """A step up of a zone's net night flow: the first night above the threshold, the nights before and after
    (the leak began between them) and the rise (m³/h, median of up to three nights after the step's)."""

    night: pd.Timestamp
    last_normal_night: pd.Timestamp
    rise_m3h: float
    baseline_m3h: float
    threshold_m3h: float


def night_flow_steps(nnf_m3h: pd.Series, train_nights: int, *, k: float = 5.0, min_rise_m3h: float = 1.0,
                     rel_rise: float = 0.1) -> list[NightStep]:
    """Steps up in a zone's net night flow after ``train_nights`` leak-free nights.

    Parameters
    ----------
    nnf_m3h : net night flow per night (m³/h), indexed by date, oldest first; NaN nights are skipped
    train_nights : leading nights that define the baseline mean ``μ`` and spread ``σ``
    k, min_rise_m3h, rel_rise : threshold ``max(k·σ, min_rise_m3h, rel_rise·baseline)`` above the baseline
        (m³/h); the baseline starts at ``μ`` and follows each step
    """
    nnf = nnf_m3h.dropna()
    train = nnf.iloc[:train_nights]
    if len(train) < 3:
        return []
    mu, sigma = float(train.mean()), float(train.std())
    steps: list[NightStep] = []
    i, values, nights = train_nights, nnf.to_numpy(), nnf.index

    def level(at: int) -> float:
        """The new level: the nights after the step's (which may have begun before the leak)."""
        after = values[at + 1:at + 4]
        return float(np.median(after)) if len(after) else float(values[at])

    while i < len(values):
        threshold = max(k * sigma, min_rise_m3h, rel_rise * abs(mu))
        if values[i] - mu > threshold:
            new = level(i)
            steps.append(NightStep(pd.Timestamp(nights[i]), pd.Timestamp(nights[i - 1]), new - mu, mu, threshold))
            mu, i = new, i + 4
        elif mu - values[i] > threshold:  # a repair, or the end of a leak: follow it
            mu, i = level(i), i + 4
        else:
            i += 1
    return steps
