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
wrong_device           the sensor is bound to another field device than the one that sent it (MQTT topic)
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
    "wrong_device",
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
    "wrong_device": "the sensor is bound to another device than the one that sent it",
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
    """Check every row of ``batch`` and convert accepted values to canonical units (see module docstring).

    Each check first asks a cheap question of the whole column (a null count, a minimum, a maximum, a sum) and
    builds a per-row mask only when the answer shows that some row fails; a clean batch is validated with a few
    passes over its columns and no row-sized scratch arrays.
    """
    limits = limits or DEFAULT_LIMITS
    n = batch.num_rows
    names = set(batch.column_names)
    missing_cols = {"sensor_id", "timestamp", "value"} - names
    if missing_cols:
        raise ValueError(f"batch lacks column(s) {', '.join(sorted(missing_cols))}; found {sorted(names)}")
    state: dict[str, np.ndarray] = {}  # the per-row reason codes, made on the first rejection
    detail: dict[int, str] = {}  # row -> text, for the few rejected rows that need more than the reason

    def reject(mask: np.ndarray, reason: str, text: np.ndarray | str | None = None) -> None:
        if not mask.any():
            return
        code = state.setdefault("code", np.zeros(n, dtype=np.int8))
        fresh = mask & (code == 0)
        code[fresh] = _CODE[reason]
        if text is not None:
            for i in np.flatnonzero(fresh):
                detail[int(i)] = text[i] if isinstance(text, np.ndarray) else text

    if "pre_reason" in names and batch["pre_reason"].null_count < n:
        pre = batch["pre_reason"].to_numpy(zero_copy_only=False)
        for reason in set(pre[pd.notna(pre)]):
            reject(pre == reason, reason)

    # sensor
    sid = batch["sensor_id"].cast(pa.string())
    enc = pc.dictionary_encode(sid).combine_chunks()
    dictionary = enc.dictionary.to_pylist()
    sid_codes = enc.indices.to_numpy(zero_copy_only=False) if enc.indices.null_count == 0 else np.where(
        pc.is_null(enc.indices).to_numpy(zero_copy_only=False), len(dictionary),
        pc.fill_null(enc.indices, 0).to_numpy(zero_copy_only=False))
    known = np.array([s in sensors for s in dictionary] + [False], dtype=bool)

    ts_col = batch["timestamp"]
    val_col = batch["value"]
    val_null, ts_null = _is_null(val_col), _is_null(ts_col)
    if enc.indices.null_count or val_null is not None or ts_null is not None:
        missing = sid_codes == len(dictionary)
        for mask in (val_null, ts_null):
            if mask is not None:
                missing |= mask
        reject(missing, "missing_field")
    if not known[:-1].all() or enc.indices.null_count:
        reject(~known[sid_codes], "unknown_sensor")

    # kind and unit -> conversion factor, computed once per (sensor, unit) pair that occurs
    kind_names = sorted({sensors[s].kind for s in dictionary if s in sensors})
    kind_code = np.array([kind_names.index(sensors[s].kind) if s in sensors else -1 for s in dictionary] + [-1],
                         dtype=np.int8)
    default_units = [sensors[s].unit if s in sensors else None for s in dictionary] + [None]
    has_units = "unit" in names and batch["unit"].null_count < n
    factor: np.ndarray | float
    if has_units:
        unit_enc = pc.dictionary_encode(batch["unit"].cast(pa.string())).combine_chunks()
        unit_names = unit_enc.dictionary.to_pylist()
        unit_codes = pc.fill_null(unit_enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        keys = sid_codes.astype(np.int64) * (len(unit_names) + 1) + (unit_codes + 1)
        present = np.zeros((len(dictionary) + 1) * (len(unit_names) + 1), dtype=bool)
        present[keys] = True
        pairs = np.flatnonzero(present)  # dense key space: (sensors + 1) x (units + 1), small
        pair_of_row = (np.cumsum(present) - 1)[keys]
    else:
        unit_names, pairs, pair_of_row = [], np.arange(len(dictionary) + 1), sid_codes
    pair_factor = np.ones(len(pairs))
    for i, pair in enumerate(pairs):
        scode, ucode = divmod(int(pair), len(unit_names) + 1)
        if scode >= len(dictionary) or kind_code[scode] < 0:
            continue
        unit = unit_names[ucode - 1] if ucode and unit_names[ucode - 1].strip() else default_units[scode]
        try:
            pair_factor[i] = conversion(kind_names[kind_code[scode]], unit)
        except UnitError as exc:
            reject(pair_of_row == i, exc.reason if exc.reason in _CODE else "unknown_unit", str(exc))
    factor = 1.0 if (pair_factor == 1.0).all() else pair_factor[pair_of_row]

    # value
    values, non_numeric = _numeric(val_col)
    if non_numeric is not None:
        reject(non_numeric, "non_numeric")
    if not np.isfinite(np.sum(values)):  # some value is NaN or infinite (or the sum overflowed)
        finite = np.isfinite(values)
        reject(~finite if val_null is None else ~finite & ~val_null, "not_finite")

    # timestamp
    ts_utc, bad_ts, no_tz = _timestamps(ts_col)
    if bad_ts is not None:
        reject(bad_ts, "bad_timestamp")
    if no_tz is not None:
        reject(no_tz, "no_timezone")
    now = now or datetime.now(UTC)
    horizon = np.datetime64(now.replace(tzinfo=None), "us") + np.timedelta64(int(future_tolerance_s * 1e6), "us")
    if n and np.max(ts_utc) > horizon:  # NaT compares false and is the minimum of datetime64
        reject(ts_utc > horizon, "future_timestamp")

    # physical limits, in canonical units
    canonical = values * factor if isinstance(factor, np.ndarray) else values
    if len(kind_names) == 1 and known[:-1].all() and enc.indices.null_count == 0:
        lo, hi = limits.get(kind_names[0], (-np.inf, np.inf))
        with np.errstate(invalid="ignore"):
            if n and (np.nanmin(canonical) < lo or np.nanmax(canonical) > hi):
                _reject_range(reject, canonical, np.full(n, 0, np.int8), kind_names, limits)
    elif n:
        _reject_range(reject, canonical, kind_code[sid_codes], kind_names, limits)

    code = state.get("code")
    if code is None:  # the common case: every row accepted, no copies
        accepted = pa.table({"sensor_id": sid, "ts": pa.array(ts_utc, pa.timestamp("us")), "value": canonical})
        return Validated(accepted, _rejected_frame(batch, np.zeros(0, np.int8), detail, sid),
                         _keys_unique(sid_codes, ts_utc))
    ok = code == 0
    accepted = pa.table({
        "sensor_id": sid.filter(pa.array(ok)),
        "ts": pa.array(ts_utc[ok], type=pa.timestamp("us")),
        "value": pa.array(canonical[ok], type=pa.float64()),
    })
    return Validated(accepted, _rejected_frame(batch, code, detail, sid), _keys_unique(sid_codes[ok], ts_utc[ok]))


def _reject_range(reject, canonical: np.ndarray, row_kind: np.ndarray, kind_names: list[str],  # noqa: ANN001
                  limits: dict[str, tuple[float, float]]) -> None:
    """Reject values outside their kind's limits, with a detail naming the value and the limits."""
    bounds = np.array([limits.get(k, (-np.inf, np.inf)) for k in kind_names] + [(-np.inf, np.inf)], dtype=float)
    lo, hi = bounds[row_kind, 0], bounds[row_kind, 1]
    with np.errstate(invalid="ignore"):
        out = (canonical < lo) | (canonical > hi)
    text = np.full(len(canonical), None, dtype=object)
    for i in np.flatnonzero(out):
        text[i] = f"{canonical[i]:g} outside [{lo[i]:g}, {hi[i]:g}] for a {kind_names[row_kind[i]]} sensor"
    reject(out, "out_of_range", text)


def _is_null(col: pa.ChunkedArray | pa.Array) -> np.ndarray | None:
    """Mask of absent values (null, or blank text); None when there are none."""
    text = pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
    if col.null_count == 0 and not text:
        return None
    mask = pc.is_null(col)
    if text:
        mask = pc.or_(mask, pc.equal(pc.utf8_trim_whitespace(col), ""))
    result = pc.fill_null(mask, True).to_numpy(zero_copy_only=False).astype(bool)
    return result if result.any() else None


def _numeric(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray | None]:
    """Values as float64 (NaN where absent) and the mask of present values that are not numbers (or None)."""
    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type) or pa.types.is_decimal(col.type):
        if col.type != pa.float64():
            col = pc.cast(col, pa.float64())
        if col.null_count:
            col = pc.fill_null(col, np.nan)
        return col.to_numpy(zero_copy_only=False), None
    text = pd.Series(col.cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    absent = text.isna() | (text.str.strip() == "")
    failed = np.isnan(values) & ~absent.to_numpy()
    if failed.any():
        nan_text = text[failed].str.strip().str.lower().isin(_NAN_TEXT).to_numpy()
        idx = np.flatnonzero(failed)
        failed[idx[nan_text]] = False
    return values, failed


def _timestamps(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """UTC instants (naive datetime64[us], NaT when unusable), unparseable mask, no-time-zone mask (None when
    no row is unparseable or lacks a zone)."""
    n = len(col)
    if pa.types.is_timestamp(col.type):
        if col.type.tz is None:
            return np.full(n, np.datetime64("NaT"), "datetime64[us]"), None, np.ones(n, bool)
        if col.type.unit != "us":
            col = col.cast(pa.timestamp("us", tz=col.type.tz))
        micros = col.cast(pa.int64())  # instants are stored in UTC whatever the zone
        if micros.null_count:
            micros = pc.fill_null(micros, np.iinfo(np.int64).min)  # int64 minimum is NaT
        return micros.to_numpy(zero_copy_only=False).view("datetime64[us]"), None, None
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


def _keys_unique(codes: np.ndarray, ts: np.ndarray, chunk: int = 1 << 18) -> bool:
    """True when the rows are strictly ordered by (time, sensor) or by (sensor, time): then no key repeats.

    Works through the rows in chunks, so that its scratch arrays stay small whatever the batch size.
    """
    t = ts.view("int64")
    time_major = sensor_major = True
    for a in range(0, len(t) - 1, chunk):
        b = min(a + chunk, len(t) - 1)
        dt = t[a + 1:b + 1] - t[a:b]
        dc = codes[a + 1:b + 1].astype(np.int64) - codes[a:b]
        time_major = time_major and bool(((dt > 0) | ((dt == 0) & (dc > 0))).all())
        sensor_major = sensor_major and bool(((dc > 0) | ((dc == 0) & (dt > 0))).all())
        if not (time_major or sensor_major):
            return False
    return True


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
