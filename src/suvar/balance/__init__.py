"""Water balance and water-loss analysis (IWA / AWWA M36).

This package owns the pure analyses behind a utility's annual water audit:

- :mod:`suvar.balance.inputs` -- the validated audit input model (:class:`AuditInputs`).
- :mod:`suvar.balance.audit` -- the IWA / AWWA water balance, its indicators and their
  95 % confidence margins (:func:`water_balance`).
- :mod:`suvar.balance.indicators` -- UARL, ILI and the World Bank Institute performance bands.
- :mod:`suvar.balance.uncertainty` -- variance propagation and the data validity score.
- :mod:`suvar.balance.nightflow` -- minimum night flow, night-day factor, BABE split and the
  FAVAD pressure-management what-if.
- :mod:`suvar.balance.cli` -- the ``suvar audit`` command line.

The input and output keys are documented in ``docs/balance.md``.
"""

from suvar.balance.audit import water_balance
from suvar.balance.indicators import (
    ili,
    uarl_l_per_day,
    uarl_us_gal_per_day,
    wbi_band_current,
    wbi_band_original,
)
from suvar.balance.inputs import AuditInputError, AuditInputs
from suvar.balance.nightflow import favad_leakage, night_flow_analysis, pressure_management_whatif

__all__ = [
    "AuditInputError",
    "AuditInputs",
    "favad_leakage",
    "ili",
    "night_flow_analysis",
    "pressure_management_whatif",
    "uarl_l_per_day",
    "uarl_us_gal_per_day",
    "water_balance",
    "wbi_band_current",
    "wbi_band_original",
]
