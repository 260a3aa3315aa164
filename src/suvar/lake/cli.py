"""``suvar export parquet`` and ``suvar cluster``: the telemetry lake and the batch runs on Dask.

Every ``suvar cluster`` command runs on an existing cluster with ``--scheduler tcp://HOST:8786``, else on a local
cluster of ``--workers`` processes (one thread each) started for the command; progress goes to standard error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

export_app = typer.Typer(help="Export telemetry for other engines.", no_args_is_help=True)
cluster_app = typer.Typer(help="Batch analyses and simulation sweeps on a Dask cluster.", no_args_is_help=True)

Scheduler = Annotated[str | None, typer.Option("--scheduler", help="existing Dask scheduler, e.g. "
                                                "tcp://HOST:8786 (default: a local cluster)")]
Workers = Annotated[int, typer.Option("--workers", help="worker processes of the local cluster")]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run(label: str, scheduler: str | None, workers: int, job: Any) -> Any:
    """Run ``job(mapper)`` on a Dask cluster with progress on standard error."""
    from suvar.lake.cluster import dask_client, dask_mapper, stderr_progress

    with dask_client(scheduler, workers=workers) as client:
        _say(f"{label}: {len(client.scheduler_info()['workers'])} workers at {client.scheduler.address}")
        return job(dask_mapper(client, stderr_progress(label)))


def _json(frame: Any) -> str:
    return frame.to_json(orient="records", date_format="iso", indent=1, double_precision=15, default_handler=str)


def _write(frame: Any, out: Path | None) -> None:
    """Write a frame to ``out`` (.csv, .parquet or .json), or print it as JSON records."""
    if out is None:
        typer.echo(_json(frame))
        return
    if out.suffix == ".csv":
        frame.to_csv(out, index=False)
    elif out.suffix == ".parquet":
        frame.astype({c: str for c in frame.columns if frame[c].dtype == object}).to_parquet(out, index=False)
    else:
        out.write_text(_json(frame))
    _say(f"wrote {len(frame)} rows to {out}")


@export_app.command("parquet")
def export_parquet_cmd(
    out_dir: Annotated[Path, typer.Argument(help="lake folder (created if absent)")],
    utility: Annotated[str | None, typer.Option("--utility", "-u", help="one utility (default: all)")] = None,
    start: Annotated[str | None, typer.Option("--from", help="first month, e.g. 2026-01-01 (widened to the month)")
                     ] = None,
    end: Annotated[str | None, typer.Option("--to", help="end, exclusive (widened to a month end)")] = None,
) -> None:
    """Write telemetry as Parquet partitioned by utility and month (readings/utility_id=U/month=YYYY-MM/) with the
    registry beside it (registry/utility_id=U/). Re-exporting a month replaces it. Prints rows per month (JSON)."""
    from suvar.lake.export import export_parquet
    from suvar.store import open_store

    store = open_store()
    try:
        summary = export_parquet(store, out_dir, utility_id=utility, start=start, end=end, progress=_say)
    except (ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    typer.echo(json.dumps({"out": str(out_dir), "months": summary}, indent=1))


@cluster_app.command("balance")
def balance_cmd(
    lake: Annotated[Path, typer.Argument(help="lake folder written by `suvar export parquet`")],
    utility: Annotated[str, typer.Option("--utility", "-u", help="utility id")],
    start: Annotated[str, typer.Option("--from", help="first day, e.g. 2026-01-01")],
    end: Annotated[str, typer.Option("--to", help="day after the last")],
    freq: Annotated[str, typer.Option("--freq", help="daily | monthly")] = "daily",
    consumption: Annotated[str, typer.Option("--consumption", help="billing | amr")] = "billing",
    zone: Annotated[list[str] | None, typer.Option("--zone", help="only these zones (repeatable)")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help=".csv, .parquet or .json (default: stdout)")
                   ] = None,
    scheduler: Scheduler = None,
    workers: Workers = 2,
) -> None:
    """Water balances of every zone over the lake, one Dask task per zone (same rows as `suvar audit zone all`)."""
    from suvar.lake.jobs import lake_zone_balances

    if freq not in ("daily", "monthly"):
        raise _fail(f"--freq must be daily or monthly, got {freq!r}")
    try:
        frame = _run("zone balances", scheduler, workers, lambda mapper: lake_zone_balances(
            str(lake), utility, start, end, freq="D" if freq == "daily" else "MS", consumption=consumption,
            zones=zone or None, mapper=mapper))
    except (ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    _write(frame, out)


@cluster_app.command("nightflow")
def nightflow_cmd(
    lake: Annotated[Path, typer.Argument(help="lake folder written by `suvar export parquet`")],
    utility: Annotated[str, typer.Option("--utility", "-u", help="utility id")],
    start: Annotated[str, typer.Option("--from", help="first day, e.g. 2026-01-01")],
    end: Annotated[str, typer.Option("--to", help="day after the last")],
    tz: Annotated[str, typer.Option("--tz", help="the zones' local time zone")] = "UTC",
    out: Annotated[Path | None, typer.Option("--out", "-o", help=".csv, .parquet or .json (default: stdout)")
                   ] = None,
    scheduler: Scheduler = None,
    workers: Workers = 2,
) -> None:
    """Night-flow analysis of every DMA over the lake, one Dask task per (zone, local month)."""
    from suvar.lake.jobs import lake_night_flow

    try:
        result = _run("night flow", scheduler, workers,
                      lambda mapper: lake_night_flow(str(lake), utility, start, end, tz=tz, mapper=mapper))
    except (ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    for z, reason in result.skipped.items():
        _say(f"zone {z} skipped: {reason}")
    _write(result.long(), out)


@cluster_app.command("deliveries")
def deliveries_cmd(
    lake: Annotated[Path, typer.Argument(help="lake folder written by `suvar export parquet`")],
    plan_file: Annotated[Path, typer.Argument(help="plan written by `suvar allocate run --out`")],
    utility: Annotated[str, typer.Option("--utility", "-u", help="utility holding the turnout meters")],
    start: Annotated[str, typer.Option("--from", help="first day, e.g. 2026-01-01")],
    end: Annotated[str, typer.Option("--to", help="day after the last")],
    meter_prefix: Annotated[str | None, typer.Option(
        "--meter-prefix", help="turnout meter of user X is PREFIX + X (default: '<utility>-D-')")] = None,
    tolerance: Annotated[float, typer.Option("--tolerance", help="relative band counted as on plan")] = 0.05,
    scheduler: Scheduler = None,
    workers: Workers = 2,
) -> None:
    """Audit every user's metered deliveries over the lake against a plan's steps in [from, to) (JSON)."""
    import pandas as pd

    from suvar.allocation.audit import plan_totals
    from suvar.lake.jobs import lake_delivery_audit

    try:
        plan = json.loads(plan_file.read_text())
        lo, hi = pd.Timestamp(start), pd.Timestamp(end)
        dates = [d for d in plan["dates"] if lo <= pd.Timestamp(d) < hi]
        if not dates:
            raise ValueError(f"{plan_file}: no plan step starts in [{start}, {end})")
        prefix = meter_prefix if meter_prefix is not None else f"{utility}-D-"
        meters = {user: f"{prefix}{user}" for user in plan["users"]}
        audit = _run("delivery audit", scheduler, workers, lambda mapper: lake_delivery_audit(
            str(lake), utility, plan_totals(plan, dates), meters, start, end, tolerance=tolerance, mapper=mapper))
    except (OSError, ValueError, KeyError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(json.dumps({
        "users": json.loads(audit.users.reset_index(names="user").to_json(orient="records")),
        "classes": json.loads(audit.classes.reset_index().to_json(orient="records")),
        "transfers": json.loads(audit.transfers.to_json(orient="records")),
        "bodies": json.loads(audit.bodies.reset_index(names="body").to_json(orient="records")),
    }, indent=1))


@cluster_app.command("leaks-bench")
def leaks_bench_cmd(
    network: Annotated[str, typer.Option("--network", help="ltown or hanoi")] = "hanoi",
    seeds: Annotated[str, typer.Option("--seeds", help="comma-separated seeds, one task each")] = "1,2,3",
    days: Annotated[float, typer.Option("--days", help="test days per seed")] = 10,
    train_days: Annotated[float, typer.Option("--train-days", help="leak-free training days")] = 14,
    scheduler: Scheduler = None,
    workers: Workers = 2,
) -> None:
    """`suvar leaks bench` with each seed's scenario as one Dask task; the same figures as the serial run."""
    from suvar.leaks.benchmark import run_benchmark

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise _fail(f"--seeds: expected comma-separated integers, got {seeds!r}") from None
    if network not in ("ltown", "hanoi"):
        raise _fail(f"--network: expected 'ltown' or 'hanoi', got {network!r}")
    result = _run("leak benchmark", scheduler, workers, lambda mapper: run_benchmark(
        network, seed_list, days, train_days, log=_say, mapper=mapper))
    typer.echo(json.dumps(result, indent=1))


