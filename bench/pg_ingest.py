"""Ingest throughput into PostgreSQL with 1, 2 and 4 concurrent writer processes, against raw COPY.

Each run gets a fresh database. ``--readings`` readings of ``--sensors`` sensors at 15-minute steps (crossing a
month boundary, so two partitions are made on demand) are split by sensor among the writers, as separate ingest
processes would see them, and sent time-major in batches of ``--batch`` through ``PostgresStore.write_batch``
(binary COPY into staging, INSERT … ON CONFLICT DO NOTHING into the partitioned, primary-keyed table, batch
record). The baseline is raw binary COPY of the same rows, by the same number of processes, into a plain table
without keys or indexes; a second one COPYs them into a table keyed and partitioned like ``readings`` (what the
primary key alone costs, without deduplication or conflict detection). Wall time runs from a barrier that
releases all writers to the last one's finish.

    python bench/pg_ingest.py [--url postgresql://postgres@localhost:5432/postgres] [--readings 2000000]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import secrets
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
from psycopg import sql

from suvar.store import PostgresStore
from suvar.store.pg import encode_binary_copy

STEP = np.timedelta64(15, "m")
START = np.datetime64("2024-01-25T00:00")


def batches(writer: int, writers: int, n_sensors: int, readings: int, batch: int) -> list[pa.Table]:
    """This writer's share: its sensors (every ``writers``-th), all their timestamps, time-major."""
    ids = np.array([f"AMR-{i:06d}" for i in range(writer, n_sensors, writers)])
    steps = readings // n_sensors
    ts = START + np.arange(steps) * STEP
    rng = np.random.default_rng(writer)
    sensor = np.tile(ids, steps)
    stamps = np.repeat(ts, len(ids)).astype("datetime64[us]")
    value = rng.gamma(2.0, 0.05, len(sensor)).round(4)
    table = pa.table({"sensor_id": sensor, "ts": stamps, "value": value})
    return [table.slice(i, batch) for i in range(0, table.num_rows, batch)]


def _writer(url: str, mode: str, writer: int, writers: int, args: tuple, barrier: mp.Barrier, out: mp.Queue) -> None:
    parts = batches(writer, writers, *args)
    if mode == "store":
        store = PostgresStore(url)
        empty = pd.DataFrame()
        barrier.wait()
        t0 = time.perf_counter()
        accepted = sum(store.write_batch("bench", part, empty, unique_keys=True).accepted for part in parts)
        store.close()
    else:
        payloads = [encode_binary_copy(p) for p in parts]  # encoding is the store's cost, not COPY's
        stmt = sql.SQL("COPY {} (sensor_id, ts, value) FROM STDIN (FORMAT binary)").format(sql.Identifier(mode))
        with psycopg.connect(url, autocommit=True) as con:
            barrier.wait()
            t0 = time.perf_counter()
            for payload in payloads:
                with con.transaction(), con.cursor().copy(stmt) as copy:
                    copy.write(payload)
            accepted = sum(p.num_rows for p in parts)
    out.put((time.perf_counter() - t0, accepted))


def run(admin_url: str, mode: str, writers: int, args: tuple) -> tuple[float, int]:
    name = f"suvar_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as con:
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    try:
        if mode == "store":
            PostgresStore(url).close()  # schema first, so the timed part is ingest only
        with psycopg.connect(url, autocommit=True) as con:
            con.execute("CREATE TABLE plain (sensor_id TEXT, ts TIMESTAMP, value DOUBLE PRECISION)")
            con.execute('CREATE TABLE keyed (sensor_id TEXT COLLATE "C", ts TIMESTAMP, value DOUBLE PRECISION, '
                        "PRIMARY KEY (sensor_id, ts)) PARTITION BY RANGE (ts)")
            for first, nxt in (("2024-01-01", "2024-02-01"), ("2024-02-01", "2024-03-01")):
                con.execute(f"CREATE TABLE keyed_{first[5:7]} PARTITION OF keyed FOR VALUES FROM ('{first}') "
                            f"TO ('{nxt}')")
        ctx = mp.get_context("spawn")
        barrier, out = ctx.Barrier(writers + 1), ctx.Queue()
        procs = [ctx.Process(target=_writer, args=(url, mode, w, writers, args, barrier, out)) for w in range(writers)]
        for p in procs:
            p.start()
        barrier.wait()
        t0 = time.perf_counter()
        results = [out.get() for _ in procs]
        wall = time.perf_counter() - t0
        for p in procs:
            p.join()
        with psycopg.connect(url) as con:
            table = "readings" if mode == "store" else mode
            stored = con.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]
        assert stored == sum(r[1] for r in results), (stored, results)
        return wall, stored
    finally:
        with psycopg.connect(admin_url, autocommit=True) as con:
            con.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="postgresql://postgres@localhost:5432/postgres", help="admin URL")
    ap.add_argument("--readings", type=int, default=2_000_000)
    ap.add_argument("--sensors", type=int, default=1_000)
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--writers", default="1,2,4")
    a = ap.parse_args()
    args = (a.sensors, a.readings, a.batch)
    print(f"{a.readings:,} readings of {a.sensors:,} sensors, batches of {a.batch:,}; {mp.cpu_count()} CPUs")
    print(f"{'writers':>7} {'store s':>8} {'store /s':>10} {'plain COPY s':>12} {'ratio':>6} "
          f"{'keyed COPY s':>12} {'ratio':>6}")
    for writers in (int(w) for w in a.writers.split(",")):
        store_s, n = run(a.url, "store", writers, args)
        plain_s, _ = run(a.url, "plain", writers, args)
        keyed_s, _ = run(a.url, "keyed", writers, args)
        print(f"{writers:>7} {store_s:>8.2f} {n / store_s:>10,.0f} {plain_s:>12.2f} {plain_s / store_s:>6.2f} "
              f"{keyed_s:>12.2f} {keyed_s / store_s:>6.2f}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
