"""Property tests of every parser of outside input: a file or payload is either read correctly (round trip where
the format allows) or refused with the parser's own clear error naming the file, row or field; never any other
exception.

Parsers: the long CSV and BattLeDIM telemetry readers, JSON records and MQTT payloads (each followed by the
validation pipeline), EPANET ``.inp`` import, basin model files and zone files.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import DATA, NETWORKS
from suvar.allocation.model import BasinError, load_basin, parse_basin
from suvar.allocation.pywr_import import PywrImportError, load_pywr
from suvar.network.epanet import NetworkError, network_tables, read_inp
from suvar.network.hydraulics import run_epanet
from suvar.network.registry import RegistryError, import_sensors
from suvar.network.zones import ZoneError, check_node_zones, read_zone_csv, zones_from_boundary
from suvar.store import DuckStore
from suvar.telemetry.mqtt import messages_batch, payload_records
from suvar.telemetry.readers import FormatError, read_battledim, read_long, read_records
from suvar.telemetry.validate import REASONS, SensorInfo, validate

FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SLOW = settings(FAST, max_examples=25)  # parsers that take tens of milliseconds an example (WNTR)

SENSORS = {"P-1": SensorInfo("pressure", "m"), "P-2": SensorInfo("pressure", "bar"), "F-1": SensorInfo("flow", "L/s")}
NOW = datetime(2024, 6, 1, tzinfo=UTC)

# Text that reaches parsers from outside: anything printable, quotes, separators, formulas, control characters.
ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
plain_ids = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=10)
stamps = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC))
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
junk = st.one_of(st.binary(max_size=400), st.text(max_size=400).map(lambda t: t.encode("utf-8", "surrogatepass")))


def _write(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def _check_validates(batch: pa.Table) -> None:
    """The batch goes through validation: every row accepted or rejected with one of the documented reasons."""
    checked = validate(batch, SENSORS, now=NOW)
    assert checked.accepted.num_rows + len(checked.rejected) == batch.num_rows
    assert set(checked.rejected["reason"]) <= set(REASONS)
    if checked.accepted.num_rows:
        values = checked.accepted.column("value").to_numpy()
        assert np.isfinite(values).all()


# -- long CSV -----------------------------------------------------------------------------------------------------

@FAST
@given(rows=st.lists(st.tuples(ids, stamps, finite, st.sampled_from(["", "m", "bar", "kPa"])), max_size=30))
def test_long_csv_round_trip(tmp_path_factory: pytest.TempPathFactory, rows: list) -> None:
    """Rows written by a CSV writer come back field for field, numbered by their file line."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["sensor_id", "timestamp", "value", "unit"])
    for sid, ts, value, unit in rows:
        writer.writerow([sid, ts.isoformat(), repr(value), unit])
    text = buf.getvalue()
    assume("\r" not in text)  # a bare CR inside a quoted field is a line break to some readers
    path = _write(tmp_path_factory.mktemp("long"), "readings.csv", text.encode())
    table = read_long(path)
    good = table.filter(pa.compute.is_null(table.column("pre_reason"))) if "pre_reason" in table.column_names \
        else table
    assert good.column("sensor_id").to_pylist() == [r[0] for r in rows]
    assert [float(v) for v in good.column("value").to_pylist()] == [r[2] for r in rows]
    assert good.column("timestamp").to_pylist() == [r[1].isoformat() for r in rows]
    assert good.column("unit").to_pylist() == [r[3] or None for r in rows]
    checked = validate(table, {r[0]: SensorInfo("pressure", "m") for r in rows}, now=NOW)
    assert checked.accepted.num_rows + len(checked.rejected) == len(rows)


@FAST
@given(data=junk)
def test_long_csv_arbitrary_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = _write(tmp_path_factory.mktemp("junk"), "junk.csv", b"sensor_id,timestamp,value\n" + data)
    try:
        table = read_long(path)
    except FormatError as exc:
        assert str(path) in str(exc)
        return
    _check_validates(table)


