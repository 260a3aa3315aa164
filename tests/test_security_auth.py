"""Users, sessions and deny-by-default: login, me, logout, 401 without credentials, 403 without the right or
outside the scope, the demo login and `suvar user create`."""

import json
import os
import stat
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from suvar.api.app import create_app
from suvar.cli import app as cli
from suvar.ledger import DatabaseLedgerStore
from suvar.security.audit_log import AUDIT_LEDGER
from suvar.security.users import LoginError, authenticate, create_demo_user, create_user
from suvar.store import DuckStore

PASSWORD = "correct horse battery"


def _anon(store: DuckStore) -> TestClient:
    return TestClient(create_app(store))


def _actions(store: DuckStore) -> list[tuple[str, str]]:
    return [(e["content"]["who"], e["content"]["action"]) for e in DatabaseLedgerStore(store, AUDIT_LEDGER).entries()]


def test_login_me_logout(hanoi: DuckStore) -> None:
    create_user(hanoi, "olga", PASSWORD, "operator", "utility:hanoi", "fr")
    web = _anon(hanoi)
    assert web.get("/api/v1/me").status_code == 401
    assert web.get("/api/v1/utilities").status_code == 401
    refused = web.post("/api/v1/login", json={"username": "olga", "password": "wrong password!"})
    assert refused.status_code == 401 and "suvar_session" not in refused.cookies
    unknown = web.post("/api/v1/login", json={"username": "nobody", "password": PASSWORD})
    assert unknown.json() == refused.json()  # the same answer whatever failed
    r = web.post("/api/v1/login", json={"username": "olga", "password": PASSWORD})
    assert r.status_code == 200
    assert r.json() == {"username": "olga", "role": "operator", "scope": "utility:hanoi", "locale": "fr"}
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "suvar_session=" in cookie
    assert web.get("/api/v1/me").json()["username"] == "olga"
    assert [u["utility_id"] for u in web.get("/api/v1/utilities").json()] == ["hanoi"]
    # the session id is stored hashed only
    session_id = web.cookies.get("suvar_session")
    assert session_id and not hanoi._one("SELECT count(*) FROM sessions WHERE session_hash = ?", [session_id])[0]  # noqa: SLF001
    assert web.post("/api/v1/logout").status_code == 204
    web.cookies.set("suvar_session", session_id)  # replaying the old cookie after logout
    assert web.get("/api/v1/me").status_code == 401
    actions = _actions(hanoi)
    assert ("olga", "login_failed") in actions and ("nobody", "login_failed") in actions
    assert ("olga", "login") in actions and ("olga", "logout") in actions


def test_rights_and_scope(hanoi: DuckStore) -> None:
    hanoi.upsert_utility("other", "Other Town", basin="east")
    create_user(hanoi, "vic", PASSWORD, "viewer", "utility:other")
    web = _anon(hanoi)
    web.post("/api/v1/login", json={"username": "vic", "password": PASSWORD}).raise_for_status()
    assert web.get("/api/v1/utilities/other/zones").status_code == 200
    out = web.get("/api/v1/utilities/hanoi/zones")
    assert out.status_code == 403 and "outside the scope" in out.json()["detail"]
    assert web.get("/api/v1/sensors/P-2/series").status_code == 403
    assert web.get("/api/v1/sensors").json() == []
    body = {"readings": [{"sensor_id": "P-2", "timestamp": "2024-01-01T00:00:00Z", "value": 1}]}
    denied = web.post("/api/v1/readings", json=body)
    assert denied.status_code == 403 and "'ingest' right" in denied.json()["detail"]


