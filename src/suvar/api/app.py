"""The FastAPI application: ``create_app()`` builds it over a store (``SUVAR_DB`` by default)."""

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from suvar.allocation.audit import delivery_audit, plan_totals
from suvar.allocation.explain import explain, plan_record
from suvar.allocation.model import basin_sha256, parse_basin
from suvar.allocation.report import allocation_report_html
from suvar.allocation.scenario import compare_system, compare_users, run_scenarios
from suvar.allocation.solve import InfeasibleBasinError
from suvar.balance.audit import water_balance
from suvar.balance.inputs import AuditInputs
from suvar.balance.refresh import stored_balances
from suvar.balance.zone import utility_report, zone_balances, zone_night_flow
from suvar.config import Settings, load_settings
from suvar.ledger import DatabaseLedgerStore
from suvar.ledger import append as ledger_append
from suvar.ledger import verify as ledger_check
from suvar.network.geojson import network_geojson
from suvar.projects.ranking import Portfolio, rank_projects
from suvar.security.audit_log import record
from suvar.security.authz import Denied, authorize, basins, identify, writable_sensors_problem
from suvar.security.oidc import OidcClient, OidcError, check_second_factor
from suvar.security.ratelimit import RateLimiter
from suvar.security.roles import Identity, rule_for
from suvar.security.sessions import COOKIE, end_session, start_session
from suvar.security.users import LoginError, authenticate
from suvar.store import Store, open_store
from suvar.store.duck import AGGREGATES
from suvar.telemetry.ingest import ingest_batch, sensor_index
from suvar.telemetry.readers import FormatError, read_records

PANEL = Path(__file__).resolve().parent.parent / "panel"


class Reading(BaseModel):
    sensor_id: str
    timestamp: str = Field(description="ISO 8601 with UTC offset, e.g. 2024-05-01T00:15:00Z")
    value: float
    unit: str | None = Field(None, description="defaults to the sensor's registered unit")


class ReadingsBatch(BaseModel):
    readings: list[Reading]


class Login(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=128)
    totp: str | None = Field(None, max_length=10, description="the current TOTP code, when the user has TOTP")


class Me(BaseModel):
    username: str
    role: str | None = Field(description="the user's role; null for an API token")
    scope: str
    locale: str


OIDC_STATE_COOKIE = "suvar_oidc_state"
#: Login attempts allowed per client address per minute (OWASP ASVS 4.0.3 V2.2.1, anti-automation).
LOGIN_ATTEMPTS_PER_MIN = 30


class IngestResult(BaseModel):
    accepted: int
    duplicates: int
    conflicts: int
    quarantined: dict[str, int]


def parse_step(step: str | None) -> int | None:
    """'15min', '1h', '1d' or '300s' as seconds."""
    if step in (None, "", "raw"):
        return None
    try:
        seconds = pd.to_timedelta(step).total_seconds()
    except (ValueError, TypeError):
        seconds = float("nan")
    if not seconds or math.isnan(seconds) or seconds < 1:
        raise HTTPException(422, f"step must be a duration such as 15min, 1h or 1d, not {step!r}")
    return int(seconds)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = json.loads(df.to_json(orient="records", date_format="iso", date_unit="s"))
    return out


