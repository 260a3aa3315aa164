"""Crash safety: the ingesting process is killed with SIGKILL at random (seeded) moments while telemetry flows, and
restarted. Every reading whose delivery was acknowledged must then be in the store exactly once; re-sending the
unacknowledged ones (and some acknowledged ones) must complete the data without a single duplicate.

* HTTP: ``suvar serve`` as a real process on a free port over a DuckDB file; the publisher posts batches and counts
  one as acknowledged when it got HTTP 200 with every reading accepted or already present.
* MQTT: ``suvar ingest mqtt`` as a real process against the real broker (``mqtt_broker`` fixture), QoS 1 and a
  persistent session; a message is acknowledged when the broker has taken it (PUBACK), after which the platform
  owns it: the broker keeps it for the session until the subscriber acknowledges it after its commit.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pandas as pd
import pytest

from conftest import NETWORKS, _free_port
from suvar.ledger import DatabaseLedgerStore, verify
from suvar.network.epanet import import_network
from suvar.security.audit_log import AUDIT_LEDGER
from suvar.security.tokens import create_token
from suvar.store import DuckStore
from suvar.telemetry.mqtt import parse_broker

SUVAR = str(Path(sys.executable).parent / "suvar")
BASE = datetime(2024, 1, 1)
SENSORS = ("P-2", "F-1")


def _make_store(path: Path) -> str:
    """A store holding the Hanoi network with a pressure and a flow sensor; returns an admin token."""
    with DuckStore(path) as store:
        import_network(store, NETWORKS / "Hanoi_CMH.inp", "hanoi", name="Hanoi")
        store.upsert_sensors(pd.DataFrame([
            {"sensor_id": "P-2", "utility_id": "hanoi", "kind": "pressure", "unit": "m", "node_id": "2"},
            {"sensor_id": "F-1", "utility_id": "hanoi", "kind": "flow", "unit": "m3/h", "link_id": "1"},
        ]))
        return create_token(store, "crash-publisher", ["admin"])


def _batch(b: int, size: int) -> list[dict]:
    """Batch ``b``: ``size`` readings with keys no other batch has and values fixed by the key."""
    out = []
    for k in range(b * size, (b + 1) * size):
        sensor = SENSORS[k % 2]
        out.append({"sensor_id": sensor, "timestamp": (BASE + timedelta(minutes=k // 2)).isoformat() + "Z",
                    "value": round(30.0 + (k % 97) * 0.25, 2)})
    return out


def _keys(batches: set[int], size: int) -> pd.DataFrame:
    rows = [(r["sensor_id"], pd.Timestamp(r["timestamp"][:-1])) for b in sorted(batches) for r in _batch(b, size)]
    return pd.DataFrame(rows, columns=["sensor_id", "ts"])


def _stored(db: Path) -> pd.DataFrame:
    """Every stored (sensor, ts) with how often it is stored; also checks the audit chain survived the kills."""
    with DuckStore(db) as store:
        assert verify(DatabaseLedgerStore(store, AUDIT_LEDGER))["ok"], "audit log chain broken by a kill"
        return store._df("SELECT sensor_id, ts, count(*) AS n FROM readings GROUP BY sensor_id, ts")  # noqa: SLF001


def _present_once(stored: pd.DataFrame, expected: pd.DataFrame) -> tuple[int, int, int]:
    """(missing, duplicated, unexpected) counts of ``expected`` keys in ``stored``."""
    merged = expected.merge(stored, on=["sensor_id", "ts"], how="left")
    missing = int(merged["n"].isna().sum())
    duplicated = int((stored["n"] > 1).sum())
    return missing, duplicated, len(stored) - (len(expected) - missing)


class Process:
    """A ``suvar`` command run as its own process (killable with SIGKILL), its output kept in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as fh:
            fh.write(f"\n=== {' '.join(args)}\n".encode())
            self.proc = subprocess.Popen([SUVAR, *args], env=env, stdout=fh, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    yield {**os.environ, "SUVAR_DB": str(tmp_path / "crash.duckdb"), "SUVAR_RATE_LIMIT_PER_MIN": "0",
           "SUVAR_MAX_BATCH": "100000"}


def _serve(env: dict[str, str], port: int, log: Path, token: str) -> Process:
    server = Process(["serve", "--port", str(port)], env, log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail(f"suvar serve exited with {server.proc.returncode}:\n{server.tail()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2,
                         headers={"Authorization": f"Bearer {token}"}).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.kill()
    pytest.fail(f"suvar serve did not answer within 90 s:\n{server.tail()}")


def _post(client: httpx.Client, url: str, token: str, batch: list[dict]) -> str:
    """``acked`` when the server acknowledged the whole batch (HTTP 200, every reading accepted or a duplicate),
    ``refused`` when no server took the connection, ``lost`` when the connection broke during the request."""
    try:
        response = client.post(url, json={"readings": batch}, headers={"Authorization": f"Bearer {token}"})
    except httpx.ConnectError:
        return "refused"
    except httpx.TransportError:
        return "lost"
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    counts = response.json()
    assert counts["conflicts"] == 0 and not counts["quarantined"], counts
    return "acked" if counts["accepted"] + counts["duplicates"] == len(batch) else "partial"


def _served(client: httpx.Client, port: int, token: str) -> pd.DataFrame:
    """Every (sensor, ts) the running server holds, with how often, from the raw series endpoint."""
    frames = []
    for sensor in SENSORS:
        response = client.get(f"http://127.0.0.1:{port}/api/v1/sensors/{sensor}/series",
                              headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        points = pd.DataFrame(response.json()["points"], columns=["ts", "value"])
        frames.append(points.assign(sensor_id=sensor, ts=pd.to_datetime(points["ts"]).dt.tz_localize(None)))
    both = pd.concat(frames)
    return both.groupby(["sensor_id", "ts"]).size().rename("n").reset_index()


@pytest.mark.slow
def test_http_ingest_survives_sigkill(env: dict[str, str], tmp_path: Path) -> None:
    rng = random.Random(20261129)
    size, kills = 400, 3
    db, log = Path(env["SUVAR_DB"]), tmp_path / "serve.log"
    token = _make_store(db)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api/v1/readings"
    outcome: dict[int, str] = {}
    with httpx.Client(timeout=30) as client:
        for _ in range(kills):
            server = _serve(env, port, log, token)
            killer = threading.Timer(rng.uniform(0.3, 2.0), server.kill)
            killer.start()
            while server.proc.poll() is None or killer.is_alive():
                outcome[len(outcome)] = _post(client, url, token, _batch(len(outcome), size))
            killer.join()
            assert server.proc.returncode == -signal.SIGKILL, server.tail()
        acked = {b for b, result in outcome.items() if result == "acked"}
        unacked = set(outcome) - acked
        print(f"HTTP crash test: {len(acked)} batches acknowledged, outcomes of the others: "
              f"{pd.Series([outcome[b] for b in unacked]).value_counts().to_dict()}")
        assert acked and set(outcome.values()) <= {"acked", "refused", "lost"}, outcome

        server = _serve(env, port, log, token)
        try:
            missing, duplicated, _ = _present_once(_served(client, port, token), _keys(acked, size))
            assert (missing, duplicated) == (0, 0), f"acknowledged: {missing} missing, {duplicated} duplicated"
            resend = sorted(unacked) + rng.sample(sorted(acked), min(3, len(acked)))
            assert all(_post(client, url, token, _batch(b, size)) == "acked" for b in resend)
        finally:
            server.proc.send_signal(signal.SIGTERM)
            server.proc.wait(timeout=30)
    missing, duplicated, unexpected = _present_once(_stored(db), _keys(set(outcome), size))
    assert (missing, duplicated, unexpected) == (0, 0, 0)


# -- MQTT -------------------------------------------------------------------------------------------------------------

class Publisher(threading.Thread):
    """Publishes batch ``m`` as message ``m`` at QoS 1, ``rate_hz`` a second, while it has ``budget`` left (the
    broker must never queue more than it keeps: mosquitto drops QoS 1 messages beyond 1,000 per offline client);
    ``acked()`` are the messages the broker acknowledged (PUBACK)."""

    def __init__(self, broker: str, topic: str, size: int, rate_hz: float) -> None:
        super().__init__(daemon=True)
        host, port = parse_broker(broker)
        self.topic, self.size, self.period_s = topic, size, 1.0 / rate_hz
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"crash-pub-{uuid.uuid4().hex[:8]}")
        self.client.connect(host, port)
        self.client.loop_start()
        self.infos: dict[int, mqtt.MQTTMessageInfo] = {}
        self.halt = threading.Event()
        self.budget = 0

    def run(self) -> None:
        m = 0
        while not self.halt.is_set():
            if self.budget > 0:
                self.infos[m] = self.client.publish(self.topic, json.dumps({"readings": _batch(m, self.size)}), qos=1)
                self.budget -= 1
                m += 1
            time.sleep(self.period_s)

    def publish(self, messages: dict[int, bytes]) -> set[int]:
        infos = {m: self.client.publish(self.topic, payload, qos=1) for m, payload in messages.items()}
        for info in infos.values():
            info.wait_for_publish(timeout=30)
        return {m for m, info in infos.items() if info.is_published()}

    def acked(self) -> set[int]:
        self.halt.set()
        self.join(10)
        for info in self.infos.values():
            info.wait_for_publish(timeout=30)
        return {m for m, info in self.infos.items() if info.is_published()}

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _open_session(broker: str, client_id: str, topic: str) -> None:
    """Create the subscriber's persistent session (clean_session False, QoS 1) before anything is published, so
    that the broker keeps every message for it while the ingest process is down."""
    host, port = parse_broker(broker)
    done = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_: done.set()
    client.connect(host, port)
    client.loop_start()
    assert done.wait(15), "could not subscribe"
    client.loop_stop()
    client.disconnect()


def _commits(log: Path) -> int:
    """Batches the ingest processes committed so far (``suvar ingest mqtt`` prints one JSON line per batch)."""
    return sum(line.startswith("{") for line in log.read_text(errors="replace").splitlines())


@pytest.mark.slow
def test_mqtt_ingest_survives_sigkill(env: dict[str, str], tmp_path: Path, mqtt_broker) -> None:  # noqa: ANN001
    if not mqtt_broker.redelivers:
        pytest.fail("this test needs a broker that redelivers unacknowledged QoS 1 messages (mosquitto); "
                    "amqtt does not: install mosquitto (make test does)")
    rng = random.Random(8)
    size, kills = 50, 3
    db, log = Path(env["SUVAR_DB"]), tmp_path / "ingest.log"
    _make_store(db)
    log.touch()
    topic = f"suvar-crash-{uuid.uuid4().hex[:8]}/dev/readings"
    client_id = f"suvar-crash-{uuid.uuid4().hex[:8]}"
    args = ["ingest", "mqtt", "--broker", mqtt_broker, "--topic", topic, "--client-id", client_id]
    _open_session(mqtt_broker, client_id, topic)
    publisher = Publisher(mqtt_broker, topic, size, rate_hz=20)
    publisher.start()
    try:
        for _ in range(kills):
            publisher.budget = 300
            ingest = Process(args, env, log)
            before, deadline = _commits(log), time.monotonic() + 90
            while _commits(log) == before and time.monotonic() < deadline and ingest.proc.poll() is None:
                time.sleep(0.05)
            assert _commits(log) > before, ingest.tail()
            time.sleep(rng.uniform(0.0, 1.0))  # a random moment of the stream
            ingest.kill()
            assert ingest.proc.returncode == -signal.SIGKILL, ingest.tail()
        acked = publisher.acked()
        assert len(acked) == len(publisher.infos)  # the broker stayed up and took every message
        # Re-send some acknowledged messages, as a publisher that never saw its PUBACK would, then restart: the
        # persistent session delivers what is left (unacknowledged in flight, queued, re-sent). Nothing doubles.
        resend = rng.sample(sorted(acked), 10)
        assert publisher.publish({m: json.dumps(_batch(m, size)).encode() for m in resend}) == set(resend)
        ingest = Process([*args, "--idle-exit", "3"], env, log)
        assert ingest.proc.wait(timeout=120) == 0, ingest.tail()
        print(f"MQTT crash test: {len(acked)} messages of {size} readings, {_commits(log)} batches committed")
    finally:
        publisher.halt.set()
        publisher.close()
    missing, duplicated, unexpected = _present_once(_stored(db), _keys(acked, size))
    assert (missing, duplicated, unexpected) == (0, 0, 0)
