"""``suvar leaks``: detect and localise leaks in BattLeDIM-layout telemetry, score submissions, benchmark."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
import wntr

from suvar.config import load_settings
from suvar.leaks.benchmark import run_benchmark, seed_leaks
from suvar.leaks.detect import DetectionError
from suvar.leaks.io import (
    Detection,
    LeakFileError,
    read_battledim_dir,
    read_leak_truth,
    read_submission,
    read_timeseries_csv,
    write_submission,
)
from suvar.leaks.pipeline import CANDIDATES, MIN_COSINE, LeakDetector
from suvar.leaks.scenarios import ScenarioError, generate_scenario, network_path, sensor_set, write_scenario
from suvar.leaks.scoring import PipeDistance, ScoringError, battledim_score
from suvar.progress import throttled

app = typer.Typer(help="Leak detection, localisation and BattLeDIM / LeakDB scoring.", no_args_is_help=True)

def _err(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code=2)


@app.command("detect")
def detect_cmd(
    network: Annotated[Path, typer.Option("--network", exists=True, dir_okay=False, help="EPANET .inp")],
    train_dir: Annotated[Path, typer.Option("--train", exists=True, file_okay=False,
                                            help="BattLeDIM-layout training data (may hold repaired_leaks.csv)")],
    data_dir: Annotated[Path, typer.Option("--data", exists=True, file_okay=False,
                                           help="BattLeDIM-layout data to scan")],
    out: Annotated[Path, typer.Option("--out", help="submission file; FILE.json gets the evidence")],
    workers: Annotated[int, typer.Option(help="processes for candidate simulations")] = 2,
    candidates: Annotated[int | None, typer.Option(
        help="pipes simulated per alarm, those nearest the sensors whose residuals fell most (default: every pipe "
             "of the search area)")] = CANDIDATES,
    min_fit: Annotated[float, typer.Option(
        help="least cosine between an alarm's residual shift and a leak signature for it to be reported: "
             "lower finds more leaks and raises more false alarms")] = MIN_COSINE,
) -> None:
    """Learn normal behaviour from TRAIN, detect and localise leaks in DATA, write one line per leak."""
    try:
        train_data, data = read_battledim_dir(train_dir), read_battledim_dir(data_dir)
        repaired = train_dir / "repaired_leaks.csv"
        exclude = [(lk.start, lk.end) for lk in read_leak_truth(repaired)] if repaired.is_file() else []
        detector = LeakDetector.fit(train_data, network, exclude=exclude, workers=workers, n_candidates=candidates,
                                    min_cosine=min_fit, cache_dir=load_settings().cache_dir or None)
        events = detector.detect(data, progress=throttled(lambda msg: typer.echo(msg, err=True), "scanning"))
    except ValueError as exc:  # LeakFileError, DetectionError, ScenarioError, or a zone lacking a meter's column
        _err(str(exc))
    write_submission([Detection(e.pipe, e.start) for e in events if e.pipe], out)
    sidecar = Path(f"{out}.json")
    sidecar.write_text(json.dumps({"events": [e.as_dict() for e in events],
                                   "excluded_training_periods": len(exclude),
                                   "balance_zones": {z.name: len(z.pipes) for z in detector.zones}}, indent=1),
                        encoding="utf-8")
    typer.echo(json.dumps({"leaks": len(events), "submission": str(out), "evidence": str(sidecar),
                           "pipes": [e.pipe for e in events]}))


@app.command("score")
def score_cmd(
    network: Annotated[Path, typer.Option("--network", exists=True, dir_okay=False, help="EPANET .inp")],
    truth: Annotated[Path, typer.Option("--truth", exists=True, dir_okay=False,
                                        help="leakages_info (.yaml/.csv lines) or a YAML list")],
    flows: Annotated[Path, typer.Option("--flows", exists=True, dir_okay=False,
                                        help="leak outflows (m3/h), one column per leak pipe")],
    submission: Annotated[Path, typer.Option("--submission", exists=True, dir_okay=False)],
) -> None:
    """Print the BattLeDIM 2020 economic score of a submission (JSON)."""
    try:
        result = battledim_score(read_submission(submission), read_leak_truth(truth), read_timeseries_csv(flows),
                                 PipeDistance(wntr.network.WaterNetworkModel(str(network))))
    except (LeakFileError, ScoringError) as exc:
        _err(str(exc))
    typer.echo(json.dumps(result.as_dict()))


@app.command("generate")
def generate_cmd(
    out: Annotated[Path, typer.Option("--out", file_okay=False, help="folder for the BattLeDIM-layout files")],
    network: Annotated[str, typer.Option("--network", help="ltown or hanoi")] = "hanoi",
    seed: Annotated[int, typer.Option(help="random seed")] = 1,
    days: Annotated[float, typer.Option(help="days simulated (5-minute steps)")] = 7,
    start: Annotated[str, typer.Option(help="first timestamp")] = "2019-01-01 00:00",
    leaks: Annotated[int, typer.Option(help="random leaks (drawn as by `leaks bench` for the same seed)")] = 1,
) -> None:
    """Simulate a seeded leak scenario and write Pressures/Flows/Levels/Demands.csv, leaks.csv and flows."""
    try:
        first = pd.Timestamp(start)
        last = first + pd.Timedelta(days=days) - pd.Timedelta(minutes=5)
        chosen = seed_leaks(network, wntr.network.WaterNetworkModel(str(network_path(network))), seed, first, last,
                            leaks)
        sc = generate_scenario(network_path(network), sensor_set(network), first, days, seed, leaks=chosen,
                               progress=throttled(lambda msg: typer.echo(msg, err=True), "simulating"))
    except (ScenarioError, ValueError) as exc:
        _err(str(exc))
    write_scenario(sc, out)
    typer.echo(json.dumps({"out": str(out), "leaks": [[lk.link_id, lk.start.strftime("%Y-%m-%d %H:%M"),
                                                       lk.leak_type] for lk in sc.leaks]}))


@app.command("bench")
def bench_cmd(
    network: Annotated[str, typer.Option("--network", help="ltown or hanoi")] = "hanoi",
    seeds: Annotated[str, typer.Option("--seeds", help="comma-separated seeds")] = "1,2,3",
    days: Annotated[float, typer.Option("--days", help="test days per seed")] = 10,
    train_days: Annotated[float, typer.Option("--train-days", help="leak-free training days")] = 14,
    workers: Annotated[int, typer.Option(help="processes for candidate simulations")] = 2,
    min_fit: Annotated[float, typer.Option(help="as for `suvar leaks detect`")] = MIN_COSINE,
) -> None:
    """Generate scenarios, run Suvar's detector and the LeakDB MNF baseline, print both scores (JSON)."""
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        _err(f"--seeds: expected comma-separated integers, got {seeds!r}")
    if network not in ("ltown", "hanoi"):
        _err(f"--network: expected 'ltown' or 'hanoi', got {network!r}")
    result = run_benchmark(network, seed_list, days, train_days, workers=workers, min_cosine=min_fit,
                           log=lambda msg: typer.echo(msg, err=True))
    typer.echo(json.dumps(result, indent=1))


