"""Schemathesis over the OpenAPI schema, in process: no response is a server error or breaks its schema.

Each API operation gets its own store holding the small Hanoi network (``hanoi`` fixture) and an ``admin`` token,
so that generated requests reach the handlers rather than stopping at authentication. Cases come from
schemathesis's Hypothesis strategies: schema-conforming (positive) and schema-violating (negative) ones.

What the fuzzing found and was fixed (F1: 422 details that broke the schema; F2: a negative limit; F3: times out
of range; F4: an unknown time zone; F5: dates that are not dates) each keeps a regression test at the end.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from suvar.api.app import create_app
from suvar.config import load_settings
from suvar.security.tokens import create_token
from suvar.store import DuckStore

# Cases per operation, on the DuckDB store and (for what differs: SQL types, text PostgreSQL refuses) on PostgreSQL.
EXAMPLES, EXAMPLES_PG = 25, 8
SETTINGS = {"SUVAR_MAX_BATCH": "5000", "SUVAR_RATE_LIMIT_PER_MIN": "0"}
# Regressions of what the fuzzing found (F1-F5) are the test_f* tests at the end.


def _operations() -> list[tuple[str, str]]:
    with DuckStore(":memory:") as store:
        paths = create_app(store, load_settings(SETTINGS)).openapi()["paths"]
    return [(method.upper(), path) for path, ops in sorted(paths.items()) for method in sorted(ops)]


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
        case.call_and_validate(headers=admin, checks=[not_a_server_error, response_schema_conformance])

    check()


# -- what the fuzzing found (F1-F5, fixed), one regression test each ----------------------------------------

def _schema_check(app: Any, method: str, path: str, *, query: dict | None = None,
                  path_parameters: dict | None = None, headers: dict | None = None) -> int:
    operation = schemathesis.openapi.from_asgi("/openapi.json", app)[path][method]
    case = operation.Case(query=query or {}, path_parameters=path_parameters or {})
    response = case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])
    return response.status_code


def test_f1_handler_422_matches_schema(hanoi: DuckStore, admin: dict[str, str]) -> None:
    app = create_app(hanoi, load_settings(SETTINGS))
    assert _schema_check(app, "GET", "/api/v1/sensors/{sensor_id}/series", path_parameters={"sensor_id": "P-2"},
                         query={"agg": "median"}, headers=admin) == 422


def test_f2_negative_quarantine_limit(hanoi: DuckStore, admin: dict[str, str]) -> None:
    client = TestClient(create_app(hanoi, load_settings(SETTINGS)), raise_server_exceptions=False)
    assert client.get("/api/v1/quarantine", params={"limit": -1}, headers=admin).status_code == 422


def test_f3_series_bound_out_of_range(hanoi: DuckStore, admin: dict[str, str]) -> None:
    client = TestClient(create_app(hanoi, load_settings(SETTINGS)), raise_server_exceptions=False)
    for start in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00"):
        response = client.get("/api/v1/sensors/P-2/series", params={"start": start}, headers=admin)
        assert response.status_code < 500, start


def test_f4_unknown_time_zone(hanoi: DuckStore, admin: dict[str, str]) -> None:
    client = TestClient(create_app(hanoi, load_settings(SETTINGS)), raise_server_exceptions=False)
    response = client.get("/api/v1/utilities/hanoi/zones/Z1/nightflow",
                          params={"from": "2024-01-01", "to": "2024-01-03", "tz": "Nowhere/Land"}, headers=admin)
    assert response.status_code == 422


def test_f5_balances_bad_dates(hanoi: DuckStore, admin: dict[str, str]) -> None:
    client = TestClient(create_app(hanoi, load_settings(SETTINGS)), raise_server_exceptions=False)
    response = client.get("/api/v1/utilities/hanoi/balances", params={"from": "met"}, headers=admin)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("path", ["/static/../api/app.py", "/static/%2e%2e/api/app.py", "/static/..%2fapi%2fapp.py",
                                  "/static/%2e%2e%2f%2e%2e%2fcli.py", "/static/....//api/app.py",
                                  "/static//etc/passwd", "/static/%2fetc%2fpasswd", "/static/..\\api\\app.py"])
@pytest.mark.parametrize("store", ["duckdb"], indirect=True)
def test_static_files_stay_in_their_folder(path: str, hanoi: DuckStore, admin: dict[str, str]) -> None:
    """No request path, however encoded, reads a file outside the panel's static folder."""
    client = TestClient(create_app(hanoi, load_settings(SETTINGS)), raise_server_exceptions=False)
    assert client.get("/static/panel.css", headers=admin).status_code == 200  # the folder itself is served
    for headers in ({}, admin):
        response = client.get(path, headers=headers)
        assert response.status_code in (400, 401, 403, 404), (path, response.status_code)
        assert "create_app" not in response.text and "root:" not in response.text
