"""The ``suvar`` command line: one sub-command group per concern, thin over the modules.

Every command finds the store through ``SUVAR_DB`` (default ``var/suvar.duckdb``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from suvar.agri.cli import app as agri_app
from suvar.alarms.cli import app as alarms_app
from suvar.allocation.cli import app as allocate_app
from suvar.allocation.cli import deliveries
from suvar.balance.cli import app as audit_app
from suvar.balance.cli import nightflow
from suvar.config import load_settings
from suvar.lake.cli import cluster_app, export_app
from suvar.leaks.cli import app as leaks_app
from suvar.ledger.cli import app as ledger_app
from suvar.projects.cli import app as projects_app

app = typer.Typer(help="Suvar: the water control platform.", no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="The store: schema version and migrations.", no_args_is_help=True)
network_app = typer.Typer(help="Networks (EPANET), zones and GeoJSON.", no_args_is_help=True)
sensors_app = typer.Typer(help="Sensors and customer meters.", no_args_is_help=True)
ingest_app = typer.Typer(help="Telemetry ingestion from files and MQTT.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Rejected telemetry, kept with its reason.", no_args_is_help=True)
query_app = typer.Typer(help="Time series per sensor and aggregates per zone.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
user_app = typer.Typer(help="Users: roles, scopes, passwords and TOTP.", no_args_is_help=True)
demo_app = typer.Typer(help="The deterministic demo country.", no_args_is_help=True)
audit_log_app = typer.Typer(help="The tamper-evident audit log of every write.", no_args_is_help=True)
for sub, name in [(db_app, "db"), (network_app, "network"), (sensors_app, "sensors"), (ingest_app, "ingest"),
                  (quarantine_app, "quarantine"), (query_app, "query"), (token_app, "token"), (demo_app, "demo"),
                  (audit_app, "audit"), (projects_app, "projects"), (agri_app, "agri"),
                  (leaks_app, "leaks"), (allocate_app, "allocate"), (ledger_app, "ledger"),
                  (alarms_app, "alarms"), (audit_log_app, "audit-log"), (user_app, "user")]:
    app.add_typer(sub, name=name)
app.add_typer(export_app, name="export")
app.add_typer(cluster_app, name="cluster")
app.command("nightflow", help="Night-flow analysis of a zone (same as `suvar audit nightflow`).")(nightflow)
audit_app.command("deliveries", help="Audit metered deliveries against a published allocation plan (same as "
                  "`suvar allocate deliveries`).")(deliveries)


def _store():  # noqa: ANN202 - imported lazily so that --help stays fast
    import duckdb

    from suvar.store import open_store

    try:
        return open_store()
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        _fail(f"{load_settings().db} is in use by another process (suvar serve?): stop it first, or run this "
              "against the server's API")


def _who() -> str:
    from suvar.security.audit_log import local_user

    return local_user()


def _audit(store, action: str, what: dict) -> None:  # noqa: ANN001
    from suvar.security.audit_log import record

    record(store, _who(), action, what, "cli")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _print_frame(frame, as_json: bool) -> None:  # noqa: ANN001
    if as_json:
        typer.echo(frame.to_json(orient="records", date_format="iso", indent=1))
    else:
        typer.echo(frame.to_string(index=False) if len(frame) else "(none)")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="listen address (SUVAR_HOST, default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (SUVAR_PORT, default 8000)")] = None,
    mqtt: Annotated[str | None, typer.Option(help="also ingest from this broker, e.g. mqtt://127.0.0.1:1883")] = None,
    topic: Annotated[str, typer.Option(help="MQTT topic filter")] = "suvar/+/readings",
) -> None:
    """Serve the API and the panel."""
    import threading

    import uvicorn

    from suvar.api.app import create_app
    from suvar.jobs import start_scheduler
    from suvar.security.users import demo_login_path
    from suvar.telemetry.mqtt import MqttIngest

    settings = load_settings()
    store = _store()
    login = demo_login_path(store)
    if login is not None and login.exists():
        typer.echo(f"demo login (user and password): {login}", err=True)
    listen = host or settings.host
    if listen not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"warning: listening on {listen}, beyond this machine; put a TLS-terminating proxy in front "
                   "(SECURITY.md)", err=True)
    start_scheduler(store, settings.jobs_interval_s)
    if mqtt:
        ingest = MqttIngest(store, mqtt, topic, settings=settings)
        threading.Thread(target=ingest.run, daemon=True, name="mqtt-ingest").start()
    uvicorn.run(create_app(store, settings), host=listen, port=port or settings.port,
                log_level="info")


@db_app.command("migrate")
def db_migrate() -> None:
    """Create the store or upgrade it to the latest schema."""
    store = _store()
    typer.echo(f"{store.path}: schema version {store.schema_version()}")


@network_app.command("import")
def network_import(
    file: Path,
    utility: Annotated[str, typer.Option(help="utility id")],
    name: Annotated[str | None, typer.Option(help="utility display name")] = None,
    kind: Annotated[str | None, typer.Option(help="city, town ...")] = None,
    zones: Annotated[Path | None, typer.Option(help="CSV node_id,zone")] = None,
    boundary: Annotated[Path | None, typer.Option(help="CSV zone,link_id,role (role inlet|outlet)")] = None,
    model_start: Annotated[str | None, typer.Option(
        "--model-start", help="when (UTC) the model's demand patterns begin, e.g. 2026-10-01: a logger survey runs "
                              "the model for the days it surveys")] = None,
) -> None:
    """Import an EPANET .inp network, and optionally its zones (DMAs)."""
    import pandas as pd

    from suvar.network.epanet import NetworkError, import_network
    from suvar.network.zones import ZoneError, apply_zones

    store = _store()
    try:
        start = None if model_start is None else pd.Timestamp(model_start)
    except ValueError:
        _fail(f"--model-start: expected a date or time such as 2026-10-01, got {model_start!r}")
    try:
        summary = import_network(store, file, utility, name=name, kind=kind, model_start=start)
        if zones or boundary:
            summary["zones"] = apply_zones(store, utility, node_file=zones, boundary_file=boundary)
    except (NetworkError, ZoneError) as exc:
        _fail(str(exc))
    _audit(store, "network_import", {"file": str(file), **summary})
    typer.echo(json.dumps(summary, indent=1))


@network_app.command("geojson")
def network_geojson_cmd(utility: str, out: Annotated[Path | None, typer.Option(help="file (default stdout)")] = None
                        ) -> None:
    """GeoJSON of a utility's nodes, pipes, zone outlines and sensors."""
    from suvar.network.geojson import network_geojson

    store = _store()
    nodes = store.nodes(utility)
    if nodes.empty:
        _fail(f"no network for utility {utility!r}")
    text = json.dumps(network_geojson(nodes, store.links(utility), store.sensors(utility)))
    if out:
        out.write_text(text)
    else:
        typer.echo(text)


