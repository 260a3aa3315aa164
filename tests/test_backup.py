"""Backup and restore round trip on a store with real content, through the CLI: every table comes back
identical, the audit chain verifies, and the restored store goes on working (ingest stays idempotent)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from suvar.cli import app
from suvar.ledger import DatabaseLedgerStore, verify
from suvar.security.audit_log import AUDIT_LEDGER
from suvar.security.tokens import create_token
from suvar.store import DuckStore
from suvar.telemetry.ingest import ingest_batch
from suvar.telemetry.readers import read_records

# `suvar backup` and `suvar restore` copy a DuckDB file; a PostgreSQL store is backed up with its own tools.
pytestmark = pytest.mark.parametrize("store", ["duckdb"], indirect=True)
runner = CliRunner()
SUVAR = str(Path(sys.executable).parent / "suvar")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SUVAR_")}


def _readings(n: int, value: float = 40.0) -> list[dict]:
    return [{"sensor_id": sid, "timestamp": f"2024-03-01T{h:02d}:{m:02d}:00Z", "value": value + (h % 5)}
            for h in range(n // 60 + 1) for m in range(60) for sid in ("P-2", "F-1")][:n]


def _tables(store: DuckStore) -> dict[str, pd.DataFrame]:
    """Every base table of the store, rows in a canonical order."""
    names = store._df(  # noqa: SLF001
        "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' ORDER BY 1")["table_name"]
    out = {}
    for name in names:
        frame = store._df(f'SELECT * FROM "{name}"')  # noqa: SLF001
        order = frame.astype(str).sort_values(list(frame.columns)).index
        out[name] = frame.loc[order].reset_index(drop=True)
    return out


@pytest.fixture
def full_store(hanoi: DuckStore) -> DuckStore:
    """Hanoi with readings, a conflict, quarantined rows, an alarm, a token and audit-log entries."""
    batch = _readings(400)
    ingest_batch(hanoi, read_records(batch, "http"), "http", who="device-1")
    bad = [{**batch[0], "value": 99.0}, {"sensor_id": "nope", "timestamp": "2024-03-01T00:00:00Z", "value": 1},
           {"sensor_id": "P-2", "timestamp": "yesterday", "value": 1}, "not an object"]
    ingest_batch(hanoi, read_records(bad, "http"), "http", who="device-1")
    hanoi.raise_alarm({"kind": "leak", "scope": "hanoi/Z1", "severity": "warning", "dedup_key": "leak:hanoi:Z1",
                       "title": "night flow up", "detail": "{}"})
    create_token(hanoi, "ops", ["operate"])
    return hanoi


def test_backup_restore_round_trip(full_store: DuckStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _tables(full_store)
    assert len(before["readings"]) == 400 and len(before["quarantine"]) == 3 and len(before["reading_conflicts"]) == 1
    monkeypatch.setenv("SUVAR_DB", full_store.path)
    copy = tmp_path / "backups" / "suvar-2024-03-01.duckdb"
    copy.parent.mkdir()
    result = runner.invoke(app, ["backup", str(copy)])
    assert result.exit_code == 0, result.output

    target = tmp_path / "restored" / "suvar.duckdb"
    monkeypatch.setenv("SUVAR_DB", str(target))
    result = runner.invoke(app, ["restore", str(copy)])
    assert result.exit_code == 0, result.output
    with DuckStore(target) as restored:
        after = _tables(restored)
        assert set(after) == set(before)
        for name, frame in before.items():
            if name == "ledger_entries":  # the restore appends its own audit entry: the rest is unchanged
                assert after[name].merge(frame, how="inner").shape == frame.shape
                continue
            pd.testing.assert_frame_equal(after[name], frame, check_dtype=False, obj=name)
        assert verify(DatabaseLedgerStore(restored, AUDIT_LEDGER))["ok"]
        actions = [e["content"]["action"] for e in DatabaseLedgerStore(restored, AUDIT_LEDGER).entries()]
        assert actions[-1] == "restore" and actions.count("ingest") == 2

        # The restored store goes on working: the same readings again are duplicates, new ones are accepted.
        again = ingest_batch(restored, read_records(_readings(400), "http"), "http")
        assert (again.accepted, again.duplicates, again.conflicts) == (0, 400, 0)
        more = ingest_batch(restored, read_records(_readings(10, 10.0), "http"), "http")
        assert more.conflicts == 10 and restored.reading_count() == 400


def test_restore_of_a_bad_file_keeps_the_store(full_store: DuckStore, tmp_path: Path) -> None:
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"this is not a database" * 300)
    full_store.close()
    proc = subprocess.run([SUVAR, "restore", str(junk), "--force"], env={**_env(), "SUVAR_DB": full_store.path},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "error:" in proc.stderr, proc.stderr[-2000:]
    with DuckStore(full_store.path) as kept:
        assert kept.reading_count() == 400


def test_backup_while_the_server_holds_the_store(full_store: DuckStore, tmp_path: Path) -> None:
    """DuckDB lets one process write a file: `suvar backup` from another process while the store is open must fail
    with a clear message and exit code, never a traceback or a half-written backup."""
    copy = tmp_path / "backup.duckdb"
    proc = subprocess.run([SUVAR, "backup", str(copy)], env={**_env(), "SUVAR_DB": full_store.path},
                          capture_output=True, text=True, timeout=120)
    assert not copy.exists()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
