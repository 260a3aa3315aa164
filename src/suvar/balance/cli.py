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