@cluster_app.command("allocate-compare")
def allocate_compare_cmd(
    basin_file: Annotated[Path, typer.Argument(help="basin model (YAML or JSON)")],
    scenario: Annotated[list[str] | None, typer.Option("--scenario", help="NAME=INFLOW_FACTOR, repeatable; one "
                                                       "task each")] = None,
    scheduler: Scheduler = None,
    workers: Workers = 2,
) -> None:
    """`suvar allocate compare` with each scenario as one Dask task (JSON)."""
    from suvar.allocation.model import load_basin
    from suvar.allocation.scenario import compare_system, compare_users, run_scenarios
    from suvar.allocation.solve import InfeasibleBasinError

    factors = {}
    for item in scenario or ["normal=1.0", "dry=0.6"]:
        name, _, value = item.partition("=")
        try:
            factors[name] = float(value)
        except ValueError:
            raise _fail(f"--scenario {item!r}: expected NAME=FACTOR, e.g. dry=0.6") from None
    try:
        basin = load_basin(basin_file)
        results = _run("allocation scenarios", scheduler, workers,
                       lambda mapper: run_scenarios(basin, factors, mapper=mapper))
    except (OSError, ValueError, InfeasibleBasinError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(json.dumps({
        "users": json.loads(compare_users(results).to_json(orient="records")),
        "system": json.loads(compare_system(results).reset_index().to_json(orient="records")),
    }, indent=1))