@FAST
@given(data=junk)
def test_long_csv_without_header(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = _write(tmp_path_factory.mktemp("nohead"), "x.csv", data)
    try:
        table = read_long(path)
    except FormatError as exc:
        assert str(path) in str(exc)
        return
    _check_validates(table)


@FAST
@given(data=junk)
def test_parquet_arbitrary_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = _write(tmp_path_factory.mktemp("pq"), "x.parquet", b"PAR1" + data + b"PAR1")
    with pytest.raises(FormatError, match="x.parquet"):
        read_long(path)


# -- BattLeDIM layout ---------------------------------------------------------------------------------------------

REGISTRY = pd.DataFrame([
    {"sensor_id": "P-n1", "utility_id": "u", "kind": "pressure", "unit": "m", "node_id": "n1", "link_id": None,
     "connection_id": None},
    {"sensor_id": "F-p1", "utility_id": "u", "kind": "flow", "unit": "m3/h", "node_id": None, "link_id": "p1",
     "connection_id": None},
])


@FAST
@given(columns=st.lists(plain_ids, min_size=1, max_size=5, unique=True),
       data=st.data(), start=stamps)
def test_battledim_round_trip(tmp_path_factory: pytest.TempPathFactory, columns: list, data: st.DataObject,
                              start: datetime) -> None:
    """Values written with ';' and decimal comma come back in order, mapped to sensors by location."""
    assume("Timestamp" not in columns)
    n = data.draw(st.integers(1, 8))
    values = data.draw(st.lists(st.lists(finite, min_size=len(columns), max_size=len(columns)), min_size=n,
                                max_size=n))
    lines = [";".join(["Timestamp", *columns])]
    for i, row in enumerate(values):
        ts = (start + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(";".join([ts, *(repr(v).replace(".", ",") for v in row)]))
    path = _write(tmp_path_factory.mktemp("bd"), "Pressures.csv", ("\n".join(lines) + "\n").encode())
    table = read_battledim(path, REGISTRY, "u")
    assert table.num_rows == n * len(columns)
    got = [float(v) for v in table.column("value").to_pylist()]
    assert got == [v for row in values for v in row]
    expected_ids = ["P-n1" if c == "n1" else c for c in columns] * n
    assert table.column("sensor_id").to_pylist() == expected_ids
    assert table.column("position").to_pylist() == list(np.repeat(np.arange(2, n + 2), len(columns)))
    _check_validates(table)


@FAST
@given(data=junk, name=st.sampled_from(["Pressures.csv", "Flows.csv", "Levels.csv", "Demands.csv"]))
def test_battledim_arbitrary_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes, name: str) -> None:
    path = _write(tmp_path_factory.mktemp("bdjunk"), name, b"Timestamp;n1;p1\n" + data)
    try:
        table = read_battledim(path, REGISTRY, "u")
    except FormatError as exc:
        assert str(path) in str(exc)
        return
    _check_validates(table)


@FAST
@given(data=junk)
def test_battledim_without_header(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = _write(tmp_path_factory.mktemp("bdnohead"), "Flows.csv", data)
    try:
        table = read_battledim(path, REGISTRY, "u")
    except FormatError as exc:
        assert str(path) in str(exc)
        return
    _check_validates(table)


# -- JSON records and MQTT payloads -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
reading_objects = st.fixed_dictionaries(
    {"sensor_id": st.sampled_from([*SENSORS, "nope"]), "timestamp": stamps.map(lambda d: d.isoformat()),
     "value": finite}, optional={"unit": st.sampled_from(["m", "bar", "L/s", "furlong", "1/0"])})


class _Msg:
    def __init__(self, payload: bytes) -> None:
        self.payload, self.topic = payload, "suvar/dev/readings"


@FAST
@given(items=st.lists(reading_objects, max_size=20), shape=st.sampled_from(["list", "batch", "single"]))
def test_mqtt_payload_round_trip(items: list, shape: str) -> None:
    assume(shape != "single" or len(items) == 1)
    body = {"list": items, "batch": {"readings": items}, "single": items[0] if items else {}}[shape]
    assert payload_records(json.dumps(body).encode()) == items
    table = messages_batch([_Msg(json.dumps(body).encode())])
    assert table.column("sensor_id").to_pylist() == [i["sensor_id"] for i in items]
    assert [float(v) for v in table.column("value").to_pylist()] == [i["value"] for i in items]
    _check_validates(table)


@FAST
@given(payloads=st.lists(st.one_of(junk, json_values.map(lambda v: json.dumps(v).encode())), min_size=1,
                         max_size=6))
def test_mqtt_arbitrary_payloads(payloads: list) -> None:
    """Whatever arrives becomes rows: readings, or malformed rows that name the topic."""
    for p in payloads:
        records = payload_records(p)
        assert records is None or isinstance(records, list)
    table = messages_batch([_Msg(p) for p in payloads])
    _check_validates(table)
    if "raw" in table.column_names:
        raws = [r for r in table.column("raw").to_pylist() if r]
        assert all("suvar/dev/readings" in r or r.startswith(("'", '"', "<", "[", "{")) or r for r in raws)


def test_mqtt_payload_limits() -> None:
    """The HTTP limits hold on MQTT too: an oversized payload or batch is one quarantined row, not ingested."""
    small = json.dumps([{"sensor_id": "P-1", "timestamp": "2024-01-01T00:00:00Z", "value": 1}] * 3).encode()
    big = json.dumps([{"sensor_id": "P-1", "timestamp": "2024-01-01T00:00:00Z", "value": 1}] * 50).encode()
    table = messages_batch([_Msg(small), _Msg(big), _Msg(b"x" * 5000)], max_bytes=4000, max_readings=10)
    assert table.num_rows == 3 + 1 + 1
    raws = [r for r in table.column("raw").to_pylist() if r]
    assert len(raws) == 2 and "50 readings in one message, over the limit of 10" in raws[0]
    assert "payload of 5000 bytes is over the limit of 4000" in raws[1] and "suvar/dev/readings" in raws[1]
    checked = validate(table, SENSORS, now=NOW)
    assert checked.accepted.num_rows == 3  # the small message's readings
    assert checked.rejected["reason"].tolist().count("malformed_row") == 2


@FAST
@given(body=json_values)
def test_records_arbitrary_json(body: object) -> None:
    try:
        table = read_records(body, "http")
    except FormatError as exc:
        assert "http" in str(exc)
        return
    assert table.num_rows == len(body)
    _check_validates(table)


# -- EPANET .inp ----------------------------------------------------------------------------------------------------

HANOI = (NETWORKS / "Hanoi_CMH.inp").read_text()
NET1 = (NETWORKS / "Net1_leakdb.inp").read_text()


def _read_or_refuse(path: Path) -> None:
    try:
        wn = read_inp(path)
    except NetworkError as exc:
        assert str(path) in str(exc)
        return
    nodes, links, _ = network_tables(wn)
    assert set(links["start_node"]) | set(links["end_node"]) <= set(nodes["node_id"])


@SLOW
@given(data=junk)
def test_inp_arbitrary_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    _read_or_refuse(_write(tmp_path_factory.mktemp("inp"), "net.inp", data))


@SLOW
@given(seed=st.integers(0, 2**32 - 1), edits=st.integers(1, 6),
       base=st.sampled_from(["hanoi", "net1"]))
def test_inp_mutated_real_files(tmp_path_factory: pytest.TempPathFactory, seed: int, edits: int, base: str) -> None:
    """A real network with lines dropped, duplicated, cut short or garbled: read or refused, nothing else."""
    rng = random.Random(seed)
    lines = (HANOI if base == "hanoi" else NET1).splitlines()
    for _ in range(edits):
        i = rng.randrange(len(lines))
        op = rng.choice(["drop", "dup", "cut", "garble", "number"])
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "cut":
            lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
        elif op == "garble":
            chars = list(lines[i])
            for _ in range(rng.randint(1, 4)):
                if chars:
                    chars[rng.randrange(len(chars))] = rng.choice("[];\t-=x0.é\x00")
            lines[i] = "".join(chars)
        else:
            lines[i] = " ".join(rng.choice(["-1", "0", "1e308", "nan", "inf", "-0"]) if t[:1].isdigit() else t
                                for t in lines[i].split())
    _read_or_refuse(_write(tmp_path_factory.mktemp("mut"), "net.inp", "\n".join(lines).encode()))


def test_inp_round_trip() -> None:
    """The real file itself reads into consistent tables (the baseline the mutations depart from)."""
    nodes, links, _ = network_tables(read_inp(NETWORKS / "Hanoi_CMH.inp"))
    assert (len(nodes), len(links)) == (32, 34)


# -- basin model files ----------------------------------------------------------------------------------------------

def _basin(n_steps: int, demand: float, inflow: float) -> dict:
    return {"name": "b", "time_step": "month", "start": "2024-01-01", "n_steps": n_steps,
            "catchments": [{"id": "c", "inflow_m3": inflow}], "outlets": [{"id": "o"}],
            "demands": [{"id": "d", "kind": "city", "demand_m3": [demand] * n_steps, "priority": 1, "body": "x"}],
            "links": [{"id": "l1", "from": "c", "to": "d", "loss_fraction": 0.1}, {"id": "l2", "from": "c", "to": "o"}]}


@FAST
@given(n=st.integers(1, 24), demand=st.floats(0, 1e9), inflow=st.floats(0, 1e9))
def test_basin_round_trip(n: int, demand: float, inflow: float) -> None:
    basin = parse_basin(_basin(n, demand, inflow))
    again = parse_basin(basin.model_dump(mode="json", by_alias=True))
    assert again == basin and again.demands[0].demand_m3 == [demand] * n


def _mutate(value: object, draw: st.DataObject) -> object:
    """Replace one leaf or entry somewhere inside ``value`` with an arbitrary JSON value."""
    if isinstance(value, dict) and value:
        key = draw.draw(st.sampled_from(sorted(value)))
        out = dict(value)
        if draw.draw(st.booleans()):
            out[key] = _mutate(value[key], draw)
        elif draw.draw(st.booleans()):
            del out[key]
        else:
            out[key] = draw.draw(json_values)
        return out
    if isinstance(value, list) and value:
        i = draw.draw(st.integers(0, len(value) - 1))
        return [*value[:i], _mutate(value[i], draw), *value[i + 1:]]
    return draw.draw(json_values)


@FAST
@given(data=st.data())
def test_basin_mutated(data: st.DataObject) -> None:
    """A valid basin with entries replaced: valid, or a BasinError naming the source and the field."""
    body = _basin(3, 10.0, 100.0)
    for _ in range(data.draw(st.integers(1, 3))):
        body = _mutate(body, data)
    try:
        basin = parse_basin(body, "basin.yaml")
    except BasinError as exc:
        assert str(exc).startswith("basin.yaml: invalid basin:")
        return
    for d in basin.demands:
        assert all(math.isfinite(v) and v >= 0 for v in np.atleast_1d(d.demand_m3))


@FAST
@given(data=junk, suffix=st.sampled_from([".yaml", ".json", ".yml"]))
def test_basin_file_arbitrary_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes, suffix: str) -> None:
    path = _write(tmp_path_factory.mktemp("basin"), f"basin{suffix}", data)
    with pytest.raises(BasinError, match="basin"):
        load_basin(path)


# -- zone files -----------------------------------------------------------------------------------------------------

@FAST
@given(rows=st.lists(st.tuples(plain_ids, plain_ids), min_size=1, max_size=20))
def test_zone_file_round_trip(tmp_path_factory: pytest.TempPathFactory, rows: list) -> None:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["node_id", "zone"])
    writer.writerows(rows)
    path = _write(tmp_path_factory.mktemp("zones"), "zones.csv", buf.getvalue().encode())
    frame = read_zone_csv(path, ("node_id", "zone"))
    assert list(frame.itertuples(index=False, name=None)) == rows


