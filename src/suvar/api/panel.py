"""The control panel: server-rendered pages (Jinja2, gettext) and the aggregate endpoints they and other clients
read (``/api/v1/overview``, ``/api/v1/sectors``, the zone page's data, alarm detail, the allocation view).

Pages look up the session themselves and send a visitor without one to ``/login``; what a page shows follows
the user's rights and scope from :mod:`suvar.security.roles`, the same table the API enforces (an operator sees
acknowledge buttons, a viewer does not; a utility-scoped user sees only that utility).
"""

from __future__ import annotations

import functools
import inspect
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from suvar.ledger import DatabaseLedgerStore
from suvar.network.geojson import zone_outline
from suvar.panel import i18n
from suvar.panel.data import (
    DailyCache,
    allocation_view,
    clean,
    overview,
    sector_tiles,
    zone_page,
)
from suvar.security.authz import basins
from suvar.security.roles import PUBLIC, Identity, Rule, add_rules
from suvar.store import Store

PANEL = Path(__file__).resolve().parent.parent / "panel"

#: Panel pages: public in the route table because each page checks the session itself and redirects to /login.
PAGES = ("/login", "/utilities/{utility_id}", "/utilities/{utility_id}/zones/{zone_id}", "/alarms",
         "/alarms/{alarm_id}", "/allocation", "/sectors")
RULES = {
    **{("GET", p): PUBLIC for p in PAGES},
    ("GET", "/api/v1/overview"): Rule("read", "handler"),
    ("GET", "/api/v1/overview/map.geojson"): Rule("read", "handler"),
    ("GET", "/api/v1/sectors"): Rule("read", "handler"),
    ("GET", "/api/v1/utilities/{utility_id}/zones/{zone_id}/panel"): Rule("read", "utility"),
    ("GET", "/api/v1/alarms/{alarm_id}"): Rule("read", "alarm"),
    ("GET", "/api/v1/allocation/view"): Rule("read", "handler"),
}
KIOSK_VIEWS = ("/", "/alarms", "/sectors")
STATUS_CLASSES = ("ok", "warning", "critical", "unknown", "info")


