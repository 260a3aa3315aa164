"""Every validation reason, and unit conversion to canonical units."""

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from suvar.telemetry.units import UnitError, conversion
from suvar.telemetry.validate import REASONS, SensorInfo, validate

SENSORS = {"p": SensorInfo("pressure", "m"), "f": SensorInfo("flow", "m3/h"), "v": SensorInfo("volume", "L")}
NOW = datetime(2024, 6, 1, tzinfo=UTC)


def _run(rows: list[tuple], **kw):  # noqa: ANN202
    cols = ["sensor_id", "timestamp", "value", "unit"]
    return validate(pa.table({c: pa.array([r[i] for r in rows], pa.string()) for i, c in enumerate(cols)}),
                    SENSORS, now=NOW, **kw)


@pytest.mark.parametrize(("row", "reason"), [
    ((None, "2024-01-01T00:00:00Z", "1", None), "missing_field"),
    (("p", "", "1", None), "missing_field"),
    (("p", "2024-01-01T00:00:00Z", " ", None), "missing_field"),
    (("ghost", "2024-01-01T00:00:00Z", "1", None), "unknown_sensor"),
    (("p", "2024-01-01T00:00:00Z", "1", "zorg"), "unknown_unit"),
    (("p", "2024-01-01T00:00:00Z", "1", "m3/h"), "incompatible_unit"),
    (("f", "2024-01-01T00:00:00Z", "1", "bar"), "incompatible_unit"),
    (("p", "2024-01-01T00:00:00Z", "1,5", None), "non_numeric"),
    (("p", "2024-01-01T00:00:00Z", "abc", None), "non_numeric"),
    (("p", "2024-01-01T00:00:00Z", "NaN", None), "not_finite"),
    (("p", "2024-01-01T00:00:00Z", "-inf", None), "not_finite"),
    (("p", "yesterday", "1", None), "bad_timestamp"),
    (("p", "2024-13-01T00:00:00Z", "1", None), "bad_timestamp"),
    (("p", "2024-01-01T00:00:00", "1", None), "no_timezone"),
    (("p", "2024-06-01T00:10:00Z", "1", None), "future_timestamp"),
    (("p", "2024-01-01T00:00:00Z", "300", None), "out_of_range"),
    (("p", "2024-01-01T00:00:00Z", "30", "bar"), "out_of_range"),  # 30 bar = 306 m
    (("v", "2024-01-01T00:00:00Z", "-5", None), "out_of_range"),
])
def test_each_reason(row: tuple, reason: str) -> None:
    result = _run([row, ("p", "2024-01-01T00:00:00Z", "50", None)])
    assert result.accepted.num_rows == 1
    assert result.rejected["reason"].tolist() == [reason]
    assert result.rejected["position"].tolist() == [1]
    assert result.rejected["detail"].iloc[0]


def test_all_reasons_are_documented() -> None:
    import suvar.telemetry.validate as module

    for reason in REASONS:
        assert reason in module.__doc__


def test_accepted_rows_in_canonical_units_and_utc() -> None:
    result = _run([
        ("p", "2024-01-01T04:00:00+04:00", "5", "bar"),
        ("p", "2024-01-01T00:05:00Z", "100", "kPa"),
        ("p", "2024-01-01T00:10:00Z", "50", "psi"),
        ("f", "2024-01-01T00:00:00Z", "10", "L/s"),
        ("f", "2024-01-01T00:05:00Z", "3600", "L/h"),
        ("v", "2024-01-01T00:00:00Z", "1500", None),  # the sensor's own unit, L
    ])
    assert result.rejected.empty
    got = result.accepted.to_pandas()
    # 1 bar = 1e5 Pa = 1e5 / (1000 kg/m³ × 9.80665 m/s²) m = 10.1972 m of water; 1 psi = 6894.757 Pa.
    assert got["value"].tolist() == pytest.approx([50.986, 10.197, 35.153, 36.0, 3.6, 1.5], abs=1e-3)
    assert str(got["ts"].iloc[0]) == "2024-01-01 00:00:00"


def test_future_tolerance() -> None:
    assert _run([("p", "2024-06-01T00:04:00Z", "1", None)]).rejected.empty
    assert len(_run([("p", "2024-06-01T00:04:00Z", "1", None)], future_tolerance_s=60).rejected) == 1


def test_limits_configurable() -> None:
    row = [("p", "2024-01-01T00:00:00Z", "120", None)]
    assert _run(row).rejected.empty
    assert _run(row, limits={"pressure": (0.0, 100.0)}).rejected["reason"].tolist() == ["out_of_range"]


def test_unit_errors() -> None:
    assert conversion("flow", "m3/s") == pytest.approx(3600)
    with pytest.raises(UnitError) as err:
        conversion("level", "kg")
    assert err.value.reason == "incompatible_unit"


def test_key_order_check_across_chunks() -> None:
    """The fast path that skips in-batch grouping must see a repeat wherever it falls."""
    import numpy as np

    from suvar.telemetry.validate import _keys_unique

    codes = np.tile(np.arange(3), 4)  # time-major: 4 instants x 3 sensors
    ts = np.repeat(np.arange(4), 3).astype("datetime64[us]")
    assert _keys_unique(codes, ts, chunk=2)
    repeated = codes.copy()
    repeated[5] = repeated[4]  # sensor 1 twice at instant 1, straddling a chunk boundary
    assert not _keys_unique(repeated, ts, chunk=4)
    assert _keys_unique(np.repeat(np.arange(3), 4), np.tile(np.arange(4), 3).astype("datetime64[us]"), chunk=5)
