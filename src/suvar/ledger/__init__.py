"""Hash-chained, append-only ledger of published records (allocation plans, audit log).

Each entry holds its ``index``, the previous entry's hash and its ``content``; its ``hash`` is the SHA-256 of
the canonical JSON of those three. Storage is behind the :class:`~suvar.ledger.chain.LedgerStore` protocol
(JSON Lines today, the database later).
"""

from .chain import (
    GENESIS_HASH,
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
    "JsonlLedgerStore",
    "LedgerError",
    "LedgerStore",
    "append",
    "canonical_json",
    "entry_hash",
    "verify",
]
