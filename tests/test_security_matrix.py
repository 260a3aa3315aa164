"""The role x route matrix: every route of the app, called by every role, an anonymous client, an API token and
identities out of scope, is allowed or refused (401/403) exactly as the permission table says.

A route added without a rule in ``suvar.security.roles.ROUTE_RULES`` fails here (and is refused at run time),
and so does a rule left behind for a route that no longer exists.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from suvar.alarms import alarm
from suvar.api.app import create_app
from suvar.config import load_settings
from suvar.security.roles import PERMISSIONS, ROLES, ROUTE_RULES, Rule, rights_of_scopes, rule_for
from suvar.security.sessions import COOKIE, start_session
from suvar.security.tokens import create_token
from suvar.security.users import create_user
from suvar.store import DuckStore

PASSWORD = "matrix password 1"
#: Values for path parameters; a route with a parameter missing here fails the test until one is added.
SAMPLES = {"utility_id": "hanoi", "zone_id": "Z1", "sensor_id": "P-2", "action": "ack"}
READING = {"readings": [{"sensor_id": "P-2", "timestamp": "2024-01-01T00:00:00Z", "value": 50}]}
BODIES = {"/api/v1/readings": READING, "/api/v1/allocation/publish": {"basin": {"name": "valley"}}}
#: Routes whose handler refuses an out-of-scope caller itself (rule scope "handler"): the batch names a sensor of
#: hanoi, the plan a basin outside the caller's scope. Other "handler" routes filter what they list.
HANDLER_REFUSES = {("POST", "/api/v1/readings"), ("POST", "/api/v1/allocation/publish")}


def _cases(app) -> list[tuple[str, str, Rule, dict[str, str]]]:  # noqa: ANN001
    cases = []
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        for method in sorted(route.methods):
            rule = rule_for(method, route.path)
            assert rule is not None, f"{method} {route.path} has no access rule in suvar.security.roles.ROUTE_RULES"
            names = re.findall(r"{(\w+)", route.path)
            variants = [{"ledger": "allocation"}, {"ledger": "audit"}] if "ledger" in names else [{}]
            for extra in variants:
                params = {}
                for name in names:
                    assert name in SAMPLES or name in extra, f"add a sample value for {{{name}}} ({route.path})"
                    params[name] = extra.get(name, SAMPLES.get(name))
                cases.append((method, route.path, rule, params))
    return cases


@pytest.fixture
def world(hanoi: DuckStore) -> dict:
    """hanoi (utility) and 'other' (a utility of basin 'east'), an alarm in each, and one identity per case."""
    hanoi.upsert_utility("other", "Other Town", basin="east")
    hanoi.raise_alarm(alarm("leak", "warning", "hanoi", "Leak", key="h", zone_id="Z1",
                             start=pd.Timestamp("2024-01-01T00:00Z")))
    SAMPLES["alarm_id"] = str(int(hanoi.alarms(scope="hanoi")["alarm_id"].iloc[0]))
    users = {role: f"u-{role}" for role in ROLES}
    for role, name in users.items():
        create_user(hanoi, name, PASSWORD, role)
    create_user(hanoi, "far-operator", PASSWORD, "operator", "utility:other")
    create_user(hanoi, "far-commission", PASSWORD, "commission", "basin:east")
    users.update({"operator@other": "far-operator", "commission@east": "far-commission"})
    cookies = {label: start_session(hanoi, name, 600) for label, name in users.items()}
    tokens = {"token:read": create_token(hanoi, "reader", ["read"]),
              "token:ingest+operate": create_token(hanoi, "scada", ["ingest", "operate"])}
    app = create_app(hanoi, load_settings({"SUVAR_RATE_LIMIT_PER_MIN": "0"}))
    return {"app": app, "users": users, "cookies": cookies, "tokens": tokens}


def _call(client: TestClient, method: str, path: str, params: dict[str, str], **kw: object) -> int:
    url = path.format(**params)
    body = BODIES.get(path, {}) if method == "POST" else None
    return client.request(method, url, json=body, follow_redirects=False, **kw).status_code


def _verdict(status: int) -> str:
    return {401: "401", 403: "403"}.get(status, "server error" if status >= 500 else "allowed")


def test_every_route_has_a_rule_and_every_rule_a_route(world: dict) -> None:
    routes = {(m, r.path) for r in world["app"].routes if isinstance(r, APIRoute) for m in r.methods}
    assert not routes - set(ROUTE_RULES), f"routes without a rule: {sorted(routes - set(ROUTE_RULES))}"
    assert not set(ROUTE_RULES) - routes, f"rules without a route: {sorted(set(ROUTE_RULES) - routes)}"


def _expected(method: str, path: str, rule: Rule, params: dict[str, str], rights: frozenset[str] | None,
              out_of_scope: bool) -> str:
    """What the permission table says an identity with ``rights`` (None: anonymous) gets."""
    right = rule.right_for(params)
    if rule.scope == "public":  # panel pages: each checks the session itself and refuses data out of scope
        scoped = {"utility_id", "sensor_id", "alarm_id"} & set(params)
        return "refused" if out_of_scope and scoped and rights is not None else "allowed"
    if rights is None:
        return "401"
    scoped_route = rule.scope in ("utility", "sensor", "alarm") or (method, path) in HANDLER_REFUSES
    if (right is not None and right not in rights) or (out_of_scope and scoped_route):
        return "403"
    return "allowed"


def test_role_route_matrix(world: dict, hanoi: DuckStore) -> None:
    client = TestClient(world["app"], raise_server_exceptions=False)
    cases = _cases(world["app"])
    assert len(cases) >= 25
    wrong = []
    for method, path, rule, params in cases:
        callers: list[tuple[str, frozenset[str] | None, bool, dict]] = [("anonymous", None, False, {})]
        for label, session in world["cookies"].items():
            if path == "/api/v1/logout":  # logging out ends the session: use a throwaway one
                session = start_session(hanoi, world["users"][label], 600)
            callers.append((label, PERMISSIONS[label.split("@")[0]], "@" in label, {"cookies": {COOKIE: session}}))
        for label, token in world["tokens"].items():
            callers.append((label, rights_of_scopes(label.split(":")[1].split("+")), False,
                            {"headers": {"Authorization": f"Bearer {token}"}}))
        if rule.scope == "public":  # rights make no difference here: one in-scope user, the out-of-scope ones
            callers = [c for c in callers if c[0] in ("anonymous", "viewer", "token:read") or c[2]]
        for who, rights, out_of_scope, auth in callers:
            expected = _expected(method, path, rule, params, rights, out_of_scope)
            client.cookies.clear()
            for name, value in auth.get("cookies", {}).items():
                client.cookies.set(name, value)
            status = _call(client, method, path, params, headers=auth.get("headers"))
            got = "refused" if expected == "refused" and status in (403, 404) else _verdict(status)
            if got != expected:
                wrong.append(f"{who:>22}  {method} {path.format(**params)}: expected {expected}, got {got} ({status})")
    assert not wrong, "\n".join(wrong)


def test_scoped_lists_are_filtered(world: dict, hanoi: DuckStore) -> None:
    client = TestClient(world["app"], cookies={COOKIE: world["cookies"]["operator@other"]})
    assert [u["utility_id"] for u in client.get("/api/v1/utilities").json()] == ["other"]
    assert client.get("/api/v1/sensors").json() == []
    assert client.get("/api/v1/alarms").json() == []
    hanoi.raise_alarm(alarm("drought", "warning", "east", "Dry", key="e"))
    assert [a["scope"] for a in client.get("/api/v1/alarms").json()] == []  # a utility scope, not the basin
    basin = TestClient(world["app"], cookies={COOKIE: world["cookies"]["commission@east"]})
    assert [a["scope"] for a in basin.get("/api/v1/alarms").json()] == ["east"]
    assert [u["utility_id"] for u in basin.get("/api/v1/utilities").json()] == ["other"]
