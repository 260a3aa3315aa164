"""OIDC login against a tiny fake issuer served over HTTP on loopback in this process (no internet): discovery,
JWKS, an authorization endpoint that approves at once, and a token endpoint that checks the client secret and
PKCE and returns an RS256-signed ID token."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi.testclient import TestClient

from suvar.api.app import create_app
from suvar.config import load_settings
from suvar.ledger import DatabaseLedgerStore
from suvar.security.audit_log import AUDIT_LEDGER
from suvar.security.oidc import OidcError, b64url, check_claims, verify_jws
from suvar.security.users import create_user
from suvar.store import DuckStore


def _jwt(claims: dict, key: rsa.RSAPrivateKey, kid: str = "k1", alg: str = "RS256") -> str:
    head = b64url(json.dumps({"alg": alg, "kid": kid, "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    signature = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{b64url(signature)}"


class FakeIssuer(ThreadingHTTPServer):
    """An OIDC provider with one signing key; ``user``, ``amr``, ``aud`` and ``signer`` shape the next token."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/realms/water"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.signer = self.key
        self.client_id, self.client_secret = "suvar", "s3cret-for-tests"
        self.user, self.amr, self.aud = "olga", ["pwd"], "suvar"
        self.codes: dict[str, dict] = {}

    def jwks(self) -> dict:
        numbers = self.key.public_key().public_numbers()
        as_b64 = lambda i: b64url(i.to_bytes((i.bit_length() + 7) // 8, "big"))  # noqa: E731
        return {"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256", "n": as_b64(numbers.n),
                          "e": as_b64(numbers.e)}]}


