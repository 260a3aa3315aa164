"""The store: the only code in Suvar that speaks SQL.

``open_store()`` finds the store through ``SUVAR_DB`` (a DuckDB file path, default ``var/suvar.duckdb``).
DuckDB is the embedded default; a PostgreSQL implementation with the same methods comes later, so keep the SQL
portable and confined to this package.
"""

from __future__ import annotations

from suvar.config import load_settings
from suvar.store.duck import DuckStore, IngestCounts
from suvar.store.migrations import LATEST_VERSION

Store = DuckStore

__all__ = ["DuckStore", "IngestCounts", "LATEST_VERSION", "Store", "open_store"]


def open_store(url: str | None = None, *, read_only: bool = False) -> Store:
    """Open the store named by ``url`` or by the ``SUVAR_DB`` setting."""
    url = url or load_settings().db
    if url.startswith(("postgresql://", "postgres://")):
        raise NotImplementedError("the PostgreSQL store is not built yet (issue 9); use a DuckDB file path")
    return DuckStore(url.removeprefix("duckdb://"), read_only=read_only)
