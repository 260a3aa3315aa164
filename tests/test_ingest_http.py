"""HTTP ingest: token required, one validation pipeline, idempotent, hard limits; queries over the API."""

import json

from fastapi.testclient import TestClient

from suvar.store import DuckStore


def _readings(n: int, sensor: str = "P-2", value: float = 50.0) -> dict:
    return {"readings": [{"sensor_id": sensor, "timestamp": f"2024-01-01T{i // 4:02d}:{i % 4 * 15:02d}:00Z",
                          "value": value + i} for i in range(n)]}


NO_AUTH = {"Authorization": ""}  # drops the client fixture's default admin token


def test_token_required(client: TestClient) -> None:
    assert client.post("/api/v1/readings", json=_readings(1), headers=NO_AUTH).status_code == 401
    r = client.post("/api/v1/readings", json=_readings(1), headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json()["detail"] == "unknown token"


def test_wrong_scope(client: TestClient, hanoi: DuckStore) -> None:
    from suvar.security.tokens import create_token

    reader = create_token(hanoi, "panel", ["read"])
    r = client.post("/api/v1/readings", json=_readings(1), headers={"Authorization": f"Bearer {reader}"})
    assert r.status_code == 403 and "ingest" in r.json()["detail"]


def test_batch_idempotent_and_quarantined(client: TestClient, ingest_token: str, hanoi: DuckStore) -> None:
    auth = {"Authorization": f"Bearer {ingest_token}"}
    body = _readings(8)
    body["readings"] += [
        {"sensor_id": "P-2", "timestamp": "2024-01-01T05:00:00", "value": 1},
        {"sensor_id": "P-2", "timestamp": "2024-01-01T05:00:00Z", "value": "high"},
        {"sensor_id": "P-2", "timestamp": "2024-01-01T05:00:00Z", "value": True},
        {"sensor_id": "F-1", "timestamp": "2024-01-01T05:00:00Z", "value": 2, "unit": "psi"},
        "not a reading",
    ]
    r = client.post("/api/v1/readings", json=body, headers=auth)
    assert r.status_code == 200
    assert r.json() == {"accepted": 8, "duplicates": 0, "conflicts": 0, "quarantined": {
        "incompatible_unit": 1, "malformed_row": 1, "no_timezone": 1, "non_numeric": 2}}
    again = client.post("/api/v1/readings", json=_readings(8), headers=auth).json()
    assert (again["accepted"], again["duplicates"]) == (0, 8)
    changed = client.post("/api/v1/readings", json=_readings(2, value=60.0), headers=auth).json()
    assert changed["conflicts"] == 2
    q = client.get("/api/v1/quarantine", params={"reason": "malformed_row"}).json()
    assert q[0]["source"] == "http" and q[0]["position"] == 13 and "not a reading" in q[0]["raw"]


def test_limits_and_bad_bodies(client: TestClient, ingest_token: str) -> None:
    auth = {"Authorization": f"Bearer {ingest_token}", "Content-Type": "application/json"}
    assert client.post("/api/v1/readings", json=_readings(5001), headers=auth).status_code == 413
    assert client.post("/api/v1/readings", content=b"{not json", headers=auth).status_code == 400
    assert client.post("/api/v1/readings", content=json.dumps([1, 2]), headers=auth).status_code == 422


def test_queries(client: TestClient, ingest_token: str) -> None:
    client.post("/api/v1/readings", json=_readings(8), headers={"Authorization": f"Bearer {ingest_token}"})
    raw = client.get("/api/v1/sensors/P-2/series").json()
    assert len(raw["points"]) == 8
    hourly = client.get("/api/v1/sensors/P-2/series", params={"step": "1h", "agg": "max"}).json()["points"]
    assert [p["value"] for p in hourly] == [53.0, 57.0]
    assert hourly[0]["ts"].startswith("2024-01-01T00:00:00")
    zone = client.get("/api/v1/utilities/hanoi/zones/Z1/series", params={"kind": "pressure", "step": "1h"}).json()
    assert [p["value"] for p in zone["points"]] == [51.5, 55.5]
    assert client.get("/api/v1/sensors/P-2/series", params={"step": "soon"}).status_code == 422
    assert client.get("/api/v1/sensors/nope/series").status_code == 404
    assert client.get("/api/v1/health").json()["readings"] == 8
    geo = client.get("/api/v1/utilities/hanoi/network.geojson").json()
    assert sum(f["properties"]["layer"] == "sensor" for f in geo["features"]) == 4
    assert client.get("/").status_code == 200 and "leaflet-1.9.4" in client.get("/").text
