"""Suvar's leak detector as configured for use: learn from a training period, detect and localise in new data.

:class:`LeakDetector` puts together the balance zones a sensor set can watch (:mod:`suvar.leaks.zones`), the
pressure-residual detector (:mod:`suvar.leaks.detect`) and the model-based localiser
(:mod:`suvar.leaks.localise`) with the settings below, chosen on full-year L-Town scenarios scored the BattLeDIM
way (:mod:`suvar.leaks.benchmark`). The benchmark interface (``suvar leaks detect``), the platform's scan of
stored telemetry (``suvar leaks scan``) and the benchmark itself all use it, so a figure measured on one holds
for the others.

Telemetry comes as BattLeDIM-layout tables (:func:`suvar.leaks.io.read_battledim_dir`): ``pressures`` (m, one
column per node), ``flows`` (m³/h, per link) and optionally ``levels`` (m, per tank) and ``demands`` (L/h of
smart meters, per node), on one regular time index.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import wntr

from suvar.leaks.detect import DetectorModel, LeakEvent, detect, train
from suvar.leaks.localise import SEARCH_RADIUS_M, Localiser
from suvar.leaks.zones import BalanceZone, watched_zones, zone_net_flows_m3h

#: Simulation window of the leak signatures (h): the detector's residual shift is a mean over about a day (its
#: ``settle_h``), so the signatures matched to it are day means too. Measured on two tuning seeds of the
#: full-year L-Town set: 33.5 % of the perfect score with day-long signatures against 29.1 % with 3-hour ones.
SIGNATURE_WINDOW_H = 24
#: Hours after an alarm over which its residual shift is averaged and the detector settles (``detect``'s
#: ``settle_h``): on the same two tuning seeds 12 h gave 52.7 % against 47.9 % with 24 h and 33.3 % with 48 h
#: (measured before the rule that a zone's rise must reach ``zone_min_leak_m3h`` to keep a poorly fitting alarm;
#: with it, 47.5 %).
SETTLE_H = 12
#: ``detect``'s ``min_cosine``: the least fit of a leak signature for an alarm to be
#: reported, the operating point between leaks found and false alarms. History: on twelve earlier full-year L-Town
#: scenario-years (half the leaks running for months whatever their size), 0.75 → 57.0 % of the perfect BattLeDIM
#: score with 4.8 false alarms a year, 0.85 → 48.5 %, 2.8. With BattLeDIM 2019's repairs (:func:`seed_leaks`), 120
#: candidate pipes an alarm and :mod:`suvar.leaks.detect`'s cumulative fit and re-dating, 0.85 was chosen (over
#: 67-70 and 75-82: 0.825 → 53.6 %, 4.25 a year; 0.85 → 53.2 %, 3.25; 0.875 → 46.7 %, 2.9). Simulating every pipe
#: (:data:`CANDIDATES`) and refitting on a day (:data:`REFINE_H`) halved the false alarms, so the least fit came
#: down again: over the ten seed-years 67-68 and 75-82, 0.85 → 60.3 %, 1.3 a year; 0.825 → 62.5 %, 2.1; 0.8 →
#: 64.1 %, 2.8. 0.825 keeps a margin under three a year. On seeds 87-90, simulated after every choice: 59.8 %,
#: 1.25 a year (0.85: 59.5 %, 1.0; 0.8: 60.9 %, 2.75; the defaults before: 54.7 %, 3.5).
MIN_COSINE = 0.825
#: Pipes simulated per alarm (the Localiser's ``n_candidates``): None, every pipe of the
#: search area. Signatures are reused across alarms, so a year of L-Town simulates each of its 905 pipes once. The
#: 120 pipes nearest the sensors whose residuals fell most often missed the leak's own cluster of pipes: one seed's
#: 19.5 mm leak on p886, whose signature fits five pipes within 200 m of it best (cosines 0.98), was placed 377 m
#: away with 120 and on p886 with all. Over the ten seed-years above at min fit 0.85: 120 → 54.6 %, 2.9 false alarms
#: a year; every pipe → 59.1 %, 1.5.
CANDIDATES: int | None = None
#: Hours from a reported leak's start over which it is fitted again (``detect``'s ``refine_h``), when no other
#: change comes first: a day, the span of the day-mean signatures. The better fit is kept. Over the ten seed-years
#: above at min fit 0.825: 61.3 % with 2.4 false alarms a year without it, 62.5 % with 2.1 with it (72 h: 61.8 %,
#: 2.3).
REFINE_H = 24


@dataclass
class LeakDetector:
    """A trained detector: normal behaviour, the balance zones watched and, with a network model, the localiser.

    Build it with :meth:`fit`; :meth:`detect` then scans any later data of the same sensors.
    """

    model: DetectorModel
    zones: list[BalanceZone]
    localiser: Localiser | None = None
    min_cosine: float = MIN_COSINE

    @classmethod
    def fit(cls, train_data: Mapping[str, pd.DataFrame], network: str | Path | None = None, *,
            exclude: Sequence[tuple[pd.Timestamp, pd.Timestamp]] = (), workers: int = 2,
            n_candidates: int | None = CANDIDATES, min_cosine: float = MIN_COSINE,
            cache_dir: str | Path | None = None) -> LeakDetector:
        """Learn normal behaviour from ``train_data`` (BattLeDIM-layout tables, leak-free but for the ``exclude``
        periods of known leaks). With ``network`` (the EPANET file of the network model) the balance zones of the
        sensor set are watched and alarms are localised; without it, alarms name no pipe. ``cache_dir`` keeps the
        simulated leak signatures for later runs (:class:`~suvar.leaks.localise.Localiser`).

        Raises ``ValueError`` (:class:`~suvar.leaks.detect.DetectionError` among them) on unusable telemetry.
        """
        zones, net = [], None
        if network is not None:
            zones, net = watched_zones(wntr.network.WaterNetworkModel(str(network)), train_data)
        model = train(train_data["pressures"], train_data["flows"], exclude=exclude, zone_flows_m3h=net)
        localiser = None if network is None else Localiser(
            network, model.pressure_sensors, model.flow_sensors, model.transform, model.sigma_m,
            n_candidates=n_candidates, workers=workers, window_h=SIGNATURE_WINDOW_H, search_radius_m=SEARCH_RADIUS_M,
            cache_dir=cache_dir)
        return cls(model, zones, localiser, min_cosine)

    def detect(self, data: Mapping[str, pd.DataFrame], *, rejected: list[LeakEvent] | None = None,
               progress: Callable[[float], None] | None = None) -> list[LeakEvent]:
        """Leak events in ``data`` (BattLeDIM-layout tables of the training sensors), in time order; alarms judged
        not to be new leaks go to ``rejected`` when given (:func:`suvar.leaks.detect.detect`)."""
        net = zone_net_flows_m3h(self.zones, data) if self.zones else None
        return detect(self.model, data["pressures"], data["flows"], self.locate, settle_h=SETTLE_H,
                      min_cosine=self.min_cosine, refine_h=REFINE_H, zone_flows_m3h=net,
                      zone_pipes={z.name: z.pipes for z in self.zones}, rejected=rejected, progress=progress)

    @property
    def locate(self) -> Callable | None:
        """The localiser's :meth:`~suvar.leaks.localise.Localiser.locate`, or None without a network model."""
        return None if self.localiser is None else self.localiser.locate
