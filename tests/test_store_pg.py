"""What only the PostgreSQL store has: monthly partitions, the binary COPY path, migrations under a lock, many
writing processes at once, and the same answers as DuckDB for the same data."""

from __future__ import annotations

import inspect
import multiprocessing
import threading
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pytest

from suvar.ledger import DatabaseLedgerStore, verify
from suvar.security.audit_log import AUDIT_LEDGER, record
from suvar.store import LATEST_VERSION, DuckStore, PostgresStore, Store, open_store
from suvar.store.migrations import MIGRATIONS
from suvar.store.pg import PG_EXTRAS, _pg_ddl, encode_binary_copy

only_postgres = pytest.mark.parametrize("store", ["postgres"], indirect=True)


def _batch(sensor_ids: list[str], ts: list[str] | pd.DatetimeIndex, values: list[float] | np.ndarray) -> pa.Table:
    stamps = pa.array(pd.to_datetime(ts, format="ISO8601"), pa.timestamp("us"))
    return pa.table({"sensor_id": list(sensor_ids), "ts": stamps, "value": np.asarray(values, dtype=float)})


def test_same_public_methods_as_duckdb() -> None:
    public = {n for n in dir(DuckStore) if not n.startswith("_")}
    missing = public - set(dir(PostgresStore))
    assert not missing, f"PostgresStore lacks {sorted(missing)}"
    for name in sorted(public):
        duck, pg = getattr(DuckStore, name), getattr(PostgresStore, name)
        if callable(duck):
            assert inspect.signature(duck) == inspect.signature(pg), name
    assert isinstance(DuckStore(":memory:"), Store)


def test_open_store_picks_postgres_by_url(pg_url: str) -> None:
    s = open_store(pg_url)
    assert isinstance(s, PostgresStore) and isinstance(s, Store) and s.schema_version() == LATEST_VERSION
    s.close()


@only_postgres
def test_batches_land_in_monthly_partitions_made_on_demand(store: PostgresStore) -> None:
    ts = ["2023-12-31 23:59:59.999999", "2024-01-01 00:00", "2024-02-29 12:00", "2024-03-01 00:00"]
    counts = store.write_batch("t", _batch(["a", "a", "a", "a"], ts, [1, 2, 3, 4]), pd.DataFrame())
    assert counts.accepted == 4
    names = {"readings_y2023m12", "readings_y2024m01", "readings_y2024m02", "readings_y2024m03"}
    assert names <= set(store.partitions())
    with psycopg.connect(store.path) as con:
        placed = con.execute("SELECT tableoid::regclass::text, value FROM readings ORDER BY ts").fetchall()
    assert placed == [("readings_y2023m12", 1.0), ("readings_y2024m01", 2.0), ("readings_y2024m02", 3.0),
                      ("readings_y2024m03", 4.0)]
    assert store.ensure_partitions(pa.array(pd.to_datetime(["2024-01-15"]), pa.timestamp("us"))) == []


@only_postgres
def test_binary_copy_round_trips_exactly(store: PostgresStore) -> None:
    ids = ["s", "sensor-ü-22", "P-1", "日本-7", "s"]  # ids of different byte lengths, not grouped
    ts = ["1999-12-31 23:00:00.000001", "2024-01-01 00:00:00.5", "2024-06-30 23:59:59.999999",
          "2024-01-01 00:00", "2024-01-01 00:00:01"]
    values = [1 / 3, -0.0, 1e-300, -1.7976931348623157e308, 123456.789]
    batch = _batch(ids, ts, values)
    assert encode_binary_copy(batch).startswith(b"PGCOPY\n\xff\r\n\x00")
    assert store.write_batch("t", batch, pd.DataFrame()).accepted == 5
    back = store.series(sorted(set(ids)))
    expected = batch.to_pandas().sort_values(["sensor_id", "ts"], ignore_index=True)
    pd.testing.assert_frame_equal(back, expected)
    assert np.signbit(back.loc[back["sensor_id"] == "sensor-ü-22", "value"].iloc[0])  # -0.0 kept


