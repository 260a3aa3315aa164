"""The ``suvar agri`` sub-app: et0, spi and demand commands on files (FAO-56 Examples 18/19 as fixtures)."""

import json
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from suvar.agri.cli import app
from suvar.agri.et0 import WEATHER_COLUMNS
from suvar.agri.weather import synthetic_weather

DATA = Path(__file__).parent / "data" / "agri"
runner = CliRunner()


@pytest.fixture(scope="module")
def weather_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("agri") / "weather.csv"
    synthetic_weather("2019-01-01", years=2, seed=5, latitude_deg=39.0, elevation_m=150.0).to_csv(path)
    return path


def test_et0_daily_example_18_csv() -> None:
    """FAO-56 Example 18: ET0 = 3.9 mm/day with the wind measured at 10 m."""
    args = ["et0", str(DATA / "fao56_example18_daily.csv"), "--lat", "50.8", "--elevation", "100"]
    result = runner.invoke(app, [*args, "--wind-height", "10"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "date,et0_mm,u2_m_s,ea_kpa,rs_mj_m2,g_mj_m2,flags"
    assert float(lines[1].split(",")[1]) == pytest.approx(3.9, abs=0.05)


def test_et0_hourly_example_19_json() -> None:
    """FAO-56 Example 19: 0.63 mm/h at 14-15 h and 0.0 at 02-03 h (Rs/Rso = 0.8 assumed, flagged)."""
    args = ["et0", str(DATA / "fao56_example19_hourly.csv"), "--timestep", "hourly", "--format", "json"]
    result = runner.invoke(
        app, [*args, "--lat", "16.2167", "--lon", "-16.25", "--elevation", "8", "--utc-offset", "-1"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert rows[1]["et0_mm"] == pytest.approx(0.63, abs=0.005)
    assert rows[0]["et0_mm"] == pytest.approx(0.0, abs=0.005) and rows[0]["flags"] == "rs_rso_night_assumed"


def test_et0_help_documents_every_column() -> None:
    result = runner.invoke(app, ["et0", "--help"])
    assert result.exit_code == 0
    for name in WEATHER_COLUMNS:
        assert name in result.stdout
    assert "(degC)" in result.stdout and "(MJ m-2 per day" in result.stdout


def test_et0_bad_value_names_file_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "station.csv"
    path.write_text("date,tmax_c,tmin_c,rh_pct\n2024-07-01,31,18,45\n2024-07-02,30,17,450\n")
    result = runner.invoke(app, ["et0", str(path), "--lat", "39", "--elevation", "100"])
    assert result.exit_code == 2
    assert f"{path}: row 2024-07-02 00:00:00: column 'rh_pct' = 450.0 outside [0, 100]" in result.stderr
    missing = runner.invoke(app, ["et0", str(tmp_path / "none.csv"), "--lat", "39", "--elevation", "100"])
    assert missing.exit_code == 2 and "none.csv: file not found" in missing.stderr
    undated = tmp_path / "undated.csv"
    undated.write_text("day,tmax_c,tmin_c\nmonday,31,18\n")
    bad_dates = runner.invoke(app, ["et0", str(undated), "--lat", "39", "--elevation", "100"])
    assert bad_dates.exit_code == 2 and f"{undated}: first column 'day' must hold dates" in bad_dates.stderr


def test_spi_command(tmp_path: Path) -> None:
    weather = synthetic_weather("2000-01-01", years=12, seed=9)
    path = tmp_path / "precip.csv"
    weather["precip_mm"].resample("MS").sum().to_csv(path)
    result = runner.invoke(app, ["spi", str(path), "--scales", "3,12", "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out["rows"][0]) == {"month", "spi_3", "spi_12", "class_spi_3", "class_spi_12"}
    events = out["events"]["spi_12"]
    assert any(e["start"] <= "2006-12" <= e["end"] for e in events)  # the default dry record year, 2006
    bad = runner.invoke(app, ["spi", str(path), "--column", "rain"])
    assert bad.exit_code == 2 and "no column 'rain' (precipitation [mm])" in bad.stderr


def test_demand_command(weather_csv: Path) -> None:
    args = ["demand", str(DATA / "district_lower_plain.json"), str(weather_csv)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(StringIO(result.stdout), index_col="date", parse_dates=True)
    fields = ["plain wheat", "river maize", "drip tomato"]
    assert list(table.columns) == [*fields, "net_m3_per_day", "demand_m3_per_day"]
    assert table.notna().all().all()
    assert table.loc["2020-12-15", "plain wheat"] > 0  # winter wheat season running past the record end
    assert table.loc["2019-01-15", "river maize"] == 0.0 and table.loc["2019-07-15", "river maize"] > 0
    assert table["demand_m3_per_day"].sum() == pytest.approx(table[fields].sum().sum())
    summary = json.loads(runner.invoke(app, [*args, "--format", "json"]).stdout)
    assert summary["total_demand_m3"] == pytest.approx(table["demand_m3_per_day"].sum(), rel=1e-9)


def test_demand_bad_district(tmp_path: Path, weather_csv: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"application_efficiency": 0.6, "conveyance_efficiency": 0.8, "fields": []}))
    result = runner.invoke(app, ["demand", str(path), str(weather_csv)])
    assert result.exit_code == 2 and f"{path}: 'fields' must be a non-empty list" in result.stderr
