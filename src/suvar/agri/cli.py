"""``suvar agri``: reference evapotranspiration, SPI/SPEI and irrigation district demand from files."""

from __future__ import annotations

import json
import warnings
from enum import StrEnum
from pathlib import Path
from typing import Any

import pandas as pd
import typer

from suvar.agri.drought import classify_spi, drought_events, spei, spi
from suvar.agri.et0 import WEATHER_COLUMNS, et0_daily, et0_hourly, et0_monthly
from suvar.agri.irrigation import district_from_dict, district_requirements_from_weather
from suvar.csv_export import to_csv

app = typer.Typer(help="Smart agriculture: FAO-56 ET0, crop irrigation demand, SPI/SPEI drought monitoring.")


class InputFileError(ValueError):
    """An input file that cannot be read; the message names the file."""


class Timestep(StrEnum):
    daily = "daily"
    hourly = "hourly"
    monthly = "monthly"


class OutputFormat(StrEnum):
    csv = "csv"
    json = "json"


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV whose first column holds dates/times (the index); other columns as numbers or text."""
    try:
        frame = pd.read_csv(path, index_col=0)
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputFileError(f"{path}: not a readable CSV file: {err}") from None
    try:
        frame.index = pd.to_datetime(frame.index)
    except (ValueError, TypeError):
        raise InputFileError(
            f"{path}: first column '{frame.index.name}' must hold dates (e.g. 2024-07-01 or 2024-07-01 14:00)"
        ) from None
    return frame


def _emit(frame: pd.DataFrame, fmt: OutputFormat, output: Path | None, extra: dict[str, Any] | None = None) -> None:
    if fmt is OutputFormat.csv:
        text = to_csv(frame, date_format="%Y-%m-%d %H:%M" if _has_time(frame.index) else "%Y-%m-%d")
    else:
        records = json.loads(frame.reset_index().to_json(orient="records", date_format="iso"))
        text = json.dumps({**(extra or {}), "rows": records}, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


def _has_time(index: pd.Index) -> bool:
    return isinstance(index, pd.DatetimeIndex) and bool((index != index.normalize()).any())


def _fail(err: Exception) -> typer.Exit:
    typer.echo(f"error: {err}", err=True)
    return typer.Exit(code=2)


def _plain(text: str) -> str:
    """Units in parentheses: Typer's rich help would take '[...]' for markup."""
    return text.replace("[", "(").replace("]", ")")


_COLUMN_HELP = "\n".join(f"  {name}: {_plain(text)}" for name, text in WEATHER_COLUMNS.items())
_ET0_HELP = "\n\n".join(
    [
        "FAO-56 Penman-Monteith reference evapotranspiration ET0 of a weather station file.",
        "WEATHER is a CSV: first column the date (daily, monthly: one row per month of daily means) or the "
        "start of the hour (hourly, local standard time), then any of these columns (others are ignored):",
        _COLUMN_HELP,
        "Daily/monthly need tmax_c and tmin_c (or t_c); hourly needs t_c, a humidity column and rs_mj_m2. "
        "Missing humidity, radiation and wind are estimated by FAO-56 (Tdew = Tmin, Hargreaves Rs, 2 m/s) "
        "and flagged in the 'flags' column.",
        "Output: et0_mm (mm per row's step; monthly also et0_mm_per_day), u2_m_s, ea_kpa, radiation "
        "(MJ m-2 per step), g_mj_m2 and flags.",
    ]
)


@app.command("et0", help=_ET0_HELP)
def et0_command(
    weather: Path = typer.Argument(..., help="weather station CSV (columns above)"),
    timestep: Timestep = typer.Option(Timestep.daily, "--timestep", help="row step of WEATHER"),
    lat: float = typer.Option(..., "--lat", help="station latitude (deg, north positive)"),
    elevation: float = typer.Option(..., "--elevation", help="station elevation (m above sea level)"),
    wind_height: float = typer.Option(2.0, "--wind-height", help="anemometer height (m), FAO-56 Eq. 47"),
    lon: float | None = typer.Option(None, "--lon", help="station longitude (deg, east positive); hourly"),
    utc_offset: float = typer.Option(0.0, "--utc-offset", help="hours of local standard time ahead of UTC"),
    krs: float = typer.Option(0.16, "--krs", help="Hargreaves kRs: 0.16 interior, 0.19 coastal (Eq. 50)"),
    fmt: OutputFormat = typer.Option(OutputFormat.csv, "--format", help="csv or json"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write here instead of stdout"),
) -> None:
    try:
        frame = read_table(weather)
        source = str(weather)
        if timestep is Timestep.hourly:
            if lon is None:
                raise InputFileError("--lon is required for hourly ET0 (solar time, FAO-56 Eq. 31)")
            result = et0_hourly(frame, lat, lon, elevation, utc_offset, wind_height, source=source)
        elif timestep is Timestep.monthly:
            result = et0_monthly(frame, lat, elevation, wind_height, krs, source=source)
        else:
            result = et0_daily(frame, lat, elevation, wind_height, krs, source=source)
    except ValueError as err:  # WeatherDataError, InputFileError
        raise _fail(err) from None
    _emit(result.rename_axis("time" if timestep is Timestep.hourly else "date"), fmt, output)


def _parse_scales(text: str) -> tuple[int, ...]:
    try:
        scales = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"--scales must be comma-separated months, e.g. 1,3,6,12; got {text!r}") from None
    if not scales or min(scales) < 1 or max(scales) > 72:
        raise typer.BadParameter(f"--scales must lie in 1..72 months, got {text!r}")
    return scales


