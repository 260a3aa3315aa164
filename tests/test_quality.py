"""Sensor faults (gaps, stuck values) and data-quality alarms; the demo's planted faults are found exactly."""

import numpy as np
import pandas as pd

from suvar.store import DuckStore
from suvar.telemetry.quality import scan_data_quality, sensor_faults


def test_gap_and_stuck_found_zero_flow_is_not_stuck() -> None:
    ts = pd.date_range("2024-01-01", periods=288, freq="5min")
    rng = np.random.default_rng(0)
    pressure = pd.DataFrame({"sensor_id": "P", "ts": ts, "value": 50 + rng.normal(0, 0.05, 288)})
    pressure.loc[100:171, "value"] = 49.5  # stuck for 72 steps = 6 h
    pressure = pressure.drop(index=range(200, 224))  # 2 h without readings
    pump = pd.DataFrame({"sensor_id": "Q", "ts": ts, "value": np.r_[np.zeros(150), np.full(138, 40.0) +
                                                                  rng.normal(0, 0.1, 138)]})
    faults = sensor_faults(pd.concat([pressure, pump]), 300)
    assert faults[["sensor_id", "fault"]].values.tolist() == [["P", "gap"], ["P", "stuck"]]
    gap, stuck = faults.iloc[0], faults.iloc[1]
    assert (gap["start"], gap["hours"]) == (ts[200], 2.0)
    assert (stuck["start"], stuck["value"], stuck["hours"]) == (ts[100], 49.5, 6.0)


def test_demo_faults_become_alarms(demo_store: tuple[DuckStore, dict]) -> None:
    store, _ = demo_store
    faults = scan_data_quality(store, "ltown")
    found = {(f.sensor_id, f.fault) for f in faults.itertuples()}
    # build_demo plants a 6-hour gap on the 5th pressure sensor and a stuck day on the 9th (of 4 days: day 2, day 3)
    assert found == {("ltown-P-n105", "gap"), ("ltown-P-n215", "stuck")}
    gap = faults[faults["fault"] == "gap"].iloc[0]
    assert gap["hours"] == 6.0 and gap["start"] == pd.Timestamp("2026-10-03")
    alarms = store.alarms(scope="ltown")
    assert set(alarms["kind"]) >= {"sensor_fault", "data_quality"}
    quality = alarms[alarms["kind"] == "data_quality"].iloc[0]
    assert "out_of_range 6" in quality["title"] and "missing_field 72" in quality["title"]
    assert len(scan_data_quality(store, "ltown")) == 2 and len(store.alarms(scope="ltown")) == len(alarms)  # once
