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
    from suvar.security.tokens import create_token

    return TestClient(create_app(store), headers={"Authorization": f"Bearer {create_token(store, 'ro', ['read'])}"})


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


def test_publish_verify_and_audit_deliveries(api: TestClient, store: DuckStore) -> None:
    from suvar.security.tokens import create_token

    body = {"basin": VALLEY, "scenario": "dry", "inflow_factor": 0.6}
    assert api.post("/api/v1/allocation/publish", json=body, headers={"Authorization": ""}).status_code == 401
    operator = create_token(store, "operator", ["operate"])
    denied = api.post("/api/v1/allocation/publish", json=body, headers={"Authorization": f"Bearer {operator}"})
    assert denied.status_code == 403 and "allocate" in denied.text
    commission = {"Authorization": f"Bearer {create_token(store, 'basin commission', ['allocate'])}"}
    first = api.post("/api/v1/allocation/publish", json=body, headers=commission).json()
    second = api.post("/api/v1/allocation/publish", json={**body, "scenario": "normal", "inflow_factor": 1.0},
                      headers=commission).json()
    assert (first["index"], second["index"], second["prev_hash"]) == (0, 1, first["hash"])
    entries = api.get("/api/v1/ledger/allocation").json()
    assert entries[0]["content"]["author"] == "basin commission"
    assert api.get("/api/v1/ledger/allocation/verify").json()["ok"]

    # Deliveries against the dry plan: the left-bank farms took 1 Mm³ more, the right bank that much less.
    plan = entries[0]["content"]["plan"]["users"]
    metered = {u: sum(p["allocation_m3"]) for u, p in plan.items()}
    metered["left_farms"] += 1e6
    metered["right_farms"] -= 1e6
    audit = api.post("/api/v1/allocation/deliveries", json={"plan_index": 0, "metered_m3": metered}).json()
    (transfer,) = audit["transfers"]
    assert (transfer["gainer"], transfer["loser"]) == ("left_farms", "right_farms")
    assert transfer["volume_m3"] == pytest.approx(1e6)

    # A quiet edit of the published plan in the database is caught.
    row = store.ledger_entries("allocation")[0].replace('"scenario":"dry"', '"scenario":"wet"')
    with store._tx() as con:  # noqa: SLF001 - the test plays the tamperer
        con.execute("UPDATE ledger_entries SET entry = ? WHERE ledger = 'allocation' AND position = 0", [row])
    report = api.get("/api/v1/ledger/allocation/verify").json()
    assert not report["ok"] and report["problems"][0]["index"] == 0
