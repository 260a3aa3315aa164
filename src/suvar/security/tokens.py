"""API tokens: random secrets shown once, stored only as SHA-256 hashes, each with scopes and an expiry."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from suvar.store import Store

SCOPES = ("ingest", "read", "operate", "allocate", "admin")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(store: Store, name: str, scopes: list[str], days: int | None = 365) -> str:
    """Create a token and return its secret (the store keeps only the hash)."""
    bad = sorted(set(scopes) - set(SCOPES))
    if bad or not scopes:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}; got {', '.join(scopes) or 'none'}")
    token = "suv_" + secrets.token_urlsafe(32)
    expires = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=days) if days else None
    store.add_token(hash_token(token), name, " ".join(sorted(set(scopes))), expires)
    return token


def check_token(store: Store, token: str | None, scope: str) -> str | None:
    """The problem with ``token`` for ``scope``, or None when it grants the scope."""
    if not token:
        return "a bearer token is required"
    row = store.token(hash_token(token))
    if row is None:
        return "unknown token"
    expires = row["expires_at"]
    if expires is not None and expires == expires and expires < datetime.now(UTC).replace(tzinfo=None):
        return "token expired"
    if scope not in row["scopes"].split() and "admin" not in row["scopes"].split():
        return f"token lacks the {scope!r} scope"
    return None
