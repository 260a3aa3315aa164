"""``suvar ledger``: verify the hash chain of a ledger file."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .chain import JsonlLedgerStore, LedgerError, verify

app = typer.Typer(help="Tamper-evident ledger of published records.", no_args_is_help=True)


@app.callback()
def _main() -> None:
    """Tamper-evident ledger of published records."""


@app.command("verify")
def verify_cmd(
    ledger: Path = typer.Option(..., "--ledger", help="ledger file (JSON Lines)"),
    head: str | None = typer.Option(
        None, "--head", help="expected hash of the last entry (detects truncation)"
    ),
) -> None:
    """Check every entry's hash and chain link; print a JSON report, exit 1 if tampered."""
    if not ledger.exists():
        typer.echo(f"error: {ledger}: no such ledger file", err=True)
        raise typer.Exit(2)
    try:
        report = verify(JsonlLedgerStore(ledger), expected_head=head)
    except LedgerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(report, indent=2))
    if not report["ok"]:
        raise typer.Exit(1)