def create_app(store: Store | None = None, settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    app = FastAPI(title="Suvar", version="0.1.0", description="Water control platform API")
    state: dict[str, Any] = {"store": store}

    def get_store() -> Store:
        if state["store"] is None:
            state["store"] = open_store(settings.db)
        return state["store"]

    StoreDep = Annotated[Store, Depends(get_store)]
    limiter = RateLimiter(settings.rate_limit_per_min)
    login_limiter = RateLimiter(LOGIN_ATTEMPTS_PER_MIN)

    def _route(scope: Scope) -> tuple[APIRoute | None, dict[str, str]]:
        for route in app.router.routes:
            match, child = route.matches(scope)
            if match == Match.FULL:
                return (route if isinstance(route, APIRoute) else None), child.get("path_params", {})
        return None, {}

    def _check(request: Request) -> Identity | None:
        """Authenticate and authorise a request by its route's rule (deny by default); the identity or None."""
        route, params = _route(request.scope)
        if route is None:  # static files, the OpenAPI schema and docs, or no route (404/405 follow)
            return None
        rule = rule_for(request.method, route.path)
        if rule is None:
            raise Denied(403, f"no access rule for {request.method} {route.path}: denied by default")
        store = get_store()
        try:
            identity = identify(store, request.headers.get("authorization"), request.cookies.get(COOKIE))
        except Denied:
            if rule.scope == "public":
                return None
            raise
        if rule.scope == "public":
            return identity
        authorize(store, identity, rule, params)
        if identity.kind == "user" and request.method not in ("GET", "HEAD", "OPTIONS") and not _same_origin(request):
            raise Denied(403, "cross-site request refused")
        wait = limiter.take(identity.key)
        if wait:
            raise Denied(429, f"rate limit of {settings.rate_limit_per_min:g} requests per minute exceeded",
                         {"Retry-After": RateLimiter.retry_after(wait)})
        return identity

    @app.middleware("http")
    async def access_control(request: Request, call_next):  # type: ignore[no-untyped-def]
        try:
            request.state.identity = await run_in_threadpool(_check, request)
        except Denied as exc:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)
        return await call_next(request)

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    def me_of(request: Request) -> Identity:
        identity = getattr(request.state, "identity", None)
        if identity is None:  # unreachable behind access_control; kept so that a handler never runs anonymous
            raise HTTPException(401, "not authenticated")
        return identity

    Who = Annotated[Identity, Depends(me_of)]

    @app.get("/api/v1/health")
    def health(request: Request, store: StoreDep) -> dict[str, Any]:
        """Liveness and schema version (public); the reading count too for a caller with the read right."""
        out: dict[str, Any] = {"status": "ok", "schema_version": store.schema_version()}
        identity = getattr(request.state, "identity", None)
        if identity is not None and identity.can("read"):
            out["readings"] = store.reading_count()
        return out

    @app.post("/api/v1/login", response_model=Me, responses={401: {"description": "refused"},
                                                            429: {"description": "too many attempts"}})
    def login(body: Login, request: Request, response: Response, store: StoreDep) -> dict[str, Any]:
        """Log in with a password (and the TOTP code where the user has one): sets the HttpOnly, SameSite=Strict
        ``suvar_session`` cookie. Every refusal looks the same; each attempt goes to the audit log."""
        if not _same_origin(request):
            raise HTTPException(403, "cross-site request refused")
        where = _client(request)
        wait = login_limiter.take(f"login:{request.client.host if request.client else '?'}")
        if wait:
            raise HTTPException(429, "too many login attempts", headers={"Retry-After": RateLimiter.retry_after(wait)})
        try:
            identity = authenticate(store, body.username, body.password, body.totp)
        except LoginError as exc:
            record(store, body.username, "login_failed", {"method": "password", "reason": exc.reason}, where)
            raise HTTPException(401, str(exc)) from None
        session_id = start_session(store, identity.name, settings.session_ttl_s, where)
        record(store, identity.name, "login", {"method": "password"}, where)
        _set_session_cookie(response, request, session_id, settings.session_ttl_s)
        return identity.public()

    @app.post("/api/v1/logout", status_code=204, response_class=Response)
    def logout(request: Request, store: StoreDep) -> Response:
        """End this browser's session (if any) and clear its cookie."""
        response = Response(status_code=204)
        if end_session(store, request.cookies.get(COOKIE)):
            identity = getattr(request.state, "identity", None)
            record(store, identity.name if identity else "?", "logout", {}, _client(request))
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    oidc = (OidcClient(settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret,
                       settings.oidc_username_claim) if settings.oidc_issuer else None)

    def _oidc() -> OidcClient:
        if oidc is None:
            raise HTTPException(404, "OIDC login is not configured (SUVAR_OIDC_ISSUER)")
        return oidc

    @app.get("/api/v1/oidc/login", status_code=303, response_class=RedirectResponse)
    def oidc_login(request: Request) -> Response:
        """Start an OIDC login: redirect to the issuer (authorization code flow with PKCE and a nonce)."""
        client = _oidc()
        redirect_uri = settings.oidc_redirect_uri or str(request.url_for("oidc_callback"))
        try:
            state, url = client.start(redirect_uri)
        except OidcError as exc:
            raise HTTPException(502, f"OIDC issuer unavailable: {exc}") from None
        response = RedirectResponse(url, status_code=303)
        response.set_cookie(OIDC_STATE_COOKIE, state, max_age=600, path="/api/v1/oidc", httponly=True,
                            samesite="lax", secure=request.url.scheme == "https")
        return response

    @app.get("/api/v1/oidc/callback", name="oidc_callback", response_class=HTMLResponse)
    def oidc_callback(request: Request, store: StoreDep, code: str | None = None, state: str | None = None
                      ) -> Response:
        """Finish an OIDC login: validate the ID token, log the local user in (session cookie), go to the panel."""
        client = _oidc()
        where = _client(request)
        username = "oidc:?"
        try:
            claims = client.finish(state, request.cookies.get(OIDC_STATE_COOKIE), code)
            username = client.username(claims)
            user = store.user(username)
            if user is None or user["disabled"]:
                raise OidcError(f"no enabled local user {username!r}")
            check_second_factor(claims, user["role"])
        except OidcError as exc:
            record(store, username, "login_failed", {"method": "oidc", "reason": str(exc)}, where)
            raise HTTPException(401, "OIDC login refused") from None
        session_id = start_session(store, username, settings.session_ttl_s, where)
        record(store, username, "login", {"method": "oidc", "issuer": client.issuer}, where)
        # A same-origin step to the panel: a SameSite=Strict cookie is not sent on the redirect chain that the
        # issuer started, so a plain 303 would land on the panel logged out.
        response = HTMLResponse('<!doctype html><meta http-equiv="refresh" content="0;url=/"><a href="/">Suvar</a>')
        _set_session_cookie(response, request, session_id, settings.session_ttl_s)
        response.delete_cookie(OIDC_STATE_COOKIE, path="/api/v1/oidc")
        return response

    @app.get("/api/v1/me", response_model=Me)
    def me(who: Who) -> dict[str, Any]:
        """Who this request is: a user's name, role, scope and locale (a token's name and scope, role null)."""
        return who.public()

    def _utility_filter(store: Store, who: Identity, frame: pd.DataFrame, column: str = "utility_id"
                        ) -> pd.DataFrame:
        if who.country or frame.empty:
            return frame
        utility_basins = basins(store, who)
        return frame[[who.allows_utility(u, utility_basins) for u in frame[column]]]

    @app.get("/api/v1/utilities")
    def utilities(store: StoreDep, who: Who) -> list[dict[str, Any]]:
        return _records(_utility_filter(store, who, store.utilities()))

    @app.get("/api/v1/utilities/{utility_id}/zones")
    def zones(utility_id: str, store: StoreDep) -> list[dict[str, Any]]:
        return _records(store.zones(utility_id))

    @app.get("/api/v1/utilities/{utility_id}/network.geojson")
    def network(utility_id: str, store: StoreDep) -> dict[str, Any]:
        nodes = store.nodes(utility_id)
        if nodes.empty:
            raise HTTPException(404, f"no network for utility {utility_id!r}")
        return network_geojson(nodes, store.links(utility_id), store.sensors(utility_id))

    @app.get("/api/v1/sensors")
    def sensors(store: StoreDep, who: Who, utility: str | None = None, zone: str | None = None
                ) -> list[dict[str, Any]]:
        return _records(_utility_filter(store, who, store.sensors(utility, zone)))

    @app.get("/api/v1/sensors/{sensor_id}/series")
    def sensor_series(
        sensor_id: str, store: StoreDep, start: datetime | None = None, end: datetime | None = None,
        step: str | None = Query(None, description="bucket such as 15min, 1h, 1d; raw readings when absent"),
        agg: str = Query("mean", description=f"one of {', '.join(AGGREGATES)}"),
    ) -> dict[str, Any]:
        if agg not in AGGREGATES:
            raise HTTPException(422, f"agg must be one of {', '.join(AGGREGATES)}")
        known = store.sensors()
        if sensor_id not in set(known["sensor_id"]):
            raise HTTPException(404, f"unknown sensor {sensor_id!r}")
        df = store.series([sensor_id], _naive(start), _naive(end), parse_step(step), agg)
        return {"sensor_id": sensor_id, "step": step, "agg": agg, "points": _records(df.drop(columns="sensor_id"))}

    @app.get("/api/v1/utilities/{utility_id}/zones/{zone_id}/series")
    def zone_series(
        utility_id: str, zone_id: str, store: StoreDep, kind: str = "pressure",
        start: datetime | None = None, end: datetime | None = None, step: str = "15min", agg: str = "mean",
    ) -> dict[str, Any]:
        if agg not in AGGREGATES:
            raise HTTPException(422, f"agg must be one of {', '.join(AGGREGATES)}")
        df = store.zone_series(utility_id, zone_id, kind, _naive(start), _naive(end), parse_step(step) or 900, agg)
        return {"utility_id": utility_id, "zone_id": zone_id, "kind": kind, "step": step, "agg": agg,
                "points": _records(df)}

    @app.get("/api/v1/utilities/{utility_id}/zones/{zone_id}/balance")
    def zone_balance(
        utility_id: str, zone_id: str, store: StoreDep, start: str = Query(..., alias="from"),
        end: str = Query(..., alias="to"), freq: str = Query("monthly", pattern="^(daily|monthly)$"),
    ) -> list[dict[str, Any]]:
        """IWA water balance of a zone per day or month, from stored telemetry and billing."""
        try:
            frame = zone_balances(store, utility_id, zone_id, start, end, freq="D" if freq == "daily" else "MS")
        except ValueError as exc:
            raise HTTPException(404 if "no zone" in str(exc) else 422, str(exc)) from None
        return _records(frame)

    @app.get("/api/v1/utilities/{utility_id}/balances")
    def kept_balances(
        utility_id: str, store: StoreDep, freq: str = Query("daily", pattern="^(daily|monthly)$"),
        zone: str | None = None, start: str | None = Query(None, alias="from"),
        end: str | None = Query(None, alias="to"),
    ) -> list[dict[str, Any]]:
        """The kept daily or monthly balances of every zone (or ``zone``), as refreshed from stored data
        (``suvar audit refresh``, or on the server's schedule); ``complete`` is false for a period still open."""
        bounds = [None if t is None else _naive(_parse_time(t, name)) for t, name in ((start, "from"), (end, "to"))]
        return _records(stored_balances(store, utility_id, zone, freq, *bounds))

    @app.get("/api/v1/utilities/{utility_id}/zones/{zone_id}/nightflow")
    def zone_nightflow(
        utility_id: str, zone_id: str, store: StoreDep, start: str = Query(..., alias="from"),
        end: str = Query(..., alias="to"), tz: str = "UTC",
    ) -> list[dict[str, Any]]:
        """Night-flow analysis of a zone per local day."""
        _check_tz(tz)
        try:
            frame = zone_night_flow(store, utility_id, zone_id, start, end, tz=tz)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        return _records(frame.reset_index().astype({"date": str}))

    @app.get("/api/v1/utilities/{utility_id}/report.html", response_class=HTMLResponse)
    def audit_report(
        utility_id: str, store: StoreDep, start: str = Query(..., alias="from"), end: str = Query(..., alias="to"),
        tz: str = "UTC",
    ) -> str:
        """The HTML water-audit report of a utility and its zones."""
        _check_tz(tz)
        try:
            return utility_report(store, utility_id, start, end, tz=tz)
        except ValueError as exc:
            raise HTTPException(404 if "no utility" in str(exc) else 422, str(exc)) from None

    @app.post("/api/v1/audit")
    def audit_run(
        inputs: dict[str, Any], convention: str = Query("iwa", pattern="^(iwa|awwa)$"),
        income_group: str = Query("high", pattern="^(high|low_middle)$"),
    ) -> dict[str, Any]:
        """The IWA / AWWA water balance of a JSON object of audit inputs (keys in docs/balance.md)."""
        try:
            return water_balance(AuditInputs.parse(inputs, "body"), convention, income_group=income_group)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None

    @app.post("/api/v1/projects/rank")
    def projects_rank(
        portfolio: dict[str, Any], metric: str = Query("bc_ratio", pattern="^(bc_ratio|npv|cost_per_m3_saved)$"),
    ) -> list[dict[str, Any]]:
        """Loss-reduction projects appraised (EAC, NPV, B/C, cost per m³ saved) and ranked, best first."""
        try:
            return rank_projects(Portfolio.parse(portfolio, "body"), metric)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None

    def _allocate(body: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body.get("basin"), dict):
            raise HTTPException(422, "body must hold a 'basin' object (docs/basin-model.md)")
        scenarios = body.get("scenarios") or {"base": 1.0}
        try:
            basin = parse_basin(body["basin"], "basin")
            factors = {str(k): float(v) for k, v in scenarios.items()}
            return run_scenarios(basin, factors)
        except InfeasibleBasinError as exc:
            raise HTTPException(409, str(exc)) from None
        except (ValueError, TypeError, AttributeError) as exc:
            raise HTTPException(422, str(exc)) from None

    @app.post("/api/v1/allocation/compare")
    def allocation_compare(body: dict[str, Any]) -> dict[str, Any]:
        """Allocate a basin (``{"basin": {...}, "scenarios": {"normal": 1.0, "dry": 0.6}}``): per-user coverage
        and system indicators per scenario, and the last scenario's explanation per user and step."""
        results = _allocate(body)
        last = list(results)[-1]
        return {"users": _records(compare_users(results)),
                "system": _records(compare_system(results).reset_index()),
                "explanation": {"scenario": last, "rows": _records(explain(results[last]))}}

    @app.post("/api/v1/allocation/report.html", response_class=HTMLResponse)
    def allocation_report(body: dict[str, Any]) -> str:
        """The HTML allocation report of the same request as ``/allocation/compare``."""
        results = _allocate(body)
        return allocation_report_html(f"Allocation plans, {body['basin'].get('name', 'basin')}", results)

    @app.post("/api/v1/allocation/publish")
    def allocation_publish(body: dict[str, Any], request: Request, store: StoreDep, who: Who) -> dict[str, Any]:
        """Allocate ``basin`` at ``inflow_factor`` and append the plan to the ``allocation`` ledger (inputs hash,
        rule, outputs, time, author, previous hash); needs the ``allocate`` right over the basin."""
        author = who.name
        basin_name = body["basin"].get("name") if isinstance(body.get("basin"), dict) else None
        if not who.allows_basin(basin_name):
            raise HTTPException(403, f"basin {basin_name!r} is outside the scope {who.scope}")
        scenario = str(body.get("scenario", "base"))
        results = _allocate({**body, "scenarios": {scenario: body.get("inflow_factor", 1.0)}})
        plan = plan_record(results[scenario], basin_sha256(parse_basin(body["basin"], "basin")), scenario)
        entry = ledger_append(DatabaseLedgerStore(store, "allocation"), {
            "kind": "allocation_plan", "author": author,
            "published_at": datetime.now(UTC).isoformat(timespec="seconds"), "plan": plan})
        record(store, author, "allocation_publish", {"ledger_index": entry["index"], "hash": entry["hash"],
                                                     "scenario": scenario}, _client(request))
        return {"index": entry["index"], "hash": entry["hash"], "prev_hash": entry["prev_hash"]}

    @app.get("/api/v1/ledger/{ledger}/verify")
    def ledger_verify(ledger: str, store: StoreDep, head: str | None = None) -> dict[str, Any]:
        """Check every entry's hash and link; ``head`` (a hash kept elsewhere) also catches a cut tail. Published
        plans (``allocation``) need the read right; any other ledger (the audit log) the audit right."""
        return ledger_check(DatabaseLedgerStore(store, ledger), expected_head=head)

    @app.get("/api/v1/ledger/{ledger}")
    def ledger_entries(ledger: str, store: StoreDep) -> list[dict[str, Any]]:
        """The entries of a ledger in stored order (rights as for ``verify``)."""
        return list(DatabaseLedgerStore(store, ledger).entries())

    @app.post("/api/v1/allocation/deliveries")
    def allocation_deliveries(body: dict[str, Any], store: StoreDep) -> dict[str, Any]:
        """Audit metered deliveries (``metered_m3``: user -> m³) against the published plan at ledger index
        ``plan_index``: per-user ratios, Gini and Jain per class, and who gained at whose expense."""
        entries = list(DatabaseLedgerStore(store, "allocation").entries())
        index = body.get("plan_index", len(entries) - 1)
        if not isinstance(index, int) or not 0 <= index < len(entries):
            raise HTTPException(404, f"no published plan at index {index!r}")
        try:
            audit = delivery_audit(plan_totals(entries[index]["content"]["plan"]),
                                   pd.Series(body.get("metered_m3") or {}, dtype=float),
                                   float(body.get("tolerance", 0.05)))
        except (ValueError, TypeError) as exc:
            raise HTTPException(422, str(exc)) from None
        return {"users": _records(audit.users.reset_index(names="user")),
                "classes": _records(audit.classes.reset_index()), "transfers": _records(audit.transfers),
                "bodies": _records(audit.bodies.reset_index(names="body"))}

    @app.get("/api/v1/alarms")
    def alarms(
        store: StoreDep, who: Who, status: str | None = None, kind: str | None = None, scope: str | None = None,
    ) -> list[dict[str, Any]]:
        """Alarms (leak, sensor_fault, drought, data_quality) within the caller's scope, newest first."""
        frame = store.alarms(status=status, kind=kind, scope=scope)
        if not who.country and len(frame):
            utility_basins = basins(store, who)
            frame = frame[[who.allows_area(a, utility_basins) for a in frame["scope"]]]
        rows = _records(frame)
        for row in rows:
            row["detail"] = json.loads(row["detail"]) if row.get("detail") else None
        return rows

    @app.post("/api/v1/alarms/{alarm_id}/{action}")
    def alarm_action(alarm_id: int, action: str, request: Request, store: StoreDep, who: Who) -> dict[str, Any]:
        """Acknowledge (``ack``) or ``close`` an alarm; needs the ``operate`` right over the alarm's scope."""
        if action not in ("ack", "close"):
            raise HTTPException(404, "action must be ack or close")
        if not store.set_alarm_status(alarm_id, "acknowledged" if action == "ack" else "closed", who.name):
            raise HTTPException(404, f"no alarm {alarm_id}")
        record(store, who.name, f"alarm_{action}", {"alarm_id": alarm_id}, _client(request))
        return _records(store.alarms().query("alarm_id == @alarm_id"))[0]

    @app.post("/api/v1/readings", response_model=IngestResult, openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": ReadingsBatch.model_json_schema()}}}})
    async def post_readings(request: Request, store: StoreDep, who: Who) -> dict[str, Any]:
        """Ingest a batch of readings: ``ingest`` right; a device token writes only its device's sensors, a
        scoped identity only its utilities' sensors (403 naming them otherwise)."""
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError) as exc:
            raise HTTPException(400, f"body is not JSON: {exc}") from None
        items = body.get("readings") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise HTTPException(422, "body must be an object with a 'readings' list")
        if len(items) > settings.max_batch:
            raise HTTPException(413, f"batch of {len(items)} readings is over the limit of {settings.max_batch}")
        try:
            batch = read_records(items, "http")
        except FormatError as exc:
            raise HTTPException(422, str(exc)) from None
        if who.device_id is not None or not who.country:
            named = [s for s in set(batch.column("sensor_id").to_pylist()) if s is not None]
            problem = await run_in_threadpool(writable_sensors_problem, store, who, named)
            if problem:
                raise HTTPException(403, problem)
        counts = await run_in_threadpool(ingest_batch, store, batch, "http", sensors=sensor_index(store),
                                         settings=settings, who=who.name, where=_client(request))
        return counts.as_dict()

    @app.get("/api/v1/quarantine")
    def quarantine(
        store: StoreDep, who: Who, reason: str | None = None, source: str | None = None,
        limit: int = Query(100, ge=0, le=10_000),
    ) -> list[dict[str, Any]]:
        """Quarantined rows, newest first; a scoped caller sees only rows naming its utilities' sensors."""
        sensor_ids = None
        if not who.country:
            sensor_ids = list(_utility_filter(store, who, store.sensors())["sensor_id"])
        return _records(store.quarantine(reason=reason, source=source, limit=limit, sensor_ids=sensor_ids))

    if (PANEL / "static").is_dir():
        app.mount("/static", StaticFiles(directory=PANEL / "static"), name="static")

    from suvar.api.panel import register_panel  # the panel's pages and aggregate endpoints

    register_panel(app, get_store)

    def openapi() -> dict[str, Any]:
        """The schema, with 422's ``detail`` documented as the handlers send it: FastAPI's list of validation
        errors, or one sentence naming the field and what was expected."""
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            error = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
            if error:
                error["properties"]["detail"] = {"anyOf": [{"type": "string"}, error["properties"]["detail"]],
                                                 "title": "Detail"}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


