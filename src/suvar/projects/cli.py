"""``suvar projects``: appraise and rank water-loss reduction projects from a JSON file."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from suvar.balance.cli import read_json_object
from suvar.projects.ranking import Portfolio, rank_projects

app = typer.Typer(help="Economic appraisal and ranking of water-loss reduction projects.")

#: Table columns: result key, header, alignment + width, number format.
_COLUMNS = (
    ("rank", "#", ">3", ""),
    ("name", "project", "<28", ""),
    ("kind", "kind", "<22", ""),
    ("loss_type", "saves", "<8", ""),
    ("eac_per_year", "EAC/yr", ">13", ",.0f"),
    ("benefit_per_year", "benefit/yr", ">13", ",.0f"),
    ("bc_ratio", "B/C", ">6", ".2f"),
    ("npv", "NPV", ">14", ",.0f"),
    ("cost_per_m3_saved", "cost/m3", ">8", ".3f"),
)


@app.callback()
def projects() -> None:
    """Water-loss reduction projects (keeps ``rank`` a sub-command when this is the only one)."""


@app.command("rank")
def rank(
    file: Path = typer.Argument(..., help="JSON portfolio: discount_rate, unit costs, projects[]"),
    metric: str = typer.Option("bc_ratio", "--metric", "-m", help="bc_ratio | npv | cost_per_m3_saved"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table"),
) -> None:
    """Rank the projects of FILE, best first, by METRIC (default: benefit/cost ratio)."""
    if metric not in ("bc_ratio", "npv", "cost_per_m3_saved"):
        raise typer.BadParameter(f"--metric must be bc_ratio, npv or cost_per_m3_saved, got {metric!r}")
    try:
        rows = rank_projects(Portfolio.parse(read_json_object(file), source=str(file)), metric)  # type: ignore[arg-type]
    except ValueError as err:  # ProjectInputError, InputFileError
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=2) from None
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(f"ranked by {metric}")
    typer.echo("  ".join(format(header, width) for _, header, width, _ in _COLUMNS))
    for row in rows:
        typer.echo("  ".join(format(row[key], width + fmt) for key, _, width, fmt in _COLUMNS))
