"""Hash-chained, append-only ledger of published records (allocation plans, audit log).

Each entry holds its ``index``, the previous entry's hash and its ``content``; its ``hash`` is the SHA-256 of
the canonical JSON of those three. Storage is behind the :class:`~suvar.ledger.chain.LedgerStore` protocol
(a JSON Lines file, or the database through :class:`~suvar.ledger.chain.DatabaseLedgerStore`).
"""

from .chain import (
    GENESIS_HASH,
    DatabaseLedgerStore,
    JsonlLedgerStore,
    LedgerError,
    LedgerStore,
    append,
    canonical_json,
    entry_hash,
    verify,
)

__all__ = [
    "GENESIS_HASH",
    "DatabaseLedgerStore",
    "JsonlLedgerStore",
    "LedgerError",
    "LedgerStore",
    "append",
    "canonical_json",
    "entry_hash",
    "verify",
]
