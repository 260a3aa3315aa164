"""Allocation over the API and its HTML report (the valley basin of tests/data/allocation)."""

import json
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from suvar.api.app import create_app
from suvar.store import DuckStore

VALLEY = json.loads(json.dumps(  # as a client would send it: dates as ISO text
    yaml.safe_load((Path(__file__).parent / "data" / "allocation" / "valley.yaml").read_text()), default=str))


@pytest.fixture
def api(store: DuckStore) -> TestClient:
    return TestClient(create_app(store))


def test_compare_and_explain(api: TestClient) -> None:
    body = {"basin": VALLEY, "scenarios": {"normal": 1.0, "dry": 0.6}}
    result = api.post("/api/v1/allocation/compare", json=body).json()
    coverage = {(r["scenario"], r["user"]): r["coverage"] for r in result["users"]}
    assert coverage[("normal", "capital")] == pytest.approx(1.0)
    assert coverage[("dry", "left_farms")] < coverage[("normal", "left_farms")]
    rows = result["explanation"]["rows"]
    assert result["explanation"]["scenario"] == "dry"
    assert {r["reason"] for r in rows} <= {"met", "no_requirement", "capacity", "environmental_flow", "carry_over",
                                          "vital", "priority", "seniority", "rule", "supply"}
    assert all(r["explanation"] for r in rows)


def test_report_and_bad_input(api: TestClient) -> None:
    html = api.post("/api/v1/allocation/report.html", json={"basin": VALLEY}).text
    assert html.count("<svg") == 2 and "Shortfall by user and binding reason" in html
    bad = api.post("/api/v1/allocation/compare", json={"basin": {**VALLEY, "n_steps": "many"}})
    assert bad.status_code == 422 and "n_steps" in bad.text
    assert api.post("/api/v1/allocation/compare", json={"scenarios": {}}).status_code == 422