@FAST
@given(data=junk, header=st.sampled_from([b"", b"node_id,zone\n", b"zone,link_id,role\n"]))
def test_zone_file_arbitrary_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes, header: bytes) -> None:
    path = _write(tmp_path_factory.mktemp("zj"), "zones.csv", header + data)
    columns = ("zone", "link_id", "role") if header.startswith(b"zone,") else ("node_id", "zone")
    try:
        frame = read_zone_csv(path, columns)
    except ZoneError as exc:
        assert str(path) in str(exc)
        return
    assert list(frame.columns) == list(columns) and len(frame)


@FAST
@given(data=junk, header=st.sampled_from([b"", b"sensor_id,utility_id,kind,unit,node_id\n"]))
def test_sensor_file_arbitrary_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes, header: bytes) -> None:
    """A sensors CSV is imported, or refused with a RegistryError naming the file (finding R1: bytes that are not
    UTF-8 raised a bare UnicodeDecodeError)."""
    path = _write(tmp_path_factory.mktemp("sensors"), "sensors.csv", header + data)
    with DuckStore(":memory:") as store:
        try:
            import_sensors(store, path)
        except RegistryError as exc:
            assert str(path) in str(exc)


@FAST
@given(rows=st.lists(st.tuples(st.sampled_from(["1", "2", "3", "4"]), st.sampled_from(["A", "B"])), min_size=1,
                     max_size=8))
