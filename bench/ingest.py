"""Ingest benchmark: bulk (vs a raw DuckDB insert of the same Arrow table), HTTP and MQTT throughput.

Run: ``make bench`` or ``.venv/bin/python bench/ingest.py [--rows 10000000] [--http 1000000] [--mqtt 500000]``.
Prints one JSON object and writes it to ``bench/out/ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import duckdb
import httpx
import numpy as np
import paho.mqtt.client as mqtt
import pandas as pd
import pyarrow as pa

from suvar.security.tokens import create_token
from suvar.store import DuckStore
from suvar.telemetry.ingest import ingest_batch
from suvar.telemetry.mqtt import MqttIngest, parse_broker

OUT = Path(__file__).parent / "out"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def register(store: DuckStore, n_sensors: int) -> list[str]:
    ids = [f"S{i:05d}" for i in range(n_sensors)]
    store.upsert_sensors(pd.DataFrame({"sensor_id": ids, "utility_id": "bench", "kind": "pressure", "unit": "m"}))
    return ids


def readings_table(ids: list[str], steps: int, start: str = "2025-01-01") -> pa.Table:
    """``len(ids) x steps`` readings at 5-minute steps, ordered by time then sensor (as a SCADA poll writes)."""
    ts = pd.date_range(start, periods=steps, freq="5min", tz="UTC")
    rng = np.random.default_rng(1)
    return pa.table({
        "sensor_id": pa.array(np.tile(np.array(ids, dtype=object), steps), pa.string()),
        "timestamp": pa.array(np.repeat(ts.to_numpy(), len(ids)), pa.timestamp("us", tz="UTC")),
        "value": rng.normal(50, 5, steps * len(ids)),
    })


def bench_bulk(rows: int, tmp: Path) -> dict:
    ids_n = 1000
    table = readings_table([f"S{i:05d}" for i in range(ids_n)], rows // ids_n)
    log(f"bulk: {table.num_rows:,} readings")
    raw = duckdb.connect(str(tmp / "raw.duckdb"))
    raw.execute("CREATE TABLE readings (sensor_id TEXT NOT NULL, ts TIMESTAMPTZ NOT NULL, value DOUBLE NOT NULL)")
    t0 = time.perf_counter()
    raw.register("batch", table)
    raw.execute("INSERT INTO readings SELECT * FROM batch")
    raw.execute("CHECKPOINT")
    raw_s = time.perf_counter() - t0
    raw.close()
    store = DuckStore(tmp / "suvar.duckdb")
    register(store, ids_n)
    t0 = time.perf_counter()
    counts = ingest_batch(store, table, "bench")
    store._con.execute("CHECKPOINT")  # noqa: SLF001 - same durability point as the raw run
    suvar_s = time.perf_counter() - t0
    assert counts.accepted == table.num_rows, counts
    t0 = time.perf_counter()
    again = ingest_batch(store, table.slice(0, 1_000_000), "bench-resend")
    resend_s = time.perf_counter() - t0
    assert again.duplicates == 1_000_000
    store.close()
    return {"readings": table.num_rows, "raw_duckdb_insert_s": round(raw_s, 2), "suvar_ingest_s": round(suvar_s, 2),
            "ratio_suvar_speed_vs_raw": round(raw_s / suvar_s, 3),
            "suvar_readings_per_s": round(table.num_rows / suvar_s),
            "resend_1m_duplicates_s": round(resend_s, 2)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_http(total: int, tmp: Path, batch: int = 5000) -> dict:
    db = tmp / "http.duckdb"
    store = DuckStore(db)
    ids = register(store, 1000)
    token = create_token(store, "bench", ["ingest"])
    store.close()
    port = _free_port()
    env = {**os.environ, "SUVAR_DB": str(db)}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "suvar.api.app:create_app", "--port",
                               str(port), "--log-level", "warning"], env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(f"{url}/api/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        steps = total // len(ids)
        ts = pd.date_range("2025-06-01", periods=steps, freq="1min", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
        records = [{"sensor_id": s, "timestamp": t, "value": 50.0 + (i % 7)} for i, t in enumerate(ts) for s in ids]
        bodies = [json.dumps({"readings": records[i:i + batch]}).encode() for i in range(0, len(records), batch)]
        log(f"http: {len(records):,} readings in {len(bodies)} batches of {batch}")
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        accepted = 0
        with httpx.Client(timeout=60) as client:
            t0 = time.perf_counter()
            for body in bodies:
                r = client.post(f"{url}/api/v1/readings", content=body, headers=headers)
                r.raise_for_status()
                accepted += r.json()["accepted"]
            elapsed = time.perf_counter() - t0
        assert accepted == len(records), accepted
        return {"readings": len(records), "batch": batch, "wall_s": round(elapsed, 2),
                "readings_per_s": round(len(records) / elapsed)}
    finally:
        server.terminate()
        server.wait(10)


def bench_mqtt(total: int, tmp: Path, broker: str, per_message: int = 100) -> dict:
    store = DuckStore(tmp / "mqtt.duckdb")
    ids = register(store, 1000)
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    ingest = MqttIngest(store, broker, f"{topic}/+/readings", client_id=f"bench-{uuid.uuid4().hex[:8]}",
                        max_messages=1000)
    runner = threading.Thread(target=ingest.run, daemon=True)
    runner.start()
    assert ingest.subscribed.wait(10)
    steps = total // len(ids)
    ts = pd.date_range("2025-07-01", periods=steps, freq="1min", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    records = [{"sensor_id": s, "timestamp": t, "value": 40.0} for t in ts for s in ids]
    payloads = [json.dumps(records[i:i + per_message]).encode() for i in range(0, len(records), per_message)]
    log(f"mqtt: {len(records):,} readings in {len(payloads)} messages")
    host, port = parse_broker(broker)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    pub.max_inflight_messages_set(1000)
    pub.max_queued_messages_set(0)
    pub.connect(host, port)
    pub.loop_start()
    t0 = time.perf_counter()
    for i, p in enumerate(payloads):
        # Stay well within the broker's queue for the subscriber: mosquitto's defaults (1000 queued QoS 1
        # messages, 20 in flight) dropped messages here with the publisher 800 messages ahead.
        while i - ingest.messages > 200:
            time.sleep(0.001)
        pub.publish(f"{topic}/dev/readings", p, qos=1)
    deadline = time.monotonic() + 600
    while ingest.total.accepted < len(records) and time.monotonic() < deadline:
        time.sleep(0.02)
    elapsed = time.perf_counter() - t0
    ingest.stop()
    runner.join(10)
    pub.loop_stop()
    pub.disconnect()
    assert ingest.total.accepted == len(records), ingest.total
    store.close()
    return {"readings": len(records), "per_message": per_message, "wall_s": round(elapsed, 2),
            "readings_per_s": round(len(records) / elapsed), "broker": broker}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--http", type=int, default=1_000_000)
    ap.add_argument("--mqtt", type=int, default=500_000)
    ap.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    args = ap.parse_args()
    result: dict[str, object] = {"machine": f"{os.cpu_count()} cores"}
    with tempfile.TemporaryDirectory(prefix="suvar-bench-") as tmp:
        result["bulk"] = bench_bulk(args.rows, Path(tmp))
        log(json.dumps(result["bulk"]))
        result["http"] = bench_http(args.http, Path(tmp))
        log(json.dumps(result["http"]))
        result["mqtt"] = bench_mqtt(args.mqtt, Path(tmp), args.broker)
    OUT.mkdir(exist_ok=True)
    (OUT / "ingest.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