def _column(frame: pd.DataFrame, column: str, path: Path, what: str) -> pd.Series:
    if column not in frame:
        raise InputFileError(f"{path}: no column '{column}' ({what}); columns are {list(frame.columns)}")
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna()
    if bad.any():
        raise InputFileError(f"{path}: row {frame.index[bad.to_numpy()][0]}: '{column}' is not a number")
    return values


def _monthly_column(frame: pd.DataFrame, column: str, path: Path, what: str) -> pd.Series:
    values = _column(frame, column, path, what)
    return values.groupby(values.index.to_period("M")).sum(min_count=1)  # daily rows are summed per month


@app.command("spi")
def spi_command(
    precip: Path = typer.Argument(..., help="CSV: date, then monthly (or daily, summed) precipitation (mm)"),
    scales: str = typer.Option("1,3,6,12", "--scales", help="accumulation periods in months"),
    column: str = typer.Option("precip_mm", "--column", help="precipitation column (mm)"),
    pet_column: str | None = typer.Option(None, "--pet-column", help="PET column (mm): adds SPEI"),
    calibration: str | None = typer.Option(None, "--calibration", help="reference years, e.g. 1991-2020"),
    fmt: OutputFormat = typer.Option(OutputFormat.csv, "--format", help="csv or json (json adds events)"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write here instead of stdout"),
) -> None:
    """SPI (and SPEI with --pet-column) with WMO classes; JSON output also lists McKee drought events."""
    scale_list = _parse_scales(scales)
    years = None
    if calibration is not None:
        try:
            first, last = (int(y) for y in calibration.split("-"))
        except ValueError:
            raise typer.BadParameter(f"--calibration must be YEAR-YEAR, got {calibration!r}") from None
        years = (first, last)
    try:
        frame = read_table(precip)
        p = _monthly_column(frame, column, precip, "precipitation [mm]")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # climate-indices' short-calibration notice
            table = spi(p, scale_list, years)
            if pet_column is not None:
                table = table.join(spei(p, _monthly_column(frame, pet_column, precip, "PET [mm]"), scale_list, years))
    except ValueError as err:  # InputFileError, DroughtDataError
        raise _fail(err) from None
    for name in list(table.columns):
        table[f"class_{name}"] = classify_spi(table[name])
    events = {
        name: json.loads(drought_events(table[name]).to_json(orient="records", date_format="iso"))
        for name in table.columns
        if not name.startswith("class_")
    }
    _emit(table, fmt, output, {"events": events})


_DEMAND_HELP = "\n\n".join(
    [
        "Daily irrigation demand (m3/day) of a district: one column per field, net_m3_per_day and "
        "demand_m3_per_day; field columns and demand are gross at the district head "
        "(net / application efficiency / conveyance efficiency).",
        'DISTRICT is JSON like {"name": "lower plain", "application_efficiency": 0.6, '
        '"conveyance_efficiency": 0.85, "latitude_deg": 39.0, "elevation_m": 150, '
        '"fields": [{"crop": "wheat", "area_ha": 1200, "planting": "11-01"}]} with optional "wind_height_m" '
        'and, per field, "name" and "application_efficiency".',
        "Crops: wheat, maize, cotton, tomato, apple, citrus, grapes, rice (FAO-56 Tables 11 and 12).",
    ]
)


@app.command("demand", help=_DEMAND_HELP)
def demand_command(
    district: Path = typer.Argument(..., help="district JSON: efficiencies, location and fields"),
    weather: Path = typer.Argument(..., help="daily weather CSV with precip_mm (see 'suvar agri et0 --help')"),
    lat: float | None = typer.Option(None, "--lat", help="latitude (deg); default: the district's"),
    elevation: float | None = typer.Option(None, "--elevation", help="elevation (m); default: the district's"),
    method: str = typer.Option("usda_scs", "--rain-method", help="effective rainfall: usda_scs | fao_aglw"),
    climate_adjust: bool = typer.Option(True, help="adjust Kc_mid/Kc_end to wind and RHmin (FAO-56 Eq. 62)"),
    fmt: OutputFormat = typer.Option(OutputFormat.csv, "--format", help="csv or json"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write here instead of stdout"),
) -> None:
    if method not in ("usda_scs", "fao_aglw"):
        raise typer.BadParameter(f"--rain-method must be usda_scs or fao_aglw, got {method!r}")
    try:
        try:
            data = json.loads(district.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputFileError(f"{district}: file not found") from None
        except json.JSONDecodeError as err:
            raise InputFileError(f"{district}: invalid JSON at line {err.lineno}: {err.msg}") from None
        spec = district_from_dict(data, str(district))
        table = district_requirements_from_weather(
            spec,
            read_table(weather),
            lat,
            elevation,
            method,
            climate_adjust,
            source=str(weather),  # type: ignore[arg-type]
        )
    except ValueError as err:  # InputFileError, DistrictDataError, WeatherDataError
        raise _fail(err) from None
    summary = {
        "district": spec.name,
        "total_demand_m3": float(table["demand_m3_per_day"].sum()),
        "peak_demand_m3_per_day": float(table["demand_m3_per_day"].max()),
    }
    _emit(table.rename_axis("date"), fmt, output, summary)
