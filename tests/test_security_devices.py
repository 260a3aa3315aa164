"""Per-device credentials: a device writes only the sensors bound to it, over HTTP (its device token) and MQTT
(its topic); scoped tokens write only their utilities' sensors; rate and size limits answer clear 4xx."""

import json
import threading
import time
import uuid

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from suvar.api.app import create_app
from suvar.cli import app as cli
from suvar.config import load_settings
from suvar.security.ratelimit import RateLimiter
from suvar.security.tokens import create_token
from suvar.store import DuckStore
from suvar.telemetry.mqtt import MqttIngest, messages_batch, parse_broker, topic_device


def _reading(sensor: str, minute: int = 0) -> dict:
    return {"sensor_id": sensor, "timestamp": f"2024-01-01T00:{minute:02d}:00Z", "value": 4 + minute / 10}


def _bind(store: DuckStore, monkeypatch: pytest.MonkeyPatch) -> str:
    """Bind P-2 and P-3 to device dev-a with the CLI; returns dev-a's token."""
    monkeypatch.setenv("SUVAR_DB", store.path)
    runner = CliRunner()
    bound = runner.invoke(cli, ["sensors", "device", "dev-a", "P-2", "P-3"])
    assert bound.exit_code == 0 and "2 sensors bound to dev-a" in bound.output
    assert runner.invoke(cli, ["sensors", "device", "dev-a", "NOPE"]).exit_code == 2
    made = runner.invoke(cli, ["token", "create", "dev-a", "--scopes", "ingest", "--device", "dev-a"])
    assert made.exit_code == 0, made.output
    assert runner.invoke(cli, ["token", "create", "x", "--scopes", "read", "--device", "dev-a"]).exit_code == 2
    return made.stdout.strip()


def test_device_token_writes_only_its_sensors(hanoi: DuckStore, monkeypatch: pytest.MonkeyPatch) -> None:
    token = _bind(hanoi, monkeypatch)
    web = TestClient(create_app(hanoi), headers={"Authorization": f"Bearer {token}"})
    ok = web.post("/api/v1/readings", json={"readings": [_reading("P-2"), _reading("P-3"), _reading("ZZ-9")]})
    assert ok.status_code == 200 and ok.json()["accepted"] == 2 and ok.json()["quarantined"] == {"unknown_sensor": 1}
    foreign = web.post("/api/v1/readings", json={"readings": [_reading("P-2", 5), _reading("F-1")]})
    assert foreign.status_code == 403 and "F-1" in foreign.json()["detail"] and "dev-a" in foreign.json()["detail"]
    other = create_token(hanoi, "dev-b", ["ingest"], device_id="dev-b")
    stolen = web.post("/api/v1/readings", json={"readings": [_reading("P-2", 10)]},
                      headers={"Authorization": f"Bearer {other}"})
    assert stolen.status_code == 403
    assert hanoi.reading_count() == 2  # nothing of the refused batches was written
    assert web.get("/api/v1/sensors").status_code == 403  # a device token only ingests


def test_scoped_token_writes_only_its_utilities(hanoi: DuckStore) -> None:
    hanoi.upsert_utility("other", "Other Town")
    elsewhere = create_token(hanoi, "other-scada", ["ingest"], scope="utility:other")
    web = TestClient(create_app(hanoi), headers={"Authorization": f"Bearer {elsewhere}"})
    refused = web.post("/api/v1/readings", json={"readings": [_reading("P-2")]})
    assert refused.status_code == 403 and "utility:other" in refused.json()["detail"]


