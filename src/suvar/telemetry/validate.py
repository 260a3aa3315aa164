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
    detail = np.full(n, None, dtype=object)

    def reject(mask: np.ndarray, reason: str, text: np.ndarray | str | None = None) -> None:
        fresh = mask & (code == 0)
        code[fresh] = _CODE[reason]
        if text is not None:
            detail[fresh] = text[fresh] if isinstance(text, np.ndarray) else text

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
    reject(sid_null | _is_null(ts_col) | _is_null(val_col), "missing_field")
    reject(~known[sid_codes], "unknown_sensor")

    # unit -> conversion factor per row
    kinds = [sensors[s].kind if s in sensors else None for s in dictionary] + [None]
    default_units = [sensors[s].unit if s in sensors else None for s in dictionary] + [None]
    factor = np.ones(n)
    kind_rows = np.array(kinds, dtype=object)[sid_codes]
    if "unit" in names:
        unit_vals = batch["unit"].cast(pa.string()).to_numpy(zero_copy_only=False)
        unit_vals = np.where(pd.isna(unit_vals) | (unit_vals == ""), np.array(default_units, dtype=object)[sid_codes],
                             unit_vals)
    else:
        unit_vals = np.array(default_units, dtype=object)[sid_codes]
    pair = pd.MultiIndex.from_arrays([sid_codes, pd.Series(unit_vals, dtype=object).fillna("")])
    pair_codes, uniques = pd.factorize(pair)
    for i, (scode, unit) in enumerate(uniques):
        kind = kinds[scode]
        if kind is None:
            continue
        rows = pair_codes == i
        try:
            factor[rows] = conversion(kind, unit or default_units[scode])
        except UnitError as exc:
            reject(rows, exc.reason if exc.reason in _CODE else "unknown_unit", str(exc))

    # value
    values, non_numeric = _numeric(val_col)
    reject(non_numeric, "non_numeric")
    with np.errstate(invalid="ignore"):
        reject(~np.isfinite(values) & ~_is_null(val_col), "not_finite")

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
    lo = np.full(n, -np.inf)
    hi = np.full(n, np.inf)
    for kind, (kmin, kmax) in limits.items():
        rows = kind_rows == kind
        lo[rows], hi[rows] = kmin, kmax
    with np.errstate(invalid="ignore"):
        out = (canonical < lo) | (canonical > hi)
    if out.any():
        text = np.array(
            [f"{v:g} outside [{a:g}, {b:g}] for a {k} sensor" if o else None
             for v, a, b, k, o in zip(canonical, lo, hi, kind_rows, out, strict=True)],
            dtype=object,
        )
        reject(out, "out_of_range", text)

    ok = code == 0
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
        values = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
        return np.where(pd.isna(values), np.nan, values).astype(float), np.zeros(len(values), bool)
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
        values = pc.cast(col.cast(pa.timestamp("us", tz="UTC")), pa.timestamp("us")).to_numpy(zero_copy_only=False)
        return values.astype("datetime64[us]"), np.zeros(n, bool), np.zeros(n, bool)
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
    """True when the rows are strictly ordered by (sensor, time) or by (time, sensor): then no key repeats."""
    if len(codes) < 2:
        return True
    t = ts.view("int64")
    dc, dt = np.diff(codes), np.diff(t)
    return bool(np.all((dc > 0) | ((dc == 0) & (dt > 0))) or np.all((dt > 0) | ((dt == 0) & (dc > 0))))


def _rejected_frame(batch: pa.Table, code: np.ndarray, detail: np.ndarray, sid: pa.ChunkedArray) -> pd.DataFrame:
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
    details = [d if d is not None else _DETAIL.get(r, r) for d, r in zip(detail[idx], reasons, strict=True)]
    return pd.DataFrame({
        "position": position.astype("int64"),
        "reason": reasons,
        "detail": details,
        "sensor_id": sid.take(take).to_pylist(),
        "raw": raw,
    })
