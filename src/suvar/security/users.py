"""Users: argon2id password hashes, roles and scopes, and an optional TOTP second factor.

Passwords are hashed with argon2id at the OWASP Password Storage Cheat Sheet's minimum parameters (19 MiB of
memory, 2 iterations, 1 degree of parallelism; RFC 9106 section 4 describes the algorithm) and a 16-byte
random salt, through argon2-cffi; a hash made with older parameters is upgraded at the next login. Passwords
must be 12 to 128 characters long (OWASP ASVS 4.0.3 V2.1.1, V2.1.2); there are no default passwords: the first
admin is created with ``suvar user create``.

The second factor is TOTP (RFC 6238: HMAC-SHA-1, 30-second steps, 6 digits), checked with pyotp with one step
of clock drift either way (RFC 6238 section 5.2) and accepted once per step (no replay). It is required for the
roles in :data:`~suvar.security.roles.TOTP_REQUIRED_ROLES` (admin, commission) and optional for the others.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import pyotp
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from suvar.security.audit_log import record
from suvar.security.roles import PERMISSIONS, TOTP_REQUIRED_ROLES, Identity, check_role, check_scope
from suvar.store import Store

#: OWASP Password Storage Cheat Sheet, "Argon2id": m=19 MiB (19456 KiB), t=2, p=1.
HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)
MIN_PASSWORD, MAX_PASSWORD = 12, 128
TOTP_ISSUER = "Suvar"
#: A hash of a random password, verified when the user does not exist, so that a login takes as long for an
#: unknown name as for a wrong password (no user enumeration by timing, ASVS V2.2.1 / V3.2).
_DUMMY_HASH = HASHER.hash("suvar-no-such-user-" + pyotp.random_base32())


class LoginError(Exception):
    """A refused login. The message is the same for every cause (ASVS V2.2.1: no hint about which part
    failed); ``reason`` says what failed, for the audit log only."""

    def __init__(self, reason: str) -> None:
        super().__init__("invalid username, password or code")
        self.reason = reason


@dataclass(frozen=True)
class NewUser:
    """What ``create_user`` made: the TOTP provisioning URI (``otpauth://...``) when TOTP was enabled."""

    username: str
    totp_uri: str | None


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValueError(f"a password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long")
    return password


def hash_password(password: str) -> str:
    return HASHER.hash(check_password(password))


def create_user(
    store: Store, username: str, password: str | None, role: str, scope: str = "country", locale: str = "en",
    *, totp: bool | None = None,
) -> NewUser:
    """Create a user. ``password=None`` makes a user who can only log in through OIDC. TOTP is enabled when
    ``totp`` is True or the role requires it; the result then carries the provisioning URI to show once."""
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() or c in ":/" for c in username):
        raise ValueError(f"a username needs 1 to 64 characters, no spaces, ':' or '/': {username!r}")
    check_role(role)
    check_scope(scope)
    required = role in TOTP_REQUIRED_ROLES
    if totp is False and required:
        raise ValueError(f"the {role} role requires TOTP")
    secret = pyotp.random_base32() if (totp or required) else None
    store.add_user({"username": username, "password_hash": hash_password(password) if password is not None else None,
                    "role": role, "scope": scope, "locale": locale, "totp_secret": secret, "disabled": False})
    uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER) if secret else None
    return NewUser(username, uri)


def identity_of(user: dict) -> Identity:
    """The request identity of a stored user row."""
    return Identity(name=user["username"], kind="user", rights=PERMISSIONS[user["role"]], scope=user["scope"],
                    role=user["role"], locale=user["locale"], key=f"user:{user['username']}")


def check_totp(store: Store, user: dict, code: str | None, at: float | None = None) -> bool:
    """Is ``code`` the user's current TOTP code (RFC 6238, one step of drift either way), not used before?"""
    secret = user.get("totp_secret")
    if not secret or not code:
        return False
    totp = pyotp.TOTP(secret)
    now = time.time() if at is None else at
    step_s = totp.interval
    for drift in (0, -1, 1):
        t = now + drift * step_s
        if hmac.compare_digest(totp.at(t), str(code).strip()):
            return store.claim_totp_step(user["username"], int(t // step_s))
    return False


def authenticate(store: Store, username: str, password: str, totp_code: str | None = None) -> Identity:
    """The identity of a user whose password (and, where enabled, TOTP code) is right; else :class:`LoginError`."""
    user = store.user(username) if username else None
    stored = (user or {}).get("password_hash")
    try:
        HASHER.verify(stored or _DUMMY_HASH, password or "")
        ok = stored is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if user is None:
        raise LoginError("unknown_user")
    if not ok:
        raise LoginError("bad_password")
    if user["disabled"]:
        raise LoginError("disabled")
    needs_totp = bool(user["totp_secret"]) or user["role"] in TOTP_REQUIRED_ROLES
    if needs_totp and not check_totp(store, user, totp_code):
        raise LoginError("bad_totp" if totp_code else "totp_required")
    if HASHER.check_needs_rehash(stored):
        store.update_user(username, password_hash=HASHER.hash(password))
    return identity_of(user)


DEMO_USER = "demo"


def demo_login_path(store: Store) -> Path | None:
    """Where the demo's login is written: ``demo-login.txt`` beside the store file (None for an in-memory store;
    ``var/`` for a PostgreSQL store)."""
    if store.path.startswith(("postgresql://", "postgres://")):
        return Path("var") / "demo-login.txt"
    return None if store.path == ":memory:" else Path(store.path).parent / "demo-login.txt"


def create_demo_user(store: Store) -> str | None:
    """Create the demo's ``demo`` user (operator, whole country) with a random password, written to
    :func:`demo_login_path` with mode 0600; returns the password to print once (None when the user exists)."""
    if store.user(DEMO_USER) is not None:
        return None
    password = secrets.token_urlsafe(18)
    create_user(store, DEMO_USER, password, "operator", "country", "en")
    record(store, "demo-build", "user_create", {"username": DEMO_USER, "role": "operator", "scope": "country"})
    path = demo_login_path(store)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"Suvar demo login (role operator, scope country)\nusername: {DEMO_USER}\npassword: {password}\n")
    return password