def test_cross_site_post_refused(hanoi: DuckStore) -> None:
    create_user(hanoi, "olga", PASSWORD, "operator")
    web = _anon(hanoi)
    web.post("/api/v1/login", json={"username": "olga", "password": PASSWORD}).raise_for_status()
    body = {"readings": [{"sensor_id": "P-2", "timestamp": "2024-01-01T00:00:00Z", "value": 1}]}
    evil = web.post("/api/v1/readings", json=body, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403 and "cross-site" in evil.text
    same = web.post("/api/v1/readings", json=body, headers={"Origin": "http://testserver"})
    assert same.status_code == 200 and same.json()["accepted"] == 1


def test_health_is_public_but_says_little(hanoi: DuckStore, client: TestClient) -> None:
    assert set(_anon(hanoi).get("/api/v1/health").json()) == {"status", "schema_version"}
    assert "readings" in client.get("/api/v1/health").json()
    assert _anon(hanoi).get("/openapi.json").status_code == 200


def test_passwords_hashed_with_argon2id(hanoi: DuckStore) -> None:
    create_user(hanoi, "ana", PASSWORD, "analyst")
    stored = hanoi.user("ana")["password_hash"]
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$") and PASSWORD not in stored
    assert authenticate(hanoi, "ana", PASSWORD).role == "analyst"
    with pytest.raises(ValueError, match="12 to 128"):
        create_user(hanoi, "short", "abc", "viewer")
    with pytest.raises(ValueError, match="already exists"):
        create_user(hanoi, "ana", PASSWORD, "viewer")
    with pytest.raises(ValueError, match="scope"):
        create_user(hanoi, "bad", PASSWORD, "viewer", "city:x")
    hanoi.update_user("ana", disabled=True)
    with pytest.raises(LoginError):
        authenticate(hanoi, "ana", PASSWORD)


def test_totp_required_for_admin(hanoi: DuckStore) -> None:
    made = create_user(hanoi, "root", PASSWORD, "admin")
    assert made.totp_uri and made.totp_uri.startswith("otpauth://totp/Suvar:root?secret=")
    web = _anon(hanoi)
    missing = web.post("/api/v1/login", json={"username": "root", "password": PASSWORD})
    assert missing.status_code == 401
    code = pyotp.TOTP(hanoi.user("root")["totp_secret"]).now()
    assert web.post("/api/v1/login", json={"username": "root", "password": PASSWORD, "totp": "000000" if code !=
                                           "000000" else "111111"}).status_code == 401
    ok = web.post("/api/v1/login", json={"username": "root", "password": PASSWORD, "totp": code})
    assert ok.status_code == 200 and ok.json()["role"] == "admin"
    replay = web.post("/api/v1/login", json={"username": "root", "password": PASSWORD, "totp": code})
    assert replay.status_code == 401  # RFC 6238 5.2: a code is accepted once
    reasons = [e["content"]["what"].get("reason") for e in DatabaseLedgerStore(hanoi, AUDIT_LEDGER).entries()
               if e["content"]["action"] == "login_failed"]
    assert reasons == ["totp_required", "bad_totp", "bad_totp"]


def test_demo_user_file(tmp_path: Path) -> None:
    store = DuckStore(tmp_path / "suvar.duckdb")
    password = create_demo_user(store)
    login = tmp_path / "demo-login.txt"
    assert password and password in login.read_text()
    assert stat.S_IMODE(os.stat(login).st_mode) == 0o600
    assert authenticate(store, "demo", password).role == "operator"
    assert create_demo_user(store) is None  # built once; the file is kept


def test_cli_user_create(hanoi: DuckStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUVAR_DB", hanoi.path)
    monkeypatch.setenv("SUVAR_NEW_PASSWORD", PASSWORD)
    runner = CliRunner()
    made = runner.invoke(cli, ["user", "create", "chair", "--role", "commission", "--scope", "basin:valley"])
    assert made.exit_code == 0, made.output
    assert "otpauth://totp/Suvar:chair" in made.output
    bad = runner.invoke(cli, ["user", "create", "x", "--role", "king"])
    assert bad.exit_code == 2 and "role must be one of" in bad.output
    listed = json.loads(runner.invoke(cli, ["user", "list", "--json"]).stdout)
    assert [(u["username"], u["role"], u["totp"]) for u in listed] == [("chair", "commission", True)]
    assert ("local:" in _actions(hanoi)[-1][0]) and _actions(hanoi)[-1][1] == "user_create"
    monkeypatch.delenv("SUVAR_NEW_PASSWORD")
    prompted = runner.invoke(cli, ["user", "create", "vee", "--role", "viewer"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.exit_code == 0 and "otpauth" not in prompted.output


def test_sessions_expire_and_end_when_disabled(hanoi: DuckStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from suvar.security.sessions import COOKIE, start_session

    create_user(hanoi, "olga", PASSWORD, "operator")
    web = _anon(hanoi)
    web.cookies.set(COOKIE, start_session(hanoi, "olga", ttl_s=-1))  # already past its expiry
    expired = web.get("/api/v1/me")
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    web.cookies.set(COOKIE, start_session(hanoi, "olga", ttl_s=60))
    assert web.get("/api/v1/me").status_code == 200
    monkeypatch.setenv("SUVAR_DB", hanoi.path)
    assert CliRunner().invoke(cli, ["user", "disable", "olga"]).exit_code == 0
    assert web.get("/api/v1/me").status_code == 401
    assert _actions(hanoi)[-1][1] == "user_disable"


def test_serve_listens_on_loopback_and_points_to_the_demo_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    store = DuckStore(tmp_path / "suvar.duckdb")
    create_demo_user(store)
    store.close()
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    monkeypatch.setenv("SUVAR_DB", str(tmp_path / "suvar.duckdb"))
    monkeypatch.delenv("SUVAR_HOST", raising=False)
    served = CliRunner().invoke(cli, ["serve"])
    assert served.exit_code == 0, served.output
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8000
    assert str(tmp_path / "demo-login.txt") in served.output
    wide = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert seen["host"] == "0.0.0.0" and "TLS-terminating proxy" in wide.output
