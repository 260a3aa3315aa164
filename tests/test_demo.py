"""The demo country: built through the same ingestion path, deterministic, with its planted faults."""

from pathlib import Path

import pytest

from suvar.demo.build import build_demo
from suvar.store import DuckStore


@pytest.fixture
def demo(demo_store: tuple[DuckStore, dict]) -> tuple[DuckStore, dict]:
    store, summary = demo_store
    assert any("simulated 4.0 of 4 days" in m for m in summary["progress"])  # progress is shown
    return demo_store


def test_utilities_zones_sensors(demo: tuple[DuckStore, dict]) -> None:
    store, summary = demo
    assert store.utilities()["utility_id"].tolist() == ["capital", "demo-river", "ltown"]
    zones = store.zones()
    assert zones.groupby("utility_id")["zone_id"].apply(list).to_dict() == {
        "capital": ["NORTH", "SOUTH"], "ltown": ["A", "B", "C"]}
    sensors = store.sensors("ltown")
    assert (sensors["kind"] == "pressure").sum() == 33
    assert sensors["connection_id"].notna().sum() == 82
    assert summary["utilities"]["ltown"]["connections"] > 600
    billing = store.billing("ltown", "2026-10-01", "2026-10-31")
    assert len(billing) == summary["utilities"]["ltown"]["connections"]
    assert (~billing["billed"]).any() and (~billing["metered"]).any()


def test_readings_and_planted_faults(demo: tuple[DuckStore, dict]) -> None:
    store, summary = demo
    # 4 days at 5 min for L-Town's 33 + 5 + 1 SCADA sensors and 82 AMR meters = 1152 steps x 121 columns.
    ltown = summary["utilities"]["ltown"]["ingest"]
    assert ltown["accepted"] + sum(ltown["quarantined"].values()) == 1152 * 121
    assert ltown["quarantined"]["out_of_range"] == 6  # the planted impossible spikes
    assert summary["utilities"]["ltown"]["sensor_faults"] == 2  # the planted gap and stuck sensor
    capital = summary["utilities"]["capital"]["ingest"]["quarantined"]
    assert {"no_timezone", "non_numeric", "unknown_sensor", "malformed_row"} <= set(capital)
    turnouts = 12 * 6  # the basin's six turnout meters, monthly
    assert store.reading_count() == ltown["accepted"] + summary["utilities"]["capital"]["ingest"]["accepted"] + turnouts


def test_deterministic(demo: tuple[DuckStore, dict], tmp_path: Path) -> None:
    store, _ = demo
    other = DuckStore(tmp_path / "again.duckdb")
    build_demo(other, days=4, workdir=tmp_path / "files")
    sample = store.series(["ltown-P-n1", "capital-F-10"])
    assert sample.equals(other.series(["ltown-P-n1", "capital-F-10"]))
    other.close()


def test_drought_early_warning_raised(demo: tuple[DuckStore, dict]) -> None:
    store, summary = demo
    drought = store.alarms(kind="drought")
    assert drought["scope"].tolist() == ["demo river"]
    assert drought["severity"].iloc[0] in {"warning", "critical"}
    assert str(summary["basin"]["dry_year"]) in str(drought["start_ts"].iloc[0])


def test_cli_builds_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from suvar.cli import app

    monkeypatch.setenv("SUVAR_DB", str(tmp_path / "demo.duckdb"))
    monkeypatch.chdir(tmp_path)
    first = CliRunner().invoke(app, ["demo", "build", "--days", "2"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["utilities"]["ltown"]["zones"] == ["A", "B", "C"]
    again = CliRunner().invoke(app, ["demo", "build", "--if-absent"])
    assert again.exit_code == 0 and "already holds data" in again.stdout
