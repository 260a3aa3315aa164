"""Logger survey: localise a leak alarm again once temporary pressure loggers are in at its logger sites.

A leak alarm names the junctions where temporary loggers would best tell its survey area's pipes apart
(:func:`suvar.leaks.placement.survey_sites`). Once a crew has installed them, their readings come in as those of
any pressure sensor. They have no leak-free history, so the detector's residual model, which predicts each sensor
from the others and is learnt on leak-free data, cannot cover them. The survey compares measured pressures with
the hydraulic model instead (the model-based residuals of Pérez et al. 2014, "Leak localization in water networks:
a model-based methodology using pressure sensors applied to a real network in Barcelona", IEEE Control Systems
Magazine 34(4), 24-36). For a whole day ``d`` and every pressure sensor ``i``:

    e_i(d) = mean_d(p_i, measured) − mean_d(p_i, model)   (m)

where the model is the nominal network, leak-free, run over the same day of its demand patterns (which begin at
``model_start``) from the tank levels measured at the day's first reading. The change the leak made is

* at a permanent sensor, ``r_i = mean(e_i over the survey days) − mean(e_i over the week before the leak)``: its
  model error, learnt on leak-free days, is taken out;
* at a logger, ``r_i = mean(e_i over the survey days)``, with an offset of its own: a logger's datum against the
  model is unknown (model error, the logger's elevation), so only the differences between loggers are used.

``r`` is matched to each pipe's leak signature (the change of the day-mean pressure with a reference leak, as
:func:`suvar.leaks.placement.node_signatures` simulates it) with a non-negative scale and free offsets,
``r ≈ a·s_p + b_group`` (:meth:`suvar.leaks.localise.Localiser.locate` with ``raw`` and ``groups``): one for the
loggers, and one for each pressure zone's permanent sensors. Only the sensors of the loggers' zones are used: a
zone's boundary (a tank's level, a pump's hours, a PRV) moves all its pressures together, and the model gets those
wrong by tenths of a metre once a leak drains a tank and the pump runs longer (the demo's zone C leak: a cosine of
0.70 with the signature over every zone and one offset, 1.00 over zone C with its own). The search is the alarm's
survey area, the pipes the logger sites were chosen to tell apart.

On L-Town perturbed by ±10 % (roughness, diameter, base demand; ``bench/survey.py``, 40 leaks of 9-20 mm in each of
the demo alarms' two areas, 0.05 m noise per reading), the true pipe was in the survey's top ten 90 % of the time in
zone A (47 pipes; median rank 3) and 100 % in zone C (31 pipes; median 2), against 62.5 % and 70 % without loggers
and 65 % and 87.5 % with as many random junctions of the zone. With the loggers sharing the permanent sensors'
offset, their model error (0.01-0.04 m in zone A) is as large as the differences between neighbouring pipes'
signatures, and they helped little (median rank 9.5 against 11.5 without them, 40 leaks, day-mean changes only).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import wntr

from suvar.leaks.detect import mask_faults
from suvar.leaks.localise import Localisation
from suvar.leaks.placement import junction_localiser
from suvar.leaks.scan import network_file, scada_tables
from suvar.network.hydraulics import carry_over_state, run_epanet
from suvar.store import Store

#: Least share of a day's expected readings for that day's mean to be used.
MIN_DAY_COVERAGE = 0.9
#: Leak-free days before the leak's start against which the permanent sensors' model error is learnt.
BASELINE_DAYS = 7
#: Whole days of logger readings a survey uses: the first after the loggers went in (later days may hold other
#: leaks or their repairs).
SURVEY_DAYS = 3
#: A reading this far (m) from the median of its five neighbours is a spike and left out of the day means.
SPIKE_M = 5.0


def day_means(pressures_m: pd.DataFrame, step_s: int, min_coverage: float = MIN_DAY_COVERAGE) -> pd.DataFrame:
    """Mean pressure (m) of each whole UTC day, one column per node; NaN where fewer than ``min_coverage`` of the
    day's ``86400 / step_s`` readings came in."""
    days = pressures_m.index.floor("D")
    counts = pressures_m.groupby(days).count()
    return pressures_m.groupby(days).mean().where(counts >= min_coverage * 86400 / step_s)


