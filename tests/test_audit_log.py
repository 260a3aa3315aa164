"""The tamper-evident audit log of writes, and backup/restore round trips."""

import json
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from suvar.cli import app
from suvar.ledger import DatabaseLedgerStore, verify
from suvar.security.audit_log import AUDIT_LEDGER, record
from suvar.store import DuckStore


def _log(store: DuckStore) -> list[dict]:
    return [e["content"] for e in DatabaseLedgerStore(store, AUDIT_LEDGER).entries()]


def test_writes_are_logged_with_who_what_where(client: TestClient, hanoi: DuckStore, ingest_token: str) -> None:
    body = {"readings": [{"sensor_id": "P-2", "timestamp": "2024-01-01T00:00:00Z", "value": 50}]}
    assert client.post("/api/v1/readings", json=body, headers={"Authorization": f"Bearer {ingest_token}"}).is_success
    (entry,) = _log(hanoi)
    assert (entry["who"], entry["action"], entry["what"]["accepted"]) == ("test-device", "ingest", 1)
    assert entry["where"].startswith("testclient") and entry["at"].endswith("+00:00")


def test_edit_delete_and_reorder_are_detected(hanoi: DuckStore) -> None:
    for i in range(4):
        record(hanoi, "op", "test", {"i": i})
    ledger = DatabaseLedgerStore(hanoi, AUDIT_LEDGER)
    head = verify(ledger)["head"]
    assert verify(ledger, expected_head=head)["ok"]
    rows = hanoi.ledger_entries(AUDIT_LEDGER)

    def rewrite(new_rows: list[str]) -> None:
        with hanoi._tx() as con:  # noqa: SLF001 - the test plays the tamperer
            con.execute("DELETE FROM ledger_entries WHERE ledger = ?", [AUDIT_LEDGER])
            for pos, text in enumerate(new_rows):
                con.execute("INSERT INTO ledger_entries VALUES (?, ?, ?)", [AUDIT_LEDGER, pos, text])

    rewrite([rows[0], rows[1].replace('"i":1', '"i":7'), *rows[2:]])  # edit
    assert not verify(ledger)["ok"]
    rewrite([rows[0], *rows[2:]])  # delete
    assert not verify(ledger)["ok"]
    rewrite([rows[0], rows[2], rows[1], rows[3]])  # reorder
    assert not verify(ledger)["ok"]
    rewrite(rows[:3])  # cut the tail: caught against the head kept elsewhere
    assert verify(ledger)["ok"] and not verify(ledger, expected_head=head)["ok"]


def test_concurrent_appends_keep_one_chain(hanoi: DuckStore) -> None:
    threads = [threading.Thread(target=lambda k=k: [record(hanoi, f"t{k}", "x", {"n": n}) for n in range(25)])
               for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = verify(DatabaseLedgerStore(hanoi, AUDIT_LEDGER))
    assert report["ok"] and report["entries"] == 100


def test_cli_verify_backup_restore(hanoi: DuckStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record(hanoi, "op", "test", {"i": 1})
    readings = hanoi.reading_count()
    monkeypatch.setenv("SUVAR_DB", hanoi.path)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit-log", "verify"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"]
    copy = tmp_path / "backup.duckdb"
    assert runner.invoke(app, ["backup", str(copy)]).exit_code == 0
    assert runner.invoke(app, ["backup", str(copy)]).exit_code == 2  # never overwrites
    monkeypatch.setenv("SUVAR_DB", str(tmp_path / "restored" / "suvar.duckdb"))
    restored = runner.invoke(app, ["restore", str(copy)])
    assert restored.exit_code == 0, restored.output
    again = DuckStore(tmp_path / "restored" / "suvar.duckdb")
    assert again.reading_count() == readings and len(again.sensors()) == 4
    # the copy is taken before its own "backup" record, which stays in the source store's log
    assert [e["action"] for e in _log(again)][-2:] == ["test", "restore"]
    assert _log(hanoi)[-1]["action"] == "backup"
    assert verify(DatabaseLedgerStore(again, AUDIT_LEDGER))["ok"]
    assert runner.invoke(app, ["restore", str(copy)]).exit_code == 2  # an existing store needs --force


def test_audit_log_over_the_api_needs_audit_right(client: TestClient, hanoi: DuckStore) -> None:
    from suvar.security.tokens import create_token

    record(hanoi, "op", "test", {"i": 1})
    assert client.get("/api/v1/ledger/audit", headers={"Authorization": ""}).status_code == 401
    reader = create_token(hanoi, "viewer", ["read"])
    assert client.get("/api/v1/ledger/audit", headers={"Authorization": f"Bearer {reader}"}).status_code == 403
    assert client.get("/api/v1/ledger/allocation", headers={"Authorization": f"Bearer {reader}"}).status_code == 200
    admin = {"Authorization": f"Bearer {create_token(hanoi, 'admin-1', ['admin'])}"}
    assert client.get("/api/v1/ledger/audit", headers=admin).json()[0]["content"]["action"] == "test"
    assert client.get("/api/v1/ledger/audit/verify", headers=admin).json()["ok"]
    auditor = {"Authorization": f"Bearer {create_token(hanoi, 'auditor-1', ['audit'])}"}
    assert client.get("/api/v1/ledger/audit/verify", headers=auditor).json()["ok"]
