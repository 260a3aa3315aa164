"""Reading and writing the BattLeDIM 2020 file layout, leak truth and detection submissions.

BattLeDIM layout (Vrachimis et al. 2022, Zenodo 4017659): ``Pressures.csv`` (m), ``Flows.csv`` (m³/h),
``Levels.csv`` (m), ``Demands.csv`` (L/h); ``;`` separator, decimal comma, a ``Timestamp`` column
``YYYY-MM-DD HH:MM`` and one column per sensor. Truth (``leakages_info``): one line per leak
``linkID, startTime, endTime, leakDiameter (m), leakType, peakTime``. Submission: one line per detection
``linkID, YYYY-MM-DD HH:MM``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

TIME_FORMAT = "%Y-%m-%d %H:%M"
BATTLEDIM_FILES = {"pressures": "Pressures.csv", "flows": "Flows.csv", "levels": "Levels.csv",
                   "demands": "Demands.csv"}


class LeakFileError(ValueError):
    """A leak data file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class Leak:
    """A true leak: pipe, start and end (inclusive), hole diameter (m), type and time of peak outflow."""

    link_id: str
    start: pd.Timestamp
    end: pd.Timestamp
    diameter_m: float = float("nan")
    leak_type: str = "abrupt"
    peak: pd.Timestamp | None = None


@dataclass(frozen=True)
class Detection:
    """A submitted detection: the suspected pipe and the estimated leak start."""

    link_id: str
    time: pd.Timestamp


def _parse_time(text: str, where: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(pd.to_datetime(text.strip(), format=TIME_FORMAT))
    except (ValueError, TypeError) as exc:
        raise LeakFileError(f"{where}: expected a time 'YYYY-MM-DD HH:MM', got {text!r}") from exc


def _data_lines(path: Path) -> list[tuple[int, str]]:
    if not path.is_file():
        raise LeakFileError(f"{path}: file not found")
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    return [(n, s.strip()) for n, s in enumerate(lines, 1) if s.strip() and not s.lstrip().startswith("#")]


def read_leak_truth(path: str | Path) -> list[Leak]:
    """Read the true leaks from a BattLeDIM ``leakages_info`` file or a YAML list.

    The BattLeDIM file (despite its ``.yaml`` name) holds comma-separated lines
    ``linkID, startTime, endTime, leakDiameter (m), leakType, peakTime``; a YAML file may instead hold a list
    of mappings with those keys.
    """
    path = Path(path)
    rows = _data_lines(path)
    if rows and rows[0][1].startswith("-"):
        records = yaml.safe_load(path.read_text(encoding="utf-8"))
        fields = ["linkID", "startTime", "endTime", "leakDiameter", "leakType", "peakTime"]
        rows = [(i + 1, ", ".join(str(rec.get(f, "")) for f in fields)) for i, rec in enumerate(records)]
    leaks = []
    for n, line in rows:
        parts = [p.strip() for p in line.split(",")]
        where = f"{path}, line {n}"
        if len(parts) < 3:
            raise LeakFileError(f"{where}: expected 'linkID, startTime, endTime[, diameter, type, peak]'")
        diameter = float(parts[3]) if len(parts) > 3 and parts[3] else float("nan")
        peak = _parse_time(parts[5], where) if len(parts) > 5 and parts[5] else None
        leak_type = parts[4] if len(parts) > 4 and parts[4] else "abrupt"
        leaks.append(Leak(parts[0], _parse_time(parts[1], where), _parse_time(parts[2], where), diameter,
                          leak_type, peak))
    return leaks


def read_submission(path: str | Path) -> list[Detection]:
    """Read detections, one ``linkID, YYYY-MM-DD HH:MM`` line each (``#`` lines are comments)."""
    path = Path(path)
    detections = []
    for n, line in _data_lines(path):
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 2:
            raise LeakFileError(f"{path}, line {n}: expected 'linkID, YYYY-MM-DD HH:MM', got {line!r}")
        detections.append(Detection(parts[0], _parse_time(parts[1], f"{path}, line {n}")))
    return detections


def write_submission(detections: list[Detection], path: str | Path) -> None:
    """Write detections in the BattLeDIM submission format."""
    text = "".join(f"{d.link_id}, {d.time.strftime(TIME_FORMAT)}\n" for d in detections)
    Path(path).write_text(text, encoding="utf-8")


def write_leak_truth(leaks: list[Leak], path: str | Path) -> None:
    """Write true leaks in the BattLeDIM ``leakages_info`` format."""
    lines = ["# linkID, startTime, endTime, leakDiameter (m), leakType, peakTime"]
    for lk in leaks:
        peak = (lk.peak or lk.start).strftime(TIME_FORMAT)
        lines.append(f"{lk.link_id}, {lk.start.strftime(TIME_FORMAT)}, {lk.end.strftime(TIME_FORMAT)}, "
                     f"{lk.diameter_m:.6g}, {lk.leak_type}, {peak}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_timeseries_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV with a ``Timestamp`` column: BattLeDIM layout (``;``, decimal comma) or plain CSV.

    Returns a float DataFrame indexed by timestamp, one column per sensor or leak.
    """
    path = Path(path)
    if not path.is_file():
        raise LeakFileError(f"{path}: file not found")
    header = pd.read_csv(path, nrows=0).columns
    battledim = len(header) == 1 and ";" in header[0]
    df = pd.read_csv(path, sep=";" if battledim else ",", decimal="," if battledim else ".")
    if "Timestamp" not in df.columns:
        raise LeakFileError(f"{path}: expected a 'Timestamp' column, found {list(df.columns)[:5]}")
    try:
        index = pd.to_datetime(df.pop("Timestamp"), format="mixed")
    except (ValueError, TypeError) as exc:
        raise LeakFileError(f"{path}: column 'Timestamp' holds values that are not times") from exc
    df.index = pd.DatetimeIndex(index, name="Timestamp")
    bad = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise LeakFileError(f"{path}: column {bad[0]!r} is not numeric (decimal comma expected with ';')")
    return df.astype(float)


def write_battledim_csv(df: pd.DataFrame, path: str | Path) -> None:
    """Write a DataFrame indexed by time in the BattLeDIM layout (``;``, decimal comma)."""
    out = df.copy()
    out.index = pd.DatetimeIndex(out.index).strftime(TIME_FORMAT)
    out.index.name = "Timestamp"
    out.to_csv(path, sep=";", decimal=",", float_format="%.4f")


def read_battledim_dir(directory: str | Path) -> dict[str, pd.DataFrame]:
    """Read the BattLeDIM files present in ``directory`` (keys: pressures, flows, levels, demands)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise LeakFileError(f"{directory}: not a directory")
    data = {k: read_timeseries_csv(directory / f) for k, f in BATTLEDIM_FILES.items()
            if (directory / f).is_file()}
    for needed in ("pressures", "flows"):
        if needed not in data:
            raise LeakFileError(f"{directory}: missing {BATTLEDIM_FILES[needed]}")
    return data