@sensors_app.command("import")
def sensors_import(file: Path) -> None:
    """Import sensors and meters from CSV (see suvar.network.registry for the columns)."""
    from suvar.network.registry import RegistryError, import_sensors

    store = _store()
    try:
        n = import_sensors(store, file)
    except RegistryError as exc:
        _fail(str(exc))
    _audit(store, "sensors_import", {"file": str(file), "sensors": n})
    typer.echo(f"{n} sensors imported")


@sensors_app.command("list")
def sensors_list(utility: str | None = None, zone: str | None = None, as_json: Annotated[bool, typer.Option(
        "--json")] = False) -> None:
    """List registered sensors."""
    _print_frame(_store().sensors(utility, zone), as_json)


@sensors_app.command("faults")
def sensors_faults(
    utility: Annotated[str, typer.Option("--utility", "-u", help="utility id")],
    start: Annotated[str | None, typer.Option("--from", help="first day")] = None,
    end: Annotated[str | None, typer.Option("--to", help="day after the last")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Find gaps and stuck values in the utility's SCADA telemetry and quarantined input; raise alarms."""
    from suvar.telemetry.quality import scan_data_quality

    _print_frame(scan_data_quality(_store(), utility, start, end), as_json)


@ingest_app.command("file")
def ingest_file_cmd(
    path: Path,
    fmt: Annotated[str, typer.Option("--format", help="long (CSV/Parquet) or battledim")] = "long",
    utility: Annotated[str | None, typer.Option(help="utility whose sensors a BattLeDIM file names")] = None,
    tz: Annotated[str, typer.Option(help="time zone of BattLeDIM timestamps")] = "UTC",
    as_json: Annotated[bool, typer.Option("--json", help="print the counts as JSON")] = False,
) -> None:
    """Ingest a telemetry file; prints accepted, duplicate, conflict and quarantined counts."""
    from suvar.telemetry.ingest import ingest_file
    from suvar.telemetry.readers import FormatError

    try:
        counts = ingest_file(_store(), path, fmt=fmt, utility_id=utility, tz=tz, who=_who())
    except FormatError as exc:
        _fail(str(exc))
    result = counts.as_dict()
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(f"accepted {result['accepted']}, duplicates {result['duplicates']}, conflicts {result['conflicts']}")
    for reason, n in result["quarantined"].items():
        typer.echo(f"quarantined {reason}: {n}")


@ingest_app.command("mqtt")
def ingest_mqtt(
    broker: Annotated[str, typer.Option(help="mqtt://HOST:PORT")] = "mqtt://127.0.0.1:1883",
    topic: Annotated[str, typer.Option(help="topic filter")] = "suvar/+/readings",
    client_id: Annotated[str, typer.Option(help="persistent session id")] = "suvar-ingest",
    idle_exit: Annotated[float | None, typer.Option(help="stop after this many idle seconds")] = None,
) -> None:
    """Subscribe at QoS 1 and ingest; each message is acknowledged after its readings are committed."""
    from suvar.telemetry.mqtt import MqttIngest

    def report(counts) -> None:  # noqa: ANN001
        typer.echo(json.dumps(counts.as_dict()), err=True)

    ingest = MqttIngest(_store(), broker, topic, client_id=client_id, on_batch=report)
    total = ingest.run(idle_exit_s=idle_exit)
    typer.echo(json.dumps(total.as_dict()))


@quarantine_app.command("list")
def quarantine_list(
    reason: str | None = None, source: str | None = None, limit: int = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show quarantined rows, newest batch first."""
    _print_frame(_store().quarantine(reason=reason, source=source, limit=limit), as_json)


@query_app.command("series")
def query_series(
    sensor: str, start: str | None = None, end: str | None = None,
    step: Annotated[str | None, typer.Option(help="e.g. 15min, 1h, 1d")] = None,
    agg: Annotated[str, typer.Option(help="mean, min, max, sum, last, first or count")] = "mean",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A sensor's readings (canonical units, UTC), optionally resampled."""
    from suvar.api.app import parse_step

    try:
        frame = _store().series([sensor], start, end, parse_step(step), agg)
    except Exception as exc:  # noqa: BLE001 - bad step or aggregate
        _fail(getattr(exc, "detail", str(exc)))
    _print_frame(frame, as_json)


@query_app.command("zone")
def query_zone(
    utility: str, zone: str, kind: str = "pressure", start: str | None = None, end: str | None = None,
    step: str = "15min", agg: str = "mean", as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """An aggregate over all of a zone's sensors of one kind, per step."""
    from suvar.api.app import parse_step

    try:
        frame = _store().zone_series(utility, zone, kind, start, end, parse_step(step) or 900, agg)
    except Exception as exc:  # noqa: BLE001
        _fail(getattr(exc, "detail", str(exc)))
    _print_frame(frame, as_json)


@token_app.command("create")
def token_create(
    name: str,
    scopes: Annotated[str, typer.Option(help="comma-separated: ingest, read, operate, allocate, audit, admin")
                      ] = "ingest",
    days: Annotated[int, typer.Option(help="validity in days")] = 365,
    scope: Annotated[str, typer.Option(help="country, utility:<id> or basin:<name>")] = "country",
    device: Annotated[str | None, typer.Option(help="bind to a field device: it may ingest only the sensors "
                                               "bound to it (suvar sensors device)")] = None,
) -> None:
    """Create an API token; its secret is printed once."""
    from suvar.security.tokens import create_token

    store = _store()
    wanted = [s.strip() for s in scopes.split(",") if s.strip()]
    try:
        typer.echo(create_token(store, name, wanted, days, scope=scope, device_id=device))
    except ValueError as exc:
        _fail(str(exc))
    _audit(store, "token_create", {"name": name, "scopes": wanted, "days": days, "scope": scope,
                                   "device": device})  # never the secret


@sensors_app.command("device")
def sensors_device(
    device: Annotated[str, typer.Argument(help="device id (its MQTT topic is suvar/DEVICE/readings)")],
    sensors: Annotated[list[str], typer.Argument(help="sensor ids the device reports")],
    unbind: Annotated[bool, typer.Option("--unbind", help="unbind these sensors from any device")] = False,
) -> None:
    """Bind sensors to the field device that reports them: its device token and MQTT topic write only these."""
    store = _store()
    found = store.set_sensor_device(sensors, None if unbind else device)
    if found < len(set(sensors)):
        _fail(f"{len(set(sensors)) - found} of the sensors are not registered")
    _audit(store, "sensors_device", {"device": None if unbind else device, "sensors": sorted(set(sensors))})
    typer.echo(f"{found} sensors {'unbound' if unbind else f'bound to {device}'}")


@user_app.command("create")
def user_create(
    username: str,
    role: Annotated[str, typer.Option(help="admin, operator, analyst, commission, auditor or viewer")],
    scope: Annotated[str, typer.Option(help="country, utility:<id> or basin:<name>")] = "country",
    locale: Annotated[str, typer.Option(help="panel language, e.g. en, fr, ar")] = "en",
    totp: Annotated[bool, typer.Option("--totp", help="require a TOTP code (always for admin and commission)")
                    ] = False,
    oidc_only: Annotated[bool, typer.Option("--oidc-only", help="no password: logs in through OIDC only")] = False,
) -> None:
    """Create a user. The password is asked for twice (or read from SUVAR_NEW_PASSWORD); when TOTP applies, the
    provisioning URI (otpauth://...) is printed once for the user's authenticator app."""
    import os

    from suvar.security.users import create_user

    password = None
    if not oidc_only:
        password = os.environ.get("SUVAR_NEW_PASSWORD") or typer.prompt(
            f"password for {username}", hide_input=True, confirmation_prompt=True)
    store = _store()
    try:
        made = create_user(store, username, password, role, scope, locale, totp=totp or None)
    except ValueError as exc:
        _fail(str(exc))
    _audit(store, "user_create", {"username": username, "role": role, "scope": scope, "locale": locale,
                                  "totp": made.totp_uri is not None, "oidc_only": oidc_only})
    typer.echo(f"user {username} created: role {role}, scope {scope}")
    if made.totp_uri:
        typer.echo(f"TOTP provisioning URI (add it to an authenticator app; shown once):\n{made.totp_uri}")


@user_app.command("list")
def user_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Users with their role, scope, locale, TOTP and status (never a secret)."""
    _print_frame(_store().users(), as_json)


@user_app.command("disable")
def user_disable(username: str, enable: Annotated[bool, typer.Option("--enable", help="enable instead")] = False
                 ) -> None:
    """Disable a user (their sessions stop at once) or enable them again."""
    store = _store()
    if not store.update_user(username, disabled=not enable):
        _fail(f"no user {username!r}")
    if not enable:
        store.delete_sessions(username=username)
    _audit(store, "user_enable" if enable else "user_disable", {"username": username})
    typer.echo(f"user {username} {'enabled' if enable else 'disabled'}")


@audit_log_app.command("verify")
def audit_log_verify(
    head: Annotated[str | None, typer.Option(help="a head hash kept elsewhere: also catches a cut tail")] = None,
    checkpoint: Annotated[Path | None, typer.Option(help="a signed checkpoint: the log must still extend it")
                          ] = None,
    public_key: Annotated[Path | None, typer.Option(help="the checkpoint signer's public key (PEM)")] = None,
) -> None:
    """Check every audit-log entry's hash and link (and, with --checkpoint, that the log still extends a signed
    checkpoint); exit 1 on any edit, deletion, reordering, cut tail or rewrite."""
    from suvar.ledger import DatabaseLedgerStore, verify
    from suvar.security.audit_log import AUDIT_LEDGER
    from suvar.security.checkpoints import CheckpointError, load_public, read_checkpoint, verify_checkpoint

    if checkpoint is not None:
        if public_key is None:
            _fail("--checkpoint needs --public-key")
        try:
            report = verify_checkpoint(_store(), read_checkpoint(checkpoint), load_public(public_key))
        except CheckpointError as exc:
            _fail(str(exc))
    else:
        report = verify(DatabaseLedgerStore(_store(), AUDIT_LEDGER), expected_head=head)
    typer.echo(json.dumps(report, indent=1))
    if not report["ok"]:
        raise typer.Exit(1)


@audit_log_app.command("keygen")
def audit_log_keygen(
    out: Annotated[Path, typer.Option(help="private key file to write (PEM, mode 0600); the public key goes to "
                                      "OUT.pub")],
) -> None:
    """Make an Ed25519 key pair for signing audit-log checkpoints; keep the private key off the server."""
    from suvar.security.checkpoints import CheckpointError, generate_key

    try:
        private, public = generate_key(out)
    except CheckpointError as exc:
        _fail(str(exc))
    typer.echo(f"private key {private} (keep it secret), public key {public}")


@audit_log_app.command("checkpoint")
def audit_log_checkpoint(
    key: Annotated[Path, typer.Option(help="Ed25519 private key (PEM) from `suvar audit-log keygen`")],
    out: Annotated[Path, typer.Option(help="checkpoint file to write (JSON); export it for safekeeping")],
) -> None:
    """Sign the audit log's current length and head hash (Ed25519) into a checkpoint file."""
    from suvar.security.checkpoints import CheckpointError, load_private, make_checkpoint

    store = _store()
    try:
        signed = make_checkpoint(store, load_private(key))
    except CheckpointError as exc:
        _fail(str(exc))
    if out.exists():
        _fail(f"{out}: already exists")
    out.write_text(json.dumps(signed, indent=1) + "\n")
    _audit(store, "audit_checkpoint", {"length": signed["length"], "head": signed["head"], "key_id": signed["key_id"],
                                       "file": str(out)})
    typer.echo(f"checkpoint of {signed['length']} entries, head {signed['head']}, written to {out}")


@audit_log_app.command("list")
def audit_log_list(limit: int = 20) -> None:
    """The latest audit-log entries (who, action, what, where, when)."""
    from suvar.ledger import DatabaseLedgerStore
    from suvar.security.audit_log import AUDIT_LEDGER

    entries = list(DatabaseLedgerStore(_store(), AUDIT_LEDGER).entries())[-limit:]
    for e in entries:
        c = e["content"]
        typer.echo(f"{e['index']:>6} {c['at']} {c['who']:<24} {c['action']:<20} {json.dumps(c['what'])[:80]}")


@app.command()
def backup(path: Path) -> None:
    """Write a consistent copy of the whole store to a new DuckDB file."""
    store = _store()
    try:
        store.backup(path)
    except FileExistsError as exc:
        _fail(str(exc))
    _audit(store, "backup", {"path": str(path)})
    typer.echo(f"backed up {store.path} to {path}")


@app.command()
def restore(
    path: Path, force: Annotated[bool, typer.Option("--force", help="replace an existing store")] = False,
) -> None:
    """Make a backup the store (SUVAR_DB); refuses to replace an existing store without --force."""
    import shutil

    from suvar.store import DuckStore, PostgresStore, is_postgres_url

    db = load_settings().db
    if not path.is_file():
        _fail(f"{path}: no such backup file")
    if is_postgres_url(db):  # the DuckDB backup is loaded into the PostgreSQL database
        pg = PostgresStore(db)
        try:
            pg.restore(path, force=force)
        except FileExistsError as exc:
            _fail(str(exc))
        _audit(pg, "restore", {"from": str(path)})
        typer.echo(f"restored {db} from {path} (schema version {pg.schema_version()})")
        return
    target = Path(db)
    if target.exists() and not force:
        _fail(f"{target} exists; use --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Check and upgrade a copy beside the store first; the store is replaced only by a good one, atomically, and
    # the replaced store is kept as <store>.before-restore.
    staged = target.with_name(target.name + ".restoring")
    staged.unlink(missing_ok=True)
    shutil.copyfile(path, staged)
    try:
        DuckStore(staged).close()  # opens, checks and upgrades an older backup
    except Exception as exc:  # noqa: BLE001 - whatever the file is, it is not a Suvar store
        staged.unlink(missing_ok=True)
        _fail(f"{path}: not a Suvar backup ({str(exc).splitlines()[0]}); the store is unchanged")
    if target.exists():
        os.replace(target, target.with_name(target.name + ".before-restore"))
    Path(f"{target}.wal").unlink(missing_ok=True)
    os.replace(staged, target)
    store = DuckStore(target)
    _audit(store, "restore", {"from": str(path)})
    typer.echo(f"restored {target} from {path} (schema version {store.schema_version()})")


@demo_app.command("build")
def demo_build(
    if_absent: Annotated[bool, typer.Option("--if-absent", help="do nothing when the store has data")] = False,
    days: Annotated[int, typer.Option(help="simulated days")] = 28,
) -> None:
    """Build the demo country into the store (deterministic; shows progress)."""
    from suvar.demo.build import build_demo

    store = _store()
    if if_absent and len(store.utilities()):
        typer.echo(f"{store.path} already holds data; keeping it")
        return
    summary = build_demo(store, days=days, progress=lambda msg: typer.echo(msg, err=True),
                         cache_dir=load_settings().cache_dir or None)
    typer.echo(json.dumps(summary, indent=1, default=str))


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())