def model_day_means(inp: str | Path, nodes: Collection[str], days: pd.DatetimeIndex, model_start: pd.Timestamp,
                    step_s: int, tank_levels_m: Mapping[pd.Timestamp, Mapping[str, float]] | None = None
                    ) -> pd.DataFrame:
    """Mean pressure (m) at ``nodes`` over each of ``days`` in the leak-free nominal model: one EPANET run per day,
    reported every ``step_s`` (the readings' step), from the day's time since ``model_start`` (when the model's
    patterns begin), pumps as the day before ended and, where ``tank_levels_m`` gives them, tanks at the levels
    measured at the day's start."""
    wn = wntr.network.WaterNetworkModel(str(inp))
    wn.options.time.hydraulic_timestep = wn.options.time.report_timestep = step_s
    wn.options.time.duration = 86400
    wn.options.quality.parameter = "NONE"
    rows = {}
    for day in days:
        offset_s = (day - model_start).total_seconds()
        if offset_s < 0:
            raise ValueError(f"survey day {day:%Y-%m-%d} is before the model's start {model_start:%Y-%m-%d}")
        wn.options.time.pattern_start = int(offset_s)
        wn.options.time.start_clocktime = int(offset_s) % 86400
        for tank, level in ((tank_levels_m or {}).get(day) or {}).items():
            if np.isfinite(level):
                t = wn.get_node(tank)
                t.init_level = float(np.clip(level, t.min_level, t.max_level))
        res = run_epanet(wn)
        pressure = res.node["pressure"]
        rows[day] = pressure.loc[pressure.index < 86400, list(nodes)].mean()
        carry_over_state(wn, res)  # pumps start the next day as this one ended
    return pd.DataFrame(rows).T.reindex(columns=list(nodes))


def model_residuals(inp: str | Path, pressures_m: pd.DataFrame, step_s: int, model_start: pd.Timestamp,
                    levels_m: pd.DataFrame | None = None) -> pd.DataFrame:
    """Measured less modelled day-mean pressure (m) for each whole day of ``pressures_m`` (readings by node at
    ``step_s``; module docs), one row per day; ``levels_m`` (tank levels by tank, m) start each day's model run."""
    measured = day_means(pressures_m, step_s)
    levels = {}
    if levels_m is not None and not levels_m.empty:
        first = levels_m.groupby(levels_m.index.floor("D")).first()
        levels = {day: row.to_dict() for day, row in first.iterrows()}
    model = model_day_means(inp, pressures_m.columns, measured.index, model_start, step_s, levels)
    return measured - model


def survey_shift(errors_m: pd.DataFrame, loggers: Collection[str], leak_start: pd.Timestamp,
                 baseline_days: int = BASELINE_DAYS, survey_days: int = SURVEY_DAYS
                 ) -> tuple[pd.Series, pd.DatetimeIndex]:
    """The change a leak made at each sensor (m, module docs) from the daily model errors ``errors_m`` (one row per
    day, one column per node, :func:`model_residuals`): permanent sensors against the ``baseline_days`` before the
    day ``leak_start`` falls in, loggers as they are; the survey days are the first ``survey_days`` from the day
    after the leak's start on which every logger reported. Returns the change by node and the survey days."""
    loggers = [n for n in errors_m.columns if n in set(loggers)]
    if len(loggers) < 2:
        raise ValueError("a survey needs readings from two or more loggers")
    first = leak_start.floor("D") + pd.Timedelta(days=1)
    survey = errors_m.index[(errors_m.index >= first) & errors_m[loggers].notna().all(axis=1).to_numpy()]
    survey = survey[:survey_days]
    if survey.empty:
        raise ValueError(f"no whole day since {first:%Y-%m-%d} on which every logger ({', '.join(loggers)}) "
                         "reported")
    before = errors_m[(errors_m.index < leak_start.floor("D"))
                      & (errors_m.index >= leak_start.floor("D") - pd.Timedelta(days=baseline_days))]
    shift = errors_m.loc[survey].mean() - before.mean()
    shift[loggers] = errors_m.loc[survey, loggers].mean()
    return shift, survey