@functools.cache
def environment(locale: str) -> Environment:
    """The Jinja2 environment of one locale: its catalog installed, and number and date filters in its format."""
    env = Environment(loader=FileSystemLoader(PANEL / "templates"), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(i18n.translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters["num"] = lambda v, digits=0: i18n.number(v, locale, digits)
    env.filters["pct"] = lambda v, digits=1: i18n.percent(v, locale, digits)
    env.filters["day"] = lambda v: i18n.day(v, locale)
    env.filters["moment"] = lambda v: i18n.moment(v, locale)
    env.filters["tojson_attr"] = lambda v: json.dumps(clean(v))
    return env


def scoped_overview(view: dict[str, Any], who: Identity, utility_basins: dict[str, str | None]) -> dict[str, Any]:
    """An overview cut to what ``who`` may see (its utilities, its basins' alarms); headline totals recomputed."""
    if who.country:
        return view
    utilities = [u for u in view["utilities"] if who.allows_utility(u["utility_id"], utility_basins)]
    siv = sum((u["totals"] or {}).get("system_input_volume_m3") or 0 for u in utilities)
    nrw = sum((u["totals"] or {}).get("non_revenue_water_m3") or 0 for u in utilities)
    real = sum((u["totals"] or {}).get("real_losses_m3") or 0 for u in utilities)
    headline = {**view["headline"], "nrw_pct": 100 * nrw / siv if siv else None, "real_losses_m3": real,
                "open_leak_alarms": sum(u["open_leak_alarms"] for u in utilities),
                "open_alarms": sum(u["open_alarms"] for u in utilities)}
    basins_ = [b for b in view["basins"] if who.allows_utility(b["utility_id"], utility_basins)
               or who.allows_basin(b["name"])]
    return {**view, "headline": headline, "utilities": utilities, "basins": basins_}


def _nonce() -> str:
    return secrets.token_urlsafe(16)


def _with_csp(response: HTMLResponse, nonce: str) -> HTMLResponse:
    """A page's Content-Security-Policy (OWASP ASVS 14.4.3): scripts only from this server or carrying this
    response's nonce (the pages' one-line inline calls), no plugins, no framing, forms and fetches to this origin.
    Styles may be inline: Leaflet and uPlot position elements with style attributes."""
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'")
    return response


def register_panel(app: FastAPI, get_store: Callable[[], Store]) -> None:
    """Add the panel's pages and aggregate endpoints to ``app`` and their access rules to the route table."""
    add_rules({k: v for k, v in RULES.items() if k not in _existing_rules()})
    cache = DailyCache()

    def who(request: Request) -> Identity | None:
        return getattr(request.state, "identity", None)

    def locale_of(request: Request, identity: Identity | None) -> str:
        return i18n.pick(request.query_params.get("lang"), request.cookies.get(i18n.COOKIE),
                         identity.locale if identity else None, request.headers.get("accept-language"))

    def ub(store: Store, identity: Identity) -> dict[str, str | None]:
        return basins(store, identity)

    def full_overview(store: Store, identity: Identity) -> dict[str, Any]:
        view = overview(store, cache)
        for u in view["utilities"]:
            u["open_leak_alarms"] = sum(1 for a in _open_alarms(store) if a["scope"] == u["utility_id"]
                                        and a["kind"] == "leak")
        return scoped_overview(view, identity, ub(store, identity))

    def render(request: Request, template: str, identity: Identity, **context: Any) -> HTMLResponse:
        locale = locale_of(request, identity)
        kiosk = request.query_params.get("kiosk") == "1"
        rotate = request.query_params.get("rotate", "30")
        query = {k: v for k, v in request.query_params.items() if k != "lang"}
        html = environment(locale).get_template(template).render(
            request=request, path=request.url.path, query=query, user=identity.public(),
            rights=sorted(identity.rights), can=identity.can, locale=locale, locales=i18n.LOCALES,
            kiosk=kiosk, rotate=int(rotate) if rotate.isdigit() else 30,
            next_kiosk=_next_kiosk(request.url.path), urlencode=urlencode, csp_nonce=(nonce := _nonce()), **context)
        response = _with_csp(HTMLResponse(html), nonce)
        if request.query_params.get("lang") in i18n.LOCALES:
            response.set_cookie(i18n.COOKIE, request.query_params["lang"], max_age=365 * 86400, samesite="strict")
        return response

    def page(fn: Callable[..., Response]) -> Callable[..., Response]:
        """A page handler: a visitor without a session goes to /login (and back after it)."""
        @functools.wraps(fn)
        def wrapper(request: Request, *args: Any, **kwargs: Any) -> Response:
            identity = who(request)
            if identity is None or identity.kind != "user" and not identity.can("read"):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
            if not identity.can("read"):
                raise HTTPException(403, "reading the panel needs the read right")
            return fn(request, identity, *args, **kwargs)
        sig = inspect.signature(fn)
        wrapper.__signature__ = sig.replace(  # type: ignore[attr-defined]
            parameters=[p for name, p in sig.parameters.items() if name != "identity"])
        return wrapper

    # ---------------------------------------------------------------- JSON
    @app.get("/api/v1/overview")
    def api_overview(request: Request) -> dict[str, Any]:
        """Country overview: headline indicators (NRW %, real losses of the latest day, open leak alarms,
        allocation coverage, drought status) and each utility's zones with status, all within the caller's
        scope."""
        return full_overview(get_store(), who(request))

    @app.get("/api/v1/overview/map.geojson")
    def api_overview_map(request: Request) -> dict[str, Any]:
        """Zone outlines of every utility (each utility's own coordinates scaled into its own cell of a grid) and
        a cell per basin, with each feature's status, for the country map."""
        store = get_store()
        view = full_overview(store, who(request))
        return country_map(store, view)

    @app.get("/api/v1/sectors")
    def api_sectors(request: Request) -> list[dict[str, Any]]:
        """The sector tiles: ``{sector, indicator, area, value, unit, target, better, status}``."""
        store = get_store()
        return sector_tiles(store, cache, full_overview(store, who(request)))

    @app.get("/api/v1/utilities/{utility_id}/zones/{zone_id}/panel")
    def api_zone_page(utility_id: str, zone_id: str, range: str = Query("7d", pattern="^(24h|7d|30d|custom)$"),  # noqa: A002
                      start: str | None = None, end: str | None = None) -> dict[str, Any]:
        """Everything the zone view shows for a time range (24h, 7d, 30d ending at the zone's latest data, or
        custom ``start``/``end`` dates): the latest day's balance box, daily balances, night flows, pressure and
        inflow series bucketed to at most 800 points, and data quality."""
        try:
            return zone_page(get_store(), cache, utility_id, zone_id, range, start, end)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None

    @app.get("/api/v1/alarms/{alarm_id}")
    def api_alarm(alarm_id: int, request: Request) -> dict[str, Any]:
        """One alarm with its detail (a leak's candidate pipes and likelihoods) and, for a caller with the audit
        right, its audit trail (acknowledgements and closures from the audit log)."""
        return alarm_detail(get_store(), alarm_id, who(request))

    @app.get("/api/v1/allocation/view")
    def api_allocation(request: Request) -> dict[str, Any]:
        """Published plans side by side (coverage per user, explanations), the ledger's verification and the
        delivery audit of the latest plan against the turnout meters."""
        return scoped_allocation(get_store(), who(request))

    # ---------------------------------------------------------------- pages
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request, next: str = "/") -> HTMLResponse:  # noqa: A002
        locale = locale_of(request, None)
        target = next if next.startswith("/") and not next.startswith("//") else "/"
        html = environment(locale).get_template("login.html").render(
            path="/login", query={}, user=None, locale=locale, locales=i18n.LOCALES, next=target, kiosk=False,
            can=lambda _r: False, urlencode=urlencode, csp_nonce=(nonce := _nonce()))
        return _with_csp(HTMLResponse(html), nonce)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    @page
    def overview_page(request: Request, identity: Identity) -> Response:
        view = full_overview(get_store(), identity)
        return render(request, "overview.html", identity, view=view, nav="overview")

    @app.get("/utilities/{utility_id}", response_class=HTMLResponse, include_in_schema=False)
    @page
    def utility_page(request: Request, identity: Identity, utility_id: str) -> Response:
        store = get_store()
        view = full_overview(store, identity)
        utility = next((u for u in view["utilities"] if u["utility_id"] == utility_id), None)
        if utility is None:
            raise HTTPException(404, f"no utility {utility_id!r} in your scope")
        return render(request, "utility.html", identity, utility=utility, nav="utilities", view=view)

    @app.get("/utilities/{utility_id}/zones/{zone_id}", response_class=HTMLResponse, include_in_schema=False)
    @page
    def zone_view(request: Request, identity: Identity, utility_id: str, zone_id: str) -> Response:
        store = get_store()
        if not identity.allows_utility(utility_id, ub(store, identity)):
            raise HTTPException(403, f"utility {utility_id!r} is outside the scope {identity.scope}")
        q = request.query_params
        try:
            data = zone_page(store, cache, utility_id, zone_id, q.get("range", "7d"), q.get("start"), q.get("end"))
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        zones = store.zones(utility_id)["zone_id"].tolist()
        name = store.utilities().set_index("utility_id").loc[utility_id, "name"]
        return render(request, "zone.html", identity, data=data, zones=zones, utility_name=name, nav="utilities")

    @app.get("/alarms", response_class=HTMLResponse, include_in_schema=False)
    @page
    def alarms_page(request: Request, identity: Identity, kind: str | None = None, status: str | None = None,
                    scope: str | None = None) -> Response:
        store = get_store()
        frame = store.alarms(status=status or None, kind=kind or None, scope=scope or None)
        rows = [clean(r) for r in frame.to_dict("records")]
        u_b = ub(store, identity)
        rows = [r for r in rows if identity.allows_area(r["scope"], u_b)]
        scopes = sorted({r["scope"] for r in rows} | ({scope} if scope else set()))
        return render(request, "alarms.html", identity, alarms=rows, nav="alarms",
                      filters={"kind": kind or "", "status": status or "", "scope": scope or ""}, scopes=scopes)

    @app.get("/alarms/{alarm_id}", response_class=HTMLResponse, include_in_schema=False)
    @page
    def alarm_page(request: Request, identity: Identity, alarm_id: int) -> Response:
        detail = alarm_detail(get_store(), alarm_id, identity)
        return render(request, "alarm.html", identity, alarm=detail, nav="alarms")

    @app.get("/allocation", response_class=HTMLResponse, include_in_schema=False)
    @page
    def allocation_page(request: Request, identity: Identity) -> Response:
        return render(request, "allocation.html", identity, view=scoped_allocation(get_store(), identity),
                      nav="allocation")

    @app.get("/sectors", response_class=HTMLResponse, include_in_schema=False)
    @page
    def sectors_page(request: Request, identity: Identity) -> Response:
        store = get_store()
        tiles = sector_tiles(store, cache, full_overview(store, identity))
        return render(request, "sectors.html", identity, tiles=tiles, nav="sectors")


def _existing_rules() -> set[tuple[str, str]]:
    from suvar.security.roles import ROUTE_RULES
    return set(ROUTE_RULES)


def _next_kiosk(path: str) -> str:
    """The view after ``path`` in the kiosk rotation."""
    i = KIOSK_VIEWS.index(path) if path in KIOSK_VIEWS else -1
    return KIOSK_VIEWS[(i + 1) % len(KIOSK_VIEWS)]


def _open_alarms(store: Store) -> list[dict[str, Any]]:
    frame = store.alarms()
    return frame[frame["status"] != "closed"].to_dict("records")


def alarm_detail(store: Store, alarm_id: int, identity: Identity) -> dict[str, Any]:
    """An alarm row with its parsed detail, the candidate pipes' geometry for a leak, and its audit trail when
    ``identity`` has the audit right."""
    frame = store.alarms()
    rows = frame[frame["alarm_id"] == alarm_id]
    if rows.empty:
        raise HTTPException(404, f"no alarm {alarm_id}")
    alarm = clean(rows.iloc[0].to_dict())
    if not identity.allows_area(alarm["scope"], basins(store, identity)):
        raise HTTPException(403, f"alarm {alarm_id} is outside the scope {identity.scope}")
    alarm["detail"] = json.loads(alarm["detail"]) if alarm.get("detail") else None
    candidates = (alarm["detail"] or {}).get("candidates") or []
    alarm["candidates"] = [{"pipe": str(p), "likelihood": float(w)} for p, w in candidates]
    area = ((alarm["detail"] or {}).get("evidence") or {}).get("area") or {}
    alarm["area"] = [str(p) for p in area.get("pipes") or []]  # the survey area around the pipe named
    alarm["survey"] = None  # what a crew sweeps: the area's size and the share of the likelihood it holds
    if alarm["area"] and None not in (area.get("radius_m"), area.get("likelihood")):
        alarm["survey"] = {"pipe": alarm["detail"].get("pipe"), "radius_m": area["radius_m"],
                           "pipes": len(alarm["area"]), "likelihood": area["likelihood"]}
    # where temporary loggers would tell the area's pipes apart: nodes, and confusable pairs without and with them
    evidence = (alarm["detail"] or {}).get("evidence") or {}
    alarm["loggers"] = evidence.get("logger_sites")
    # once loggers are in: the area's pipes ranked again from measured against modelled pressures
    alarm["logger_survey"] = evidence.get("logger_survey")
    alarm["trail"] = None
    if identity.can("audit"):
        trail = []
        for e in DatabaseLedgerStore(store, "audit").entries():
            c = e.get("content", {})
            if str(c.get("action", "")).startswith("alarm_") and (c.get("what") or {}).get("alarm_id") == alarm_id:
                trail.append({"index": e["index"], "at": c.get("at"), "who": c.get("who"),
                              "action": c.get("action"), "where": c.get("where")})
        alarm["trail"] = trail
    return alarm


def scoped_allocation(store: Store, identity: Identity) -> dict[str, Any]:
    """The allocation view cut to the basins ``identity`` may see."""
    view = allocation_view(store)
    if not identity.country:
        view["plans"] = [p for p in view["plans"] if identity.allows_basin(p["basin"])]
        if view["audit"] and not any(p["index"] == view["audit"]["plan_index"] for p in view["plans"]):
            view["audit"] = None
    return view


def country_map(store: Store, view: dict[str, Any]) -> dict[str, Any]:
    """The country map's GeoJSON: each utility's zone outlines scaled into its own 100 x 100 cell (the networks
    have no common geographic frame), and one cell per basin; properties carry the id, name and status."""
    features: list[dict[str, Any]] = []
    cell, gap = 100.0, 20.0
    for i, u in enumerate(view["utilities"]):
        x0 = i * (cell + gap)
        nodes = store.nodes(u["utility_id"]).dropna(subset=["x", "y", "zone_id"])
        if nodes.empty:
            continue
        lo, hi = nodes[["x", "y"]].min(), nodes[["x", "y"]].max()
        scale = cell / max(float((hi - lo).max()), 1e-9)
        status = {z["zone_id"]: z for z in u["zones"]}
        for zone_id, group in nodes.groupby("zone_id"):
            xy = (group[["x", "y"]] - lo) * scale
            ring = zone_outline(xy.to_numpy(float) + [x0, 0.0])
            if ring:
                z = status.get(zone_id, {})
                features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                                 "properties": {"layer": "zone", "utility_id": u["utility_id"], "name": u["name"],
                                                "zone_id": zone_id, "status": z.get("status", "unknown"),
                                                "band": z.get("band_wbi_current"),
                                                "nrw_pct": clean(z.get("nrw_pct_volume"))}})
    x = len(view["utilities"]) * (cell + gap)
    for b in view["basins"]:
        ring = [[x, 0.0], [x + cell, 0.0], [x + cell, cell * 0.6], [x, cell * 0.6], [x, 0.0]]
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                         "properties": {"layer": "basin", "utility_id": b["utility_id"], "name": b["name"],
                                        "status": b["status"]}})
        x += cell + gap
    return {"type": "FeatureCollection", "features": features}

