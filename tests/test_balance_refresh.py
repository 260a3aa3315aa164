"""Zone balances kept up to date: daily and monthly rows computed as data arrives, read back by the API."""

import threading
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from suvar.balance.refresh import refresh_zone_balances, stored_balances
from suvar.balance.zone import zone_balances
from suvar.store import Store


def _write(store: Store, start: str, days: float) -> None:
    """Inlet flow 36 m³/h (864 m³/day) on F-1 and 40 m pressure on P-2 every 15 minutes."""
    ts = pd.date_range(start, periods=int(days * 96), freq="15min")
    table = pa.table({
        "sensor_id": pa.array(["F-1"] * len(ts) + ["P-2"] * len(ts)),
        "ts": pa.array(np.concatenate([ts.to_numpy(), ts.to_numpy()]), pa.timestamp("us")),
        "value": pa.array([36.0] * len(ts) + [40.0] * len(ts)),
    })
    store.write_batch("test", table, pd.DataFrame(columns=["reason"]))


def test_refresh_computes_new_days_once_and_matches_zone_balances(hanoi: Store) -> None:
    _write(hanoi, "2026-03-30", 2.5)  # 30 and 31 March complete, 1 April half
    assert refresh_zone_balances(hanoi) == {"hanoi": {"daily": 3, "monthly": 2}}
    daily = stored_balances(hanoi, "hanoi", "Z1", "daily")
    assert daily["complete"].tolist() == [True, True, False]
    assert daily["system_input_volume_m3"].iloc[:2].tolist() == pytest.approx([864.0, 864.0])
    direct = zone_balances(hanoi, "hanoi", "Z1", "2026-03-30", "2026-04-02", freq="D")
    assert daily["real_losses_m3"].tolist() == pytest.approx(direct["real_losses_m3"].tolist())
    monthly = stored_balances(hanoi, "hanoi", "Z1", "monthly")
    assert monthly["period_start"].tolist() == ["2026-03-30T00:00:00", "2026-04-01T00:00:00"]
    assert monthly["complete"].tolist() == [True, False]

    # Nothing new: nothing recomputed but the incomplete day and its month.
    assert refresh_zone_balances(hanoi) == {"hanoi": {"daily": 1, "monthly": 1}}
    # The rest of 1 April and 2 April arrive: 1 April becomes complete, never estimated.
    _write(hanoi, "2026-04-01 12:00", 1.5)
    assert refresh_zone_balances(hanoi) == {"hanoi": {"daily": 2, "monthly": 1}}
    daily = stored_balances(hanoi, "hanoi", "Z1", "daily")
    assert len(daily) == 4 and daily["complete"].all()
    assert daily["inlet_data"].tolist() == ["complete"] * 4
    assert daily["system_input_volume_m3"].tolist() == pytest.approx([864.0] * 4)
    april = stored_balances(hanoi, "hanoi", "Z1", "monthly", start="2026-04-01")
    assert april["system_input_volume_m3"].tolist() == pytest.approx([2 * 864.0])


def test_stored_balances_over_the_api(hanoi: Store, client: TestClient) -> None:
    _write(hanoi, "2026-03-01", 2)
    refresh_zone_balances(hanoi)
    got = client.get("/api/v1/utilities/hanoi/balances", params={"freq": "daily", "zone": "Z1"})
    assert got.status_code == 200, got.text
    assert [r["system_input_volume_m3"] for r in got.json()] == pytest.approx([864.0, 864.0])
    assert client.get("/api/v1/utilities/hanoi/balances", params={"freq": "weekly"}).status_code == 422


def test_utility_without_readings_is_skipped(hanoi: Store) -> None:
    assert refresh_zone_balances(hanoi) == {}
    assert stored_balances(hanoi, "hanoi", "Z1", "daily").empty


def test_demo_keeps_every_zones_balance(demo_store: tuple[Store, dict]) -> None:
    store, summary = demo_store
    assert summary["zone_balances"]["ltown"] == {"daily": 3 * 4, "monthly": 3}
    daily = stored_balances(store, "ltown", None, "daily")
    assert sorted(set(daily["zone_id"])) == ["A", "B", "C"] and daily["complete"].all()
    monthly = stored_balances(store, "ltown", None, "monthly")
    assert not monthly["complete"].any()  # four days of October: the month is still open
    per_zone = daily.groupby("zone_id")["system_input_volume_m3"].sum()
    assert monthly.set_index("zone_id")["system_input_volume_m3"].to_dict() == pytest.approx(per_zone.to_dict())


def test_server_schedule_refreshes_on_its_own(hanoi: Store) -> None:
    from suvar.jobs import start_scheduler

    _write(hanoi, "2026-03-01", 1)
    assert start_scheduler(hanoi, 0) is None  # 0: off
    stop = start_scheduler(hanoi, 3600)
    try:
        deadline = time.monotonic() + 30
        while stored_balances(hanoi, "hanoi", "Z1", "daily").empty and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threading.enumerate():  # let the pass finish before the fixture closes the store
            if thread.name == "suvar-jobs":
                thread.join(timeout=120)
    assert stored_balances(hanoi, "hanoi", "Z1", "daily")["complete"].tolist() == [True]
