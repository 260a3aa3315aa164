"""Ed25519-signed checkpoints of the audit log: a cut tail or a rewritten log is caught, and so is an altered
checkpoint or the wrong key."""

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from suvar.cli import app
from suvar.security.audit_log import AUDIT_LEDGER, record
from suvar.security.checkpoints import (
    CheckpointError,
    generate_key,
    load_private,
    load_public,
    make_checkpoint,
    verify_checkpoint,
)
from suvar.store import DuckStore


def _rewrite(store: DuckStore, rows: list[str]) -> None:
    with store._tx() as con:  # noqa: SLF001 - the test plays the tamperer
        con.execute("DELETE FROM ledger_entries WHERE ledger = ?", [AUDIT_LEDGER])
        for pos, text in enumerate(rows):
            con.execute("INSERT INTO ledger_entries VALUES (?, ?, ?)", [AUDIT_LEDGER, pos, text])


def test_checkpoint_catches_cut_tail_and_rewrite(hanoi: DuckStore, tmp_path: Path) -> None:
    private, public = generate_key(tmp_path / "keys" / "audit.pem")
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600 and public.name == "audit.pem.pub"
    with pytest.raises(CheckpointError, match="already exists"):
        generate_key(private)
    for i in range(5):
        record(hanoi, "op", "test", {"i": i})
    signed = make_checkpoint(hanoi, load_private(private))
    assert signed["length"] == 5 and len(signed["signature"]) == 88  # 64 bytes, base64
    pub = load_public(public)
    record(hanoi, "op", "later", {"i": 5})  # the log grows: still extends the checkpoint
    report = verify_checkpoint(hanoi, signed, pub)
    assert report["ok"] and (report["checkpoint_length"], report["current_length"]) == (5, 6)

    rows = hanoi.ledger_entries(AUDIT_LEDGER)
    _rewrite(hanoi, rows[:4])  # a cut tail: the chain itself still verifies
    report = verify_checkpoint(hanoi, signed, pub)
    assert report["chain_ok"] and not report["ok"] and "tail was cut" in report["problems"][0]

    # a rewritten log: a fresh, valid chain with different content
    _rewrite(hanoi, [])
    for i in range(6):
        record(hanoi, "op", "test", {"i": i * 10})
    report = verify_checkpoint(hanoi, signed, pub)
    assert report["chain_ok"] and not report["extends"] and "rewritten" in report["problems"][0]

    forged = {**signed, "length": 3}
    assert not verify_checkpoint(hanoi, forged, pub)["signature_ok"]
    other = load_public(generate_key(tmp_path / "other.pem")[1])
    assert not verify_checkpoint(hanoi, signed, other)["signature_ok"]


def test_no_checkpoint_of_a_broken_chain(hanoi: DuckStore, tmp_path: Path) -> None:
    private, _ = generate_key(tmp_path / "k.pem")
    for i in range(3):
        record(hanoi, "op", "test", {"i": i})
    rows = hanoi.ledger_entries(AUDIT_LEDGER)
    _rewrite(hanoi, [rows[0], rows[2]])
    with pytest.raises(CheckpointError, match="fails verification"):
        make_checkpoint(hanoi, load_private(private))


def test_cli(hanoi: DuckStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUVAR_DB", hanoi.path)
    record(hanoi, "op", "test", {"i": 1})
    runner = CliRunner()
    key = tmp_path / "audit.pem"
    assert runner.invoke(app, ["audit-log", "keygen", "--out", str(key)]).exit_code == 0
    cp = tmp_path / "cp.json"
    made = runner.invoke(app, ["audit-log", "checkpoint", "--key", str(key), "--out", str(cp)])
    assert made.exit_code == 0, made.output
    assert json.loads(cp.read_text())["length"] == 1
    ok = runner.invoke(app, ["audit-log", "verify", "--checkpoint", str(cp), "--public-key", f"{key}.pub"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"]  # its own "audit_checkpoint" record extends it
    _rewrite(hanoi, [])
    bad = runner.invoke(app, ["audit-log", "verify", "--checkpoint", str(cp), "--public-key", f"{key}.pub"])
    assert bad.exit_code == 1 and "tail was cut" in bad.stdout
    assert runner.invoke(app, ["audit-log", "verify", "--checkpoint", str(cp)]).exit_code == 2