@app.command("sites")
def sites_cmd(
    network: Annotated[Path, typer.Option("--network", exists=True, dir_okay=False, help="EPANET .inp")],
    sensors: Annotated[str, typer.Option("--sensors", help="comma-separated nodes with pressure sensors")],
    sites: Annotated[int, typer.Option("--sites", help="loggers to add")] = 3,
    around: Annotated[str | None, typer.Option(
        "--around", help="only tell apart the pipes that the sensors cannot tell from this one (e.g. an alarm's "
                         "pipe): where to put temporary loggers")] = None,
    workers: Annotated[int, typer.Option(help="processes for leak simulations")] = 2,
) -> None:
    """Rank nodes for added pressure loggers by the pipe pairs they let the localiser tell apart (JSON)."""
    from suvar.leaks.placement import confusable_pairs, confusable_with, node_signatures, rank_sites

    wn = wntr.network.WaterNetworkModel(str(network))
    names = [s.strip() for s in sensors.split(",") if s.strip()]
    unknown = [n for n in names if n not in wn.junction_name_list]
    if len(names) < 2 or unknown:
        _err(f"--sensors: expected two or more junctions of {network.name}, "
             f"got {len(names)} ({'unknown: ' + ', '.join(unknown[:5]) if unknown else 'too few'})")
    if around is not None and around not in wn.pipe_name_list:
        _err(f"--around: {around!r} is not a pipe of {network.name}")
    sig = node_signatures(network, workers=workers, cache_dir=load_settings().cache_dir or None)
    pipes = list(sig.index) if around is None else [around, *confusable_with(sig, names, around)]
    ranked = rank_sites(sig.loc[pipes], names, sites)
    out: dict[str, object] = {"pipes": len(pipes), "confusable_pairs": confusable_pairs(sig.loc[pipes], names),
                              "sites": ranked.to_dict(orient="records")}
    if around is not None:
        out["around"] = {"pipe": around, "confusable_before": len(pipes) - 1,
                         "confusable_after": len(confusable_with(sig, [*names, *ranked.node], around))}
    typer.echo(json.dumps(out, indent=1))


@app.command("scan")
def scan_cmd(
    utility: Annotated[str, typer.Option("--utility", "-u", help="utility id")],
    train_days: Annotated[float, typer.Option(help="days at the start of the period to learn from")] = 7.0,
    start: Annotated[str | None, typer.Option("--from", help="first day (default: all stored data)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="day after the last")] = None,
    workers: Annotated[int, typer.Option(help="processes for candidate simulations")] = 2,
) -> None:
    """Scan a utility's stored SCADA telemetry for leaks and raise an alarm for each (see `suvar alarms`)."""
    from suvar.leaks.scan import scan_utility
    from suvar.store import open_store

    try:
        events = scan_utility(open_store(), utility, train_days=train_days, start=start, end=end, workers=workers,
                              cache_dir=load_settings().cache_dir or None,
                              progress=throttled(lambda msg: typer.echo(msg, err=True), "scanning"))
    except (ValueError, DetectionError) as exc:
        _err(str(exc))
    typer.echo(json.dumps([e.as_dict() for e in events], indent=1, default=str))


@app.command("survey")
def survey_cmd(
    alarm_id: Annotated[int, typer.Argument(help="the leak alarm whose logger sites now have loggers")],
    model_start: Annotated[str | None, typer.Option(
        "--model-start", help="when the network model's demand patterns begin (UTC), e.g. 2026-10-01 (default: as "
                              "imported with the network)")] = None,
    workers: Annotated[int, typer.Option(help="processes for leak simulations")] = 2,
) -> None:
    """Rank a leak alarm's survey area again with the temporary loggers at its logger sites (JSON; kept in the
    alarm's evidence)."""
    from suvar.leaks.survey import survey_alarm
    from suvar.store import open_store

    try:
        start = None if model_start is None else pd.Timestamp(model_start)
    except ValueError:
        _err(f"--model-start: expected a date or time such as 2026-10-01, got {model_start!r}")
    try:
        result = survey_alarm(open_store(), alarm_id, start, workers=workers,
                              cache_dir=load_settings().cache_dir or None)
    except (ValueError, DetectionError) as exc:
        _err(str(exc))
    typer.echo(json.dumps(result, indent=1))
