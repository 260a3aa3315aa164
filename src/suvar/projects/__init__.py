"""Economics and ranking of water-loss reduction projects.

This package owns:

- :mod:`suvar.projects.economics` -- capital recovery factor, equivalent annual cost, NPV, B/C,
  cost per m³ saved, and the Economic Intervention Frequency of active leakage control
  (Lambert & Fantozzi 2005).
- :mod:`suvar.projects.ranking` -- the project model (pressure management, active leakage control,
  meter replacement, mains replacement) and ranking by a chosen metric.
- :mod:`suvar.projects.cli` -- the ``suvar projects`` command line.
"""

from suvar.projects.economics import (
    capital_recovery_factor,
    economic_intervention_frequency,
    equivalent_annual_cost,
)
from suvar.projects.ranking import Portfolio, Project, ProjectInputError, appraise, rank_projects

__all__ = [
    "Portfolio",
    "Project",
    "ProjectInputError",
    "appraise",
    "capital_recovery_factor",
    "economic_intervention_frequency",
    "equivalent_annual_cost",
    "rank_projects",
]
