"""OpenID Connect login (e.g. from Keycloak): the authorization code flow with PKCE, and ID-token validation.

Flow (OpenID Connect Core 1.0, section 3.1; PKCE, RFC 7636, method S256):

1. ``GET /api/v1/oidc/login`` makes a random ``state``, ``nonce`` and PKCE verifier, keeps them in memory for
   ten minutes, binds ``state`` to the browser in a short-lived cookie, and redirects to the issuer's
   authorization endpoint (found through ``{issuer}/.well-known/openid-configuration``).
2. The issuer sends the browser back to ``/api/v1/oidc/callback?code=...&state=...``; the state must match the
   cookie and a pending login. The code is exchanged at the token endpoint (client id and secret, HTTP Basic,
   with the PKCE verifier) for an ID token.
3. The ID token (a JWS, RFC 7515/7519) is validated as OIDC Core section 3.1.3.7 asks: signature by a key of the
   issuer's JWKS (RFC 7517) with RS256 or ES256 only (RFC 7518; ``none`` and HMAC algorithms are refused), ``iss``
   equal to the issuer, ``aud`` containing the client id, ``exp`` in the future, ``iat`` not in the future, and
   ``nonce`` equal to the one sent.

The token's ``preferred_username`` (``SUVAR_OIDC_USERNAME_CLAIM``) names a *local* user, who must exist (created
with ``suvar user create NAME --role R --oidc-only``) and be enabled: the issuer proves who someone is, Suvar
decides their role and scope. Admin and commission users must show a second factor at the issuer: the token's
``amr`` claim (RFC 8176) must hold one of :data:`MFA_AMR`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from suvar.security.roles import TOTP_REQUIRED_ROLES

#: RFC 8176 authentication-method references that show a second factor.
MFA_AMR = frozenset({"mfa", "otp", "hwk", "sc"})
PENDING_S = 600.0
LEEWAY_S = 60.0


class OidcError(Exception):
    """A refused OIDC login; the message says why (it goes to the audit log; the browser sees a generic one)."""


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_key(jwk: dict[str, Any]) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """The public key of an RSA or P-256 JWK (RFC 7518 sections 6.2 and 6.3)."""
    if jwk.get("kty") == "RSA":
        n = int.from_bytes(b64url_decode(jwk["n"]), "big")
        e = int.from_bytes(b64url_decode(jwk["e"]), "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        x = int.from_bytes(b64url_decode(jwk["x"]), "big")
        y = int.from_bytes(b64url_decode(jwk["y"]), "big")
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    raise OidcError(f"unsupported key type {jwk.get('kty')!r}")


def verify_jws(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """The claims of a compact JWS signed with RS256 or ES256 by a key of ``jwks``; :class:`OidcError` else."""
    try:
        head_b64, body_b64, sig_b64 = token.split(".")
        header = json.loads(b64url_decode(head_b64))
        claims = json.loads(b64url_decode(body_b64))
        signature = b64url_decode(sig_b64)
    except (ValueError, TypeError) as exc:
        raise OidcError(f"ID token is not a compact JWS: {exc}") from None
    alg = header.get("alg")
    if alg not in ("RS256", "ES256"):
        raise OidcError(f"ID token algorithm {alg!r} refused (RS256 or ES256 only)")
    keys = [k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid") or header.get("kid") is None]
    keys = [k for k in keys if k.get("use", "sig") == "sig" and k.get("kty") == ("RSA" if alg == "RS256" else "EC")]
    if not keys:
        raise OidcError(f"no {alg} key {header.get('kid')!r} in the issuer's JWKS")
    signed = f"{head_b64}.{body_b64}".encode()
    for jwk in keys:
        key = public_key(jwk)
        try:
            if alg == "RS256":
                key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]
            else:
                if len(signature) != 64:
                    raise InvalidSignature
                der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
                key.verify(der, signed, ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg]
            return claims
        except InvalidSignature:
            continue
    raise OidcError("ID token signature does not verify")


def check_claims(claims: dict[str, Any], issuer: str, client_id: str, nonce: str, now: float | None = None) -> None:
    """OIDC Core 3.1.3.7 checks 2-3 and 9-11: issuer, audience (and ``azp``), expiry, issue time, nonce."""
    now = time.time() if now is None else now
    if claims.get("iss") != issuer:
        raise OidcError(f"ID token issuer {claims.get('iss')!r} is not {issuer!r}")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if client_id not in audiences or (len(audiences) > 1 and claims.get("azp") != client_id):
        raise OidcError("ID token is not meant for this client")
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] < now - LEEWAY_S:
        raise OidcError("ID token expired")
    if isinstance(claims.get("iat"), int | float) and claims["iat"] > now + LEEWAY_S:
        raise OidcError("ID token issued in the future")
    if not nonce or not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
        raise OidcError("ID token nonce does not match")


def check_second_factor(claims: dict[str, Any], role: str) -> None:
    if role in TOTP_REQUIRED_ROLES and not MFA_AMR & set(claims.get("amr") or []):
        raise OidcError(f"the {role} role needs a second factor at the issuer (amr with one of {sorted(MFA_AMR)})")


@dataclass
class Pending:
    nonce: str
    verifier: str
    redirect_uri: str
    expires: float


@dataclass
class OidcClient:
    """The relying party of one issuer; discovery and keys are fetched once and kept."""

    issuer: str
    client_id: str
    client_secret: str
    username_claim: str = "preferred_username"
    timeout_s: float = 10.0
    _config: dict[str, Any] | None = None
    _jwks: dict[str, Any] | None = None
    _pending: dict[str, Pending] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _get(self, url: str) -> dict[str, Any]:
        try:
            r = httpx.get(url, timeout=self.timeout_s)
            r.raise_for_status()
            return r.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError(f"cannot read {url}: {exc}") from None

    def config(self) -> dict[str, Any]:
        if self._config is None:
            config = self._get(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
            if config.get("issuer") != self.issuer:
                raise OidcError(f"discovery names issuer {config.get('issuer')!r}, not {self.issuer!r}")
            self._config = config
        return self._config

    def jwks(self, refresh: bool = False) -> dict[str, Any]:
        if self._jwks is None or refresh:
            self._jwks = self._get(self.config()["jwks_uri"])
        return self._jwks

    def start(self, redirect_uri: str) -> tuple[str, str]:
        """Begin a login: returns (state, the issuer URL to send the browser to)."""
        state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        now = time.monotonic()
        with self._lock:
            self._pending = {k: v for k, v in self._pending.items() if v.expires > now}
            if len(self._pending) > 10_000:
                raise OidcError("too many pending logins")
            self._pending[state] = Pending(nonce, verifier, redirect_uri, now + PENDING_S)
        challenge = b64url(hashlib.sha256(verifier.encode()).digest())
        query = urlencode({"response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
                           "scope": "openid profile", "state": state, "nonce": nonce,
                           "code_challenge": challenge, "code_challenge_method": "S256"})
        return state, f"{self.config()['authorization_endpoint']}?{query}"

    def finish(self, state: str | None, cookie_state: str | None, code: str | None) -> dict[str, Any]:
        """Complete a login: the validated ID-token claims."""
        if not state or not cookie_state or not secrets.compare_digest(state, cookie_state):
            raise OidcError("state does not match this browser's login")
        with self._lock:
            pending = self._pending.pop(state, None)
        if pending is None or pending.expires < time.monotonic():
            raise OidcError("no pending login for this state (expired or used)")
        if not code:
            raise OidcError("no authorization code")
        try:
            r = httpx.post(self.config()["token_endpoint"], timeout=self.timeout_s,
                           auth=(self.client_id, self.client_secret),
                           data={"grant_type": "authorization_code", "code": code,
                                 "redirect_uri": pending.redirect_uri, "code_verifier": pending.verifier})
            r.raise_for_status()
            id_token = r.json()["id_token"]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise OidcError(f"token exchange failed: {exc}") from None
        try:
            claims = verify_jws(id_token, self.jwks())
        except OidcError:
            claims = verify_jws(id_token, self.jwks(refresh=True))  # the issuer may have rotated its keys
        check_claims(claims, self.issuer, self.client_id, pending.nonce)
        return claims

    def username(self, claims: dict[str, Any]) -> str:
        name = claims.get(self.username_claim)
        if not isinstance(name, str) or not name:
            raise OidcError(f"ID token has no {self.username_claim!r} claim")
        return name
