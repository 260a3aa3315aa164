"""The one validation pipeline every reading goes through, whatever path it came by.

A batch is an Arrow table with columns ``sensor_id``, ``timestamp`` (an ISO 8601 string with its offset, or a
time-zone-aware timestamp), ``value`` (number or text), optional ``unit``, and optionally ``position`` (row or
item number in the source), ``raw`` (the source text of the row) and ``pre_reason`` (a rejection a reader has
already decided, such as a malformed row). Every row is accepted, in canonical units and UTC, or rejected with
exactly one reason. The checks run column-wise with numpy and Arrow, so validation costs a small multiple of
reading the data.

Rejection reasons, in the order they are tested:

=====================  ==============================================================================
reason                 meaning
=====================  ==============================================================================
malformed_row          the reader could not split the row into the expected fields
missing_field          sensor_id, timestamp or value is empty
unknown_sensor         no sensor with that id is registered
unknown_unit           the unit is not a unit pint knows
incompatible_unit      the unit is not of the sensor kind's dimension (e.g. bar on a flow meter)
non_numeric            the value is not a number
not_finite             the value is NaN or infinite
bad_timestamp          the timestamp cannot be parsed as ISO 8601
no_timezone            the timestamp carries no UTC offset or zone
future_timestamp       the timestamp lies further in the future than the configured tolerance
out_of_range           the value, in canonical units, is outside the physical limits of its sensor kind
=====================  ==============================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from suvar.config import DEFAULT_LIMITS
from suvar.telemetry.units import UnitError, conversion

REASONS = (
    "malformed_row",
    "missing_field",
    "unknown_sensor",
    "unknown_unit",
    "incompatible_unit",
    "non_numeric",
    "not_finite",
    "bad_timestamp",
    "no_timezone",
    "future_timestamp",
    "out_of_range",
)
_CODE = {r: i + 1 for i, r in enumerate(REASONS)}
_TZ_SUFFIX = r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
_DETAIL = {
    "malformed_row": "the row does not have the expected fields",
    "missing_field": "sensor_id, timestamp and value are all required",
    "unknown_sensor": "no sensor with this id is registered",
    "non_numeric": "value is not a number",
    "not_finite": "value is NaN or infinite",
    "bad_timestamp": "timestamp is not ISO 8601 (expected e.g. 2024-05-01T00:15:00Z)",
    "no_timezone": "timestamp has no UTC offset (expected e.g. 2024-05-01T00:15:00+04:00)",
    "future_timestamp": "timestamp lies in the future beyond the tolerance",
}
_NAN_TEXT = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


@dataclass(frozen=True)
class SensorInfo:
    kind: str
    unit: str


@dataclass
class Validated:
    """Result of validation: the accepted readings and the rejected rows."""

    accepted: pa.Table  # sensor_id, ts (UTC, naive), value (canonical unit)
    rejected: pd.DataFrame  # position, reason, detail, sensor_id, raw
    unique_keys: bool  # no (sensor_id, ts) repeats inside the accepted rows


def validate(
    batch: pa.Table,
    sensors: dict[str, SensorInfo],
    *,
    limits: dict[str, tuple[float, float]] | None = None,
    future_tolerance_s: float = 300.0,
    now: datetime | None = None,
) -> Validated:
    """Check every row of ``batch`` and convert accepted values to canonical units (see module docstring)."""
    limits = limits or DEFAULT_LIMITS
    n = batch.num_rows
    names = set(batch.column_names)
    missing_cols = {"sensor_id", "timestamp", "value"} - names
    if missing_cols:
        raise ValueError(f"batch lacks column(s) {', '.join(sorted(missing_cols))}; found {sorted(names)}")
    code = np.zeros(n, dtype=np.int8)
    detail: dict[int, str] = {}  # row -> text, for the few rejected rows that need more than the reason

    def reject(mask: np.ndarray, reason: str, text: np.ndarray | str | None = None) -> None:
        fresh = mask & (code == 0)
        code[fresh] = _CODE[reason]
        if text is not None:
            for i in np.flatnonzero(fresh):
                detail[int(i)] = text[i] if isinstance(text, np.ndarray) else text

    if "pre_reason" in names:
        pre = batch["pre_reason"].to_numpy(zero_copy_only=False)
        for reason in set(pre[pd.notna(pre)]):
            reject(pre == reason, reason)

    # sensor
    sid = batch["sensor_id"].cast(pa.string())
    enc = pc.dictionary_encode(sid).combine_chunks()
    sid_codes = enc.indices.to_numpy(zero_copy_only=False)
    sid_null = pc.is_null(enc.indices).to_numpy(zero_copy_only=False)
    dictionary = enc.dictionary.to_pylist()
    known = np.array([s in sensors for s in dictionary] + [False], dtype=bool)
    sid_codes = np.where(sid_null, len(dictionary), sid_codes).astype(np.int64)

    ts_col = batch["timestamp"]
    val_col = batch["value"]
    val_null = _is_null(val_col)
    reject(sid_null | _is_null(ts_col) | val_null, "missing_field")
    reject(~known[sid_codes], "unknown_sensor")

    # unit -> conversion factor per row, computed once per (sensor, unit) pair that occurs
    kind_names = sorted({i.kind for i in sensors.values()})
    kind_code = np.array([kind_names.index(sensors[s].kind) if s in sensors else -1 for s in dictionary] + [-1])
    default_units = [sensors[s].unit if s in sensors else None for s in dictionary] + [None]
    row_kind = kind_code[sid_codes]
    if "unit" in names:
        unit_enc = pc.dictionary_encode(batch["unit"].cast(pa.string())).combine_chunks()
        unit_names = unit_enc.dictionary.to_pylist()
        unit_codes = pc.fill_null(unit_enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    else:
        unit_names, unit_codes = [], np.full(n, -1, dtype=np.int64)
    keys = sid_codes * (len(unit_names) + 1) + (unit_codes + 1)
    present = np.zeros((len(dictionary) + 1) * (len(unit_names) + 1), dtype=bool)
    present[keys] = True
    pairs = np.flatnonzero(present)  # dense key space: (sensors + 1) x (units + 1), small
    dense = np.cumsum(present) - 1
    pair_of_row = dense[keys]
    pair_factor = np.ones(len(pairs))
    pair_error: dict[int, UnitError] = {}
    for i, pair in enumerate(pairs):
        scode, ucode = divmod(int(pair), len(unit_names) + 1)
        if kind_code[scode] < 0:
            continue
        unit = unit_names[ucode - 1] if ucode and unit_names[ucode - 1].strip() else default_units[scode]
        try:
            pair_factor[i] = conversion(kind_names[kind_code[scode]], unit)
        except UnitError as exc:
            pair_error[i] = exc
    factor = pair_factor[pair_of_row]
    for i, exc in pair_error.items():
        rows = pair_of_row == i
        reject(rows, exc.reason if exc.reason in _CODE else "unknown_unit", str(exc))

    # value
    values, non_numeric = _numeric(val_col)
    reject(non_numeric, "non_numeric")
    with np.errstate(invalid="ignore"):
        reject(~np.isfinite(values) & ~val_null, "not_finite")

    # timestamp
    ts_utc, bad_ts, no_tz = _timestamps(ts_col)
    reject(bad_ts, "bad_timestamp")
    reject(no_tz, "no_timezone")
    now = now or datetime.now(UTC)
    horizon = np.datetime64(now.replace(tzinfo=None), "us") + np.timedelta64(int(future_tolerance_s * 1e6), "us")
    with np.errstate(invalid="ignore"):
        reject(ts_utc > horizon, "future_timestamp")

    # physical limits, in canonical units
    canonical = values * factor
    bounds = np.array([limits.get(k, (-np.inf, np.inf)) for k in kind_names] + [(-np.inf, np.inf)], dtype=float)
    lo, hi = bounds[row_kind, 0], bounds[row_kind, 1]
    with np.errstate(invalid="ignore"):
        out = (canonical < lo) | (canonical > hi)
    if out.any():
        text = np.full(n, None, dtype=object)
        for i in np.flatnonzero(out):
            kind = kind_names[row_kind[i]]
            text[i] = f"{canonical[i]:g} outside [{lo[i]:g}, {hi[i]:g}] for a {kind} sensor"
        reject(out, "out_of_range", text)

    ok = code == 0
    if ok.all():  # the common case: no copies
        accepted = pa.table({"sensor_id": sid, "ts": pa.array(ts_utc, pa.timestamp("us")), "value": canonical})
        unique = _keys_unique(sid_codes, ts_utc)
    else:
        accepted = pa.table({
            "sensor_id": sid.filter(pa.array(ok)),
            "ts": pa.array(ts_utc[ok], type=pa.timestamp("us")),
            "value": pa.array(canonical[ok], type=pa.float64()),
        })
        unique = _keys_unique(sid_codes[ok], ts_utc[ok])
    rejected = _rejected_frame(batch, code, detail, sid)
    return Validated(accepted, rejected, unique)


def _is_null(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    mask = pc.is_null(col)
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        mask = pc.or_(mask, pc.equal(pc.utf8_trim_whitespace(col), ""))
    return pc.fill_null(mask, True).to_numpy(zero_copy_only=False).astype(bool)


def _numeric(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Values as float64 (NaN where absent) and the mask of present values that are not numbers."""
    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type) or pa.types.is_decimal(col.type):
        values = pc.fill_null(pc.cast(col, pa.float64()), np.nan).to_numpy(zero_copy_only=False)
        return values, np.zeros(len(values), bool)
    text = pd.Series(col.cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    absent = text.isna() | (text.str.strip() == "")
    failed = np.isnan(values) & ~absent.to_numpy()
    if failed.any():
        nan_text = text[failed].str.strip().str.lower().isin(_NAN_TEXT).to_numpy()
        idx = np.flatnonzero(failed)
        failed[idx[nan_text]] = False
    return values, failed


def _timestamps(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """UTC instants (naive datetime64[us], NaT when unusable), unparseable mask, no-time-zone mask."""
    n = len(col)
    if pa.types.is_timestamp(col.type):
        if col.type.tz is None:
            return np.full(n, np.datetime64("NaT"), "datetime64[us]"), np.zeros(n, bool), np.ones(n, bool)
        micros = pc.fill_null(col.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()), np.iinfo(np.int64).min)
        micros = micros.to_numpy(zero_copy_only=False)  # int64 minimum is NaT
        return micros.view("datetime64[us]"), np.zeros(n, bool), np.zeros(n, bool)
    text = col.cast(pa.string())
    has_tz = pc.fill_null(pc.match_substring_regex(pc.utf8_trim_whitespace(text), _TZ_SUFFIX), False)
    series = pd.Series(text.to_numpy(zero_copy_only=False), dtype=object)
    parsed = pd.to_datetime(series, format="ISO8601", utc=True, errors="coerce")
    values = parsed.dt.tz_convert(None).to_numpy(dtype="datetime64[us]")
    present = series.notna().to_numpy() & (series.fillna("").str.strip() != "").to_numpy()
    bad = np.isnat(values) & present
    no_tz = ~has_tz.to_numpy(zero_copy_only=False).astype(bool) & present
    values = np.where(no_tz, np.datetime64("NaT"), values)
    return values, bad, no_tz


def _keys_unique(codes: np.ndarray, ts: np.ndarray) -> bool:
    """True when the rows are strictly ordered by (time, sensor) or by (sensor, time): then no key repeats."""
    if len(codes) < 2:
        return True
    dt = np.diff(ts.view("int64"))
    if (dt >= 0).all():  # time-major, as a SCADA poll or a wide file is written
        return bool((np.diff(codes)[dt == 0] > 0).all())
    dc = np.diff(codes)
    if (dc >= 0).all():  # sensor-major
        return bool((dt[dc == 0] > 0).all())
    return False


def _rejected_frame(batch: pa.Table, code: np.ndarray, detail: dict[int, str], sid: pa.ChunkedArray
                    ) -> pd.DataFrame:
    idx = np.flatnonzero(code)
    if not len(idx):
        return pd.DataFrame(columns=["position", "reason", "detail", "sensor_id", "raw"])
    take = pa.array(idx)
    names = batch.column_names
    position = (batch["position"].take(take).to_numpy(zero_copy_only=False) if "position" in names else idx + 1)
    cols = [c for c in ("sensor_id", "timestamp", "value", "unit") if c in names]
    parts = [batch[c].take(take).to_pylist() for c in cols]
    raw = [",".join("" if v is None else str(v) for v in row) for row in zip(*parts, strict=True)]
    if "raw" in names:  # the reader kept the source text: prefer it
        raw = [r if r is not None else f for r, f in zip(batch["raw"].take(take).to_pylist(), raw, strict=True)]
    reasons = np.array(REASONS, dtype=object)[code[idx] - 1]
    details = [detail.get(int(i), _DETAIL.get(r, r)) for i, r in zip(idx, reasons, strict=True)]
    return pd.DataFrame({
        "position": position.astype("int64"),
        "reason": reasons,
        "detail": details,
        "sensor_id": sid.take(take).to_pylist(),
        "raw": raw,
    })
