"""``suvar allocate``: run, compare and publish allocation plans; audit metered deliveries against them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import typer

from ..csv_export import to_csv
from ..ledger import JsonlLedgerStore, append
from .audit import AuditError, delivery_audit, plan_totals
from .explain import explain, plan_record
from .model import Basin, BasinError, basin_sha256, load_basin
from .scenario import compare_system, compare_users, run_scenarios, scale_inflows
from .solve import InfeasibleBasinError, allocate

app = typer.Typer(
    help="Water allocation under scarcity: plans, scenarios, publication, delivery audit.",
    no_args_is_help=True,
)


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _load(path: Path) -> Basin:
    try:
        return load_basin(path)
    except BasinError as exc:
        raise _fail(str(exc)) from None


def _echo(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@app.command()
def run(
    basin_file: Path = typer.Argument(..., help="basin model (YAML or JSON)"),
    inflow_factor: float = typer.Option(1.0, "--inflow-factor", help="scale catchment inflows (0.6 = 60 %)"),
    scenario: str | None = typer.Option(None, "--scenario", help="NAME=INFLOW_FACTOR, e.g. drought=0.6 "
                                        "(names the plan; sets the inflow factor)"),
    out: Path | None = typer.Option(None, "--out", help="write the plan (JSON) here, for publish/deliveries"),
    explain_csv: Path | None = typer.Option(
        None, "--explain", help="write the per-user, per-step explanation"
    ),
) -> None:
    """Allocate a basin and print per-user coverage, shortfall and main binding reason (JSON)."""
    basin = _load(basin_file)
    name = f"inflow x {inflow_factor:g}"
    if scenario is not None:
        name, _, value = scenario.partition("=")
        try:
            inflow_factor = float(value)
        except ValueError:
            raise _fail(f"--scenario {scenario!r}: expected NAME=FACTOR, e.g. drought=0.6") from None
    try:
        scaled = scale_inflows(basin, inflow_factor)
        result = allocate(scaled)
    except InfeasibleBasinError as exc:
        _echo({"feasible": False, "step": exc.step, "relax": exc.relaxations})
        raise _fail(str(exc), 1) from None
    except ValueError as exc:
        raise _fail(str(exc)) from None
    table = explain(result)
    if out is not None:
        plan = plan_record(result, basin_sha256(basin), scenario=name)
        out.write_text(json.dumps(plan, indent=1))
    if explain_csv is not None:
        to_csv(table, explain_csv, index=False)  # user and body names come from the basin file
    users = {}
    for user, g in table.groupby("user", sort=True):
        req, got = g["requirement_m3"].sum(), g["allocation_m3"].sum()
        short = g[g["reason"] != "met"]["reason"]
        users[user] = {
            "coverage": round(got / req, 6) if req > 0 else None,
            "shortfall_m3": round(req - got, 3),
            "main_reason": short.mode().iloc[0] if not short.empty else "met",
        }
    _echo(
        {
            "basin": basin.name,
            "inflow_factor": inflow_factor,
            "steps": basin.n_steps,
            "users": users,
            "plan": str(out) if out else None,
        }
    )


@app.command()
def compare(
    basin_file: Path = typer.Argument(..., help="basin model (YAML or JSON)"),
    scenario: list[str] = typer.Option(
        ["normal=1.0", "dry=0.6"], "--scenario", help="NAME=INFLOW_FACTOR, repeatable"
    ),
) -> None:
    """Run inflow scenarios and print plans side by side: per-user coverage and system indicators (JSON)."""
    results = _scenarios(_load(basin_file), scenario)
    users = compare_users(results)
    _echo(
        {
            "users": users.to_dict("records"),
            "system": compare_system(results).reset_index().to_dict("records"),
        }
    )


def _scenarios(basin: Basin, scenario: list[str]) -> dict:
    factors = {}
    for item in scenario:
        name, _, value = item.partition("=")
        try:
            factors[name] = float(value)
        except ValueError:
            raise _fail(f"--scenario {item!r}: expected NAME=FACTOR, e.g. dry=0.6") from None
    try:
        return run_scenarios(basin, factors)
    except InfeasibleBasinError as exc:
        raise _fail(str(exc), 1) from None


@app.command()
def report(
    basin_file: Path = typer.Argument(..., help="basin model (YAML or JSON)"),
    scenario: list[str] = typer.Option(
        ["normal=1.0", "dry=0.6"], "--scenario", help="NAME=INFLOW_FACTOR, repeatable; the last is the plan"
    ),
    out: Path = typer.Option(Path("allocation-report.html"), "--out", "-o", help="HTML file (print it to PDF)"),
) -> None:
    """Write the HTML report of the scenarios: coverage chart and tables, storage, shortfall reasons."""
    from .report import allocation_report_html

    basin = _load(basin_file)
    results = _scenarios(basin, scenario)
    out.write_text(allocation_report_html(f"Allocation plans, {basin.name}", results), encoding="utf-8")
    typer.echo(str(out))


@app.command()
def publish(
    result: Path = typer.Argument(..., help="plan written by `suvar allocate run --out`"),
    author: str = typer.Option(..., "--author", help="who publishes the plan"),
    ledger: Path = typer.Option(..., "--ledger", help="ledger file (JSON Lines), created if absent"),
) -> None:
    """Append the plan to the hash-chained ledger; print the new entry's index and hash (JSON)."""
    try:
        plan = json.loads(result.read_text())
        content = {
            "kind": "allocation_plan",
            "inputs_sha256": plan["basin_sha256"],
            "rule": plan["rule"],
            "outputs": plan,
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "author": author,
        }
        entry = append(JsonlLedgerStore(ledger), content)
    except (OSError, ValueError, KeyError) as exc:
        raise _fail(f"{result}: cannot publish: {exc}") from None
    _echo(
        {
            "index": entry["index"],
            "hash": entry["hash"],
            "prev_hash": entry["prev_hash"],
            "ledger": str(ledger),
        }
    )


@app.command()
def deliveries(
    plan_file: Path = typer.Argument(..., help="plan written by `suvar allocate run --out`"),
    metered_csv: Path = typer.Argument(..., help="CSV with columns user, metered_m3 and optionally date"),
    tolerance: float = typer.Option(0.05, "--tolerance", help="relative band counted as on plan"),
) -> None:
    """Audit metered deliveries against a plan: fairness per class, flags, transfers, per body (JSON).

    With a ``date`` column, only the plan steps whose start dates appear are audited.
    """
    try:
        plan = json.loads(plan_file.read_text())
        meters = pd.read_csv(metered_csv)
        for col in ("user", "metered_m3"):
            if col not in meters.columns:
                raise AuditError(f"{metered_csv}: missing column {col!r} (columns: {list(meters.columns)})")
        dates = (
            sorted(pd.to_datetime(meters["date"]).dt.date.astype(str).unique()) if "date" in meters else None
        )
        audit = delivery_audit(
            plan_totals(plan, dates), meters.groupby("user")["metered_m3"].sum(), tolerance
        )
    except (OSError, ValueError, KeyError) as exc:
        raise _fail(str(exc)) from None
    _echo(
        {
            "users": audit.users.reset_index(names="user").to_dict("records"),
            "classes": audit.classes.reset_index().to_dict("records"),
            "transfers": audit.transfers.to_dict("records"),
            "bodies": audit.bodies.reset_index().to_dict("records"),
        }
    )
