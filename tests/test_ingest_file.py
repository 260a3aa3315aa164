"""File ingest: long CSV, Parquet and the BattLeDIM wide layout, through the CLI too."""

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from suvar.cli import app
from suvar.store import DuckStore
from suvar.telemetry.ingest import ingest_file
from suvar.telemetry.readers import FormatError

LONG = """sensor_id,timestamp,value,unit
P-2,2024-01-01T00:00:00Z,51.5,
P-2,2024-01-01T00:15:00Z,51.0,m
P-3,2024-01-01T00:00:00+02:00,5,bar
F-1,2024-01-01T00:00:00Z,12.5,L/s
P-2,2024-01-01T00:30:00Z,oops,
P-2,2024-01-01T00:45:00Z
"""


def test_long_csv(hanoi: DuckStore, tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_text(LONG)
    counts = ingest_file(hanoi, f).as_dict()
    assert counts == {"accepted": 4, "duplicates": 0, "conflicts": 0,
                      "quarantined": {"malformed_row": 1, "non_numeric": 1}}
    q = hanoi.quarantine().set_index("reason")
    assert q.loc["non_numeric", "position"] == 6  # line 6 of the file
    assert q.loc["malformed_row", "position"] == 7
    assert q.loc["malformed_row", "raw"] == "P-2,2024-01-01T00:45:00Z"
    assert ingest_file(hanoi, f).as_dict()["duplicates"] == 4  # re-sent: nothing changes
    assert hanoi.reading_count() == 4
    flow = hanoi.series(["F-1"])["value"].iloc[0]
    assert flow == pytest.approx(45.0)  # 12.5 L/s = 45 m³/h


def test_parquet(hanoi: DuckStore, tmp_path: Path) -> None:
    ts = pd.date_range("2024-01-01", periods=96, freq="15min", tz="UTC")
    pq.write_table(pa.table({"sensor_id": ["P-2"] * 96, "timestamp": ts, "value": [50.0] * 95 + [float("nan")]}),
                   tmp_path / "r.parquet")
    counts = ingest_file(hanoi, tmp_path / "r.parquet").as_dict()
    assert (counts["accepted"], counts["quarantined"]) == (95, {"not_finite": 1})


def test_missing_columns_named(hanoi: DuckStore, tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("sensor,time,val\nP-2,2024-01-01T00:00:00Z,1\n")
    with pytest.raises(FormatError, match=r"bad.csv: missing column\(s\) sensor_id, timestamp, value"):
        ingest_file(hanoi, f)


def test_battledim_layout(hanoi: DuckStore, tmp_path: Path) -> None:
    (tmp_path / "Pressures.csv").write_text(
        "Timestamp;2;3;31\n2019-01-01 00:00:00;50,12;4,5;1,0\n2019-01-01 00:05:00;50,10;;1,0\nnot-a-time;1;1;1\n")
    (tmp_path / "Flows.csv").write_text("Timestamp;1\n2019-01-01 00:00:00;1234,5\n")
    counts = ingest_file(hanoi, tmp_path, fmt="battledim", utility_id="hanoi").as_dict()
    # Column 31 has no sensor; the empty cell is missing; the bad timestamp row rejects its 3 cells.
    assert counts == {"accepted": 4, "duplicates": 0, "conflicts": 0,
                      "quarantined": {"bad_timestamp": 3, "missing_field": 1, "unknown_sensor": 2}}
    p3 = hanoi.series(["P-3"])["value"].iloc[0]
    assert p3 == pytest.approx(4.5)  # the layout is in m whatever the sensor's own unit (bar)
    assert hanoi.series(["F-1"])["value"].iloc[0] == pytest.approx(1234.5)


def test_cli_json(hanoi: DuckStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "r.csv"
    f.write_text(LONG)
    monkeypatch.setenv("SUVAR_DB", hanoi.path)
    hanoi.close()
    result = CliRunner().invoke(app, ["ingest", "file", str(f), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"accepted": 4, "duplicates": 0, "conflicts": 0,
                                         "quarantined": {"malformed_row": 1, "non_numeric": 1}}
    listed = CliRunner().invoke(app, ["quarantine", "list", "--json"])
    assert {r["reason"] for r in json.loads(listed.stdout)} == {"malformed_row", "non_numeric"}
    missing = CliRunner().invoke(app, ["ingest", "file", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "nope.csv: no such file" in missing.stderr