def survey_locate(inp: str | Path, area_pipes: Collection[str], shift_m: pd.Series, loggers: Collection[str], *,
                  zones: Mapping[str, str] | None = None, top: int = 10, workers: int = 2,
                  cache_dir: str | Path | None = None) -> Localisation:
    """Rank ``area_pipes`` for the change ``shift_m`` (m, by node; NaN: no reading; :func:`survey_shift`), the
    ``loggers`` with an offset of their own, against reference signatures at every junction (module docs).
    ``zones``, when given, maps the permanent sensors to use to their pressure zone, each zone with an offset of
    its own; the others are left out."""
    loc = junction_localiser(inp, workers=workers, cache_dir=cache_dir)
    obs = shift_m.reindex(loc.pressure).to_numpy(dtype=float)
    loggers = set(loggers)
    labels = ["logger" if n in loggers else "" if zones is None else f"zone {zones.get(n)}" for n in loc.pressure]
    if zones is not None:
        obs[[n not in loggers and n not in zones for n in loc.pressure]] = np.nan
    if np.isfinite(obs).sum() < 4:
        raise ValueError("a survey needs the leak's change at four or more junctions")
    groups = pd.factorize(pd.Series(labels))[0]
    return loc.locate(obs, 0, top=top, raw=True, within=set(area_pipes), groups=groups)


def survey_alarm(store: Store, alarm_id: int, model_start: pd.Timestamp | None = None, *, workers: int = 2,
                 cache_dir: str | Path | None = None) -> dict[str, object]:
    """Localise a stored leak alarm again with the loggers at its logger sites (module docs), once they have
    reported for a whole day: the result is kept in the alarm's ``evidence["logger_survey"]`` and returned.
    ``model_start``: when the network model's demand patterns begin (default: as imported with the network)."""
    alarms = store.alarms(kind="leak")
    found = alarms[alarms["alarm_id"] == int(alarm_id)]
    if found.empty:
        raise ValueError(f"no leak alarm {alarm_id}")
    row = found.iloc[0]
    detail = json.loads(row["detail"])
    evidence = detail.setdefault("evidence", {})
    area = (evidence.get("area") or {}).get("pipes") or []
    sites = (evidence.get("logger_sites") or {}).get("nodes") or []
    network = network_file(store, row["scope"])
    if len(area) < 2 or not sites or network is None:
        raise ValueError(f"leak alarm {alarm_id} names no survey area and logger sites on a network Suvar holds")
    if model_start is None:
        model_start = store.utilities().set_index("utility_id").loc[row["scope"], "model_start"]
        if pd.isna(model_start):
            raise ValueError(f"utility {row['scope']!r} has no model start: when its network model's demand "
                             "patterns begin (give it, or import the network with --model-start)")
    leak_start = _utc(detail["start"])
    begin = leak_start.floor("D") - pd.Timedelta(days=BASELINE_DAYS)
    tables = scada_tables(store, row["scope"], begin.isoformat(), None)
    pressures, levels = (tables[k].tz_localize("UTC") if k in tables and tables[k].index.tz is None
                         else tables.get(k) for k in ("pressures", "levels"))
    step_s = int((pressures.index[1] - pressures.index[0]).total_seconds())
    masked, _ = mask_faults(pressures, np.full(pressures.shape[1], SPIKE_M))
    # the model runs day by day, each from the day before: days after the survey's last one change nothing
    logged = day_means(masked[[n for n in sites if n in masked.columns]], step_s).notna().all(axis=1)
    logged = logged.index[logged & (logged.index >= leak_start.floor("D") + pd.Timedelta(days=1))]
    if len(logged):
        masked = masked[masked.index < logged[:SURVEY_DAYS][-1] + pd.Timedelta(days=1)]
    errors = model_residuals(network, masked, step_s, _utc(model_start), levels)
    shift, days = survey_shift(errors, sites, leak_start)
    loggers = [n for n in sites if n in errors.columns]
    zone_of = store.nodes(row["scope"]).set_index("node_id")["zone_id"].dropna().to_dict()
    kept = {zone_of.get(n) for n in loggers}  # the zones the loggers are in: where the leak moves pressures most
    zones = {n: z for n, z in zone_of.items() if z in kept}
    loc = survey_locate(network, area, shift, loggers, zones=zones, workers=workers, cache_dir=cache_dir)
    result = {"loggers": loggers, "days": [f"{days[0]:%Y-%m-%d}", f"{days[-1]:%Y-%m-%d}"], "n_days": len(days),
              "pipe": loc.pipe, "candidates": [[p, round(w, 4)] for p, w in loc.candidates],
              "est_size_m3h": round(loc.est_size_m3h, 2), "cosine": round(loc.cosine, 3)}
    evidence["logger_survey"] = result
    store.raise_alarm({"dedup_key": row["dedup_key"], "severity": row["severity"], "title": row["title"],
                       "detail": json.dumps(detail, default=str)})
    return result


def _utc(t: object) -> pd.Timestamp:
    t = pd.Timestamp(t)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