@only_postgres
def test_nul_characters_neither_fail_nor_match(store: PostgresStore) -> None:
    bad = pd.DataFrame([{"position": 1, "reason": "malformed", "detail": "x", "sensor_id": None, "raw": "a\x00b"},
                        {"position": np.nan, "reason": "malformed", "detail": "x", "sensor_id": None, "raw": "c"}])
    assert bad["position"].dtype == float  # an integer column with a gap, as pandas has it
    store.write_batch("t", _batch([], [], []), bad)
    assert store.quarantine()["raw"].tolist() == ["a\ufffdb", "c"]
    assert store.quarantine()["position"].tolist()[0] == 1
    assert store.sensors(utility_id="\x00").empty


@only_postgres
def test_same_answers_as_duckdb(store: Store, hanoi: Store) -> None:
    """Resampling (every aggregate, odd steps aligned like DuckDB's time_bucket), zone series and customer
    volumes on PostgreSQL equal DuckDB's for the same readings."""
    duck = DuckStore(":memory:")
    for s in (duck,):
        s.upsert_utility("hanoi", "Hanoi")
        s.replace_network("hanoi", hanoi.nodes("hanoi"), hanoi.links("hanoi"), pd.DataFrame(
            columns=["pattern_id", "step_s", "position", "multiplier"]))
        s.upsert_sensors(hanoi.sensors())
    rng = np.random.default_rng(7)
    times = pd.date_range("2024-01-30", periods=4 * 24 * 12, freq="5min")
    for sensor in ("P-2", "P-3", "F-1", "V-9"):
        batch = _batch([sensor] * len(times), times, rng.normal(50, 5, len(times)).round(6))
        assert hanoi.write_batch("t", batch, pd.DataFrame()).as_dict() == duck.write_batch(
            "t", batch, pd.DataFrame()).as_dict()
    sensors = ["F-1", "P-2", "P-3", "V-9"]
    for agg in ("mean", "min", "max", "sum", "last", "first", "count"):
        for step in (900, 7000, 604800):
            got, want = hanoi.series(sensors, step_s=step, agg=agg), duck.series(sensors, step_s=step, agg=agg)
            pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-12)
    window = dict(start=datetime(2024, 1, 31), end=datetime(2024, 2, 2, 7))
    pd.testing.assert_frame_equal(hanoi.series(["P-2"], **window), duck.series(["P-2"], **window))
    for agg in ("mean", "max"):  # not "last": two sensors share each timestamp, and either may come last
        pd.testing.assert_frame_equal(hanoi.zone_aggregates("hanoi", "pressure", step_s=3600, agg=agg),
                                      duck.zone_aggregates("hanoi", "pressure", step_s=3600, agg=agg),
                                      check_dtype=False, rtol=1e-12)
    pd.testing.assert_frame_equal(hanoi.customer_volumes("hanoi", "2024-01-01", "2024-03-01"),
                                  duck.customer_volumes("hanoi", "2024-01-01", "2024-03-01"),
                                  check_dtype=False, rtol=1e-12)


def _schema_url(pg_url: str, schema: str) -> str:
    return f"{pg_url}?options={quote(f'-c search_path={schema}')}"


