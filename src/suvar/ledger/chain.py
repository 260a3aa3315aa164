"""The hash chain: canonical JSON, entry hashes, appending and verification.

``hash_k = SHA-256(canonical_json({"index": k, "prev_hash": hash_(k-1), "content": content_k}))`` with
``hash_(-1) = GENESIS_HASH`` (64 zeros). Canonical JSON: keys sorted, no insignificant whitespace, UTF-8, no
NaN/Infinity (RFC 8785-style for the data used here). Editing an entry breaks its hash; deleting or reordering
entries breaks an index or a ``prev_hash`` link; truncating the tail is caught only against a head hash kept
elsewhere (``verify(..., expected_head=...)``), as with any hash chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

GENESIS_HASH = "0" * 64


class LedgerError(ValueError):
    """A ledger file that cannot be read, or content that cannot be recorded."""


class LedgerStore(Protocol):
    """Where entries live. ``append`` adds one entry at the end; ``entries`` yields them in stored order."""

    def append(self, entry: dict[str, Any]) -> None: ...

    def entries(self) -> Iterator[dict[str, Any]]: ...


class JsonlLedgerStore:
    """One entry per line of a JSON Lines file; appends never rewrite earlier lines."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def append(self, entry: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(canonical_json(entry).decode("utf-8") + "\n")

    def entries(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise LedgerError(f"{self.path}:{line_no}: not a JSON entry: {exc}") from None


class DatabaseLedgerStore:
    """A ledger kept in Suvar's store (table ``ledger_entries``), one named chain per ``ledger``."""

    def __init__(self, store: Any, ledger: str) -> None:
        self.store, self.ledger = store, ledger

    def append(self, entry: dict[str, Any]) -> None:
        self.store.ledger_append(self.ledger, canonical_json(entry).decode("utf-8"))

    def entries(self) -> Iterator[dict[str, Any]]:
        for text in self.store.ledger_entries(self.ledger):
            yield json.loads(text)

    def append_content(self, content: dict[str, Any]) -> dict[str, Any]:
        """Chain ``content`` onto the last entry in one step under the store's lock (safe from many threads).

        Only the last entry is checked (its hash must match its content), so appending stays cheap however
        long the ledger grows; ``verify`` checks the whole chain.
        """
        with self.store.lock:
            last = self.store.ledger_last(self.ledger)
            if last is None:
                index, prev = 0, GENESIS_HASH
            else:
                entry = json.loads(last)
                if entry.get("hash") != entry_hash(entry["index"], entry["prev_hash"], entry["content"]):
                    raise LedgerError(f"ledger {self.ledger!r}: last entry {entry.get('index')} was altered")
                index, prev = entry["index"] + 1, entry["hash"]
            new = {"index": index, "prev_hash": prev, "content": content, "hash": entry_hash(index, prev, content)}
            self.append(new)
        return new


def canonical_json(obj: Any) -> bytes:
    """Canonical UTF-8 JSON: sorted keys, separators ``,`` and ``:``, no NaN or Infinity."""
    try:
        return json.dumps(
            obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode()
    except ValueError as exc:
        raise LedgerError(f"content is not canonical JSON: {exc}") from None


def entry_hash(index: int, prev_hash: str, content: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``{"index", "prev_hash", "content"}``."""
    return hashlib.sha256(
        canonical_json({"index": index, "prev_hash": prev_hash, "content": content})
    ).hexdigest()


def append(store: LedgerStore, content: dict[str, Any]) -> dict[str, Any]:
    """Chain ``content`` onto the store's last entry and append it; returns the new entry.

    The chain is verified first, so nothing is ever appended to a tampered ledger.
    """
    report = verify(store)
    if not report["ok"]:
        raise LedgerError(f"ledger fails verification, not appending: {report['problems'][0]}")
    index = report["entries"]
    prev = report["head"]
    entry = {"index": index, "prev_hash": prev, "content": content, "hash": entry_hash(index, prev, content)}
    store.append(entry)
    return entry


def verify(store: LedgerStore, expected_head: str | None = None) -> dict[str, Any]:
    """Check every entry's hash, index and link to its predecessor.

    Returns ``{"ok", "entries", "head", "problems"}`` where ``problems`` lists ``{"index", "problem"}`` (the
    position in the stored order) and ``head`` is the last entry's hash (``GENESIS_HASH`` when empty).
    """
    problems: list[dict[str, Any]] = []
    prev = GENESIS_HASH
    n = 0
    for pos, entry in enumerate(store.entries()):
        n = pos + 1
        missing = {"index", "prev_hash", "content", "hash"} - set(entry)
        if missing:
            problems.append({"index": pos, "problem": f"missing fields {sorted(missing)}"})
            prev = entry.get("hash", prev)
            continue
        if entry["index"] != pos:
            problems.append(
                {
                    "index": pos,
                    "problem": f"index {entry['index']} at position {pos} "
                    "(entries deleted, inserted or reordered)",
                }
            )
        if entry["prev_hash"] != prev:
            problems.append(
                {
                    "index": pos,
                    "problem": "prev_hash does not match the previous entry's hash "
                    "(entries deleted, inserted or reordered)",
                }
            )
        if entry_hash(entry["index"], entry["prev_hash"], entry["content"]) != entry["hash"]:
            problems.append({"index": pos, "problem": "hash does not match the content (entry edited)"})
        prev = entry["hash"]
    if expected_head is not None and prev != expected_head:
        problems.append(
            {
                "index": n,
                "problem": f"head {prev} is not the expected {expected_head} "
                "(entries removed from or added at the end)",
            }
        )
    return {"ok": not problems, "entries": n, "head": prev, "problems": problems}