def test_node_zone_file_puts_each_node_in_one_zone(tmp_path_factory: pytest.TempPathFactory, rows: list) -> None:
    """A node file either assigns every node to exactly one zone, or is refused naming the node and its lines."""
    path = _write(tmp_path_factory.mktemp("nz"), "zones.csv",
                  ("node_id,zone\n" + "".join(f"{n},{z}\n" for n, z in rows)).encode())
    frame = read_zone_csv(path, ("node_id", "zone")).rename(columns={"zone": "zone_id"})
    torn = {n for n, _ in rows if len({z for m, z in rows if m == n}) > 1}
    try:
        checked = check_node_zones(frame, HANOI_TABLES[0], str(path))
    except ZoneError as exc:
        assert torn and str(path) in str(exc) and "more than one zone" in str(exc)
        node = str(exc).split("node ")[1].split(" ")[0]
        assert node in torn and all(f"line {i + 2}: {z}" in str(exc) for i, (n, z) in enumerate(rows) if n == node)
        return
    assert not torn
    assert sorted(map(tuple, checked.to_numpy())) == sorted(set(rows))


@FAST
@given(boundary=st.lists(st.tuples(st.sampled_from(["A", "B", "C"]), st.sampled_from(["1", "2", "5", "9", "20",
                                                                                        "33", "34", "x"]),
                                   st.sampled_from(["inlet", "outlet"])), min_size=1, max_size=5))
