"""``suvar alarms``: list, acknowledge and close alarms."""

from __future__ import annotations

import json
from typing import Annotated

import typer

app = typer.Typer(help="Alarms: leaks, sensor faults, drought and data quality.", no_args_is_help=True)


@app.command("list")
def list_alarms(
    status: Annotated[str | None, typer.Option(help="open, acknowledged or closed")] = None,
    kind: Annotated[str | None, typer.Option(help="leak, sensor_fault, drought or data_quality")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List alarms, newest first."""
    from suvar.store import open_store

    frame = open_store().alarms(status=status, kind=kind)
    if as_json:
        typer.echo(frame.to_json(orient="records", date_format="iso", indent=1))
    else:
        cols = ["alarm_id", "kind", "severity", "scope", "zone_id", "start_ts", "status", "title"]
        typer.echo(frame[cols].to_string(index=False) if len(frame) else "(none)")


def _set(alarm_id: int, status: str, who: str) -> None:
    from suvar.security.audit_log import record
    from suvar.store import open_store

    store = open_store()
    if not store.set_alarm_status(alarm_id, status, who):
        typer.echo(f"error: no alarm {alarm_id}", err=True)
        raise typer.Exit(2)
    record(store, who, f"alarm_{status}", {"alarm_id": alarm_id}, "cli")
    typer.echo(json.dumps({"alarm_id": alarm_id, "status": status, "by": who}))


@app.command("ack")
def ack(alarm_id: int, by: Annotated[str, typer.Option("--by", help="who acknowledges")]) -> None:
    """Acknowledge an alarm."""
    _set(alarm_id, "acknowledged", by)


@app.command("close")
def close(alarm_id: int, by: Annotated[str, typer.Option("--by", help="who closes")]) -> None:
    """Close an alarm."""
    _set(alarm_id, "closed", by)
