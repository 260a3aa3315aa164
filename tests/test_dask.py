"""Batch analyses and simulation sweeps on a real Dask cluster: a LocalCluster of 2 worker processes on loopback.

Every result must equal the single-process result exactly (the test data are exact in binary floating point,
see tests/test_lake.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from suvar.allocation.audit import delivered_m3, delivery_audit
from suvar.allocation.model import load_basin
from suvar.allocation.scenario import run_scenarios
from suvar.balance.zone import zone_balances, zone_night_flow
from suvar.cli import app
from suvar.lake.cluster import dask_client, dask_mapper
from suvar.lake.export import export_parquet
from suvar.lake.jobs import lake_delivery_audit, lake_night_flow, lake_zone_balances
from suvar.leaks.benchmark import run_benchmark
from suvar.leaks.localise import Localiser
from suvar.leaks.scenarios import network_path
from suvar.store import DuckStore
from test_lake import build_town

DATA = Path(__file__).parent / "data" / "allocation"


@pytest.fixture(scope="module")
def client():
    with dask_client(workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> tuple[DuckStore, Path]:
    tmp = tmp_path_factory.mktemp("dask")
    store = DuckStore(tmp / "town.duckdb")
    build_town(store)
    add_turnouts(store)
    export_parquet(store, tmp / "lake")
    yield store, tmp / "lake"
    store.close()


USERS = [f"u{i}" for i in range(7)]


def add_turnouts(store: DuckStore) -> None:
    """Utility ``basin``: a monthly turnout volume meter per user; u1 takes 1/4 more than planned, u4 and u5
    take less."""
    store.upsert_utility("basin", "Basin")
    store.upsert_sensors(pd.DataFrame({"sensor_id": [f"D-{u}" for u in USERS], "utility_id": "basin",
                                       "kind": "volume", "unit": "m3"}))
    months = pd.date_range("2025-01-01", periods=3, freq="MS")
    factor = {"u1": 1.25, "u4": 0.75, "u5": 0.875}
    rows = [{"sensor_id": f"D-{u}", "ts": m, "value": 1024.0 * (i + 1) * factor.get(u, 1.0)}
            for m in months for i, u in enumerate(USERS)]
    store.write_batch("turnouts", pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False),
                      pd.DataFrame(columns=["reason"]), unique_keys=True)


def test_the_cluster_has_two_worker_processes(client) -> None:  # noqa: ANN001
    workers = client.scheduler_info()["workers"]
    assert len(workers) == 2 and all(w["nthreads"] == 1 for w in workers.values())
    assert all(addr.startswith("tcp://127.0.0.1:") for addr in workers)
    pids = client.run(lambda: __import__("os").getpid())
    assert len(set(pids.values())) == 2


@pytest.mark.parametrize(("freq", "consumption"), [("D", "billing"), ("MS", "amr")])
def test_zone_balances_on_dask_equal_the_store(client, town, freq: str, consumption: str) -> None:  # noqa: ANN001
    store, lake = town
    seen: list[tuple[int, int]] = []
    got = lake_zone_balances(str(lake), "town", "2025-01-20", "2025-03-25", freq=freq, consumption=consumption,
                             mapper=dask_mapper(client, lambda done, total: seen.append((done, total))))
    ref = zone_balances(store, "town", None, "2025-01-20", "2025-03-25", freq=freq, consumption=consumption)
    pd.testing.assert_frame_equal(ref, got, check_exact=True)
    assert seen[-1] == (2, 2)  # one task per zone, progress reported


def test_night_flow_on_dask_equals_the_store(client, town) -> None:  # noqa: ANN001
    store, lake = town
    got = lake_night_flow(str(lake), "town", "2025-01-20", "2025-03-25", mapper=dask_mapper(client))
    for z in ("N", "S"):
        pd.testing.assert_frame_equal(zone_night_flow(store, "town", z, "2025-01-20", "2025-03-25"), got.zones[z],
                                      check_exact=True)


def test_delivery_audit_on_dask_equals_the_store(client, town) -> None:  # noqa: ANN001
    store, lake = town
    plan = pd.DataFrame({"body": ["A", "A", "B", "B", "A", "B", "C"], "priority": [1, 2, 2, 2, 2, 1, 1],
                         "requirement_m3": [4096.0 * (i + 1) for i in range(7)],
                         "planned_m3": [3072.0 * (i + 1) for i in range(7)]}, index=USERS)
    meters = {u: f"D-{u}" for u in USERS}
    ref = delivery_audit(plan, delivered_m3(store, meters, "2025-01-01", "2025-04-01"))
    got = lake_delivery_audit(str(lake), "basin", plan, meters, "2025-01-01", "2025-04-01", users_per_task=3,
                              mapper=dask_mapper(client))
    for part in ("users", "classes", "transfers", "bodies"):
        pd.testing.assert_frame_equal(getattr(ref, part), getattr(got, part), check_exact=True)
    assert got.users.loc["u1", "status"] == "over" and set(got.transfers["loser"]) == {"u4"}


def test_localisation_candidates_on_dask_equal_the_serial_ones(client) -> None:  # noqa: ANN001
    inp = network_path("hanoi")
    pressure, flow = ["3", "10", "17", "25"], ["1"]
    args = (inp, pressure, flow, np.eye(4, 5), np.full(4, 0.1))
    serial = Localiser(*args, n_candidates=12, workers=1)
    remote = Localiser(*args, n_candidates=12, mapper=dask_mapper(client))
    shift = np.array([-0.4, -1.2, -0.1, 0.0])
    pipes = serial.candidate_pipes(shift)
    a, b = serial.signatures(pipes, 8), remote.signatures(pipes, 8)
    assert list(a) == list(b) == pipes and len(pipes) == 12
    for p in pipes:
        assert np.array_equal(a[p][0], b[p][0]) and a[p][1] == b[p][1]
    assert serial.locate(shift, 8) == remote.locate(shift, 8)


def test_allocation_scenarios_on_dask_equal_the_serial_run(client) -> None:  # noqa: ANN001
    basin = load_basin(DATA / "valley.yaml")
    factors = {"normal": 1.0, "dry70": 0.7, "dry40": 0.4}
    ref = run_scenarios(basin, factors)
    got = run_scenarios(basin, factors, mapper=dask_mapper(client))
    assert list(got) == list(factors)
    for name in factors:
        for table in ("requirement_m3", "delivered_m3", "link_flow_m3", "storage_m3", "reasons"):
            pd.testing.assert_frame_equal(getattr(ref[name], table), getattr(got[name], table), check_exact=True)


def test_leak_benchmark_seeds_on_dask_equal_the_serial_run(client) -> None:  # noqa: ANN001
    ref = run_benchmark("hanoi", [1, 2], days=1, train_days=2, workers=1)
    got = run_benchmark("hanoi", [1, 2], days=1, train_days=2, mapper=dask_mapper(client))
    ref.pop("wall_s"), got.pop("wall_s")
    assert json.dumps(ref) == json.dumps(got)
    assert ref["suvar"]["fn"] + ref["suvar"]["tp"] == 2  # one leak per seed was planted and scored


def test_cli_runs_on_an_existing_scheduler(client, town, tmp_path: Path) -> None:  # noqa: ANN001
    store, lake = town
    out = tmp_path / "balances.json"
    result = CliRunner().invoke(app, ["cluster", "balance", str(lake), "-u", "town", "--from", "2025-02-01",
                                      "--to", "2025-03-01", "--freq", "monthly", "--out", str(out),
                                      "--scheduler", client.scheduler.address])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())
    ref = zone_balances(store, "town", None, "2025-02-01", "2025-03-01", freq="MS")
    assert [r["zone_id"] for r in rows] == ["N", "S"]
    assert [r["real_losses_m3"] for r in rows] == pytest.approx(ref["real_losses_m3"].tolist(), rel=1e-14)  # JSON text
    assert "2 workers at tcp://127.0.0.1:" in result.stderr and "zone balances: 2/2 tasks" in result.stderr
