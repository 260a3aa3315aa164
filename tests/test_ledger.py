"""Hash-chained ledger: every kind of tampering is detected."""

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from suvar.ledger import (
    GENESIS_HASH,
    JsonlLedgerStore,
    LedgerError,
    append,
    canonical_json,
    entry_hash,
    verify,
)
from suvar.ledger.cli import app


def _ledger(tmp_path: Path, n: int = 4) -> JsonlLedgerStore:
    store = JsonlLedgerStore(tmp_path / "ledger.jsonl")
    for k in range(n):
        append(store, {"kind": "test", "k": k, "outputs": {"a": [1.5 * k, 2.0]}, "author": "ana"})
    return store


def _lines(store: JsonlLedgerStore) -> list[dict]:
    return [json.loads(line) for line in store.path.read_text().splitlines()]


def _write(store: JsonlLedgerStore, entries: list[dict]) -> None:
    store.path.write_text("".join(canonical_json(e).decode() + "\n" for e in entries))


def test_canonical_hash_is_sha256_of_sorted_compact_json() -> None:
    content = {"b": 1, "a": "é"}
    expected = hashlib.sha256(
        '{"content":{"a":"é","b":1},"index":0,"prev_hash":"'.encode() + GENESIS_HASH.encode() + b'"}'
    ).hexdigest()
    assert entry_hash(0, GENESIS_HASH, content) == expected


def test_untouched_chain_verifies(tmp_path: Path) -> None:
    store = _ledger(tmp_path)
    report = verify(store)
    assert report["ok"] and report["entries"] == 4
    assert report["head"] == _lines(store)[-1]["hash"]
    assert _lines(store)[0]["prev_hash"] == GENESIS_HASH


def test_edited_content_detected(tmp_path: Path) -> None:
    store = _ledger(tmp_path)
    entries = _lines(store)
    entries[2]["content"]["outputs"]["a"][0] = 99.0
    _write(store, entries)
    report = verify(store)
    assert not report["ok"]
    assert [p["index"] for p in report["problems"]] == [2]
    assert "edited" in report["problems"][0]["problem"]


def test_edit_with_rehash_breaks_the_next_link(tmp_path: Path) -> None:
    store = _ledger(tmp_path)
    entries = _lines(store)
    entries[1]["content"]["author"] = "mallory"
    entries[1]["hash"] = entry_hash(1, entries[1]["prev_hash"], entries[1]["content"])
    _write(store, entries)
    report = verify(store)
    assert [p["index"] for p in report["problems"]] == [2]
    assert "prev_hash" in report["problems"][0]["problem"]


def test_deletion_detected(tmp_path: Path) -> None:
    store = _ledger(tmp_path)
    entries = _lines(store)
    del entries[1]
    _write(store, entries)
    report = verify(store)
    assert not report["ok"]
    assert {p["index"] for p in report["problems"]} == {1, 2}  # the shifted entries' index and link


def test_reordering_detected(tmp_path: Path) -> None:
    store = _ledger(tmp_path)
    entries = _lines(store)
    entries[1], entries[2] = entries[2], entries[1]
    _write(store, entries)
    assert {p["index"] for p in verify(store)["problems"]} >= {1, 2}


def test_tail_truncation_detected_against_kept_head(tmp_path: Path) -> None:
    store = _ledger(tmp_path)
    head = verify(store)["head"]
    _write(store, _lines(store)[:-1])
    assert verify(store)["ok"]  # a shortened chain is self-consistent ...
    report = verify(store, expected_head=head)  # ... but not against the head published elsewhere
    assert not report["ok"] and "removed from or added at the end" in report["problems"][0]["problem"]


def test_append_refuses_a_tampered_ledger(tmp_path: Path) -> None:
    store = _ledger(tmp_path)
    entries = _lines(store)
    entries[0]["content"]["k"] = 7
    _write(store, entries)
    with pytest.raises(LedgerError, match="fails verification"):
        append(store, {"kind": "test"})


def test_cli_verify_exit_codes(tmp_path: Path) -> None:
    store = _ledger(tmp_path)
    runner = CliRunner()
    ok = runner.invoke(app, ["verify", "--ledger", str(store.path)])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"] is True
    entries = _lines(store)
    entries[3]["content"]["k"] = 0
    _write(store, entries)
    bad = runner.invoke(app, ["verify", "--ledger", str(store.path)])
    assert bad.exit_code == 1 and json.loads(bad.stdout)["problems"][0]["index"] == 3
