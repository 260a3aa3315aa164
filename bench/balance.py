"""Zone water-balance benchmark: a year of 15-minute data for 10,000 smart meters (about 350 million readings).

Suvar's path (``zone_balances`` with AMR consumption: the store aggregates, the balance is computed per zone and
day with margins, ILI and bands) is timed against a hand-written DuckDB SQL query of the same balance (system
input, metered consumption, water losses and NRW per zone and day) in the same run, and against pandas on a
30-day slice (a year does not fit in pandas on this machine).

Run: ``.venv/bin/python bench/balance.py [--zones 100] [--meters-per-zone 100] [--days 365]``. Prints JSON and
writes ``bench/out/balance.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

from suvar.balance.zone import zone_balances
from suvar.store import DuckStore

OUT = Path(__file__).parent / "out"
START = pd.Timestamp("2025-01-01")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build(path: Path, zones: int, per_zone: int, days: int) -> int:
    """A utility of ``zones`` DMAs, each with an inlet meter, a pressure sensor and ``per_zone`` AMR meters."""
    store = DuckStore(path)
    z = [f"Z{i:03d}" for i in range(zones)]
    nodes = pd.DataFrame({"node_id": ["SRC", *z], "node_type": ["Reservoir", *["Junction"] * zones],
                          "x": range(zones + 1), "y": 0.0, "elevation_m": 0.0})
    links = pd.DataFrame({"link_id": [f"IN{i:03d}" for i in range(zones)], "link_type": "Pipe", "start_node": "SRC",
                          "end_node": z, "length_m": 20_000.0, "diameter_m": 0.3, "roughness": 120.0})
    store.upsert_utility("bench", "Bench City")
    store.replace_network("bench", nodes, links, pd.DataFrame(columns=["pattern_id", "step_s", "position",
                                                                       "multiplier"]))
    store.set_zones("bench", pd.DataFrame({"node_id": z, "zone_id": z}),
                    pd.DataFrame({"zone_id": z, "link_id": links["link_id"], "role": "inlet"}))
    sensors = [{"sensor_id": f"F-{zz}", "kind": "flow", "unit": "m3/h", "link_id": f"IN{i:03d}", "zone_id": zz}
               for i, zz in enumerate(z)]
    sensors += [{"sensor_id": f"P-{zz}", "kind": "pressure", "unit": "m", "node_id": zz, "zone_id": zz} for zz in z]
    sensors += [{"sensor_id": f"M-{zz}-{j:03d}", "kind": "volume", "unit": "m3", "node_id": zz, "zone_id": zz,
                 "connection_id": f"C-{zz}-{j:03d}", "billed": j % 50 != 0} for zz in z for j in range(per_zone)]
    store.upsert_sensors(pd.DataFrame(sensors).assign(utility_id="bench"))
    store.close()
    steps = days * 96
    con = duckdb.connect(str(path))
    t0 = time.perf_counter()
    # AMR: m³ per 15 min with a diurnal cycle and hashed noise; inlet: 1.25 x the zone's expected use (20 % losses).
    con.execute(f"""
        INSERT INTO readings
        SELECT 'M-Z' || lpad(CAST(zi AS VARCHAR), 3, '0') || '-' || lpad(CAST(j AS VARCHAR), 3, '0'),
               TIMESTAMP '{START}' + to_minutes(CAST(t * 15 AS BIGINT)),
               0.01 * (1 + 0.5 * sin(2 * pi() * (t % 96) / 96.0)) * (0.8 + 0.4 * ((hash(zi, j, t) % 1000) / 1000.0))
        FROM range({steps}) r(t), range({zones}) zr(zi), range({per_zone}) m(j)""")
    con.execute(f"""
        INSERT INTO readings
        SELECT 'F-Z' || lpad(CAST(zi AS VARCHAR), 3, '0'), TIMESTAMP '{START}' + to_minutes(CAST(t * 15 AS BIGINT)),
               1.25 * 4 * {per_zone} * 0.01 * (1 + 0.5 * sin(2 * pi() * (t % 96) / 96.0))
        FROM range({steps}) r(t), range({zones}) zr(zi)
        UNION ALL
        SELECT 'P-Z' || lpad(CAST(zi AS VARCHAR), 3, '0'), TIMESTAMP '{START}' + to_minutes(CAST(t * 15 AS BIGINT)),
               45 + 5 * cos(2 * pi() * (t % 96) / 96.0)
        FROM range({steps}) r(t), range({zones}) zr(zi)""")
    con.execute("CHECKPOINT")
    n = con.execute("SELECT count(*) FROM readings").fetchall()[0][0]
    log(f"generated {n:,} readings in {time.perf_counter() - t0:.1f} s")
    con.close()
    return n


SQL_DAILY = """
WITH inlet AS (
  SELECT s.zone_id, date_trunc('day', r.ts) AS day, r.sensor_id, avg(r.value) * 24 AS m3
  FROM readings r JOIN sensors s USING (sensor_id)
  WHERE s.utility_id = 'bench' AND s.kind = 'flow' AND s.connection_id IS NULL GROUP BY ALL),