def test_mqtt_topic_carries_the_device(hanoi: DuckStore, mqtt_broker: str) -> None:
    import paho.mqtt.client as mqtt

    hanoi.set_sensor_device(["P-2"], "dev-a")
    assert topic_device("suvar/dev-a/readings") == "dev-a" and topic_device("suvar/readings") is None
    root = f"suvar-test-{uuid.uuid4().hex[:8]}"
    ingest = MqttIngest(hanoi, mqtt_broker, f"{root}/+/readings", client_id=f"suvar-{uuid.uuid4().hex[:8]}")
    thread = threading.Thread(target=ingest.run, daemon=True)
    thread.start()
    assert ingest.subscribed.wait(10)
    host, port = parse_broker(mqtt_broker)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    pub.connect(host, port)
    pub.loop_start()
    sent = [pub.publish(f"{root}/dev-a/readings", json.dumps([_reading("P-2", 0), _reading("F-1", 0)]), qos=1),
            pub.publish(f"{root}/dev-b/readings", json.dumps([_reading("P-2", 5), _reading("F-1", 5)]), qos=1)]
    for info in sent:
        info.wait_for_publish(timeout=10)
    pub.loop_stop()
    pub.disconnect()
    deadline = time.monotonic() + 20
    while ingest.messages < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    ingest.stop()
    thread.join(10)
    # P-2 only from dev-a's topic; F-1 (bound to no device) from any
    assert ingest.total.as_dict() == {"accepted": 3, "duplicates": 0, "conflicts": 0,
                                      "quarantined": {"wrong_device": 1}}
    (row,) = hanoi.quarantine(reason="wrong_device").to_dict("records")
    assert row["sensor_id"] == "P-2"


def test_messages_batch_marks_wrong_device() -> None:
    class Msg:
        def __init__(self, topic: str, items: list) -> None:
            self.topic, self.payload = topic, json.dumps(items).encode()

    table = messages_batch([Msg("s/dev-a/readings", [_reading("P-2"), "junk"]), Msg("s/x/readings", [_reading("P-2")])],
                           {"P-2": "dev-a"})
    assert table.column("pre_reason").to_pylist() == [None, "malformed_row", "wrong_device"]


def test_rate_limit_per_token(hanoi: DuckStore) -> None:
    web = TestClient(create_app(hanoi, load_settings({"SUVAR_RATE_LIMIT_PER_MIN": "3"})))
    one = {"Authorization": f"Bearer {create_token(hanoi, 'one', ['read'])}"}
    two = {"Authorization": f"Bearer {create_token(hanoi, 'two', ['read'])}"}
    assert [web.get("/api/v1/utilities", headers=one).status_code for _ in range(3)] == [200, 200, 200]
    limited = web.get("/api/v1/utilities", headers=one)
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 20
    assert "3 requests per minute" in limited.json()["detail"]
    assert web.get("/api/v1/utilities", headers=two).status_code == 200  # buckets are per token


def test_token_bucket_refills() -> None:
    now = [0.0]
    bucket = RateLimiter(60, capacity=2, clock=lambda: now[0])
    assert [bucket.take("k"), bucket.take("k")] == [0.0, 0.0]
    assert bucket.take("k") == pytest.approx(1.0)  # one per second
    now[0] = 0.5
    assert bucket.take("k") == pytest.approx(0.5)
    now[0] = 1.0
    assert bucket.take("k") == 0.0
    assert RateLimiter(0).take("k") == 0.0


def test_body_limit_also_for_streamed_bodies(hanoi: DuckStore) -> None:
    web = TestClient(create_app(hanoi, load_settings({"SUVAR_MAX_BODY_BYTES": "1000"})),
                     headers={"Authorization": f"Bearer {create_token(hanoi, 'in', ['ingest', 'read'])}"})
    big = json.dumps({"readings": [_reading("P-2", m % 60) for m in range(40)]}).encode()
    declared = web.post("/api/v1/readings", content=big, headers={"Content-Type": "application/json"})
    assert declared.status_code == 413 and "1000 bytes" in declared.json()["detail"]

    def chunks():  # no Content-Length: sent chunked
        for i in range(0, len(big), 100):
            yield big[i:i + 100]

    streamed = web.post("/api/v1/readings", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    basin = web.post("/api/v1/allocation/compare", content=chunks(), headers={"Content-Type": "application/json"})
    assert basin.status_code == 413  # any route, before its body is parsed
    assert hanoi.reading_count() == 0
