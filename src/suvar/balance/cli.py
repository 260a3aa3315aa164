"""``suvar audit``: run an IWA / AWWA water audit from a JSON file of inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from suvar.balance.audit import water_balance
from suvar.balance.inputs import AuditInputs

app = typer.Typer(help="IWA / AWWA M36 water balance, loss indicators and confidence margins.")


@app.callback()
def audit() -> None:
    """IWA / AWWA M36 water audit (keeps ``run`` a sub-command when this is the only one)."""


class InputFileError(ValueError):
    """An input file that is missing or not a JSON object; the message names the file."""


def read_json_object(path: Path) -> dict[str, Any]:
    """Read a JSON object from ``path``, raising :class:`InputFileError` naming the file and fault."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    except json.JSONDecodeError as err:
        raise InputFileError(
            f"{path}: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from None
    if not isinstance(data, dict):
        raise InputFileError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


@app.command("run")
def run(
    file: Path = typer.Argument(..., help="JSON object of audit inputs (keys in docs/balance.md)"),
    convention: str = typer.Option("iwa", "--convention", "-c", help="iwa | awwa"),
    income_group: str = typer.Option("high", "--income-group", help="high | low_middle (WBI bands)"),
    real_losses_at_retail: bool = typer.Option(
        False, "--real-losses-at-retail", help="Value real losses at retail"
    ),
) -> None:
    """Compute the water balance of FILE and print the full result as JSON."""
    if convention not in ("iwa", "awwa"):
        raise typer.BadParameter(f"--convention must be iwa or awwa, got {convention!r}")
    if income_group not in ("high", "low_middle"):
        raise typer.BadParameter(f"--income-group must be high or low_middle, got {income_group!r}")
    try:
        inputs = AuditInputs.parse(read_json_object(file), source=str(file))
        result = water_balance(
            inputs,
            convention,  # type: ignore[arg-type]
            income_group=income_group,  # type: ignore[arg-type]
            real_losses_at_retail=real_losses_at_retail,
        )
    except ValueError as err:  # AuditInputError, InputFileError, inconsistent volumes
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(json.dumps(result, indent=2))


def _frame_json(frame: Any) -> str:
    return frame.to_json(orient="records", date_format="iso", indent=1, default_handler=str)


@app.command("zone")
def zone(
    zone_id: str = typer.Argument(..., help="zone (DMA) id, or 'all' for every zone of the utility"),
    utility: str = typer.Option(..., "--utility", "-u", help="utility id"),
    start: str = typer.Option(..., "--from", help="first day, e.g. 2026-10-01"),
    end: str = typer.Option(..., "--to", help="day after the last, e.g. 2026-11-01"),
    freq: str = typer.Option("monthly", "--freq", help="daily | monthly"),
    as_json: bool = typer.Option(False, "--json", help="print every field as JSON"),
) -> None:
    """The water balance of a zone from stored telemetry and billing, per day or month."""
    from suvar.balance.zone import zone_balances
    from suvar.store import open_store

    if freq not in ("daily", "monthly"):
        raise typer.BadParameter(f"--freq must be daily or monthly, got {freq!r}")
    try:
        frame = zone_balances(open_store(), utility, None if zone_id == "all" else zone_id, start, end,
                              freq="D" if freq == "daily" else "MS")
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=2) from None
    if as_json:
        typer.echo(_frame_json(frame))
        return
    cols = ["zone_id", "period_start", "system_input_volume_m3", "billed_metered_m3", "real_losses_m3",
            "apparent_losses_m3",
            "nrw_pct_volume", "ili", "band_wbi_current", "inlet_data"]
    typer.echo(frame[cols].round(2).to_string(index=False))


@app.command("refresh")
def refresh(
    utility: str | None = typer.Option(None, "--utility", "-u", help="one utility (default: all)"),
) -> None:
    """Compute and keep every zone's daily and monthly balance for the days new data has reached (the server
    also does this on its schedule, SUVAR_JOBS_INTERVAL_S)."""
    from suvar.balance.refresh import refresh_zone_balances
    from suvar.store import open_store

    report = refresh_zone_balances(open_store(), utility, progress=lambda m: typer.echo(m, err=True))
    typer.echo(json.dumps(report))


@app.command("nightflow")
def nightflow(
    zone_id: str = typer.Argument(..., help="zone (DMA) id"),
    utility: str = typer.Option(..., "--utility", "-u", help="utility id"),
    date: str = typer.Option(..., "--date", help="first local day, e.g. 2026-10-19"),
    days: int = typer.Option(1, "--days", help="number of days"),
    tz: str = typer.Option("UTC", "--tz", help="the zone's local time zone"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Night-flow analysis of a zone: MNF, legitimate night use, NNF, NDF, real losses and BABE split."""
    import pandas as pd

    from suvar.balance.zone import zone_night_flow
    from suvar.store import open_store

    first = pd.Timestamp(date)
    try:
        frame = zone_night_flow(open_store(), utility, zone_id, first, first + pd.Timedelta(days=days), tz=tz)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=2) from None
    frame = frame.reset_index()
    typer.echo(_frame_json(frame) if as_json else frame.round(2).to_string(index=False))


@app.command("report")
def report(
    utility: str = typer.Option(..., "--utility", "-u", help="utility id"),
    start: str = typer.Option(..., "--from", help="first day"),
    end: str = typer.Option(..., "--to", help="day after the last"),
    out: Path = typer.Option(Path("audit-report.html"), "--out", "-o", help="HTML file (print it to PDF)"),
    tz: str = typer.Option("UTC", "--tz", help="local time zone for night flow"),
) -> None:
    """Write the HTML audit report of a utility and its zones: balance boxes to scale, indicators, night flow."""
    from suvar.balance.zone import utility_report
    from suvar.store import open_store

    try:
        html = utility_report(open_store(), utility, start, end, tz=tz)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=2) from None
    out.write_text(html, encoding="utf-8")
    typer.echo(f"wrote {out}")