def test_older_database_is_upgraded_and_concurrent_openers_agree(pg_url: str) -> None:
    schema = "suvar_old"
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        con.execute(f"CREATE SCHEMA {schema}")
        con.execute(f"SET search_path = {schema}")
        con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT, "
                    "applied_at TIMESTAMP)")
        version, description, statements = MIGRATIONS[0]
        for stmt in [*map(_pg_ddl, statements), *PG_EXTRAS[1]]:
            con.execute(stmt)
        con.execute("INSERT INTO schema_version VALUES (%s, %s, now())", [version, description])
        con.execute("INSERT INTO utilities (utility_id, name) VALUES ('u1', 'Old Town')")
    url = _schema_url(pg_url, schema)
    opened: list[PostgresStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(PostgresStore(url))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(opened) == 3
    s = opened[0]
    assert s.schema_version() == LATEST_VERSION > 1
    assert s.utilities()["name"].tolist() == ["Old Town"]  # data kept
    assert s.connections("u1").empty  # a later migration's table exists
    with psycopg.connect(url) as con:
        versions = [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == [v for v, _, _ in MIGRATIONS]  # each applied once
    for o in opened:
        o.close()
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(f"DROP SCHEMA {schema} CASCADE")


N_WRITERS, N_BATCHES, SENSORS, STEPS = 4, 6, 40, 250


def _writer(url: str, k: int) -> dict:
    """One writing process: batches that overlap the other writers' (same values) and a few conflicting rows
    (its own values), plus audit-log records appended under the store lock."""
    store = PostgresStore(url)
    totals = {"accepted": 0, "duplicates": 0, "conflicts": 0, "rows": 0}
    times = pd.date_range("2024-01-31 20:00", periods=STEPS, freq="1min")  # crosses into February
    for b in range(N_BATCHES):
        first = (b * SENSORS // N_BATCHES + k * 3) % SENSORS  # each writer starts elsewhere: overlaps interleave
        ids = [f"s{(first + i) % SENSORS:02d}" for i in range(SENSORS // 2)]
        sensor = np.repeat(ids, STEPS)
        ts = np.tile(times.to_numpy(), len(ids))
        value = np.array([int(s[1:]) for s in sensor], dtype=float) * 1000 + np.tile(np.arange(STEPS), len(ids))
        value[::97] += 0.5 + k  # a few rows disagree with every other writer
        counts = store.write_batch(f"w{k}", pa.table({"sensor_id": sensor, "ts": pa.array(ts, pa.timestamp("us")),
                                                      "value": value}), pd.DataFrame(), unique_keys=True)
        for key in ("accepted", "duplicates", "conflicts"):
            totals[key] += getattr(counts, key)
        totals["rows"] += len(sensor)
        record(store, f"w{k}", "ingest", {"batch": b})
    store.close()
    return totals


@only_postgres
def test_concurrent_writer_processes_lose_and_duplicate_nothing(store: PostgresStore) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(N_WRITERS) as pool:
        results = pool.starmap(_writer, [(store.path, k) for k in range(N_WRITERS)])
    with psycopg.connect(store.path) as con:
        n, distinct = con.execute("SELECT count(*), count(DISTINCT (sensor_id, ts)) FROM readings").fetchone()
        conflict_rows = con.execute("SELECT count(*) FROM reading_conflicts").fetchone()[0]
        batches = con.execute("SELECT sum(accepted), sum(duplicates), sum(conflicts), count(*) "
                              "FROM ingest_batches").fetchone()
    sent = sum(r["rows"] for r in results)
    accepted = sum(r["accepted"] for r in results)
    conflicts = sum(r["conflicts"] for r in results)
    assert n == distinct == SENSORS * STEPS  # every key stored once: all writers together cover all sensors
    assert accepted == n  # each stored reading was accepted by exactly one writer
    assert accepted + sum(r["duplicates"] for r in results) + conflicts == sent  # every row accounted for
    assert 0 < conflicts == conflict_rows  # each conflict is on record for review
    assert tuple(batches) == (accepted, sent - accepted - conflicts, conflicts, N_WRITERS * N_BATCHES)
    # Values are the agreed ones or some writer's own: first write wins, never a blend.
    got = store.series([f"s{i:02d}" for i in range(SENSORS)])
    base = got["sensor_id"].str[1:].astype(float) * 1000 + (got["ts"] - got["ts"].min()).dt.total_seconds() / 60
    assert set(np.round(got["value"] - base, 6)) <= {0.0} | {0.5 + k for k in range(N_WRITERS)}
    report = verify(DatabaseLedgerStore(store, AUDIT_LEDGER))
    assert report["ok"] and report["entries"] == N_WRITERS * N_BATCHES  # one chain across processes


@only_postgres
def test_backup_to_duckdb_and_restore_into_postgres(hanoi: PostgresStore, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from suvar.cli import app

    times = pd.date_range("2024-01-31 23:00", periods=8, freq="15min")
    hanoi.write_batch("t", _batch(["P-2"] * 8, times, np.arange(8.0)), pd.DataFrame())
    hanoi.raise_alarm({"dedup_key": "k", "kind": "leak", "severity": "warning", "scope": "hanoi", "title": "t"})
    record(hanoi, "op", "test", {"i": 1})
    copy = tmp_path / "backup.duckdb"
    hanoi.backup(copy)
    duck = DuckStore(copy)
    assert duck.reading_count() == 8 and len(duck.sensors()) == 4 and len(duck.alarms()) == 1
    duck.close()
    monkeypatch.setenv("SUVAR_DB", hanoi.path)
    runner = CliRunner()
    refused = runner.invoke(app, ["restore", str(copy)])
    assert refused.exit_code == 2 and "holds data" in refused.output
    hanoi.write_batch("t", _batch(["P-3"], ["2024-03-01"], [1.0]), pd.DataFrame())  # replaced by the restore
    restored = runner.invoke(app, ["restore", str(copy), "--force"])
    assert restored.exit_code == 0, restored.output
    assert hanoi.series(["P-2", "P-3"])["value"].tolist() == list(np.arange(8.0))
    assert len(hanoi.sensors()) == 4 and hanoi.alarms()["alarm_id"].tolist() == [1]
    assert hanoi.raise_alarm({"dedup_key": "k2", "kind": "leak", "severity": "warning", "scope": "hanoi",
                              "title": "t"}) == 2  # sequences carry on after the restored ids
    actions = [e["content"]["action"] for e in DatabaseLedgerStore(hanoi, AUDIT_LEDGER).entries()]
    assert actions[-2:] == ["test", "restore"] and verify(DatabaseLedgerStore(hanoi, AUDIT_LEDGER))["ok"]


@only_postgres
def test_a_dropped_partition_is_made_again(store: PostgresStore) -> None:
    store.write_batch("t", _batch(["a"], ["2024-05-01"], [1.0]), pd.DataFrame())
    with psycopg.connect(store.path, autocommit=True) as con:  # e.g. a retention job dropped the month
        con.execute("DROP TABLE readings_y2024m05")
    assert store.write_batch("t", _batch(["a"], ["2024-05-02"], [2.0]), pd.DataFrame()).accepted == 1
    assert store.series(["a"])["value"].tolist() == [2.0]


@only_postgres
def test_http_and_mqtt_ingest_processes_with_panel_readers(hanoi: PostgresStore, mqtt_broker: str) -> None:
    """Two ``suvar serve`` processes and one ``suvar ingest mqtt`` process write the same readings at once (each
    in its own order) while a reader polls a server: every reading is stored once, every row is accounted for."""
    import json
    import os
    import random
    import subprocess
    import sys
    import time
    import uuid
    from pathlib import Path as _Path

    import httpx

    from conftest import _free_port
    from suvar.security.tokens import create_token
    from test_ingest_mqtt import _publish

    suvar = str(_Path(sys.executable).parent / "suvar")
    writer, reader = create_token(hanoi, "writer", ["ingest"]), create_token(hanoi, "reader", ["admin"])
    rows = [{"sensor_id": s, "timestamp": f"2024-01-31T{m // 60 + 20:02d}:{m % 60:02d}:00Z", "value": 3 + m % 7 / 10}
            for s in ("P-2", "P-3", "F-1") for m in range(240)]  # 720 keys, crossing into February
    batches = [rows[i:i + 60] for i in range(0, len(rows), 60)]
    env = {**os.environ, "SUVAR_DB": hanoi.path}
    ports = [_free_port(), _free_port()]
    topic = f"suvar-pg-{uuid.uuid4().hex[:8]}"
    procs = [subprocess.Popen([suvar, "serve"], env={**env, "SUVAR_PORT": str(p)}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for p in ports]
    mqtt_proc = None
    try:
        # Ready: both servers answer, and the MQTT process has committed a probe reading.
        deadline = time.monotonic() + 90
        for port in ports:
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/api/v1/alarms", timeout=2)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "suvar serve did not start"
                    time.sleep(0.3)
        mqtt_proc = subprocess.Popen([suvar, "ingest", "mqtt", "--broker", mqtt_broker, "--topic",
                                      f"{topic}/+/readings", "--client-id", f"suvar-{topic}", "--idle-exit", "5"],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        probes = 0
        probe = json.dumps([{"sensor_id": "V-9", "timestamp": "2024-01-31T00:00:00Z", "value": 1}]).encode()
        while hanoi.series(["V-9"]).empty:
            assert time.monotonic() < deadline and mqtt_proc.poll() is None, "suvar ingest mqtt did not subscribe"
            _publish(mqtt_broker, f"{topic}/probe/readings", [probe])
            probes += 1
            time.sleep(0.5)

        statuses: list[int] = []
        done = threading.Event()

        def read() -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{ports[0]}", timeout=30,
                              headers={"Authorization": f"Bearer {reader}"}) as http:
                while not done.is_set():
                    statuses.append(http.get("/api/v1/sensors/P-2/series", params={"step": "15min"}).status_code)
                    statuses.append(http.get("/api/v1/quarantine").status_code)

        def post(port: int, order: list[list[dict]]) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                              headers={"Authorization": f"Bearer {writer}"}) as http:
                for b in order:
                    statuses.append(http.post("/api/v1/readings", json={"readings": b}).status_code)

        shuffled = random.Random(3).sample(batches, len(batches))
        threads = [threading.Thread(target=read), threading.Thread(target=post, args=(ports[0], batches)),
                   threading.Thread(target=post, args=(ports[1], batches[::-1])),
                   threading.Thread(target=_publish, args=(mqtt_broker, f"{topic}/dev/readings",
                                                           [json.dumps(b).encode() for b in shuffled]))]
        for t in threads[1:]:
            t.start()
        threads[0].start()
        for t in threads[1:]:
            t.join()
        out, err = mqtt_proc.communicate(timeout=120)  # exits after 5 idle seconds: everything committed
        done.set()
        threads[0].join()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        if mqtt_proc is not None and mqtt_proc.poll() is None:
            mqtt_proc.kill()
    assert mqtt_proc.returncode == 0, err
    assert set(statuses) == {200} and len(statuses) > 2 * len(batches)
    with psycopg.connect(hanoi.path) as con:
        n, distinct = con.execute("SELECT count(*), count(DISTINCT (sensor_id, ts)) FROM readings").fetchone()
        accepted, seen, conflicts = con.execute(
            "SELECT sum(accepted), sum(accepted + duplicates + conflicts), sum(conflicts) FROM ingest_batches"
        ).fetchone()
    assert hanoi.quarantine().empty
    assert n == distinct == len(rows) + 1  # the readings and the probe, each once
    assert accepted == n and conflicts == 0
    mq = json.loads(out.strip().splitlines()[-1])
    mqtt_rows = mq["accepted"] + mq["duplicates"] + mq["conflicts"]
    assert 1 <= mqtt_rows - len(rows) <= probes  # all its readings and the probes it was subscribed for
    assert seen == 2 * len(rows) + mqtt_rows  # every row sent by every writer is accounted for
