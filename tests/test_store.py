"""The store: migrations, idempotent ingest, the conflict policy, and resampled queries."""

from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from suvar.store import LATEST_VERSION, DuckStore
from suvar.store.migrations import MIGRATIONS


def _batch(rows: list[tuple[str, str, float]]) -> pa.Table:
    return pa.table({
        "sensor_id": [r[0] for r in rows],
        "ts": pa.array(pd.to_datetime([r[1] for r in rows]), pa.timestamp("us")),
        "value": [r[2] for r in rows],
    })


def test_new_store_is_at_latest_version(store: DuckStore) -> None:
    assert store.schema_version() == LATEST_VERSION


def test_opening_an_older_file_upgrades_it(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT, applied_at TIMESTAMP)")
    version, description, statements = MIGRATIONS[0]
    for stmt in statements:
        con.execute(stmt)
    con.execute("INSERT INTO schema_version VALUES (?, ?, now()::TIMESTAMP)", [version, description])
    con.execute("INSERT INTO utilities (utility_id, name) VALUES ('u1', 'Old Town')")
    con.close()
    s = DuckStore(path)
    assert s.schema_version() == LATEST_VERSION > 1
    assert s.utilities()["name"].tolist() == ["Old Town"]  # data kept
    assert s.connections("u1").empty  # table of migration 2 exists
    s.close()


def test_ingest_is_idempotent_and_conflicts_are_kept(store: DuckStore) -> None:
    rows = [("s1", "2024-01-01 00:00", 1.0), ("s1", "2024-01-01 00:05", 2.0), ("s2", "2024-01-01 00:00", 3.0)]
    first = store.write_batch("t", _batch(rows), pd.DataFrame())
    assert first.as_dict() == {"accepted": 3, "duplicates": 0, "conflicts": 0, "quarantined": {}}
    again = store.write_batch("t", _batch(rows), pd.DataFrame())
    assert again.as_dict() == {"accepted": 0, "duplicates": 3, "conflicts": 0, "quarantined": {}}
    changed = store.write_batch("t", _batch([("s1", "2024-01-01 00:00", 1.5)]), pd.DataFrame())
    assert (changed.accepted, changed.conflicts) == (0, 1)
    assert store.reading_count() == 3
    assert store.series(["s1"])["value"].tolist() == [1.0, 2.0]  # first write wins
    conflict = store.conflicts().iloc[0]
    assert (conflict.stored_value, conflict.incoming_value) == (1.0, 1.5)


def test_repeats_inside_one_batch(store: DuckStore) -> None:
    rows = [("s1", "2024-01-01 00:00", 1.0), ("s1", "2024-01-01 00:00", 1.0), ("s1", "2024-01-01 00:00", 4.0)]
    counts = store.write_batch("t", _batch(rows), pd.DataFrame())
    assert counts.as_dict() == {"accepted": 1, "duplicates": 1, "conflicts": 1, "quarantined": {}}
    assert store.series(["s1"])["value"].tolist() == [1.0]


def test_resampling(store: DuckStore) -> None:
    rows = [("s1", f"2024-01-01 00:{m:02d}", float(m)) for m in range(0, 60, 5)]
    store.write_batch("t", _batch(rows), pd.DataFrame())
    q = store.series(["s1"], step_s=900, agg="mean")
    assert q["value"].tolist() == [5.0, 20.0, 35.0, 50.0]
    assert store.series(["s1"], step_s=900, agg="last")["value"].tolist() == [10.0, 25.0, 40.0, 55.0]
    assert store.series(["s1"], step_s=3600, agg="sum")["value"].tolist() == [sum(range(0, 60, 5))]
    window = store.series(["s1"], start=datetime(2024, 1, 1, 0, 10), end=datetime(2024, 1, 1, 0, 20))
    assert window["value"].tolist() == [10.0, 15.0]
