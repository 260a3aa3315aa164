"""API tokens: random secrets shown once, stored only as SHA-256 hashes, each with scopes, an expiry, a scope of
the country (``country``, ``utility:<id>``, ``basin:<name>``) and optionally the field device it belongs to.

A token's scopes are rights (:mod:`suvar.security.roles`): ``ingest``, ``read``, ``operate``, ``allocate``,
``audit`` and ``admin`` (every right). A device token (``device_id`` set) may ingest only the readings of the
sensors bound to that device (``suvar sensors device DEVICE SENSOR...``). The secret has 256 random bits, so a
fast hash (SHA-256) is enough to keep it unguessable from the store (unlike a password, it cannot be brute-forced).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from suvar.security.roles import RIGHTS, Identity, check_scope, rights_of_scopes
from suvar.store import Store

SCOPES = RIGHTS


class TokenError(Exception):
    """A bearer token that is missing, unknown or expired; the message says which."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    store: Store, name: str, scopes: list[str], days: int | None = 365, *, scope: str = "country",
    device_id: str | None = None,
) -> str:
    """Create a token and return its secret (the store keeps only the hash)."""
    bad = sorted(set(scopes) - set(SCOPES))
    if bad or not scopes:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}; got {', '.join(scopes) or 'none'}")
    check_scope(scope)
    if device_id is not None and set(scopes) != {"ingest"}:
        raise ValueError("a device token has the ingest scope only")
    token = "suv_" + secrets.token_urlsafe(32)
    expires = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=days) if days else None
    store.add_token(hash_token(token), name, " ".join(sorted(set(scopes))), expires, scope, device_id)
    return token


def token_identity(store: Store, token: str | None) -> Identity:
    """The identity of a valid token; :class:`TokenError` when it is missing, unknown or expired."""
    if not token:
        raise TokenError("a bearer token is required")
    token_hash = hash_token(token)
    row = store.token(token_hash)
    if row is None:
        raise TokenError("unknown token")
    expires = row["expires_at"]
    if expires is not None and expires == expires and expires < datetime.now(UTC).replace(tzinfo=None):
        raise TokenError("token expired")
    device = row.get("device_id")
    return Identity(name=row["name"], kind="token", rights=rights_of_scopes(row["scopes"]),
                    scope=row.get("scope") or "country", device_id=device if isinstance(device, str) else None,
                    key=f"token:{token_hash}")


def check_token(store: Store, token: str | None, scope: str) -> str | None:
    """The problem with ``token`` for ``scope``, or None when it grants the scope."""
    try:
        identity = token_identity(store, token)
    except TokenError as exc:
        return str(exc)
    return None if identity.can(scope) else f"token lacks the {scope!r} scope"
