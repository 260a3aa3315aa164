"""Schemathesis over the OpenAPI schema, in process: no response is a server error or breaks its schema.

Each API operation gets its own store holding the small Hanoi network (``hanoi`` fixture) and an ``admin`` token,
so that generated requests reach the handlers rather than stopping at authentication. Cases come from
schemathesis's Hypothesis strategies: schema-conforming (positive) and schema-violating (negative) ones.

Known defects of ``suvar.api.app`` (written up in the findings named below) are kept out of the broad fuzz run so
that it goes on checking everything else; each is pinned by its own ``xfail(strict=True)`` reproduction, which
starts to pass, and so fails, once the defect is fixed: then delete the reproduction and its ``_known`` filter.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from suvar.api.app import create_app
from suvar.config import load_settings
from suvar.security.tokens import create_token
from suvar.store import DuckStore

# Cases per operation, on the DuckDB store and (for what differs: SQL types, text PostgreSQL refuses) on PostgreSQL.
EXAMPLES, EXAMPLES_PG = 25, 8
SETTINGS = {"SUVAR_MAX_BATCH": "5000", "SUVAR_RATE_LIMIT_PER_MIN": "0"}
FINDINGS = {  # written up in full, with tracebacks and proposed fixes, in /tmp/lead/hostile-app-findings.md
    "F1": "F1: handlers raise HTTPException(422, 'text') while the schema documents 422 as HTTPValidationError "
          "(detail: array of objects)",
    "F2": "F2: GET /api/v1/quarantine?limit=-1 gives 500 (DuckDB: LIMIT cannot be negative); limit needs ge=0",
    "F3": "F3: a series bound outside pandas' nanosecond range (0001-01-01T00:00:00+01:00) gives 500 in _naive()",
    "F4": "F4: an unknown time zone (tz=Nowhere/Land) on nightflow gives 500 (pytz's UnknownTimeZoneError is a "
          "KeyError, not caught)",
    "F5": "F5: GET /utilities/{u}/balances?from=met gives 500 on PostgreSQL (InvalidValue not caught) and 200 [] on "
          "DuckDB; from/to need parsing as dates (422 when they are not)",
}


def _operations() -> list[tuple[str, str]]:
    with DuckStore(":memory:") as store:
        paths = create_app(store, load_settings(SETTINGS)).openapi()["paths"]
    return [(method.upper(), path) for path, ops in sorted(paths.items()) for method in sorted(ops)]


def _year_out_of_range(value: object) -> bool:
    """A timestamp pandas cannot hold (years outside 1678-2261 in nanoseconds) once shifted to UTC."""
    text = str(value)
    return len(text) >= 4 and text[:4].isdigit() and not 1679 <= int(text[:4]) <= 2260


def _known(method: str, path: str, case: schemathesis.Case) -> str | None:
    """The finding a case would only reproduce again, or None (see /tmp/lead/hostile-app-findings.md)."""
    query = case.query or {}
    if path == "/api/v1/quarantine" and isinstance(query.get("limit"), int) and query["limit"] < 0:
        return "F2"
    if path.endswith("/series") and any(_year_out_of_range(query.get(k)) for k in ("start", "end")):
        return "F3"
    if path.endswith(("/nightflow", "/report.html")) and method == "GET" and "tz" in query:
        return "F4"
    if path.endswith("/balances") and not all(_iso_date(query[k]) for k in ("from", "to") if k in query):
        return "F5"
    return None


def _iso_date(value: object) -> bool:
    try:
        date.fromisoformat(str(value))
    except ValueError:
        return False
    return True


def _schema_conformance(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """``response_schema_conformance``, except for finding F1 (a 422 whose ``detail`` is a string)."""
    if response.status_code == 422:
        try:
            if isinstance(json.loads(response.content).get("detail"), str):
                return None
        except (ValueError, AttributeError):
            pass
    return response_schema_conformance(ctx, response, case)


@pytest.fixture
def admin(hanoi: DuckStore) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(hanoi, 'fuzz-admin', ['admin'])}"}


@pytest.mark.parametrize("method,path", _operations(), ids=lambda v: v)
def test_api_fuzz(method: str, path: str, hanoi: DuckStore, admin: dict[str, str]) -> None:
    app = create_app(hanoi, load_settings(SETTINGS))
    operation = schemathesis.openapi.from_asgi("/openapi.json", app)[path][method]
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))
    examples = EXAMPLES if isinstance(hanoi, DuckStore) else EXAMPLES_PG

    @given(case=cases)
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        assume(_known(method, path, case) is None)
        case.call_and_validate(headers=admin, checks=[not_a_server_error, _schema_conformance])

    check()


# -- reproductions of the findings, one each ------------------------------------------------------------------------

def _schema_check(app: Any, method: str, path: str, *, query: dict | None = None,
                  path_parameters: dict | None = None, headers: dict | None = None) -> int:
    operation = schemathesis.openapi.from_asgi("/openapi.json", app)[path][method]
    case = operation.Case(query=query or {}, path_parameters=path_parameters or {})
    response = case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])
    return response.status_code


@pytest.mark.xfail(strict=True, raises=FailureGroup, reason=FINDINGS["F1"])
def test_f1_handler_422_matches_schema(hanoi: DuckStore, admin: dict[str, str]) -> None:
    app = create_app(hanoi, load_settings(SETTINGS))
    assert _schema_check(app, "GET", "/api/v1/sensors/{sensor_id}/series", path_parameters={"sensor_id": "P-2"},
                         query={"agg": "median"}, headers=admin) == 422


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=FINDINGS["F2"])
def test_f2_negative_quarantine_limit(hanoi: DuckStore, admin: dict[str, str]) -> None:
    client = TestClient(create_app(hanoi, load_settings(SETTINGS)), raise_server_exceptions=False)
    assert client.get("/api/v1/quarantine", params={"limit": -1}, headers=admin).status_code == 422


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=FINDINGS["F3"])
def test_f3_series_bound_out_of_range(hanoi: DuckStore, admin: dict[str, str]) -> None:
    client = TestClient(create_app(hanoi, load_settings(SETTINGS)), raise_server_exceptions=False)
    for start in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00"):
        response = client.get("/api/v1/sensors/P-2/series", params={"start": start}, headers=admin)
        assert response.status_code < 500, start


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=FINDINGS["F4"])
def test_f4_unknown_time_zone(hanoi: DuckStore, admin: dict[str, str]) -> None:
    client = TestClient(create_app(hanoi, load_settings(SETTINGS)), raise_server_exceptions=False)
    response = client.get("/api/v1/utilities/hanoi/zones/Z1/nightflow",
                          params={"from": "2024-01-01", "to": "2024-01-03", "tz": "Nowhere/Land"}, headers=admin)
    assert response.status_code == 422


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=FINDINGS["F5"])
def test_f5_balances_bad_dates(hanoi: DuckStore, admin: dict[str, str]) -> None:
    client = TestClient(create_app(hanoi, load_settings(SETTINGS)), raise_server_exceptions=False)
    response = client.get("/api/v1/utilities/hanoi/balances", params={"from": "met"}, headers=admin)
    assert response.status_code == 422, response.text