class BodyLimit:
    """Refuse a request body over ``max_bytes`` with 413, whether it declares its length (checked up front; the
    server holds the client to it) or streams in chunks (read here up to the limit, then handed on)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = JSONResponse({"detail": f"request body over {self.max_bytes} bytes"}, status_code=413)
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        if length.isdigit():
            if int(length) > self.max_bytes:
                await too_big(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if b"chunked" not in headers.get(b"transfer-encoding", b"").lower():
            await self.app(scope, receive, send)
            return
        parts, seen = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            parts.append(message.get("body", b""))
            seen += len(parts[-1])
            if seen > self.max_bytes:
                await too_big(scope, receive, send)
                return
            if not message.get("more_body"):
                break
        body, replayed = b"".join(parts), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _same_origin(request: Request) -> bool:
    """False for a state-changing browser request sent from another site (OWASP CSRF prevention cheat sheet,
    "verifying origin with standard headers"), on top of the SameSite=Strict cookie."""
    origin = request.headers.get("origin")
    return not origin or origin.split("://", 1)[-1] == request.headers.get("host")


def _set_session_cookie(response: Response, request: Request, session_id: str, ttl_s: float) -> None:
    response.set_cookie(COOKIE, session_id, max_age=int(ttl_s), path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def _client(request: Request) -> str | None:
    return f"{request.client.host}:{request.client.port}" if request.client else None


def _naive(ts: datetime | None) -> datetime | None:
    """Timestamps in the store are naive UTC; one that cannot be shifted to UTC is a 422."""
    if ts is None or ts.tzinfo is None:
        return ts
    try:
        return ts.astimezone(UTC).replace(tzinfo=None)
    except (OverflowError, ValueError):
        raise HTTPException(422, f"time {ts.isoformat()} is out of range") from None


def _parse_time(text: str, name: str) -> datetime:
    """A query parameter as a date or time (422 naming the parameter when it is neither)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise HTTPException(422, f"{name} must be a date or an ISO 8601 time, e.g. 2026-10-01, not {text!r}") \
            from None


def _check_tz(tz: str) -> None:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise HTTPException(422, f"unknown time zone {tz!r}; expected an IANA name such as Asia/Baku") from None
