"""Readers: turn each source format into the batch table that ``suvar.telemetry.validate`` checks.

Formats:

* **long**: CSV or Parquet with columns ``sensor_id,timestamp,value[,unit]``; timestamps ISO 8601 with offset.
* **battledim**: the wide BattLeDIM layout, one file per quantity (``Pressures.csv`` in m, ``Flows.csv`` in
  m³/h, ``Levels.csv`` in m, ``Demands.csv`` in L/h), ``;`` separated, decimal comma, a ``Timestamp`` column and
  one column per sensor location (node for pressures, levels and demands; link for flows). The layout carries no
  time zone: its timestamps are read in the zone given (UTC for the published dataset). A column maps to the
  registered sensor of that kind at that location in the utility.
* **records**: a list of JSON objects (the HTTP and MQTT payloads).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

LONG_COLUMNS = ("sensor_id", "timestamp", "value")
BATTLEDIM_FILES = {
    "Pressures.csv": ("pressure", "m", "node_id"),
    "Flows.csv": ("flow", "m3/h", "link_id"),
    "Levels.csv": ("level", "m", "node_id"),
    "Demands.csv": ("flow", "L/h", "node_id"),
}


class FormatError(ValueError):
    """A file that cannot be read as the format it claims; the message names the file and what was expected."""


def read_long(path: str | Path) -> pa.Table:
    """Read a long-format CSV or Parquet file into a batch (all CSV fields kept as text for validation)."""
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise FormatError(f"{path}: not a readable Parquet file: {exc}") from exc
        _require(path, table.column_names, LONG_COLUMNS)
        return table.append_column("position", pa.array(np.arange(1, table.num_rows + 1)))
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path}: cannot read as UTF-8 CSV: {exc}") from exc
    header = [h.strip() for h in header]
    _require(path, header, LONG_COLUMNS)
    bad_rows: list[tuple[int | None, str]] = []
    small = path.stat().st_size < 64 * 1024 * 1024  # single-threaded parsing numbers every row exactly

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad_rows.append((row.number, row.text))
        return "skip"

    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, encoding="utf8", use_threads=not small),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in header}, strings_can_be_null=True, null_values=[""]
            ),
        )
    except pa.ArrowInvalid as exc:
        raise FormatError(f"{path}: not a CSV file of columns {', '.join(header)}: {exc}") from exc
    table = table.select([c for c in header if c in (*LONG_COLUMNS, "unit")])
    lines = np.arange(2, table.num_rows + len(bad_rows) + 2)  # line numbers (header is line 1)
    bad_lines = [n for n, _ in bad_rows if n is not None]  # pyarrow numbers file lines from 1
    if bad_lines and len(bad_lines) == len(bad_rows):
        lines = np.setdiff1d(lines, bad_lines)
    table = table.append_column("position", pa.array(lines[: table.num_rows]))
    if bad_rows:
        malformed = pa.table({
            "sensor_id": pa.nulls(len(bad_rows), pa.string()),
            "timestamp": pa.nulls(len(bad_rows), pa.string()),
            "value": pa.nulls(len(bad_rows), pa.string()),
            "position": pa.array([n if n is not None else -1 for n, _ in bad_rows], pa.int64()),
            "raw": pa.array([t for _, t in bad_rows]),
            "pre_reason": pa.array(["malformed_row"] * len(bad_rows)),
        })
        table = pa.concat_tables([table, malformed], promote_options="default")
    return table


def read_battledim(
    path: str | Path, sensors: pd.DataFrame, utility_id: str, *, tz: str = "UTC"
) -> pa.Table:
    """Read one BattLeDIM-layout file (its name says the quantity) into a batch.

    ``sensors`` is the registry (``Store.sensors()``); a column maps to the sensor of the file's kind located at
    that column's node or link in ``utility_id``. Unmapped columns come through with their column name as the
    sensor id, so validation quarantines them as ``unknown_sensor``.
    """
    path = Path(path)
    if path.name not in BATTLEDIM_FILES:
        raise FormatError(f"{path}: a BattLeDIM file is named one of {', '.join(BATTLEDIM_FILES)}")
    kind, unit, location = BATTLEDIM_FILES[path.name]
    try:
        wide = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:  # pandas' ParserError and EmptyDataError and UnicodeDecodeError
        raise FormatError(f"{path}: not a ';'-separated BattLeDIM file: {exc}") from exc
    wide.columns = [c.strip() for c in wide.columns]
    if "Timestamp" not in wide.columns:
        raise FormatError(f"{path}: expected a 'Timestamp' column, found {list(wide.columns)[:5]}")
    columns = [c for c in wide.columns if c != "Timestamp"]
    registry = sensors[(sensors["utility_id"] == utility_id) & (sensors["kind"] == kind)]
    by_location = dict(zip(registry[location], registry["sensor_id"], strict=False))
    if path.name == "Demands.csv":
        registry = registry[registry["connection_id"].notna()]
        by_location = dict(zip(registry["node_id"], registry["sensor_id"], strict=False))
    stamps = pd.to_datetime(wide["Timestamp"].str.strip(), errors="coerce", format="mixed")
    try:
        stamps = stamps.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    except Exception as exc:  # noqa: BLE001 - pandas raises several types for a bad zone name
        raise FormatError(f"{path}: cannot place timestamps in time zone {tz!r}: {exc}") from exc
    n_rows, n_cols = len(wide), len(columns)
    values = wide[columns].to_numpy(dtype=object).ravel()  # row-major: time, then sensor
    text = pd.Series(values, dtype=object).str.strip().str.replace(",", ".", regex=False)
    sensor_ids = np.array([by_location.get(c, c) for c in columns], dtype=object)
    ts_rep = pd.DatetimeIndex(stamps).tz_convert("UTC").repeat(n_cols)  # keeps the zone even when all are NaT
    bad_ts = np.repeat(stamps.isna().to_numpy(), n_cols)
    return pa.table({
        "sensor_id": pa.array(np.tile(sensor_ids, n_rows), pa.string()),
        "timestamp": pa.array(ts_rep if len(ts_rep) else [], pa.timestamp("us", tz="UTC")),
        "value": pa.array(text.to_numpy(dtype=object), pa.string()),
        "unit": pa.array([unit] * (n_rows * n_cols), pa.string()),
        "position": pa.array(np.repeat(np.arange(2, n_rows + 2), n_cols)),
        "pre_reason": pa.array(np.where(bad_ts, "bad_timestamp", None), pa.string()),
    }) if n_rows else _empty_batch()


def read_records(records: object, source: str = "payload") -> pa.Table:
    """A list of JSON objects (``sensor_id``, ``timestamp``, ``value``, optional ``unit``) as a batch.

    An item that is not an object becomes a ``malformed_row``; values keep their JSON type as text so that
    validation can tell a number from anything else.
    """
    if not isinstance(records, list):
        raise FormatError(f"{source}: expected a list of readings")
    cols: dict[str, list] = {"sensor_id": [], "timestamp": [], "value": [], "unit": [], "raw": [], "pre_reason": []}
    for item in records:
        ok = isinstance(item, dict)
        get = item.get if ok else (lambda _k: None)
        cols["sensor_id"].append(_text(get("sensor_id")))
        cols["timestamp"].append(_text(get("timestamp")))
        value = get("value")
        cols["value"].append(None if value is None else _number_text(value))
        cols["unit"].append(_text(get("unit")))
        cols["raw"].append(None if ok else repr(item)[:500])
        cols["pre_reason"].append(None if ok else "malformed_row")
    table = pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()})
    if not any(cols["raw"]):
        table = table.drop_columns(["raw"])
    return table.append_column("position", pa.array(np.arange(1, len(records) + 1)))


def _text(v: object) -> str | None:
    return None if v is None else str(v)


def _number_text(v: object) -> str:
    # Booleans are JSON values but not readings.
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        return f"<{type(v).__name__}>"
    return repr(v) if isinstance(v, float) else str(v)


def _require(path: Path, found: list[str], needed: tuple[str, ...]) -> None:
    missing = [c for c in needed if c not in found]
    if missing:
        raise FormatError(
            f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(needed)}[,unit], found {found}"
        )


def _empty_batch() -> pa.Table:
    return pa.table({c: pa.array([], pa.string()) for c in ("sensor_id", "timestamp", "value")})
