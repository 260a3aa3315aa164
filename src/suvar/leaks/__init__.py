"""Leak detection, localisation and benchmark scoring.

This package owns Suvar's leak work:

- :mod:`suvar.leaks.scoring`: the BattLeDIM 2020 economic score and the LeakDB per-time-step metrics
  (TPR, TNR, F1, early-detection score);
- :mod:`suvar.leaks.scenarios`: seeded leak scenarios (L-Town with the BattLeDIM sensor set, LeakDB-style
  Hanoi) simulated with WNTR's EPANET engine, written in the BattLeDIM CSV layout;
- :mod:`suvar.leaks.detect`: data-driven detection (pressure-residual CUSUM, minimum night flow) trained on a
  leak-free period, plus the LeakDB minimum-night-flow baseline;
- :mod:`suvar.leaks.localise`: model-based localisation by matching simulated leak signatures;
- :mod:`suvar.leaks.placement`: where added pressure loggers would let the localiser tell pipes apart;
- :mod:`suvar.leaks.pipeline`: the two put together with their chosen settings, as ``suvar leaks detect``,
  ``suvar leaks scan`` and the benchmark use them;
- :mod:`suvar.leaks.io`: reading and writing the BattLeDIM file layout, truth and submissions;
- :mod:`suvar.leaks.cli`: the ``suvar leaks`` command group.
"""
