"""The Parquet lake: export layout and idempotence, and the analyses over it equal to those over the store.

The test utility's readings are multiples of 1/8 (m³/h, m, m³), so every sum the store computes is exact in
binary floating point whatever order DuckDB adds in; the lake and the store can then be compared with
``check_exact=True``, and any difference is a difference in the computation, not in rounding.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from typer.testing import CliRunner

from suvar.balance.zone import zone_balances, zone_night_flow
from suvar.cli import app
from suvar.lake.export import export_parquet
from suvar.lake.jobs import lake_night_flow, lake_zone_balances, local_month_pieces
from suvar.lake.store import LakeStore
from suvar.store import DuckStore

T0, T1 = pd.Timestamp("2025-01-15"), pd.Timestamp("2025-04-01")
GAP_DAY = pd.Timestamp("2025-02-10")  # F-IN has no reading that day, and half of the next


def build_town(store: DuckStore) -> None:
    """Utility ``town``: zones N and S; N is fed by link IN and passes water to S over link NS (an outlet of N,
    the inlet of S). Each zone has a pressure sensor, three AMR flow meters, one AMR volume meter and two
    unmetered connections, monthly billing from the 15th, and 15-minute readings from Jan 15 to Mar 31 2025."""
    nodes = pd.DataFrame({"node_id": ["SRC", "N1", "N2", "S1", "S2"], "x": range(5), "y": 0.0, "elevation_m": 0.0,
                          "node_type": ["Reservoir", "Junction", "Junction", "Junction", "Junction"]})
    links = pd.DataFrame({"link_id": ["IN", "N12", "NS", "S12"], "start_node": ["SRC", "N1", "N2", "S1"],
                          "end_node": ["N1", "N2", "S1", "S2"], "link_type": "Pipe", "length_m": [500.0, 1500.0,
                                                                                                  400.0, 2500.0],
                          "diameter_m": 0.2, "roughness": 120.0})
    store.upsert_utility("town", "Test Town")
    store.replace_network("town", nodes, links, pd.DataFrame(columns=["pattern_id", "step_s", "position",
                                                                      "multiplier"]))
    store.set_zones("town", pd.DataFrame({"node_id": ["N1", "N2", "S1", "S2"], "zone_id": ["N", "N", "S", "S"]}),
                    pd.DataFrame({"zone_id": ["N", "N", "S"], "link_id": ["IN", "NS", "NS"],
                                  "role": ["inlet", "outlet", "inlet"]}))
    sensors = [{"sensor_id": "F-IN", "kind": "flow", "unit": "m3/h", "link_id": "IN", "zone_id": "N"},
               {"sensor_id": "F-NS", "kind": "flow", "unit": "m3/h", "link_id": "NS", "zone_id": "N"},
               {"sensor_id": "P-N", "kind": "pressure", "unit": "m", "node_id": "N2", "zone_id": "N"},
               {"sensor_id": "P-S", "kind": "pressure", "unit": "m", "node_id": "S2", "zone_id": "S"}]
    connections = []
    for z in ("N", "S"):
        for j in range(6):
            cid = f"C-{z}{j}"
            connections.append({"utility_id": "town", "connection_id": cid, "node_id": f"{z}2", "zone_id": z,
                                "customer_class": "residential", "persons": 3, "metered": j < 4})
            if j < 4:
                sensors.append({"sensor_id": f"M-{z}{j}", "kind": "flow" if j < 3 else "volume",
                                "unit": "m3/h" if j < 3 else "m3", "node_id": f"{z}2", "zone_id": z,
                                "connection_id": cid, "customer_class": "residential", "billed": j != 2})
    store.upsert_sensors(pd.DataFrame(sensors).assign(utility_id="town"))
    store.upsert_connections(pd.DataFrame(connections))
    starts = pd.date_range("2024-12-01", "2025-03-01", freq="MS") + pd.Timedelta(days=14)
    store.upsert_billing(pd.DataFrame([
        {"utility_id": "town", "connection_id": c["connection_id"], "period_start": s.date(),
         "period_end": (s + pd.offsets.MonthBegin(1) + pd.Timedelta(days=13)).date(),
         "volume_m3": 300.0 + 8 * k, "metered": c["metered"], "billed": not c["connection_id"].endswith("5"),
         "amount": 450.0 + 12 * k} for k, s in enumerate(starts) for c in connections]))
    ts = pd.date_range(T0, T1, freq="15min", inclusive="left")
    t = np.arange(len(ts))
    night = np.asarray((ts.hour >= 1) & (ts.hour < 5))
    values = {
        "F-IN": 12.0 + (t % 8) / 8 - 4.0 * night,
        "F-NS": 5.0 + (t % 4) / 4 - 2.0 * night,
        "P-N": 40.0 + (t % 16) / 8,
        "P-S": 35.0 + (t % 8) / 8,
    }
    for z in ("N", "S"):
        for j in range(3):  # each day's mean flow is exact: (0.25 + 0.5 + 0.75) x 32 / 96 per unit
            values[f"M-{z}{j}"] = (j + 1) * np.array([0.25, 0.5, 0.75])[t % 3]
        values[f"M-{z}3"] = np.full(len(t), 0.125)
    frames = [pd.DataFrame({"sensor_id": sid, "ts": ts, "value": v}) for sid, v in values.items()]
    readings = pd.concat(frames, ignore_index=True)
    gone = (readings["sensor_id"] == "F-IN") & (readings["ts"] >= GAP_DAY) & (
        readings["ts"] < GAP_DAY + pd.Timedelta(hours=36))
    table = pa.Table.from_pandas(readings[~gone], preserve_index=False)
    store.write_batch("test", table, pd.DataFrame(columns=["reason"]), unique_keys=True)


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> tuple[DuckStore, Path]:
    """The test utility in a store, and its lake."""
    tmp = tmp_path_factory.mktemp("lake")
    store = DuckStore(tmp / "town.duckdb")
    build_town(store)
    export_parquet(store, tmp / "lake")
    yield store, tmp / "lake"
    store.close()


def test_export_layout_is_hive_partitioned_and_complete(town: tuple[DuckStore, Path]) -> None:
    store, lake = town
    dataset = ds.dataset(lake / "readings", format="parquet", partitioning="hive")
    table = dataset.to_table()
    assert table.num_rows == store.reading_count()
    months = sorted({p.name for p in (lake / "readings" / "utility_id=town").iterdir()})
    assert months == ["month=2025-01", "month=2025-02", "month=2025-03"]
    assert set(table.column("utility_id").to_pylist()) == {"town"}
    feb = pd.read_parquet(lake / "readings" / "utility_id=town" / "month=2025-02")
    assert feb["ts"].min() == pd.Timestamp("2025-02-01") and feb["ts"].max() < pd.Timestamp("2025-03-01")
    # each month is sorted by sensor then time, so readers can skip other sensors' row groups
    assert feb[["sensor_id", "ts"]].equals(feb[["sensor_id", "ts"]].sort_values(["sensor_id", "ts"]).reset_index(
        drop=True))
    sensors = pd.read_parquet(lake / "registry" / "utility_id=town" / "sensors.parquet")
    assert sorted(sensors["sensor_id"]) == sorted(store.sensors("town")["sensor_id"])
    assert len(pd.read_parquet(lake / "registry" / "utility_id=town" / "billing.parquet")) == 4 * 12


def test_reexport_replaces_a_month_and_nothing_else(town: tuple[DuckStore, Path], tmp_path: Path) -> None:
    store, _ = town
    lake = tmp_path / "lake"
    first = export_parquet(store, lake, utility_id="town")
    part = lake / "readings" / "utility_id=town"
    jan_file = next((part / "month=2025-01").glob("*.parquet"))
    jan_stamp = os.stat(jan_file).st_mtime_ns
    again = export_parquet(store, lake, utility_id="town", start="2025-02-10", end="2025-02-20")
    assert again == {"town": {"2025-02": first["town"]["2025-02"]}}  # widened to the whole month
    assert os.stat(jan_file).st_mtime_ns == jan_stamp
    assert sorted(p.name for p in part.iterdir()) == ["month=2025-01", "month=2025-02", "month=2025-03"]
    total = ds.dataset(lake / "readings", format="parquet", partitioning="hive").count_rows()
    assert total == store.reading_count()  # replaced, not appended


def test_generic_export_writes_the_same_rows(town: tuple[DuckStore, Path], tmp_path: Path) -> None:
    store, lake = town
    export_parquet(store, tmp_path / "generic", start="2025-01-01", end="2025-04-01", fast=False, chunk_sensors=5)
    for month in ("2025-01", "2025-03"):
        a = pd.read_parquet(lake / "readings" / "utility_id=town" / f"month={month}")
        b = pd.read_parquet(tmp_path / "generic" / "readings" / "utility_id=town" / f"month={month}")
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    with pytest.raises(ValueError, match="needs both --from and --to"):
        export_parquet(store, tmp_path / "x", fast=False)


@pytest.mark.parametrize(("freq", "consumption"), [("D", "billing"), ("MS", "billing"), ("D", "amr")])
def test_balances_over_the_lake_equal_the_store(town: tuple[DuckStore, Path], freq: str, consumption: str) -> None:
    store, lake = town
    start, end = "2025-01-20", "2025-03-25"
    ref = zone_balances(store, "town", None, start, end, freq=freq, consumption=consumption)
    assert (ref["inlet_data"] != "complete").sum() >= 1  # the gap is estimated and flagged on both paths
    same = zone_balances(LakeStore(lake, "town"), "town", None, start, end, freq=freq, consumption=consumption)
    pd.testing.assert_frame_equal(ref, same, check_exact=True)
    per_zone = lake_zone_balances(str(lake), "town", start, end, freq=freq, consumption=consumption)
    pd.testing.assert_frame_equal(ref, per_zone, check_exact=True)


def test_night_flow_cut_at_local_months_equals_one_run(town: tuple[DuckStore, Path]) -> None:
    store, lake = town
    pieces = local_month_pieces("2025-01-20", "2025-03-25", "Europe/Madrid")
    assert pieces[0][1] == pd.Timestamp("2025-01-31 23:00") and pieces[1][1] == pd.Timestamp("2025-02-28 23:00")
    result = lake_night_flow(str(lake), "town", "2025-01-20", "2025-03-25", tz="Europe/Madrid")
    assert result.skipped == {}
    days = {}
    for z in ("N", "S"):
        ref = zone_night_flow(store, "town", z, "2025-01-20", "2025-03-25", tz="Europe/Madrid")
        pd.testing.assert_frame_equal(ref, result.zones[z], check_exact=True)
        days[z] = len(ref)
    assert days == {"N": 62, "S": 64}  # N's inlet meter has no readings in the nights of Feb 10 and 11
    assert len(result.long()) == 62 + 64


def test_export_cli_and_unknown_utility(town: tuple[DuckStore, Path], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    store, _ = town
    db = tmp_path / "copy.duckdb"
    store.backup(db)
    monkeypatch.setenv("SUVAR_DB", str(db))
    runner = CliRunner()
    result = runner.invoke(app, ["export", "parquet", str(tmp_path / "out"), "--utility", "town",
                                 "--from", "2025-03-01", "--to", "2025-04-01"])
    assert result.exit_code == 0, result.output
    months = json.loads(result.stdout)["months"]["town"]
    assert list(months) == ["2025-03"] and months["2025-03"] == 12 * 96 * 31  # 12 sensors
    bad = runner.invoke(app, ["export", "parquet", str(tmp_path / "out"), "--utility", "nowhere"])
    assert bad.exit_code == 2 and "no utility 'nowhere'" in bad.output


def test_export_from_either_store_writes_the_same_lake(store: DuckStore, town: tuple[DuckStore, Path],
                                                       tmp_path: Path) -> None:
    """DuckDB exports through COPY, PostgreSQL through the store's series method: the same files either way."""
    _, reference = town
    build_town(store)
    summary = export_parquet(store, tmp_path / "lake", start="2025-01-01", end="2025-04-01")
    assert list(summary["town"]) == ["2025-01", "2025-02", "2025-03"]
    for month in summary["town"]:
        a = pd.read_parquet(reference / "readings" / "utility_id=town" / f"month={month}")
        b = pd.read_parquet(tmp_path / "lake" / "readings" / "utility_id=town" / f"month={month}")
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    ref = zone_balances(LakeStore(reference, "town"), "town", None, "2025-02-01", "2025-03-01", freq="MS")
    got = zone_balances(LakeStore(tmp_path / "lake", "town"), "town", None, "2025-02-01", "2025-03-01", freq="MS")
    pd.testing.assert_frame_equal(ref, got, check_exact=True)