siv AS (SELECT zone_id, day, sum(m3) AS siv_m3 FROM inlet GROUP BY ALL),
use AS (
  SELECT s.zone_id, date_trunc('day', r.ts) AS day,
         sum(r.value) FILTER (WHERE s.billed) AS billed_m3, sum(r.value) FILTER (WHERE NOT s.billed) AS unbilled_m3
  FROM readings r JOIN sensors s USING (sensor_id)
  WHERE s.utility_id = 'bench' AND s.connection_id IS NOT NULL GROUP BY ALL)
SELECT zone_id, day, siv_m3, billed_m3, unbilled_m3, siv_m3 - billed_m3 - unbilled_m3 AS water_losses_m3,
       100 * (siv_m3 - billed_m3) / siv_m3 AS nrw_pct
FROM siv JOIN use USING (zone_id, day) ORDER BY zone_id, day
"""


def pandas_daily(con: duckdb.DuckDBPyConnection, end: pd.Timestamp) -> pd.DataFrame:
    readings = con.execute("SELECT * FROM readings WHERE ts < ?", [end]).df()
    sensors = con.execute("SELECT sensor_id, zone_id, kind, billed, connection_id FROM sensors").df()
    df = readings.merge(sensors, on="sensor_id")
    df["day"] = df["ts"].dt.floor("D")
    inlet = df[(df["kind"] == "flow") & df["connection_id"].isna()]
    siv = inlet.groupby(["zone_id", "day", "sensor_id"])["value"].mean().mul(24).groupby(["zone_id", "day"]).sum()
    amr = df[df["connection_id"].notna()]
    use = amr.groupby(["zone_id", "day", "billed"])["value"].sum().unstack("billed").fillna(0.0)
    out = pd.DataFrame({"siv_m3": siv}).join(use)
    out["water_losses_m3"] = out["siv_m3"] - out.get(True, 0) - out.get(False, 0)
    return out


def timed(fn):  # noqa: ANN001, ANN201
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--zones", type=int, default=100)
    ap.add_argument("--meters-per-zone", type=int, default=100)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--pandas-days", type=int, default=30)
    args = ap.parse_args()
    end = START + pd.Timedelta(days=args.days)
    with tempfile.TemporaryDirectory(prefix="suvar-bench-balance-") as tmp:
        path = Path(tmp) / "bench.duckdb"
        n = build(path, args.zones, args.meters_per_zone, args.days)
        store = DuckStore(path)
        daily, suvar_daily_s = timed(lambda: zone_balances(store, "bench", None, START, end, freq="D",
                                                           consumption="amr"))
        log(f"suvar daily: {len(daily)} zone-days in {suvar_daily_s:.1f} s")
        monthly, suvar_monthly_s = timed(lambda: zone_balances(store, "bench", None, START, end, freq="MS",
                                                               consumption="amr"))
        log(f"suvar monthly: {len(monthly)} zone-months in {suvar_monthly_s:.1f} s")
        store.close()
        con = duckdb.connect(str(path), read_only=True)
        sql, sql_s = timed(lambda: con.execute(SQL_DAILY).df())
        log(f"sql daily: {len(sql)} zone-days in {sql_s:.1f} s")
        # Same answer: system input and water losses per zone-day.
        merged = daily.merge(sql, left_on=["zone_id", "period_start"], right_on=["zone_id", "day"],
                             suffixes=("", "_sql"))
        assert len(merged) == len(daily) == len(sql)
        max_diff = float((merged["water_losses_m3"] - merged["water_losses_m3_sql"]).abs().max())
        slice_end = START + pd.Timedelta(days=args.pandas_days)
        pdf, pandas_s = timed(lambda: pandas_daily(con, slice_end))
        con.close()
        store = DuckStore(path)
        _, suvar_slice_s = timed(lambda: zone_balances(store, "bench", None, START, slice_end, freq="D",
                                                       consumption="amr"))
        store.close()
        log(f"pandas {args.pandas_days} days: {pandas_s:.1f} s; suvar same slice {suvar_slice_s:.1f} s")
    result = {
        "machine": f"{os.cpu_count()} cores",
        "readings": n, "meters": args.zones * args.meters_per_zone, "zones": args.zones, "days": args.days,
        "suvar_daily_s": round(suvar_daily_s, 2), "suvar_monthly_s": round(suvar_monthly_s, 2),
        "sql_daily_s": round(sql_s, 2), "ratio_sql_time_over_suvar_time": round(sql_s / suvar_daily_s, 3),
        "max_abs_diff_water_losses_m3": max_diff,
        "pandas_slice_days": args.pandas_days, "pandas_slice_s": round(pandas_s, 2),
        "suvar_slice_s": round(suvar_slice_s, 2),
        "ratio_pandas_time_over_suvar_time": round(pandas_s / suvar_slice_s, 3),
        "zone_days": len(daily), "pandas_rows": len(pdf),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "balance.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
