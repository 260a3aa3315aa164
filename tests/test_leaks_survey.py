"""Logger survey: an alarm localised again with temporary pressure loggers, from measured less modelled pressures
(the model-based residuals of Pérez et al. 2014, IEEE Control Systems Magazine 34(4)), the loggers with an offset
of their own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wntr
from typer.testing import CliRunner

from suvar.alarms import alarm
from suvar.cli import app
from suvar.demo.build import demo_specs, logger_surveys
from suvar.leaks.placement import junction_localiser
from suvar.leaks.scan import scan_utility
from suvar.leaks.scenarios import network_path
from suvar.leaks.survey import day_means, model_residuals, survey_locate, survey_shift
from suvar.network.hydraulics import Leak, simulate
from suvar.store import DuckStore

T0 = pd.Timestamp("2026-10-01", tz="UTC")


def _readings(inp: str, days: int, step_s: int, leaks: tuple[Leak, ...] = ()) -> dict[str, pd.DataFrame]:
    wn = wntr.network.WaterNetworkModel(inp)
    wn.options.time.hydraulic_timestep = wn.options.time.report_timestep = step_s
    res = simulate(wn, days * 86400, leaks=leaks, chunk_s=86400)
    return {k: res[k].set_axis(T0 + pd.to_timedelta(res[k].index, unit="s")) for k in ("pressure", "level")}


def test_day_means_leave_out_days_with_too_few_readings() -> None:
    index = pd.date_range(T0, periods=48, freq="1h")
    p = pd.DataFrame({"a": np.arange(48.0), "b": 1.0}, index=index)
    p.iloc[30:34, 1] = np.nan  # 4 of the second day's 24 hours missing: 83 % < 90 %
    means = day_means(p, 3600)
    assert means["a"].tolist() == [11.5, 35.5]
    assert means["b"].iloc[0] == 1.0 and np.isnan(means["b"].iloc[1])


def test_model_residuals_vanish_when_the_model_is_the_network() -> None:
    # EPANET Net1 (a tank, a pump switched by the tank's level, a 24 h demand pattern): readings simulated over
    # three days from the model itself are matched day by day (the tank from its measured level, the pump as the
    # day before ended; started as the file has it, the second day was 0.9 m off).
    inp = str(network_path("net1"))
    sim = _readings(inp, 3, 3600)
    junctions = wntr.network.WaterNetworkModel(inp).junction_name_list
    errors = model_residuals(inp, sim["pressure"][junctions], 3600, T0, sim["level"])
    assert errors.shape == (3, len(junctions))
    assert errors.abs().to_numpy().max() < 0.01
    with pytest.raises(ValueError, match="before the model's start"):
        model_residuals(inp, sim["pressure"][junctions], 3600, T0 + pd.Timedelta(days=1))


def test_survey_shift_takes_out_model_error_and_needs_loggers() -> None:
    days = pd.date_range(T0, periods=10, freq="D")
    errors = pd.DataFrame({"s1": 0.3, "s2": -0.2, "l1": np.nan, "l2": np.nan}, index=days)
    errors.loc[days[7]:, ["s1", "s2"]] += [-0.05, -0.15]  # the leak, from day 7 03:00
    errors.loc[days[8]:, ["l1", "l2"]] = [1.4, 1.1]      # loggers in from day 8
    shift, survey = survey_shift(errors, ["l1", "l2", "elsewhere"], days[7] + pd.Timedelta(hours=3))
    assert list(survey) == list(days[8:])
    assert shift.round(6).to_dict() == {"s1": -0.05, "s2": -0.15, "l1": 1.4, "l2": 1.1}
    with pytest.raises(ValueError, match="two or more loggers"):
        survey_shift(errors, ["l1"], days[7])
    with pytest.raises(ValueError, match="no whole day"):
        survey_shift(errors, ["l1", "l2"], days[9])


def test_survey_locates_a_leak_with_loggers_whose_datum_is_off() -> None:
    # Hanoi: a leak on pipe 12 from day 1. Six permanent sensors, each with a model error of its own (learnt on
    # the day before the leak); three loggers in from day 2 whose common datum is 2 m off (an elevation read off a
    # map). With an offset of their own the loggers point to pipe 12; sharing the permanent sensors' offset, the
    # datum error misleads the match.
    inp = str(network_path("hanoi"))
    sim = _readings(inp, 3, 3600, (Leak("12", 86400, 0.02),))["pressure"]
    permanent, loggers = ["4", "9", "14", "19", "24", "28"], ["11", "16", "22"]
    rng = np.random.default_rng(7)
    measured = sim[permanent + loggers] + rng.normal(0, 0.01, (len(sim), 9))
    measured[permanent] += rng.uniform(-0.5, 0.5, len(permanent))
    measured[loggers] += 2.0
    measured.loc[measured.index < T0 + pd.Timedelta(days=2), loggers] = np.nan
    errors = model_residuals(inp, measured, 3600, T0)
    shift, survey = survey_shift(errors, loggers, T0 + pd.Timedelta(days=1))
    assert len(survey) == 1
    area = wntr.network.WaterNetworkModel(inp).pipe_name_list
    found = survey_locate(inp, area, shift, loggers, workers=1)
    # pipes 11 and 12 run in series with no branch between them: no pressure sensor tells them apart
    (a, w_a), (b, w_b) = found.candidates[:2]
    assert {a, b} == {"11", "12"} and w_a + w_b > 0.99
    assert found.cosine > 0.99
    single = junction_localiser(inp, workers=1)
    shared = single.locate(shift.reindex(single.pressure).to_numpy(dtype=float), 0, raw=True, within=set(area))
    assert shared.cosine < 0.5 and shared.pipe not in {"11", "12"}


def test_loggers_survey_a_stored_leak_alarm(demo_store: tuple[DuckStore, dict], tmp_path: Path) -> None:
    """The 4-day demo's 14 mm leak on p257 (from 2026-10-03 10:40) raises an alarm naming logger sites; loggers
    go in there at the next midnight (the 28-day demo's at 10:00 the day after), and the survey ranks the area's
    pipes again with them."""
    demo, _ = demo_store
    demo.backup(tmp_path / "copy.duckdb")  # the shared demo store stays as other tests expect it
    store = DuckStore(tmp_path / "copy.duckdb")
    cache = tmp_path / "cache"
    scanned = scan_utility(store, "ltown", train_days=2, cache_dir=cache)
    events = [e for e in scanned if "logger_sites" in e.evidence]
    assert events
    spec = next(s for s in demo_specs(4) if s.utility_id == "ltown")
    wn = wntr.network.WaterNetworkModel(str(network_path("ltown")))
    wn.options.time.hydraulic_timestep = wn.options.time.report_timestep = spec.step_s
    pressure = simulate(wn, 4 * 86400, leaks=spec.leaks, chunk_s=86400)["pressure"]
    surveys = logger_surveys(store, pressure, events, tmp_path / "loggers.csv", np.random.default_rng(1), cache,
                             install_hour=0)
    first = min(events, key=lambda e: e.start)
    loggers = first.evidence["logger_sites"]["nodes"]
    sensors = store.sensors("ltown")
    described = sensors[sensors["kind"] == "pressure"].set_index("node_id")["description"]
    assert all(described[n].startswith("temporary pressure logger") for n in loggers)
    survey = next(s for s in surveys if "loggers" in s and s["loggers"] == loggers)
    assert survey["days"] == ["2026-10-04", "2026-10-04"] and survey["n_days"] == 1
    ranked = [p for p, _ in survey["candidates"]]
    assert set(ranked) <= set(first.evidence["area"]["pipes"]) and survey["pipe"] == ranked[0]
    # zone C's sensors with the loggers fit p257's signature (the zone A leak on p654 from 10-04 03:05 left out)
    assert survey["pipe"] == "p257" and survey["cosine"] > 0.99
    # an alarm on the demo's last day has no whole day of logger readings yet: said, not failed
    assert all("no whole day" in s["skipped"] for s in surveys if "skipped" in s)
    # a later scan leaves the loggers, which have no training days, out of its residual model instead of failing,
    # and its alarms keep their surveys
    assert [e.start for e in scan_utility(store, "ltown", train_days=2, cache_dir=cache)] == [e.start for e in scanned]
    stored = json.loads(store.alarms(kind="leak").set_index("alarm_id").loc[survey["alarm_id"], "detail"])
    assert stored["evidence"]["logger_survey"] == {k: v for k, v in survey.items() if k != "alarm_id"}
    store.close()


def test_cli_names_what_it_cannot_survey_and_the_model_clock_is_kept(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUVAR_DB", str(tmp_path / "suvar.duckdb"))
    runner = CliRunner()
    res = runner.invoke(app, ["leaks", "survey", "5", "--model-start", "2026-10-01"])
    assert res.exit_code == 2 and "no leak alarm 5" in res.output
    res = runner.invoke(app, ["leaks", "survey", "5", "--model-start", "first of October"])
    assert res.exit_code == 2 and "--model-start: expected a date" in res.output
    # the network model's clock: kept with the utility when given at import, asked for when not
    inp = str(network_path("hanoi"))
    res = runner.invoke(app, ["network", "import", inp, "--utility", "h", "--model-start", "soon"])
    assert res.exit_code == 2 and "--model-start: expected a date" in res.output
    assert runner.invoke(app, ["network", "import", inp, "--utility", "h", "--model-start",
                               "2026-10-01T02:00+02:00"]).exit_code == 0
    assert runner.invoke(app, ["network", "import", inp, "--utility", "g"]).exit_code == 0
    store = DuckStore(tmp_path / "suvar.duckdb")
    starts = store.utilities().set_index("utility_id")["model_start"]
    assert starts["h"] == pd.Timestamp("2026-10-01 00:00") and pd.isna(starts["g"])
    evidence = {"area": {"pipes": ["12", "11"]}, "logger_sites": {"nodes": ["13", "14"]}}
    alarm_id = store.raise_alarm(alarm("leak", "warning", "g", "Leak", key="k", detail={
        "start": "2026-10-03 10:00", "evidence": evidence}))
    store.close()
    res = runner.invoke(app, ["leaks", "survey", str(alarm_id)])
    assert res.exit_code == 2 and "utility 'g' has no model start" in res.output