class _Handler(BaseHTTPRequestHandler):
    server: FakeIssuer

    def log_message(self, *args: object) -> None:
        pass

    def _json(self, obj: dict, status: int = 200) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        s, url = self.server, urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/realms/water/.well-known/openid-configuration":
            self._json({"issuer": s.url, "authorization_endpoint": f"{s.url}/auth", "token_endpoint": f"{s.url}/token",
                        "jwks_uri": f"{s.url}/certs"})
        elif url.path == "/realms/water/certs":
            self._json(s.jwks())
        elif url.path == "/realms/water/auth":  # the user logs in at once
            code = base64.urlsafe_b64encode(hashlib.sha256(self.path.encode()).digest()).decode()[:20]
            s.codes[code] = q
            self.send_response(302)
            self.send_header("Location", f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}")
            self.end_headers()
        else:
            self._json({"error": "not_found"}, 404)

    def do_POST(self) -> None:  # noqa: N802
        s = self.server
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
        basic = base64.b64encode(f"{s.client_id}:{s.client_secret}".encode()).decode()
        asked = s.codes.pop(form.get("code", ""), None)
        challenge = b64url(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
        if (self.headers.get("Authorization") != f"Basic {basic}" or asked is None
                or asked["redirect_uri"] != form.get("redirect_uri") or asked["code_challenge"] != challenge):
            self._json({"error": "invalid_grant"}, 400)
            return
        now = int(time.time())
        claims = {"iss": s.url, "sub": f"id-{s.user}", "aud": s.aud, "exp": now + 300, "iat": now,
                  "nonce": asked["nonce"], "preferred_username": s.user, "amr": s.amr}
        self._json({"access_token": "opaque", "token_type": "Bearer", "id_token": _jwt(claims, s.signer)})


@pytest.fixture
def issuer() -> Iterator[FakeIssuer]:
    server = FakeIssuer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _app(store: DuckStore, issuer: FakeIssuer) -> TestClient:
    settings = load_settings({"SUVAR_OIDC_ISSUER": issuer.url, "SUVAR_OIDC_CLIENT_ID": issuer.client_id,
                              "SUVAR_OIDC_CLIENT_SECRET": issuer.client_secret})
    return TestClient(create_app(store, settings))


def _login(web: TestClient) -> httpx.Response:
    start = web.get("/api/v1/oidc/login", follow_redirects=False)
    assert start.status_code == 303 and start.headers["location"].startswith("http://127.0.0.1")
    params = parse_qs(urlparse(start.headers["location"]).query)
    assert params["code_challenge_method"] == ["S256"] and params["nonce"] and params["state"]
    back = httpx.get(start.headers["location"], follow_redirects=False)  # the browser at the issuer
    assert back.status_code == 302
    callback = urlparse(back.headers["location"])
    assert callback.path == "/api/v1/oidc/callback"
    return web.get(f"{callback.path}?{callback.query}", follow_redirects=False)


def _audit(store: DuckStore) -> list[dict]:
    return [e["content"] for e in DatabaseLedgerStore(store, AUDIT_LEDGER).entries()]


def test_oidc_login(hanoi: DuckStore, issuer: FakeIssuer) -> None:
    create_user(hanoi, "olga", None, "operator", "utility:hanoi")  # OIDC only: no password
    web = _app(hanoi, issuer)
    done = _login(web)
    assert done.status_code == 200 and "suvar_session" in done.cookies
    assert "samesite=strict" in done.headers["set-cookie"].lower()
    assert web.get("/api/v1/me").json() == {"username": "olga", "role": "operator", "scope": "utility:hanoi",
                                            "locale": "en"}
    login = _audit(hanoi)[-1]
    assert (login["who"], login["action"], login["what"]["method"]) == ("olga", "login", "oidc")


def test_oidc_refusals(hanoi: DuckStore, issuer: FakeIssuer) -> None:
    create_user(hanoi, "olga", None, "operator")
    create_user(hanoi, "root", "a long admin password", "admin")
    web = _app(hanoi, issuer)
    issuer.user = "stranger"  # no local user
    assert _login(web).status_code == 401
    issuer.user = "root"  # an admin without a second factor at the issuer
    assert _login(web).status_code == 401
    issuer.amr = ["pwd", "otp"]
    assert _login(web).status_code == 200 and web.get("/api/v1/me").json()["role"] == "admin"
    web.cookies.clear()
    issuer.user, issuer.aud = "olga", "another-client"
    assert _login(web).status_code == 401
    issuer.aud = "suvar"
    issuer.signer = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # a forged token
    assert _login(web).status_code == 401
    issuer.signer = issuer.key
    # a callback whose state is not this browser's, or is replayed, is refused
    start = web.get("/api/v1/oidc/login", follow_redirects=False)
    back = urlparse(httpx.get(start.headers["location"], follow_redirects=False).headers["location"])
    web.cookies.delete("suvar_oidc_state", path="/api/v1/oidc")
    web.cookies.set("suvar_oidc_state", "forged", path="/api/v1/oidc")
    assert web.get(f"{back.path}?{back.query}").status_code == 401
    reasons = [c["what"]["reason"] for c in _audit(hanoi) if c["action"] == "login_failed"]
    assert any("no enabled local user 'stranger'" in r for r in reasons)
    assert any("second factor" in r for r in reasons) and any("not meant for this client" in r for r in reasons)
    assert any("signature" in r for r in reasons) and any("state" in r for r in reasons)


def test_oidc_off_by_default(hanoi: DuckStore) -> None:
    web = TestClient(create_app(hanoi))
    assert web.get("/api/v1/oidc/login", follow_redirects=False).status_code == 404


def test_token_checks() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.public_key().public_numbers()
    as_b64 = lambda i: b64url(i.to_bytes((i.bit_length() + 7) // 8, "big"))  # noqa: E731
    jwks = {"keys": [{"kty": "RSA", "kid": "k1", "n": as_b64(numbers.n), "e": as_b64(numbers.e)}]}
    now = time.time()
    claims = {"iss": "https://idp", "aud": ["suvar", "other"], "azp": "suvar", "exp": now + 60, "iat": now,
              "nonce": "n1"}
    token = _jwt(claims, key)
    assert verify_jws(token, jwks) == claims
    check_claims(claims, "https://idp", "suvar", "n1")
    head, body, _ = token.split(".")
    unsigned = f"{b64url(json.dumps({'alg': 'none', 'kid': 'k1'}).encode())}.{body}."
    for bad_token, why in [(unsigned, "algorithm 'none' refused"), (f"{head}.{body}.AAAA", "does not verify"),
                           ("not-a-jwt", "compact JWS")]:
        with pytest.raises(OidcError, match=why):
            verify_jws(bad_token, jwks)
    for bad, why in [({"exp": now - 3600}, "expired"), ({"nonce": "n2"}, "nonce"), ({"iss": "https://evil"}, "issuer"),
                     ({"azp": "other"}, "not meant")]:
        with pytest.raises(OidcError, match=why):
            check_claims({**claims, **bad}, "https://idp", "suvar", "n1")