def test_zones_from_arbitrary_boundaries(boundary: list) -> None:
    """Any boundary table on Hanoi: a partition of nodes into the named zones, or a ZoneError."""
    nodes, links, _ = HANOI_TABLES
    table = pd.DataFrame(boundary, columns=["zone_id", "link_id", "role"])
    try:
        node_zone = zones_from_boundary(nodes, links, table)
    except ZoneError as exc:
        assert str(exc)
        return
    assert node_zone["node_id"].is_unique
    assert set(node_zone["zone_id"]) == set(table["zone_id"])


HANOI_TABLES = network_tables(read_inp(NETWORKS / "Hanoi_CMH.inp"))


# -- files named inside an EPANET file (path traversal) ---------------------------------------------------------------

def _evil_inp(tmp: Path, target: Path) -> Path:
    text = NET1.replace("[OPTIONS]", f"[OPTIONS]\n HYDRAULICS SAVE {target}\n MAP {target}.map", 1)
    return _write(tmp, "evil.inp", text.encode())


def test_inp_cannot_name_files_to_write(tmp_path: Path) -> None:
    """`HYDRAULICS SAVE /any/path` in an uploaded network must not make a simulation write there."""
    target = tmp_path / "outside" / "overwritten.hyd"
    target.parent.mkdir()
    wn = read_inp(_evil_inp(tmp_path, target))
    assert wn.options.hydraulic.hydraulics is None and wn.options.graphics.map_filename is None
    wn.options.time.duration = 3600
    run_epanet(wn)
    assert not target.exists()


def test_run_epanet_never_writes_where_a_file_says(tmp_path: Path) -> None:
    import wntr

    target = tmp_path / "outside" / "overwritten.hyd"
    target.parent.mkdir()
    wn = wntr.network.WaterNetworkModel(str(_evil_inp(tmp_path, target)))
    wn.options.time.duration = 3600
    run_epanet(wn)
    assert not target.exists()


@pytest.mark.parametrize("url", ["../secret.csv", "/etc/passwd", "sub/../../secret.csv"])
def test_pywr_data_files_stay_in_the_model_directory(tmp_path: Path, url: str) -> None:
    """A Pywr model's ``dataframe`` parameter may read CSV files beside the model, never elsewhere."""
    (tmp_path / "secret.csv").write_text("date,flow\n2021-01-01,1\n")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    data = json.loads((DATA / "allocation" / "pywr_equal_priority.json").read_text())
    data["parameters"]["head_flow"] = {"type": "dataframe", "url": url, "column": "flow", "index_col": "date"}
    path = model_dir / "model.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PywrImportError, match="outside the model's directory"):
        load_pywr(path)


def test_pywr_data_file_beside_the_model_is_read(tmp_path: Path) -> None:
    dates = pd.date_range("2021-01-01", "2021-12-31", freq="D")
    pd.DataFrame({"date": dates, "flow": 100.0}).to_csv(tmp_path / "flows.csv", index=False)
    data = json.loads((DATA / "allocation" / "pywr_equal_priority.json").read_text())
    data["parameters"]["head_flow"] = {"type": "dataframe", "url": "flows.csv", "column": "flow", "index_col": "date"}
    (tmp_path / "model.json").write_text(json.dumps(data))
    basin = load_pywr(tmp_path / "model.json", n_steps=5)
    assert basin.catchments[0].inflow_m3 == 100.0 or list(np.atleast_1d(basin.catchments[0].inflow_m3)) == [100.0] * 5
