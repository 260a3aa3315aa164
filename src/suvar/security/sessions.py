"""Browser sessions: a random id in an HttpOnly, SameSite=Strict cookie, stored only as its SHA-256 hash.

The id has 256 bits from :func:`secrets.token_urlsafe` (OWASP ASVS 4.0.3 V3.2.2 asks for at least 64); the
store keeps its hash and an absolute expiry (``SUVAR_SESSION_TTL_S``, 8 hours by default, within ASVS V3.3.2's
L3 bound of 12 hours), so a copy of the database holds no usable session. Logging out deletes the session; a
disabled user's sessions stop working at once because each request re-reads the user.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from suvar.security.roles import Identity
from suvar.security.users import identity_of
from suvar.store import Store

COOKIE = "suvar_session"


def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(store: Store, username: str, ttl_s: float, client: str | None = None) -> str:
    """Create a session for ``username``; returns the cookie value (shown to the browser only)."""
    session_id = secrets.token_urlsafe(32)
    expires = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=ttl_s)
    store.add_session(session_hash(session_id), username, expires, client)
    return session_id


def session_identity(store: Store, session_id: str | None) -> Identity | None:
    """The identity of an unexpired session of an enabled user, or None."""
    if not session_id:
        return None
    row = store.session(session_hash(session_id))
    user = store.user(row["username"]) if row else None
    if user is None or user["disabled"]:
        return None
    return identity_of(user)


def end_session(store: Store, session_id: str | None) -> bool:
    return bool(session_id) and store.delete_sessions(session_hash=session_hash(session_id)) > 0
